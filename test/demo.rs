//! `energy-monitor demo`: the real binary generates a demo directory, serves it, and stops
//! cleanly on SIGTERM; it never overwrites a directory it did not write. The seeded demo
//! data is also the fixture on which `/metrics` and `/monthly-summary` must agree.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::{bin, free_port, raw_get, Daemon};

fn count(conn: &rusqlite::Connection, table: &str) -> i64 {
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn demo_generates_serves_and_stops_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let port = free_port();
    let mut child = Command::new(bin())
        .args(["demo", "--dir"])
        .arg(&dir)
        .args(["--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn energy-monitor demo");
    let output = Arc::new(Mutex::new(String::new()));
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let sink = Arc::clone(&output);
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
    }
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            panic!("demo exited early ({st}):\n{}", output.lock().unwrap());
        }
        if raw_get(addr, "/health")
            .map(|r| r.status == 200)
            .unwrap_or(false)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "demo did not serve /health in time:\n{}",
            output.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let printed = output.lock().unwrap().clone();
    assert!(printed.contains("SYNTHETIC"), "{printed}");
    assert!(
        printed.contains(&format!("http://127.0.0.1:{port}/")),
        "{printed}"
    );

    // The files of a coordinator root, 30 days by default.
    for f in [
        ".energy-monitor-demo",
        "energy-monitor.yaml",
        "energy-monitor/price_cache.json",
        "logs/master_coordinator.log",
        "logs/fast_charge.log",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let names = |sub: &str| -> Vec<String> {
        std::fs::read_dir(dir.join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let decisions = names("out/energy_data");
    assert!(decisions
        .iter()
        .any(|n| n.starts_with("charging_decision_")));
    assert!(decisions
        .iter()
        .any(|n| n.starts_with("battery_selling_decision_")));
    assert!(names("out/daily_snapshots").len() >= 29);
    assert_eq!(
        names("out")
            .iter()
            .filter(|n| n.starts_with("coordinator_state_"))
            .count(),
        1
    );
    let cache: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("energy-monitor/price_cache.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cache["format"], "energy-monitor-price-cache");
    assert_eq!(cache["days"].as_array().unwrap().len(), 2);
    let quarters = cache["days"][0]["quarters"].as_array().unwrap().len();
    assert!([92, 96, 100].contains(&quarters), "{quarters}");

    // Row counts: exact for the generated history, plus at most a few live minutes.
    let conn = rusqlite::Connection::open_with_flags(
        dir.join("data/goodwe_energy.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let (energy, state, decided) = (
        count(&conn, "energy_data"),
        count(&conn, "system_state"),
        count(&conn, "coordinator_decisions"),
    );
    assert!((8640..=8645).contains(&energy), "{energy}");
    assert!((43_200..=43_210).contains(&state), "{state}");
    assert!((2880..=2882).contains(&decided), "{decided}");
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");

    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "demo did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(0), "{}", output.lock().unwrap());

    // A second run reuses its own directory.
    let again = Command::new(bin())
        .args(["demo", "--no-serve", "--days", "1", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0));
}

#[test]
fn demo_refuses_a_directory_it_did_not_write() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
    let out = Command::new(bin())
        .args(["demo", "--no-serve", "--days", "1", "--dir"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to overwrite"), "{err}");
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("notes.txt")).unwrap(),
        "mine"
    );
    assert!(!tmp.path().join("data").exists());
}

/// Every number in `v` with its path, for the `-0.0` scan.
fn negative_zeros(v: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Number(n)
            if n.as_f64().is_some_and(|x| x == 0.0 && x.is_sign_negative()) =>
        {
            out.push(path.to_string());
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                negative_zeros(x, &format!("{path}[{i}]"), out);
            }
        }
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                negative_zeros(x, &format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

/// The seeded demo (seed 7, 45 days up to Friday 2026-11-20 12:00 Warsaw), served by the
/// real daemon: `/metrics`' month-to-date and `/monthly-summary` for November are one
/// definition of a month, and no body anywhere holds `-0.0`.
#[test]
fn metrics_and_the_month_summary_agree_and_no_body_holds_negative_zero() {
    const NOW: &str = "2026-11-20T11:00:00Z";
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let port = free_port();
    let out = Command::new(bin())
        .args(["demo", "--no-serve", "--days", "45", "--seed", "7"])
        .args(["--port", &port.to_string(), "--dir"])
        .arg(&dir)
        .env("ENERGY_MONITOR_FAKE_NOW", NOW)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The fixture holds selling decisions that exist only as files (not in the DB), and
    // daily snapshot files written from the DB rows alone.
    let conn = rusqlite::Connection::open_with_flags(
        dir.join("data/goodwe_energy.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let db_november: i64 = conn
        .query_row(
            "SELECT count(*) FROM coordinator_decisions WHERE timestamp >= '2026-11-01' AND timestamp < '2026-12-01'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    drop(conn);

    let config = dir.join("energy-monitor.yaml");
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let d = Daemon::spawn_with_env(
        &["--config".as_ref(), config.as_os_str()],
        &[("ENERGY_MONITOR_FAKE_NOW", NOW)],
        addr,
    );
    let month = d.wait_json(
        "/monthly-summary?year=2026&month=10",
        Duration::from_secs(20),
        |v| v["days_with_data"].as_u64().is_some(),
    );
    assert!(month["days_with_data"].as_u64().unwrap() >= 20, "{month}");
    let nov = d.wait_json("/monthly-summary", Duration::from_secs(20), |v| {
        v["label"] == "2026-11"
    });
    let (code, m) = d.get_json("/metrics");
    assert_eq!(code, 200, "{m}");
    let mtd = &m["month_to_date"];
    assert!(nov["total_decisions"].as_u64().unwrap() > 1000, "{nov}");
    // Same decisions: the DB rows of November plus the file-only ones.
    assert!(
        nov["total_decisions"].as_i64().unwrap() >= db_november,
        "{} < {db_november}",
        nov["total_decisions"]
    );
    assert!(nov["selling_count"].as_u64().unwrap() > 0, "{nov}");
    for (metrics_key, month_key) in [
        ("total_decisions", "total_decisions"),
        ("charging_count", "charging_count"),
        ("wait_count", "wait_count"),
        ("battery_selling_count", "selling_count"),
        ("total_energy_charged_kwh", "total_energy_kwh"),
        ("total_cost_pln", "total_cost_pln"),
        ("total_savings_pln", "total_savings_pln"),
        ("savings_percentage", "savings_percentage"),
        ("avg_cost_per_kwh_pln", "avg_cost_per_kwh"),
        ("charging_incomplete", "charging_incomplete"),
    ] {
        assert_eq!(
            m[metrics_key], nov[month_key],
            "/metrics {metrics_key} vs /monthly-summary {month_key}"
        );
    }
    assert_eq!(mtd["charging_cost_pln"], nov["total_cost_pln"]);
    assert_eq!(mtd["selling_revenue_pln"], nov["selling_revenue_pln"]);
    assert_eq!(mtd["decisions"]["total"], nov["total_decisions"]);
    // The days' sums add up to the month (each day rounded on its own, so within a cent
    // per day), and past days come from the rows (the snapshot files only stand in for
    // days without rows).
    let days = nov["daily_summaries"].as_array().unwrap();
    let day_total: u64 = days
        .iter()
        .map(|x| x["total_decisions"].as_u64().unwrap())
        .sum();
    assert_eq!(day_total, nov["total_decisions"].as_u64().unwrap());
    assert_eq!(
        nov["day_sources"]["snapshot_file"], 0,
        "{}",
        nov["day_sources"]
    );

    // Every pre-built body: no -0.0 anywhere.
    let mut paths: Vec<String> = [
        "/health",
        "/status",
        "/current-state",
        "/metrics",
        "/historical-data",
        "/monthly-summary",
        "/monthly-comparison",
        "/prices",
        "/prices?day=today",
        "/prices?day=tomorrow",
        "/logs/files",
        "/logs",
        "/api/dashboard",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for range in ["1h", "24h", "7d", "30d"] {
        paths.push(format!("/decisions?time_range={range}"));
    }
    for (y, mo) in [(2026, 9), (2026, 10), (2026, 11)] {
        paths.push(format!("/monthly-summary?year={y}&month={mo}"));
        paths.push(format!("/monthly-comparison?year={y}&month={mo}"));
    }
    for p in &paths {
        let r = d.get(p);
        assert!([200, 404, 503].contains(&r.status), "{p}: {}", r.status);
        let v: serde_json::Value =
            serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{p}: not JSON ({e})"));
        let mut found = Vec::new();
        negative_zeros(&v, p, &mut found);
        assert!(found.is_empty(), "-0.0 at {found:?}");
    }
}
