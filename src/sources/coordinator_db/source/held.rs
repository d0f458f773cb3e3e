//! Reuse in the `metrics` source: the last DB read is held while the DB's stamp is
//! unchanged and cut to the moving 30-day span in memory ([`HeldReads`]); the last result
//! is held until an input changes or an instant passes at which it could differ
//! ([`HeldResult`], [`valid_until`]); [`next_unread`] says how long a read stays complete;
//! `months_key` hashes what the month summaries are built from.

use std::time::SystemTime;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rusqlite::Connection;

use super::super::db::{self, DbError, DbStamp};
use super::super::decisions::StoredDecision;
use super::super::energy::{self, EnergyRow};
use super::super::time;
use super::{list_snapshots, CoordinatorData, CoordinatorSource, WINDOWS};
use crate::clock;

/// What the last DB read returned, kept while the DB's stamp stays the same: the decisions
/// and `energy_data` rows of `[from, complete_until)` and the notes of that read. A later
/// range `[from', to')` with `from' >= from` and `to' <= complete_until` holds exactly the
/// held items inside it, so it is cut from memory instead of read again.
pub(super) struct HeldReads {
    pub(super) stamp: DbStamp,
    pub(super) from: DateTime<Utc>,
    /// No decision or row of the DB lies in `[to, complete_until)` (`to` of the read).
    pub(super) complete_until: DateTime<Utc>,
    pub(super) decisions: Vec<StoredDecision>,
    pub(super) rows: Vec<EnergyRow>,
    pub(super) notes: Vec<String>,
}

/// The last result and what it was computed from besides the held DB read.
pub(super) struct HeldResult {
    pub(super) data: CoordinatorData,
    /// The first instant at which the result could differ with the same inputs.
    pub(super) valid_until: DateTime<Utc>,
    pub(super) files: Option<Vec<StoredDecision>>,
    pub(super) file_notes: Vec<String>,
}

impl CoordinatorSource {
    /// The held DB read cut to `[from, to)`, with its notes, when the DB's stamp is the one
    /// it was read with and the held read covers the range; `None` when the DB must be
    /// read.
    pub(super) fn held_reads(
        &self,
        stamp: DbStamp,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Option<(Vec<StoredDecision>, Vec<EnergyRow>, Vec<String>)> {
        let h = self.held.as_ref()?;
        if stamp.db.is_none() || h.stamp != stamp || from < h.from || to > h.complete_until {
            return None;
        }
        let inside = |at: DateTime<Utc>| at >= from && at < to;
        Some((
            h.decisions
                .iter()
                .filter(|d| inside(d.facts.at))
                .cloned()
                .collect(),
            h.rows.iter().filter(|r| inside(r.at)).cloned().collect(),
            h.notes.clone(),
        ))
    }

    /// The last result, brought to `now`, when nothing it was computed from changed: the
    /// DB's stamp, the held read covering `[from, to)`, the decision files of the range
    /// (and their notes) and no instant of [`valid_until`] passed since.
    pub(super) fn held_result(
        &mut self,
        stamp: DbStamp,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
        files: &Option<Vec<StoredDecision>>,
        file_notes: &[String],
    ) -> Option<CoordinatorData> {
        let h = self.held.as_ref()?;
        let r = self.result.as_ref()?;
        let reads_hold =
            stamp.db.is_some() && h.stamp == stamp && from >= h.from && to <= h.complete_until;
        // Before the time it was computed at (the clock was set back) it does not hold.
        let in_bucket = r.data.refreshed_at <= now && now < r.valid_until;
        if !reads_hold || !in_bucket || r.files != *files || r.file_notes != file_notes {
            return None;
        }
        let mut data = r.data.clone();
        // What a computation at `now` changes besides: the time the windows end.
        data.refreshed_at = now;
        data.metrics.month_to_date.to = clock::local_rfc3339(now);
        data.metrics.last_24h.from = clock::local_rfc3339(now - chrono::Duration::hours(24));
        data.metrics.last_24h.to = clock::local_rfc3339(now);
        Some(data)
    }

    /// A hash of what month summaries are built from: the DB's stamp, the daily snapshot
    /// files (date, size, mtime), the decision directory's own stamp (files added or
    /// removed) and the decision files read for the recent span. `stat`s and a directory
    /// listing; no SQLite.
    pub(super) fn months_key(&self, stamp: DbStamp, recent: &[StoredDecision]) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        stamp.hash(&mut h);
        let mut snaps: Vec<(NaiveDate, u64, Option<SystemTime>)> =
            list_snapshots(&self.out_dir.join("daily_snapshots"))
                .into_iter()
                .map(|(d, (_, len, mtime))| (d, len, mtime))
                .collect();
        snaps.sort_unstable();
        snaps.hash(&mut h);
        db::file_stamp(self.recent_files.dir()).hash(&mut h);
        for d in recent.iter().filter(|d| d.from_file) {
            d.json.hash(&mut h);
        }
        h.finish()
    }
}

