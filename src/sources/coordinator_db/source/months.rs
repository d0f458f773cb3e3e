//! The month-summary cache of the `metrics` source: past days computed once (from their
//! decisions, or a daily snapshot file when we hold none) and reused while settled and
//! their snapshot file is unchanged; today recomputed at every refresh; months built
//! newest first, at most [`MONTHS_READ_PER_REFRESH`] with days to read per refresh, and
//! rebuilt after [`SUMMARY_TTL`] only when their inputs changed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::Connection;

use super::super::db::{DbError, DbStamp};
use super::super::decisions::{self, Facts, StoredDecision};
use super::super::energy::{self, EnergyRow};
use super::super::summary::{self, DaySummary, MonthSummary};
use super::super::time;
use super::{CoordinatorSource, YearMonth};
use crate::clock;
use crate::refresh::SourceError;

/// How long month summaries are reused before they are rebuilt.
pub const SUMMARY_TTL: Duration = Duration::from_secs(300);
/// The served month range: the current month and at most this many before it.
pub const MAX_PAST_MONTHS: u32 = 24;
/// At most this many months with days still to read are built per refresh; older ones
/// follow in the next refreshes (run one second apart), so no single refresh reads a
/// whole year after a start.
pub const MONTHS_READ_PER_REFRESH: usize = 4;

/// A past day computed from the DB this long after its end is final.
const DAY_SETTLE: chrono::Duration = chrono::Duration::minutes(10);

/// Month summaries as built and served: when and for which local date they were built,
/// the months (oldest first; the last is the current month), the data time, and the served
/// months left for later refreshes, oldest first.
#[derive(Clone)]
pub(super) struct MonthCache {
    pub(super) at: Instant,
    pub(super) day: NaiveDate,
    pub(super) months: Arc<Vec<MonthSummary>>,
    pub(super) built_at: DateTime<Utc>,
    pub(super) pending: Vec<YearMonth>,
    /// [`CoordinatorSource::months_key`] of the inputs the months were built from.
    pub(super) key: u64,
}

pub(super) struct DayEntry {
    pub(super) summary: Option<DaySummary>,
    /// Size and mtime of the snapshot file the entry was built with (if one existed).
    pub(super) snapshot: Option<(u64, Option<SystemTime>)>,
    pub(super) note: Option<String>,
    pub(super) settled: bool,
}

impl CoordinatorSource {
    /// The month summaries, rebuilt on a new day, and when older than [`SUMMARY_TTL`] if
    /// their inputs ([`CoordinatorSource::months_key`]) changed since they were built.
    pub(super) fn months_at(
        &mut self,
        now: DateTime<Utc>,
        stamp: DbStamp,
        recent: &[StoredDecision],
        rows: &[EnergyRow],
        skipped: &mut Vec<String>,
    ) -> Result<MonthCache, SourceError> {
        let today = clock::local_date(now);
        let mut key = None;
        let expired = self.months.as_ref().is_some_and(|b| {
            b.day == today && b.pending.is_empty() && b.at.elapsed() >= SUMMARY_TTL
        });
        if expired {
            let k = self.months_key(stamp, recent);
            key = Some(k);
            if let Some(b) = self.months.as_mut().filter(|b| b.key == k) {
                // Nothing they are built from changed: a rebuild would give the same.
                b.at = Instant::now();
            }
        }
        if let Some(b) = &self.months {
            if b.day == today && b.at.elapsed() < SUMMARY_TTL && b.pending.is_empty() {
                // Past days are reused; today is recomputed from this refresh's decisions,
                // so the month agrees with /metrics' month-to-date at every refresh.
                let live = live_day(today, now, recent, rows);
                let old_live = b
                    .months
                    .last()
                    .and_then(|m| m.daily_summaries.iter().find(|d| d.source == "live"));
                let unchanged = match (&live, old_live) {
                    (Some(new), Some(old)) => {
                        DaySummary {
                            created_at: old.created_at.clone(),
                            ..new.clone()
                        } == *old
                    }
                    (None, None) => true,
                    _ => false,
                };
                let months = if unchanged {
                    Arc::clone(&b.months)
                } else {
                    let mut months = b.months.as_ref().clone();
                    if let Some(current) = months.last_mut() {
                        let mut days = current.daily_summaries.clone();
                        days.retain(|d| d.source != "live");
                        days.extend(live);
                        let notes = std::mem::take(&mut current.skipped);
                        *current = summary::aggregate(current.year, current.month, days, notes);
                    }
                    Arc::new(months)
                };
                return Ok(MonthCache {
                    months,
                    ..b.clone()
                });
            }
        }
        let key = key.unwrap_or_else(|| self.months_key(stamp, recent));
        let built = self.build_months(now, recent, rows, key, skipped)?;
        self.months = Some(built.clone());
        Ok(built)
    }

