//! Delivery: change-driven versions (an unchanged poll is a 304 even while sources keep
//! refreshing), compression and pushed updates.

use std::time::Duration;

use crate::util::{raw_request, TestEnv};

fn conditional(addr: std::net::SocketAddr, path: &str, etag: &str) -> crate::util::Response {
    raw_request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: {etag}\r\n\r\n"),
    )
    .unwrap()
}

/// The logs source refreshes every second and finds the same files each time: that moves
/// nothing, so 12 polls a second apart (what the page does, faster) are nearly all 304s.
#[test]
fn unchanged_dashboard_polls_are_304_while_sources_refresh() {
    let env = TestEnv::new();
    std::fs::write(
        env.root().join("logs/coordinator.log"),
        "2026-03-01 10:00:00,000 - INFO - started\n",
    )
    .unwrap();
    let d = env.start("", "logs:\n  refresh_seconds: 1\n");
    d.wait_json("/status", Duration::from_secs(10), |v| {
        v["sources"]["logs"]["last_success"].is_string()
    });
    // Let the first runs of every source land.
    std::thread::sleep(Duration::from_secs(2));
    let (_, before) = d.get_json("/status");
    let first = d.get("/api/dashboard");
    assert_eq!(first.status, 200);
    let mut etag = first.header("ETag").unwrap().to_string();
    let mut not_modified = 0;
    for _ in 0..12 {
        std::thread::sleep(Duration::from_secs(1));
        let r = conditional(d.addr, "/api/dashboard", &etag);
        match r.status {
            304 => not_modified += 1,
            200 => etag = r.header("ETag").unwrap().to_string(),
            other => panic!("unexpected {other}"),
        }
    }
    let (_, after) = d.get_json("/status");
    // The logs source did refresh meanwhile (so the 304s are not for want of refreshes).
    assert_ne!(
        before["sources"]["logs"]["last_success"],
        after["sources"]["logs"]["last_success"]
    );
    assert_eq!(
        before["sources"]["logs"]["changed_at"],
        after["sources"]["logs"]["changed_at"]
    );
    assert!(not_modified >= 11, "{not_modified} of 12 polls were 304");
}

/// A file that does change moves the version: the next poll is a 200 with a new ETag.
#[test]
fn a_changed_log_file_changes_the_dashboard() {
    let env = TestEnv::new();
    let log = env.root().join("logs/coordinator.log");
    std::fs::write(&log, "2026-03-01 10:00:00,000 - INFO - started\n").unwrap();
    let d = env.start("", "logs:\n  refresh_seconds: 1\n");
    d.wait_json("/status", Duration::from_secs(10), |v| {
        v["sources"]["logs"]["last_success"].is_string()
    });
    let (_, first) = d.get_json("/api/dashboard");
    let changed = first["status"]["sources"]["logs"]["changed_at"].clone();
    assert!(changed.is_string(), "{first}");
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&log, "2026-03-01 10:00:00,000 - INFO - started\nmore\n").unwrap();
    d.wait_json("/api/dashboard", Duration::from_secs(5), |v| {
        v["status"]["sources"]["logs"]["changed_at"] != changed
    });
}
