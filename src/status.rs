//! `/health` and `/status`: is the daemon alive, and how current is each source?
//!
//! Both bodies are rebuilt by the refresh thread when a source's data, state or errors
//! change, never on a clock tick or for a run that found nothing new; what moves every second (ages, countdowns,
//! uptimes, the time of the answer) is left as [`Hole`](crate::snapshot::Hole)s that the connection fills when it
//! answers, so each answer is exact to the second and copies bytes otherwise. Whether the
//! refresh thread itself is alive is decided per request from the lock-free
//! [`Heartbeat`]: when it is dead or silent, `/status` answers 503 (see
//! [`dead_refresh_body`]). A source outage is *not* a
//! 503: it shows as `health: "degraded"` with a 200, so that a probe never restarts the
//! daemon over someone else's outage.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::clock;
use crate::http::routes::{from_snapshot, HttpContext, Reply, RequestInfo, Route};
use crate::refresh::{Follows, Freshness, Heartbeat, Renderer, Run, SourceId, SourceStatus};
use crate::snapshot::{At, Body, Holes, Show, Snapshot};
use crate::sources::coordinator::ProcessReport;
use crate::sources::host::{self, HostReport};
use crate::sources::store::{Sources, View};

pub const STATUS: &str = "/status";
pub const HEALTH: &str = "/health";

/// Renders `/status` and `/health`.
pub struct StatusRenderer {
    started_at: chrono::DateTime<chrono::Utc>,
    heartbeat: Arc<Heartbeat>,
    /// `demo` when serving the demo's synthetic data, else `live`.
    origin: &'static str,
}

impl StatusRenderer {
    pub fn new(heartbeat: Arc<Heartbeat>) -> StatusRenderer {
        StatusRenderer {
            started_at: clock::now(),
            heartbeat,
            origin: "live",
        }
    }

    /// Says `origin: "demo"` (the config's `demo: true`).
    pub fn demo(mut self, demo: bool) -> StatusRenderer {
        self.origin = if demo { "demo" } else { "live" };
        self
    }
}

/// Why an unavailable source is expected to be unavailable on this machine (it is then not
/// a problem): a journal where there is no `journalctl` or no journal, i.e. no systemd.
pub fn expected_absence(s: &SourceStatus, now: chrono::DateTime<chrono::Utc>) -> Option<String> {
    let error = s.last_error.as_deref()?;
    let no_journal = s.id == SourceId::Journal
        && s.freshness(now) == Freshness::Unavailable
        && ((error.starts_with("cannot run") && error.contains("No such file"))
            || error.contains("found no journal"));
    no_journal.then(|| {
        "no systemd journal on this machine (journalctl is missing or finds no journal); \
         the coordinator's log files are still read"
            .to_string()
    })
}

/// The cache-age keys of the original dashboard, and the sources behind them.
const COMPAT_AGES: [(&str, SourceId); 3] = [
    ("inverter", SourceId::Inverter),
    ("price", SourceId::Prices),
    ("metrics", SourceId::Metrics),
];

/// What a source's status says that changes only when the source reports or its state
/// changes (the dashboard embeds this, so that an unchanged poll stays a 304).
/// A refresh that finds the same data moves none of it: `changed_at` is when the data held
/// was first read, and `observed_at` falls back to it.
fn source_stable_json(s: &SourceStatus, view: &View) -> Map<String, Value> {
    let observed = s.observed_at.or(s.changed_at).filter(|_| s.has_data);
    json!({
        "state": s.freshness(view.now),
        "changed_at": s.changed_at.map(clock::local_rfc3339),
        "observed_at": observed.map(clock::local_rfc3339),
        "stale_after_s": s.stale_after.as_secs(),
        "origin": s.origin,
        "last_error": s.last_error,
        "last_error_at": s.last_error_at.map(clock::local_rfc3339),
        "consecutive_failures": s.consecutive_failures,
        "interval_s": s.interval.as_secs(),
        "warnings": s.warnings,
        "expected_absence": expected_absence(s, view.now),
    })
    .as_object()
    .cloned()
    .unwrap_or_default()
}

