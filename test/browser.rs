//! The dashboard page in real headless Chromium (through chromedriver).

use std::time::Duration;

use energy_monitor::sources::coordinator_db::writer;

use crate::browser_util::{browser_available, screenshot_dir, Browser};
use crate::util::{raw_request, Daemon, TestEnv};

/// The page loads with no data sources beyond the core, says what is unavailable instead of
/// showing numbers, logs no JS error, and its theme toggle and keyboard tabs work.
#[test]
fn page_loads_without_errors_and_says_what_is_missing() {
    if !browser_available("page_loads_without_errors_and_says_what_is_missing") {
        return;
    }
    let env = TestEnv::new();
    let d = env.start("  dashboard_poll_seconds: 1\n", "");
    let page = d.get("/");
    assert_eq!(page.status, 200);
    let csp = page.header("Content-Security-Policy").expect("CSP header");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );

    let b = Browser::start(1280, 800);
    b.goto(&d.url("/"));
    b.wait_for(
        "return document.documentElement.dataset.firstRenderMs",
        Duration::from_secs(10),
    );
    assert_eq!(
        b.eval("return document.documentElement.dataset.jsErrors"),
        "0"
    );
    let badge = b.eval("return document.getElementById('coordinator-badge').dataset.state");
    assert_eq!(badge, "stopped");
    let note = b.eval("return document.getElementById('now-note').textContent");
    assert!(note.as_str().unwrap().contains("unavailable"), "{note}");
    assert!(
        b.eval("return document.getElementById('now-soc').hasAttribute('data-value')") == false
    );

    // Theme toggle: switches, and is remembered across a reload.
    let before = b.eval("return getComputedStyle(document.body).backgroundColor");
    b.eval("document.getElementById('theme-toggle').click(); return 1");
    let chosen = b.eval("return document.documentElement.dataset.theme");
    let after = b.eval("return getComputedStyle(document.body).backgroundColor");
    assert_ne!(before, after, "theme toggle changed nothing");
    b.goto(&d.url("/"));
    b.wait_for(
        "return document.documentElement.dataset.firstRenderMs",
        Duration::from_secs(10),
    );
    assert_eq!(
        b.eval("return document.documentElement.dataset.theme"),
        chosen
    );

    // Keyboard: arrow keys move between tabs.
    b.eval("document.getElementById('tab-now').focus(); return 1");
    b.keys("\u{E014}"); // ArrowRight
    assert_eq!(b.eval("return document.activeElement.id"), "tab-prices");
    assert_eq!(
        b.eval("return document.getElementById('panel-prices').hidden"),
        false
    );
    assert_eq!(
        b.eval("return document.getElementById('panel-now').hidden"),
        true
    );

    // Polls continue, and unchanged ones are 304s.
    b.wait_for(
        "return Number(document.documentElement.dataset.polls) >= 3",
        Duration::from_secs(10),
    );
    assert_eq!(
        b.eval("return document.documentElement.dataset.jsErrors"),
        "0"
    );
    b.screenshot(&screenshot_dir().join("core-only-1280x800.png"));
}

/// `/api/dashboard` carries an ETag; `If-None-Match` gets a 304 with no body.
#[test]
fn dashboard_answers_304_when_unchanged() {
    let env = TestEnv::new();
    let d = env.start("", "");
    // Wait until the first refreshes have landed (two reads with the same ETag).
    let mut first = d.get("/api/dashboard");
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(100));
        let next = d.get("/api/dashboard");
        if next.header("ETag") == first.header("ETag") {
            break;
        }
        first = next;
    }
    assert_eq!(first.status, 200);
    let etag = first.header("ETag").unwrap().to_string();
    let v: serde_json::Value = serde_json::from_slice(&first.body).unwrap();
    assert!(v["status"]["sources"].is_object());
    assert!(v["unavailable"].is_object());
    let again = raw_request(
        d.addr,
        &format!("GET /api/dashboard HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: {etag}\r\n\r\n"),
    )
    .unwrap();
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("ETag"), Some(etag.as_str()));
}

