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

use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock;
use crate::http::routes::{from_snapshot, Route};
use crate::refresh::{Follows, Freshness, Renderer, Run, SourceId, SourceStatus};
use crate::snapshot::live::Live;
use crate::snapshot::{At, Body, Hole, Show};
use crate::sources::coordinator::ProcessReport;
use crate::sources::coordinator_db::decisions::number;
use crate::sources::coordinator_db::inverter::InverterData;
use crate::sources::coordinator_db::source::CoordinatorData;
use crate::sources::host::HostReport;
use crate::sources::prices::model::PriceData;
use crate::sources::prices::windows;
use crate::sources::store::{Sources, View};

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

/// kWh → J.
const JOULES_PER_KWH: f64 = 3.6e6;

/// Builds an exposition body. A family's `# HELP`/`# TYPE` lines are written with its
/// first sample, so a family without samples does not appear at all.
pub struct Exposition {
    out: String,
    name: &'static str,
    header: Option<(&'static str, &'static str)>,
    /// Values filled when the body is answered, at byte offsets of `out`.
    holes: Vec<(usize, Hole)>,
}

impl Default for Exposition {
    fn default() -> Self {
        Exposition::new()
    }
}

impl Exposition {
    pub fn new() -> Exposition {
        Exposition {
            out: String::with_capacity(8 * 1024),
            name: "",
            header: None,
            holes: Vec::new(),
        }
    }

    /// Starts the family `energy_monitor_<name>`; `kind` is `gauge` or `counter`.
    pub fn family(&mut self, name: &'static str, kind: &'static str, help: &'static str) {
        self.name = name;
        self.header = Some((kind, help));
    }

    /// One sample of the current family; a non-finite value is skipped.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) {
        if !value.is_finite() {
            return;
        }
        self.start_sample(labels);
        let _ = writeln!(self.out, " {value}");
    }

    /// One sample whose value is filled when the body is answered (unix seconds of `at`).
    pub fn sample_at(&mut self, labels: &[(&str, &str)], at: At) {
        self.start_sample(labels);
        self.out.push(' ');
        self.holes.push((
            self.out.len(),
            Hole {
                at,
                show: Show::UnixSeconds,
            },
        ));
        self.out.push('\n');
    }

    /// The family's header (once) and the sample's name and labels.
    fn start_sample(&mut self, labels: &[(&str, &str)]) {
        if let Some((kind, help)) = self.header.take() {
            let _ = writeln!(
                self.out,
                "# HELP {PREFIX}{} {}",
                self.name,
                escape_help(help)
            );
            let _ = writeln!(self.out, "# TYPE {PREFIX}{} {kind}", self.name);
        }
        self.out.push_str(PREFIX);
        self.out.push_str(self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                escape_label_into(&mut self.out, v);
                self.out.push('"');
            }
            self.out.push('}');
        }
    }

    /// A sample when the value is present.
    pub fn maybe(&mut self, labels: &[(&str, &str)], value: Option<f64>) {
        if let Some(v) = value {
            self.sample(labels, v);
        }
    }

    /// A one-family shortcut for an unlabelled optional value.
    pub fn single(
        &mut self,
        name: &'static str,
        kind: &'static str,
        help: &'static str,
        value: Option<f64>,
    ) {
        self.family(name, kind, help);
        self.maybe(&[], value);
    }

    pub fn finish(self) -> String {
        self.out
    }

    /// The text with its holes (values filled when it is answered).
    pub fn finish_live(self) -> Live {
        Live::at_offsets(self.out.as_bytes(), self.holes)
    }
}

