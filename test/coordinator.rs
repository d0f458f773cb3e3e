//! Coordinator data end to end: the real binary reading real SQLite files and JSON files
//! written into a temp coordinator root.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{Duration as Span, Utc};
use energy_monitor::schema;
use energy_monitor::sources::coordinator_db::writer::{self, Sample};
use serde_json::{json, Value};

use crate::util::TestEnv;

const FAST: &str =
    "  background_refresh_interval_seconds: 1\n  metrics_refresh_interval_seconds: 1\n";

const DATA_ROUTES: [&str; 9] = [
    "/current-state",
    "/decisions",
    "/decisions?time_range=30d",
    "/metrics",
    "/monthly-summary",
    "/monthly-summary?year=2025&month=1",
    "/monthly-comparison",
    "/monthly-comparison?year=2025&month=1",
    "/historical-data",
];

fn db_path(env: &TestEnv) -> PathBuf {
    env.root().join("data/goodwe_energy.db")
}

fn open_db(env: &TestEnv) -> rusqlite::Connection {
    std::fs::create_dir_all(env.root().join("data")).unwrap();
    let c = rusqlite::Connection::open(db_path(env)).unwrap();
    schema::create(&c).unwrap();
    c
}

/// Paths of every JSON number in `v`.
fn numbers(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Number(_) => out.push(path.to_string()),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| numbers(x, &format!("{path}[{i}]"), out)),
        Value::Object(m) => m
            .iter()
            .for_each(|(k, x)| numbers(x, &format!("{path}.{k}"), out)),
        _ => {}
    }
}

#[test]
fn without_db_or_files_every_data_route_is_unavailable_and_has_no_numbers() {
    let env = TestEnv::new();
    let d = env.start(FAST, "");
    // Attempted and finished (a run in flight has `last_attempt` but no outcome yet).
    d.wait_json("/status", Duration::from_secs(10), |v| {
        ["metrics", "inverter"].iter().all(|s| {
            v["sources"][s]["last_attempt"].is_string() && v["sources"][s]["in_flight_s"].is_null()
        })
    });
    for route in DATA_ROUTES {
        let r = d.get(route);
        assert_eq!(r.status, 503, "{route}: {}", r.text());
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["status"], "unavailable", "{route}: {v}");
        assert!(
            v["error"].as_str().unwrap().contains("does not exist"),
            "{route}: {v}"
        );
        let mut found = Vec::new();
        numbers(&v, "", &mut found);
        assert!(found.is_empty(), "{route} holds numbers at {found:?}: {v}");
    }
    let (_, status) = d.get_json("/status");
    assert_eq!(
        status["storage"],
        json!({"connected": false, "has_data": false, "type": "sqlite"})
    );
    // Validation still answers 400 without data.
    assert_eq!(d.get("/decisions?time_range=2y").status, 400);
    assert_eq!(d.get("/monthly-summary?month=13").status, 400);
}

