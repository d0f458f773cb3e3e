//! Decisions: `coordinator_decisions` rows (with `parameters` flattened the way the original
//! did) merged with the decision files under `out/energy_data/`, deduplicated, categorised
//! and reduced to the typed [`Facts`] every figure is computed from.
//!
//! One pipeline: a DB row is read into its typed [`Record`]; the served object and the
//! facts are both derived from it (the facts by the same key lookup the object answers,
//! [`Fields`]), and a file is read into a [`Decision`] whose facts come from its object.
//! Summaries of past days take the facts only; `/decisions` takes the objects.
//!
//! Rules (docs/api.md, "GET /decisions"):
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

mod files;
mod merge;
mod rows;
mod rules;

pub use files::{file_kind, from_file, FileCache};
pub use merge::{merge, merge_facts, share_equal};
pub use rows::{from_db_row, query_db, query_facts, DbRow, Record, FLATTENED};
pub use rules::{categorise, facts_of, Fields, Lookup};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, NaiveDateTime, Utc};
use rusqlite::Connection;
use serde::Serialize;
use serde_json::{Map, Value};

use super::db::DbError;
use super::time;

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

/// A decision as kept between refreshes: its served object already serialized.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDecision {
    /// The served object as JSON, shared by every copy of the list (a held read, the held
    /// result, the store) instead of copied.
    pub json: std::sync::Arc<str>,
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
                .into(),
            facts: self.facts,
            from_db: self.from_db,
            from_file: self.from_file,
        }
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
    fn a_records_facts_are_the_facts_of_its_served_object() {
        let row = |action: Option<&str>, reason: Option<&str>, params: Option<&str>| DbRow {
            id: 7,
            timestamp: Some("2026-07-01T12:00:00".into()),
            action: action.map(str::to_string),
            reason: reason.map(str::to_string),
            parameters: params.map(str::to_string),
            ..Default::default()
        };
        let rows = [
            row(
                Some("charge"),
                None,
                Some(r#"{"energy_kwh": "2.5", "current_price_pln": 0.4, "source": "grid"}"#),
            ),
            row(
                None,
                Some("PV charging"),
                Some(r#"{"tariff_zone": "T1", "cost_pln": 3}"#),
            ),
            row(
                Some("battery_selling"),
                None,
                Some(r#"{"expected_revenue_pln": 1, "estimated_savings_pln": 2}"#),
            ),
            row(Some("wait"), None, Some("[1]")),
            row(None, None, None),
        ];
        for r in rows {
            let mut notes = Vec::new();
            let record = Record::read(r, &mut notes).unwrap();
            let facts = record.facts();
            let served = record.into_decision();
            assert_eq!(facts, facts_of(&served.object, facts.at));
            assert_eq!(facts, served.facts);
        }
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
    fn facts_of_records_equal_facts_of_served_objects() {
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