    /// True when every past day of month `ym` has a valid cache entry.
    fn month_cached(
        &self,
        ym: (i32, u32),
        today: NaiveDate,
        snapshots: &HashMap<NaiveDate, (PathBuf, u64, Option<SystemTime>)>,
    ) -> bool {
        let Some(mut d) = NaiveDate::from_ymd_opt(ym.0, ym.1, 1) else {
            return true;
        };
        while summary::month_of(d) == ym && d < today {
            if !self.day_valid(d, snapshots) {
                return false;
            }
            match d.succ_opt() {
                Some(n) => d = n,
                None => break,
            }
        }
        true
    }

    fn day_valid(
        &self,
        day: NaiveDate,
        snapshots: &HashMap<NaiveDate, (PathBuf, u64, Option<SystemTime>)>,
    ) -> bool {
        let meta = snapshots.get(&day).map(|(_, l, m)| (*l, *m));
        match self.days.get(&day) {
            Some(e) => e.snapshot == meta && e.settled,
            None => false,
        }
    }

    fn build_months(
        &mut self,
        now: DateTime<Utc>,
        recent: &[StoredDecision],
        rows: &[EnergyRow],
        key: u64,
        skipped: &mut Vec<String>,
    ) -> Result<MonthCache, SourceError> {
        let today = clock::local_date(now);
        let (cy, cm) = summary::month_of(today);
        let snapshots = list_snapshots(&self.out_dir.join("daily_snapshots"));
        let earliest = self.earliest_date(&snapshots)?;
        let mut first = (cy, cm);
        for _ in 0..MAX_PAST_MONTHS {
            let p = summary::prev_month(first.0, first.1);
            match earliest {
                Some(e) if summary::month_of(e) <= p => first = p,
                _ => break,
            }
        }
        // Forget days before the served range.
        let first_day = NaiveDate::from_ymd_opt(first.0, first.1, 1).unwrap_or(today);
        self.days.retain(|d, _| *d >= first_day);

        // Newest first, so the months people look at are ready first.
        let mut out = Vec::new();
        let mut pending = Vec::new();
        let mut budget = MONTHS_READ_PER_REFRESH;
        let mut ym = (cy, cm);
        loop {
            let cached = self.month_cached(ym, today, &snapshots);
            if !cached && budget == 0 {
                pending.push(ym);
                if ym == first {
                    break;
                }
                ym = summary::prev_month(ym.0, ym.1);
                continue;
            }
            if !cached {
                budget -= 1;
            }
            let days = self.month_days(ym, today, now, &snapshots, skipped)?;
            let mut month_days: Vec<DaySummary> = Vec::new();
            let mut notes = Vec::new();
            for d in days {
                if let Some(e) = self.days.get(&d) {
                    if let Some(n) = &e.note {
                        notes.push(n.clone());
                    }
                    if let Some(s) = &e.summary {
                        month_days.push(s.clone());
                    }
                }
            }
            if ym == (cy, cm) {
                month_days.extend(live_day(today, now, recent, rows));
            }
            skipped.extend(notes.iter().cloned());
            out.push(summary::aggregate(ym.0, ym.1, month_days, notes));
            if ym == first {
                break;
            }
            ym = summary::prev_month(ym.0, ym.1);
        }
        out.reverse();
        pending.reverse();
        Ok(MonthCache {
            at: Instant::now(),
            day: today,
            months: Arc::new(out),
            built_at: now,
            pending,
            key,
        })
    }