/// The first instant after `now` at which a result computed at `now` could change while
/// the DB and the files stay as they are: the next 5-minute slot (the 24-hour history; hour
/// buckets start on one), the next local midnight (today, the month), a decision leaving
/// one of the [`WINDOWS`], a decision or sample of the future reaching `now`, and the oldest
/// decision or sample leaving the span of the last 30 days. Exact or earlier, never later.
pub(super) fn valid_until(
    data: &CoordinatorData,
    rows: &[EnergyRow],
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let step = chrono::Duration::seconds(energy::STEP_S);
    let tick = chrono::Duration::nanoseconds(1);
    let today = clock::local_date(now);
    let mut until =
        (energy::slot_start(now) + step).min(clock::day_start(today.succ_opt().unwrap_or(today)));
    for (i, (_, secs)) in WINDOWS.iter().enumerate() {
        if let Some(oldest) = data.window(i).last() {
            until = until.min(oldest.facts.at + chrono::Duration::seconds(*secs) + tick);
        }
    }
    // The span starts at min(month start, now - 30 days); the month start stays until
    // midnight, so what lies before it leaves 30 days after its time.
    let month_start = clock::day_start(today.with_day(1).unwrap_or(today));
    let span = chrono::Duration::days(30) + tick;
    let ats = data
        .decisions
        .iter()
        .map(|d| d.facts.at)
        .chain(rows.iter().map(|r| r.at));
    for at in ats {
        if at > now {
            until = until.min(at);
        }
        if at < month_start {
            until = until.min(at + span);
        }
    }
    until
}

/// Until when a read of `[from, to)` stays complete as time passes: the earliest instant at
/// which a decision or `energy_data` row not read yet could enter the range (or its
/// widened SQL bounds, which run an hour ahead), with two hours to spare for the UTC
/// offset; `to` when a row near or after `to` has no readable timestamp. Normally no row
/// lies after `to`, and the read stays complete until the DB changes.
pub(super) fn next_unread(conn: &Connection, to: DateTime<Utc>) -> Result<DateTime<Utc>, DbError> {
    let margin = chrono::Duration::hours(2);
    let lo = time::local_text(to - margin);
    let mut until = DateTime::<Utc>::MAX_UTC;
    for (what, sql) in [
        (
            "newest coordinator_decisions",
            "SELECT timestamp, created_at FROM coordinator_decisions WHERE timestamp >= ?1",
        ),
        (
            "newest energy_data",
            "SELECT timestamp, created_at FROM energy_data WHERE timestamp >= ?1",
        ),
    ] {
        let q = |e| DbError::Query(what, e);
        let mut stmt = conn.prepare_cached(sql).map_err(q)?;
        let mut rows = stmt.query([&lo]).map_err(q)?;
        while let Some(r) = rows.next().map_err(q)? {
            let ts: Option<String> = r.get(0).ok();
            let created: Option<String> = r.get(1).ok();
            let at = ts.as_deref().and_then(|ts| {
                time::parse_instant_with(ts, || created.as_deref().and_then(time::parse_created_at))
            });
            match at {
                Some(at) if at < to => {}
                Some(at) => until = until.min(at - margin),
                None => until = until.min(to),
            }
        }
    }
    Ok(until)
}
