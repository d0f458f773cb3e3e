//! The refresh side: sources, their lanes, the next-due scheduler and the renderers.
//!
//! Vocabulary:
//! - A **source** ([`Source`]) reads one kind of outside data (a process table, a SQLite DB,
//!   the PSE API, log files) and turns it into typed data. It never touches the snapshot.
//! - Each source runs on its own **lane**: a thread that owns the source and with it the
//!   source's handles (its DB connection, HTTP agent or sysinfo state). A lane runs the source
//!   only when the scheduler tells it to, so a source blocked on a slow call delays nobody else.
//! - The **scheduler** (the refresh thread) keeps each source's [`SourceStatus`], decides
//!   what is due, receives results, and is the only writer of the [`SnapshotCell`]. Shutdown
//!   is the first arm of its `select_biased!`, so it never waits out a sleep.
//! - A **renderer** ([`Renderer`]) turns the typed data of some sources into pre-serialized
//!   bodies. It runs on the refresh thread and only when its inputs changed.
//! - The **store** ([`Store`]) holds each source's latest data, typed: one slot per
//!   [`SourceId`], defined where the data types are (the sources). Renderers read it through
//!   a [`StoreView`]; a wrong source or type is a compile error, not a silent "unavailable".

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crossbeam_channel::{bounded, select_biased, unbounded, Receiver, Sender};
use serde::Serialize;

use crate::clock;
use crate::snapshot::{Body, Shared, Snapshot, SnapshotCell};

/// Why a refresh failed. The message is shown to the owner in `/status`, so it names the
/// input (file, URL, table) and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError(pub String);

impl SourceError {
    pub fn new(message: impl std::fmt::Display) -> SourceError {
        SourceError(message.to_string())
    }
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SourceError {}

/// The closed set of sources; `name()` is how each appears under `sources` in `/status`,
/// in logs and in metrics labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceId {
    Coordinator,
    Logs,
    Journal,
    Inverter,
    Prices,
    Metrics,
    Host,
}

impl SourceId {
    /// Every source, in the order `/status` and the metrics list them.
    pub const ALL: [SourceId; 7] = [
        SourceId::Coordinator,
        SourceId::Logs,
        SourceId::Journal,
        SourceId::Inverter,
        SourceId::Prices,
        SourceId::Metrics,
        SourceId::Host,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            SourceId::Coordinator => "coordinator",
            SourceId::Logs => "logs",
            SourceId::Journal => "journal",
            SourceId::Inverter => "inverter",
            SourceId::Prices => "prices",
            SourceId::Metrics => "metrics",
            SourceId::Host => "host",
        }
    }
}

impl std::fmt::Display for SourceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The sources' latest data, one typed slot per source. `Data` is one refresh's data tagged
/// with its source (an enum with a variant per source).
pub trait Store: Default + Send + 'static {
    type Data: Send + 'static;
    /// The source `data` belongs to.
    fn source_of(data: &Self::Data) -> SourceId;
    /// Replaces that source's data with `data`, unless it equals what the slot holds.
    /// Returns true when the slot changed (a first value always changes it).
    fn put(&mut self, data: Self::Data) -> bool;
}

/// The typed result of one successful refresh.
#[derive(Clone)]
pub struct Refreshed<D> {
    /// The source's data, tagged with its source; the scheduler puts it in its slot.
    pub data: D,
    /// When the data was observed at its origin (a reading's timestamp, a fetch time).
    /// Freshness is measured from it; `None` means "at the time of the refresh".
    pub observed_at: Option<DateTime<Utc>>,
    /// Where the data came from this time, e.g. `network` or `disk_cache`.
    pub origin: Option<&'static str>,
}

impl<D> Refreshed<D> {
    pub fn new(data: impl Into<D>) -> Refreshed<D> {
        Refreshed {
            data: data.into(),
            observed_at: None,
            origin: None,
        }
    }

    pub fn observed_at(mut self, t: DateTime<Utc>) -> Refreshed<D> {
        self.observed_at = Some(t);
        self
    }

    pub fn origin(mut self, origin: &'static str) -> Refreshed<D> {
        self.origin = Some(origin);
        self
    }
}

pub type SourceResult<D> = Result<Refreshed<D>, SourceError>;

/// What a running refresh may ask of its surroundings.
#[derive(Clone, Default)]
pub struct RefreshContext {
    stop: Arc<AtomicBool>,
}

