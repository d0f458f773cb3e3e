//! The `metrics` source: one lane that reads decisions, `energy_data` and daily snapshots,
//! and computes everything behind `/decisions`, `/metrics`, `/monthly-*` and
//! `/historical-data` at refresh time.
//!
//! Each refresh reads, by indexed range queries only: the decisions of the last 30 days
//! (or since the month began, whichever is earlier) and the `energy_data` rows of the same
//! span. Month summaries are rebuilt at most every [`SUMMARY_TTL`] (and at once when the
//! local date changes); within a rebuild, a past day is reused when it was read after the
//! day had ended (with the DB readable) and its snapshot file is unchanged, so only new or
//! still-open days are read again. A past day is computed from its decisions (DB rows and
//! files); its snapshot file stands in only when we hold no decision of that day. Today is
//! recomputed at every refresh, so the month agrees with `/metrics` (`docs/figures.md`). Months are read one at a time so memory stays bounded,
//! and at most [`MONTHS_READ_PER_REFRESH`] of them per refresh: after a start the older
//! months follow in refreshes one second apart (they answer "still being computed" until
//! then), so no single refresh reads a whole year.
//!
//! An unchanged DB is not read again: before reading, the refresh stamps the DB file and
//! its `-wal` file (size, mtime, inode; [`super::db::DbStamp`]). While the stamp stays
//! equal, the held read is cut to the span that moved on in memory, and the last result
//! itself is reused (brought to the current time) until the first instant at which it
//! could differ (`valid_until`: the next 5-minute slot, local midnight, a decision leaving
//! a window, a future row arriving); the decision files are listed each time (their parse
//! cache re-reads only changed files).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use super::db::{Db, DbError};
use super::decisions::{self, Facts, FileCache, StoredDecision};
use super::energy;
use super::figures;
use crate::clock;
use crate::refresh::{RefreshContext, Refreshed, Source, SourceError, SourceId, SourceResult};

mod data;
mod held;
mod months;

pub use data::{cap_notes, CoordinatorData, Metrics, YearMonth, MAX_NOTES, WINDOWS};
use held::{next_unread, valid_until, HeldReads, HeldResult};
pub use months::{list_snapshots, MAX_PAST_MONTHS, MONTHS_READ_PER_REFRESH, SUMMARY_TTL};
use months::{DayEntry, MonthCache};

/// Delay between refreshes while months are still pending.
const CATCH_UP_DELAY: Duration = Duration::from_secs(1);

/// The source. Owns its DB handle and caches.
pub struct CoordinatorSource {
    /// The last result, reused while its inputs and its time bucket hold.
    result: Option<HeldResult>,
    /// The decisions last returned: a new read shares what equals them.
    last_decisions: Arc<[StoredDecision]>,
    /// How many refreshes computed their result (the rest reused the last one); shown in
    /// tests.
    pub computed: u64,
    db: Db,
    /// The last DB read, reused while the DB is unchanged.
    held: Option<HeldReads>,
    /// How many times the DB was read for the recent span (not counting month builds);
    /// shown in tests and the benchmark.
    pub db_reads: u64,
    out_dir: PathBuf,
    interval: Duration,
    recent_files: FileCache,
    summary_files: FileCache,
    days: BTreeMap<NaiveDate, DayEntry>,
    months: Option<MonthCache>,
    /// True while served months are pending; refreshes then run every second.
    catching_up: bool,
}

impl CoordinatorSource {
    pub fn new(database: PathBuf, root: &Path, interval: Duration) -> CoordinatorSource {
        let out_dir = root.join("out");
        CoordinatorSource {
            db: Db::new(database),
            result: None,
            last_decisions: Arc::from([]),
            computed: 0,
            held: None,
            db_reads: 0,
            recent_files: FileCache::new(out_dir.join("energy_data")),
            summary_files: FileCache::new(out_dir.join("energy_data")),
            out_dir,
            interval,
            days: BTreeMap::new(),
            months: None,
            catching_up: false,
        }
    }

    /// Drops the held DB read and result, so the next refresh reads the DB as after a
    /// change (the bench times both).
    pub fn forget_reads(&mut self) {
        self.held = None;
        self.result = None;
    }

    /// Makes the next refresh rebuild the month summaries (as after [`SUMMARY_TTL`]).
    pub fn expire_summaries(&mut self) {
        self.result = None;
        self.months = None;
    }

