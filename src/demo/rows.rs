//! The coordinator's row and file formats for simulated minutes: its timestamps, the
//! `system_state.metrics.current_data` JSON, the `coordinator_decisions` parameters, the
//! decision files, and the prepared statements that insert rows.
//!
//! Row JSON is written by hand into reused buffers: a year holds half a million readings,
//! and this keeps generation to seconds. Every string in it is a fixed ASCII literal, a
//! timestamp or a number, so nothing needs escaping. The decision files, which carry free
//! text, are built with serde_json.

use std::fmt::{self, Write as _};

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};
use rusqlite::{params, Connection, Statement};

use super::model::{Action, Decision, Glitch, Minute};

/// The demo inverter's identity (clearly not a real serial number).
pub const INVERTER_MODEL: &str = "GW10K-ET";
pub const INVERTER_SERIAL: &str = "DEMO-GW10K-0001";
/// The coordinator's modules, as its `active_modules` column lists them.
pub const ACTIVE_MODULES: &str = "[\"enhanced_data_collector\", \"automated_price_charging\", \"battery_selling_engine\", \"pv_forecaster\", \"weather_collector\"]";

/// Local naive ISO with microseconds, the coordinator's `timestamp` format.
pub fn local_iso(t: NaiveDateTime) -> String {
    let mut s = String::with_capacity(26);
    push_local_iso(&mut s, t);
    s
}

pub fn push_local_iso(s: &mut String, t: NaiveDateTime) {
    let _ = write!(
        s,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() / 1000
    );
}

/// UTC `YYYY-MM-DD HH:MM:SS`, SQLite's `CURRENT_TIMESTAMP` format.
pub fn utc_sql(t: DateTime<Utc>) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The log line timestamp: local `YYYY-MM-DD HH:MM:SS,mmm`.
pub fn log_time(t: NaiveDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02},{:03}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() / 1_000_000
    )
}

/// A number rounded to `dp` decimals, printed without a negative zero.
pub struct Num(pub f64, pub usize);

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scale = 10f64.powi(self.1 as i32);
        let v = (self.0 * scale).round() / scale + 0.0;
        write!(f, "{v:.prec$}", prec = self.1)
    }
}

/// A leaf that may be the string `"Unknown"`.
struct Leaf<T>(Option<T>);

impl<T: fmt::Display> fmt::Display for Leaf<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("\"Unknown\""),
        }
    }
}

/// Meter counters as the inverter reports them (0.01 kWh steps, never decreasing).
pub fn meter(kwh: f64) -> f64 {
    (kwh * 100.0).floor() / 100.0
}

/// Wall-clock times of one minute's records.
pub struct Stamps {
    /// The reading (`current_data.timestamp`, `energy_data.timestamp`).
    pub data: String,
    /// The `system_state` row, written a moment after the reading.
    pub state: String,
    /// The decision, taken after the reading.
    pub decision: String,
    pub decision_local: NaiveDateTime,
    pub created_at: String,
}

/// The timestamps of `m`. On the fall-back day's repeated hour the second pass gets odd
/// microseconds and the first even ones, so local timestamps (a primary key) never collide.
pub fn stamps(m: &Minute, micros: u32) -> Stamps {
    let fold = m.fold as u32;
    let parity = |t: NaiveDateTime| {
        let us = ((t.nanosecond() / 1000) & !1) | fold;
        let us = if us < 2 { us + 2 } else { us };
        t.with_nanosecond(us * 1000).unwrap_or(t)
    };
    let base = m.local.with_nanosecond(0).unwrap_or(m.local);
    let data = parity(base + chrono::Duration::microseconds(micros as i64 % 1_000_000));
    let state = parity(data + chrono::Duration::microseconds(40_000 + micros as i64 % 200_000));
    let decision_local =
        parity(data + chrono::Duration::microseconds(600_000 + micros as i64 % 900_000));
    Stamps {
        data: local_iso(data),
        state: local_iso(state),
        decision: local_iso(decision_local),
        decision_local,
        created_at: utc_sql(m.read_at),
    }
}

