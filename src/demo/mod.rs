//! The demo: a generator of a realistic, clearly synthetic coordinator root, and the
//! `energy-monitor demo` command that writes one and serves it at once.
//!
//! [`generate`] simulates a battery-backed house minute by minute ([`model`]) up to
//! `now` and writes, relative to the chosen directory:
//! - `data/goodwe_energy.db`: the coordinator's schema ([`crate::schema`]), WAL mode, with
//!   `energy_data` every 5 min, `system_state` every `system_state_step_minutes`, and one
//!   `coordinator_decisions` row every 15 min ([`rows`] has the formats);
//! - `out/energy_data/`: charging-decision files for the last 12 hours and the latest
//!   selling-decision files (copies of DB decisions, as a coordinator that lost its DB for a
//!   while would leave them), `out/daily_snapshots/` for every past day, and one recent
//!   `out/coordinator_state_*.json`;
//! - `logs/master_coordinator.log` (last 36 h) and `logs/fast_charge.log` (last 7 days);
//! - `energy-monitor/price_cache.json` (today's and tomorrow's quarter-hour prices) and
//!   `energy-monitor.yaml`, a config that serves this directory.
//!
//! The directory gets a marker file; a directory that is not empty and has no marker is
//! never touched. The same seed and `now` give the same data. [`write_database`] builds only
//! the DB, for benchmarks. [`live`] keeps the DB growing while the demo is served.

mod command;
mod error;
pub mod files;
pub mod live;
pub mod model;
pub mod rows;
mod summary;

pub use command::{run, Command};
pub use error::DemoError;
pub use summary::{DbCounts, DemoSummary};

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use rusqlite::Connection;

use crate::clock;
use crate::config::Config;
use model::{Minute, Simulator};

/// The file that marks a directory as written by the demo.
pub const MARKER: &str = ".energy-monitor-demo";
/// The DB path under the demo root (the config's default `coordinator.database`).
pub const DATABASE: &str = "data/goodwe_energy.db";
/// energy-monitor's own data dir under the demo root.
pub const DATA_DIR: &str = "energy-monitor";
/// The config file written into the demo root.
pub const CONFIG_FILE: &str = "energy-monitor.yaml";
/// What the generator owns inside the demo root (removed before regenerating).
const OWNED: [&str; 5] = ["data", "out", "logs", DATA_DIR, CONFIG_FILE];

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    /// Length of the simulated history, days (1–3660).
    pub days: u32,
    /// One `system_state` row every this many minutes (1–60); the coordinator writes 1.
    pub system_state_step_minutes: u32,
    pub seed: u64,
    /// The end of the history (the last row is a little before it).
    pub now: DateTime<Utc>,
    /// `web_server.port` in the written config.
    pub port: u16,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            days: 30,
            system_state_step_minutes: 1,
            seed: 2026,
            now: clock::now(),
            port: crate::config::defaults::PORT,
        }
    }
}

/// The simulated period: `n` whole minutes ending a little before `now`.
struct Plan {
    first: DateTime<Utc>,
    minutes: i64,
    step: u32,
}

impl Plan {
    fn new(o: &Options) -> Result<Plan, DemoError> {
        if !(1..=3660).contains(&o.days) {
            return Err(DemoError::Invalid(format!(
                "--days {} is out of range; use 1 to 3660",
                o.days
            )));
        }
        if !(1..=60).contains(&o.system_state_step_minutes) {
            return Err(DemoError::Invalid(format!(
                "system_state step {} min is out of range; use 1 to 60",
                o.system_state_step_minutes
            )));
        }
        // The last reading (a few seconds into its minute) must not lie in the future.
        let end = o.now - Duration::seconds(10);
        let last = end
            - Duration::seconds(end.timestamp().rem_euclid(60))
            - Duration::nanoseconds(end.timestamp_subsec_nanos() as i64);
        let minutes = o.days as i64 * 1440;
        Ok(Plan {
            first: last - Duration::minutes(minutes - 1),
            minutes,
            step: o.system_state_step_minutes,
        })
    }

    fn last(&self) -> DateTime<Utc> {
        self.first + Duration::minutes(self.minutes - 1)
    }
}

/// Is `t` a minute that gets an `energy_data` row?
pub fn is_energy_minute(t: DateTime<Utc>) -> bool {
    t.minute().is_multiple_of(model::ENERGY_MINUTES)
}

/// Is `t` a minute that gets a `system_state` row, for a step in minutes?
pub fn is_state_minute(t: DateTime<Utc>, step: u32) -> bool {
    (t.timestamp() / 60).rem_euclid(step as i64) == 0
}

