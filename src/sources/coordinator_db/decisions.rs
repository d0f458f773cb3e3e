//! Decisions: `coordinator_decisions` rows (with `parameters` flattened the way the original
//! did) merged with the decision files under `out/energy_data/`, deduplicated, categorised
//! and reduced to the typed [`Facts`] every figure is computed from.
//!
//! Rules (README "Decisions"):
//! - Category, first match wins: selling when `action` or `decision` is `battery_selling`
//!   or the file name contains `battery_selling_decision`; wait when `action` is `wait`;
//!   charging when `action` is one of `charge`, `charging`, `start_pv_charging`,
//!   `start_grid_charging`, or the lower-cased `reason` (else `reasoning`) contains `start
//!   charging`, `charging from`, `pv charging`, `grid charging` or `charging started`;
//!   otherwise wait.
//! - Deduplication: a DB row and a file with the same category and the same instant (to
//!   the second) are one decision. The DB row's fields win; fields only the file has (the
//!   selling outcome, `reasoning`, `filename`, ...) are added to it.
//! - A row or file without a readable timestamp is skipped and reported, never sorted as
//!   text.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, NaiveDateTime, Utc};
use rusqlite::Connection;
use serde::Serialize;
use serde_json::{Map, Value};

use super::db::DbError;
use super::time;

/// Keys of `parameters` that the original copied to the top level of a DB decision.
pub const FLATTENED: [&str; 15] = [
    "should_charge",
    "confidence",
    "current_price",
    "current_price_pln",
    "cheapest_price",
    "cheapest_hour",
    "battery_soc",
    "pv_power",
    "consumption",
    "decision_score",
    "energy_kwh",
    "estimated_cost_pln",
    "estimated_savings_pln",
    "expected_revenue_pln",
    "tariff_zone",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Charging,
    Selling,
    Wait,
}

/// The numbers and labels of one decision that figures are computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub at: DateTime<Utc>,
    pub category: Category,
    /// Charging: planned energy; selling: energy sold (`energy_sold_kwh`, else `energy_kwh`).
    pub energy_kwh: Option<f64>,
    /// Charging: `estimated_cost_pln` (else `cost_pln`).
    pub cost_pln: Option<f64>,
    /// Charging: `estimated_savings_pln` (else `savings_pln`).
    pub savings_pln: Option<f64>,
    /// Selling: `expected_revenue_pln` (else `estimated_savings_pln`).
    pub revenue_pln: Option<f64>,
    pub confidence: Option<f64>,
    /// `current_price` (else `current_price_pln`), PLN/kWh.
    pub price: Option<f64>,
    pub tariff_zone: Option<String>,
    /// Selling: `execution_success` when known (files only; the DB does not keep it).
    pub execution_success: Option<bool>,
    /// Charging: `source` (else `charging_source`).
    pub charging_source: Option<String>,
}

/// One decision: the object served by `/decisions`, and its facts.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub object: Map<String, Value>,
    pub facts: Facts,
    pub from_db: bool,
    pub from_file: bool,
}

/// A number, or a string holding one; anything else is `None`.
pub fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

fn text<'a>(o: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    o.get(key).and_then(Value::as_str)
}

const CHARGING_ACTIONS: [&str; 4] = [
    "charge",
    "charging",
    "start_pv_charging",
    "start_grid_charging",
];
const CHARGING_PHRASES: [&str; 5] = [
    "start charging",
    "charging from",
    "pv charging",
    "grid charging",
    "charging started",
];

/// The fields of a decision that its category and facts depend on, however it was read.
#[derive(Debug, Clone, Default)]
pub struct Fields<'a> {
    pub action: Option<&'a str>,
    pub decision: Option<&'a str>,
    pub filename: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub reasoning: Option<&'a str>,
    pub energy_kwh: Option<f64>,
    pub energy_sold_kwh: Option<f64>,
    pub estimated_cost_pln: Option<f64>,
    pub cost_pln: Option<f64>,
    pub estimated_savings_pln: Option<f64>,
    pub savings_pln: Option<f64>,
    pub expected_revenue_pln: Option<f64>,
    pub confidence: Option<f64>,
    pub current_price: Option<f64>,
    pub current_price_pln: Option<f64>,
    pub tariff_zone: Option<&'a str>,
    pub source: Option<&'a str>,
    pub charging_source: Option<&'a str>,
    pub execution_success: Option<bool>,
}