/// Writes `current_data` in the shape of spec §4.6 into `s`.
pub fn push_current_data(s: &mut String, m: &Minute, data_ts: &str) {
    let unknown_temp = m.glitch != Glitch::None;
    let partial = m.glitch == Glitch::PartialRead;
    let soc = m.soc.round() as i64;
    let bv = 380.0 + 0.35 * m.soc;
    // The current has the sign of the power (positive while discharging).
    let bi = m.battery_w as f64 / bv;
    let pv2 = m.pv_w - m.pv1_w;
    let string_v = |p: i64, base: f64| {
        if p > 0 {
            base + (p % 37) as f64 * 0.3
        } else {
            0.0
        }
    };
    let (v1, v2) = (string_v(m.pv1_w, 300.0), string_v(pv2, 296.0));
    let amps = |p: i64, v: f64| if v > 0.0 { p as f64 / v } else { 0.0 };
    let l_split = [0.38, 0.27, 0.35];
    let lp: Vec<i64> = l_split
        .iter()
        .map(|f| (m.grid_w as f64 * f).round() as i64)
        .collect();
    let l3 = m.grid_w - lp[0] - lp[1];
    let li = |p: i64| p.abs() as f64 / m.grid_voltage + 0.4;
    let flow = if m.grid_w < -10 {
        "Import"
    } else if m.grid_w > 10 {
        "Export"
    } else {
        "Neutral"
    };
    let calculated_w = m.pv_w + m.battery_w - m.grid_w;
    let (date, time) = data_ts.split_at(10);
    let time = &time[1..9];
    let pv_opt = |x: f64, dp: usize| Leaf((!partial).then_some(Num(x, dp)));
    let _ = write!(
        s,
        "{{\"timestamp\":\"{data_ts}\",\"date\":\"{date}\",\"time\":\"{time}\",\"tariff_zone\":\"{zone}\",\
\"battery\":{{\"soc_percent\":{soc},\"voltage\":{bv},\"current\":{bi},\"power_w\":{bw},\"power_kw\":{bkw},\
\"temperature\":{bt},\"charging_status\":{chg},\"fast_charging_enabled\":{chg}}},\
\"photovoltaic\":{{\"current_power_w\":{pv},\"current_power_kw\":{pvkw},\"pv1_power_w\":{pv1},\"pv2_power_w\":{pv2},\
\"pv1_voltage\":{v1},\"pv1_current\":{i1},\"pv2_voltage\":{v2},\"pv2_current\":{i2},\
\"daily_production_kwh\":{dpv},\"efficiency_percent\":0.0}},\
\"grid\":{{\"power_w\":{gw},\"power_kw\":{gkw},\"voltage\":{gv},\"flow_direction\":\"{flow}\",\
\"import_rate\":{ir},\"export_rate\":{er},\"l1_current_a\":{l1i},\"l2_current_a\":{l2i},\"l3_current_a\":{l3i},\
\"l1_power\":{l1},\"l2_power\":{l2},\"l3_power\":{l3},\"total_exported_kwh\":{te},\"total_imported_kwh\":{ti},\
\"today_exported_kwh\":{de},\"today_imported_kwh\":{di}}},\
\"house_consumption\":{{\"current_power_w\":{hw},\"current_power_kw\":{hkw},\"daily_total_kwh\":{dh},\
\"total_consumption_kwh\":{th},\"calculated_power_w\":{cw},\"calculated_power_kw\":{ckw}}},",
        zone = m.zone.as_str(),
        bv = Num(bv, 1),
        bi = Num(bi, 1),
        bw = m.battery_w,
        bkw = Num(m.battery_w as f64 / 1000.0, 2),
        bt = Leaf((!unknown_temp).then_some(Num(m.battery_temp_c, 1))),
        chg = m.grid_charging,
        pv = m.pv_w,
        pvkw = Num(m.pv_w as f64 / 1000.0, 2),
        pv1 = m.pv1_w,
        v1 = pv_opt(v1, 1),
        i1 = pv_opt(amps(m.pv1_w, v1), 1),
        v2 = pv_opt(v2, 1),
        i2 = pv_opt(amps(pv2, v2), 1),
        dpv = Num(m.today_pv_kwh, 1),
        gw = m.grid_w,
        gkw = Num(m.grid_w as f64 / 1000.0, 2),
        gv = Num(m.grid_voltage, 1),
        ir = Num(m.grid_w.max(0) as f64 / 1000.0, 2),
        er = Num((-m.grid_w).max(0) as f64 / 1000.0, 2),
        l1i = Leaf((!partial).then_some(Num(li(lp[0]), 1))),
        l2i = Leaf((!partial).then_some(Num(li(lp[1]), 1))),
        l3i = Leaf((!partial).then_some(Num(li(l3), 1))),
        l1 = Leaf((!partial).then_some(lp[0])),
        l2 = Leaf((!partial).then_some(lp[1])),
        l3 = Leaf((!partial).then_some(l3)),
        te = Num(meter(m.export_total_kwh), 2),
        ti = Num(meter(m.import_total_kwh), 2),
        de = Num(m.today_export_kwh, 1),
        di = Num(m.today_import_kwh, 1),
        hw = m.house_w,
        hkw = Num(m.house_w as f64 / 1000.0, 2),
        dh = Num(m.today_house_kwh, 1),
        th = Num(meter(m.house_total_kwh), 2),
        cw = calculated_w,
        ckw = Num(calculated_w as f64 / 1000.0, 3),
    );
    let last_update = {
        let mut u = String::with_capacity(26);
        push_local_iso(&mut u, m.local + chrono::Duration::microseconds(23));
        u
    };
    let system = format!(
        "\"inverter_model\":\"{INVERTER_MODEL}\",\"inverter_serial\":\"{INVERTER_SERIAL}\",\
\"connection_status\":\"Connected\",\"last_update\":\"{last_update}\""
    );
    let _ = write!(
        s,
        "\"system\":{{{system}}},\"inverter\":{{{system},\"error_codes\":[]}},\
\"pv\":{{\"power\":{pv},\"power_w\":{pv},\"total_power\":{pv}}},\
\"consumption\":{{\"house_consumption\":{hw},\"power_w\":{hw},\"current_power_w\":{hw}}}}}",
        pv = m.pv_w,
        hw = m.house_w
    );
}

