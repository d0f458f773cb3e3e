//! The scheduler: the lanes (one thread per source, owning it), the refresh thread that
//! decides what is due, applies results to each source's status and the typed store, runs
//! the renderers and composers whose inputs changed, and swaps the snapshot. Shutdown is the
//! first arm of its `select_biased!`, so it never waits out a sleep.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crossbeam_channel::{bounded, select_biased, unbounded, Receiver, Sender};

use super::{
    Composer, Follows, Heartbeat, RefreshContext, Renderer, Source, SourceError, SourceResult,
    SourceStatus, Store, StoreView,
};
use crate::clock;
use crate::snapshot::{Body, Snapshot, SnapshotCell};

/// How long shutdown waits for lanes that are still inside a refresh.
const LANE_JOIN_GRACE: Duration = Duration::from_millis(300);

struct LaneResult<D> {
    index: usize,
    result: SourceResult<D>,
    warnings: Vec<String>,
    took: Duration,
    next_delay: Duration,
}

struct Lane {
    /// A run request carries the source's failure count so far.
    runs: Option<Sender<u32>>,
    handle: JoinHandle<()>,
}

/// The scheduler's own bookkeeping of one source, never published: renderers see the
/// durations [`Scheduler::publish`] derives from it in [`SourceStatus`].
struct Due {
    /// When the next run is due; `None` while a run is in flight.
    next_due: Option<Instant>,
    in_flight_since: Option<Instant>,
}

struct RendererSlot<S> {
    renderer: Box<dyn Renderer<S>>,
    signature: Option<u64>,
    bodies: Vec<(String, Arc<Body>)>,
    /// When time alone changes its output next ([`Renderer::changes_at`] at the last run).
    changes_at: Option<DateTime<Utc>>,
}

struct ComposerSlot<S> {
    composer: Box<dyn Composer<S>>,
    signature: Option<u64>,
    bodies: Vec<(String, Arc<Body>)>,
}

/// The running refresh thread.
pub struct RefreshHandle {
    pub heartbeat: Arc<Heartbeat>,
    stop: Sender<()>,
    now: Sender<()>,
    join: JoinHandle<()>,
}

impl RefreshHandle {
    /// Asks the refresh thread to stop; returns at once.
    pub fn request_stop(&self) {
        let _ = self.stop.try_send(());
    }

    /// Asks for every source that is not refreshing right now to be refreshed at once
    /// (SIGHUP); returns at once.
    pub fn refresh_now(&self) {
        let _ = self.now.try_send(());
    }