    /// One full refresh at `now` (the bench calls this directly).
    pub fn refresh_at(&mut self, now: DateTime<Utc>) -> Result<CoordinatorData, SourceError> {
        let mut skipped = Vec::new();
        let today = clock::local_date(now);
        let month_start = clock::day_start(today.with_day(1).unwrap_or(today));
        // Decisions and `energy_data` rows are read for the same span; it holds the last
        // 24 hours the history needs.
        let from = month_start.min(now - chrono::Duration::days(30));
        let to = now + chrono::Duration::seconds(1);

        // Stamped before reading: a commit during the read changes the stamp, so the next
        // refresh reads again.
        let taken = SystemTime::now();
        let stamp = self.db.stamp();
        // Decision files are parsed once per change (`FileCache`); listing them is cheap.
        let mut file_notes = Vec::new();
        let file_decisions = self.recent_files.load(from, to, &mut file_notes);
        if let Some(data) = self.held_result(stamp, from, to, now, &file_decisions, &file_notes) {
            return Ok(data);
        }
        let (db_decisions, rows, db_problem) = match self.held_reads(stamp, from, to) {
            Some((d, e, notes)) => {
                skipped.extend(notes);
                (d, Some(e), None)
            }
            None => {
                self.held = None;
                match self.db.connection() {
                    Ok(conn) => {
                        let mut notes = Vec::new();
                        let read = decisions::query_db(conn, from, to, &mut notes).and_then(|d| {
                            let e = energy::query(conn, from, to, &mut notes)?;
                            let next = next_unread(conn, to)?;
                            Ok((d, e, next))
                        });
                        match read {
                            Ok((mut d, e, complete_until)) => {
                                decisions::share_equal(&mut d, &self.last_decisions);
                                self.db_reads += 1;
                                // A stamp of a file written just now is read again next time.
                                self.held = stamp.settled(taken).then(|| HeldReads {
                                    stamp,
                                    from,
                                    complete_until,
                                    decisions: d.clone(),
                                    rows: e.clone(),
                                    notes: notes.clone(),
                                });
                                skipped.extend(notes);
                                (d, Some(e), None)
                            }
                            Err(e) => {
                                self.db.reset();
                                return Err(SourceError::new(e));
                            }
                        }
                    }
                    Err(e @ DbError::Missing(_)) => (Vec::new(), None, Some(e.to_string())),
                    Err(e) => return Err(SourceError::new(e)),
                }
            }
        };
        skipped.extend(file_notes.iter().cloned());
        let held_files = file_decisions.clone();
        if rows.is_none() && file_decisions.is_none() {
            return Err(SourceError::new(format!(
                "no coordinator data: {}; and no decision files in {}",
                db_problem.unwrap_or_default(),
                self.recent_files.dir().display()
            )));
        }
        let merged = decisions::merge(db_decisions, file_decisions.unwrap_or_default());
        // Equal decisions are the list returned before, so the store keeps one list.
        let all: Arc<[StoredDecision]> = if *self.last_decisions == *merged {
            Arc::clone(&self.last_decisions)
        } else {
            merged.into()
        };
        self.last_decisions = Arc::clone(&all);
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
        let week = db_connected
            .then(|| energy::buckets(&rows, now, energy::WEEK_BUCKET_S, energy::WEEK_BUCKETS));
        let newest_sample = rows.last().map(|r| r.at);

        let MonthCache {
            months,
            built_at: months_built_at,
            pending: pending_months,
            ..
        } = self.months_at(now, stamp, &all, &rows, &mut skipped)?;
        self.catching_up = !pending_months.is_empty();
        for s in &skipped {
            log::debug!("metrics: skipped {s}");
        }
        cap_notes(&mut skipped);
        let data = CoordinatorData {
            refreshed_at: now,
            db_connected,
            db_problem,
            decisions: all,
            window_len,
            metrics,
            months,
            months_built_at,
            pending_months,
            history,
            week,
            skipped,
            newest_sample,
        };
        self.computed += 1;
        self.result = (db_connected && data.pending_months.is_empty()).then(|| HeldResult {
            valid_until: valid_until(&data, &rows, now),
            files: held_files,
            file_notes,
            data: data.clone(),
        });
        Ok(data)
    }
}

impl Source for CoordinatorSource {
    type Data = CoordinatorData;