/// The whole `metrics` JSON of a `system_state` row.
pub fn push_metrics(s: &mut String, m: &Minute, data_ts: &str) {
    s.push_str("{\"current_data\":");
    push_current_data(s, m, data_ts);
    let _ = write!(
        s,
        ",\"decision_count\":{},\"uptime_seconds\":{}}}",
        m.decision_count,
        Num(m.uptime_s, 1)
    );
}

/// The `state` column.
pub fn state_name(m: &Minute) -> &'static str {
    if m.restarted {
        "initializing"
    } else if m.grid_charging {
        "charging"
    } else {
        "monitoring"
    }
}

/// The `parameters` JSON the coordinator stores for a decision: only keys of the writer's
/// list (spec §4.5).
pub fn push_parameters(s: &mut String, d: &Decision) {
    match d.action {
        Action::Sell => {
            let sell = d.sell.as_ref();
            let _ = write!(
                s,
                "{{\"battery_soc\":{},\"confidence\":{},\"current_price_pln\":{},\"expected_revenue_pln\":{},\"pv_power\":{}}}",
                d.soc,
                Num(d.confidence, 2),
                Num(d.market_price, 4),
                Num(sell.map(|x| x.expected_revenue).unwrap_or(0.0), 4),
                d.pv_w
            );
        }
        Action::Charge | Action::Wait => {
            let _ = write!(
                s,
                "{{\"battery_soc\":{},\"cheapest_hour\":{},\"cheapest_price\":{},\"confidence\":{},\"current_price\":{},\
\"energy_kwh\":{},\"estimated_cost_pln\":{},\"estimated_savings_pln\":{},\"pv_power\":{},\"tariff_zone\":\"{}\"}}",
                d.soc,
                d.cheapest_hour,
                Num(d.cheapest_price, 4),
                Num(d.confidence, 2),
                Num(d.current_price, 4),
                Num(d.energy_kwh, 2),
                Num(d.cost_pln, 4),
                Num(d.savings_pln, 4),
                Num(d.pv_w as f64 / 1000.0, 3),
                d.zone.as_str()
            );
        }
    }
}

