//! The coordinator's families: the inverter reading (`inverter` source), the coordinator
//! process (`coordinator` source) and the decisions' figures and month (`metrics` source).

use super::format::{unix, Exposition};
use crate::sources::coordinator::ProcessReport;
use crate::sources::coordinator_db::decisions::number;
use crate::sources::coordinator_db::inverter::InverterData;
use crate::sources::coordinator_db::source::CoordinatorData;

/// kWh → J.
const JOULES_PER_KWH: f64 = 3.6e6;

pub(super) fn inverter(e: &mut Exposition, d: &InverterData) {
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

pub(super) fn coordinator_process(e: &mut Exposition, r: &ProcessReport) {
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

pub(super) fn coordinator_data(e: &mut Exposition, d: &CoordinatorData) {
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