    /// Makes sure every past day of month `ym` (before `today`) has a valid cache entry;
    /// returns those days.
    fn month_days(
        &mut self,
        ym: (i32, u32),
        today: NaiveDate,
        now: DateTime<Utc>,
        snapshots: &HashMap<NaiveDate, (PathBuf, u64, Option<SystemTime>)>,
        skipped: &mut Vec<String>,
    ) -> Result<Vec<NaiveDate>, SourceError> {
        let mut days = Vec::new();
        let Some(mut d) = NaiveDate::from_ymd_opt(ym.0, ym.1, 1) else {
            return Ok(days);
        };
        while summary::month_of(d) == ym && d < today {
            days.push(d);
            d = d.succ_opt().unwrap_or(d);
            if days.last() == Some(&d) {
                break;
            }
        }
        // Every day is computed from our decisions (DB rows and files) first; the
        // coordinator's snapshot file stands in only for a day of which we hold no decision
        // (one definition of a day for /metrics and /monthly-*, docs/figures.md).
        let to_compute: Vec<(NaiveDate, Option<SnapshotMeta>)> = days
            .iter()
            .filter(|day| !self.day_valid(**day, snapshots))
            .map(|day| (*day, snapshots.get(day).map(|(_, l, m)| (*l, *m))))
            .collect();
        if to_compute.is_empty() {
            return Ok(days);
        }
        let from = clock::day_start(to_compute[0].0);
        let last = to_compute[to_compute.len() - 1].0;
        let to = clock::day_start(last.succ_opt().unwrap_or(last));
        let (decs, rows, db_ok) = self.read_span(from, to, skipped)?;
        let mut facts_by_day: HashMap<NaiveDate, Vec<&Facts>> = HashMap::new();
        for f in &decs {
            facts_by_day
                .entry(clock::local_date(f.at))
                .or_default()
                .push(f);
        }
        let mut rows_by_day: HashMap<NaiveDate, Vec<EnergyRow>> = HashMap::new();
        for r in rows {
            rows_by_day
                .entry(clock::local_date(r.at))
                .or_default()
                .push(r);
        }
        for (day, meta) in to_compute {
            let mut facts = facts_by_day.remove(&day).unwrap_or_default();
            facts.sort_by_key(|f| f.at);
            let day_rows = rows_by_day.remove(&day).unwrap_or_default();
            let mut summary = summary::compute_day(day, &facts, &day_rows, "database");
            let mut note = None;
            if let (true, Some((path, _, _))) = (facts.is_empty(), snapshots.get(&day)) {
                match read_snapshot(path, day) {
                    Ok(s) => summary = Some(s),
                    Err(e) => {
                        log::warn!("daily snapshot skipped: {e}");
                        note = Some(format!(
                            "{e}; the day was computed from the database instead"
                        ));
                    }
                }
            }
            let end = clock::day_start(day.succ_opt().unwrap_or(day));
            self.days.insert(
                day,
                DayEntry {
                    summary,
                    snapshot: meta,
                    note,
                    // A day read while the DB was missing is read again once it is back.
                    settled: db_ok && now >= end + DAY_SETTLE,
                },
            );
        }
        Ok(days)
    }

    /// Decision facts (DB and files) and energy counters of `[from, to)`, and whether the
    /// DB was readable.
    fn read_span(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        skipped: &mut Vec<String>,
    ) -> Result<(Vec<Facts>, Vec<EnergyRow>, bool), SourceError> {
        let (db, rows, db_ok) = match self.db.connection() {
            Ok(conn) => {
                let (d, e) = read_db_span(conn, from, to, skipped).map_err(SourceError::new)?;
                (d, e, true)
            }
            Err(DbError::Missing(_)) => (Vec::new(), Vec::new(), false),
            Err(e) => return Err(SourceError::new(e)),
        };
        let files = self
            .summary_files
            .load(from, to, skipped)
            .unwrap_or_default()
            .into_iter()
            .map(|d| d.facts)
            .collect();
        Ok((decisions::merge_facts(db, files), rows, db_ok))
    }