impl RefreshContext {
    /// True once shutdown has begun; long refreshes (paging, scans) should return early.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// One kind of outside data, refreshed on its own schedule.
///
/// `refresh` runs on the source's own lane thread. It must bound every blocking call
/// (timeouts on network and DB calls), keep no lock of ours, and return typed data.
pub trait Source<D>: Send + 'static {
    /// Which source this is (`sources.<name>` in `/status`, and in logs).
    fn id(&self) -> SourceId;
    /// The configured interval between refreshes.
    fn interval(&self) -> Duration;
    /// Data older than this is `stale`; older than twice this, `expired`.
    fn stale_after(&self) -> Duration {
        self.interval() * 2
    }
    /// Delay before the next run, given how the last one went. Sources with their own
    /// calendar (prices) or back-off override this.
    fn next_delay(&self, succeeded: bool, consecutive_failures: u32) -> Duration {
        if succeeded {
            self.interval()
        } else {
            backoff(self.interval(), consecutive_failures)
        }
    }
    fn refresh(&mut self, ctx: &RefreshContext) -> SourceResult<D>;
    /// Problems that do not stop the source (a tariff that cannot be used, a cache that
    /// cannot be written, a reading served from a fallback), as they stand after the last
    /// refresh, successful or not; `/status` lists them under `problems`.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// How current a source's data is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Freshness {
    Fresh,
    Stale,
    Expired,
    Unavailable,
}

impl Freshness {
    /// `fresh` up to `stale_after`, `stale` up to twice that, then `expired`.
    pub fn of(age: Option<Duration>, stale_after: Duration) -> Freshness {
        match age {
            None => Freshness::Unavailable,
            Some(a) if a <= stale_after => Freshness::Fresh,
            Some(a) if a <= stale_after * 2 => Freshness::Stale,
            Some(_) => Freshness::Expired,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Freshness::Fresh => "fresh",
            Freshness::Stale => "stale",
            Freshness::Expired => "expired",
            Freshness::Unavailable => "unavailable",
        }
    }
}

/// What the scheduler publishes about one source: its state and schedule. The data itself
/// is in the [`Store`].
#[derive(Clone)]
pub struct SourceStatus {
    pub id: SourceId,
    pub interval: Duration,
    pub stale_after: Duration,
    pub last_success: Option<DateTime<Utc>>,
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// Failed refreshes since the last success: the one failure count (each run request
    /// carries it to the lane, which hands it to [`Source::next_delay`]).
    pub consecutive_failures: u32,
    pub observed_at: Option<DateTime<Utc>>,
    pub origin: Option<&'static str>,
    /// The source's warnings after its last refresh ([`Source::warnings`]).
    pub warnings: Vec<String>,
    /// When the next run is due; `None` while a run is in flight.
    pub next_due: Option<Instant>,
    pub in_flight_since: Option<Instant>,
    pub last_duration: Option<Duration>,
    /// Bumped when a success brings data that differs from the data held (or a new origin
    /// or observation time), and on the first failure after a success; renderers re-run
    /// when it changes. A refresh that finds the same data leaves it alone.
    pub version: u64,
    /// When the data held was first read (the success that last changed it).
    pub changed_at: Option<DateTime<Utc>>,
    /// True once the source returned data (kept through later failures).
    pub has_data: bool,
}

impl SourceStatus {
    /// A status with no data yet, due at once (the scheduler's start state; tests build
    /// views from it).
    pub fn new(id: SourceId, interval: Duration, stale_after: Duration) -> SourceStatus {
        SourceStatus {
            id,
            interval,
            stale_after,
            last_success: None,
            last_attempt: None,
            last_error: None,
            last_error_at: None,
            consecutive_failures: 0,
            observed_at: None,
            origin: None,
            warnings: Vec::new(),
            next_due: Some(Instant::now()),
            in_flight_since: None,
            last_duration: None,
            version: 0,
            changed_at: None,
            has_data: false,
        }
    }

    /// The source's name, as in `/status`.
    pub fn name(&self) -> &'static str {
        self.id.name()
    }

    /// Age of the data: from its observation time, else from the last success.
    pub fn age(&self, now: DateTime<Utc>) -> Option<Duration> {
        let t = self
            .has_data
            .then_some(self.observed_at.or(self.last_success))
            .flatten()?;
        Some((now - t).to_std().unwrap_or(Duration::ZERO))
    }

    pub fn freshness(&self, now: DateTime<Utc>) -> Freshness {
        Freshness::of(self.age(now), self.stale_after)
    }
}

/// What a renderer sees: every source's status, the typed store, and the time of the build.
pub struct StoreView<'a, S> {
    pub sources: &'a [SourceStatus],
    /// The sources' data, one typed slot each.
    pub data: &'a S,
    pub now: DateTime<Utc>,
    pub now_instant: Instant,
}

