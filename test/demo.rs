//! `energy-monitor demo`: the real binary generates a demo directory, serves it, and stops
//! cleanly on SIGTERM; it never overwrites a directory it did not write.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::{bin, free_port, raw_get};

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
