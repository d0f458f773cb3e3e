//! Renderers for the coordinator-data routes: the typed data of the `inverter` and
//! `metrics` sources, pre-serialized into route bodies on the refresh thread.
//!
//! Without data, every route gets an `unavailable` body (503) that names the last error
//! and holds no numbers. With old data, bodies are still served and say `stale`/`expired`.

use serde::Serialize;
use serde_json::{json, Value};

use crate::sources::coordinator_db::decisions::StoredDecision;
use crate::sources::coordinator_db::energy::{EnergyRow, STEP_S, WEEK_BUCKET_S};
use chrono::Datelike;

use crate::clock;
use crate::refresh::{Renderer, SourceId, SourceStatus};
use crate::snapshot::{route_key, At, Body, Holes, Show};
use crate::sources::coordinator_db::figures::round;
use crate::sources::coordinator_db::inverter::InverterData;
use crate::sources::coordinator_db::source::{CoordinatorData, WINDOWS};
use crate::sources::coordinator_db::summary::{self, MonthSummary};
use crate::sources::store::{Sources, View};

pub const CURRENT_STATE: &str = "/current-state";
pub const DECISIONS: &str = "/decisions";
pub const METRICS: &str = "/metrics";
pub const MONTHLY_SUMMARY: &str = "/monthly-summary";
pub const MONTHLY_COMPARISON: &str = "/monthly-comparison";
pub const HISTORICAL: &str = "/historical-data";
/// `/current-state` without what moves with the clock (`data_age_s`, `cache_age_seconds`,
/// `data_warning`): what the dashboard reads, so that the age ticking every second does
/// not rebuild the dashboard. Not routed.
pub const CURRENT_STATE_STABLE: &str = "/internal/current-state-stable";
/// Query suffix of the body served for a month outside the served range.
pub const MISSING: &str = "missing";

/// The 503 body of a route without data: no numbers, the reason, and when data was last
/// good.
pub fn unavailable(s: Option<&SourceStatus>, what: &str) -> Body {
    let error = s
        .and_then(|s| s.last_error.clone())
        .unwrap_or_else(|| format!("{what} has not been read yet"));
    let mut v = unavailable_json(error);
    v["last_success"] = json!(s.and_then(|s| s.last_success).map(clock::local_rfc3339));
    Body::json(503, &v)
}

/// The fields every 503 of these routes has: no numbers, only the reason.
fn unavailable_json(error: String) -> serde_json::Value {
    json!({
        "status": "unavailable",
        "freshness": "unavailable",
        "data_source": "unavailable",
        "error": error,
    })
}

fn kw(w: Option<f64>) -> Option<f64> {
    w.map(|w| round(w / 1000.0, 3))
}

/// A JSON number at `path` in `v` as written (ints stay ints), a string holding a number
/// as that number, anything else null.
fn num(v: &Value, path: &str) -> Value {
    match v.pointer(path) {
        Some(n @ Value::Number(_)) => n.clone(),
        other => crate::sources::coordinator_db::decisions::number(other)
            .map(Value::from)
            .unwrap_or(Value::Null),
    }
}

fn any(v: &Value, path: &str) -> Value {
    v.pointer(path).cloned().unwrap_or(Value::Null)
}

