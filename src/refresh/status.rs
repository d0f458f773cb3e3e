//! What the scheduler publishes about each source: its [`Freshness`], its [`SourceStatus`]
//! (state, schedule and outcomes as instants, one failure count) and the run record's
//! moving values on a lock-free [`Board`] (the [`Run`] slots), which bodies show as of the
//! answer.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::SourceId;
use crate::snapshot::{At, Board};

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

/// What the scheduler publishes about one source: its state and schedule, as of the build
/// (the scheduler's own bookkeeping, the instants it runs by, stays private to it). The data
/// itself is in the [`Store`](super::Store).
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
    /// carries it to the lane, which hands it to [`Source::next_delay`](super::Source::next_delay)).
    pub consecutive_failures: u32,
    pub observed_at: Option<DateTime<Utc>>,
    pub origin: Option<&'static str>,
    /// The source's warnings after its last refresh ([`Source::warnings`](super::Source::warnings)).
    pub warnings: Vec<String>,
    /// When the next run is due (in the past when overdue); `None` while a run is in
    /// flight. An instant, not a countdown: bodies show the countdown as of the answer.
    pub next_refresh_at: Option<DateTime<Utc>>,
    /// When the run in flight started; `None` when none is.
    pub in_flight_since: Option<DateTime<Utc>>,
    pub last_duration: Option<Duration>,
    /// Bumped when a success brings data that differs from the data held (or a new origin
    /// or observation time), and on the first failure after a success; renderers re-run
    /// when it changes. A refresh that finds the same data leaves it alone.
    pub version: u64,
    /// When the data held was first read (the success that last changed it).
    pub changed_at: Option<DateTime<Utc>>,
    /// True once the source returned data (kept through later failures).
    pub has_data: bool,
    /// The run record's moving values (last success and attempt, next run, run in flight,
    /// last duration), for bodies that show them as of the answer ([`SourceStatus::run`]);
    /// the scheduler writes it after every run ([`SourceStatus::publish_runs`]).
    pub board: Arc<Board>,
}

/// The moving values of a source's run record, each a slot of its [`Board`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    LastSuccess,
    LastAttempt,
    NextRefresh,
    InFlightSince,
    /// The last run's duration in ms.
    LastDurationMs,
}

const RUN_SLOTS: usize = 5;

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
            next_refresh_at: None,
            in_flight_since: None,
            last_duration: None,
            version: 0,
            changed_at: None,
            has_data: false,
            board: Arc::new(Board::new(RUN_SLOTS)),
        }
    }

    /// Where a body finds `field` when it is answered: it moves with every run, and bodies
    /// are not rebuilt for that.
    pub fn run(&self, field: Run) -> At {
        At::Board(Arc::clone(&self.board), field as usize)
    }

    /// Writes the run record to the board (the scheduler, after it changed).
    pub fn publish_runs(&self) {
        let ms = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp_millis());
        let b = &self.board;
        b.set(Run::LastSuccess as usize, ms(self.last_success));
        b.set(Run::LastAttempt as usize, ms(self.last_attempt));
        b.set(Run::NextRefresh as usize, ms(self.next_refresh_at));
        b.set(Run::InFlightSince as usize, ms(self.in_flight_since));
        let took = self.last_duration.map(|d| d.as_millis() as i64);
        b.set(Run::LastDurationMs as usize, took);
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

    /// How far (whole seconds) the observation time lies ahead of `now`, when it does by
    /// more than [`FUTURE_TOLERANCE_S`]: the data's clock or ours is wrong, and its age
    /// (which would read as 0) cannot be trusted.
    pub fn in_future(&self, now: DateTime<Utc>) -> Option<i64> {
        let ahead = (self.observed_at? - now).num_seconds();
        (self.has_data && ahead > FUTURE_TOLERANCE_S).then_some(ahead)
    }

    /// The next instant after `now` at which time alone changes what [`freshness`] or
    /// [`in_future`] say (the data turns stale, expires, or stops lying in the future);
    /// `None` when neither will change without a refresh.
    ///
    /// [`freshness`]: SourceStatus::freshness
    /// [`in_future`]: SourceStatus::in_future
    pub fn next_state_change(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let t = self
            .has_data
            .then_some(self.observed_at.or(self.last_success))
            .flatten()?;
        let stale = chrono::Duration::from_std(self.stale_after).ok()?;
        // Just after each threshold: freshness compares `age <= threshold`.
        let just = chrono::Duration::milliseconds(1);
        [
            t + stale + just,
            t + stale * 2 + just,
            t - chrono::Duration::seconds(FUTURE_TOLERANCE_S),
        ]
        .into_iter()
        .filter(|at| *at > now)
        .min()
    }
}

/// Clock differences smaller than this (seconds) are not reported as data from the future.
pub const FUTURE_TOLERANCE_S: i64 = 60;