impl<'a> Fields<'a> {
    pub fn of_object(o: &'a Map<String, Value>) -> Fields<'a> {
        let n = |k: &str| number(o.get(k));
        Fields {
            action: text(o, "action"),
            decision: text(o, "decision"),
            filename: text(o, "filename"),
            reason: text(o, "reason"),
            reasoning: text(o, "reasoning"),
            energy_kwh: n("energy_kwh"),
            energy_sold_kwh: n("energy_sold_kwh"),
            estimated_cost_pln: n("estimated_cost_pln"),
            cost_pln: n("cost_pln"),
            estimated_savings_pln: n("estimated_savings_pln"),
            savings_pln: n("savings_pln"),
            expected_revenue_pln: n("expected_revenue_pln"),
            confidence: n("confidence"),
            current_price: n("current_price"),
            current_price_pln: n("current_price_pln"),
            tariff_zone: text(o, "tariff_zone"),
            source: text(o, "source"),
            charging_source: text(o, "charging_source"),
            execution_success: o.get("execution_success").and_then(Value::as_bool),
        }
    }

    /// The category (rules in the module docs).
    pub fn category(&self) -> Category {
        let action = self.action.unwrap_or("");
        if action == "battery_selling"
            || self.decision == Some("battery_selling")
            || self
                .filename
                .is_some_and(|f| f.contains("battery_selling_decision"))
        {
            return Category::Selling;
        }
        if action == "wait" {
            return Category::Wait;
        }
        if CHARGING_ACTIONS.contains(&action) {
            return Category::Charging;
        }
        let reason = self
            .reason
            .filter(|r| !r.is_empty())
            .or(self.reasoning)
            .unwrap_or("")
            .to_lowercase();
        if CHARGING_PHRASES.iter().any(|p| reason.contains(p)) {
            Category::Charging
        } else {
            Category::Wait
        }
    }

    pub fn facts(&self, at: DateTime<Utc>) -> Facts {
        let category = self.category();
        let (energy, revenue) = match category {
            Category::Selling => (
                self.energy_sold_kwh.or(self.energy_kwh),
                self.expected_revenue_pln.or(self.estimated_savings_pln),
            ),
            _ => (self.energy_kwh, None),
        };
        Facts {
            at,
            category,
            energy_kwh: energy,
            cost_pln: self.estimated_cost_pln.or(self.cost_pln),
            savings_pln: self.estimated_savings_pln.or(self.savings_pln),
            revenue_pln: revenue,
            confidence: self.confidence,
            price: self.current_price.or(self.current_price_pln),
            tariff_zone: self.tariff_zone.map(str::to_string),
            execution_success: self.execution_success,
            charging_source: self.source.or(self.charging_source).map(str::to_string),
        }
    }
}

/// The category of a decision object (rules in the module docs).
pub fn categorise(o: &Map<String, Value>) -> Category {
    Fields::of_object(o).category()
}

/// The facts of a decision object taken at `at`.
pub fn facts_of(o: &Map<String, Value>, at: DateTime<Utc>) -> Facts {
    Fields::of_object(o).facts(at)
}

/// A `coordinator_decisions` row as read.
#[derive(Debug, Clone, Default)]
pub struct DbRow {
    pub id: i64,
    pub timestamp: Option<String>,
    pub decision_type: Option<String>,
    pub action: Option<String>,
    pub reason: Option<String>,
    pub parameters: Option<String>,
    pub source_module: Option<String>,
    pub created_at: Option<String>,
}

/// A DB row → a decision, flattened like the original. Malformed `parameters` keep the
/// row (with `parameters: null`) and add a note; a row without a readable timestamp is an
/// error naming the row.
pub fn from_db_row(row: DbRow, notes: &mut Vec<String>) -> Result<Decision, String> {
    let hint = || row.created_at.as_deref().and_then(time::parse_created_at);
    let at = row
        .timestamp
        .as_deref()
        .and_then(|t| time::parse_instant_with(t, hint))
        .ok_or_else(|| {
            format!(
                "coordinator_decisions id {}: timestamp {:?} is not a time",
                row.id, row.timestamp
            )
        })?;
    let params = match row.parameters.as_deref() {
        None => Value::Null,
        Some(p) => match serde_json::from_str::<Value>(p) {
            Ok(v @ (Value::Object(_) | Value::Null)) => v,
            Ok(other) => {
                notes.push(format!(
                    "coordinator_decisions id {}: parameters is not a JSON object",
                    row.id
                ));
                other
            }
            Err(e) => {
                notes.push(format!(
                    "coordinator_decisions id {}: parameters is not JSON ({e})",
                    row.id
                ));
                Value::Null
            }
        },
    };
    let s = |v: Option<String>| v.map(Value::String).unwrap_or(Value::Null);
    let mut o = Map::new();
    o.insert("id".into(), Value::from(row.id));
    o.insert("timestamp".into(), s(row.timestamp));
    o.insert("decision_type".into(), s(row.decision_type));
    o.insert("action".into(), s(row.action));
    o.insert("reason".into(), s(row.reason));
    o.insert("source_module".into(), s(row.source_module));
    o.insert("created_at".into(), s(row.created_at));
    if let Value::Object(p) = &params {
        for key in FLATTENED {
            if let Some(v) = p.get(key) {
                o.insert(key.into(), v.clone());
            }
        }
    }
    o.insert("parameters".into(), params);
    let facts = facts_of(&o, at);
    Ok(Decision {
        object: o,
        facts,
        from_db: true,
        from_file: false,
    })
}

/// A JSON value read leniently: numbers, numeric text, booleans and text are kept; any
/// other shape is `Other` (never an error).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Loose {
    Num(f64),
    Text(String),
    Bool(bool),
    #[default]
    Other,
}