    fn id(&self) -> SourceId {
        SourceId::Metrics
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn next_delay(&self, succeeded: bool, consecutive_failures: u32) -> Duration {
        if succeeded && self.catching_up {
            CATCH_UP_DELAY
        } else if succeeded {
            self.interval
        } else {
            crate::refresh::backoff(self.interval, consecutive_failures)
        }
    }

    fn refresh(&mut self, _ctx: &RefreshContext) -> SourceResult<CoordinatorData> {
        let now = clock::now();
        let data = self.refresh_at(now)?;
        Ok(Refreshed::new(data).origin(if self.db.is_open() {
            "database"
        } else {
            "files"
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rusqlite::Connection;

    use super::*;
    use crate::sources::coordinator_db::decisions::Category;
    use crate::sources::coordinator_db::summary;
    use crate::sources::coordinator_db::writer::{self, Sample};
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    struct Root {
        dir: tempfile::TempDir,
    }

    impl Root {
        fn new() -> Root {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(dir.path().join("out/energy_data")).unwrap();
            std::fs::create_dir_all(dir.path().join("out/daily_snapshots")).unwrap();
            std::fs::create_dir_all(dir.path().join("data")).unwrap();
            Root { dir }
        }
        fn db_path(&self) -> PathBuf {
            self.dir.path().join("data/goodwe_energy.db")
        }
        fn create_db(&self) -> Connection {
            let c = Connection::open(self.db_path()).unwrap();
            crate::schema::create(&c).unwrap();
            c
        }
        fn source(&self) -> CoordinatorSource {
            CoordinatorSource::new(self.db_path(), self.dir.path(), Duration::from_secs(60))
        }
        fn file(&self, rel: &str, text: &str) {
            std::fs::write(self.dir.path().join(rel), text).unwrap();
        }
    }

    #[test]
    fn figures_windows_and_summaries_match_the_rows_written() {
        let root = Root::new();
        let c = root.create_db();
        let now = at("2026-07-15T10:00:00Z"); // 12:00 in Warsaw
                                              // Today: two charges (02:00 and 03:00 local), one wait.
        writer::charge(&c, at("2026-07-15T00:00:00Z"), 2.0, 0.5, 0.4, "T2").unwrap();
        writer::charge(&c, at("2026-07-15T01:00:00Z"), 3.0, 0.6, 0.3, "T2").unwrap();
        writer::decision(
            &c,
            at("2026-07-15T09:30:00Z"),
            Some("charging"),
            "wait",
            None,
            &json!({"confidence": 0.5}),
        )
        .unwrap();
        // Earlier this month (2026-07-03): one charge; last month: one charge.
        writer::charge(&c, at("2026-07-03T01:00:00Z"), 4.0, 0.5, 1.0, "T1").unwrap();
        writer::charge(&c, at("2026-06-20T01:00:00Z"), 1.0, 0.7, 0.0, "T2").unwrap();
        // A selling decision file with a known outcome, and a broken file.
        root.file(
            "out/energy_data/battery_selling_decision_20260715_110000.json",
            &json!({"timestamp": "2026-07-15T11:00:00", "expected_revenue_pln": 2.0,
                    "energy_sold_kwh": 2.5, "execution_success": true})
            .to_string(),
        );
        root.file(
            "out/energy_data/charging_decision_20260715_113000.json",
            "{\"timestamp\": ",
        );
        // Energy samples for today: counters and prices.
        for i in 0..24 {
            let t = at("2026-07-15T00:00:00Z") + chrono::Duration::minutes(5 * i);
            writer::energy(
                &c,
                t,
                &Sample {
                    soc: Some(40.0 + i as f64),
                    pv_w: Some(0),
                    price_pln: Some(if i < 3 { 0.5 } else { 0.9 }),
                    import_total_kwh: Some(100.0 + i as f64 * 0.5),
                    tariff_zone: Some("T2"),
                    ..Default::default()
                },
            )
            .unwrap();
        }
        let d = root.source().refresh_at(now).unwrap();
        assert!(d.db_connected);
        // Windows: 1h holds the wait and the sale; 24h all five of today.
        assert_eq!(d.window(0).len(), 2);
        assert_eq!(d.window(1).len(), 4);
        assert_eq!(d.window(3).len(), 6);
        assert!(
            d.skipped
                .iter()
                .any(|s| s.contains("charging_decision_20260715_113000.json")),
            "{:?}",
            d.skipped
        );
        let m = &d.metrics.month_to_date;
        assert_eq!(m.decisions.charging, 3);
        assert_eq!(m.decisions.selling, 1);
        assert_eq!(m.energy_charged_kwh, Some(9.0));
        assert_eq!(m.charging_cost_pln, Some(2.0 * 0.5 + 3.0 * 0.6 + 4.0 * 0.5));
        assert_eq!(m.savings_vs_daily_average_pln, Some(1.7));
        assert_eq!(m.selling_revenue_pln, Some(2.0));
        // 00:00Z falls in a priced quarter (0.5, one of the cheapest); 01:00Z is priced 0.9.
        assert_eq!(m.cheapest_quarter_share_percent, Some(40.0));
        let l = &d.metrics.last_24h;
        assert_eq!(l.decisions.total, 4);
        // Months: June and July served; July has the 3rd (database) and today (live).
        assert_eq!(d.months.len(), 2);
        let july = &d.months[1];
        assert_eq!((july.year, july.month), (2026, 7));
        assert_eq!(july.day_sources.database, 1);
        assert_eq!(july.day_sources.live, 1);
        assert_eq!(july.charging_count, 3);
        assert_eq!(july.sums.total_energy_kwh, Some(9.0));
        let today = july.daily_summaries.last().unwrap();
        assert_eq!(today.source, "live");
        assert_eq!(today.real_grid_import_kwh, Some(11.5));
        assert_eq!(today.sums.selling_revenue_pln, Some(2.0));
        assert_eq!(d.months[0].charging_count, 1);
        // History: the 24 samples are in the last 24 h, the rest are gaps.
        let h = d.history.as_ref().unwrap();
        assert_eq!(h.slots.iter().filter(|s| s.is_some()).count(), 24);
    }

    #[test]
    fn snapshot_files_are_used_and_corrupt_ones_skipped() {
        let root = Root::new();
        let c = root.create_db();
        let now = at("2026-07-15T10:00:00Z");
        // 2 July: no decision in the DB (pruned), only the coordinator's snapshot file.
        writer::charge(&c, at("2026-07-03T01:00:00Z"), 1.0, 0.5, 0.0, "T1").unwrap();
        // 4 July: DB rows and a snapshot that disagrees; the rows decide (the snapshot
        // file is written from rows, without file-only decisions).
        writer::charge(&c, at("2026-07-04T01:00:00Z"), 2.0, 0.5, 0.0, "T1").unwrap();
        root.file(
            "out/daily_snapshots/snapshot_20260704.json",
            &json!({"date": "2026-07-04", "total_decisions": 9, "charging_count": 9, "wait_count": 0,
                    "total_energy_kwh": 90.0, "total_cost_pln": 9.0, "total_savings_pln": 0.9}).to_string(),
        );
        root.file(
            "out/daily_snapshots/snapshot_20260702.json",
            &json!({"date": "2026-07-02", "total_decisions": 7, "charging_count": 7, "wait_count": 0,
                    "total_energy_kwh": 70.0, "total_cost_pln": 7.0, "total_savings_pln": 0.7}).to_string(),
        );
        // 5 July: no DB rows and a snapshot that does not parse: skipped and reported.
        root.file(
            "out/daily_snapshots/snapshot_20260705.json",
            &json!({"date": "2026-07-05", "total_decisions": "many", "charging_count": 1, "wait_count": 0,
                    "total_energy_kwh": 1.0, "total_cost_pln": 0.5, "total_savings_pln": 0.0}).to_string(),
        );
        let mut src = root.source();
        let d = src.refresh_at(now).unwrap();
        let july = d.months.last().unwrap();
        assert_eq!(july.day_sources.snapshot_file, 1);
        assert_eq!(july.day_sources.database, 2);
        assert_eq!(
            july.sums.total_energy_kwh,
            Some(73.0),
            "70 from the snapshot, 1 + 2 from the DB"
        );
        assert_eq!(july.skipped.len(), 1);
        assert!(july.skipped[0].contains("snapshot_20260705.json"));
        // Nothing was written into the coordinator's out/.
        let files = std::fs::read_dir(root.dir.path().join("out/daily_snapshots"))
            .unwrap()
            .count();
        assert_eq!(files, 3);
        // A later rebuild reuses settled days and stays equal.
        src.months = None;
        let again = src.refresh_at(now).unwrap();
        assert_eq!(
            again.months.last().unwrap().sums.total_energy_kwh,
            Some(73.0)
        );
    }

    #[test]
    fn month_boundary_and_dst_days_in_warsaw() {
        let root = Root::new();
        let c = root.create_db();
        // 2026-10-31T23:30 local (22:30Z, CET) is October; 2026-11-01T00:30 local is November.
        writer::charge(&c, at("2026-10-31T22:30:00Z"), 1.0, 0.5, 0.0, "T2").unwrap();
        writer::charge(&c, at("2026-10-31T23:30:00Z"), 2.0, 0.5, 0.0, "T2").unwrap();
        // 2026-10-25 has 25 hours: 02:30 local twice (00:30Z and 01:30Z), both on the 25th.
        writer::charge(&c, at("2026-10-25T00:30:00Z"), 1.0, 0.5, 0.0, "T2").unwrap();
        writer::charge(&c, at("2026-10-25T01:30:00Z"), 1.0, 0.5, 0.0, "T2").unwrap();
        writer::charge(&c, at("2026-10-24T22:00:00Z"), 1.0, 0.5, 0.0, "T2").unwrap(); // 00:00 on the 25th
        writer::charge(&c, at("2026-10-24T21:59:00Z"), 5.0, 0.5, 0.0, "T2").unwrap(); // 23:59 on the 24th

        // 2026-03-29 has 23 hours.
        writer::charge(&c, at("2026-03-28T23:00:00Z"), 1.0, 0.5, 0.0, "T2").unwrap(); // 00:00 on the 29th
        writer::charge(&c, at("2026-03-29T21:59:00Z"), 1.0, 0.5, 0.0, "T2").unwrap(); // 23:59 on the 29th
        writer::charge(&c, at("2026-03-29T22:00:00Z"), 3.0, 0.5, 0.0, "T2").unwrap(); // 00:00 on the 30th
        let mut src = root.source();
        let now = at("2026-11-10T12:00:00Z");
        let mut d = src.refresh_at(now).unwrap();
        while !d.pending_months.is_empty() {
            d = src.refresh_at(now).unwrap();
        }
        let month = |y, m| {
            d.months
                .iter()
                .find(|x| (x.year, x.month) == (y, m))
                .unwrap()
        };
        let day = |y, m, dd: &str| {
            month(y, m)
                .daily_summaries
                .iter()
                .find(|s| s.date == dd)
                .cloned()
                .unwrap()
        };
        assert_eq!(day(2026, 10, "2026-10-31").charging_count, 1);
        assert_eq!(day(2026, 11, "2026-11-01").charging_count, 1);
        assert_eq!(day(2026, 11, "2026-11-01").sums.total_energy_kwh, Some(2.0));
        assert_eq!(day(2026, 10, "2026-10-25").charging_count, 3);
        assert_eq!(day(2026, 10, "2026-10-24").sums.total_energy_kwh, Some(5.0));
        assert_eq!(day(2026, 3, "2026-03-29").charging_count, 2);
        assert_eq!(day(2026, 3, "2026-03-30").sums.total_energy_kwh, Some(3.0));
        assert_eq!(month(2026, 11).charging_count, 1);
        // The recent list spans the last 30 days: the six October charges above.
        assert_eq!(
            d.decisions
                .iter()
                .filter(|x| x.facts.category == Category::Charging)
                .count(),
            6
        );
    }

    #[test]
    fn a_long_history_is_built_a_few_months_per_refresh() {
        let root = Root::new();
        let c = root.create_db();
        // One charge on the 10th of each of the last 10 months.
        let now = at("2026-07-15T10:00:00Z");
        for back in 0..10 {
            let (mut y, mut m) = (2026, 7);
            for _ in 0..back {
                (y, m) = summary::prev_month(y, m);
            }
            let t = at(&format!("{y}-{m:02}-10T10:00:00Z"));
            writer::charge(&c, t, 1.0, 0.5, 0.0, "T2").unwrap();
        }
        let mut src = root.source();
        let d = src.refresh_at(now).unwrap();
        assert_eq!(d.months.len(), MONTHS_READ_PER_REFRESH);
        assert_eq!(d.pending_months.len(), 10 - MONTHS_READ_PER_REFRESH);
        assert_eq!(src.next_delay(true, 0), CATCH_UP_DELAY);
        let mut rounds = 1;
        let mut d = d;
        while !d.pending_months.is_empty() {
            d = src.refresh_at(now).unwrap();
            rounds += 1;
        }
        assert_eq!(rounds, 3);
        assert_eq!(d.months.len(), 10);
        assert!(d.months.iter().all(|m| m.charging_count == 1));
        assert_eq!(src.next_delay(true, 0), Duration::from_secs(60));
        // Cached now: the next refresh reuses everything.
        let again = src.refresh_at(now).unwrap();
        assert!(Arc::ptr_eq(&again.months, &d.months));
    }

    #[test]
    fn missing_then_appears_then_replaced() {
        let root = Root::new();
        let now = at("2026-07-15T10:00:00Z");
        let mut src = root.source();
        std::fs::remove_dir_all(root.dir.path().join("out")).unwrap();
        let e = src.refresh_at(now).unwrap_err();
        assert!(e.0.contains("does not exist"), "{e}");
        let c = root.create_db();
        writer::charge(&c, at("2026-07-15T08:00:00Z"), 1.0, 0.5, 0.0, "T2").unwrap();
        drop(c);
        let d = src.refresh_at(now).unwrap();
        assert_eq!(d.window(1).len(), 1);
        // Replace the file: a new DB with two decisions renamed over the old one.
        let tmp = root.dir.path().join("data/new.db");
        let c = Connection::open(&tmp).unwrap();
        crate::schema::create(&c).unwrap();
        writer::charge(&c, at("2026-07-15T08:00:00Z"), 1.0, 0.5, 0.0, "T2").unwrap();
        writer::charge(&c, at("2026-07-15T08:15:00Z"), 1.0, 0.5, 0.0, "T2").unwrap();
        c.pragma_update(None, "journal_mode", "DELETE").unwrap();
        drop(c);
        std::fs::rename(&tmp, root.db_path()).unwrap();
        let d = src.refresh_at(now).unwrap();
        assert_eq!(d.window(1).len(), 2);
        std::fs::remove_file(root.db_path()).unwrap();
        assert!(src.refresh_at(now).is_err());
    }

    #[test]
    fn a_writer_in_wal_mode_never_causes_errors_or_torn_reads() {
        let root = Root::new();
        let c = root.create_db();
        drop(c);
        let path = root.db_path();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop_w = std::sync::Arc::clone(&stop);
        let now = clock::now();
        let writer_thread = std::thread::spawn(move || {
            let mut c = Connection::open(&path).unwrap();
            c.busy_timeout(Duration::from_secs(5)).unwrap();
            let mut batches = 0u64;
            while !stop_w.load(std::sync::atomic::Ordering::Relaxed) && batches < 400 {
                let tx = c.transaction().unwrap();
                // Four decisions per transaction: a reader must see a multiple of four.
                for k in 0..4 {
                    let t = now - chrono::Duration::seconds((batches * 4 + k) as i64 + 1);
                    writer::charge(&tx, t, 1.0, 0.5, 0.1, "T2").unwrap();
                }
                tx.commit().unwrap();
                batches += 1;
            }
            batches
        });
        let mut src = root.source();
        let mut last = 0;
        for _ in 0..60 {
            let d = src.refresh_at(now).unwrap();
            let n = d.window(1).len();
            assert_eq!(n % 4, 0, "torn read: {n} decisions");
            assert!(n >= last, "went backwards: {n} < {last}");
            last = n;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let batches = writer_thread.join().unwrap();
        let d = src.refresh_at(now).unwrap();
        assert_eq!(d.window(1).len() as u64, batches * 4);
    }

    /// Sets the mtime of the DB and its `-wal` file `secs` seconds into the past, so their
    /// stamps are settled (as for a DB nobody wrote to for a while).
    fn age_db(root: &Root, secs: u64) {
        let past = SystemTime::now() - Duration::from_secs(secs);
        for suffix in ["", "-wal"] {
            let mut p = root.db_path().into_os_string();
            p.push(suffix);
            if let Ok(f) = std::fs::File::options().write(true).open(&p) {
                f.set_modified(past).unwrap();
            }
        }
    }

    /// Everything a renderer compares, except the live day's `created_at`, which the held
    /// months keep from when they were built.
    fn agree(a: &CoordinatorData, b: &CoordinatorData) {
        assert_eq!(a.decisions, b.decisions);
        assert_eq!(a.window_len, b.window_len);
        assert_eq!(a.metrics, b.metrics);
        assert_eq!(a.history, b.history);
        assert_eq!(a.week, b.week);
        assert_eq!(a.skipped, b.skipped);
        assert_eq!(a.newest_sample, b.newest_sample);
        assert_eq!(a.pending_months, b.pending_months);
        assert_eq!(a.months.len(), b.months.len());
        for (x, y) in a.months.iter().zip(b.months.iter()) {
            assert_eq!(x.sums, y.sums);
            assert_eq!(x.charging_count, y.charging_count);
            assert_eq!(x.daily_summaries.len(), y.daily_summaries.len());
        }
    }

    fn sample(c: &Connection, t: DateTime<Utc>, soc: f64) {
        let s = Sample {
            soc: Some(soc),
            price_pln: Some(0.5),
            import_total_kwh: Some(100.0),
            tariff_zone: Some("T2"),
            ..Default::default()
        };
        writer::energy(c, t, &s).unwrap();
    }

    /// A DB with one charge and one sample before 2026-07-15T10:00Z, written a minute ago.
    fn one_charge_settled(root: &Root) -> Connection {
        let c = root.create_db();
        writer::charge(&c, at("2026-07-15T08:00:00Z"), 1.0, 0.5, 0.0, "T2").unwrap();
        sample(&c, at("2026-07-15T09:00:00Z"), 50.0);
        age_db(root, 60);
        c
    }

    #[test]
    fn an_unchanged_db_is_not_queried_and_every_change_is_seen() {
        let root = Root::new();
        let c = one_charge_settled(&root);
        let now = at("2026-07-15T10:00:00Z");
        let mut src = root.source();
        let first = src.refresh_at(now).unwrap();
        assert_eq!(src.db_reads, 1);
        // Unchanged: no query, and what a full read gives.
        let t = now + chrono::Duration::seconds(60);
        let d = src.refresh_at(t).unwrap();
        assert_eq!(src.db_reads, 1, "an unchanged DB was queried");
        assert_eq!(src.computed, 1, "nothing changed, yet it was computed");
        agree(&d, &root.source().refresh_at(t).unwrap());
        assert_eq!(d.decisions, first.decisions);

        // A commit that changes only the -wal file (the writer's connection stays open,
        // so nothing is checkpointed into the main file).
        let main_before = super::super::db::file_stamp(&root.db_path());
        writer::charge(&c, at("2026-07-15T08:30:00Z"), 1.0, 0.5, 0.0, "T2").unwrap();
        assert_eq!(
            super::super::db::file_stamp(&root.db_path()),
            main_before,
            "the commit went to the WAL only"
        );
        let t = t + chrono::Duration::seconds(60);
        let d = src.refresh_at(t).unwrap();
        assert_eq!(src.db_reads, 2);
        assert_eq!(d.window(1).len(), 2, "the new decision is seen");
        agree(&d, &root.source().refresh_at(t).unwrap());
    }

    #[test]
    fn a_read_that_brings_back_equal_decisions_holds_no_second_copy() {
        let root = Root::new();
        let c = one_charge_settled(&root);
        let now = at("2026-07-15T10:00:00Z");
        let mut src = root.source();
        let first = src.refresh_at(now).unwrap();
        // A new sample changes the DB, not the decisions: the list returned is the same one.
        sample(&c, at("2026-07-15T09:05:00Z"), 51.0);
        age_db(&root, 60);
        let t = now + chrono::Duration::seconds(60);
        let second = src.refresh_at(t).unwrap();
        assert_eq!(src.db_reads, 2, "the changed DB was read");
        assert!(Arc::ptr_eq(&first.decisions, &second.decisions));
        // A new decision makes a new list; the decision read before keeps its text.
        writer::charge(&c, at("2026-07-15T09:30:00Z"), 1.0, 0.5, 0.0, "T2").unwrap();
        age_db(&root, 60);
        let third = src.refresh_at(t + chrono::Duration::seconds(60)).unwrap();
        assert_eq!(third.decisions.len(), 2);
        assert!(Arc::ptr_eq(
            &third.decisions[1].json,
            &first.decisions[0].json
        ));
        assert_eq!(third.decisions[1], first.decisions[0]);
    }

    #[test]
    fn an_update_in_place_of_equal_size_is_seen() {
        // A rollback journal and an in-place update: same size, new mtime.
        let root = Root::new();
        let c = root.create_db();
        c.pragma_update(None, "journal_mode", "DELETE").unwrap();
        let now = at("2026-07-15T10:00:00Z");
        sample(&c, at("2026-07-15T09:00:00Z"), 50.0);
        age_db(&root, 60);
        let mut src = root.source();
        src.refresh_at(now).unwrap();
        src.refresh_at(now).unwrap();
        assert_eq!(src.db_reads, 1, "settled: no query");
        let size = std::fs::metadata(root.db_path()).unwrap().len();
        c.execute("UPDATE energy_data SET battery_soc = 77.0", [])
            .unwrap();
        assert_eq!(std::fs::metadata(root.db_path()).unwrap().len(), size);
        let d = src.refresh_at(now).unwrap();
        assert_eq!(src.db_reads, 2);
        let h = d.history.as_ref().unwrap();
        assert_eq!(h.slots.iter().flatten().count(), 1);
        assert!(h.slots.iter().flatten().all(|r| r.soc == Some(77.0)));
        agree(&d, &root.source().refresh_at(now).unwrap());
    }

    #[test]
    fn time_passing_recomputes_without_a_query() {
        let root = Root::new();
        let c = root.create_db();
        // 23:50 local on 15 July; a decision 59 minutes before, samples every 5 minutes.
        let now = at("2026-07-15T21:50:00Z");
        writer::charge(&c, now - chrono::Duration::minutes(59), 1.0, 0.5, 0.0, "T2").unwrap();
        for i in 0..30 {
            sample(&c, now - chrono::Duration::minutes(5 * i), 40.0 + i as f64);
        }
        drop(c);
        age_db(&root, 60);
        let mut src = root.source();
        let d = src.refresh_at(now).unwrap();
        assert_eq!(d.window(0).len(), 1);
        assert_eq!(src.computed, 1);
        // Thirty seconds on: nothing crossed, the result is reused, brought to the time.
        let t = now + chrono::Duration::seconds(30);
        let d = src.refresh_at(t).unwrap();
        assert_eq!(src.computed, 1, "nothing crossed, yet it was computed");
        agree(&d, &root.source().refresh_at(t).unwrap());
        assert_eq!(d.refreshed_at, t);
        // Two minutes on: the decision left the 1-hour window, no new 5-minute slot.
        let t = now + chrono::Duration::minutes(2);
        let d = src.refresh_at(t).unwrap();
        assert_eq!(src.computed, 2);
        assert_eq!(d.window(0).len(), 0);
        agree(&d, &root.source().refresh_at(t).unwrap());
        // The next 5-minute slot: the history moves on.
        let t = now + chrono::Duration::minutes(4);
        src.refresh_at(t).unwrap();
        assert_eq!(src.computed, 2);
        let t = now + chrono::Duration::minutes(5);
        let d = src.refresh_at(t).unwrap();
        assert_eq!(src.computed, 3);
        assert_eq!(
            d.history.as_ref().unwrap().start,
            energy::slot_start(t) - chrono::Duration::seconds(energy::STEP_S * 287)
        );
        agree(&d, &root.source().refresh_at(t).unwrap());
        // Past midnight in Warsaw: a new day and its month figures.
        let t = now + chrono::Duration::minutes(15);
        let d = src.refresh_at(t).unwrap();
        agree(&d, &root.source().refresh_at(t).unwrap());
        assert_eq!(d.metrics.month_to_date.decisions.charging, 1);
        assert_eq!(src.db_reads, 1, "time alone never queries the recent span");
    }

    #[test]
    fn a_row_written_ahead_of_now_is_read_when_its_time_comes() {
        let root = Root::new();
        let c = root.create_db();
        let now = at("2026-07-15T10:00:00Z");
        writer::charge(&c, now + chrono::Duration::minutes(30), 1.0, 0.5, 0.0, "T2").unwrap();
        drop(c);
        age_db(&root, 60);
        let mut src = root.source();
        let d = src.refresh_at(now).unwrap();
        assert_eq!(d.window(1).len(), 0);
        let t = now + chrono::Duration::minutes(31);
        let d = src.refresh_at(t).unwrap();
        assert_eq!(d.window(1).len(), 1);
        agree(&d, &root.source().refresh_at(t).unwrap());
    }

    #[test]
    fn decisions_older_than_30_days_but_of_this_month_do_not_end_the_reuse() {
        let root = Root::new();
        let c = root.create_db();
        // On the 31st, the month began more than 30 days ago.
        let now = at("2026-07-31T10:00:00Z");
        writer::charge(&c, at("2026-07-01T05:00:00Z"), 1.0, 0.5, 0.0, "T2").unwrap();
        drop(c);
        age_db(&root, 60);
        let mut src = root.source();
        let d = src.refresh_at(now).unwrap();
        assert_eq!(d.metrics.month_to_date.decisions.charging, 1);
        let t = now + chrono::Duration::seconds(60);
        let d = src.refresh_at(t).unwrap();
        assert_eq!(src.computed, 1);
        agree(&d, &root.source().refresh_at(t).unwrap());
    }
}
