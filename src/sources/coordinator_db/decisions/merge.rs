//! Deduplication of DB rows and decision files: same category and the same second is one
//! decision; the DB row's fields win and the file fills what the row lacks. One rule for
//! served decisions ([`merge`]) and for facts only ([`merge_facts`]). Across reads,
//! [`share_equal`] lets a new read reuse the text of the decisions it read before.

use super::*;

/// The DB items, then each file item whose key (category, second) no DB item has; a file
/// item with such a key is handed to `fill` with the item it duplicates.
fn dedup<T>(
    db: Vec<T>,
    files: Vec<T>,
    facts: impl Fn(&T) -> &Facts,
    mut fill: impl FnMut(&mut T, T),
) -> Vec<T> {
    let key = |t: &T| {
        let f = facts(t);
        (f.category, f.at.timestamp())
    };
    let mut out = db;
    let mut index: HashMap<(Category, i64), usize> =
        out.iter().enumerate().map(|(i, d)| (key(d), i)).collect();
    for f in files {
        match index.get(&key(&f)) {
            Some(&i) => fill(&mut out[i], f),
            None => {
                index.insert(key(&f), out.len());
                out.push(f);
            }
        }
    }
    out
}

impl Facts {
    /// Fills what these facts lack from `other` (a duplicate of the same decision).
    fn fill_from(&mut self, other: Facts) {
        self.energy_kwh = self.energy_kwh.or(other.energy_kwh);
        self.cost_pln = self.cost_pln.or(other.cost_pln);
        self.savings_pln = self.savings_pln.or(other.savings_pln);
        self.revenue_pln = self.revenue_pln.or(other.revenue_pln);
        self.confidence = self.confidence.or(other.confidence);
        self.price = self.price.or(other.price);
        self.tariff_zone = self.tariff_zone.take().or(other.tariff_zone);
        self.execution_success = self.execution_success.or(other.execution_success);
        self.charging_source = self.charging_source.take().or(other.charging_source);
    }
}

/// [`merge`] for facts only, oldest first: a file fact with the key of a DB fact only
/// fills what the DB fact lacks.
pub fn merge_facts(db: Vec<Facts>, files: Vec<Facts>) -> Vec<Facts> {
    let mut out = dedup(db, files, |f| f, Facts::fill_from);
    out.sort_by_key(|f| f.at);
    out
}

/// Merges DB and file decisions: deduplicated (module docs), newest first. A duplicate's
/// two objects are parsed back and merged (rare: the coordinator writes files only while
/// its DB is unavailable).
pub fn merge(db: Vec<StoredDecision>, files: Vec<StoredDecision>) -> Vec<StoredDecision> {
    let mut out = dedup(
        db,
        files,
        |d| &d.facts,
        |d, f| {
            let parse = |j: &str| serde_json::from_str::<Map<String, Value>>(j).unwrap_or_default();
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
        },
    );
    out.sort_by_key(|d| std::cmp::Reverse(d.facts.at));
    out
}

/// Makes each decision of `fresh` that equals one of `held` (newest first, as [`merge`]
/// returns them) a copy of that one, so that its served text is shared instead of held
/// twice: a read that brings back what is already held then costs no second copy.
pub fn share_equal(fresh: &mut [StoredDecision], held: &[StoredDecision]) {
    for d in fresh.iter_mut() {
        // `held` is sorted by time, newest first: the candidates are the run at `d`'s time.
        let start = held.partition_point(|h| h.facts.at > d.facts.at);
        let same_time = held[start..]
            .iter()
            .take_while(|h| h.facts.at == d.facts.at);
        if let Some(h) = same_time.into_iter().find(|h| **h == *d) {
            *d = h.clone();
        }
    }
}