/// `/current-state` from a reading (spec §2.10 structure; nothing fabricated). The age of
/// the reading goes into `holes`, filled when the body is answered.
pub fn current_state(
    data: &InverterData,
    s: &SourceStatus,
    view: &View,
    pricing: Option<Value>,
    holes: &mut Holes,
) -> Value {
    let r = &data.reading;
    let d = &r.data;
    let freshness = s.freshness(view.now);
    let charging = match d.pointer("/battery/charging_status") {
        Some(Value::Bool(true)) => json!("charging"),
        Some(Value::Bool(false)) => json!("idle"),
        _ => Value::Null,
    };
    let warning = if freshness.as_str() != "fresh" {
        holes.put(At::Fixed(r.at), Show::OldDataWarning)
    } else {
        Value::Null
    };
    let health = r.coordinator.as_ref().map(|c| {
        json!({
            "coordinator_state": c.state,
            "coordinator_uptime_s": c.uptime_s,
            "decision_count": c.decision_count,
            "last_error": c.last_error,
        })
    });
    json!({
        "timestamp": r.timestamp,
        "data_timestamp": clock::local_rfc3339(r.at),
        "data_age_s": holes.put(At::Fixed(r.at), Show::SecondsSince),
        "cache_age_seconds": holes.put(At::Fixed(r.at), Show::TenthsSince),
        "freshness": freshness,
        "stale_after_s": s.stale_after.as_secs(),
        "source": r.origin,
        "source_detail": r.detail,
        "data_source": r.origin,
        "data_warning": warning,
        "last_error": s.last_error,
        "skipped": data.skipped,
        "tariff_zone": any(d, "/tariff_zone"),
        "battery": {
            "soc_percent": num(d, "/battery/soc_percent"),
            "temperature_c": num(d, "/battery/temperature"),
            "charging_status": charging,
            "power_w": num(d, "/battery/power_w"),
            "voltage_v": num(d, "/battery/voltage"),
            "current_a": num(d, "/battery/current"),
        },
        "photovoltaic": {
            "current_power_w": num(d, "/photovoltaic/current_power_w"),
            "daily_generation_kwh": num(d, "/photovoltaic/daily_production_kwh"),
            "pv1_power_w": num(d, "/photovoltaic/pv1_power_w"),
            "pv2_power_w": num(d, "/photovoltaic/pv2_power_w"),
        },
        "house_consumption": {
            "current_power_w": num(d, "/house_consumption/current_power_w"),
            "daily_consumption_kwh": num(d, "/house_consumption/daily_total_kwh"),
        },
        "grid": {
            "current_power_w": num(d, "/grid/power_w"),
            "flow_direction": any(d, "/grid/flow_direction"),
            "daily_import_kwh": num(d, "/grid/today_imported_kwh"),
            "daily_export_kwh": num(d, "/grid/today_exported_kwh"),
            "voltage_v": num(d, "/grid/voltage"),
            "l1_current_a": num(d, "/grid/l1_current_a"),
            "l2_current_a": num(d, "/grid/l2_current_a"),
            "l3_current_a": num(d, "/grid/l3_current_a"),
        },
        "inverter": {
            "model": any(d, "/system/inverter_model"),
            "serial": any(d, "/system/inverter_serial"),
            "connection_status": any(d, "/system/connection_status"),
        },
        "pricing": pricing,
        "weather": d.get("weather").filter(|w| w.is_object()).cloned(),
        "decision_factors": null,
        "recommendations": null,
        "system_health": health,
    })
}

/// Renders `/current-state` when the reading, the prices or the quarter change; its age
/// is filled when it is answered.
pub struct CurrentStateRenderer;

impl Renderer<Sources> for CurrentStateRenderer {
    fn inputs(&self) -> &'static [SourceId] {
        &[SourceId::Inverter, SourceId::Prices]
    }

    /// The price of the current quarter is part of the body.
    fn changes_at(&self, view: &View) -> Option<chrono::DateTime<chrono::Utc>> {
        Some(clock::next_quarter(view.now))
    }

    fn render(&self, view: &View) -> Vec<(String, Body)> {
        let s = view.get(SourceId::Inverter);
        let (body, stable) = match (s, view.data.inverter.as_deref()) {
            (Some(s), Some(data)) => {
                let mut holes = Holes::new();
                let mut v = current_state(
                    data,
                    s,
                    view,
                    crate::api::prices::render::current_pricing(view),
                    &mut holes,
                );
                let body = Body::live(200, &v, holes, view.now);
                if let Some(o) = v.as_object_mut() {
                    for key in ["data_age_s", "cache_age_seconds", "data_warning"] {
                        o.remove(key);
                    }
                }
                (body, Body::json(200, &v))
            }
            _ => {
                let body = unavailable(s, "the inverter state");
                (body.clone(), body)
            }
        };
        vec![
            (CURRENT_STATE.to_string(), body),
            (CURRENT_STATE_STABLE.to_string(), stable),
        ]
    }
}

/// Renders every route of the `metrics` source. Runs when its data or freshness changes.
pub struct CoordinatorRenderer;

