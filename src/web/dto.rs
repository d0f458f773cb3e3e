//! The typed parts of `/api/dashboard`: exactly the fields the page reads, taken from the
//! other routes' bodies (whose fields and meanings the README documents). A body is read
//! into its part (unknown fields dropped) and written out again, so the page cannot come to
//! depend on a field that is not listed here, and a body that no longer fits is reported
//! under `unavailable` instead of being guessed at.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Reads `bytes` as part `T` and writes it back as a JSON value.
pub fn part<T: DeserializeOwned + Serialize>(bytes: &[u8]) -> Result<Value, String> {
    let typed: T = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    serde_json::to_value(typed).map_err(|e| e.to_string())
}

/// The dashboard's part of `/status`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Status {
    /// `demo` when serving `energy-monitor demo`'s synthetic data, else `live`.
    pub origin: String,
    pub version: String,
    pub started_at: String,
    pub coordinator_running: Option<bool>,
    pub coordinator: Option<Coordinator>,
    /// The `/status` `host` object without its ticking uptime (README, `/status`).
    pub host: Option<Value>,
    pub health: String,
    pub sources: BTreeMap<String, SourceState>,
    pub problems: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Coordinator {
    pub running: bool,
    pub pid: Option<u32>,
    pub started_at: Option<String>,
    pub cpu_percent: Option<f64>,
    pub rss_bytes: Option<u64>,
    /// True when the demo simulates the coordinator (no process was looked for).
    pub simulated: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SourceState {
    pub state: String,
    /// When the data held was first read (a refresh that finds the same data moves nothing).
    pub changed_at: Option<String>,
    /// When the data was observed at its origin, else `changed_at`.
    pub observed_at: Option<String>,
    pub origin: Option<String>,
    pub last_error: Option<String>,
    /// Why this source is expected to be unavailable here (then it is not a problem).
    pub expected_absence: Option<String>,
}

/// `/current-state`, the fields the Now tab shows.
#[derive(Debug, Serialize, Deserialize)]
pub struct CurrentState {
    pub data_timestamp: Option<String>,
    pub freshness: String,
    pub battery: Battery,
    pub photovoltaic: Photovoltaic,
    pub house_consumption: House,
    pub grid: Grid,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Battery {
    pub soc_percent: Option<f64>,
    /// Inverter sign: positive while discharging.
    pub power_w: Option<f64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Photovoltaic {
    pub current_power_w: Option<f64>,
    pub daily_generation_kwh: Option<f64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct House {
    pub current_power_w: Option<f64>,
    pub daily_consumption_kwh: Option<f64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Grid {
    /// Inverter sign: negative while importing.
    pub current_power_w: Option<f64>,
    pub daily_import_kwh: Option<f64>,
    pub daily_export_kwh: Option<f64>,
}

/// `/prices`, the fields the Now and Prices tabs show.
#[derive(Debug, Serialize, Deserialize)]
pub struct Prices {
    pub business_date: String,
    pub tomorrow_business_date: String,
    pub origin: String,
    pub unit: String,
    pub average_price_pln_kwh: Option<f64>,
    pub current: Option<Quarter>,
    pub quarters: Quarters,
    pub windows: Windows,
    pub tomorrow_status: String,
    pub tomorrow_error: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Quarters {
    pub today: Vec<Quarter>,
    #[serde(default)]
    pub tomorrow: Vec<Quarter>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Quarter {
    pub start_utc: String,
    pub end_utc: String,
    pub final_price_pln_kwh: f64,
    pub market_price_pln_kwh: f64,
    pub tariff_zone: Option<String>,
}

/// Cheapest and most expensive windows: `today` (the whole day) and `ahead` (not over yet,
/// including tomorrow), each keyed by length (`1h`, `2h`, `3h`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Windows {
    pub today: WindowSet,
    pub ahead: WindowSet,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct WindowSet {
    pub cheapest: BTreeMap<String, Option<Window>>,
    pub most_expensive: BTreeMap<String, Option<Window>>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Window {
    pub start_utc: String,
    pub end_utc: String,
    pub average_final_pln_kwh: f64,
}

/// `/metrics`, the month-to-date figures the Savings tab shows.
#[derive(Debug, Serialize, Deserialize)]
pub struct Metrics {
    pub month_to_date: Figures,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Figures {
    pub savings_vs_daily_average_pln: Option<f64>,
    pub selling_revenue_pln: Option<f64>,
    pub cheapest_quarter_share_percent: Option<f64>,
}

/// `/decisions?time_range=24h` (and the other ranges the page fetches itself).
#[derive(Debug, Serialize, Deserialize)]
pub struct Decisions {
    pub time_range: String,
    pub freshness: String,
    pub total_count: u64,
    pub charging_count: u64,
    pub wait_count: u64,
    pub battery_selling_count: u64,
    /// Newest first.
    pub decisions: Vec<Decision>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Decision {
    /// The decision's id (DB row id or file name), unique in the list.
    #[serde(default)]
    pub id: Option<Value>,
    pub instant: Option<String>,
    pub category: String,
    pub action: Option<String>,
    pub reason: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub battery_soc: Option<f64>,
    #[serde(default, deserialize_with = "lenient")]
    pub current_price: Option<f64>,
    #[serde(default, deserialize_with = "lenient")]
    pub energy_kwh: Option<f64>,
}

/// A number, or a string holding one (decision files written by hand); anything else is
/// missing.
fn lenient<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// `/historical-data` (24 h at 5 minutes; the page fetches `range=7d` itself).
#[derive(Debug, Serialize, Deserialize)]
pub struct History {
    pub range: String,
    pub freshness: String,
    pub step_s: u64,
    pub instants: Vec<String>,
    pub soc_data: Vec<Option<f64>>,
    pub pv_power_data: Vec<Option<f64>>,
    pub house_consumption_data: Vec<Option<f64>>,
    pub grid_power_data: Vec<Option<f64>>,
    pub battery_power_data: Vec<Option<f64>>,
    pub last_update: Option<String>,
}

/// `/monthly-summary` of the current month.
#[derive(Debug, Serialize, Deserialize)]
pub struct Month {
    pub year: i32,
    pub month: u32,
    pub month_name: String,
    pub freshness: String,
    pub generated_at: String,
    pub total_cost_pln: Option<f64>,
    pub total_energy_kwh: Option<f64>,
    pub total_savings_pln: Option<f64>,
    pub avg_cost_per_kwh: Option<f64>,
    pub total_decisions: u64,
    pub days_with_data: u64,
    pub daily_summaries: Vec<Day>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Day {
    pub date: String,
    pub total_cost_pln: Option<f64>,
    pub total_savings_pln: Option<f64>,
    pub total_energy_kwh: Option<f64>,
}

/// `/monthly-comparison` against the previous month.
#[derive(Debug, Serialize, Deserialize)]
pub struct Comparison {
    pub freshness: String,
    pub current_month: Period,
    pub previous_month_same_days: Period,
    pub previous_month: Period,
    /// Month to date against the same days of the previous month.
    pub changes: Changes,
    /// Month to date against the whole previous month.
    pub changes_full_month: Changes,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Period {
    pub label: String,
    pub month_name: String,
    pub year: i32,
    /// `first..last` local dates covered, `null` for a whole month.
    pub days: Option<String>,
    pub days_with_data: u64,
    pub total_cost_pln: Option<f64>,
    pub total_savings_pln: Option<f64>,
    pub total_energy_kwh: Option<f64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Changes {
    pub cost_change_pct: Option<f64>,
    pub savings_change_pct: Option<f64>,
    pub energy_change_pct: Option<f64>,
}