/// The stable part plus the run record and what moves every second (age, schedule, the
/// run in flight), all as holes: they are answered as of the request, and a run that brings
/// nothing new rebuilds nothing.
fn source_json(s: &SourceStatus, view: &View, holes: &mut Holes) -> Value {
    let mut map = source_stable_json(s, view);
    // The age is measured from the observation time, else from the last success.
    let observed = match (s.has_data, s.observed_at) {
        (false, _) => None,
        (true, Some(t)) => Some(At::Fixed(t)),
        (true, None) => Some(s.run(Run::LastSuccess)),
    };
    map.insert(
        "last_success".into(),
        holes.put(s.run(Run::LastSuccess), Show::Rfc3339),
    );
    map.insert(
        "observed_at".into(),
        holes.put_opt(observed.clone(), Show::Rfc3339),
    );
    map.insert("age_s".into(), holes.put_opt(observed, Show::SecondsSince));
    // While the observation lies ahead (the scheduler re-renders when that ends).
    let ahead = s.in_future(view.now).and(s.observed_at).map(At::Fixed);
    map.insert(
        "observed_in_future_s".into(),
        holes.put_opt(ahead, Show::SecondsUntil),
    );
    map.insert(
        "last_attempt".into(),
        holes.put(s.run(Run::LastAttempt), Show::Rfc3339),
    );
    map.insert(
        "next_refresh_in_s".into(),
        holes.put(s.run(Run::NextRefresh), Show::SecondsUntil),
    );
    map.insert(
        "in_flight_s".into(),
        holes.put(s.run(Run::InFlightSince), Show::SecondsSince),
    );
    map.insert(
        "last_duration_ms".into(),
        holes.put(s.run(Run::LastDurationMs), Show::Number),
    );
    Value::Object(map)
}

/// Plain-language problems, most important first, for the page header and for people
/// reading `/status` by hand.
fn problems(
    view: &View,
    coordinator: Option<&ProcessReport>,
    host: Option<&HostReport>,
) -> Vec<String> {
    let mut out = Vec::new();
    match coordinator {
        Some(r) if !r.running => out.push("the coordinator process is not running".to_string()),
        _ => {}
    }
    out.extend(host.iter().flat_map(|h| h.warnings.iter().cloned()));
    for s in view.sources {
        let state = s.freshness(view.now);
        // The amount is in `sources.<name>.observed_in_future_s`; the text stays the same
        // while it lasts, so the dashboard's status part does not change every second.
        if s.in_future(view.now).is_some() {
            out.push(format!(
                "{}: the newest data is stamped more than a minute in the future; this host's clock (or the writer's) is wrong, so its age is unknown",
                s.name()
            ));
        }
        out.extend(s.warnings.iter().map(|w| format!("{}: {}", s.name(), w)));
        if expected_absence(s, view.now).is_some() {
            continue;
        }
        match (&s.last_error, state) {
            (Some(e), _) => out.push(format!("{}: {}", s.name(), e)),
            (None, Freshness::Fresh) => {}
            (None, Freshness::Unavailable) if s.last_attempt.is_none() => {
                out.push(format!("{}: not read yet", s.name()))
            }
            (None, state) => out.push(format!("{}: data is {}", s.name(), state.as_str())),
        }
    }
    out
}

