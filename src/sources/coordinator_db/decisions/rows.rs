//! `coordinator_decisions` rows: the row as read, its typed [`Record`] (instant, columns,
//! `parameters`), and the one read by time both uses share: the served decisions of
//! recent windows and the facts of past days are derived from the same records.

use super::*;

/// Keys of `parameters` that the original copied to the top level of a DB decision, in
/// its order: the one list of the parameters a DB decision's served object and facts use.
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

/// A DB decision, typed: its instant, its columns and its parsed `parameters`. The served
/// object ([`Record::into_decision`]) and the facts ([`Record::facts`]) both come from it,
/// by the same key lookup, so they cannot disagree.
#[derive(Debug, Clone)]
pub struct Record {
    pub at: DateTime<Utc>,
    pub row: DbRow,
    /// `parameters` parsed: an object, `null`, or (reported) another JSON value.
    pub parameters: Value,
}

impl Record {
    /// Reads a row. Malformed `parameters` keep the row (with `parameters: null`) and add
    /// a note; a row without a readable timestamp is an error naming the row.
    pub fn read(mut row: DbRow, notes: &mut Vec<String>) -> Result<Record, String> {
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
        let parameters = match row.parameters.take().as_deref() {
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
        Ok(Record {
            at,
            row,
            parameters,
        })
    }

    /// A flattened `parameters` key's value ([`FLATTENED`]), as the served object has it.
    fn param(&self, key: &str) -> Option<&Value> {
        match &self.parameters {
            Value::Object(p) if FLATTENED.contains(&key) => p.get(key),
            _ => None,
        }
    }

    /// The text columns of the served object, in order.
    fn columns(&self) -> [(&'static str, Option<&str>); 6] {
        let r = &self.row;
        [
            ("timestamp", r.timestamp.as_deref()),
            ("decision_type", r.decision_type.as_deref()),
            ("action", r.action.as_deref()),
            ("reason", r.reason.as_deref()),
            ("source_module", r.source_module.as_deref()),
            ("created_at", r.created_at.as_deref()),
        ]
    }

    /// The rule fields of this decision: exactly what [`Fields::of_object`] finds in the
    /// served object, read without building it.
    fn fields(&self) -> Fields<'_> {
        let columns = self.columns();
        Fields::read(|key| {
            columns
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.map_or(Lookup::Other, Lookup::Text))
                .or_else(|| self.param(key).map(Lookup::Value))
        })
    }

    /// The facts of this decision (for summaries of past days).
    pub fn facts(&self) -> Facts {
        self.fields().facts(self.at)
    }

    /// The decision served by `/decisions`: the columns, the [`FLATTENED`] keys copied to
    /// the top level, and `parameters`.
    pub fn into_decision(self) -> Decision {
        let facts = self.facts();
        let mut o = Map::new();
        o.insert("id".into(), Value::from(self.row.id));
        for (key, v) in self.columns() {
            o.insert(
                key.into(),
                v.map_or(Value::Null, |s| Value::String(s.to_string())),
            );
        }
        if let Value::Object(p) = &self.parameters {
            for key in FLATTENED {
                if let Some(v) = p.get(key) {
                    o.insert(key.into(), v.clone());
                }
            }
        }
        o.insert("parameters".into(), self.parameters);
        Decision {
            object: o,
            facts,
            from_db: true,
            from_file: false,
        }
    }
}

/// A DB row → a decision, flattened like the original ([`Record::read`],
/// [`Record::into_decision`]).
pub fn from_db_row(row: DbRow, notes: &mut Vec<String>) -> Result<Decision, String> {
    Record::read(row, notes).map(Record::into_decision)
}

/// Reads the `coordinator_decisions` rows whose instant lies in `[from, to)`, by the
/// timestamp index, and hands each one's [`Record`] to `each`; unreadable rows go to
/// `notes`.
fn read_records(
    conn: &Connection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    notes: &mut Vec<String>,
    mut each: impl FnMut(Record),
) -> Result<(), DbError> {
    let (lo, hi) = time::query_bounds(from, to);
    let q = |e| DbError::Query("coordinator_decisions by time", e);
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, timestamp, decision_type, action, reason, parameters, source_module, created_at \
             FROM coordinator_decisions WHERE timestamp >= ?1 AND timestamp <= ?2",
        )
        .map_err(q)?;
    let mut rows = stmt.query([&lo, &hi]).map_err(q)?;
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
        match Record::read(row, notes) {
            Ok(rec) if rec.at >= from && rec.at < to => each(rec),
            Ok(_) => {}
            Err(e) => notes.push(e),
        }
    }
    Ok(())
}

/// Facts of `coordinator_decisions` rows in `[from, to)`, without building
/// the served objects (for summaries of past days).
pub fn query_facts(
    conn: &Connection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    notes: &mut Vec<String>,
) -> Result<Vec<Facts>, DbError> {
    let mut out = Vec::new();
    read_records(conn, from, to, notes, |rec| out.push(rec.facts()))?;
    Ok(out)
}

/// The served decisions of `coordinator_decisions` rows in `[from, to)`.
pub fn query_db(
    conn: &Connection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    notes: &mut Vec<String>,
) -> Result<Vec<StoredDecision>, DbError> {
    let mut out = Vec::new();
    // Serialized at once: a month of full objects is never held at the same time.
    read_records(conn, from, to, notes, |rec| {
        out.push(rec.into_decision().into_stored())
    })?;
    Ok(out)
}