#[test]
fn routes_serve_the_rows_written_and_report_what_they_skipped() {
    let env = TestEnv::new();
    let now = Utc::now();
    let c = open_db(&env);
    // Inverter: a good reading with an "Unknown" SOC, then a newer row with broken metrics.
    let mut cd = writer::current_data(now - Span::seconds(20), 55.0, 850);
    cd["battery"]["soc_percent"] = json!("Unknown");
    writer::state(&c, now - Span::seconds(20), &cd).unwrap();
    writer::state_raw(&c, now - Span::seconds(10), "{\"current_data\": {\"batt").unwrap();
    // A newer state file that is truncated: skipped, the DB reading is used.
    std::fs::create_dir_all(env.root().join("out/energy_data")).unwrap();
    std::fs::create_dir_all(env.root().join("out/daily_snapshots")).unwrap();
    let stamp = (now + Span::seconds(5))
        .with_timezone(&energy_monitor::clock::ZONE)
        .format("%Y%m%d_%H%M%S");
    let state_name = format!("coordinator_state_{stamp}.json");
    std::fs::write(
        env.root().join("out").join(&state_name),
        "{\"timestamp\": \"2026-01-01T00:00:00\", \"current_data\": {\"battery\": {\"soc",
    )
    .unwrap();
    // Decisions: three charges and a wait in the last hour, one charge 3 h ago.
    for (mins, e) in [(50, 2.0), (35, 2.5), (20, 1.5)] {
        writer::charge(&c, now - Span::minutes(mins), e, 0.5, 0.2, "T2").unwrap();
    }
    writer::decision(
        &c,
        now - Span::minutes(5),
        Some("charging"),
        "wait",
        Some("price high"),
        &json!({"confidence": 0.6}),
    )
    .unwrap();
    writer::charge(&c, now - Span::hours(3), 1.0, 0.7, 0.0, "T1").unwrap();
    // A selling decision file with a successful sale 10 minutes ago.
    let sale_at = now - Span::minutes(10);
    let local = sale_at.with_timezone(&energy_monitor::clock::ZONE);
    std::fs::write(
        env.root().join(format!(
            "out/energy_data/battery_selling_decision_{}.json",
            local.format("%Y%m%d_%H%M%S")
        )),
        json!({"timestamp": local.format("%Y-%m-%dT%H:%M:%S").to_string(), "decision": "start_selling",
               "expected_revenue_pln": 1.75, "energy_sold_kwh": 2.0, "execution_success": true})
        .to_string(),
    )
    .unwrap();
    // Energy samples every 5 minutes for the last 2 hours, with a 20-minute gap.
    let mut written = 0;
    for i in 0..24 {
        if (10..14).contains(&i) {
            continue;
        }
        let t = now - Span::minutes(5 * i + 1);
        writer::energy(
            &c,
            t,
            &Sample {
                soc: Some(50.0 + i as f64),
                pv_w: Some(1000 + i),
                grid_w: Some(-300),
                house_w: Some(1500),
                battery_w: Some(200),
                price_pln: Some(0.5),
                import_total_kwh: Some(1000.0 - i as f64 * 0.1),
                tariff_zone: Some("T2"),
            },
        )
        .unwrap();
        written += 1;
    }
    // A snapshot with wrong types, of a day without decisions (a day's snapshot is read
    // only when no decision of that day is held): skipped and reported by its month. The
    // day before the one of 4 hours ago, so that shortly after midnight it is not the day
    // of the decisions above.
    let quiet_day = energy_monitor::clock::local_date(now - Span::hours(4))
        .pred_opt()
        .unwrap();
    std::fs::write(
        env.root().join(format!(
            "out/daily_snapshots/snapshot_{}.json",
            quiet_day.format("%Y%m%d")
        )),
        json!({"date": quiet_day.format("%Y-%m-%d").to_string(), "total_decisions": "two",
               "charging_count": 2, "wait_count": 0, "total_energy_kwh": 4.0,
               "total_cost_pln": 2.0, "total_savings_pln": 0.5})
        .to_string(),
    )
    .unwrap();
    drop(c);

    let d = env.start(FAST, "");
    let state = d.wait_json("/current-state", Duration::from_secs(10), |v| {
        v["source"].is_string()
    });
    assert_eq!(state["source"], "database");
    assert_eq!(state["freshness"], "fresh");
    assert!(state["data_age_s"].as_u64().unwrap() < 120, "{state}");
    assert!(state["battery"]["soc_percent"].is_null(), "Unknown → null");
    assert_eq!(state["battery"]["temperature_c"], 21.5);
    assert_eq!(state["photovoltaic"]["current_power_w"], 850);
    assert_eq!(state["grid"]["current_power_w"], -420);
    assert!(state["pricing"].is_null());
    assert!(state["weather"].is_null());
    assert!(state["decision_factors"].is_null());
    let skipped = state["skipped"].to_string();
    assert!(skipped.contains("system_state id 2"), "{skipped}");
    assert!(skipped.contains(&state_name), "{skipped}");

    let dec = d.wait_json("/decisions", Duration::from_secs(10), |v| {
        v["total_count"].is_number()
    });
    assert_eq!(dec["time_range"], "24h");
    assert_eq!(dec["total_count"], 6);
    assert_eq!(dec["charging_count"], 4);
    assert_eq!(dec["wait_count"], 1);
    assert_eq!(dec["battery_selling_count"], 1);
    assert_eq!(dec["data_source"], "database+files");
    assert_eq!(dec["decisions"][0]["action"], "wait", "newest first");
    assert_eq!(dec["decisions"][1]["action"], "battery_selling");
    assert_eq!(
        dec["decisions"][2]["energy_kwh"], 1.5,
        "parameters flattened"
    );
    let (_, hour) = d.get_json("/decisions?time_range=1h");
    assert_eq!(hour["total_count"], 5);
    let bad = d.get("/decisions?time_range=2y");
    assert_eq!(bad.status, 400);
    let v: Value = serde_json::from_slice(&bad.body).unwrap();
    assert_eq!(v["parameter"], "time_range");
    assert_eq!(v["allowed"], json!(["1h", "24h", "7d", "30d"]));

    let (code, m) = d.get_json("/metrics");
    assert_eq!(code, 200);
    let l = &m["last_24h"];
    assert_eq!(l["decisions"]["charging"], 4);
    assert_eq!(l["energy_charged_kwh"], 7.0);
    assert_eq!(l["charging_cost_pln"], 3.7);
    assert_eq!(l["savings_vs_daily_average_pln"], 0.6);
    assert_eq!(l["selling_revenue_pln"], 1.75);
    assert_eq!(l["avg_price_paid_pln_per_kwh"], 0.5286);
    assert_eq!(m["time_range"], "current_month");
    for key in ["month_to_date", "last_24h"] {
        let keys: Vec<&String> = m[key].as_object().unwrap().keys().collect();
        assert!(keys.len() >= 14, "{key}: one stable shape: {keys:?}");
    }

    let (code, h) = d.get_json("/historical-data");
    assert_eq!(code, 200);
    assert_eq!(h["data_source"], "energy_data");
    assert_eq!(h["slots"], 288);
    assert_eq!(h["data_points"], written);
    let soc = h["soc_data"].as_array().unwrap();
    assert_eq!(soc.len(), 288);
    assert!(soc.iter().filter(|x| x.is_null()).count() >= 288 - written);
    assert_eq!(h["current_soc"], 50.0);
    let newest_pv = h["pv_power_data"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|x| !x.is_null())
        .unwrap();
    assert_eq!(*newest_pv, 1.0, "kW");

    let (code, month) = d.get_json("/monthly-summary");
    assert_eq!(code, 200);
    assert!(month["month_name"].is_string());
    let (y, mo) = (
        chrono::Datelike::year(&quiet_day),
        chrono::Datelike::month(&quiet_day),
    );
    let (code, ym) = d.get_json(&format!("/monthly-summary?year={y}&month={mo}"));
    assert_eq!(code, 200, "{ym}");
    assert!(
        ym["skipped"].to_string().contains("snapshot_"),
        "the corrupt snapshot is reported: {ym}"
    );
    for (q, param) in [
        ("month=13", "month"),
        ("month=0", "month"),
        ("month=x", "month"),
        ("year=abc", "year"),
        ("year=9999&month=1", "year"),
    ] {
        let r = d.get(&format!("/monthly-summary?{q}"));
        assert_eq!(r.status, 400, "{q}");
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["parameter"], param, "{q}: {v}");
    }
    let old = d.get("/monthly-summary?year=2001&month=1");
    assert_eq!(old.status, 404, "{}", old.text());
    let (code, cmp) = d.get_json("/monthly-comparison");
    assert_eq!(code, 200);
    // The month before holds no data on the same days: there is no change to state, so
    // the percentages are null (not +100 %), and each month is named.
    assert!(cmp["changes"]["cost_change_pct"].is_null(), "{cmp}");
    assert!(cmp["current_month"]["total_cost_pln"].is_number(), "{cmp}");
    assert!(cmp["previous_month"]["label"].is_string(), "{cmp}");
    // The dashboard asks for the previous month explicitly; it is served even when it
    // has no data (then with zero days).
    let today = energy_monitor::clock::local_date(now);
    let (py, pm) = if chrono::Datelike::month(&today) == 1 {
        (chrono::Datelike::year(&today) - 1, 12)
    } else {
        (
            chrono::Datelike::year(&today),
            chrono::Datelike::month(&today) - 1,
        )
    };
    let (code, explicit) = d.get_json(&format!("/monthly-comparison?year={py}&month={pm}"));
    assert_eq!(code, 200, "{explicit}");
    assert_eq!(explicit["changes"], cmp["changes"]);

    let (_, status) = d.get_json("/status");
    assert_eq!(
        status["storage"],
        json!({"connected": true, "has_data": true, "type": "sqlite"})
    );
}