/// A charging-decision file (spec §4.3), pretty-printed like the coordinator's.
pub fn charging_file(d: &Decision, ts: &str) -> serde_json::Value {
    serde_json::json!({
        "timestamp": ts,
        "action": d.action.as_str(),
        "source": "grid",
        "duration": if d.action == Action::Charge { 0.25 } else { 0.0 },
        "energy_kwh": d.energy_kwh,
        "estimated_cost_pln": d.cost_pln,
        "estimated_savings_pln": d.savings_pln,
        "confidence": d.confidence,
        "reason": d.reason,
        "priority": d.priority,
        "battery_soc": d.soc,
        "pv_power": (d.pv_w as f64) / 1000.0,
        "house_consumption": (d.house_w as f64) / 1000.0,
        "current_price": d.current_price,
        "cheapest_price": d.cheapest_price,
        "cheapest_hour": d.cheapest_hour,
        "tariff_zone": d.zone.as_str(),
    })
}

/// A battery-selling decision file (spec §4.3).
pub fn selling_file(d: &Decision, ts: &str) -> Option<serde_json::Value> {
    let s = d.sell.as_ref()?;
    Some(serde_json::json!({
        "timestamp": ts,
        "action": "battery_selling",
        "decision": "start_selling",
        "confidence": d.confidence,
        "expected_revenue_pln": s.expected_revenue,
        "selling_power_w": s.power_w,
        "estimated_duration_hours": s.duration_h,
        "reasoning": d.reason,
        "safety_checks_passed": true,
        "risk_level": s.risk_level,
        "current_price_pln": d.market_price,
        "battery_soc": d.soc,
        "pv_power": d.pv_w,
        "house_consumption": d.house_w,
        "energy_sold_kwh": s.energy_kwh,
        "revenue_per_kwh_pln": s.revenue_per_kwh,
        "safety_status": "safe",
        "execution_success": s.success,
        "execution_error": s.error,
    }))
}

const INSERT_ENERGY: &str =
    "INSERT INTO energy_data (timestamp, battery_soc, pv_power, grid_power, \
house_consumption, battery_power, grid_voltage, grid_frequency, battery_voltage, battery_current, \
battery_temperature, price_pln, created_at, grid_import_total_kwh, grid_export_total_kwh, \
house_consumption_total_kwh, pv_generation_total_kwh, tariff_zone) \
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)";
const INSERT_STATE: &str = "INSERT INTO system_state (timestamp, state, uptime, active_modules, \
last_error, metrics, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
const INSERT_DECISION: &str =
    "INSERT INTO coordinator_decisions (timestamp, decision_type, action, \
reason, parameters, source_module, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// Prepared inserts for the three tables, with reused JSON buffers.
pub struct RowWriter<'c> {
    energy: Statement<'c>,
    state: Statement<'c>,
    decision: Statement<'c>,
    buf: String,
}