/// A label value as the format wants it: `\` → `\\`, `"` → `\"`, newline → `\n`.
fn escape_label_into(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(h: &str) -> String {
    h.replace('\\', "\\\\").replace('\n', "\\n")
}

fn unix(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// The source's data while it is fresh or stale; `None` once expired or never read.
fn usable<'a, T>(view: &View<'a>, id: SourceId, data: &'a Option<Arc<T>>) -> Option<&'a T> {
    let s = view.get(id)?;
    match s.freshness(view.now) {
        Freshness::Fresh | Freshness::Stale => data.as_deref(),
        Freshness::Expired | Freshness::Unavailable => None,
    }
}

fn sources(e: &mut Exposition, all: &[SourceStatus]) {
    e.family(
        "source_up",
        "gauge",
        "1 when the source's last refresh succeeded and it holds data, else 0.",
    );
    for s in all {
        let up = s.has_data && s.consecutive_failures == 0 && s.last_success.is_some();
        e.sample(&[("source", s.name())], if up { 1.0 } else { 0.0 });
    }
    e.family(
        "source_last_success_timestamp_seconds",
        "gauge",
        "When the source last refreshed successfully (unix seconds); age = time() - this.",
    );
    for s in all {
        if s.last_success.is_some() {
            e.sample_at(&[("source", s.name())], s.run(Run::LastSuccess));
        }
    }
    e.family(
        "source_data_timestamp_seconds",
        "gauge",
        "When the source's data was observed at its origin (unix seconds), e.g. the inverter reading's time.",
    );
    for s in all {
        match (s.has_data, s.observed_at) {
            (false, _) => {}
            (true, Some(t)) => e.sample(&[("source", s.name())], unix(t)),
            (true, None) => e.sample_at(&[("source", s.name())], s.run(Run::LastSuccess)),
        }
    }
    e.family(
        "source_stale_after_seconds",
        "gauge",
        "Age after which the source's data counts as stale (expired after twice this).",
    );
    for s in all {
        e.sample(&[("source", s.name())], s.stale_after.as_secs_f64());
    }
    e.family(
        "source_consecutive_failures",
        "gauge",
        "Failed refreshes of the source since its last success.",
    );
    for s in all {
        e.sample(&[("source", s.name())], f64::from(s.consecutive_failures));
    }
}

fn inverter(e: &mut Exposition, d: &InverterData) {
    let v = &d.reading.data;
    let n = |path: &str| number(v.pointer(path));
    let kwh = |path: &str| n(path).map(|x| (x * JOULES_PER_KWH).round());
    e.single(
        "battery_state_of_charge_ratio",
        "gauge",
        "Battery state of charge, 0-1 (the reading's battery.soc_percent / 100).",
        n("/battery/soc_percent").map(|x| x / 100.0),
    );
    e.single(
        "battery_power_watts",
        "gauge",
        "Battery power in the inverter's sign convention, watts.",
        n("/battery/power_w"),
    );
    e.single(
        "battery_temperature_celsius",
        "gauge",
        "Battery temperature reported by the inverter, degrees Celsius.",
        n("/battery/temperature"),
    );
    e.single(
        "pv_power_watts",
        "gauge",
        "Photovoltaic power, watts.",
        n("/photovoltaic/current_power_w"),
    );
    e.single(
        "house_power_watts",
        "gauge",
        "House consumption, watts.",
        n("/house_consumption/current_power_w"),
    );
    e.single(
        "grid_power_watts",
        "gauge",
        "Grid power, watts; negative = import, positive = export.",
        n("/grid/power_w"),
    );
    e.single(
        "pv_energy_today_joules",
        "gauge",
        "PV energy produced today per the inverter's daily counter (resets at local midnight), joules.",
        kwh("/photovoltaic/daily_production_kwh"),
    );
    e.single(
        "house_energy_today_joules",
        "gauge",
        "House energy consumed today per the inverter's daily counter (resets at local midnight), joules.",
        kwh("/house_consumption/daily_total_kwh"),
    );
    e.single(
        "grid_import_energy_today_joules",
        "gauge",
        "Energy imported from the grid today per the inverter's daily counter (resets at local midnight), joules.",
        kwh("/grid/today_imported_kwh"),
    );
    e.single(
        "grid_export_energy_today_joules",
        "gauge",
        "Energy exported to the grid today per the inverter's daily counter (resets at local midnight), joules.",
        kwh("/grid/today_exported_kwh"),
    );
    e.single(
        "grid_import_energy_joules_total",
        "counter",
        "Energy imported from the grid per the meter's lifetime counter, joules.",
        kwh("/grid/total_imported_kwh"),
    );
    e.single(
        "grid_export_energy_joules_total",
        "counter",
        "Energy exported to the grid per the meter's lifetime counter, joules.",
        kwh("/grid/total_exported_kwh"),
    );
}

fn prices(e: &mut Exposition, d: &PriceData, now: DateTime<Utc>) {
    let today = clock::local_date(now);
    let days = [
        d.day(today, now),
        today.succ_opt().and_then(|t| d.day(t, now)),
    ];
    let current = days[0]
        .into_iter()
        .flat_map(|day| day.quarters.iter())
        .find(|q| q.start <= now && now < q.end)
        .map(|q| d.tariff.price(q.market_pln_mwh, q.start));
    e.family(
        "price_market_pln_per_kwh",
        "gauge",
        "Day-ahead market price of the current quarter hour, PLN/kWh; zone = distribution tariff zone.",
    );
    if let Some(p) = &current {
        e.sample(&[("zone", p.zone)], p.market);
    }
    e.family(
        "price_final_pln_per_kwh",
        "gauge",
        "Final price of the current quarter hour (market + SC component + distribution), PLN/kWh.",
    );
    if let Some(p) = &current {
        e.sample(&[("zone", p.zone)], p.final_price);
    }
    let slots: Vec<windows::Slot> = days
        .iter()
        .flatten()
        .flat_map(|day| day.quarters.iter())
        .filter(|q| q.end > now)
        .map(|q| windows::Slot {
            start: q.start,
            end: q.end,
            price: d.tariff.price(q.market_pln_mwh, q.start).final_price,
        })
        .collect();
    let cheapest: Vec<(&str, windows::Window)> = [("1", 1usize), ("2", 2), ("3", 3)]
        .into_iter()
        .filter_map(|(label, h)| Some((label, windows::extremes(&slots, h * 4).0?)))
        .collect();
    e.family(
        "price_cheapest_window_start_timestamp_seconds",
        "gauge",
        "Start of the cheapest contiguous window of the given hours from now to the end of the published prices (unix seconds).",
    );
    for (h, w) in &cheapest {
        e.sample(&[("hours", h)], unix(w.start));
    }
    e.family(
        "price_cheapest_window_average_pln_per_kwh",
        "gauge",
        "Mean final price of that cheapest window, PLN/kWh.",
    );
    for (h, w) in &cheapest {
        e.sample(&[("hours", h)], w.average);
    }
}

fn coordinator_process(e: &mut Exposition, r: &ProcessReport) {
    e.single(
        "coordinator_up",
        "gauge",
        "1 when the coordinator process was found running at the last check, else 0.",
        Some(if r.running { 1.0 } else { 0.0 }),
    );
    e.single(
        "coordinator_cpu_usage_ratio",
        "gauge",
        "The coordinator's share of the whole machine's CPU over the last check interval, 0-1.",
        r.cpu_percent.map(|c| f64::from(c) / 100.0),
    );
    e.single(
        "coordinator_resident_memory_bytes",
        "gauge",
        "The coordinator's resident set size, bytes.",
        r.rss_bytes.map(|b| b as f64),
    );
    e.single(
        "coordinator_start_time_seconds",
        "gauge",
        "When the coordinator process started (unix seconds).",
        r.started_at.map(unix),
    );
}

fn coordinator_data(e: &mut Exposition, d: &CoordinatorData) {
    let day = &d.metrics.last_24h.decisions;
    e.family(
        "decisions_last_24h",
        "gauge",
        "The coordinator's decisions in the last 24 hours, by category.",
    );
    for (c, n) in [
        ("charging", day.charging),
        ("selling", day.selling),
        ("wait", day.wait),
    ] {
        e.sample(&[("category", c)], n as f64);
    }
    let m = &d.metrics.month_to_date;
    e.family(
        "month_decisions",
        "gauge",
        "The coordinator's decisions this month (local time), by category.",
    );
    for (c, n) in [
        ("charging", m.decisions.charging),
        ("selling", m.decisions.selling),
        ("wait", m.decisions.wait),
    ] {
        e.sample(&[("category", c)], n as f64);
    }
    e.single(
        "month_energy_charged_joules",
        "gauge",
        "Energy the charging decisions of this month planned (sum of energy_kwh), joules.",
        m.energy_charged_kwh.map(|x| x * JOULES_PER_KWH),
    );
    e.single(
        "month_charging_cost_pln",
        "gauge",
        "Cost of this month's charging decisions, PLN.",
        m.charging_cost_pln,
    );
    e.single(
        "month_savings_pln",
        "gauge",
        "This month's charging savings against each day's average price, PLN.",
        m.savings_vs_daily_average_pln,
    );
    e.single(
        "month_selling_revenue_pln",
        "gauge",
        "This month's revenue of battery sales recorded as successful, PLN.",
        m.selling_revenue_pln,
    );
}

fn host(e: &mut Exposition, r: &HostReport) {
    e.single(
        "host_cpu_usage_ratio",
        "gauge",
        "CPU usage of the whole machine over the last host interval, 0-1.",
        r.cpu_percent.map(|c| c / 100.0),
    );
    e.family(
        "host_cpu_core_usage_ratio",
        "gauge",
        "CPU usage per core over the last host interval, 0-1.",
    );
    for (i, c) in r.cpu_cores_percent.iter().enumerate() {
        e.sample(&[("core", &i.to_string())], c / 100.0);
    }
    e.single(
        "host_cpus",
        "gauge",
        "Number of logical CPUs.",
        (!r.cpu_cores_percent.is_empty()).then_some(r.cpu_cores_percent.len() as f64),
    );
    for (name, help, i) in [
        ("host_load1", "1-minute load average.", 0),
        ("host_load5", "5-minute load average.", 1),
        ("host_load15", "15-minute load average.", 2),
    ] {
        e.single(name, "gauge", help, r.load.map(|l| l[i]));
    }
    let m = r.memory.as_ref();
    let b = |x: u64| x as f64;
    e.single(
        "host_memory_total_bytes",
        "gauge",
        "Total memory, bytes.",
        m.map(|m| b(m.total_bytes)),
    );
    e.single(
        "host_memory_available_bytes",
        "gauge",
        "Memory available for new work without swapping, bytes.",
        m.map(|m| b(m.available_bytes)),
    );
    e.single(
        "host_swap_total_bytes",
        "gauge",
        "Total swap, bytes.",
        m.map(|m| b(m.swap_total_bytes)),
    );
    e.single(
        "host_swap_used_bytes",
        "gauge",
        "Swap in use, bytes.",
        m.map(|m| b(m.swap_used_bytes)),
    );
    let mp: Vec<String> = r
        .filesystems
        .iter()
        .map(|f| f.mount_point.display().to_string())
        .collect();
    type Field = fn(&crate::sources::host::Filesystem) -> Option<f64>;
    let fields: [(&'static str, &'static str, Field); 5] = [
        (
            "host_filesystem_size_bytes",
            "Size of a filesystem holding watched data, bytes.",
            |f| Some(f.size_bytes as f64),
        ),
        (
            "host_filesystem_available_bytes",
            "Space available to unprivileged users, bytes.",
            |f| Some(f.available_bytes as f64),
        ),
        (
            "host_filesystem_free_bytes",
            "Free space including blocks reserved for root, bytes.",
            |f| Some(f.free_bytes as f64),
        ),
        (
            "host_filesystem_files",
            "Inodes of the filesystem (absent when it does not report them).",
            |f| f.inodes_total.map(|x| x as f64),
        ),
        (
            "host_filesystem_files_free",
            "Free inodes of the filesystem.",
            |f| f.inodes_free.map(|x| x as f64),
        ),
    ];
    for (name, help, get) in fields {
        e.family(name, "gauge", help);
        for (f, m) in r.filesystems.iter().zip(&mp) {
            e.maybe(&[("mountpoint", m)], get(f));
        }
    }
    e.family(
        "host_filesystem_role_info",
        "gauge",
        "What a filesystem holds (coordinator_db, coordinator_out, coordinator_logs, data_dir); always 1.",
    );
    for (f, m) in r.filesystems.iter().zip(&mp) {
        for role in &f.roles {
            e.sample(&[("mountpoint", m), ("role", role)], 1.0);
        }
    }
    e.family(
        "host_temperature_celsius",
        "gauge",
        "Temperature per sensor, degrees Celsius (absent on machines without sensors).",
    );
    for t in &r.temperatures {
        e.sample(&[("sensor", &t.sensor)], t.celsius);
    }
    e.family(
        "host_temperature_critical_celsius",
        "gauge",
        "Critical temperature per sensor as the chip reports it, degrees Celsius.",
    );
    for t in &r.temperatures {
        e.maybe(&[("sensor", &t.sensor)], t.critical_celsius);
    }
    e.single(
        "host_boot_time_seconds",
        "gauge",
        "When the machine booted (unix seconds); uptime = time() - this.",
        r.boot_time.map(unix),
    );
    e.single(
        "host_warnings",
        "gauge",
        "Host thresholds crossed right now (disk, memory, temperature); listed in /status problems.",
        Some(r.warnings.len() as f64),
    );
    e.single(
        "process_resident_memory_bytes",
        "gauge",
        "energy-monitor's own resident set size, bytes.",
        r.process.rss_bytes.map(b),
    );
    e.single(
        "process_cpu_usage_ratio",
        "gauge",
        "energy-monitor's own share of the whole machine's CPU over the last host interval, 0-1.",
        r.process.cpu_percent.map(|c| c / 100.0),
    );
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
    sources(&mut e, view.sources);
    if let Some(d) = usable(view, SourceId::Inverter, &view.data.inverter) {
        inverter(&mut e, d);
    }
    if let Some(d) = usable(view, SourceId::Prices, &view.data.prices) {
        prices(&mut e, d, view.now);
    }
    if let Some(r) = usable(view, SourceId::Coordinator, &view.data.coordinator) {
        coordinator_process(&mut e, r);
    }
    if let Some(d) = usable(view, SourceId::Metrics, &view.data.metrics) {
        coordinator_data(&mut e, d);
    }
    if let Some(r) = usable(view, SourceId::Host, &view.data.host) {
        host(&mut e, r);
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

    #[test]
    fn families_without_samples_are_left_out_and_labels_are_escaped() {
        let mut e = Exposition::new();
        e.single("absent", "gauge", "Never sampled.", None);
        e.family("odd", "gauge", "Help with a \\ backslash\nand a newline.");
        e.sample(&[("sensor", "a\"b\\c\nd")], 1.5);
        e.sample(&[("sensor", "nan")], f64::NAN);
        e.single("big", "counter", "A counter.", Some(1e12));
        let text = e.finish();
        assert_eq!(
            text,
            "# HELP energy_monitor_odd Help with a \\\\ backslash\\nand a newline.\n\
             # TYPE energy_monitor_odd gauge\n\
             energy_monitor_odd{sensor=\"a\\\"b\\\\c\\nd\"} 1.5\n\
             # HELP energy_monitor_big A counter.\n\
             # TYPE energy_monitor_big counter\n\
             energy_monitor_big 1000000000000\n"
        );
    }

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