/// Microseconds of a minute's timestamps: a pure function of the seed and the instant.
pub fn micros(seed: u64, t: DateTime<Utc>) -> u32 {
    (model::Rng::new(seed ^ t.timestamp() as u64).next_u64() % 999_998 + 1) as u32
}

/// Opens a fresh DB at `path` for bulk loading (any old DB there is removed).
fn open_bulk(path: &Path) -> Result<Connection, DemoError> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let p = PathBuf::from(format!("{}{suffix}", path.display()));
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(DemoError::io(&p, e)),
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| DemoError::io(dir, e))?;
    }
    let conn = Connection::open(path).map_err(|e| DemoError::db(path, e))?;
    (|| -> rusqlite::Result<()> {
        crate::schema::create(&conn)?;
        // A fresh file needs no rollback journal; WAL is switched back on at the end.
        conn.pragma_update(None, "journal_mode", "MEMORY")?;
        conn.pragma_update(None, "synchronous", "OFF")?;
        conn.pragma_update(None, "cache_size", -8_192)?;
        Ok(())
    })()
    .map_err(|e| DemoError::db(path, e))?;
    Ok(conn)
}

/// Called for every simulated minute after its rows were inserted.
type Observer<'a> = dyn FnMut(&Minute, &rows::Stamps) -> Result<(), DemoError> + 'a;

/// Simulates the plan into the DB at `path`; returns the counts and where to resume.
fn build_database(
    path: &Path,
    o: &Options,
    plan: &Plan,
    observe: &mut Observer<'_>,
) -> Result<(DbCounts, live::Resume), DemoError> {
    let conn = open_bulk(path)?;
    let mut counts = DbCounts::default();
    // One coordinator restart, 60% into the period.
    let restart = plan.first + Duration::minutes(plan.minutes * 3 / 5);
    let mut sim = Simulator::new(o.seed, Some(restart));
    {
        let tx = conn
            .unchecked_transaction()
            .map_err(|e| DemoError::db(path, e))?;
        {
            let mut w = rows::RowWriter::new(&tx).map_err(|e| DemoError::db(path, e))?;
            for k in 0..plan.minutes {
                let t = plan.first + Duration::minutes(k);
                let m = sim.step(t);
                let st = rows::stamps(&m, micros(o.seed, t));
                let r: rusqlite::Result<()> = (|| {
                    if is_energy_minute(t) {
                        w.energy(&m, &st)?;
                        counts.energy_data += 1;
                    }
                    if is_state_minute(t, plan.step) {
                        w.state(&m, &st)?;
                        counts.system_state += 1;
                    }
                    if let Some(d) = &m.decision {
                        w.decision(d, &st)?;
                        counts.decisions += 1;
                    }
                    Ok(())
                })();
                r.map_err(|e| DemoError::db(path, e))?;
                observe(&m, &st)?;
            }
        }
        tx.commit().map_err(|e| DemoError::db(path, e))?;
    }
    (|| -> rusqlite::Result<()> {
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        Ok(())
    })()
    .map_err(|e| DemoError::db(path, e))?;
    drop(conn);
    let resume = live::Resume::new(sim, plan.last() + Duration::minutes(1), o.seed, plan.step);
    Ok((counts, resume))
}

/// Builds only the coordinator DB at `path` (replacing any file there), for benchmarks.
pub fn write_database(path: &Path, o: &Options) -> Result<DbCounts, DemoError> {
    let plan = Plan::new(o)?;
    build_database(path, o, &plan, &mut |_, _| Ok(())).map(|(c, _)| c)
}

/// Makes `dir` ready: created if missing; if not empty, it must hold the marker, and what
/// the generator owns is removed. Writes the marker.
fn prepare_dir(dir: &Path) -> Result<(), DemoError> {
    if dir.exists() {
        if !dir.is_dir() {
            return Err(DemoError::Invalid(format!(
                "{} exists and is not a directory; choose another --dir",
                dir.display()
            )));
        }
        let mut entries = std::fs::read_dir(dir).map_err(|e| DemoError::io(dir, e))?;
        let empty = entries.next().is_none();
        if !empty && !dir.join(MARKER).is_file() {
            return Err(DemoError::NotDemoDir(dir.to_path_buf()));
        }
        for name in OWNED {
            let p = dir.join(name);
            let r = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else if p.exists() {
                std::fs::remove_file(&p)
            } else {
                Ok(())
            };
            r.map_err(|e| DemoError::io(&p, e))?;
        }
    } else {
        std::fs::create_dir_all(dir).map_err(|e| DemoError::io(dir, e))?;
    }
    files::write_plain(
        &dir.join(MARKER),
        b"Written by `energy-monitor demo`: synthetic demo data from a simulated installation,\n\
          not measurements of a real inverter, battery or market. Running the demo again on\n\
          this directory replaces data/, out/, logs/, energy-monitor/ and energy-monitor.yaml.\n",
    )
}