fn f64_of(v: &serde_json::Value) -> f64 {
    match v {
        serde_json::Value::Number(n) => n.as_f64().unwrap(),
        serde_json::Value::String(s) => s.parse().unwrap_or_else(|_| panic!("not a number: {s:?}")),
        other => panic!("not a number: {other}"),
    }
}

/// Bytes of the response to a conditional request that matches (the cost of an unchanged
/// poll on the wire, server side).
fn not_modified_bytes(addr: std::net::SocketAddr, etag: &str) -> (u16, usize) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET /api/dashboard HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: {etag}\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0);
        buf.extend_from_slice(&chunk[..n]);
    }
    let status = String::from_utf8_lossy(&buf[9..12]).parse().unwrap();
    (status, buf.len())
}

/// Generates the demo into `dir/demo` (with `env`) and serves it.
fn serve_demo(dir: &std::path::Path, env: &[(&str, &str)]) -> Daemon {
    let demo = dir.join("demo");
    let port = crate::util::free_port();
    let generated = std::process::Command::new(crate::util::bin())
        .arg("demo")
        .arg("--dir")
        .arg(&demo)
        .arg("--port")
        .arg(port.to_string())
        .arg("--no-serve")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let config = demo.join("energy-monitor.yaml");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    Daemon::spawn_with_env(
        &[std::ffi::OsStr::new("--config"), config.as_os_str()],
        env,
        addr,
    )
}

/// On demo data, the page renders the same SOC, current price, number of price bars,
/// number of decision rows and month cost as `/api/dashboard` holds; no JS error; and it
/// fits a phone screen. Screenshots go to `target/screenshots/`.
#[test]
fn dashboard_on_demo_data_matches_the_api() {
    if !browser_available("dashboard_on_demo_data_matches_the_api") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = serve_demo(dir.path(), &[]);
    let parts = [
        "current_state",
        "prices",
        "decisions",
        "month",
        "metrics",
        "history",
        "comparison",
    ];
    d.wait_json("/api/dashboard", Duration::from_secs(30), |v| {
        parts.iter().all(|k| !v[*k].is_null())
    });

    let b = Browser::start(1280, 800);
    let mut matched = None;
    for _attempt in 0..5 {
        b.goto(&d.url("/"));
        b.wait_for(
            "return document.documentElement.dataset.firstRenderMs",
            Duration::from_secs(15),
        );
        let page_etag = b.eval("return document.documentElement.dataset.etag");
        let api = d.get("/api/dashboard");
        if api.header("ETag") == page_etag.as_str() {
            matched = Some(serde_json::from_slice::<serde_json::Value>(&api.body).unwrap());
            break;
        }
        // The data changed between the page's fetch and ours; load again.
    }
    let api = matched.expect("the page and the test never saw the same dashboard document");
    assert_eq!(
        b.eval("return document.documentElement.dataset.jsErrors"),
        "0"
    );

    let soc = f64_of(&b.eval("return document.getElementById('now-soc').dataset.value"));
    assert_eq!(soc, f64_of(&api["current_state"]["battery"]["soc_percent"]));
    let price = f64_of(&b.eval("return document.getElementById('now-price').dataset.value"));
    assert_eq!(
        price,
        f64_of(&api["prices"]["current"]["final_price_pln_kwh"])
    );
    let quarters = api["prices"]["quarters"]["today"].as_array().unwrap().len()
        + api["prices"]["quarters"]["tomorrow"]
            .as_array()
            .map_or(0, Vec::len);
    let bars = b.eval("return document.querySelectorAll('#price-chart rect.bar').length");
    assert_eq!(bars, quarters, "one bar per quarter");
    assert!(quarters >= 92, "{quarters} quarters");
    let rows = b.eval("return document.querySelectorAll('#decision-table tbody tr').length");
    assert_eq!(
        rows,
        api["decisions"]["decisions"].as_array().unwrap().len()
    );
    let cost = f64_of(&b.eval("return document.getElementById('month-cost').dataset.value"));
    assert_eq!(cost, f64_of(&api["month"]["total_cost_pln"]));
    assert_eq!(
        b.eval("return document.querySelectorAll('#price-chart [data-now]').length"),
        1
    );

    let first_render_ms = b.eval("return document.documentElement.dataset.firstRenderMs");
    let (status, bytes) = not_modified_bytes(d.addr, api_etag(&d).as_str());
    eprintln!(
        "first complete render {first_render_ms} ms after navigation; an unchanged poll is a {status} of {bytes} bytes; the full document is {} bytes",
        d.get("/api/dashboard").body.len()
    );

    b.screenshot(&screenshot_dir().join("dashboard-1280x800.png"));
    b.set_window(390, 844);
    std::thread::sleep(Duration::from_millis(300));
    let overflow = b
        .eval("return document.documentElement.scrollWidth - document.documentElement.clientWidth");
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "the page is wider than a 390 px screen by {overflow} px"
    );
    b.screenshot(&screenshot_dir().join("dashboard-390x844.png"));
    b.eval("document.getElementById('tab-prices').click(); return 1");
    b.screenshot(&screenshot_dir().join("dashboard-prices-390x844.png"));

    // The Host tab: memory in use as the API says, one bar per reading with a threshold.
    let host = &api["status"]["host"];
    let mem = f64_of(&b.eval("return document.getElementById('host-mem').dataset.value"));
    assert_eq!(mem, f64_of(&host["memory"]["used_percent"]));
    let filesystems = host["filesystems"].as_array().unwrap();
    let expected_bars = 1
        + filesystems.len()
        + filesystems
            .iter()
            .filter(|f| f["inodes_used_percent"].is_number())
            .count()
        + host["temperatures"].as_array().unwrap().len();
    assert_eq!(
        b.eval("return document.querySelectorAll('#host-bars .tbar-row .tbar-warn').length"),
        expected_bars
    );
    b.eval("document.getElementById('tab-host').click(); return 1");
    b.screenshot(&screenshot_dir().join("dashboard-host-390x844.png"));
    assert_eq!(
        b.eval("return document.documentElement.dataset.jsErrors"),
        "0"
    );
}