#[test]
fn a_db_that_appears_and_is_then_replaced_is_picked_up() {
    let env = TestEnv::new();
    let d = env.start(FAST, "");
    // Until the source's first read (late on a busy machine) the error says "not been read
    // yet"; wait for the read itself.
    let v = d.wait_json("/current-state", Duration::from_secs(10), |v| {
        v["status"] == "unavailable"
            && !v["error"]
                .as_str()
                .is_some_and(|e| e.contains("not been read yet"))
    });
    assert!(
        v["error"].as_str().unwrap().contains("does not exist"),
        "{v}"
    );

    let now = Utc::now();
    let c = open_db(&env);
    writer::state(&c, now, &writer::current_data(now, 41.0, 100)).unwrap();
    drop(c);
    let v = d.wait_json("/current-state", Duration::from_secs(10), |v| {
        v["battery"]["soc_percent"] == 41.0
    });
    assert_eq!(v["source"], "database");

    // Replace the file with a new one (new inode) holding a different reading.
    let tmp = env.root().join("data/next.db");
    let c = rusqlite::Connection::open(&tmp).unwrap();
    schema::create(&c).unwrap();
    writer::state(&c, now, &writer::current_data(now, 77.0, 100)).unwrap();
    c.pragma_update(None, "journal_mode", "DELETE").unwrap();
    drop(c);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db_path(&env).display()));
    }
    std::fs::rename(&tmp, db_path(&env)).unwrap();
    d.wait_json("/current-state", Duration::from_secs(10), |v| {
        v["battery"]["soc_percent"] == 77.0
    });
}