fn config_text(o: &Options) -> String {
    format!(
        "# energy-monitor configuration for the DEMO, written by `energy-monitor demo`.\n\
         # Everything in this directory is SYNTHETIC demo data from a simulated installation\n\
         # (seed {seed}), not measurements of a real inverter, battery or market.\n\
         # Relative paths are resolved against this file's directory.\n\
         web_server:\n  host: 127.0.0.1\n  port: {port}\n\
         coordinator:\n  root: .\n\
         data_dir: {DATA_DIR}\n\
         prices:\n\
         \x20 # Unused while `demo` is true: the demo's prices are the synthetic ones in\n\
         \x20 # {DATA_DIR}/price_cache.json and nothing is fetched from PSE. This address on\n\
         \x20 # this machine refuses connections, should `demo` be removed.\n\
         \x20 api_url: http://127.0.0.1:9/api/csdac-pln\n\
         # Synthetic data: prices say `demo` as their origin, the coordinator process is\n\
         # simulated by the demo, and the page shows a demo banner.\n\
         demo: true\n\
         log_level: info\n",
        seed = o.seed,
        port = o.port
    )
}

/// Writes a complete demo coordinator root into `dir` (see the module docs).
pub fn generate(dir: &Path, o: &Options) -> Result<DemoSummary, DemoError> {
    let started = Instant::now();
    let plan = Plan::new(o)?;
    prepare_dir(dir)?;
    let dir = std::path::absolute(dir).map_err(|e| DemoError::io(dir, e))?;
    let out = dir.join("out");
    let decisions_dir = out.join("energy_data");
    let snapshots_dir = out.join("daily_snapshots");
    for d in [
        &decisions_dir,
        &snapshots_dir,
        &dir.join("logs"),
        &dir.join(DATA_DIR),
    ] {
        std::fs::create_dir_all(d).map_err(|e| DemoError::io(d, e))?;
    }

    let today = clock::local_date(o.now);
    let last = plan.last();
    let files_from = last - Duration::hours(12);
    let state_at = last - Duration::minutes(7);
    let mut snapshots = files::Snapshots::new(snapshots_dir, o.now);
    let mut logs = files::Logs::new(&dir.join("logs"), o.seed, plan.first, last)?;
    let mut charging_files = 0;
    let mut recent_sells: std::collections::VecDeque<(model::Decision, rows::Stamps)> =
        Default::default();
    let mut state_file = None;
    let database = dir.join(DATABASE);
    let (counts, resume) = build_database(&database, o, &plan, &mut |m, st| {
        if is_energy_minute(m.t) {
            snapshots.energy_row(m, st)?;
        }
        if let Some(d) = &m.decision {
            snapshots.decision(d, st)?;
            if m.t >= files_from {
                files::write_charging_file(&decisions_dir, d, st)?;
                charging_files += 1;
            }
            if d.sell.is_some() {
                if recent_sells.len() == 6 {
                    recent_sells.pop_front();
                }
                recent_sells.push_back((d.clone(), stamps_clone(st)));
            }
        }
        if m.t == state_at || (state_file.is_none() && m.t == last) {
            state_file = Some(files::write_state_file(&out, m, st)?);
        }
        logs.minute(m)
    })?;
    snapshots.flush()?;
    let mut selling_files = 0;
    for (d, st) in &recent_sells {
        if files::write_selling_file(&decisions_dir, d, st)? {
            selling_files += 1;
        }
    }
    let (_, master_log_lines) = logs.master.finish()?;
    let (_, fast_charge_log_lines) = logs.fast.finish()?;

    let dates = [today, today + Duration::days(1)];
    let (cache, quarter_counts) = files::price_cache(o.seed, &dates, o.now);
    let price_cache = dir.join(DATA_DIR).join("price_cache.json");
    let mut bytes = serde_json::to_vec(&cache).unwrap_or_default();
    bytes.push(b'\n');
    files::write_atomic(&price_cache, &bytes)?;

    let config = dir.join(CONFIG_FILE);
    files::write_atomic(&config, config_text(o).as_bytes())?;
    Config::load(&config).map_err(|e| DemoError::Config(e.to_string()))?;

    Ok(DemoSummary {
        dir,
        database,
        config,
        price_cache,
        state_file,
        counts,
        days: o.days,
        first: plan.first,
        last,
        charging_files,
        selling_files,
        snapshots: snapshots.written,
        master_log_lines,
        fast_charge_log_lines,
        price_days: dates.iter().copied().zip(quarter_counts).collect(),
        port: o.port,
        elapsed: started.elapsed(),
        resume,
    })
}