impl<'a, S> StoreView<'a, S> {
    /// The status of source `id`, if it runs.
    pub fn get(&self, id: SourceId) -> Option<&'a SourceStatus> {
        self.sources.iter().find(|s| s.id == id)
    }

    /// Seconds until the source's next run (0 when overdue or in flight).
    pub fn next_refresh_in(&self, s: &SourceStatus) -> Option<u64> {
        s.next_due
            .map(|d| d.saturating_duration_since(self.now_instant).as_secs())
    }
}

/// Builds response bodies from source data. Runs on the refresh thread.
pub trait Renderer<S>: Send {
    /// The sources this renderer reads; an empty list means "every tick".
    fn inputs(&self) -> &'static [SourceId];
    /// A value that changes when time alone should change the output (the current quarter,
    /// the local date). The default says time does not matter.
    fn time_key(&self, _view: &StoreView<S>) -> u64 {
        0
    }
    /// The bodies, keyed by route key (see [`crate::snapshot::route_key`]).
    fn render(&self, view: &StoreView<S>) -> Vec<(String, Body)>;
    /// Typed data for handlers that filter in memory, published in the same snapshot as
    /// the bodies (see [`Snapshot::shared`]). Most renderers publish none.
    fn shared(&self, _view: &StoreView<S>) -> Vec<(&'static str, Shared)> {
        Vec::new()
    }
}

/// Builds bodies out of other bodies (e.g. `/api/dashboard` out of `/prices`, `/metrics`,
/// ...), after every renderer ran. Runs on the refresh thread, only when the ETags of its
/// inputs (or its time key) changed.
pub trait Composer<S>: Send {
    /// The route keys this composer reads (they may depend on the date).
    fn inputs(&self, view: &StoreView<S>) -> Vec<String>;
    /// The bodies it builds from `bodies` (every body the renderers produced).
    fn compose(
        &self,
        bodies: &HashMap<String, Arc<Body>>,
        view: &StoreView<S>,
    ) -> Vec<(String, Body)>;
}

/// Proof of life of the refresh thread, readable without a lock.
#[derive(Debug)]
pub struct Heartbeat {
    started: Instant,
    last_beat_ms: AtomicU64,
    finished: AtomicBool,
    /// 503 after this long without a beat.
    pub allowed_silence: Duration,
}

impl Heartbeat {
    pub fn new(allowed_silence: Duration) -> Heartbeat {
        Heartbeat {
            started: Instant::now(),
            last_beat_ms: AtomicU64::new(0),
            finished: AtomicBool::new(false),
            allowed_silence,
        }
    }

    fn beat(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.last_beat_ms.store(ms, Ordering::Relaxed);
    }

