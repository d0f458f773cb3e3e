//! The `metrics` source: one lane that reads decisions, `energy_data` and daily snapshots,
//! and computes everything behind `/decisions`, `/metrics`, `/monthly-*` and
//! `/historical-data` at refresh time.
//!
//! Each refresh reads, by indexed range queries only: the decisions of the last 30 days
//! (or since the month began, whichever is earlier) and the `energy_data` rows of the same
//! span. Month summaries are rebuilt at most every [`SUMMARY_TTL`] (and at once when the
//! local date changes); within a rebuild, a past day is reused when its snapshot file is
//! unchanged, or when it was computed from the DB after the day had ended, so only new or
//! still-open days are read again. Months are read one at a time so memory stays bounded.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rusqlite::Connection;

use super::db::{Db, DbError};
use super::decisions::{self, Decision, Facts, FileCache};
use super::energy::{self, EnergyRow, History};
use super::figures::{self, Figures};
use super::summary::{self, DaySummary, MonthSummary};
use super::time;
use crate::clock;
use crate::refresh::{RefreshContext, Refreshed, Source, SourceError, SourceResult};

/// How long month summaries are reused before they are rebuilt.
pub const SUMMARY_TTL: Duration = Duration::from_secs(300);
/// The served month range: the current month and at most this many before it.
pub const MAX_PAST_MONTHS: u32 = 24;
/// A past day computed from the DB this long after its end is final.
const DAY_SETTLE: chrono::Duration = chrono::Duration::minutes(10);

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
    /// Decisions of the last 30 days and of the current month, newest first.
    pub decisions: Vec<Decision>,
    /// For each of [`WINDOWS`], how many of `decisions` (a prefix) fall inside it.
    pub window_len: [usize; 4],
    pub metrics: Metrics,
    /// Served months, oldest first; the last is the current month.
    pub months: Arc<Vec<MonthSummary>>,
    /// When the month summaries were built.
    pub months_built_at: DateTime<Utc>,
    /// `None` when the DB is unavailable.
    pub history: Option<History>,
    /// Rows and files skipped, with the reason.
    pub skipped: Vec<String>,
    /// Newest `energy_data` sample seen, if any.
    pub newest_sample: Option<DateTime<Utc>>,
}

impl CoordinatorData {
    /// The decisions of window `i` of [`WINDOWS`].
    pub fn window(&self, i: usize) -> &[Decision] {
        &self.decisions[..self.window_len[i].min(self.decisions.len())]
    }
}

/// Built month summaries: when, for which local date, the months, and the data time.
struct BuiltMonths {
    at: Instant,
    day: NaiveDate,
    months: Arc<Vec<MonthSummary>>,
    built_at: DateTime<Utc>,
}

struct DayEntry {
    summary: Option<DaySummary>,
    /// Size and mtime of the snapshot file the entry was built with (if one existed).
    snapshot: Option<(u64, Option<SystemTime>)>,
    note: Option<String>,
    settled: bool,
}

/// The source. Owns its DB handle and caches.
pub struct CoordinatorSource {
    db: Db,
    out_dir: PathBuf,
    interval: Duration,
    recent_files: FileCache,
    summary_files: FileCache,
    days: BTreeMap<NaiveDate, DayEntry>,
    months: Option<BuiltMonths>,
}

impl CoordinatorSource {
    pub fn new(database: PathBuf, root: &Path, interval: Duration) -> CoordinatorSource {
        let out_dir = root.join("out");
        CoordinatorSource {
            db: Db::new(database),
            recent_files: FileCache::new(out_dir.join("energy_data")),
            summary_files: FileCache::new(out_dir.join("energy_data")),
            out_dir,
            interval,
            days: BTreeMap::new(),
            months: None,
        }
    }

