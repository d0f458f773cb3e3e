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

/// Renderer and composer runs the daemon logged (at log level `trace`).
fn runs_logged(d: &crate::util::Daemon) -> Vec<String> {
    d.log()
        .lines()
        .filter(|l| l.contains("renderer ran") || l.contains("composer ran"))
        .map(str::to_string)
        .collect()
}

/// With only the logs source running (every second) and nothing changing, no body is
/// rebuilt, yet `/status` and the Prometheus body are exact as of each answer: the logs
/// source's last success, the ages and the uptime move between two answers.
#[test]
fn runs_that_find_nothing_new_rebuild_nothing_and_answers_stay_exact() {
    let env = TestEnv::new();
    std::fs::write(
        env.root().join("logs/coordinator.log"),
        "2026-03-01 10:00:00,000 - INFO - started\n",
    )
    .unwrap();
    let hour = "  background_refresh_interval_seconds: 3600\n  price_refresh_interval_seconds: 3600\n  metrics_refresh_interval_seconds: 3600\n  coordinator_pid_check_interval_seconds: 3600\n";
    let d = env.start(
        hour,
        "log_level: trace\nlogs:\n  refresh_seconds: 1\n  journal_refresh_seconds: 3600\nhost:\n  refresh_seconds: 3600\n",
    );
    d.wait_json("/status", Duration::from_secs(10), |v| {
        v["sources"]["logs"]["last_success"].is_string()
    });
    // Let every source's first run (and a first retry) land.
    std::thread::sleep(Duration::from_secs(3));
    let (_, a) = d.get_json("/status");
    let pa = d.get("/metrics/prometheus").text();
    let runs_a = runs_logged(&d);
    std::thread::sleep(Duration::from_millis(3500));
    let (_, b) = d.get_json("/status");
    let pb = d.get("/metrics/prometheus").text();
    let runs_b = runs_logged(&d);

    // Only the logs source ran in between (the test's premise) ...
    for (name, s) in b["sources"].as_object().unwrap() {
        if name != "logs" {
            assert_eq!(
                s["last_attempt"], a["sources"][name]["last_attempt"],
                "{name} ran"
            );
        }
    }
    let success = |v: &serde_json::Value| {
        v["sources"]["logs"]["last_success"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_ne!(success(&a), success(&b), "the logs source did not run");
    // ... nothing was rebuilt for it ...
    assert_eq!(
        runs_a.len(),
        runs_b.len(),
        "runs while nothing changed: {:?}",
        &runs_b[runs_a.len()..]
    );
    // ... and the answers moved with it and with the clock.
    let uptime = |v: &serde_json::Value| v["server_uptime"].as_f64().unwrap();
    assert!(
        uptime(&b) - uptime(&a) >= 3.0,
        "{} → {}",
        uptime(&a),
        uptime(&b)
    );
    assert_ne!(a["timestamp"], b["timestamp"]);
    let logs_success = |text: &str| {
        text.lines()
            .find(|l| {
                l.starts_with(
                    "energy_monitor_source_last_success_timestamp_seconds{source=\"logs\"}",
                )
            })
            .map(str::to_string)
            .unwrap()
    };
    assert_ne!(logs_success(&pa), logs_success(&pb));
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

/// Waits until the first refreshes have landed: the same dashboard ETag a second apart.
fn settled(d: &crate::util::Daemon) {
    let mut last = String::new();
    for _ in 0..30 {
        let etag = d
            .get("/api/dashboard")
            .header("ETag")
            .unwrap_or("")
            .to_string();
        if etag == last {
            return;
        }
        last = etag;
        std::thread::sleep(Duration::from_secs(1));
    }
    panic!("the dashboard never settled");
}

/// One server-sent event (or a comment line, as `comment`).
#[derive(Debug, Default)]
struct Event {
    name: String,
    id: String,
    data: String,
    comment: bool,
}

/// Reads `/events` off a raw connection.
struct Stream {
    reader: std::io::BufReader<std::net::TcpStream>,
    pub status: u16,
}

impl Stream {
    fn open(addr: std::net::SocketAddr, headers: &str) -> Stream {
        use std::io::{BufRead, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET /events HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n"
        )
        .unwrap();
        let mut reader = std::io::BufReader::new(s);
        reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let status = line.split(' ').nth(1).unwrap().parse().unwrap();
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        Stream { reader, status }
    }

    /// The next event or comment within `limit`; `None` at a timeout or the end.
    fn next(&mut self, limit: Duration) -> Option<Event> {
        use std::io::BufRead;
        let until = std::time::Instant::now() + limit;
        let mut ev = Event::default();
        let mut line = String::new();
        loop {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            self.reader.get_ref().set_read_timeout(Some(left)).unwrap();
            line.clear();
            match self.reader.read_line(&mut line) {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
            let l = line.trim_end_matches('\n');
            if l.is_empty() {
                if ev.comment || !ev.data.is_empty() || !ev.name.is_empty() {
                    return Some(ev);
                }
                continue;
            }
            if l.starts_with(':') {
                ev.comment = true;
                ev.data = l.to_string();
            } else if let Some((k, v)) = l.split_once(": ") {
                match k {
                    "event" => ev.name = v.to_string(),
                    "id" => ev.id = v.to_string(),
                    "data" => ev.data.push_str(v),
                    _ => {}
                }
            }
        }
    }

    /// The next event named `name` within `limit`.
    fn next_named(&mut self, name: &str, limit: Duration) -> Option<Event> {
        let until = std::time::Instant::now() + limit;
        loop {
            let ev = self.next(until.saturating_duration_since(std::time::Instant::now()))?;
            if ev.name == name {
                return Some(ev);
            }
        }
    }
}

fn env_with_db() -> (TestEnv, rusqlite::Connection) {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.root().join("data")).unwrap();
    let conn = rusqlite::Connection::open(env.root().join("data/goodwe_energy.db")).unwrap();
    energy_monitor::schema::create(&conn).unwrap();
    (env, conn)
}

/// The document arrives within a second of connecting, with its ETag as the id; a new
/// `system_state` row is pushed as a changed section within the inverter interval + 1 s.
#[test]
fn events_send_the_document_then_push_a_new_reading() {
    use energy_monitor::sources::coordinator_db::writer;
    let (env, conn) = env_with_db();
    let d = env.start("  background_refresh_interval_seconds: 1\n", "");
    d.wait_json("/status", Duration::from_secs(10), |v| {
        v["sources"]["inverter"]["last_attempt"].is_string()
    });
    let connected = std::time::Instant::now();
    let mut s = Stream::open(d.addr, "");
    assert_eq!(s.status, 200);
    let doc = s
        .next_named("document", Duration::from_secs(1))
        .expect("the document within 1 s");
    assert!(connected.elapsed() < Duration::from_secs(1));
    let v: serde_json::Value = serde_json::from_str(&doc.data).unwrap();
    assert!(v["status"]["sources"].is_object());
    // The id is the ETag of the document sent.
    assert_eq!(
        doc.id,
        energy_monitor::snapshot::etag_of(doc.data.as_bytes())
    );

    let now = energy_monitor::clock::now();
    writer::state(&conn, now, &writer::current_data(now, 77.0, 1500)).unwrap();
    let written = std::time::Instant::now();
    loop {
        let ev = s
            .next_named(
                "section",
                Duration::from_secs(2).saturating_sub(written.elapsed()),
            )
            .expect("the new reading within the inverter interval + 1 s");
        let v: serde_json::Value = serde_json::from_str(&ev.data).unwrap();
        if v["name"] == "current_state" {
            assert_eq!(v["value"]["battery"]["soc_percent"], 77.0);
            assert!(v["etag"].is_string());
            // The section's ETag is that of the bytes sent as its value.
            let raw = ev.data.split_once(",\"value\":").unwrap().1;
            let raw = raw.strip_suffix('}').unwrap();
            assert_eq!(v["etag"], energy_monitor::snapshot::etag_of(raw.as_bytes()));
            assert_ne!(ev.id, doc.id, "the id is the new document's ETag");
            break;
        }
    }
}

/// A reconnection naming the current document gets no resend; a quiet stream gets a
/// comment heartbeat every 15 s.
#[test]
fn events_resume_without_resend_and_send_heartbeats() {
    let env = TestEnv::new();
    let d = env.start("", "");
    settled(&d);
    let mut first = Stream::open(d.addr, "");
    let doc = first
        .next_named("document", Duration::from_secs(2))
        .unwrap();
    drop(first);
    let mut s = Stream::open(d.addr, &format!("Last-Event-ID: {}\r\n", doc.id));
    let clock = s.next(Duration::from_secs(2)).unwrap();
    assert_eq!(clock.name, "clock");
    let started = std::time::Instant::now();
    let mut heartbeat = None;
    while let Some(ev) = s.next(Duration::from_secs(20)) {
        // A document that changed meanwhile is sent; the one named is not.
        assert!(
            ev.name != "document" || ev.id != doc.id,
            "resent although Last-Event-ID was current"
        );
        if ev.comment {
            heartbeat = Some(started.elapsed());
            break;
        }
    }
    let took = heartbeat.expect("a heartbeat within 20 s");
    assert!(took >= Duration::from_secs(10), "{took:?}");
}

/// Above `web_server.max_event_streams` the answer is a 503 (the page then polls); a
/// stream that closes frees its place.
#[test]
fn events_are_capped() {
    let env = TestEnv::new();
    let d = env.start("  max_event_streams: 1\n", "");
    let mut one = Stream::open(d.addr, "");
    assert_eq!(one.status, 200);
    assert!(one.next_named("document", Duration::from_secs(2)).is_some());
    let refused = raw_request(d.addr, "GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    assert_eq!(refused.status, 503);
    assert!(refused.header("Retry-After").is_some());
    drop(one);
    let mut again = None;
    for _ in 0..50 {
        let s = Stream::open(d.addr, "");
        if s.status == 200 {
            again = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(again.is_some(), "the place was not given back");
}

/// At SIGTERM an open stream gets its end event at once and the daemon exits.
#[test]
fn events_end_cleanly_at_sigterm() {
    let env = TestEnv::new();
    let mut d = env.start("", "");
    let mut s = Stream::open(d.addr, "");
    assert!(s.next_named("document", Duration::from_secs(2)).is_some());
    let sent = std::time::Instant::now();
    d.signal("TERM");
    let end = s
        .next_named("end", Duration::from_secs(2))
        .expect("an end event");
    assert!(end.data.contains("stopping"));
    assert!(sent.elapsed() < Duration::from_secs(2));
    assert!(
        s.next(Duration::from_secs(2)).is_none(),
        "the stream did not close"
    );
    let (status, _) = d.wait_exit(Duration::from_secs(3)).expect("exit");
    assert!(status.success(), "{status}");
}

/// An open page with static data costs almost nothing after its first load: over 30 s, the
/// bytes it receives from `/events` (counted by the page as they arrive) and from any poll
/// of `/api/dashboard` (resource timing) stay under 5 KB, while the logs source refreshes
/// every second. The host is read every 45 s (not 30): its readings do change, and this
/// keeps at most one of them (one status section, about 3.6 KB) inside the window.
#[test]
fn page_traffic_with_static_data_is_under_5_kb_in_30_s() {
    use crate::browser_util::{browser_available, Browser};
    if !browser_available("page_traffic_with_static_data_is_under_5_kb_in_30_s") {
        return;
    }
    let env = TestEnv::new();
    std::fs::write(
        env.root().join("logs/coordinator.log"),
        "2026-03-01 10:00:00,000 - INFO - started\n",
    )
    .unwrap();
    let d = env.start(
        "",
        "logs:\n  refresh_seconds: 1\nhost:\n  refresh_seconds: 45\n",
    );
    let b = Browser::start(1280, 800);
    b.goto(&d.url("/"));
    b.wait_for(
        "return document.documentElement.dataset.streaming === 'true' && document.documentElement.dataset.firstRenderMs",
        Duration::from_secs(15),
    );
    std::thread::sleep(Duration::from_secs(2));
    let measure = "const polls = performance.getEntriesByType('resource') \
          .filter((e) => e.name.includes('/api/dashboard')) \
          .reduce((n, e) => n + (e.transferSize || e.encodedBodySize || 0), 0); \
        return [Number(document.documentElement.dataset.eventBytes || 0), polls]";
    let before = b.eval(measure);
    assert!(
        before[0].as_f64().unwrap() > 500.0,
        "the first document was not counted: {before}"
    );
    std::thread::sleep(Duration::from_secs(30));
    let after = b.eval(measure);
    let bytes = after[0].as_f64().unwrap() - before[0].as_f64().unwrap()
        + after[1].as_f64().unwrap()
        - before[1].as_f64().unwrap();
    eprintln!("page traffic over 30 s of static data: {bytes} bytes ({before} → {after})");
    assert_eq!(
        b.eval("return document.documentElement.dataset.streaming"),
        "true"
    );
    assert!(bytes < 5000.0, "{bytes} bytes in 30 s");
    assert_eq!(
        b.eval("return document.documentElement.dataset.jsErrors"),
        "0"
    );
}

/// At the stream cap the page is refused (503) and polls instead, with `If-None-Match`:
/// unchanged polls are 304s.
#[test]
fn page_polls_when_the_event_stream_is_refused() {
    use crate::browser_util::{browser_available, Browser};
    if !browser_available("page_polls_when_the_event_stream_is_refused") {
        return;
    }
    let env = TestEnv::new();
    let d = env.start("  max_event_streams: 1\n  dashboard_poll_seconds: 1\n", "");
    let mut held = Stream::open(d.addr, "");
    assert!(held
        .next_named("document", Duration::from_secs(2))
        .is_some());
    let b = Browser::start(1280, 800);
    b.goto(&d.url("/"));
    b.wait_for(
        "return document.documentElement.dataset.firstRenderMs",
        Duration::from_secs(15),
    );
    b.wait_for(
        "return Number(document.documentElement.dataset.polls) >= 4 && Number(document.documentElement.dataset.notModified) >= 1",
        Duration::from_secs(15),
    );
    assert_eq!(
        b.eval("return document.documentElement.dataset.streaming"),
        "false"
    );
    assert_eq!(
        b.eval("return document.documentElement.dataset.jsErrors"),
        "0"
    );
}
