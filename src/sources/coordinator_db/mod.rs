//! Coordinator data: everything energy-monitor reads from the coordinator's SQLite DB and
//! its JSON files under `out/`. The routes built from it (`/current-state`, `/decisions`,
//! `/metrics`, `/monthly-summary`, `/monthly-comparison`, `/historical-data`) are a feature:
//! `crate::api::coordinator`.
//!
//! Two sources, each on its own lane with its own read-only DB handle ([`db`]):
//! - `inverter` ([`inverter`]): the newest reading, from `system_state` or a state file;
//! - `metrics` ([`source`]): decisions ([`decisions`]), the savings figures ([`figures`]),
//!   daily and monthly summaries ([`summary`]) and the 24-hour history ([`energy`]).
//!
//! Timestamps are converted by [`time`]. Parsing and arithmetic are pure functions tested
//! without I/O.

pub mod db;
pub mod decisions;
pub mod energy;
pub mod figures;
pub mod inverter;
pub mod source;
pub mod summary;
pub mod time;
#[cfg(any(test, feature = "test-support"))]
pub mod writer;

use serde_json::{json, Value};

use crate::refresh::SourceId;
use crate::sources::store::View;

/// The `storage` object of `/status`: `connected` when the last attempt of a DB-reading
/// source opened the DB; `has_data` when the DB held an inverter reading or decisions.
pub fn storage_state(view: &View) -> Value {
    let inverter = view.get(SourceId::Inverter);
    let metrics = view.get(SourceId::Metrics);
    let ok = |s: Option<&crate::refresh::SourceStatus>| s.is_some_and(|s| s.last_error.is_none());
    let inv = view.data.inverter.as_deref().filter(|_| ok(inverter));
    let met = view.data.metrics.as_deref().filter(|_| ok(metrics));
    let connected = inv.is_some_and(|d| d.db_connected) || met.is_some_and(|d| d.db_connected);
    let has_data = inv.is_some_and(|d| d.db_has_rows)
        || met.is_some_and(|d| {
            d.db_connected && (!d.decisions.is_empty() || d.newest_sample.is_some())
        });
    json!({"connected": connected, "has_data": has_data, "type": "sqlite"})
}
