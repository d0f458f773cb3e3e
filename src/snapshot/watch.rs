//! The change notice of the snapshot: a stream waits here, without polling, until a body it
//! watches is replaced by a different one, the wait times out (its heartbeat) or the
//! notice is closed (shutdown).
//!
//! Only the refresh thread stores snapshots; each store compares the watched keys of the
//! old and new snapshot by pointer (a rebuilt body with the same bytes keeps its shared
//! copy, so an equal pointer is an unchanged body) and wakes the waiters only when one
//! differs. A snapshot whose watched bodies are unchanged wakes nobody.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::Snapshot;

#[derive(Default)]
struct State {
    /// Bumped each time a watched body changes.
    seq: u64,
    closed: bool,
    watched: Vec<String>,
}

/// See the module documentation.
#[derive(Default)]
pub struct Changes {
    state: Mutex<State>,
    wake: Condvar,
}

/// What a wait ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// A watched body changed; the new sequence number.
    Changed(u64),
    /// Nothing changed within the time given.
    TimedOut,
    /// The notice was closed: the server is stopping.
    Closed,
}

impl Changes {
    /// Watches the body stored under `key` (e.g. `/api/dashboard`).
    pub fn watch(&self, key: &str) {
        let mut st = self.state.lock();
        if !st.watched.iter().any(|k| k == key) {
            st.watched.push(key.to_string());
        }
    }

    /// The current sequence number (take it before loading the snapshot it goes with).
    pub fn seq(&self) -> u64 {
        self.state.lock().seq
    }

    /// Wakes every waiter for good: streams end.
    pub fn close(&self) {
        self.state.lock().closed = true;
        self.wake.notify_all();
    }

    /// Waits until the sequence number moves past `seen`, at most `timeout`.
    pub fn wait(&self, seen: u64, timeout: Duration) -> Wait {
        let until = Instant::now() + timeout;
        let mut st = self.state.lock();
        loop {
            if st.closed {
                return Wait::Closed;
            }
            if st.seq != seen {
                return Wait::Changed(st.seq);
            }
            if self.wake.wait_until(&mut st, until).timed_out() {
                return if st.closed {
                    Wait::Closed
                } else if st.seq != seen {
                    Wait::Changed(st.seq)
                } else {
                    Wait::TimedOut
                };
            }
        }
    }

    /// Called by the cell on every store: wakes the waiters when a watched body changed.
    pub(super) fn compare(&self, old: &Snapshot, new: &Snapshot) {
        let mut st = self.state.lock();
        let changed = st.watched.iter().any(|k| match (old.get(k), new.get(k)) {
            (Some(a), Some(b)) => !Arc::ptr_eq(a, b),
            (None, None) => false,
            _ => true,
        });
        if changed {
            st.seq += 1;
            drop(st);
            self.wake.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{Body, SnapshotCell, JSON};

    fn snap(body: &Arc<Body>) -> Snapshot {
        let mut s = Snapshot::default();
        s.bodies.insert("/w".into(), Arc::clone(body));
        s
    }

    #[test]
    fn only_a_changed_watched_body_wakes_a_waiter() {
        let cell = Arc::new(SnapshotCell::default());
        cell.changes().watch("/w");
        let a = Arc::new(Body::new(200, JSON, b"1".to_vec()));
        cell.store(snap(&a));
        let seen = cell.changes().seq();
        // The same body again, and an unwatched change: no wake-up.
        cell.store(snap(&a));
        assert_eq!(
            cell.changes().wait(seen, Duration::from_millis(20)),
            Wait::TimedOut
        );
        let waiter = {
            let cell = Arc::clone(&cell);
            std::thread::spawn(move || cell.changes().wait(seen, Duration::from_secs(30)))
        };
        std::thread::sleep(Duration::from_millis(20));
        cell.store(snap(&Arc::new(Body::new(200, JSON, b"2".to_vec()))));
        assert_eq!(waiter.join().unwrap(), Wait::Changed(seen + 1));
        let waiter = {
            let cell = Arc::clone(&cell);
            std::thread::spawn(move || cell.changes().wait(seen + 1, Duration::from_secs(30)))
        };
        std::thread::sleep(Duration::from_millis(20));
        cell.changes().close();
        assert_eq!(waiter.join().unwrap(), Wait::Closed);
    }
}