impl Renderer<Sources> for StatusRenderer {
    fn inputs(&self) -> &'static [SourceId] {
        &SourceId::ALL
    }

    /// `/status` shows every source's errors and warnings (its runs are holes).
    fn follows(&self, _view: &View) -> Follows {
        Follows::Outcomes
    }

    fn render(&self, view: &View) -> Vec<(String, Body)> {
        let now = view.now;
        let mut holes = Holes::new();
        let coordinator = view.data.coordinator.as_deref();
        let logs = view.data.logs.as_deref();
        let host = view.data.host.as_deref();
        let host_json = host.map(|h| host::status_json(h, now));

        let mut sources = Map::new();
        for s in view.sources {
            sources.insert(s.name().to_string(), source_json(s, view, &mut holes));
        }
        let mut cache_ages = Map::new();
        let mut last_errors = Map::new();
        for (key, source) in COMPAT_AGES {
            let s = view.get(source);
            let age = s.map_or(Value::Null, |s| {
                holes.put(s.run(Run::LastSuccess), Show::MillisSince)
            });
            cache_ages.insert(format!("{key}_s"), age);
            last_errors.insert(key.to_string(), json!(s.and_then(|s| s.last_error.clone())));
        }
        let all_fresh = view.sources.iter().all(|s| {
            (s.freshness(now) == Freshness::Fresh && s.in_future(now).is_none())
                || expected_absence(s, now).is_some()
        }) && host.is_none_or(|h| h.warnings.is_empty());
        let log_files: Map<String, Value> = logs
            .map(|l| {
                l.files
                    .iter()
                    .map(|f| {
                        (
                            f.name.clone(),
                            json!({"size": f.size, "modified": f.modified.map(clock::local_rfc3339)}),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let coordinator_json = coordinator.map(|r| {
            json!({
                "running": r.running,
                "pid": r.pid,
                "started_at": r.started_at.map(clock::local_rfc3339),
                "uptime_s": match r.started_at {
                    Some(t) => holes.put(At::Fixed(t), Show::SecondsSince),
                    None => json!(r.uptime_s),
                },
                "uptime_human": match r.started_at {
                    Some(t) => holes.put(At::Fixed(t), Show::HumanSince),
                    None => json!(r.uptime_s.map(clock::human_duration)),
                },
                "cpu_percent": r.cpu_percent.map(|c| (c * 10.0).round() / 10.0),
                "rss_bytes": r.rss_bytes,
                "command": r.command,
                "found_by": r.found_by,
                "simulated": r.simulated,
            })
        });
        let storage = crate::sources::storage_state(view);
        // The host's uptime, as of the answer.
        let host_live = host_json.as_ref().map(|h| {
            let mut h = h.clone();
            let boot = host.and_then(|r| r.boot_time);
            if let (Some(o), Some(boot)) = (h.as_object_mut(), boot) {
                let boot = At::Fixed(boot);
                o.insert(
                    "uptime_s".into(),
                    holes.put(boot.clone(), Show::SecondsSince),
                );
                o.insert("uptime_human".into(), holes.put(boot, Show::HumanSince));
            }
            h
        });
        let status = json!({
            "status": "running",
            "origin": self.origin,
            "version": env!("CARGO_PKG_VERSION"),
            "timestamp": holes.put(At::Now, Show::Rfc3339),
            "started_at": clock::local_rfc3339(self.started_at),
            "coordinator_running": coordinator.map(|r| r.running),
            "coordinator_pid": coordinator.and_then(|r| r.pid),
            "coordinator": coordinator_json,
            "server_uptime": holes.put(At::Fixed(self.started_at), Show::TenthsSince),
            "server_uptime_human": holes.put(At::Fixed(self.started_at), Show::HumanSince),
            "storage": storage,
            "host": host_live,
            "background_worker": {
                "alive": self.heartbeat.is_alive(),
                "health": if all_fresh { "healthy" } else { "degraded" },
                "cache_ages": cache_ages,
                "last_errors": last_errors,
            },
            "log_files": log_files,
            "sources": sources,
            "problems": problems(view, coordinator, host),
        });
        let dashboard_status = json!({
            "origin": self.origin,
            "version": env!("CARGO_PKG_VERSION"),
            "started_at": clock::local_rfc3339(self.started_at),
            "coordinator_running": coordinator.map(|r| r.running),
            "coordinator": coordinator.map(|r| json!({
                "running": r.running,
                "pid": r.pid,
                "started_at": r.started_at.map(clock::local_rfc3339),
                "cpu_percent": r.cpu_percent.map(|c| (c * 10.0).round() / 10.0),
                "rss_bytes": r.rss_bytes,
                "simulated": r.simulated,
            })),
            "storage": crate::sources::storage_state(view),
            // Without the uptime, which ticks: the page computes it from `boot_time`.
            "host": host_json.as_ref().map(|h| {
                let mut h = h.clone();
                if let Some(o) = h.as_object_mut() {
                    o.remove("uptime_s");
                    o.remove("uptime_human");
                }
                h
            }),
            "health": if all_fresh { "healthy" } else { "degraded" },
            "sources": view
                .sources
                .iter()
                .map(|s| (s.name().to_string(), Value::Object(source_stable_json(s, view))))
                .collect::<Map<String, Value>>(),
            "problems": problems(view, coordinator, host),
        });
        let mut health_holes = Holes::new();
        let health = json!({
            "service": "energy-monitor",
            "status": "healthy",
            "version": env!("CARGO_PKG_VERSION"),
            "timestamp": health_holes.put(At::Now, Show::Rfc3339),
        });
        vec![
            (STATUS.to_string(), Body::live(200, &status, holes, now)),
            (
                HEALTH.to_string(),
                Body::live(200, &health, health_holes, now),
            ),
            (
                crate::web::DASHBOARD_STATUS.to_string(),
                Body::json(200, &dashboard_status),
            ),
        ]
    }
}

/// The 503 answer when the refresh thread is dead or has been silent too long.
pub fn dead_refresh_body(heartbeat: &Heartbeat) -> Body {
    let why = if heartbeat.has_finished() {
        "the refresh thread has stopped".to_string()
    } else {
        format!(
            "the refresh thread has made no progress for {} s",
            heartbeat.silence().as_secs()
        )
    };
    Body::json(
        503,
        &json!({
            "status": "failed",
            "timestamp": clock::local_rfc3339(clock::now()),
            "version": env!("CARGO_PKG_VERSION"),
            "background_worker": {"alive": false, "health": "failed"},
            "error": why,
        }),
    )
}

/// The routes of this feature: `/health` from the snapshot, `/status` from the snapshot
/// unless the refresh thread is silent.
pub fn routes() -> Vec<Route> {
    vec![
        Route::exact(HEALTH, from_snapshot),
        Route::exact(STATUS, status_route),
    ]
}

fn status_route(req: &RequestInfo, snap: &Snapshot, ctx: &HttpContext) -> Reply {
    if !ctx.heartbeat.is_alive() {
        return Reply::Owned(dead_refresh_body(&ctx.heartbeat));
    }
    from_snapshot(req, snap, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::query::Query;
    use crate::http::routes::dispatch;
    use crate::sources::host::fixture;
    use std::time::Duration;

    fn status_with(report: HostReport) -> Value {
        let store = fixture::store(report);
        let statuses = [fixture::status()];
        let view = View {
            sources: &statuses,
            data: &store,
            now: clock::now(),
        };
        let r = StatusRenderer::new(Arc::new(Heartbeat::new(Duration::from_secs(60))));
        let body = r.render(&view).remove(0).1;
        serde_json::from_slice(&body.bytes).unwrap()
    }

    #[test]
    fn a_crossed_host_threshold_is_a_problem_and_degrades_health() {
        let v = status_with(fixture::report());
        assert_eq!(v["background_worker"]["health"], "healthy", "{v}");
        assert_eq!(v["problems"], json!([]));
        assert_eq!(v["host"]["temperatures"], json!([]));
        assert!(v["host"]["max_temperature_celsius"].is_null());

        let mut r = fixture::report();
        r.warnings = vec!["disk almost full: / is 95% used (warning at 90%)".into()];
        let v = status_with(r);
        assert_eq!(v["background_worker"]["health"], "degraded");
        assert_eq!(
            v["problems"],
            json!(["disk almost full: / is 95% used (warning at 90%)"])
        );
        assert_eq!(v["host"]["warnings"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn a_reading_from_the_future_is_a_problem_not_fresh_data() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-20T12:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let mut s = SourceStatus::new(
            SourceId::Inverter,
            Duration::from_secs(30),
            Duration::from_secs(60),
        );
        s.has_data = true;
        s.last_success = Some(now);
        s.last_attempt = Some(now);
        // The writer's clock is 2 h ahead of ours (or ours is behind).
        s.observed_at = Some(now + chrono::Duration::hours(2));
        let statuses = [s];
        let store = Sources::default();
        let view = View {
            sources: &statuses,
            data: &store,
            now,
        };
        assert_eq!(statuses[0].in_future(now), Some(7200));
        let p = problems(&view, None, None);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with(
                "inverter: the newest data is stamped more than a minute in the future"
            ),
            "{p:?}"
        );
        let status =
            StatusRenderer::new(Arc::new(Heartbeat::new(Duration::from_secs(5)))).render(&view);
        let body: Value = serde_json::from_slice(&status[0].1.bytes).unwrap();
        assert_eq!(body["background_worker"]["health"], "degraded");
        assert_eq!(body["sources"]["inverter"]["observed_in_future_s"], 7200);
        // A few seconds ahead is ordinary clock jitter.
        let mut near = statuses[0].clone();
        near.observed_at = Some(now + chrono::Duration::seconds(5));
        assert_eq!(near.in_future(now), None);
    }

    fn info(path: &str, method: &str) -> RequestInfo {
        RequestInfo {
            method: method.into(),
            path: path.into(),
            query: Query::default(),
            if_none_match: None,
            accepts_gzip: false,
            last_event_id: None,
        }
    }

    fn snapshot_with_status() -> Snapshot {
        let mut s = Snapshot::default();
        s.bodies.insert(
            STATUS.into(),
            Arc::new(Body::json(200, &json!({"status": "running"}))),
        );
        s
    }

    fn context(heartbeat: Heartbeat) -> HttpContext {
        HttpContext::new(Arc::new(heartbeat), Arc::default())
    }

    fn status_of(reply: Reply) -> u16 {
        match reply {
            Reply::Shared(b) => b.status,
            Reply::Owned(b) => b.status,
            Reply::Stream(_) => 0,
        }
    }

    #[test]
    fn status_is_503_only_when_the_refresh_thread_is_silent() {
        let alive = context(Heartbeat::new(Duration::from_secs(60)));
        let snap = snapshot_with_status();
        assert_eq!(
            status_of(dispatch(&routes(), &info("/status", "GET"), &snap, &alive)),
            200
        );
        let silent = context(Heartbeat::new(Duration::from_millis(1)));
        std::thread::sleep(Duration::from_millis(20));
        let reply = dispatch(&routes(), &info("/status", "GET"), &snap, &silent);
        match reply {
            Reply::Owned(b) => {
                assert_eq!(b.status, 503);
                let v: serde_json::Value = serde_json::from_slice(&b.bytes).unwrap();
                assert_eq!(v["background_worker"]["health"], "failed");
                assert!(v["error"].as_str().unwrap().contains("no progress"));
            }
            _ => panic!("expected an owned 503 body"),
        }
    }

    #[test]
    fn unknown_paths_and_methods() {
        let ctx = context(Heartbeat::new(Duration::from_secs(60)));
        let snap = snapshot_with_status();
        assert_eq!(
            status_of(dispatch(&routes(), &info("/nope", "GET"), &snap, &ctx)),
            404
        );
        assert_eq!(
            status_of(dispatch(&routes(), &info("/status", "DELETE"), &snap, &ctx)),
            405
        );
        // A known route whose body is not built yet says so, with a 503.
        assert_eq!(
            status_of(dispatch(&routes(), &info("/health", "GET"), &snap, &ctx)),
            503
        );
    }
}
