//! `coordinator_decisions` rows: the row as read, `parameters` flattened the way the
//! original did ([`FLATTENED`]), lenient numbers ([`Loose`]), and the two reads by time
//! (full decisions for recent windows, facts only for summaries of past days).

use super::*;

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