impl<'c> RowWriter<'c> {
    pub fn new(conn: &'c Connection) -> rusqlite::Result<RowWriter<'c>> {
        Ok(RowWriter {
            energy: conn.prepare(INSERT_ENERGY)?,
            state: conn.prepare(INSERT_STATE)?,
            decision: conn.prepare(INSERT_DECISION)?,
            buf: String::with_capacity(4096),
        })
    }

    pub fn energy(&mut self, m: &Minute, st: &Stamps) -> rusqlite::Result<()> {
        let bv = ((380.0 + 0.35 * m.soc) * 10.0).round() / 10.0;
        let temp = (m.glitch == Glitch::None).then_some((m.battery_temp_c * 10.0).round() / 10.0);
        self.energy.execute(params![
            st.data,
            m.soc.round(),
            m.pv_w,
            m.grid_w,
            m.house_w,
            m.battery_w,
            (m.grid_voltage * 10.0).round() / 10.0,
            (m.grid_frequency * 100.0).round() / 100.0,
            bv,
            ((m.battery_w as f64 / bv) * 10.0).round() / 10.0,
            temp,
            (m.price_final * 10_000.0).round() / 10_000.0,
            st.created_at,
            meter(m.import_total_kwh),
            meter(m.export_total_kwh),
            meter(m.house_total_kwh),
            meter(m.pv_total_kwh),
            m.zone.as_str(),
        ])?;
        Ok(())
    }

    pub fn state(&mut self, m: &Minute, st: &Stamps) -> rusqlite::Result<()> {
        self.buf.clear();
        push_metrics(&mut self.buf, m, &st.data);
        let last_error = (m.glitch == Glitch::PartialRead)
            .then_some("Failed to read PV string and meter registers: Timeout");
        self.state.execute(params![
            st.state,
            state_name(m),
            (m.uptime_s * 10.0).round() / 10.0,
            ACTIVE_MODULES,
            last_error,
            self.buf,
            st.created_at,
        ])?;
        Ok(())
    }

    pub fn decision(&mut self, d: &Decision, st: &Stamps) -> rusqlite::Result<()> {
        self.buf.clear();
        push_parameters(&mut self.buf, d);
        // Selling rows carry neither a type nor a reason (spec §4.5).
        let (kind, reason) = match d.action {
            Action::Sell => (None, None),
            _ => (Some("charging"), Some(d.reason.as_str())),
        };
        self.decision.execute(params![
            st.decision,
            kind,
            d.action.as_str(),
            reason,
            self.buf,
            Option::<&str>::None,
            st.created_at,
        ])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::model::Simulator;
    use chrono::TimeZone;

    #[test]
    fn current_data_has_the_spec_shape() {
        let mut sim = Simulator::new(3, None);
        let t = Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).unwrap();
        let m = sim.step(t);
        let st = stamps(&m, 123_456);
        let mut s = String::new();
        push_metrics(&mut s, &m, &st.data);
        let v: serde_json::Value = serde_json::from_str(&s).expect(&s);
        let cd = &v["current_data"];
        for (group, keys) in [
            (
                "battery",
                &[
                    "soc_percent",
                    "voltage",
                    "current",
                    "power_w",
                    "power_kw",
                    "temperature",
                    "charging_status",
                    "fast_charging_enabled",
                ][..],
            ),
            (
                "photovoltaic",
                &[
                    "current_power_w",
                    "current_power_kw",
                    "pv1_power_w",
                    "pv2_power_w",
                    "pv1_voltage",
                    "pv1_current",
                    "pv2_voltage",
                    "pv2_current",
                    "daily_production_kwh",
                    "efficiency_percent",
                ][..],
            ),
            (
                "grid",
                &[
                    "power_w",
                    "power_kw",
                    "voltage",
                    "flow_direction",
                    "import_rate",
                    "export_rate",
                    "l1_current_a",
                    "l2_current_a",
                    "l3_current_a",
                    "l1_power",
                    "l2_power",
                    "l3_power",
                    "total_exported_kwh",
                    "total_imported_kwh",
                    "today_exported_kwh",
                    "today_imported_kwh",
                ][..],
            ),
            (
                "house_consumption",
                &[
                    "current_power_w",
                    "current_power_kw",
                    "daily_total_kwh",
                    "total_consumption_kwh",
                    "calculated_power_w",
                    "calculated_power_kw",
                ][..],
            ),
            (
                "system",
                &[
                    "inverter_model",
                    "inverter_serial",
                    "connection_status",
                    "last_update",
                ][..],
            ),
            ("inverter", &["inverter_model", "error_codes"][..]),
            ("pv", &["power", "power_w", "total_power"][..]),
            (
                "consumption",
                &["house_consumption", "power_w", "current_power_w"][..],
            ),
        ] {
            for k in keys {
                assert!(!cd[group][k].is_null(), "{group}.{k} missing in {s}");
            }
        }
        assert_eq!(cd["timestamp"], st.data.as_str());
        assert_eq!(cd["date"], "2026-06-01");
        assert_eq!(cd["time"].as_str().unwrap().len(), 8);
        assert_eq!(
            cd["house_consumption"]["calculated_power_w"],
            cd["house_consumption"]["current_power_w"]
        );
        assert!(v["uptime_seconds"].is_number() && v["decision_count"].is_number());
        assert_eq!(st.data.len(), 26);
        assert!(st.state > st.data && st.decision > st.data);
    }

    #[test]
    fn glitches_become_unknown_leaves() {
        let mut sim = Simulator::new(3, None);
        let mut m = sim.step(Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).unwrap());
        m.glitch = Glitch::PartialRead;
        let mut s = String::new();
        push_current_data(&mut s, &m, "2026-06-01T12:00:02.000002");
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["battery"]["temperature"], "Unknown");
        assert_eq!(v["grid"]["l1_current_a"], "Unknown");
        assert!(v["battery"]["soc_percent"].is_number());
    }

    #[test]
    fn numbers_round_without_negative_zero() {
        assert_eq!(Num(-0.0001, 2).to_string(), "0.00");
        assert_eq!(Num(1.256, 2).to_string(), "1.26");
        assert_eq!(Num(-3.0, 1).to_string(), "-3.0");
    }
}