#[derive(Serialize)]
struct DecisionsBody<'a> {
    time_range: &'a str,
    timestamp: String,
    freshness: &'static str,
    data_source: &'static str,
    total_count: u64,
    charging_count: u64,
    wait_count: u64,
    battery_selling_count: u64,
    last_error: Option<&'a str>,
    skipped: &'a [String],
}

/// The `/decisions` body: the head serialized, then the stored decision objects (already
/// JSON) spliced in as the `decisions` array.
fn decisions_body(
    range: &str,
    list: &[StoredDecision],
    d: &CoordinatorData,
    s: &SourceStatus,
    view: &View,
) -> Body {
    let counts =
        crate::sources::coordinator_db::decisions::Counts::of(list.iter().map(|x| &x.facts));
    let (db, files) = (
        list.iter().any(|x| x.from_db),
        list.iter().any(|x| x.from_file),
    );
    let head = DecisionsBody {
        time_range: range,
        timestamp: clock::local_rfc3339(d.refreshed_at),
        freshness: s.freshness(view.now).as_str(),
        data_source: match (db, files) {
            (true, true) => "database+files",
            (true, false) => "database",
            (false, true) => "files",
            (false, false) => "none",
        },
        total_count: counts.total,
        charging_count: counts.charging,
        wait_count: counts.wait,
        battery_selling_count: counts.selling,
        last_error: s.last_error.as_deref(),
        skipped: &d.skipped,
    };
    let Ok(mut bytes) = crate::snapshot::to_json_vec(&head) else {
        return Body::json(200, &head);
    };
    // `head` is a JSON object: replace its closing brace with the array and close again.
    bytes.pop();
    let total: usize = list.iter().map(|x| x.json.len() + 1).sum();
    bytes.reserve(total + 16);
    bytes.extend_from_slice(b",\"decisions\":[");
    for (i, x) in list.iter().enumerate() {
        if i > 0 {
            bytes.push(b',');
        }
        bytes.extend_from_slice(x.json.as_bytes());
    }
    bytes.extend_from_slice(b"]}");
    Body::new(200, crate::snapshot::JSON, bytes)
}

fn metrics_body(d: &CoordinatorData, s: &SourceStatus, view: &View) -> Body {
    let m = &d.metrics.month_to_date;
    // The compatibility keys follow the month summary's definitions (docs/figures.md):
    // the same tally, rounded once.
    let t = &m.tally;
    Body::json(
        200,
        &json!({
            "timestamp": clock::local_rfc3339(d.refreshed_at),
            "freshness": s.freshness(view.now),
            "data_source": if d.db_connected { "database" } else { "files" },
            "last_error": s.last_error,
            "time_range": "current_month",
            "month_to_date": d.metrics.month_to_date,
            "last_24h": d.metrics.last_24h,
            "total_decisions": m.decisions.total,
            "charging_count": m.decisions.charging,
            "wait_count": m.decisions.wait,
            "battery_selling_count": m.decisions.selling,
            "total_energy_charged_kwh": t.energy_kwh().map(|x| round(x, 2)),
            "total_cost_pln": t.cost_pln().map(|x| round(x, 2)),
            "total_savings_pln": t.total_savings_pln().map(|x| round(x, 2)),
            "savings_percentage": t.savings_percentage(),
            "charging_incomplete": t.charging_incomplete,
            "avg_confidence": m.avg_confidence_percent,
            "avg_cost_per_kwh_pln": m.avg_price_paid_pln_per_kwh,
        }),
    )
}

fn series(h: &[Option<EnergyRow>], f: impl Fn(&EnergyRow) -> Option<f64>) -> Vec<Option<f64>> {
    h.iter().map(|r| r.as_ref().and_then(&f)).collect()
}

/// The `/historical-data` range parameter's values, and the route key of each body.
pub const HISTORY_RANGES: [&str; 2] = ["24h", "7d"];

/// The route key of the `/historical-data` body of `range` (the 24-hour one is the default).
pub fn history_key(range: &str) -> String {
    if range == "24h" {
        HISTORICAL.to_string()
    } else {
        route_key(HISTORICAL, &[("range", range)])
    }
}

