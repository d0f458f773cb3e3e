//! The acceptor thread and the registry of open connections.
//!
//! The acceptor sets TCP_NODELAY on each new socket and hands it to a thread (one whose
//! connection ended and that waits for the next, else a new one), while fewer than
//! `web_server.max_connections` are open; so there are never more connection threads than
//! the most connections open at once. At the cap it first closes the oldest idle
//! connection (one waiting for its next request, as nginx reuses idle keep-alive
//! connections); when none is idle it answers a prebuilt `503` with `Retry-After: 1` and
//! closes. Failures to accept (`EMFILE`, `ENFILE`, `ENOBUFS`…) or to start a thread never
//! stop it: out of descriptors it closes an idle connection as at the cap, else answers
//! what it can (a spare descriptor is kept for exactly this) and backs off 100 ms; it logs
//! once a minute and goes on.
//!
//! The registry keeps a clone of every open connection's socket and its state, so that
//! stopping (and eviction at the cap) can shut down the reading side of idle connections:
//! their threads, blocked in `read` with the keep-alive timeout, wake at once. Nothing polls.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Condvar, Mutex};

use super::conn::{BUSY, CLOSING, IDLE, READING};
use super::Shared;

/// How long the acceptor backs off after an accept or spawn failure.
const BACK_OFF: Duration = Duration::from_millis(100);
/// How long the acceptor waits for an evicted idle connection's thread to end.
const EVICT_WAIT: Duration = Duration::from_millis(100);
/// Stack size of a connection thread. Handlers build small JSON answers at most, but an
/// event stream or an answer-time body may run a gzip compressor, whose state an
/// unoptimized build assembles on the stack before moving it to the heap. Only the pages
/// a thread touches are resident.
const STACK: usize = 1024 * 1024;
/// How long a connection thread whose connection ended waits to be handed the next one
/// (which saves starting a thread per connection for clients that do not keep them alive).
const THREAD_REUSE: Duration = Duration::from_secs(10);

struct Entry {
    stream: TcpStream,
    state: Arc<AtomicU8>,
}

/// Every open connection, in the order accepted.
#[derive(Default)]
pub struct Registry {
    inner: Mutex<Inner>,
    changed: Condvar,
}

#[derive(Default)]
struct Inner {
    open: BTreeMap<u64, Entry>,
    next_id: u64,
}

impl Registry {
    pub fn len(&self) -> usize {
        self.inner.lock().open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn add(&self, stream: TcpStream, state: Arc<AtomicU8>) -> u64 {
        let mut inner = self.inner.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        inner.open.insert(id, Entry { stream, state });
        id
    }

    /// Forgets a connection (its thread is ending) and wakes whoever waits for room.
    pub fn remove(&self, id: u64) {
        self.inner.lock().open.remove(&id);
        self.changed.notify_all();
    }

    /// Closes the oldest idle connection; false when none is idle.
    fn evict_one(&self) -> bool {
        let inner = self.inner.lock();
        inner.open.values().any(|e| close_if(e, IDLE))
    }

    /// Closes every idle connection, and every one still waiting for the rest of a head
    /// (at stop).
    pub fn close_idle(&self) {
        let inner = self.inner.lock();
        for e in inner.open.values() {
            if !close_if(e, IDLE) {
                close_if(e, READING);
            }
        }
    }

    /// Waits until fewer than `cap` connections are open, up to `limit`.
    fn wait_below(&self, cap: usize, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        let mut inner = self.inner.lock();
        while inner.open.len() >= cap {
            if self.changed.wait_until(&mut inner, until).timed_out() {
                return inner.open.len() < cap;
            }
        }
        true
    }

    /// Waits until every connection is closed, up to `until`.
    pub fn wait_empty(&self, until: Instant) -> bool {
        let mut inner = self.inner.lock();
        while !inner.open.is_empty() {
            if self.changed.wait_until(&mut inner, until).timed_out() {
                return inner.open.is_empty();
            }
        }
        true
    }
}

/// Shuts down the reading side of `e` if it is in `state`; its thread wakes and ends.
fn close_if(e: &Entry, state: u8) -> bool {
    let hit = e
        .state
        .compare_exchange(state, CLOSING, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok();
    if hit {
        let _ = e.stream.shutdown(Shutdown::Read);
    }
    hit
}

/// Removes its connection from the registry when the connection's thread ends, also by a
/// panic.
pub struct Registered<'a> {
    pub registry: &'a Registry,
    pub id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.registry.remove(self.id);
    }
}

/// The answer to a connection we cannot serve now.
fn busy_response() -> Vec<u8> {
    let body = crate::snapshot::Body::error(
        503,
        "too many open connections; retry in a second",
        serde_json::json!({"key": "web_server.max_connections"}),
    )
    .with_header("Retry-After", "1");
    super::respond::encode(&body, false, false, false)
}

/// Answers `stream` with the 503 and closes it. What the client already sent is read
/// (without waiting) first, so that closing does not reset the connection under the answer.
pub fn refuse(stream: &TcpStream, response: &[u8]) {
    let _ = stream.set_nonblocking(true);
    let mut sink = [0u8; 4096];
    let mut r = stream;
    for _ in 0..4 {
        match r.read(&mut sink) {
            Ok(n) if n > 0 => continue,
            _ => break,
        }
    }
    let mut w = stream;
    let _ = w.write_all(response);
    let _ = stream.shutdown(Shutdown::Write);
}

/// EMFILE (this process) or ENFILE (the whole system).
pub fn out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23 | 24))
}

/// Logs at most once a minute.
#[derive(Default)]
pub struct Throttle(Option<Instant>);

