//! The sources of outside data: each reads one kind of input on its lane thread and returns
//! typed data. Each source module owns its parsing as pure functions (tested without I/O)
//! and keeps its I/O thin. Which sources run, with which settings, is decided by the
//! daemon's wiring.

pub mod coordinator;
pub mod coordinator_db;
pub mod host;
pub mod journal;
pub mod log_dir;
pub mod log_text;
pub mod prices;
pub mod store;

/// The `storage` object of `/status`: is the coordinator's DB open, and did it hold data at
/// the last read? (`type` is `sqlite`.)
pub fn storage_state(view: &crate::sources::store::View) -> serde_json::Value {
    coordinator_db::storage_state(view)
}

/// The `pricing` object that `/current-state` embeds: the current quarter's final price and
/// the day's cheapest, from the prices source. `None` while there is no valid price data.
pub fn current_pricing(view: &crate::sources::store::View) -> Option<serde_json::Value> {
    prices::current_pricing(view)
}
