//! What the `metrics` source produces: [`CoordinatorData`] (one refresh's decisions,
//! figures, months and history), the [`Metrics`] of its two windows, the `/decisions`
//! [`WINDOWS`], and the cap on the skip notes carried into bodies.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::super::decisions::StoredDecision;
use super::super::energy::History;
use super::super::figures::Figures;
use super::super::summary::MonthSummary;

/// The `/decisions` windows, with their lengths.
pub const WINDOWS: [(&str, i64); 4] = [
    ("1h", 3600),
    ("24h", 86_400),
    ("7d", 7 * 86_400),
    ("30d", 30 * 86_400),
];

/// Metrics of the two windows.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    pub month_to_date: Figures,
    pub last_24h: Figures,
}

/// What one refresh produced.
#[derive(Debug, Clone)]
pub struct CoordinatorData {
    pub refreshed_at: DateTime<Utc>,
    pub db_connected: bool,
    /// Why the DB could not be read, when it could not.
    pub db_problem: Option<String>,
    /// Decisions of the last 30 days and of the current month, newest first. Shared: a
    /// refresh that brings back equal decisions returns the list it returned before, so the
    /// source's held result and the store hold one list, not two.
    pub decisions: Arc<[StoredDecision]>,
    /// For each of [`WINDOWS`], how many of `decisions` (a prefix) fall inside it.
    pub window_len: [usize; 4],
    pub metrics: Metrics,
    /// Served months, oldest first; the last is the current month.
    pub months: Arc<Vec<MonthSummary>>,
    /// When the month summaries were built.
    pub months_built_at: DateTime<Utc>,
    /// Served months not built yet (read in the next refreshes), oldest first.
    pub pending_months: Vec<(i32, u32)>,
    /// `None` when the DB is unavailable.
    pub history: Option<History>,
    /// Hourly means of the last 7 days; `None` when the DB is unavailable.
    pub week: Option<History>,
    /// Rows and files skipped, with the reason.
    pub skipped: Vec<String>,
    /// Newest `energy_data` sample seen, if any.
    pub newest_sample: Option<DateTime<Utc>>,
}

impl CoordinatorData {
    /// The decisions of window `i` of [`WINDOWS`].
    pub fn window(&self, i: usize) -> &[StoredDecision] {
        &self.decisions[..self.window_len[i].min(self.decisions.len())]
    }
}

/// A year and month.
pub type YearMonth = (i32, u32);

/// At most this many skip notes are carried into bodies; the rest are counted.
pub const MAX_NOTES: usize = 20;

/// Keeps the first [`MAX_NOTES`] notes and says how many more there were.
pub fn cap_notes(notes: &mut Vec<String>) {
    if notes.len() > MAX_NOTES {
        let more = notes.len() - MAX_NOTES;
        notes.truncate(MAX_NOTES);
        notes.push(format!("... and {more} more"));
    }
}