    /// One full refresh at `now` (the bench calls this directly).
    pub fn refresh_at(&mut self, now: DateTime<Utc>) -> Result<CoordinatorData, SourceError> {
        let mut skipped = Vec::new();
        let today = clock::local_date(now);
        let month_start = clock::day_start(today.with_day(1).unwrap_or(today));
        let from = month_start.min(now - chrono::Duration::days(30));
        let to = now + chrono::Duration::seconds(1);

        let (db_decisions, rows, db_problem) = match self.db.connection() {
            Ok(conn) => {
                let read = decisions::query_db(conn, from, to, &mut skipped).and_then(|d| {
                    let e_from = from.min(now - chrono::Duration::hours(24));
                    energy::query(conn, e_from, to, &mut skipped).map(|e| (d, e))
                });
                match read {
                    Ok((d, e)) => (d, Some(e), None),
                    Err(e) => {
                        self.db.reset();
                        return Err(SourceError::new(e));
                    }
                }
            }
            Err(e @ DbError::Missing(_)) => (Vec::new(), None, Some(e.to_string())),
            Err(e) => return Err(SourceError::new(e)),
        };
        let file_decisions = self.recent_files.load(from, to, &mut skipped);
        if rows.is_none() && file_decisions.is_none() {
            return Err(SourceError::new(format!(
                "no coordinator data: {}; and no decision files in {}",
                db_problem.unwrap_or_default(),
                self.recent_files.dir().display()
            )));
        }
        let all = decisions::merge(db_decisions, file_decisions.unwrap_or_default());
        let window_len = WINDOWS.map(|(_, secs)| {
            let start = now - chrono::Duration::seconds(secs);
            all.iter().take_while(|d| d.facts.at >= start).count()
        });
        let rows = rows.unwrap_or_default();
        let prices = figures::quarter_prices(&rows);
        let facts_since = |t: DateTime<Utc>| -> Vec<&Facts> {
            all.iter()
                .map(|d| &d.facts)
                .filter(|f| f.at >= t && f.at <= now)
                .collect()
        };
        let day_ago = now - chrono::Duration::hours(24);
        let metrics = Metrics {
            month_to_date: figures::figures(&facts_since(month_start), &prices, month_start, now),
            last_24h: figures::figures(&facts_since(day_ago), &prices, day_ago, now),
        };
        let db_connected = db_problem.is_none();
        let history = db_connected.then(|| energy::history(&rows, now));
        let newest_sample = rows.last().map(|r| r.at);

        let (months, months_built_at) = self.months_at(now, &all, &rows, &mut skipped)?;
        for s in &skipped {
            log::debug!("metrics: skipped {s}");
        }
        Ok(CoordinatorData {
            refreshed_at: now,
            db_connected,
            db_problem,
            decisions: all,
            window_len,
            metrics,
            months,
            months_built_at,
            history,
            skipped,
            newest_sample,
        })
    }

    /// The month summaries, rebuilt when older than [`SUMMARY_TTL`] or on a new day.
    fn months_at(
        &mut self,
        now: DateTime<Utc>,
        recent: &[Decision],
        rows: &[EnergyRow],
        skipped: &mut Vec<String>,
    ) -> Result<(Arc<Vec<MonthSummary>>, DateTime<Utc>), SourceError> {
        let today = clock::local_date(now);
        if let Some(b) = &self.months {
            if b.day == today && b.at.elapsed() < SUMMARY_TTL {
                return Ok((Arc::clone(&b.months), b.built_at));
            }
        }
        let months = Arc::new(self.build_months(now, recent, rows, skipped)?);
        self.months = Some(BuiltMonths {
            at: Instant::now(),
            day: today,
            months: Arc::clone(&months),
            built_at: now,
        });
        Ok((months, now))
    }

