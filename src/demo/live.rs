//! The demo's live writer: while the demo is served, a thread continues the simulation and
//! appends rows to the demo DB as the coordinator would (a `system_state` row every step,
//! `energy_data` every 5 minutes, a decision every 15 minutes), so the data stays fresh.
//!
//! It writes only into the demo's own DB, in short WAL transactions, and stops when asked
//! (the stop channel doubles as its interruptible sleep).

use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use crossbeam_channel::{bounded, RecvTimeoutError, Sender};
use rusqlite::Connection;

use super::model::Simulator;
use super::{is_energy_minute, is_state_minute, micros, rows};
use crate::clock;

/// How long after a minute starts its reading is written (the readings carry up to 7 s).
const SETTLE: i64 = 10;
/// At most this many minutes are caught up at once (e.g. after a suspend).
const MAX_CATCH_UP: i64 = 24 * 60;

/// Where a simulation stopped: the simulator and the next minute to write.
#[derive(Debug, Clone)]
pub struct Resume {
    sim: Simulator,
    next: DateTime<Utc>,
    seed: u64,
    step: u32,
}

impl Resume {
    pub(crate) fn new(sim: Simulator, next: DateTime<Utc>, seed: u64, step: u32) -> Resume {
        Resume {
            sim,
            next,
            seed,
            step,
        }
    }

    /// The next minute that will be written.
    pub fn next(&self) -> DateTime<Utc> {
        self.next
    }

    /// Writes every minute due by `now` into `conn`, in one transaction; returns how many
    /// minutes were written.
    pub fn write_due(&mut self, conn: &Connection, now: DateTime<Utc>) -> rusqlite::Result<u32> {
        let due_until = now - Duration::seconds(SETTLE);
        if self.next > due_until {
            return Ok(0);
        }
        if due_until - self.next > Duration::minutes(MAX_CATCH_UP) {
            let skip = (due_until - self.next).num_minutes() - MAX_CATCH_UP;
            self.next += Duration::minutes(skip);
        }
        let tx = conn.unchecked_transaction()?;
        let mut written = 0;
        {
            let mut w = rows::RowWriter::new(&tx)?;
            while self.next <= due_until {
                let t = self.next;
                let m = self.sim.step(t);
                let st = rows::stamps(&m, micros(self.seed, t));
                if is_energy_minute(t) {
                    w.energy(&m, &st)?;
                }
                if is_state_minute(t, self.step) {
                    w.state(&m, &st)?;
                }
                if let Some(d) = &m.decision {
                    w.decision(d, &st)?;
                }
                self.next = t + Duration::minutes(1);
                written += 1;
            }
        }
        tx.commit()?;
        Ok(written)
    }
}

/// The running live writer.
pub struct LiveWriter {
    stop: Sender<()>,
    handle: JoinHandle<()>,
}

impl LiveWriter {
    /// Asks the thread to stop and waits for it (it is never inside a long operation).
    pub fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.handle.join();
    }
}

/// Starts the live writer on the DB at `db`.
pub fn spawn(db: PathBuf, mut resume: Resume) -> std::io::Result<LiveWriter> {
    let (stop, stopped) = bounded::<()>(1);
    let handle = std::thread::Builder::new()
        .name("demo-live-writer".into())
        .spawn(move || {
            let conn = match Connection::open(&db) {
                Ok(c) => c,
                Err(e) => {
                    log::warn!(
                        "demo live writer: cannot open {}: {e}; stopping",
                        db.display()
                    );
                    return;
                }
            };
            let _ = conn.busy_timeout(StdDuration::from_secs(5));
            loop {
                let wake = resume.next + Duration::seconds(SETTLE);
                let wait = (wake - clock::now()).to_std().unwrap_or(StdDuration::ZERO);
                match stopped.recv_timeout(wait.max(StdDuration::from_millis(50))) {
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                    Err(RecvTimeoutError::Timeout) => {}
                }
                match resume.write_due(&conn, clock::now()) {
                    Ok(n) if n > 0 => log::debug!("demo live writer: appended {n} minute(s)"),
                    Ok(_) => {}
                    Err(e) => {
                        log::warn!("demo live writer: cannot write to {}: {e}", db.display());
                        // Try again a minute later rather than spinning.
                        resume.next += Duration::minutes(1);
                    }
                }
            }
        })?;
    Ok(LiveWriter { stop, handle })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::Options;

    #[test]
    fn write_due_appends_whole_minutes_and_stops_cleanly() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("x.db");
        let now = clock::now();
        let o = Options {
            days: 1,
            now,
            ..Options::default()
        };
        let plan = crate::demo::Plan::new(&o).unwrap();
        let (counts, mut resume) =
            crate::demo::build_database(&db, &o, &plan, &mut |_, _| Ok(())).unwrap();
        let conn = Connection::open(&db).unwrap();
        assert_eq!(resume.write_due(&conn, now).unwrap(), 0);
        let n = resume
            .write_due(
                &conn,
                resume.next() + Duration::minutes(30) + Duration::seconds(SETTLE),
            )
            .unwrap();
        assert_eq!(n, 31);
        let states: i64 = conn
            .query_row("SELECT count(*) FROM system_state", [], |r| r.get(0))
            .unwrap();
        assert_eq!(states as u64, counts.system_state + 31);
        let decisions: i64 = conn
            .query_row("SELECT count(*) FROM coordinator_decisions", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(decisions as u64 >= counts.decisions + 2);

        let w = spawn(db.clone(), resume).unwrap();
        let started = std::time::Instant::now();
        w.stop();
        assert!(started.elapsed() < StdDuration::from_secs(2));
    }
}