impl Throttle {
    pub fn warn(&mut self, message: &str) {
        if self
            .0
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
        {
            self.0 = Some(Instant::now());
            log::warn!("{message} (logged at most once a minute)");
        }
    }
}

/// The acceptor loop; returns when stopping.
pub fn run(listener: TcpListener, shared: &Arc<Shared>) {
    let busy = busy_response();
    let jobs = crossbeam_channel::bounded::<Job>(0);
    let mut spare = File::open("/dev/null").ok();
    let mut throttle = Throttle::default();
    loop {
        let accepted = listener.accept();
        if shared.stopping() {
            // Take what the kernel has queued (those clients may have sent their requests
            // before the stop), then leave; the listener closes when dropped.
            if let Ok((s, _)) = accepted {
                admit(s, shared, &jobs, &busy, &mut throttle);
            }
            let _ = listener.set_nonblocking(true);
            while let Ok((s, _)) = listener.accept() {
                let _ = s.set_nonblocking(false);
                admit(s, shared, &jobs, &busy, &mut throttle);
            }
            return;
        }
        match accepted {
            Ok((s, _)) => admit(s, shared, &jobs, &busy, &mut throttle),
            Err(e) if out_of_descriptors(&e) => {
                throttle.warn(&format!(
                    "cannot accept connections: {e}; raise LimitNOFILE or lower \
                     web_server.max_connections"
                ));
                // EMFILE/ENFILE: close an idle connection to make room, as at the cap.
                let open = shared.registry.len();
                if shared.registry.evict_one() && shared.registry.wait_below(open, EVICT_WAIT) {
                    continue;
                }
                // None is idle: free the spare descriptor to take one connection, answer
                // it, and keep the spare for the next time.
                drop(spare.take());
                let _ = listener.set_nonblocking(true);
                if let Ok((s, _)) = listener.accept() {
                    let _ = s.set_nonblocking(false);
                    refuse(&s, &busy);
                }
                let _ = listener.set_nonblocking(false);
                spare = File::open("/dev/null").ok();
                thread::sleep(BACK_OFF);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                ) => {}
            Err(e) => {
                throttle.warn(&format!("accepting a connection failed: {e}"));
                thread::sleep(BACK_OFF);
            }
        }
    }
}

/// A connection handed to a connection thread.
struct Job {
    stream: TcpStream,
    state: Arc<AtomicU8>,
    id: u64,
}

/// Serves `first`, then further connections handed over through `jobs`, until none comes
/// for [`THREAD_REUSE`] or the acceptor is gone.
fn connection_thread(first: Job, jobs: &Receiver<Job>, shared: &Shared) {
    let mut job = first;
    loop {
        {
            let _registered = Registered {
                registry: &shared.registry,
                id: job.id,
            };
            super::conn::serve(job.stream, &job.state, shared);
        }
        match jobs.recv_timeout(THREAD_REUSE) {
            Ok(next) => job = next,
            Err(_) => return,
        }
    }
}

/// Hands `stream` to a waiting connection thread or starts one, or answers 503 when there
/// is no room.
fn admit(
    stream: TcpStream,
    shared: &Arc<Shared>,
    jobs: &(Sender<Job>, Receiver<Job>),
    busy: &[u8],
    throttle: &mut Throttle,
) {
    let _ = stream.set_nodelay(true);
    let cap = shared.settings.max_connections;
    let registry = &shared.registry;
    if registry.len() >= cap && !(registry.evict_one() && registry.wait_below(cap, EVICT_WAIT)) {
        refuse(&stream, busy);
        return;
    }
    let mut cloned = stream.try_clone();
    let out_of_fds = cloned.as_ref().err().filter(|e| out_of_descriptors(e));
    if let Some(e) = out_of_fds.map(ToString::to_string) {
        // The owner hears of it even when an idle connection can make room.
        throttle.warn(&format!(
            "cannot serve a connection: {e}; closing an idle one to make room; raise \
             LimitNOFILE or lower web_server.max_connections"
        ));
        // Make room as at the cap: an idle connection gives its descriptors back.
        let open = registry.len();
        if registry.evict_one() && registry.wait_below(open, EVICT_WAIT) {
            cloned = stream.try_clone();
        }
    }
    let clone = match cloned {
        Ok(c) => c,
        Err(e) => {
            refuse(&stream, busy);
            throttle.warn(&format!(
                "cannot serve a connection: {e}; raise LimitNOFILE or lower \
                 web_server.max_connections"
            ));
            thread::sleep(BACK_OFF);
            return;
        }
    };
    let state = Arc::new(AtomicU8::new(BUSY));
    let id = registry.add(clone, Arc::clone(&state));
    // A thread whose connection ended may be waiting: the channel has no capacity, so this
    // succeeds only when one is.
    let job = match jobs.0.try_send(Job { stream, state, id }) {
        Ok(()) => return,
        Err(e) => e.into_inner(),
    };
    let conn_shared = Arc::clone(shared);
    let rx = jobs.1.clone();
    let spawned = thread::Builder::new()
        .name("http-conn".into())
        .stack_size(STACK)
        .spawn(move || connection_thread(job, &rx, &conn_shared));
    if let Err(e) = spawned {
        // The thread's closure, with its socket, is gone; answer through the registry's
        // clone and forget it.
        if let Some(entry) = registry.inner.lock().open.get(&id) {
            refuse(&entry.stream, busy);
        }
        registry.remove(id);
        throttle.warn(&format!("cannot start a connection thread: {e}"));
        thread::sleep(BACK_OFF);
    }
}