    fn build_months(
        &mut self,
        now: DateTime<Utc>,
        recent: &[Decision],
        rows: &[EnergyRow],
        skipped: &mut Vec<String>,
    ) -> Result<Vec<MonthSummary>, SourceError> {
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

        let mut out = Vec::new();
        let mut ym = first;
        loop {
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
                let start = clock::day_start(today);
                let facts: Vec<&Facts> = recent
                    .iter()
                    .map(|d| &d.facts)
                    .filter(|f| f.at >= start && f.at <= now)
                    .rev()
                    .collect();
                let today_rows: Vec<EnergyRow> =
                    rows.iter().filter(|r| r.at >= start).cloned().collect();
                if let Some(mut s) = summary::compute_day(today, &facts, &today_rows, "live") {
                    s.created_at = Some(clock::local_rfc3339(now));
                    month_days.push(s);
                }
            }
            skipped.extend(notes.iter().cloned());
            out.push(summary::aggregate(ym.0, ym.1, month_days, notes));
            if ym == (cy, cm) {
                break;
            }
            ym = summary::next_month(ym.0, ym.1);
        }
        Ok(out)
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
        let mut to_compute = Vec::new();
        for &day in &days {
            let snap = snapshots.get(&day);
            let meta = snap.map(|(_, l, m)| (*l, *m));
            let valid = match self.days.get(&day) {
                Some(e) => e.snapshot == meta && (meta.is_some() || e.settled),
                None => false,
            };
            if valid {
                continue;
            }
            if let Some((path, _, _)) = snap {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let parsed = std::fs::read(path)
                    .map_err(|e| format!("{name}: cannot read ({e})"))
                    .and_then(|b| {
                        summary::parse_snapshot(&name, day, &String::from_utf8_lossy(&b))
                    });
                match parsed {
                    Ok(s) => {
                        self.days.insert(
                            day,
                            DayEntry {
                                summary: Some(s),
                                snapshot: meta,
                                note: None,
                                settled: true,
                            },
                        );
                        continue;
                    }
                    Err(e) => {
                        log::warn!("daily snapshot skipped: {e}");
                        to_compute.push((
                            day,
                            meta,
                            Some(format!(
                                "{e}; the day was computed from the database instead"
                            )),
                        ));
                    }
                }
            } else {
                to_compute.push((day, None, None));
            }
        }
        if to_compute.is_empty() {
            return Ok(days);
        }
        let from = clock::day_start(to_compute[0].0);
        let last = to_compute[to_compute.len() - 1].0;
        let to = clock::day_start(last.succ_opt().unwrap_or(last));
        let (decs, rows, db_ok) = self.read_span(from, to, skipped)?;
        let mut facts_by_day: HashMap<NaiveDate, Vec<&Facts>> = HashMap::new();
        for d in &decs {
            facts_by_day
                .entry(clock::local_date(d.facts.at))
                .or_default()
                .push(&d.facts);
        }
        let mut rows_by_day: HashMap<NaiveDate, Vec<EnergyRow>> = HashMap::new();
        for r in rows {
            rows_by_day
                .entry(clock::local_date(r.at))
                .or_default()
                .push(r);
        }
        for (day, meta, note) in to_compute {
            let mut facts = facts_by_day.remove(&day).unwrap_or_default();
            facts.sort_by_key(|f| f.at);
            let day_rows = rows_by_day.remove(&day).unwrap_or_default();
            let summary = summary::compute_day(day, &facts, &day_rows, "database");
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

    /// Decisions (DB and files) and energy rows of `[from, to)`.
    fn read_span(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        skipped: &mut Vec<String>,
    ) -> Result<(Vec<Decision>, Vec<EnergyRow>, bool), SourceError> {
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
            .unwrap_or_default();
        Ok((decisions::merge(db, files), rows, db_ok))
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
) -> Result<(Vec<Decision>, Vec<EnergyRow>), DbError> {
    let d = decisions::query_db(conn, from, to, skipped)?;
    let e = energy::query(conn, from, to, skipped)?;
    Ok((d, e))
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

impl Source for CoordinatorSource {
    fn name(&self) -> &'static str {
        crate::sources::names::METRICS
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn refresh(&mut self, _ctx: &RefreshContext) -> SourceResult {
        let now = clock::now();
        let data = self.refresh_at(now)?;
        Ok(Refreshed::new(data).origin(if self.db.is_open() {
            "database"
        } else {
            "files"
        }))
    }
}