    /// Time since the last beat.
    pub fn silence(&self) -> Duration {
        let last = Duration::from_millis(self.last_beat_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }

    /// True while the refresh thread runs and has beaten recently.
    pub fn is_alive(&self) -> bool {
        !self.finished.load(Ordering::Relaxed) && self.silence() <= self.allowed_silence
    }

    pub fn has_finished(&self) -> bool {
        self.finished.load(Ordering::Relaxed)
    }
}

/// How often the snapshot is rebuilt even when no source reported (ages, `/status`).
pub const TICK: Duration = Duration::from_secs(1);

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

struct RendererSlot<S> {
    renderer: Box<dyn Renderer<S>>,
    signature: Option<u64>,
    bodies: Vec<(String, Arc<Body>)>,
    shared: Vec<(&'static str, Shared)>,
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
    sources: Vec<Box<dyn Source<S::Data>>>,
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
    let mut lanes = Vec::new();
    for (index, source) in sources.into_iter().enumerate() {
        statuses.push(SourceStatus::new(
            source.id(),
            source.interval(),
            source.stale_after(),
        ));
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
        store: S::default(),
        lanes,
        renderers: renderers
            .into_iter()
            .map(|renderer| RendererSlot {
                renderer,
                signature: None,
                bodies: Vec::new(),
                shared: Vec::new(),
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
    mut source: Box<dyn Source<D>>,
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
        let mut next_tick = Instant::now() + TICK;
        loop {
            self.heartbeat.beat();
            self.dispatch_due();
            let now = Instant::now();
            if now >= next_tick {
                self.publish();
                next_tick = now + TICK;
            }
            let wake = self
                .statuses
                .iter()
                .filter_map(|s| s.next_due)
                .fold(next_tick, Instant::min);
            select_biased! {
                recv(stop) -> _ => break,
                recv(refresh_all) -> _ => {
                    let due_now = Instant::now();
                    for status in &mut self.statuses {
                        // In flight (None) already refreshes; everything else is due now.
                        if let Some(due) = status.next_due.as_mut() {
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
                        self.publish();
                    }
                }
                recv(crossbeam_channel::at(wake)) -> _ => {}
            }
        }
        self.shutdown();
    }

    fn dispatch_due(&mut self) {
        let now = Instant::now();
        for (status, lane) in self.statuses.iter_mut().zip(&self.lanes) {
            let due = matches!(status.next_due, Some(d) if d <= now);
            if !due {
                continue;
            }
            let Some(runs) = &lane.runs else { continue };
            if runs.try_send(status.consecutive_failures).is_ok() {
                status.next_due = None;
                status.in_flight_since = Some(now);
                status.last_attempt = Some(clock::now());
            } else {
                // The lane is gone (it cannot be busy: we never send twice). Record it.
                status.next_due = Some(now + status.interval);
                status.last_error = Some(format!("source {} has stopped", status.id));
            }
        }
    }

    fn apply(&mut self, r: LaneResult<S::Data>) {
        let Some(status) = self.statuses.get_mut(r.index) else {
            return;
        };
        let now = clock::now();
        status.in_flight_since = None;
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
                log::warn!("source {} failed: {}", status.id, e);
                status.last_error = Some(e.0);
                status.last_error_at = Some(now);
                status.consecutive_failures = status.consecutive_failures.saturating_add(1);
                // Keep the last good data; an error alone does not change the version.
                status.version += u64::from(status.consecutive_failures == 1);
            }
        }
        status.next_due = Some(Instant::now() + r.next_delay);
    }

    fn publish(&mut self) {
        let view = StoreView {
            sources: &self.statuses,
            data: &self.store,
            now: clock::now(),
            now_instant: Instant::now(),
        };
        let mut bodies = HashMap::new();
        let mut shared = HashMap::new();
        for slot in &mut self.renderers {
            let sig = signature(slot.renderer.as_ref(), &view);
            if slot.signature != Some(sig) {
                slot.bodies = keep_unchanged(&slot.bodies, slot.renderer.render(&view));
                log::trace!(
                    "renderer ran: {}",
                    slot.bodies.first().map_or("", |(k, _)| k.as_str())
                );
                slot.shared = slot.renderer.shared(&view);
                slot.signature = Some(sig);
            }
            for (k, b) in &slot.bodies {
                bodies.insert(k.clone(), Arc::clone(b));
            }
            for (k, d) in &slot.shared {
                shared.insert(*k, Arc::clone(d));
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
                slot.bodies = keep_unchanged(&slot.bodies, slot.composer.compose(&bodies, &view));
                log::trace!(
                    "composer ran: {}",
                    slot.bodies.last().map_or("", |(k, _)| k.as_str())
                );
                slot.signature = Some(sig);
            }
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
            shared,
        });
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

/// Retry delay after `failures` consecutive failures: a quarter of the interval, doubling,
/// never more than the interval.
pub fn backoff(interval: Duration, failures: u32) -> Duration {
    let base = interval / 4;
    let factor = 1u32 << failures.saturating_sub(1).min(2);
    (base * factor)
        .min(interval)
        .max(Duration::from_millis(10).min(interval))
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

fn signature<S>(renderer: &dyn Renderer<S>, view: &StoreView<S>) -> u64 {
    let mut h = DefaultHasher::new();
    let inputs = renderer.inputs();
    if inputs.is_empty() {
        view.now_instant.hash(&mut h);
    }
    for id in inputs {
        if let Some(s) = view.get(*id) {
            s.version.hash(&mut h);
            s.freshness(view.now).hash(&mut h);
        }
    }
    renderer.time_key(view).hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
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

    impl Source<Run> for Counting {
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
    ) -> (Box<dyn Source<Run>>, Arc<AtomicUsize>) {
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

    fn start(sources: Vec<Box<dyn Source<Run>>>) -> (RefreshHandle, Arc<SnapshotCell>) {
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
        impl Source<Run> for Panics {
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
    fn freshness_thresholds() {
        let s = Duration::from_secs(10);
        assert_eq!(Freshness::of(None, s), Freshness::Unavailable);
        assert_eq!(
            Freshness::of(Some(Duration::from_secs(10)), s),
            Freshness::Fresh
        );
        assert_eq!(
            Freshness::of(Some(Duration::from_secs(11)), s),
            Freshness::Stale
        );
        assert_eq!(
            Freshness::of(Some(Duration::from_secs(21)), s),
            Freshness::Expired
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let i = Duration::from_secs(60);
        assert_eq!(backoff(i, 1), Duration::from_secs(15));
        assert_eq!(backoff(i, 2), Duration::from_secs(30));
        assert_eq!(backoff(i, 3), Duration::from_secs(60));
        assert_eq!(backoff(i, 30), Duration::from_secs(60));
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
