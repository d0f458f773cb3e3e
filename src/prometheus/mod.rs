//! `GET /metrics/prometheus`: the Prometheus text exposition format (0.0.4) of what the
//! sources hold, pre-rendered on the refresh thread like every other body.
//!
//! Owns the metric names, their types and help texts (documented one by one in
//! `docs/prometheus.md`), the label escaping and the number formatting. Rules:
//! - names start with `energy_monitor_`, values are in base units (watts, joules, bytes,
//!   seconds, ratios 0–1, °C), prices in PLN/kWh as the tariffs are written;
//! - a reading the source does not have is an absent series, never 0; a source's readings
//!   are exported while its data is `fresh` or `stale` and dropped once it is `expired`;
//! - no timestamps in samples, and nothing that moves with the clock alone: instants are
//!   exported as unix-seconds gauges (`..._timestamp_seconds`), so the body (and its ETag)
//!   changes only when data changes (and at quarter-hour boundaries, for the price now).
//!
//! This module holds the route, the renderer and the order of the body
//! ([`exposition_live`]); the writer and its escaping are in `format`, and each domain's
//! families in its own file: `source_status` (every source), `coordinator` (inverter,
//! coordinator process, decisions' figures), `prices`, `host`.

mod coordinator;
mod format;
mod host;
mod prices;
mod source_status;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock;
use crate::http::routes::{from_snapshot, Route};
use crate::refresh::{Follows, Freshness, Renderer, SourceId};
use crate::snapshot::live::Live;
use crate::snapshot::Body;
use crate::sources::store::{Sources, View};

use format::unix;
pub use format::Exposition;

pub const ROUTE: &str = "/metrics/prometheus";

/// The exposition's route, served from the snapshot.
pub fn route() -> Route {
    Route::exact(ROUTE, from_snapshot)
}
/// The exposition format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Every metric name starts with this.
pub const PREFIX: &str = "energy_monitor_";

/// The sources the body is built from: all of them.
const INPUTS: &[SourceId] = &SourceId::ALL;

/// The source's data while it is fresh or stale; `None` once expired or never read.
fn usable<'a, T>(view: &View<'a>, id: SourceId, data: &'a Option<Arc<T>>) -> Option<&'a T> {
    let s = view.get(id)?;
    match s.freshness(view.now) {
        Freshness::Fresh | Freshness::Stale => data.as_deref(),
        Freshness::Expired | Freshness::Unavailable => None,
    }
}

/// The whole exposition for `view`, as answered at the view's time.
pub fn exposition(view: &View, started_at: Option<DateTime<Utc>>) -> String {
    let bytes = exposition_live(view, started_at).fill(view.now);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The whole exposition for `view`, with the sources' last successes left as holes.
pub fn exposition_live(view: &View, started_at: Option<DateTime<Utc>>) -> Live {
    let mut e = Exposition::new();
    e.family(
        "build_info",
        "gauge",
        "Always 1; the version label says which energy-monitor runs.",
    );
    e.sample(&[("version", env!("CARGO_PKG_VERSION"))], 1.0);
    e.single(
        "process_start_time_seconds",
        "gauge",
        "When energy-monitor started (unix seconds).",
        started_at.map(unix),
    );
    source_status::sources(&mut e, view.sources);
    if let Some(d) = usable(view, SourceId::Inverter, &view.data.inverter) {
        coordinator::inverter(&mut e, d);
    }
    if let Some(d) = usable(view, SourceId::Prices, &view.data.prices) {
        prices::prices(&mut e, d, view.now);
    }
    if let Some(r) = usable(view, SourceId::Coordinator, &view.data.coordinator) {
        coordinator::coordinator_process(&mut e, r);
    }
    if let Some(d) = usable(view, SourceId::Metrics, &view.data.metrics) {
        coordinator::coordinator_data(&mut e, d);
    }
    if let Some(r) = usable(view, SourceId::Host, &view.data.host) {
        host::host(&mut e, r);
    }
    e.finish_live()
}

/// Renders [`ROUTE`].
pub struct PrometheusRenderer {
    started_at: DateTime<Utc>,
}

impl Default for PrometheusRenderer {
    fn default() -> Self {
        PrometheusRenderer {
            started_at: clock::now(),
        }
    }
}

impl Renderer<Sources> for PrometheusRenderer {
    fn inputs(&self) -> &'static [SourceId] {
        INPUTS
    }

    /// Each source's failure count; its last success is filled when the body is answered.
    fn follows(&self, _view: &View) -> Follows {
        Follows::Outcomes
    }

    /// The price now and the windows ahead change with the quarter hour.
    fn changes_at(&self, view: &View) -> Option<DateTime<Utc>> {
        Some(clock::next_quarter(view.now))
    }

    fn render(&self, view: &View) -> Vec<(String, Body)> {
        let live = exposition_live(view, Some(self.started_at));
        vec![(
            ROUTE.to_string(),
            Body::from_live(200, CONTENT_TYPE, live, view.now),
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refresh::SourceStatus;
    use crate::sources::host::{fixture, Temperature};

    fn view_of<'a>(statuses: &'a [SourceStatus], store: &'a Sources) -> View<'a> {
        View {
            sources: statuses,
            data: store,
            now: clock::now(),
        }
    }

    use fixture::status as host_status;

    #[test]
    fn a_host_without_sensors_has_no_temperature_series() {
        let statuses = [host_status()];
        let store = fixture::store(fixture::report());
        let text = exposition(&view_of(&statuses, &store), None);
        assert!(!text.contains("energy_monitor_host_temperature"), "{text}");
        assert!(text.contains("energy_monitor_host_memory_total_bytes 4000000000\n"));
        assert!(text.contains("energy_monitor_host_filesystem_files{mountpoint=\"/\"} 1000\n"));
        assert!(text.contains(
            "energy_monitor_host_filesystem_role_info{mountpoint=\"/\",role=\"data_dir\"} 1\n"
        ));
        assert!(text.contains("energy_monitor_source_up{source=\"host\"} 1\n"));
        // Sources without data export no readings.
        assert!(!text.contains("battery"), "{text}");

        let mut hot = fixture::report();
        hot.temperatures.push(Temperature {
            sensor: "cpu_thermal".into(),
            celsius: 61.5,
            critical_celsius: None,
        });
        let store = fixture::store(hot);
        let statuses = [host_status()];
        let text = exposition(&view_of(&statuses, &store), None);
        assert!(
            text.contains("energy_monitor_host_temperature_celsius{sensor=\"cpu_thermal\"} 61.5\n")
        );
        assert!(!text.contains("temperature_critical"), "{text}");
    }

    #[test]
    fn expired_data_is_absent() {
        let mut s = host_status();
        s.last_success = Some(clock::now() - chrono::Duration::seconds(600));
        let statuses = [s];
        let store = fixture::store(fixture::report());
        let text = exposition(&view_of(&statuses, &store), None);
        assert!(!text.contains("energy_monitor_host_"), "{text}");
        assert!(
            text.contains("energy_monitor_source_last_success_timestamp_seconds{source=\"host\"}")
        );
    }
}
