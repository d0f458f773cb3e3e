//! The refresh side: sources, their lanes, the next-due scheduler and the renderers.
//!
//! Vocabulary:
//! - A **source** ([`Source`]) reads one kind of outside data (a process table, a SQLite DB,
//!   the PSE API, log files) and turns it into typed data. It never touches the snapshot.
//! - Each source runs on its own **lane**: a thread that owns the source and with it the
//!   source's handles (its DB connection, HTTP agent or sysinfo state). A lane runs the source
//!   only when the scheduler tells it to, so a source blocked on a slow call delays nobody else.
//! - The **scheduler** (the refresh thread) keeps each source's [`SourceStatus`], decides
//!   what is due, receives results, and is the only writer of the [`SnapshotCell`](crate::snapshot::SnapshotCell) (`refresh::scheduler`). Shutdown
//!   is the first arm of its `select_biased!`, so it never waits out a sleep.
//! - A **renderer** ([`Renderer`]) turns the typed data of some sources into pre-serialized
//!   bodies. It runs on the refresh thread and only when its inputs changed.
//! - The **store** ([`Store`]) holds each source's latest data, typed: one slot per
//!   [`SourceId`], defined where the data types are (the sources). Renderers read it through
//!   a [`StoreView`]; a wrong source or type is a compile error, not a silent "unavailable".

use std::collections::HashMap;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::snapshot::Body;

mod scheduler;
mod status;

pub use scheduler::{spawn, RefreshHandle};
pub use status::{Freshness, Run, SourceStatus, FUTURE_TOLERANCE_S};

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
pub trait Source: Send + 'static {
    /// The typed data one refresh returns.
    type Data: Send + 'static;
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
    fn refresh(&mut self, ctx: &RefreshContext) -> SourceResult<Self::Data>;
    /// Problems that do not stop the source (a tariff that cannot be used, a cache that
    /// cannot be written, a reading served from a fallback), as they stand after the last
    /// refresh, successful or not; `/status` lists them under `problems`.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A source whose data is turned into a store's tagged data `D` (through `Into`): how the
/// lanes run sources of different data types, and how a source stays unaware of the store.
struct Tagged<S, D>(S, PhantomData<fn() -> D>);

impl<S, D> Source for Tagged<S, D>
where
    S: Source,
    S::Data: Into<D>,
    D: Send + 'static,
{
    type Data = D;
    fn id(&self) -> SourceId {
        self.0.id()
    }
    fn interval(&self) -> Duration {
        self.0.interval()
    }
    fn stale_after(&self) -> Duration {
        self.0.stale_after()
    }
    fn next_delay(&self, succeeded: bool, consecutive_failures: u32) -> Duration {
        self.0.next_delay(succeeded, consecutive_failures)
    }
    fn refresh(&mut self, ctx: &RefreshContext) -> SourceResult<D> {
        self.0.refresh(ctx).map(|r| Refreshed {
            data: r.data.into(),
            observed_at: r.observed_at,
            origin: r.origin,
        })
    }
    fn warnings(&self) -> Vec<String> {
        self.0.warnings()
    }
}

/// `source`, its data tagged as `D` for the store.
pub fn tagged<D, S>(source: S) -> Box<dyn Source<Data = D>>
where
    S: Source,
    S::Data: Into<D>,
    D: Send + 'static,
{
    Box::new(Tagged(source, PhantomData))
}

/// What a renderer sees: every source's status, the typed store, and the time of the build.
pub struct StoreView<'a, S> {
    pub sources: &'a [SourceStatus],
    /// The sources' data, one typed slot each.
    pub data: &'a S,
    pub now: DateTime<Utc>,
}

impl<'a, S> StoreView<'a, S> {
    /// The status of source `id`, if it runs.
    pub fn get(&self, id: SourceId) -> Option<&'a SourceStatus> {
        self.sources.iter().find(|s| s.id == id)
    }
}

/// What of a source's state a renderer shows, besides its data and freshness. The run
/// record's moving values (last success, next run, ...) are never among it: bodies show
/// them as of the answer ([`SourceStatus::run`]), so a run that brings nothing new
/// rebuilds nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Follows {
    /// Only the data and its freshness.
    Data,
    /// Also errors, the failure count, warnings, origin and observation time.
    Outcomes,
}

/// Builds response bodies from source data. Runs on the refresh thread, when an input's
/// data version or freshness changed, or when time alone changes the output
/// ([`Renderer::changes_at`]); never on a clock tick. Values that move every second (ages,
/// countdowns) are [`Hole`](crate::snapshot::Hole)s filled per answer.
pub trait Renderer<S>: Send {
    /// The sources this renderer reads.
    fn inputs(&self) -> &'static [SourceId];
    /// What of its inputs, besides their data and freshness, the output shows (and so
    /// re-runs on): nothing (the default), each refresh's outcome, or also each run's start
    /// and schedule.
    fn follows(&self, _view: &StoreView<S>) -> Follows {
        Follows::Data
    }
    /// The next instant after the view's `now` at which time alone changes the output (the
    /// next quarter hour, the next local midnight); `None` (the default) when time does
    /// not matter. The renderer runs again at that instant.
    fn changes_at(&self, _view: &StoreView<S>) -> Option<DateTime<Utc>> {
        None
    }
    /// The bodies, keyed by route key (see [`crate::snapshot::route_key`]).
    fn render(&self, view: &StoreView<S>) -> Vec<(String, Body)>;
}

/// Builds bodies out of other bodies (e.g. `/api/dashboard` out of `/prices`, `/metrics`,
/// ...), after every renderer ran. Runs on the refresh thread, only when the ETags of its
/// inputs (or its time key) changed.
pub trait Composer<S>: Send {
    /// The route keys this composer reads (they may depend on the date).
    fn inputs(&self, view: &StoreView<S>) -> Vec<String>;
    /// The bodies it builds from `bodies` (every body the renderers produced).
    fn compose(
        &mut self,
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

/// Retry delay after `failures` consecutive failures: a quarter of the interval, doubling,
/// never more than the interval.
pub fn backoff(interval: Duration, failures: u32) -> Duration {
    let base = interval / 4;
    let factor = 1u32 << failures.saturating_sub(1).min(2);
    (base * factor)
        .min(interval)
        .max(Duration::from_millis(10).min(interval))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
