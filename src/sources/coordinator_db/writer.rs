//! Writing rows the way the coordinator does (local naive timestamps, UTC `created_at`,
//! JSON `metrics`/`parameters`), for tests and the benchmark. energy-monitor itself never
//! calls this on the coordinator's DB; the daemon is built without it (it exists under
//! `cfg(test)` and the `test-support` feature, which tests and examples turn on).

use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection};
use serde_json::{json, Value};

fn created(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn local_micros(t: DateTime<Utc>) -> String {
    t.with_timezone(&crate::clock::ZONE)
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

/// One `coordinator_decisions` row at `t`.
pub fn decision(
    conn: &Connection,
    t: DateTime<Utc>,
    decision_type: Option<&str>,
    action: &str,
    reason: Option<&str>,
    parameters: &Value,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO coordinator_decisions (timestamp, decision_type, action, reason, parameters, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        local_micros(t),
        decision_type,
        action,
        reason,
        parameters.to_string(),
        created(t)
    ])?;
    Ok(())
}

/// A charging decision with the coordinator's parameters.
pub fn charge(
    conn: &Connection,
    t: DateTime<Utc>,
    energy_kwh: f64,
    price: f64,
    savings: f64,
    zone: &str,
) -> rusqlite::Result<()> {
    decision(
        conn,
        t,
        Some("charging"),
        "charge",
        Some("Price in cheapest window"),
        &json!({"energy_kwh": energy_kwh, "estimated_cost_pln": energy_kwh * price,
                "estimated_savings_pln": savings, "current_price": price, "confidence": 0.8,
                "battery_soc": 40, "tariff_zone": zone}),
    )
}

/// A sample of `energy_data` at `t`.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub soc: Option<f64>,
    pub pv_w: Option<i64>,
    pub grid_w: Option<i64>,
    pub house_w: Option<i64>,
    pub battery_w: Option<i64>,
    pub price_pln: Option<f64>,
    pub import_total_kwh: Option<f64>,
    pub tariff_zone: Option<&'static str>,
}

pub fn energy(conn: &Connection, t: DateTime<Utc>, s: &Sample) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO energy_data (timestamp, battery_soc, pv_power, grid_power, house_consumption, \
         battery_power, price_pln, grid_import_total_kwh, tariff_zone, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        local_micros(t),
        s.soc,
        s.pv_w,
        s.grid_w,
        s.house_w,
        s.battery_w,
        s.price_pln,
        s.import_total_kwh,
        s.tariff_zone,
        created(t)
    ])?;
    Ok(())
}

/// A `system_state` row at `t` whose `metrics` holds `current_data`.
pub fn state(conn: &Connection, t: DateTime<Utc>, current_data: &Value) -> rusqlite::Result<()> {
    let metrics =
        json!({"uptime_seconds": 3600.0, "decision_count": 4, "current_data": current_data});
    state_raw(conn, t, &metrics.to_string())
}

/// A `system_state` row with `metrics` text as given (to write malformed rows).
pub fn state_raw(conn: &Connection, t: DateTime<Utc>, metrics: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO system_state (timestamp, state, uptime, active_modules, last_error, metrics, created_at) \
         VALUES (?1, 'monitoring', 3600.0, '[]', NULL, ?2, ?3)",
    )?
    .execute(params![local_micros(t), metrics, created(t)])?;
    Ok(())
}

/// A plausible `current_data` at `t`.
pub fn current_data(t: DateTime<Utc>, soc: f64, pv_w: i64) -> Value {
    json!({
        "timestamp": local_micros(t), "tariff_zone": "T1",
        "battery": {"soc_percent": soc, "voltage": 402.1, "current": -3.2, "power_w": -1290,
                    "temperature": 21.5, "charging_status": false},
        "photovoltaic": {"current_power_w": pv_w, "daily_production_kwh": 6.3, "efficiency_percent": 0.0},
        "grid": {"power_w": -420, "flow_direction": "Import", "today_imported_kwh": 4.2,
                 "today_exported_kwh": 1.1, "l1_current_a": 1.9, "l2_current_a": 0.7, "l3_current_a": 1.1},
        "house_consumption": {"current_power_w": 1560, "daily_total_kwh": 9.8},
        "system": {"inverter_model": "GW10K-ET", "connection_status": "Connected"}
    })
}

/// Fills `days` days ending at `end` the way a year of coordinator operation would: a
/// `system_state` row per minute, an `energy_data` row per 5 minutes and a decision per
/// quarter-hour, in one transaction. Returns the row counts written.
pub fn fill(
    conn: &mut Connection,
    end: DateTime<Utc>,
    days: i64,
) -> rusqlite::Result<(u64, u64, u64)> {
    let tx = conn.transaction()?;
    let start = end - Duration::days(days);
    let (mut states, mut samples, mut decisions) = (0u64, 0u64, 0u64);
    let mut import = 10_000.0;
    let mut t = start;
    let mut minute: i64 = 0;
    {
        let mut st = tx.prepare(
            "INSERT INTO system_state (timestamp, state, uptime, active_modules, last_error, metrics, created_at) \
             VALUES (?1, 'monitoring', ?2, '[]', NULL, ?3, ?4)",
        )?;
        let mut en = tx.prepare(
            "INSERT OR REPLACE INTO energy_data (timestamp, battery_soc, pv_power, grid_power, house_consumption, \
             battery_power, price_pln, grid_import_total_kwh, tariff_zone, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        let mut de = tx.prepare(
            "INSERT INTO coordinator_decisions (timestamp, decision_type, action, reason, parameters, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        while t < end {
            let hour = (minute / 60) % 24;
            let soc = 20.0 + ((minute % 1440) as f64 / 1440.0) * 70.0;
            let pv: i64 = if (7..18).contains(&hour) { 3000 } else { 0 };
            if minute % 5 == 0 {
                let zone = if (6..22).contains(&hour) { "T1" } else { "T2" };
                import += 0.05;
                let price = 0.4 + (hour as f64) * 0.02;
                en.execute(params![
                    local_micros(t),
                    soc,
                    pv,
                    -400,
                    1500,
                    -800,
                    price,
                    import,
                    zone,
                    created(t)
                ])?;
                samples += 1;
            }
            if minute % 15 == 0 {
                let charging = hour < 5;
                let price = 0.4 + (hour as f64) * 0.02;
                let params_json = if charging {
                    json!({"energy_kwh": 2.5, "estimated_cost_pln": 2.5 * price, "estimated_savings_pln": 0.3,
                           "current_price": price, "confidence": 0.8, "tariff_zone": "T2", "battery_soc": soc})
                } else {
                    json!({"energy_kwh": 0.0, "confidence": 0.6, "current_price": price, "tariff_zone": "T1"})
                };
                de.execute(params![
                    local_micros(t),
                    "charging",
                    if charging { "charge" } else { "wait" },
                    "scheduled",
                    params_json.to_string(),
                    created(t)
                ])?;
                decisions += 1;
            }
            let metrics =
                json!({"uptime_seconds": minute * 60, "current_data": current_data(t, soc, pv)});
            st.execute(params![
                local_micros(t),
                (minute * 60) as f64,
                metrics.to_string(),
                created(t)
            ])?;
            states += 1;
            minute += 1;
            t += Duration::minutes(1);
        }
    }
    tx.commit()?;
    Ok((states, samples, decisions))
}