/// `/historical-data` for `range`: `24h` holds the samples at their native 5-minute step,
/// `7d` the hourly means of the samples (`aggregation: "mean"`). Gaps are null.
fn history_body(range: &str, d: &CoordinatorData, s: &SourceStatus, view: &View) -> Body {
    let (h, step_s, aggregation) = if range == "24h" {
        (&d.history, STEP_S, "none")
    } else {
        (&d.week, WEEK_BUCKET_S, "mean")
    };
    let Some(h) = h else {
        return Body::json(
            503,
            &json!({
                "status": "unavailable",
                "freshness": "unavailable",
                "data_source": "unavailable",
                "error": d.db_problem.clone().unwrap_or_else(|| "energy_data is not readable".into()),
            }),
        );
    };
    let times: Vec<chrono::DateTime<chrono::Utc>> = (0..h.slots.len())
        .map(|i| h.start + chrono::Duration::seconds(step_s * i as i64))
        .collect();
    let soc = series(&h.slots, |r| r.soc.map(|x| round(x, 2)));
    let pv = series(&h.slots, |r| kw(r.pv_w));
    let newest = h.slots.iter().rev().flatten().next();
    let present: Vec<f64> = soc.iter().flatten().copied().collect();
    let pv_peak = pv
        .iter()
        .flatten()
        .copied()
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    Body::json(
        200,
        &json!({
            "data_source": "energy_data",
            "freshness": s.freshness(view.now),
            "range": range,
            "aggregation": aggregation,
            "step_s": step_s,
            "from": clock::local_rfc3339(h.start),
            "to": clock::local_rfc3339(times.last().copied().unwrap_or(h.start) + chrono::Duration::seconds(step_s)),
            "timestamps": times.iter().map(|t| t.with_timezone(&clock::ZONE).format("%H:%M").to_string()).collect::<Vec<_>>(),
            "instants": times.iter().map(|t| clock::local_rfc3339(*t)).collect::<Vec<_>>(),
            "soc_data": soc,
            "pv_power_data": pv,
            "house_consumption_data": series(&h.slots, |r| kw(r.house_w)),
            "grid_power_data": series(&h.slots, |r| kw(r.grid_w)),
            "battery_power_data": series(&h.slots, |r| kw(r.battery_w)),
            "units": {"soc_data": "%", "pv_power_data": "kW", "house_consumption_data": "kW",
                      "grid_power_data": "kW (negative = import)", "battery_power_data": "kW (inverter sign)",
                      "current_pv_power": "W", "pv_peak": "kW"},
            "slots": h.slots.len(),
            "data_points": h.slots.iter().filter(|x| x.is_some()).count(),
            "last_update": newest.map(|r| clock::local_rfc3339(r.at)),
            "current_soc": newest.and_then(|r| r.soc),
            "current_pv_power": newest.and_then(|r| r.pv_w),
            "soc_range": (!present.is_empty()).then(|| json!({
                "min": present.iter().copied().fold(f64::INFINITY, f64::min),
                "max": present.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            })),
            "pv_peak": pv_peak,
        }),
    )
}

fn month_body(m: &MonthSummary, d: &CoordinatorData, s: &SourceStatus, view: &View) -> Body {
    let mut v = serde_json::to_value(m).unwrap_or(Value::Null);
    if let Value::Object(o) = &mut v {
        o.insert("freshness".into(), json!(s.freshness(view.now)));
        o.insert(
            "generated_at".into(),
            json!(clock::local_rfc3339(d.months_built_at)),
        );
        o.insert(
            "data_source".into(),
            json!(if m.days_with_data == 0 {
                "none"
            } else {
                "coordinator"
            }),
        );
    }
    Body::json(200, &v)
}

/// The 503 body of a served month whose summary is still being built.
fn pending_body(y: i32, m: u32) -> Body {
    Body::json(
        503,
        &unavailable_json(format!(
            "the summary of {y}-{m:02} is still being computed from the database; it is served within seconds"
        )),
    )
}

fn ym_key(path: &str, y: i32, m: u32) -> String {
    route_key(path, &[("year", &y.to_string()), ("month", &m.to_string())])
}

