//! Decision files under `out/energy_data/`: names that are decisions, their parsing, and
//! the parse cache that re-reads a file only when its size or modification time changes.

use super::*;

/// Which kind of decision file a name is, and the local time in its name.
pub fn file_kind(name: &str) -> Option<(bool, NaiveDateTime)> {
    let (selling, rest) = if let Some(r) = name.strip_prefix("battery_selling_decision_") {
        (true, r)
    } else if let Some(r) = name.strip_prefix("charging_decision_") {
        (false, r)
    } else {
        return None;
    };
    let stamp = rest.strip_suffix(".json")?;
    let t = NaiveDateTime::parse_from_str(stamp, "%Y%m%d_%H%M%S").ok()?;
    Some((selling, t))
}

/// A decision file's text → a decision. Selling files get the original's additions:
/// `action = battery_selling`, `energy_kwh` (from `energy_sold_kwh`),
/// `estimated_savings_pln` (from `expected_revenue_pln`) and `estimated_cost_pln` (its
/// negative). Every file gets `filename`.
pub fn from_file(name: &str, text: &str) -> Result<Decision, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("{name}: not JSON ({e})"))?;
    let Value::Object(mut o) = v else {
        return Err(format!("{name}: not a JSON object"));
    };
    let at = text_of(&o, "timestamp")
        .and_then(|t| time::parse_instant(t, None))
        .ok_or_else(|| format!("{name}: no readable timestamp"))?;
    o.insert("filename".into(), Value::String(name.to_string()));
    if name.starts_with("battery_selling_decision_") {
        o.insert("action".into(), Value::String("battery_selling".into()));
        if let Some(e) = o.get("energy_sold_kwh").cloned() {
            o.insert("energy_kwh".into(), e);
        }
        if let Some(r) = o.get("expected_revenue_pln").cloned() {
            o.insert("estimated_savings_pln".into(), r.clone());
            if let Some(x) = number(Some(&r)) {
                o.insert("estimated_cost_pln".into(), Value::from(-x));
            }
        }
    }
    let facts = facts_of(&o, at);
    Ok(Decision {
        object: o,
        facts,
        from_db: false,
        from_file: true,
    })
}

fn text_of<'a>(o: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    o.get(key).and_then(Value::as_str)
}

/// A parsed file with the size and mtime it was parsed at.
type CachedFile = (u64, Option<SystemTime>, Result<StoredDecision, String>);

/// Parsed decision files, kept between refreshes and re-read only when a file's size or
/// modification time changes.
#[derive(Default)]
pub struct FileCache {
    dir: PathBuf,
    entries: HashMap<String, CachedFile>,
}

impl FileCache {
    pub fn new(dir: PathBuf) -> FileCache {
        FileCache {
            dir,
            entries: HashMap::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Decisions from files whose instant lies in `[from, to)`; unreadable files are
    /// reported in `notes`. Returns `None` when the directory does not exist.
    pub fn load(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        notes: &mut Vec<String>,
    ) -> Option<Vec<StoredDecision>> {
        let entries = std::fs::read_dir(&self.dir).ok()?;
        // Names carry local time; widen by a day so a zone offset never drops a file.
        let lo = from.naive_utc() - chrono::Duration::days(1);
        let hi = to.naive_utc() + chrono::Duration::days(1);
        let mut seen = Vec::new();
        let mut out = Vec::new();
        for e in entries.flatten() {
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            let Some((_, t)) = file_kind(&name) else {
                continue;
            };
            if t < lo || t > hi {
                continue;
            }
            let Ok(meta) = e.metadata() else { continue };
            let (len, mtime) = (meta.len(), meta.modified().ok());
            let fresh =
                matches!(self.entries.get(&name), Some((l, m, _)) if *l == len && *m == mtime);
            if !fresh {
                let parsed = match std::fs::read(e.path()) {
                    Ok(b) => {
                        from_file(&name, &String::from_utf8_lossy(&b)).map(Decision::into_stored)
                    }
                    Err(err) => Err(format!("{name}: cannot read ({err})")),
                };
                self.entries.insert(name.clone(), (len, mtime, parsed));
            }
            if let Some((_, _, r)) = self.entries.get(&name) {
                match r {
                    Ok(d) if d.facts.at >= from && d.facts.at < to => out.push(d.clone()),
                    Ok(_) => {}
                    Err(msg) => notes.push(msg.clone()),
                }
            }
            seen.push(name);
        }
        // Forget files outside this range or gone, so the cache stays small.
        let keep: std::collections::HashSet<String> = seen.into_iter().collect();
        self.entries.retain(|k, _| keep.contains(k));
        Some(out)
    }
}