    /// Waits for the refresh thread up to `deadline`; false if it did not finish in time.
    pub fn join(self, deadline: Duration) -> bool {
        self.request_stop();
        let until = Instant::now() + deadline;
        while !self.join.is_finished() {
            if Instant::now() >= until {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
        self.join.join().is_ok()
    }
}

/// Starts the lanes and the refresh thread. The first snapshot is published before this
/// returns, so `/status` answers from the first request on.
pub fn spawn<S: Store>(
    sources: Vec<Box<dyn Source<Data = S::Data>>>,
    renderers: Vec<Box<dyn Renderer<S>>>,
    composers: Vec<Box<dyn Composer<S>>>,
    cell: Arc<SnapshotCell>,
    heartbeat: Arc<Heartbeat>,
) -> std::io::Result<RefreshHandle> {
    let (stop_tx, stop_rx) = bounded::<()>(1);
    let (now_tx, now_rx) = bounded::<()>(1);
    let (result_tx, result_rx) = unbounded::<LaneResult<S::Data>>();
    let ctx = RefreshContext::default();
    let mut statuses = Vec::new();
    let mut due = Vec::new();
    let mut lanes = Vec::new();
    for (index, source) in sources.into_iter().enumerate() {
        statuses.push(SourceStatus::new(
            source.id(),
            source.interval(),
            source.stale_after(),
        ));
        due.push(Due {
            next_due: Some(Instant::now()),
            in_flight_since: None,
        });
        let (run_tx, run_rx) = bounded::<u32>(1);
        let results = result_tx.clone();
        let ctx = ctx.clone();
        let handle = thread::Builder::new()
            .name(format!("lane-{}", source.id()))
            .spawn(move || run_lane(source, index, run_rx, results, ctx))?;
        lanes.push(Lane {
            runs: Some(run_tx),
            handle,
        });
    }
    let mut scheduler = Scheduler {
        statuses,
        due,
        store: S::default(),
        lanes,
        renderers: renderers
            .into_iter()
            .map(|renderer| RendererSlot {
                renderer,
                signature: None,
                bodies: Vec::new(),
                changes_at: None,
            })
            .collect(),
        composers: composers
            .into_iter()
            .map(|composer| ComposerSlot {
                composer,
                signature: None,
                bodies: Vec::new(),
            })
            .collect(),
        cell,
        heartbeat: Arc::clone(&heartbeat),
        generation: 0,
        ctx,
    };
    heartbeat.beat();
    scheduler.publish();
    let join = thread::Builder::new()
        .name("refresh".into())
        .spawn(move || scheduler.run(stop_rx, now_rx, result_rx, result_tx))?;
    Ok(RefreshHandle {
        heartbeat,
        stop: stop_tx,
        now: now_tx,
        join,
    })
}

fn run_lane<D: Send + 'static>(
    mut source: Box<dyn Source<Data = D>>,
    index: usize,
    runs: Receiver<u32>,
    results: Sender<LaneResult<D>>,
    ctx: RefreshContext,
) {
    for failures in runs.iter() {
        let started = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| source.refresh(&ctx))).unwrap_or_else(|p| {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(SourceError(format!(
                "internal error in source {}: {msg}",
                source.id()
            )))
        });
        let took = started.elapsed();
        let failures = if result.is_ok() {
            0
        } else {
            failures.saturating_add(1)
        };
        let next_delay = source.next_delay(result.is_ok(), failures);
        let warnings = source.warnings();
        if results
            .send(LaneResult {
                index,
                result,
                warnings,
                took,
                next_delay,
            })
            .is_err()
        {
            break;
        }
    }
}

struct Scheduler<S: Store> {
    statuses: Vec<SourceStatus>,
    /// One per source, in the order of `statuses`.
    due: Vec<Due>,
    store: S,
    lanes: Vec<Lane>,
    renderers: Vec<RendererSlot<S>>,
    composers: Vec<ComposerSlot<S>>,
    cell: Arc<SnapshotCell>,
    heartbeat: Arc<Heartbeat>,
    generation: u64,
    ctx: RefreshContext,
}

impl<S: Store> Scheduler<S> {
    fn run(
        &mut self,
        stop: Receiver<()>,
        refresh_all: Receiver<()>,
        results: Receiver<LaneResult<S::Data>>,
        _keep: Sender<LaneResult<S::Data>>,
    ) {
        // The heartbeat is renewed at least this often, also when nothing is due.
        let beat_every = (self.heartbeat.allowed_silence / 3).max(Duration::from_millis(10));
        loop {
            self.heartbeat.beat();
            self.dispatch_due();
            // Publishes only what changed: a run that started or ended, new data, a
            // freshness threshold or a renderer's time boundary that passed.
            self.publish();
            let now = Instant::now();
            let wake = self
                .due
                .iter()
                .filter_map(|d| d.next_due)
                .chain(self.next_time_change().map(|t| instant_at(t, now)))
                .fold(now + beat_every, Instant::min);
            select_biased! {
                recv(stop) -> _ => break,
                recv(refresh_all) -> _ => {
                    let due_now = Instant::now();
                    for d in &mut self.due {
                        // In flight (None) already refreshes; everything else is due now.
                        if let Some(due) = d.next_due.as_mut() {
                            *due = due_now;
                        }
                    }
                }
                recv(results) -> msg => {
                    if let Ok(r) = msg {
                        self.apply(r);
                        // Take every result that is already waiting, then publish once.
                        while let Ok(r) = results.try_recv() {
                            self.apply(r);
                        }
                    }
                }
                recv(crossbeam_channel::at(wake)) -> _ => {}
            }
        }
        self.shutdown();
    }

    /// The next instant at which time alone changes a body: a renderer's own boundary, or
    /// a source's data turning stale or expired.
    fn next_time_change(&self) -> Option<DateTime<Utc>> {
        let now = clock::now();
        self.renderers
            .iter()
            .filter_map(|r| r.changes_at)
            .chain(
                self.statuses
                    .iter()
                    .filter_map(|s| s.next_state_change(now)),
            )
            .min()
    }