impl Loose {
    pub fn num(&self) -> Option<f64> {
        match self {
            Loose::Num(n) => Some(*n).filter(|f| f.is_finite()),
            Loose::Text(t) => t.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
            _ => None,
        }
    }

    pub fn text(&self) -> Option<&str> {
        match self {
            Loose::Text(t) => Some(t),
            _ => None,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Loose {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Loose, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Loose;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_f64<E>(self, v: f64) -> Result<Loose, E> {
                Ok(Loose::Num(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Loose, E> {
                Ok(Loose::Num(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Loose, E> {
                Ok(Loose::Num(v as f64))
            }
            fn visit_str<E>(self, v: &str) -> Result<Loose, E> {
                Ok(Loose::Text(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Loose, E> {
                Ok(Loose::Bool(v))
            }
            fn visit_unit<E>(self) -> Result<Loose, E> {
                Ok(Loose::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Loose, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Loose::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Loose, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Loose::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// The `parameters` keys that figures use (all within [`FLATTENED`]).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct Params {
    energy_kwh: Loose,
    estimated_cost_pln: Loose,
    estimated_savings_pln: Loose,
    expected_revenue_pln: Loose,
    confidence: Loose,
    current_price: Loose,
    current_price_pln: Loose,
    tariff_zone: Loose,
}

/// Facts of `coordinator_decisions` rows in `[from, to)` without building the served
/// objects (for summaries of past days): the same rules as [`from_db_row`].
pub fn query_facts(
    conn: &Connection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    notes: &mut Vec<String>,
) -> Result<Vec<Facts>, DbError> {
    let (lo, hi) = time::query_bounds(from, to);
    let q = |e| DbError::Query("coordinator_decisions by time", e);
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, timestamp, created_at, action, reason, parameters \
             FROM coordinator_decisions WHERE timestamp >= ?1 AND timestamp <= ?2",
        )
        .map_err(q)?;
    let mut rows = stmt.query([&lo, &hi]).map_err(q)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(q)? {
        let id: i64 = r.get(0).map_err(q)?;
        let ts: Option<String> = r.get(1).map_err(q)?;
        let hint = || {
            r.get::<_, Option<String>>(2)
                .ok()
                .flatten()
                .and_then(|c| time::parse_created_at(&c))
        };
        let Some(at) = ts
            .as_deref()
            .and_then(|t| time::parse_instant_with(t, hint))
        else {
            notes.push(format!(
                "coordinator_decisions id {id}: timestamp {ts:?} is not a time"
            ));
            continue;
        };
        if at < from || at >= to {
            continue;
        }
        let action: Option<String> = r.get(3).map_err(q)?;
        let reason: Option<String> = r.get(4).map_err(q)?;
        let params: Option<String> = r.get(5).map_err(q)?;
        // A struct would also accept a JSON array (by position): only objects are read.
        let p = match params
            .as_deref()
            .filter(|p| !p.trim().is_empty() && p.trim() != "null")
            .map(|p| {
                if p.trim_start().starts_with('{') {
                    serde_json::from_str::<Params>(p).map_err(|e| e.to_string())
                } else {
                    Err("not an object".to_string())
                }
            }) {
            None => Params::default(),
            Some(Ok(p)) => p,
            Some(Err(e)) => {
                notes.push(format!(
                    "coordinator_decisions id {id}: parameters is not a JSON object ({e})"
                ));
                Params::default()
            }
        };
        let fields = Fields {
            action: action.as_deref(),
            reason: reason.as_deref(),
            energy_kwh: p.energy_kwh.num(),
            estimated_cost_pln: p.estimated_cost_pln.num(),
            estimated_savings_pln: p.estimated_savings_pln.num(),
            expected_revenue_pln: p.expected_revenue_pln.num(),
            confidence: p.confidence.num(),
            current_price: p.current_price.num(),
            current_price_pln: p.current_price_pln.num(),
            tariff_zone: p.tariff_zone.text(),
            ..Fields::default()
        };
        out.push(fields.facts(at));
    }
    Ok(out)
}

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

/// A decision as kept between refreshes: its served object already serialized.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDecision {
    pub json: Box<str>,
    pub facts: Facts,
    pub from_db: bool,
    pub from_file: bool,
}

impl Decision {
    /// Serializes the served object, adding `category` (the rule result the counts use) and
    /// `instant` (the decision's time with its UTC offset, unambiguous on DST days).
    pub fn into_stored(mut self) -> StoredDecision {
        self.object.insert(
            "category".into(),
            serde_json::to_value(self.facts.category).unwrap_or(Value::Null),
        );
        self.object.insert(
            "instant".into(),
            Value::String(crate::clock::local_rfc3339(self.facts.at)),
        );
        StoredDecision {
            json: crate::snapshot::to_json_string(&self.object)
                .unwrap_or_else(|_| "{}".into())
                .into_boxed_str(),
            facts: self.facts,
            from_db: self.from_db,
            from_file: self.from_file,
        }
    }
}

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

/// Reads `coordinator_decisions` rows whose instant lies in `[from, to)`, by the
/// timestamp index.
pub fn query_db(
    conn: &Connection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    notes: &mut Vec<String>,
) -> Result<Vec<StoredDecision>, DbError> {
    let (lo, hi) = time::query_bounds(from, to);
    let q = |e| DbError::Query("coordinator_decisions by time", e);
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, timestamp, decision_type, action, reason, parameters, source_module, created_at \
             FROM coordinator_decisions WHERE timestamp >= ?1 AND timestamp <= ?2",
        )
        .map_err(q)?;
    let mut rows = stmt.query([&lo, &hi]).map_err(q)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(q)? {
        let row = DbRow {
            id: r.get(0).map_err(q)?,
            timestamp: r.get(1).map_err(q)?,
            decision_type: r.get(2).map_err(q)?,
            action: r.get(3).map_err(q)?,
            reason: r.get(4).map_err(q)?,
            parameters: r.get(5).map_err(q)?,
            source_module: r.get(6).map_err(q)?,
            created_at: r.get(7).map_err(q)?,
        };
        match from_db_row(row, notes) {
            // Serialized at once: a month of full objects is never held at the same time.
            Ok(d) if d.facts.at >= from && d.facts.at < to => out.push(d.into_stored()),
            Ok(_) => {}
            Err(e) => notes.push(e),
        }
    }
    Ok(out)
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

/// Counts per category.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub total: u64,
    pub charging: u64,
    pub selling: u64,
    pub wait: u64,
}

impl Counts {
    pub fn of<'a>(facts: impl IntoIterator<Item = &'a Facts>) -> Counts {
        let mut c = Counts::default();
        for f in facts {
            c.total += 1;
            match f.category {
                Category::Charging => c.charging += 1,
                Category::Selling => c.selling += 1,
                Category::Wait => c.wait += 1,
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn categorisation_rules_first_match_wins() {
        let c = |v: Value| categorise(&obj(v));
        assert_eq!(c(json!({"action": "battery_selling"})), Category::Selling);
        assert_eq!(
            c(json!({"action": "x", "decision": "battery_selling"})),
            Category::Selling
        );
        assert_eq!(
            c(
                json!({"action": "wait", "filename": "battery_selling_decision_20260101_000000.json"})
            ),
            Category::Selling
        );
        assert_eq!(
            c(json!({"action": "wait", "reason": "start charging now"})),
            Category::Wait
        );
        for a in [
            "charge",
            "charging",
            "start_pv_charging",
            "start_grid_charging",
        ] {
            assert_eq!(c(json!({"action": a})), Category::Charging, "{a}");
        }
        assert_eq!(
            c(json!({"action": "hold", "reason": "Grid charging at night"})),
            Category::Charging
        );
        assert_eq!(
            c(json!({"action": "hold", "reason": "", "reasoning": "PV charging"})),
            Category::Charging
        );
        assert_eq!(
            c(json!({"action": "hold", "reason": "Charging started"})),
            Category::Charging
        );
        assert_eq!(
            c(json!({"action": "hold", "reason": "battery full"})),
            Category::Wait
        );
        assert_eq!(c(json!({"action": null})), Category::Wait);
        assert_eq!(c(json!({})), Category::Wait);
        // `grid_charging` is not in the action list and has no reason: wait.
        assert_eq!(c(json!({"action": "grid_charging"})), Category::Wait);
    }

    #[test]
    fn db_rows_are_flattened_and_bad_parameters_reported() {
        let mut notes = Vec::new();
        let d = from_db_row(
            DbRow {
                id: 3,
                timestamp: Some("2026-07-01T12:00:00".into()),
                decision_type: Some("charging".into()),
                action: Some("charge".into()),
                reason: Some("cheap".into()),
                parameters: Some(json!({"energy_kwh": 2.5, "estimated_cost_pln": 1.25, "confidence": 0.8, "current_price": 0.5, "tariff_zone": "T2", "other": 1}).to_string()),
                source_module: None,
                created_at: Some("2026-07-01 10:00:01".into()),
            },
            &mut notes,
        )
        .unwrap();
        assert_eq!(d.object["energy_kwh"], 2.5);
        assert_eq!(d.object["parameters"]["other"], 1);
        assert!(d.object.get("other").is_none());
        assert_eq!(d.facts.category, Category::Charging);
        assert_eq!(d.facts.cost_pln, Some(1.25));
        assert_eq!(d.facts.tariff_zone.as_deref(), Some("T2"));
        assert!(notes.is_empty());

        let d = from_db_row(
            DbRow {
                id: 4,
                timestamp: Some("2026-07-01T12:15:00".into()),
                action: Some("wait".into()),
                parameters: Some("{broken".into()),
                ..Default::default()
            },
            &mut notes,
        )
        .unwrap();
        assert!(d.object["parameters"].is_null());
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("id 4"));

        let e = from_db_row(
            DbRow {
                id: 5,
                ..Default::default()
            },
            &mut notes,
        )
        .unwrap_err();
        assert!(e.contains("id 5"));
    }

    #[test]
    fn selling_files_get_the_original_additions() {
        let text = json!({"timestamp": "2026-07-01T19:00:00", "decision": "start_selling",
            "expected_revenue_pln": 3.0, "energy_sold_kwh": 4.0, "execution_success": true})
        .to_string();
        let d = from_file("battery_selling_decision_20260701_190000.json", &text).unwrap();
        assert_eq!(d.object["action"], "battery_selling");
        assert_eq!(d.object["energy_kwh"], 4.0);
        assert_eq!(d.object["estimated_cost_pln"], -3.0);
        assert_eq!(d.facts.category, Category::Selling);
        assert_eq!(d.facts.revenue_pln, Some(3.0));
        assert_eq!(d.facts.energy_kwh, Some(4.0));
        assert_eq!(d.facts.execution_success, Some(true));
        assert!(from_file(
            "charging_decision_20260701_190000.json",
            "{\"timestamp\": 1}"
        )
        .is_err());
        assert!(from_file("charging_decision_20260701_190000.json", "[1]").is_err());
        assert_eq!(
            file_kind("charging_decision_20260701_190000.json").map(|k| k.0),
            Some(false)
        );
        assert!(file_kind("charging_decision_2026.json").is_none());
    }

    #[test]
    fn lean_facts_equal_full_facts() {
        let dir = tempfile::tempdir().unwrap();
        let c = Connection::open(dir.path().join("c.db")).unwrap();
        crate::schema::create(&c).unwrap();
        let t0 = time::parse_instant("2026-07-01T12:00:00", None).unwrap();
        let rows: [(&str, Option<&str>, &str); 5] = [
            (
                "charge",
                Some("cheap"),
                r#"{"energy_kwh": 2.5, "estimated_cost_pln": "1.25", "confidence": 0.8, "current_price": 0.5, "tariff_zone": "T2"}"#,
            ),
            (
                "battery_selling",
                None,
                r#"{"expected_revenue_pln": 3.0, "tariff_zone": 5}"#,
            ),
            (
                "hold",
                Some("Grid charging now"),
                r#"{"energy_kwh": {"nested": [1]}}"#,
            ),
            ("wait", None, "not json"),
            ("wait", None, "[1, 2]"),
        ];
        for (i, (action, reason, params)) in rows.iter().enumerate() {
            let t = t0 + chrono::Duration::minutes(15 * i as i64);
            c.execute(
                "INSERT INTO coordinator_decisions (timestamp, action, reason, parameters) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![time::local_text(t), action, reason, params],
            )
            .unwrap();
        }
        let (from, to) = (t0, t0 + chrono::Duration::hours(2));
        let mut n1 = Vec::new();
        let mut n2 = Vec::new();
        let mut full: Vec<Facts> = query_db(&c, from, to, &mut n1)
            .unwrap()
            .into_iter()
            .map(|d| d.facts)
            .collect();
        full.sort_by_key(|f| f.at);
        let lean = query_facts(&c, from, to, &mut n2).unwrap();
        assert_eq!(full, lean);
        assert_eq!(n1.len(), 2, "{n1:?}");
        assert_eq!(n2.len(), 2, "{n2:?}");
    }

    #[test]
    fn duplicates_merge_db_first() {
        let mut notes = Vec::new();
        let db = from_db_row(
            DbRow {
                id: 1,
                timestamp: Some("2026-07-01T19:00:00.250000".into()),
                action: Some("battery_selling".into()),
                parameters: Some(json!({"expected_revenue_pln": 3.0}).to_string()),
                ..Default::default()
            },
            &mut notes,
        )
        .unwrap();
        let file = from_file(
            "battery_selling_decision_20260701_190000.json",
            &json!({"timestamp": "2026-07-01T19:00:00.900000", "expected_revenue_pln": 9.0,
                    "execution_success": false, "reasoning": "peak"})
            .to_string(),
        )
        .unwrap();
        let other = from_file(
            "charging_decision_20260701_191500.json",
            &json!({"timestamp": "2026-07-01T19:15:00", "action": "charge"}).to_string(),
        )
        .unwrap();
        let all = merge(
            vec![db.into_stored()],
            vec![file.into_stored(), other.into_stored()],
        );
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].facts.category, Category::Charging, "newest first");
        let s = &all[1];
        assert!(s.from_db && s.from_file);
        let object: Value = serde_json::from_str(&s.json).unwrap();
        assert_eq!(object["expected_revenue_pln"], 3.0, "DB wins");
        assert_eq!(object["reasoning"], "peak", "file adds what the DB lacks");
        assert_eq!(s.facts.execution_success, Some(false));
    }
}