fn stamps_clone(st: &rows::Stamps) -> rows::Stamps {
    rows::Stamps {
        data: st.data.clone(),
        state: st.state.clone(),
        decision: st.decision.clone(),
        decision_local: st.decision_local,
        created_at: st.created_at.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn opts(days: u32, now: DateTime<Utc>) -> Options {
        Options {
            days,
            now,
            ..Options::default()
        }
    }

    #[test]
    fn generates_a_complete_root_with_exact_counts() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("demo");
        let now = Utc.with_ymd_and_hms(2026, 10, 27, 18, 3, 17).unwrap();
        let s = generate(&dir, &opts(3, now)).unwrap();
        assert_eq!(
            s.counts,
            DbCounts {
                energy_data: 3 * 288,
                system_state: 3 * 1440,
                decisions: 3 * 96
            }
        );
        let conn = Connection::open(&s.database).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let n: i64 = conn
            .query_row("SELECT count(*) FROM energy_data", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 864);
        // The range covers the fall-back day 2026-10-25; timestamps stay unique.
        let max: String = conn
            .query_row("SELECT max(timestamp) FROM system_state", [], |r| r.get(0))
            .unwrap();
        assert!(max.starts_with("2026-10-27T19:0"), "{max}");
        let newest: String = conn
            .query_row(
                "SELECT metrics FROM system_state ORDER BY timestamp DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&newest).unwrap();
        assert!(v["current_data"]["battery"]["soc_percent"].is_number());
        // Counters never decrease in time order.
        let mut stmt = conn
            .prepare("SELECT grid_import_total_kwh FROM energy_data ORDER BY created_at, rowid")
            .unwrap();
        let xs: Vec<f64> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(xs.windows(2).all(|w| w[1] >= w[0]));
        let n_params: i64 = conn
            .query_row(
                "SELECT count(*) FROM coordinator_decisions WHERE json_valid(parameters)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n_params, 288);

        assert!(s.snapshots >= 2, "{}", s.snapshots);
        assert!(dir
            .join("out/daily_snapshots/snapshot_20261025.json")
            .is_file());
        assert!(!dir
            .join("out/daily_snapshots/snapshot_20261027.json")
            .exists());
        assert!(s.charging_files >= 48);
        assert!(s.master_log_lines > 2000, "{}", s.master_log_lines);
        assert_eq!(s.price_days.len(), 2);
        assert!(s.state_file.as_ref().unwrap().is_file());
        let log = std::fs::read_to_string(dir.join("logs/master_coordinator.log")).unwrap();
        assert!(log.contains("Traceback (most recent call last):"));
        for level in ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] {
            assert!(log.contains(&format!(" - {level} - ")), "{level}");
        }
        Config::load(&s.config).unwrap();
        assert!(std::fs::read_to_string(&s.config)
            .unwrap()
            .contains("SYNTHETIC"));

        // Same seed and now: same data. The directory is reused thanks to the marker.
        let again = generate(&dir, &opts(3, now)).unwrap();
        assert_eq!(again.counts, s.counts);
        let newest2: String = Connection::open(&again.database)
            .unwrap()
            .query_row(
                "SELECT metrics FROM system_state ORDER BY timestamp DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(newest, newest2);
    }

    #[test]
    fn refuses_foreign_directories() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("precious.txt"), "keep").unwrap();
        let e = generate(tmp.path(), &opts(1, clock::now())).unwrap_err();
        assert!(matches!(e, DemoError::NotDemoDir(_)), "{e}");
        assert!(e.to_string().contains("refusing"));
        assert!(tmp.path().join("precious.txt").is_file());
        let e = generate(
            &tmp.path().join("x"),
            &Options {
                days: 0,
                ..opts(1, clock::now())
            },
        )
        .unwrap_err();
        assert!(e.is_usage());
    }

    #[test]
    fn state_step_thins_system_state() {
        let tmp = tempfile::tempdir().unwrap();
        let o = Options {
            days: 1,
            system_state_step_minutes: 5,
            ..opts(1, clock::now())
        };
        let c = write_database(&tmp.path().join("x.db"), &o).unwrap();
        assert_eq!(c.system_state, 288);
        assert_eq!(c.energy_data, 288);
        assert_eq!(c.decisions, 96);
    }
}