    /// The earliest date any data exists for (DB tables, decision files, snapshots).
    fn earliest_date(
        &mut self,
        snapshots: &HashMap<NaiveDate, (PathBuf, u64, Option<SystemTime>)>,
    ) -> Result<Option<NaiveDate>, SourceError> {
        let mut candidates: Vec<NaiveDate> = snapshots.keys().copied().collect();
        if let Ok(conn) = self.db.connection() {
            for sql in [
                "SELECT min(timestamp) FROM coordinator_decisions",
                "SELECT min(timestamp) FROM energy_data",
            ] {
                let t: Option<String> = conn
                    .query_row(sql, [], |r| r.get(0))
                    .map_err(|e| SourceError::new(DbError::Query("earliest timestamp", e)))?;
                if let Some(t) = t.and_then(|t| time::parse_instant(&t, None)) {
                    candidates.push(clock::local_date(t));
                }
            }
        }
        if let Ok(entries) = std::fs::read_dir(self.recent_files.dir()) {
            for e in entries.flatten() {
                if let Some((_, t)) = e.file_name().to_str().and_then(decisions::file_kind) {
                    candidates.push(t.date());
                }
            }
        }
        Ok(candidates.into_iter().min())
    }
}

fn read_db_span(
    conn: &Connection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    skipped: &mut Vec<String>,
) -> Result<(Vec<Facts>, Vec<EnergyRow>), DbError> {
    let d = decisions::query_facts(conn, from, to, skipped)?;
    let e = energy::query_counters(conn, from, to, skipped)?;
    Ok((d, e))
}

/// Today, computed from the decisions and energy rows of this refresh.
fn live_day(
    today: NaiveDate,
    now: DateTime<Utc>,
    recent: &[StoredDecision],
    rows: &[EnergyRow],
) -> Option<DaySummary> {
    let start = clock::day_start(today);
    // In time order, sorted exactly as `Tally::by_days` sorts /metrics' decisions.
    let mut facts: Vec<&Facts> = recent
        .iter()
        .map(|d| &d.facts)
        .filter(|f| f.at >= start && f.at <= now)
        .collect();
    facts.sort_by_key(|f| f.at);
    let today_rows: Vec<EnergyRow> = rows.iter().filter(|r| r.at >= start).cloned().collect();
    let mut s = summary::compute_day(today, &facts, &today_rows, "live")?;
    s.created_at = Some(clock::local_rfc3339(now));
    Some(s)
}

/// Size and mtime of a snapshot file.
type SnapshotMeta = (u64, Option<SystemTime>);

/// A daily snapshot file, parsed and checked against its date.
fn read_snapshot(path: &Path, day: NaiveDate) -> Result<DaySummary, String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bytes = std::fs::read(path).map_err(|e| format!("{name}: cannot read ({e})"))?;
    summary::parse_snapshot(&name, day, &String::from_utf8_lossy(&bytes))
}

/// `snapshot_YYYYMMDD.json` files: date → (path, size, mtime).
pub fn list_snapshots(dir: &Path) -> HashMap<NaiveDate, (PathBuf, u64, Option<SystemTime>)> {
    let mut out = HashMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        let Some(stamp) = name
            .strip_prefix("snapshot_")
            .and_then(|r| r.strip_suffix(".json"))
        else {
            continue;
        };
        let Ok(date) = NaiveDate::parse_from_str(stamp, "%Y%m%d") else {
            continue;
        };
        let Ok(meta) = e.metadata() else { continue };
        if meta.is_file() {
            out.insert(date, (e.path(), meta.len(), meta.modified().ok()));
        }
    }
    out
}
