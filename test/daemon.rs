//! The daemon core: /health, /status, routing errors, HEAD, shutdown, connections.

use std::time::Duration;

use crate::util::{raw_request, TestEnv};

#[test]
fn health_status_and_routing() {
    let env = TestEnv::new();
    let d = env.start("  coordinator_pid_check_interval_seconds: 1\n", "");
    let (code, health) = d.get_json("/health");
    assert_eq!(code, 200);
    assert_eq!(health["status"], "healthy");

    let status = d.wait_json("/status", Duration::from_secs(5), |v| {
        v["coordinator_running"].is_boolean()
    });
    assert_eq!(status["status"], "running");
    assert_eq!(status["coordinator_running"], false);
    assert!(status["coordinator_pid"].is_null());
    assert!(status["server_uptime"].is_number());
    assert!(status["server_uptime_human"].is_string());
    assert!(status["version"].is_string());
    assert!(status["timestamp"].is_string());
    assert_eq!(status["background_worker"]["alive"], true);
    for key in ["inverter_s", "price_s", "metrics_s"] {
        let age = &status["background_worker"]["cache_ages"][key];
        assert!(
            age.is_null() || age.as_f64().unwrap() < 86_400.0,
            "{key}: {age} looks like seconds since the epoch"
        );
    }
    assert!(status["storage"]["connected"].is_boolean());
    assert!(status["log_files"].is_object());
    let coord = &status["sources"]["coordinator"];
    assert_eq!(coord["state"], "fresh");
    assert_eq!(coord["consecutive_failures"], 0);
    assert!(coord["next_refresh_in_s"].is_number());

    let not_found = d.get("/no/such/route");
    assert_eq!(not_found.status, 404);
    let v: serde_json::Value = serde_json::from_slice(&not_found.body).unwrap();
    assert!(v["routes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == "/status"));

    let post = raw_request(
        d.addr,
        "POST /status HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    )
    .unwrap();
    assert_eq!(post.status, 405);
    assert_eq!(post.header("Allow"), Some("GET, HEAD"));
    assert!(serde_json::from_slice::<serde_json::Value>(&post.body).unwrap()["error"].is_string());

    let head = raw_request(d.addr, "HEAD /status HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert!(
        head.header("Content-Length")
            .unwrap()
            .parse::<usize>()
            .unwrap()
            > 10
    );
    assert_eq!(head.header("Connection"), Some("close"));

    let etag = d.get("/health").header("ETag").unwrap().to_string();
    let cond = raw_request(
        d.addr,
        &format!("GET /health HTTP/1.1\r\nHost: t\r\nIf-None-Match: {etag}\r\n\r\n"),
    )
    .unwrap();
    assert!(cond.status == 304 || cond.status == 200, "{}", cond.status);
}
