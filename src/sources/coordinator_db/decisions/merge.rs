//! Deduplication of DB rows and decision files: same category and the same second is one
//! decision; the DB row's fields win and the file fills what the row lacks.

use super::*;

/// [`merge`] for facts only: a file fact with the key of a DB fact only fills what the
/// DB fact lacks.
pub fn merge_facts(db: Vec<Facts>, files: Vec<Facts>) -> Vec<Facts> {
    let key = |f: &Facts| (f.category, f.at.timestamp());
    let mut out = db;
    let mut index: HashMap<(Category, i64), usize> =
        out.iter().enumerate().map(|(i, f)| (key(f), i)).collect();
    for f in files {
        match index.get(&key(&f)) {
            Some(&i) => {
                let d = &mut out[i];
                d.energy_kwh = d.energy_kwh.or(f.energy_kwh);
                d.cost_pln = d.cost_pln.or(f.cost_pln);
                d.savings_pln = d.savings_pln.or(f.savings_pln);
                d.revenue_pln = d.revenue_pln.or(f.revenue_pln);
                d.confidence = d.confidence.or(f.confidence);
                d.price = d.price.or(f.price);
                d.tariff_zone = d.tariff_zone.take().or(f.tariff_zone);
                d.execution_success = d.execution_success.or(f.execution_success);
                d.charging_source = d.charging_source.take().or(f.charging_source);
            }
            None => {
                index.insert(key(&f), out.len());
                out.push(f);
            }
        }
    }
    out.sort_by_key(|f| f.at);
    out
}

/// Merges DB and file decisions: deduplicated (module docs), newest first. A duplicate's
/// two objects are parsed back and merged (rare: the coordinator writes files only while
/// its DB is unavailable).
pub fn merge(db: Vec<StoredDecision>, files: Vec<StoredDecision>) -> Vec<StoredDecision> {
    let key = |d: &StoredDecision| (d.facts.category, d.facts.at.timestamp());
    let mut out = db;
    let mut index: HashMap<(Category, i64), usize> =
        out.iter().enumerate().map(|(i, d)| (key(d), i)).collect();
    for f in files {
        match index.get(&key(&f)) {
            Some(&i) => {
                let d = &mut out[i];
                let parse =
                    |j: &str| serde_json::from_str::<Map<String, Value>>(j).unwrap_or_default();
                let mut object = parse(&d.json);
                for (k, v) in parse(&f.json) {
                    if object.get(&k).is_none_or(Value::is_null) {
                        object.insert(k, v);
                    }
                }
                let at = d.facts.at;
                *d = Decision {
                    facts: facts_of(&object, at),
                    object,
                    from_db: d.from_db,
                    from_file: true,
                }
                .into_stored();
            }
            None => {
                index.insert(key(&f), out.len());
                out.push(f);
            }
        }
    }
    out.sort_by_key(|d| std::cmp::Reverse(d.facts.at));
    out
}