fn api_etag(d: &crate::util::Daemon) -> String {
    d.get("/api/dashboard").header("ETag").unwrap().to_string()
}

/// A decision whose reason is markup appears as literal text; no element is created.
#[test]
fn decision_text_is_shown_as_text_never_as_markup() {
    if !browser_available("decision_text_is_shown_as_text_never_as_markup") {
        return;
    }
    let env = TestEnv::new();
    std::fs::create_dir_all(env.root().join("data")).unwrap();
    let conn = rusqlite::Connection::open(env.root().join("data/goodwe_energy.db")).unwrap();
    energy_monitor::schema::create(&conn).unwrap();
    let evil = "<img src=x onerror=alert(1)>";
    writer::decision(
        &conn,
        energy_monitor::clock::now() - chrono::Duration::minutes(10),
        Some("charging"),
        "wait",
        Some(evil),
        &serde_json::json!({"battery_soc": 50, "current_price": 0.61}),
    )
    .unwrap();
    drop(conn);
    let d = env.start("  dashboard_poll_seconds: 1\n", "");
    d.wait_json("/api/dashboard", Duration::from_secs(15), |v| {
        v["decisions"]["decisions"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    });
    let b = Browser::start(1280, 800);
    b.goto(&d.url("/#decisions"));
    b.wait_for(
        "return document.querySelectorAll('#decision-table tbody tr').length",
        Duration::from_secs(15),
    );
    let reasons = b.eval("return [...document.querySelectorAll('#decision-table td.reason')].map(td => td.textContent)");
    assert!(
        reasons.as_array().unwrap().iter().any(|r| r == evil),
        "{reasons}"
    );
    assert_eq!(b.eval("return document.querySelectorAll('img').length"), 0);
    assert_eq!(
        b.eval("return document.documentElement.dataset.jsErrors"),
        "0"
    );
}

/// When a source stops delivering, the page shows its stale badge within one poll of the
/// server calling it stale.
#[test]
fn stale_data_shows_a_stale_badge_within_one_poll() {
    if !browser_available("stale_data_shows_a_stale_badge_within_one_poll") {
        return;
    }
    let env = TestEnv::new();
    std::fs::create_dir_all(env.root().join("data")).unwrap();
    let conn = rusqlite::Connection::open(env.root().join("data/goodwe_energy.db")).unwrap();
    energy_monitor::schema::create(&conn).unwrap();
    let d = env.start(
        "  background_refresh_interval_seconds: 1\n  cache_staleness_threshold_seconds: 4\n  dashboard_poll_seconds: 1\n",
        "",
    );
    let b = Browser::start(1280, 800);
    b.goto(&d.url("/"));
    b.wait_for(
        "return document.documentElement.dataset.firstRenderMs",
        Duration::from_secs(15),
    );
    // One fresh reading, then the source stops delivering.
    let now = energy_monitor::clock::now();
    writer::state(&conn, now, &writer::current_data(now, 55.0, 1200)).unwrap();
    b.wait_for(
        "const e = document.querySelector('[data-source=inverter]'); return e && e.dataset.state === 'fresh'",
        Duration::from_secs(5),
    );
    assert_eq!(
        f64_of(&b.eval("return document.getElementById('now-soc').dataset.value")),
        55.0
    );
    d.wait_json("/status", Duration::from_secs(10), |v| {
        v["sources"]["inverter"]["state"] == "stale"
    });
    let server_said_stale = std::time::Instant::now();
    b.wait_for(
        "const e = document.querySelector('[data-source=inverter]'); return e && e.dataset.state === 'stale'",
        Duration::from_millis(2500),
    );
    let took = server_said_stale.elapsed();
    let note = b.eval("return document.getElementById('now-note').textContent");
    assert!(note.as_str().unwrap().contains("stale"), "{note}");
    assert_eq!(
        b.eval("return document.documentElement.dataset.jsErrors"),
        "0"
    );
    eprintln!("stale badge shown {took:?} after the server marked the source stale (poll: 1 s)");
}

/// On the autumn DST day the page draws one bar per quarter: 100 for the 25-hour day, then
/// those of the next day, as `/prices` lists them.
#[test]
fn dst_day_draws_100_bars() {
    if !browser_available("dst_day_draws_100_bars") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = serve_demo(
        dir.path(),
        &[("ENERGY_MONITOR_FAKE_NOW", "2026-10-25T13:00:00Z")],
    );
    let prices = d.wait_json("/prices", Duration::from_secs(20), |v| {
        v["quarters"]["today"].is_array()
    });
    assert_eq!(prices["business_date"], "2026-10-25");
    let today = prices["quarters"]["today"].as_array().unwrap().len();
    let tomorrow = prices["quarters"]["tomorrow"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(today, 100);
    let b = Browser::start(1280, 800);
    b.goto(&d.url("/#prices"));
    b.wait_for(
        "return document.documentElement.dataset.firstRenderMs",
        Duration::from_secs(15),
    );
    let bars = b.eval("return document.querySelectorAll('#price-chart rect.bar').length");
    assert_eq!(bars, today + tomorrow);
    // Ages are measured against the server's clock (here shifted to the DST day), not the
    // browser's: the coordinator was checked seconds ago.
    let badge = b.eval("return document.querySelector('[data-source=coordinator]').textContent");
    assert!(badge.as_str().unwrap().ends_with(" s ago"), "{badge}");
    assert_eq!(
        b.eval("return document.documentElement.dataset.jsErrors"),
        "0"
    );
    b.screenshot(&screenshot_dir().join("prices-dst-2026-10-25.png"));
}