    fn dispatch_due(&mut self) {
        let now = Instant::now();
        for ((status, d), lane) in self.statuses.iter_mut().zip(&mut self.due).zip(&self.lanes) {
            let due = matches!(d.next_due, Some(at) if at <= now);
            if !due {
                continue;
            }
            let Some(runs) = &lane.runs else { continue };
            if runs.try_send(status.consecutive_failures).is_ok() {
                d.next_due = None;
                d.in_flight_since = Some(now);
                let wall = clock::now();
                status.last_attempt = Some(wall);
                status.in_flight_since = Some(wall);
                status.next_refresh_at = None;
            } else {
                // The lane is gone (it cannot be busy: we never send twice). Record it.
                d.next_due = Some(now + status.interval);
                status.next_refresh_at = Some(clock::now() + to_chrono(status.interval));
                status.last_error = Some(format!("source {} has stopped", status.id));
            }
        }
    }

    fn apply(&mut self, r: LaneResult<S::Data>) {
        let (Some(status), Some(due)) = (self.statuses.get_mut(r.index), self.due.get_mut(r.index))
        else {
            return;
        };
        let now = clock::now();
        due.in_flight_since = None;
        status.last_duration = Some(r.took);
        status.warnings = r.warnings;
        let result = r.result.and_then(|refreshed| {
            let from = S::source_of(&refreshed.data);
            if from == status.id {
                Ok(refreshed)
            } else {
                Err(SourceError(format!(
                    "internal error in source {}: it returned the data of {from}",
                    status.id
                )))
            }
        });
        match result {
            Ok(refreshed) => {
                status.last_success = Some(now);
                status.last_error = None;
                status.last_error_at = None;
                let recovered = status.consecutive_failures > 0;
                status.consecutive_failures = 0;
                let moved = status.observed_at != refreshed.observed_at
                    || status.origin != refreshed.origin
                    || !status.has_data;
                status.observed_at = refreshed.observed_at;
                status.origin = refreshed.origin;
                status.has_data = true;
                let changed = self.store.put(refreshed.data);
                if changed || moved {
                    status.changed_at = Some(now);
                }
                if changed || moved || recovered {
                    status.version += 1;
                }
            }
            Err(e) => {
                // A failure is a warning when it is new; the same failure again (a missing
                // journal, a stopped PSE) is logged at debug level, not every interval.
                if status.last_error.as_deref() == Some(e.0.as_str()) {
                    log::debug!(
                        "source {} failed again ({} in a row): {}",
                        status.id,
                        status.consecutive_failures.saturating_add(1),
                        e
                    );
                } else {
                    log::warn!("source {} failed: {}", status.id, e);
                }
                status.last_error = Some(e.0);
                status.last_error_at = Some(now);
                status.consecutive_failures = status.consecutive_failures.saturating_add(1);
                // Keep the last good data; an error alone does not change the version.
                status.version += u64::from(status.consecutive_failures == 1);
            }
        }
        due.next_due = Some(Instant::now() + r.next_delay);
        status.in_flight_since = None;
        status.next_refresh_at = Some(now + to_chrono(r.next_delay));
    }

    /// Runs the renderers and composers whose inputs changed and swaps in a new snapshot
    /// when any body changed (always for the first one).
    fn publish(&mut self) {
        let view = StoreView {
            sources: &self.statuses,
            data: &self.store,
            now: clock::now(),
        };
        let mut changed = self.generation == 0;
        let mut bodies = HashMap::new();
        for slot in &mut self.renderers {
            let sig = signature(slot.renderer.as_ref(), &view);
            let time_passed = slot.changes_at.is_some_and(|t| view.now >= t);
            if slot.signature != Some(sig) || time_passed {
                let new = slot.renderer.render(&view);
                changed |= replace(&mut slot.bodies, new, "renderer");
                slot.signature = Some(sig);
                slot.changes_at = slot.renderer.changes_at(&view);
            }
            for (k, b) in &slot.bodies {
                bodies.insert(k.clone(), Arc::clone(b));
            }
        }
        for slot in &mut self.composers {
            let mut h = DefaultHasher::new();
            for key in slot.composer.inputs(&view) {
                key.hash(&mut h);
                bodies.get(&key).map(|b| b.etag.as_str()).hash(&mut h);
            }
            let sig = h.finish();
            if slot.signature != Some(sig) {
                let new = slot.composer.compose(&bodies, &view);
                changed |= replace(&mut slot.bodies, new, "composer");
                slot.signature = Some(sig);
            }
        }
        if !changed {
            self.publish_runs();
            return;
        }
        for slot in &self.composers {
            for (k, b) in &slot.bodies {
                bodies.insert(k.clone(), Arc::clone(b));
            }
        }
        self.generation += 1;
        self.cell.store(Snapshot {
            built_at: Some(view.now),
            generation: self.generation,
            bodies,
        });
        self.publish_runs();
    }

