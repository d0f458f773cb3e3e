//! Delivery: change-driven versions (an unchanged poll is a 304 even while sources keep
//! refreshing), compression and pushed updates.

use std::time::Duration;

use crate::util::{raw_request, Response, TestEnv};

fn conditional(addr: std::net::SocketAddr, path: &str, etag: &str) -> Response {
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

/// Generates a demo directory of `days` days (not served) and starts the daemon on it.
pub fn demo_daemon(tmp: &std::path::Path, days: u32) -> crate::util::Daemon {
    let dir = tmp.join("demo");
    let port = crate::util::free_port();
    let out = std::process::Command::new(crate::util::bin())
        .args(["demo", "--no-serve", "--days", &days.to_string(), "--dir"])
        .arg(&dir)
        .args(["--port", &port.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let config = dir.join("energy-monitor.yaml");
    crate::util::Daemon::spawn(
        &["-c".as_ref(), config.as_os_str()],
        format!("127.0.0.1:{port}").parse().unwrap(),
    )
}

fn get_with(addr: std::net::SocketAddr, method: &str, path: &str, headers: &str) -> Response {
    raw_request(
        addr,
        &format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n"),
    )
    .unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out).unwrap();
    out
}

/// Every pre-built body of 1 KiB or more has a gzip variant that decompresses to exactly
/// the plain bytes, with its own ETag, `Content-Encoding` and `Vary` on both variants.
#[test]
fn gzip_variants_decompress_to_the_plain_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let d = demo_daemon(tmp.path(), 3);
    d.wait_json("/api/dashboard", Duration::from_secs(30), |v| {
        v["decisions"].is_object() && v["prices"].is_object() && v["month"].is_object()
    });
    let routes = [
        "/",
        "/app.js",
        "/app.css",
        "/api/dashboard",
        "/status",
        "/prices",
        "/current-state",
        "/decisions?time_range=24h",
        "/decisions?time_range=7d",
        "/decisions?time_range=30d",
        "/metrics",
        "/historical-data",
        "/historical-data?range=7d",
        "/monthly-summary",
        "/monthly-comparison",
        "/metrics/prometheus",
        "/logs/files",
    ];
    let mut compressed = 0;
    for path in routes {
        // A body may be rebuilt between the two requests: retry until both are of one build.
        let mut checked = false;
        for _ in 0..20 {
            let plain = get_with(d.addr, "GET", path, "");
            let gz = get_with(d.addr, "GET", path, "Accept-Encoding: gzip, br\r\n");
            assert_eq!(plain.header("Content-Encoding"), None, "{path}");
            let plain_etag = plain.header("ETag").unwrap().to_string();
            if plain.body.len() < 1024 || plain.status != 200 {
                assert_eq!(gz.header("Content-Encoding"), None, "{path}");
                checked = true;
                break;
            }
            assert_eq!(gz.header("Content-Encoding"), Some("gzip"), "{path}");
            assert_eq!(plain.header("Vary"), Some("Accept-Encoding"), "{path}");
            assert_eq!(gz.header("Vary"), Some("Accept-Encoding"), "{path}");
            let gz_etag = gz.header("ETag").unwrap();
            if gz_etag != format!("{}-gz\"", plain_etag.trim_end_matches('"')) {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            assert!(gz.body.len() < plain.body.len(), "{path}");
            assert!(
                gunzip(&gz.body) == plain.body,
                "{path}: gzip variant differs"
            );
            compressed += 1;
            checked = true;
            break;
        }
        assert!(checked, "{path}: no two answers of one build");
    }
    assert!(compressed >= 12, "only {compressed} routes were compressed");
}

/// 304 works for both variants, a weak `If-None-Match` matches, the variants' ETags never
/// match each other, HEAD announces the gzip length, and `q=0` refuses gzip.
#[test]
fn gzip_conditional_requests_and_head() {
    let env = TestEnv::new();
    let d = env.start("", "");
    let path = "/app.js";
    let plain = get_with(d.addr, "GET", path, "");
    let gz = get_with(d.addr, "GET", path, "Accept-Encoding: gzip\r\n");
    let (pe, ge) = (
        plain.header("ETag").unwrap().to_string(),
        gz.header("ETag").unwrap().to_string(),
    );
    assert_ne!(pe, ge);
    let ae = "Accept-Encoding: gzip\r\n";
    for (headers, status, etag) in [
        (format!("{ae}If-None-Match: {ge}\r\n"), 304, &ge),
        (format!("{ae}If-None-Match: W/{ge}\r\n"), 304, &ge),
        (format!("If-None-Match: {pe}\r\n"), 304, &pe),
        (format!("If-None-Match: W/{pe}\r\n"), 304, &pe),
        (format!("If-None-Match: {ge}\r\n"), 200, &pe),
        (format!("{ae}If-None-Match: {pe}\r\n"), 200, &ge),
    ] {
        let r = get_with(d.addr, "GET", path, &headers);
        assert_eq!(r.status, status, "{headers}");
        assert_eq!(r.header("ETag"), Some(etag.as_str()), "{headers}");
        assert_eq!(r.header("Vary"), Some("Accept-Encoding"), "{headers}");
        if status == 304 {
            assert!(r.body.is_empty());
        }
    }
    let head = get_with(d.addr, "HEAD", path, ae);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        head.header("Content-Length"),
        Some(gz.body.len().to_string().as_str())
    );
    assert_eq!(head.header("Content-Encoding"), Some("gzip"));
    let refused = get_with(d.addr, "GET", path, "Accept-Encoding: gzip;q=0, br\r\n");
    assert_eq!(refused.header("Content-Encoding"), None);
    assert_eq!(refused.body, plain.body);
}
