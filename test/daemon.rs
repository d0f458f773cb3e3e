//! The daemon core: /health, /status, routing errors, HEAD, shutdown, connections.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{raw_request, read_response, KillOnDrop, TestEnv};

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
        "POST /status HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n",
    )
    .unwrap();
    assert_eq!(post.status, 405);
    assert_eq!(post.header("Allow"), Some("GET, HEAD"));
    assert!(serde_json::from_slice::<serde_json::Value>(&post.body).unwrap()["error"].is_string());

    let head = raw_request(d.addr, "HEAD /status HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert!(
        head.header("Content-Length")
            .unwrap()
            .parse::<usize>()
            .unwrap()
            > 10
    );
    // Connections stay open (HTTP/1.1 keep-alive) unless the client asks otherwise.
    assert_eq!(head.header("Connection"), Some("keep-alive"));

    let etag = d.get("/health").header("ETag").unwrap().to_string();
    let cond = raw_request(
        d.addr,
        &format!("GET /health HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: {etag}\r\n\r\n"),
    )
    .unwrap();
    assert!(cond.status == 304 || cond.status == 200, "{}", cond.status);
}

/// Requests already sent when SIGTERM arrives are all answered; exit 0 within 2 s.
#[test]
fn sigterm_answers_requests_in_flight_and_exits_0() {
    let env = TestEnv::new();
    let mut d = env.start("", "");
    let mut streams = Vec::new();
    for _ in 0..24 {
        let mut s = std::net::TcpStream::connect(d.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /status HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        streams.push(s);
    }
    std::thread::sleep(Duration::from_millis(30));
    d.signal("TERM");
    for (i, mut s) in streams.into_iter().enumerate() {
        let r = read_response(&mut s, false).unwrap_or_else(|e| panic!("request {i} lost: {e}"));
        assert_eq!(r.status, 200, "request {i}");
        assert!(
            serde_json::from_slice::<serde_json::Value>(&r.body).is_ok(),
            "request {i}: torn body"
        );
    }
    let (status, took) = d
        .wait_exit(Duration::from_secs(2))
        .expect("did not exit within 2 s");
    assert_eq!(status.code(), Some(0), "{}", d.log());
    assert!(took < Duration::from_secs(2));
    assert!(d.log().contains("SIGTERM received"));
}

#[test]
fn sigint_also_stops_gracefully() {
    let env = TestEnv::new();
    let mut d = env.start("", "");
    d.signal("INT");
    let (status, _) = d
        .wait_exit(Duration::from_secs(2))
        .expect("did not exit within 2 s");
    assert_eq!(status.code(), Some(0));
}

/// A real child process whose command line runs `master_coordinator.py` is found (and
/// decoys that merely mention the name are not); when it is killed, `coordinator_running`
/// turns false within one interval.
#[test]
fn coordinator_detection_with_a_real_process() {
    let mut env = TestEnv::new();
    // A script name of this test's own: other tests may run coordinators at the same time.
    env.process_match = format!("master_coordinator_{}.py", std::process::id());
    let script = env.root().join(&env.process_match);
    std::fs::write(&script, "import time\nwhile True:\n    time.sleep(1)\n").unwrap();
    // Decoys, started first so that a naive "first match" would pick them.
    let _tail = KillOnDrop(
        Command::new("tail")
            .arg("-f")
            .arg(&script)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let _grep = KillOnDrop(
        Command::new("python3")
            .arg("-c")
            .arg("import os,sys; os.execv('/usr/bin/tail', ['grep', '-f', sys.argv[1]])")
            .arg(&script)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let d = env.start("  coordinator_pid_check_interval_seconds: 1\n", "");
    std::thread::sleep(Duration::from_millis(1500));
    let (_, v) = d.get_json("/status");
    assert_eq!(
        v["coordinator_running"], false,
        "a decoy was taken for the coordinator: {}",
        v["coordinator"]
    );

    let mut coordinator = KillOnDrop(Command::new("python3").arg(&script).spawn().unwrap());
    let pid = coordinator.id();
    let v = d.wait_json("/status", Duration::from_secs(5), |v| {
        v["coordinator_running"] == true
    });
    assert_eq!(v["coordinator_pid"], pid);
    let c = &v["coordinator"];
    assert!(c["rss_bytes"].as_u64().unwrap() > 0);
    assert!(c["uptime_s"].is_number());
    let v = d.wait_json("/status", Duration::from_secs(5), |v| {
        v["coordinator"]["cpu_percent"].is_number()
    });
    assert!(v["coordinator"]["cpu_percent"].as_f64().unwrap() >= 0.0);

    coordinator.0.kill().unwrap();
    coordinator.0.wait().unwrap();
    let killed = Instant::now();
    d.wait_json("/status", Duration::from_millis(2500), |v| {
        v["coordinator_running"] == false
    });
    eprintln!(
        "coordinator_running turned false {:?} after the kill",
        killed.elapsed()
    );
}

/// Out of file descriptors (a 40-descriptor limit and 60 connections held open), the
/// daemon neither exits nor stops accepting: the connections beyond what fits are answered
/// or closed, a line is logged (once a minute), and when the clients go away it serves again.
#[test]
fn running_out_of_file_descriptors_is_survived() {
    let env = TestEnv::new();
    let mut d = env.start_wrapped(
        "  keep_alive_seconds: 2\n",
        "",
        &[("WATCHDOG_USEC", "1000000")],
        &["sh", "-c", "ulimit -n 40 && exec \"$@\"", "sh"],
    );
    let mut held = Vec::new();
    for _ in 0..60 {
        match std::net::TcpStream::connect(d.addr) {
            Ok(s) => held.push(s),
            Err(_) => break,
        }
    }
    // Longer than three failed self-checks would take (one every 0.5 s here).
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        d.child.try_wait().unwrap().is_none(),
        "exited:\n{}",
        d.log()
    );
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match raw_request(d.addr, "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n") {
            Ok(r) if r.status == 200 => break,
            other => assert!(
                Instant::now() < deadline,
                "not serving again: {other:?}\n{}",
                d.log()
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Whether accept() or the connection's own setup ran out first depends on timing.
    let log = d.log();
    assert!(
        log.contains("Too many open files") && log.contains("raise LimitNOFILE"),
        "{log}"
    );
    assert!(d.child.try_wait().unwrap().is_none());
}

/// A second signal during the graceful stop exits at once (status 1).
#[test]
fn a_second_signal_exits_at_once() {
    let env = TestEnv::new();
    let mut d = env.start("", "");
    // Keep the graceful path busy: a client that sends many pipelined requests and reads
    // nothing leaves the server blocked writing answers, which the stop waits for (up to
    // its bound of 0.6 s).
    let busy = std::net::TcpStream::connect(d.addr).unwrap();
    let mut writer = busy.try_clone().unwrap();
    std::thread::spawn(move || {
        let requests = "GET /status HTTP/1.1\r\nHost: localhost\r\n\r\n".repeat(1000);
        for _ in 0..100 {
            if writer.write_all(requests.as_bytes()).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    d.signal("TERM");
    // Standard signals do not queue: wait until the first one was taken.
    let deadline = Instant::now() + Duration::from_secs(2);
    while !d.log().contains("SIGTERM received") {
        assert!(
            Instant::now() < deadline,
            "first SIGTERM not taken:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let second = Instant::now();
    d.signal("TERM");
    let result = d.wait_exit(Duration::from_secs(2));
    drop(busy);
    let (status, _) = result.expect("did not exit");
    assert_eq!(status.code(), Some(1), "{}", d.log());
    assert!(
        !d.log().contains("stopped"),
        "the second signal should not wait for the graceful stop"
    );
    assert!(second.elapsed() < Duration::from_millis(700));
}

/// Under systemd: READY=1 once listening, WATCHDOG=1 while the self-check passes, and
/// STOPPING=1 at shutdown, sent to the socket in NOTIFY_SOCKET.
#[test]
fn systemd_notifications_ready_watchdog_stopping() {
    let env = TestEnv::new();
    let sock_path = env.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let sock_str = sock_path.to_string_lossy().into_owned();
    let mut d = env.start_with_env(
        "",
        "",
        &[
            ("NOTIFY_SOCKET", sock_str.as_str()),
            ("WATCHDOG_USEC", "1000000"),
        ],
    );
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline
        && seen.iter().filter(|m: &&String| *m == "WATCHDOG=1").count() < 2
    {
        if let Ok(n) = sock.recv(&mut buf) {
            seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    assert_eq!(
        seen.first().map(String::as_str),
        Some("READY=1"),
        "{seen:?}"
    );
    assert!(
        seen.iter().filter(|m| *m == "WATCHDOG=1").count() >= 2,
        "{seen:?}"
    );
    d.signal("TERM");
    let (status, _) = d.wait_exit(Duration::from_secs(2)).expect("exits");
    assert_eq!(status.code(), Some(0));
    let mut rest = Vec::new();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    while let Ok(n) = sock.recv(&mut buf) {
        rest.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(rest.iter().any(|m| m == "STOPPING=1"), "{rest:?}");
}