    /// Writes each source's run record to its board, after the snapshot that goes with it
    /// is in place (a request that sees a run ended also sees the bodies it changed).
    fn publish_runs(&self) {
        for s in &self.statuses {
            s.publish_runs();
        }
    }

    fn shutdown(&mut self) {
        self.ctx.stop.store(true, Ordering::Relaxed);
        for lane in &mut self.lanes {
            lane.runs = None;
        }
        let until = Instant::now() + LANE_JOIN_GRACE;
        for lane in self.lanes.drain(..) {
            while !lane.handle.is_finished() && Instant::now() < until {
                thread::sleep(Duration::from_millis(2));
            }
            if lane.handle.is_finished() {
                let _ = lane.handle.join();
            }
            // A lane still inside a bounded call is left to finish on its own; the process
            // is exiting and it holds nothing that needs flushing.
        }
        self.heartbeat.finished.store(true, Ordering::Relaxed);
    }
}

/// The new bodies of a renderer or composer, as shared bodies: one whose bytes equal the
/// body it replaces (same key and ETag) keeps the old `Arc`, so it is neither compressed
/// again nor held twice; a new one gets its gzip variant here, once.
fn keep_unchanged(
    old: &[(String, Arc<Body>)],
    new: Vec<(String, Body)>,
) -> Vec<(String, Arc<Body>)> {
    new.into_iter()
        .map(|(k, b)| {
            let held = old
                .iter()
                .find(|(ok, ob)| *ok == k && ob.etag == b.etag && ob.status == b.status);
            match held {
                Some((_, ob)) => (k, Arc::clone(ob)),
                // Keys under `/internal/` are parts of other bodies, never served.
                None if k.starts_with("/internal/") => (k, Arc::new(b)),
                None => (k, Arc::new(b.compressed())),
            }
        })
        .collect()
}

/// What a renderer's output depends on, apart from time boundaries: each input's data
/// version and freshness state, and its run record when the renderer shows it.
fn signature<S>(renderer: &dyn Renderer<S>, view: &StoreView<S>) -> u64 {
    let mut h = DefaultHasher::new();
    for id in renderer.inputs() {
        if let Some(s) = view.get(*id) {
            s.version.hash(&mut h);
            s.freshness(view.now).hash(&mut h);
            s.in_future(view.now).is_some().hash(&mut h);
            if renderer.follows(view) >= Follows::Outcomes {
                (s.last_error_at, &s.last_error, s.consecutive_failures).hash(&mut h);
                (&s.warnings, s.observed_at, s.origin, s.changed_at).hash(&mut h);
            }
        }
    }
    h.finish()
}

/// Replaces a renderer's or composer's bodies with `new` (see [`keep_unchanged`]); true
/// when any body changed. `who` names the kind in the trace log, with its first routed
/// body.
fn replace(bodies: &mut Vec<(String, Arc<Body>)>, new: Vec<(String, Body)>, who: &str) -> bool {
    let next = keep_unchanged(bodies, new);
    let same = bodies.len() == next.len()
        && bodies
            .iter()
            .zip(&next)
            .all(|((ka, ba), (kb, bb))| ka == kb && Arc::ptr_eq(ba, bb));
    *bodies = next;
    let routed = bodies.iter().map(|(k, _)| k.as_str());
    let name = routed.clone().find(|k| !k.starts_with("/internal/"));
    log::trace!(
        "{who} ran: {}",
        name.or(routed.clone().next()).unwrap_or("")
    );
    !same
}

/// The monotonic instant of the wall-clock time `t`, as seen at `now` (at once when past).
fn instant_at(t: DateTime<Utc>, now: Instant) -> Instant {
    now + (t - clock::now()).to_std().unwrap_or(Duration::ZERO)
}

fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refresh::{Refreshed, SourceId};
    use std::sync::atomic::AtomicUsize;

    // The test sources, under the ids of the closed set.
    const A: SourceId = SourceId::Coordinator;
    const B: SourceId = SourceId::Logs;
    const SLOW: SourceId = SourceId::Journal;
    const BAD: SourceId = SourceId::Host;

    /// One run's count, tagged with its source.
    struct Run(SourceId, usize);

    /// The test store: each source's latest run count.
    #[derive(Default)]
    struct Runs(HashMap<SourceId, usize>);

    impl Store for Runs {
        type Data = Run;
        fn source_of(data: &Run) -> SourceId {
            data.0
        }
        fn put(&mut self, data: Run) -> bool {
            self.0.insert(data.0, data.1) != Some(data.1)
        }
    }

    fn key(id: SourceId) -> String {
        format!("/{id}")
    }

    /// A source that counts its runs, optionally fails or sleeps.
    struct Counting {
        id: SourceId,
        interval: Duration,
        runs: Arc<AtomicUsize>,
        fail: bool,
        sleep: Duration,
    }

    impl Source for Counting {
        type Data = Run;
        fn id(&self) -> SourceId {
            self.id
        }
        fn interval(&self) -> Duration {
            self.interval
        }
        fn refresh(&mut self, ctx: &RefreshContext) -> SourceResult<Run> {
            let n = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
            let until = Instant::now() + self.sleep;
            while Instant::now() < until && !ctx.stopping() {
                thread::sleep(Duration::from_millis(5));
            }
            if self.fail {
                Err(SourceError::new(format!("{} failed on run {n}", self.id)))
            } else {
                Ok(Refreshed::new(Run(self.id, n)))
            }
        }
    }

    fn counting(
        id: SourceId,
        ms: u64,
        fail: bool,
        sleep_ms: u64,
    ) -> (Box<dyn Source<Data = Run>>, Arc<AtomicUsize>) {
        let runs = Arc::new(AtomicUsize::new(0));
        let src = Counting {
            id,
            interval: Duration::from_millis(ms),
            runs: Arc::clone(&runs),
            fail,
            sleep: Duration::from_millis(sleep_ms),
        };
        (Box::new(src), runs)
    }

    /// Renders one body per source holding its run count, so tests can read the snapshot.
    struct Echo;
    impl Renderer<Runs> for Echo {
        fn inputs(&self) -> &'static [SourceId] {
            &[A, B, SLOW, BAD]
        }
        fn render(&self, view: &StoreView<Runs>) -> Vec<(String, Body)> {
            view.sources
                .iter()
                .map(|s| {
                    let n = view.data.0.get(&s.id).copied();
                    (
                        key(s.id),
                        Body::json(200, &serde_json::json!({"runs": n, "error": s.last_error})),
                    )
                })
                .collect()
        }
    }

    fn start(sources: Vec<Box<dyn Source<Data = Run>>>) -> (RefreshHandle, Arc<SnapshotCell>) {
        let cell = Arc::new(SnapshotCell::default());
        let hb = Arc::new(Heartbeat::new(Duration::from_secs(5)));
        let handle = spawn(sources, vec![Box::new(Echo)], vec![], Arc::clone(&cell), hb).unwrap();
        (handle, cell)
    }

    /// The most runs a source with this interval may make in `elapsed`: one at once, then
    /// one per whole interval. A scheduler under load runs less often, never more.
    fn most_runs(elapsed: Duration, interval_ms: u64) -> usize {
        (elapsed.as_millis() / u128::from(interval_ms)) as usize + 1
    }

    fn body(cell: &SnapshotCell, id: SourceId) -> serde_json::Value {
        serde_json::from_slice(&cell.load().get(&key(id)).unwrap().bytes).unwrap()
    }

    #[test]
    fn intervals_are_honoured() {
        let (a, runs_a) = counting(A, 100, false, 0);
        let (b, runs_b) = counting(B, 250, false, 0);
        let t0 = Instant::now();
        let (h, cell) = start(vec![a, b]);
        thread::sleep(Duration::from_millis(1030));
        let (na, nb) = (runs_a.load(Ordering::SeqCst), runs_b.load(Ordering::SeqCst));
        let elapsed = t0.elapsed();
        assert!(h.join(Duration::from_secs(1)));
        // First run at once, then every interval: a ≈ 11, b ≈ 5 on an idle machine. The
        // bounds hold on a loaded one too: never more often than the interval allows, and
        // at least half the runs an idle machine gets.
        assert!(
            (5..=most_runs(elapsed, 100)).contains(&na),
            "a ran {na} times in {elapsed:?}"
        );
        assert!(
            (2..=most_runs(elapsed, 250)).contains(&nb),
            "b ran {nb} times in {elapsed:?}"
        );
        assert!(body(&cell, A)["runs"].as_u64().unwrap() >= 5);
    }

    #[test]
    fn a_failing_source_does_not_starve_others_and_keeps_last_data() {
        let (bad, runs_bad) = counting(BAD, 20, true, 0);
        let (a, runs_a) = counting(A, 100, false, 0);
        let t0 = Instant::now();
        let (h, cell) = start(vec![bad, a]);
        thread::sleep(Duration::from_millis(750));
        assert!(h.join(Duration::from_secs(1)));
        let elapsed = t0.elapsed();
        let na = runs_a.load(Ordering::SeqCst);
        assert!(
            (4..=most_runs(elapsed, 100)).contains(&na),
            "a ran {na} times in {elapsed:?} next to a failing source"
        );
        // Back-off: the failing source retries, but not faster than its own interval allows.
        let nbad = runs_bad.load(Ordering::SeqCst);
        assert!(nbad >= 3, "bad source ran {nbad} times");
        let v = body(&cell, BAD);
        assert!(v["runs"].is_null());
        assert!(v["error"]
            .as_str()
            .unwrap()
            .contains(&format!("{BAD} failed")));
    }

    #[test]
    fn a_slow_source_does_not_delay_the_others_and_shutdown_is_prompt() {
        let (slow, runs_slow) = counting(SLOW, 50, false, 10_000);
        let (a, runs_a) = counting(A, 100, false, 0);
        let t0 = Instant::now();
        let (h, _cell) = start(vec![slow, a]);
        thread::sleep(Duration::from_millis(1030));
        let na = runs_a.load(Ordering::SeqCst);
        let elapsed = t0.elapsed();
        assert!(
            (5..=most_runs(elapsed, 100)).contains(&na),
            "a ran {na} times in {elapsed:?} next to a blocked source"
        );
        assert_eq!(
            runs_slow.load(Ordering::SeqCst),
            1,
            "a source in flight must not be started twice"
        );
        let t = Instant::now();
        assert!(h.join(Duration::from_secs(2)));
        assert!(
            t.elapsed() < Duration::from_millis(800),
            "shutdown took {:?}",
            t.elapsed()
        );
    }

    #[test]
    fn a_panicking_source_is_reported_and_retried() {
        struct Panics(Arc<AtomicUsize>);
        impl Source for Panics {
            type Data = Run;
            fn id(&self) -> SourceId {
                A
            }
            fn interval(&self) -> Duration {
                Duration::from_millis(40)
            }
            fn refresh(&mut self, _: &RefreshContext) -> SourceResult<Run> {
                self.0.fetch_add(1, Ordering::SeqCst);
                panic!("boom")
            }
        }
        let runs = Arc::new(AtomicUsize::new(0));
        let (h, cell) = start(vec![Box::new(Panics(Arc::clone(&runs)))]);
        thread::sleep(Duration::from_millis(300));
        assert!(h.join(Duration::from_secs(1)));
        assert!(
            runs.load(Ordering::SeqCst) >= 2,
            "the lane must survive a panic"
        );
        assert!(body(&cell, A)["error"].as_str().unwrap().contains("boom"));
    }

    #[test]
    fn heartbeat_goes_silent_after_stop() {
        let (a, _) = counting(A, 100, false, 0);
        let cell = Arc::new(SnapshotCell::default());
        let hb = Arc::new(Heartbeat::new(Duration::from_millis(300)));
        let h = spawn::<Runs>(vec![a], vec![], vec![], cell, Arc::clone(&hb)).unwrap();
        thread::sleep(Duration::from_millis(150));
        assert!(hb.is_alive());
        assert!(h.join(Duration::from_secs(1)));
        assert!(hb.has_finished());
        assert!(!hb.is_alive());
    }
}
