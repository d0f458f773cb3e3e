//! The dashboard page in real headless Chromium (through chromedriver).

use std::time::Duration;

use crate::browser_util::{browser_available, screenshot_dir, Browser};
use crate::util::{raw_request, TestEnv};

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
        &format!("GET /api/dashboard HTTP/1.1\r\nHost: t\r\nIf-None-Match: {etag}\r\n\r\n"),
    )
    .unwrap();
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("ETag"), Some(etag.as_str()));
}