impl Renderer<Sources> for CoordinatorRenderer {
    fn inputs(&self) -> &'static [SourceId] {
        &[SourceId::Metrics]
    }

    fn render(&self, view: &View) -> Vec<(String, Body)> {
        let s = view.get(SourceId::Metrics);
        let mut out = Vec::new();
        let (Some(s), Some(d)) = (s, view.data.metrics.as_deref()) else {
            let body = unavailable(s, "the coordinator's data");
            for (range, _) in WINDOWS {
                out.push((route_key(DECISIONS, &[("time_range", range)]), body.clone()));
            }
            for key in [METRICS, MONTHLY_SUMMARY, MONTHLY_COMPARISON] {
                out.push((key.to_string(), body.clone()));
            }
            for range in HISTORY_RANGES {
                out.push((history_key(range), body.clone()));
            }
            out.push((format!("{MONTHLY_SUMMARY}?{MISSING}"), body.clone()));
            out.push((format!("{MONTHLY_COMPARISON}?{MISSING}"), body));
            return out;
        };
        for (i, (range, _)) in WINDOWS.iter().enumerate() {
            out.push((
                route_key(DECISIONS, &[("time_range", range)]),
                decisions_body(range, d.window(i), d, s, view),
            ));
        }
        out.push((METRICS.to_string(), metrics_body(d, s, view)));
        for range in HISTORY_RANGES {
            out.push((history_key(range), history_body(range, d, s, view)));
        }
        let months = &d.months;
        for m in months.iter() {
            out.push((
                ym_key(MONTHLY_SUMMARY, m.year, m.month),
                month_body(m, d, s, view),
            ));
        }
        if let Some(current) = months.last() {
            out.push((MONTHLY_SUMMARY.to_string(), month_body(current, d, s, view)));
            // The current month has run through today: compare like for like.
            let through = clock::local_date(d.refreshed_at).day();
            let compare = |prev: &MonthSummary| {
                let mut v = summary::comparison(current, prev, through);
                v["timestamp"] = json!(clock::local_rfc3339(d.months_built_at));
                v["freshness"] = json!(s.freshness(view.now));
                Body::json(200, &v)
            };
            for m in months.iter() {
                out.push((ym_key(MONTHLY_COMPARISON, m.year, m.month), compare(m)));
            }
            let (py, pm) = summary::prev_month(current.year, current.month);
            let served = months.iter().find(|m| (m.year, m.month) == (py, pm));
            let pending = d.pending_months.contains(&(py, pm));
            let prev = served
                .cloned()
                .unwrap_or_else(|| summary::aggregate(py, pm, Vec::new(), Vec::new()));
            if served.is_none() && !pending {
                // The month before the first month with data: nothing to compare with, which
                // is a true statement (zero days), so it is served like a built month.
                out.push((ym_key(MONTHLY_COMPARISON, py, pm), compare(&prev)));
            }
            let default = if pending {
                pending_body(py, pm)
            } else {
                compare(&prev)
            };
            out.push((MONTHLY_COMPARISON.to_string(), default));
            for (y, m) in &d.pending_months {
                out.push((ym_key(MONTHLY_SUMMARY, *y, *m), pending_body(*y, *m)));
                out.push((ym_key(MONTHLY_COMPARISON, *y, *m), pending_body(*y, *m)));
            }
            let built_first = (months[0].year, months[0].month);
            let (fy, fm) = d
                .pending_months
                .first()
                .copied()
                .unwrap_or(built_first)
                .min(built_first);
            let missing = Body::json(
                404,
                &json!({
                    "error": format!(
                        "no summary for that month: months from {}-{:02} to {}-{:02} are served (the first month with coordinator data, at most {} months back)",
                        fy, fm, current.year, current.month, crate::sources::coordinator_db::source::MAX_PAST_MONTHS
                    ),
                    "parameter": "month",
                    "available_from": format!("{fy}-{fm:02}"),
                    "available_to": format!("{}-{:02}", current.year, current.month),
                }),
            );
            out.push((format!("{MONTHLY_SUMMARY}?{MISSING}"), missing.clone()));
            out.push((format!("{MONTHLY_COMPARISON}?{MISSING}"), missing));
        }
        out
    }
}
