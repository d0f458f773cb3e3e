//! The prices source end to end: the real binary against a PSE stand-in, a small HTTP/1.1
//! server on a std listener inside the test, with the wall clock shifted by
//! `ENERGY_MONITOR_FAKE_NOW`.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Duration as Span, NaiveDate, Utc};
use chrono_tz::Europe::Warsaw;
use energy_monitor::clock;
use serde_json::{json, Value};

use crate::util::{bin, free_port, Daemon, TestEnv};

/// What the stand-in answers for one business date.
#[derive(Clone)]
pub enum Answer {
    Rows(Vec<Value>),
    Status(u16),
    NotJson,
}

struct PseState {
    days: HashMap<String, Answer>,
    /// Used for dates without an entry: 200 with an empty list (not published).
    fallback: Option<Answer>,
    page_size: usize,
    requests: Vec<String>,
}

/// A PSE stand-in on 127.0.0.1.
pub struct FakePse {
    pub url: String,
    state: Arc<Mutex<PseState>>,
}

impl FakePse {
    pub fn start() -> FakePse {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}/api/csdac-pln");
        let state = Arc::new(Mutex::new(PseState {
            days: HashMap::new(),
            fallback: None,
            page_size: 100,
            requests: Vec::new(),
        }));
        let st = Arc::clone(&state);
        let base = url.clone();
        std::thread::spawn(move || {
            for stream in server.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some(raw) = request_target(&mut stream) else {
                    continue;
                };
                let date = raw.split('\'').nth(1).unwrap_or("").to_string();
                let after: usize = raw
                    .split("$after=")
                    .nth(1)
                    .and_then(|a| a.split('&').next())
                    .and_then(|a| a.parse().ok())
                    .unwrap_or(0);
                let (answer, page_size) = {
                    let mut s = st.lock().unwrap();
                    s.requests.push(raw.clone());
                    let a = s
                        .days
                        .get(&date)
                        .cloned()
                        .or_else(|| s.fallback.clone())
                        .unwrap_or(Answer::Rows(vec![]));
                    (a, s.page_size)
                };
                let (code, content_type, body) = match answer {
                    Answer::Status(code) => (
                        code,
                        "application/json",
                        format!("{{\"error\": \"stand-in says {code}\"}}"),
                    ),
                    Answer::NotJson => (
                        200,
                        "text/html",
                        "<html><body>Service temporarily unavailable</body></html>".to_string(),
                    ),
                    Answer::Rows(rows) => {
                        let end = (after + page_size).min(rows.len());
                        let mut body = json!({"value": rows[after.min(end)..end]});
                        if end < rows.len() {
                            body["nextLink"] = json!(format!(
                                "{base}?$filter=business_date%20eq%20'{date}'&$after={end}"
                            ));
                        }
                        (200, "application/json", body.to_string())
                    }
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {code} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        FakePse { url, state }
    }

    pub fn set(&self, date: &str, answer: Answer) {
        self.state
            .lock()
            .unwrap()
            .days
            .insert(date.to_string(), answer);
    }

    pub fn set_fallback(&self, answer: Option<Answer>) {
        self.state.lock().unwrap().fallback = answer;
    }

    pub fn page_size(&self, n: usize) {
        self.state.lock().unwrap().page_size = n;
    }

    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn requests_for(&self, date: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.contains(&format!("'{date}'")))
            .count()
    }
}

/// Reads a request head (GET, no body) and returns its target, percent-encoded as sent.
fn request_target(stream: &mut std::net::TcpStream) -> Option<String> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 65_536 {
        if stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&head).lines().next()?.to_string();
    line.split(' ').nth(1).map(str::to_string)
}

/// Rows shaped like PSE's `csdac-pln` rows for a whole Warsaw day: `dtime` is the local END
/// of the quarter, `period` local start–end; `dtime_utc`/`period_utc` when `with_utc`; on
/// the autumn day the repeated hour is labelled `02a` when `a_labels`.
pub fn day_rows(
    date: &str,
    price: impl Fn(usize) -> f64,
    with_utc: bool,
    a_labels: bool,
) -> Vec<Value> {
    let d: NaiveDate = date.parse().unwrap();
    let mut t = clock::day_start(d);
    let end = clock::day_start(d.succ_opt().unwrap());
    let mut rows = Vec::new();
    let mut seen_cest_two = false;
    while t < end {
        let e = t + Span::minutes(15);
        let ls = t.with_timezone(&Warsaw);
        let le = e.with_timezone(&Warsaw);
        let second_pass = ls.format("%H").to_string() == "02"
            && ls.format("%z").to_string() == "+0100"
            && seen_cest_two;
        if ls.format("%H%z").to_string() == "02+0200" {
            seen_cest_two = true;
        }
        let label = |x: &DateTime<chrono_tz::Tz>| {
            let h = x.format("%H").to_string();
            if a_labels && second_pass && h == "02" {
                format!("{h}a:{}", x.format("%M"))
            } else {
                x.format("%H:%M").to_string()
            }
        };
        let mut row = json!({
            "business_date": date,
            "dtime": format!("{} {}", le.format("%Y-%m-%d"), label(&le)),
            "period": format!("{} - {}", label(&ls), label(&le)),
            "csdac_pln": price(rows.len()),
            "publication_ts": format!("{} 14:22:24.403", d.pred_opt().unwrap()),
        });
        if with_utc {
            row["dtime_utc"] = json!(e.format("%Y-%m-%d %H:%M:%S").to_string());
            row["period_utc"] = json!(format!("{} - {}", t.format("%H:%M"), e.format("%H:%M")));
        }
        rows.push(row);
        t = e;
    }
    rows
}

/// A price that differs per quarter: 300 + 10·index, as a string every third row.
fn price_of(i: usize) -> f64 {
    300.0 + 10.0 * i as f64
}

fn string_prices(mut rows: Vec<Value>) -> Vec<Value> {
    for (i, r) in rows.iter_mut().enumerate() {
        if i % 3 == 0 {
            let v = r["csdac_pln"].as_f64().unwrap();
            r["csdac_pln"] = json!(format!("{v}"));
        }
    }
    rows
}

const WEB: &str = "  price_refresh_interval_seconds: 1\n  api_timeout_seconds: 2\n";

fn prices_yaml(url: &str) -> String {
    format!("prices:\n  api_url: {url}\n  tomorrow_poll_seconds: 1\n")
}

fn start(env: &TestEnv, url: &str, now: &str) -> Daemon {
    env.start_with_env(WEB, &prices_yaml(url), &[("ENERGY_MONITOR_FAKE_NOW", now)])
}

fn wait_prices(d: &Daemon, path: &str, pred: impl Fn(&Value) -> bool) -> Value {
    d.wait_json(path, Duration::from_secs(10), pred)
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[test]
fn normal_day_with_paging_negative_prices_and_the_current_quarter() {
    let pse = FakePse::start();
    // Friday 2026-11-20; 14:07 local is 13:07 UTC. Quarter 3 is negative.
    let price = |i: usize| if i == 3 { -2086.86 } else { price_of(i) };
    pse.set(
        "2026-11-20",
        Answer::Rows(string_prices(day_rows("2026-11-20", price, true, false))),
    );
    pse.set(
        "2026-11-21",
        Answer::Rows(day_rows("2026-11-21", |i| 500.0 - i as f64, true, false)),
    );
    pse.page_size(40);
    let env = TestEnv::new();
    let d = start(&env, &pse.url, "2026-11-20T13:07:00Z");
    let v = wait_prices(&d, "/prices", |v| v["tomorrow_status"] == "published");

    assert_eq!(v["business_date"], "2026-11-20");
    let today = v["quarters"]["today"].as_array().unwrap();
    assert_eq!(today.len(), 96);
    assert_eq!(v["quarters"]["tomorrow"].as_array().unwrap().len(), 96);
    assert_eq!(today[0]["start"], "2026-11-20T00:00:00+01:00");
    assert_eq!(today[0]["start_utc"], "2026-11-19T23:00:00Z");
    assert_eq!(today[95]["end"], "2026-11-21T00:00:00+01:00");
    // Current quarter at 14:07 local.
    let cur = &v["current"];
    assert_eq!(cur["period"], "14:00 - 14:15");
    assert_eq!(cur["start"], "2026-11-20T14:00:00+01:00");
    assert_eq!(cur["end_utc"], "2026-11-20T13:15:00Z");
    // Quarter 56 (14:00): market 300 + 560 = 860 PLN/MWh; g12 off-peak window 13-15 → 0.0749.
    let expected = round4(0.86 + 0.0892 + 0.0749);
    assert_eq!(cur["final_price_pln_kwh"], json!(expected));
    assert_eq!(cur["tariff_zone"], "off_peak");
    assert_eq!(v["current_price_pln_kwh"], json!(expected));
    // Negative price kept.
    assert_eq!(today[3]["market_price_pln_mwh"], json!(-2086.86));
    assert_eq!(today[3]["period"], "00:45 - 01:00");
    // Hourly buckets by the hour the quarter starts in: hour 0 = quarters 0..3.
    let hours = v["prices"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    assert_eq!(hours[0]["hour"], 0);
    let h0 = (0.300 + 0.310 + 0.320 - 2.08686) / 4.0;
    assert_eq!(hours[0]["market_price"], json!(round4(h0)));
    assert_eq!(v["cheapest_hour"], "00:00");
    assert_eq!(v["data_source"], "PSE API (CSDAC-PLN)");
    assert_eq!(v["calculation_method"], "tariff_aware");
    assert!(v["last_updated"].as_str().unwrap().ends_with("+01:00"));
    // Windows.
    let w = &v["windows"]["today"]["cheapest"]["1h"];
    assert_eq!(w["start"], "2026-11-20T00:00:00+01:00");
    assert!(v["windows"]["ahead"]["most_expensive"]["3h"]["start"].is_string());
    // Tomorrow prices fall during the day, so "ahead" windows reach into tomorrow.
    let ahead_cheap = v["windows"]["ahead"]["cheapest"]["2h"]["start"]
        .as_str()
        .unwrap();
    assert!(ahead_cheap.starts_with("2026-11-21T22:00"), "{ahead_cheap}");

    // Paging: 96 rows at 40 per page = 3 requests per day.
    let reqs = pse.requests();
    assert!(reqs.iter().any(|r| r.contains("$after=80")), "{reqs:?}");
    assert!(
        reqs[0].contains("$filter=business_date%20eq%20'2026-11-20'"),
        "{reqs:?}"
    );

    // day=today / tomorrow / bad value.
    let (code, t) = d.get_json("/prices?day=tomorrow");
    assert_eq!(code, 200);
    assert_eq!(t["business_date"], "2026-11-21");
    assert!(t["quarters"].get("today").is_none());
    let (code, t) = d.get_json("/prices?day=today");
    assert_eq!(code, 200);
    assert!(t["quarters"].get("tomorrow").is_none());
    let (code, bad) = d.get_json("/prices?day=yesterday");
    assert_eq!(code, 400);
    assert_eq!(bad["parameter"], "day");
    assert_eq!(bad["allowed"], json!(["today", "tomorrow"]));

    // /status.
    let s = d.wait_json("/status", Duration::from_secs(5), |s| {
        s["sources"]["prices"]["origin"] == "network"
    });
    assert_eq!(s["sources"]["prices"]["state"], "fresh");
    assert!(s["sources"]["prices"]["last_error"].is_null());

    // The cache file.
    let cache: Value =
        serde_json::from_slice(&std::fs::read(env.path().join("data/price_cache.json")).unwrap())
            .unwrap();
    assert_eq!(cache["format"], "energy-monitor-price-cache");
    assert_eq!(cache["days"].as_array().unwrap().len(), 2);
    assert_eq!(
        cache["days"][0]["quarters"][3]["market_pln_mwh"],
        json!(-2086.86)
    );
}

#[test]
fn dst_days_92_and_100_quarters() {
    let pse = FakePse::start();
    pse.set(
        "2026-03-29",
        Answer::Rows(day_rows("2026-03-29", price_of, true, false)),
    );
    // Autumn: only local labels with `02a`, no UTC fields.
    pse.set(
        "2026-10-25",
        Answer::Rows(day_rows("2026-10-25", price_of, false, true)),
    );
    let env = TestEnv::new();
    let d = start(&env, &pse.url, "2026-03-29T10:00:00Z");
    let v = wait_prices(&d, "/prices", |v| v["quarters"]["today"].is_array());
    let q = v["quarters"]["today"].as_array().unwrap();
    assert_eq!(q.len(), 92);
    assert_eq!(v["quarters_expected"]["today"], 92);
    assert_eq!(q[7]["start"], "2026-03-29T01:45:00+01:00");
    assert_eq!(q[8]["start"], "2026-03-29T03:00:00+02:00");
    assert_eq!(v["prices"].as_array().unwrap().len(), 23);
    // 12:00 local CEST = 10:00 UTC; quarter index 40 (10 UTC hours from 22:00 UTC... ) by time.
    assert_eq!(v["current"]["start"], "2026-03-29T12:00:00+02:00");
    drop(d);

    let env = TestEnv::new();
    let d = start(&env, &pse.url, "2026-10-25T10:00:00Z");
    let v = wait_prices(&d, "/prices", |v| v["quarters"]["today"].is_array());
    let q = v["quarters"]["today"].as_array().unwrap();
    assert_eq!(q.len(), 100);
    assert_eq!(q[8]["start"], "2026-10-25T02:00:00+02:00");
    assert_eq!(q[12]["start"], "2026-10-25T02:00:00+01:00");
    assert_eq!(q[12]["start_utc"], "2026-10-25T01:00:00Z");
    // Prices stay with their rows in time order.
    for (i, row) in q.iter().enumerate() {
        assert_eq!(row["market_price_pln_mwh"], json!(price_of(i)), "row {i}");
    }
    let hours = v["prices"].as_array().unwrap();
    assert_eq!(hours.len(), 25);
    assert_eq!(hours[2]["hour_str"], "02:00");
    assert_eq!(hours[3]["hour_str"], "02:00");
    assert_ne!(hours[2]["start"], hours[3]["start"]);
    // 11:00 local CET = 10:00 UTC.
    assert_eq!(v["current"]["period"], "11:00 - 11:15");
}

#[test]
fn tomorrow_not_yet_published_then_published() {
    let pse = FakePse::start();
    pse.set(
        "2026-11-20",
        Answer::Rows(day_rows("2026-11-20", price_of, true, false)),
    );
    let env = TestEnv::new();
    // 14:40 local: tomorrow is polled (every second in this test) until published.
    let d = start(&env, &pse.url, "2026-11-20T13:40:00Z");
    let v = wait_prices(&d, "/prices", |v| {
        v["tomorrow_status"] == "not_yet_published"
    });
    assert_eq!(v["quarters"]["tomorrow"], json!([]));
    assert!(v["current"].is_object());
    let (code, t) = d.get_json("/prices?day=tomorrow");
    assert_eq!(code, 200);
    assert!(t["average_price_pln_kwh"].is_null());
    // Polled again and again while unpublished.
    let t0 = Instant::now();
    while pse.requests_for("2026-11-21") < 2 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(pse.requests_for("2026-11-21") >= 2);

    pse.set(
        "2026-11-21",
        Answer::Rows(day_rows("2026-11-21", price_of, true, false)),
    );
    let v = wait_prices(&d, "/prices", |v| v["tomorrow_status"] == "published");
    assert_eq!(v["quarters"]["tomorrow"].as_array().unwrap().len(), 96);
    // Then no more requests for tomorrow.
    let n = pse.requests_for("2026-11-21");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(pse.requests_for("2026-11-21"), n, "{:?}", pse.requests());
}

#[test]
fn http_errors_and_bodies_that_are_not_json() {
    let pse = FakePse::start();
    pse.set_fallback(Some(Answer::Status(500)));
    let env = TestEnv::new();
    let d = start(&env, &pse.url, "2026-11-20T09:00:00Z");
    let r = d.get("/prices");
    assert_eq!(r.status, 503);
    let v = d.wait_json("/prices", Duration::from_secs(10), |v| {
        v["reason"].as_str().is_some_and(|r| r.contains("HTTP 500"))
    });
    assert!(
        v["error"].as_str().unwrap().contains("no price data"),
        "{v}"
    );
    assert!(
        v["next_attempt"].is_string() || v["in_flight"] == true,
        "{v}"
    );
    let s = d.wait_json("/status", Duration::from_secs(5), |s| {
        s["sources"]["prices"]["last_error"].is_string()
    });
    assert!(s["sources"]["prices"]["last_error"]
        .as_str()
        .unwrap()
        .contains("500"));

    pse.set_fallback(Some(Answer::Status(404)));
    d.wait_json("/prices", Duration::from_secs(10), |v| {
        v["reason"].as_str().is_some_and(|r| r.contains("HTTP 404"))
    });
    pse.set_fallback(Some(Answer::NotJson));
    let v = d.wait_json("/prices", Duration::from_secs(10), |v| {
        v["reason"].as_str().is_some_and(|r| r.contains("not JSON"))
    });
    assert!(v["reason"].as_str().unwrap().contains(&pse.url), "{v}");
    assert_eq!(d.get("/prices").status, 503);

    pse.set_fallback(None);
    pse.set(
        "2026-11-20",
        Answer::Rows(day_rows("2026-11-20", price_of, true, false)),
    );
    let v = wait_prices(&d, "/prices", |v| v["quarters"]["today"].is_array());
    assert_eq!(v["quarters"]["today"].as_array().unwrap().len(), 96);
}

#[test]
fn a_silent_pse_delays_nobody_and_shutdown_stays_prompt() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = Arc::new(Mutex::new(Vec::new()));
    let h = Arc::clone(&held);
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            h.lock().unwrap().push(s);
        }
    });
    let env = TestEnv::new();
    let mut d = env.start_with_env(
        "  price_refresh_interval_seconds: 1\n  api_timeout_seconds: 30\n  coordinator_pid_check_interval_seconds: 1\n",
        &prices_yaml(&format!("http://127.0.0.1:{port}/api/csdac-pln")),
        &[("ENERGY_MONITOR_FAKE_NOW", "2026-11-20T09:00:00Z")],
    );
    // While prices hang, the coordinator source keeps refreshing every second.
    let s = d.wait_json("/status", Duration::from_secs(5), |s| {
        s["sources"]["prices"]["in_flight_s"]
            .as_u64()
            .is_some_and(|n| n >= 2)
    });
    assert!(
        s["sources"]["coordinator"]["age_s"].as_u64().unwrap() <= 3,
        "{s}"
    );
    assert!(s["sources"]["logs"]["age_s"].as_u64().is_some(), "{s}");
    let (code, v) = d.get_json("/prices");
    assert_eq!(code, 503);
    assert_eq!(v["in_flight"], true);
    assert!(!held.lock().unwrap().is_empty());
    d.signal("TERM");
    let (status, took) = d.wait_exit(Duration::from_secs(5)).expect("exits");
    assert!(status.success());
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn restart_with_pse_down_serves_the_disk_cache() {
    let pse = FakePse::start();
    pse.set(
        "2026-11-20",
        Answer::Rows(day_rows("2026-11-20", price_of, true, false)),
    );
    let env = TestEnv::new();
    let mut d = start(&env, &pse.url, "2026-11-20T09:00:00Z");
    wait_prices(&d, "/prices", |v| v["quarters"]["today"].is_array());
    d.signal("TERM");
    d.wait_exit(Duration::from_secs(5)).unwrap();
    drop(d);

    let down = format!("http://127.0.0.1:{}/api/csdac-pln", free_port());
    let d = start(&env, &down, "2026-11-20T10:00:00Z");
    let v = wait_prices(&d, "/prices", |v| v["quarters"]["today"].is_array());
    assert_eq!(v["origin"], "disk_cache");
    assert_eq!(v["quarters"]["today"].as_array().unwrap().len(), 96);
    assert_eq!(v["current"]["period"], "11:00 - 11:15");
    let s = d.wait_json("/status", Duration::from_secs(5), |s| {
        s["sources"]["prices"]["origin"] == "disk_cache"
    });
    // Its age is the fetch time, not the load time.
    assert!(
        s["sources"]["prices"]["age_s"].as_u64().unwrap() >= 3500,
        "{s}"
    );
    drop(d);

    // With PSE silent and tomorrow due (14:40 local), the disk copy is still served at once.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = format!("http://{}/api/csdac-pln", listener.local_addr().unwrap());
    let d = env.start_with_env(
        "  price_refresh_interval_seconds: 1\n  api_timeout_seconds: 30\n",
        &prices_yaml(&silent),
        &[("ENERGY_MONITOR_FAKE_NOW", "2026-11-20T13:40:00Z")],
    );
    let t0 = Instant::now();
    let v = wait_prices(&d, "/prices", |v| v["quarters"]["today"].is_array());
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_eq!(v["origin"], "disk_cache");
    assert_eq!(v["current"]["period"], "14:30 - 14:45");
    drop(listener);
}

fn write_cache(env: &TestEnv, days: Value) {
    let file = json!({"format": "energy-monitor-price-cache", "version": 1, "days": days});
    std::fs::write(env.path().join("data/price_cache.json"), file.to_string()).unwrap();
}

fn cached_day(date: &str, fetched_at: &str) -> Value {
    let d: NaiveDate = date.parse().unwrap();
    let start = clock::day_start(d);
    let quarters: Vec<Value> = (0..96)
        .map(|i| {
            let s = start + Span::minutes(15 * i);
            json!({
                "start_utc": clock::utc_rfc3339(s),
                "end_utc": clock::utc_rfc3339(s + Span::minutes(15)),
                "period": "x",
                "market_pln_mwh": 400.0,
            })
        })
        .collect();
    json!({"business_date": date, "fetched_at": fetched_at, "source_url": "http://x/api/csdac-pln",
           "value_field": "csdac_pln", "quarters": quarters})
}

#[test]
fn expired_foreign_date_and_corrupt_caches_are_not_served() {
    let down = format!("http://127.0.0.1:{}/api/csdac-pln", free_port());
    // Today's entry fetched 25 h ago, and a valid-looking entry for yesterday.
    let env = TestEnv::new();
    write_cache(
        &env,
        json!([
            cached_day("2026-11-20", "2026-11-19T08:00:00Z"),
            cached_day("2026-11-19", "2026-11-19T20:00:00Z")
        ]),
    );
    let d = start(&env, &down, "2026-11-20T09:00:00Z");
    // Nothing from the file is served: the 503 names the failed fetch.
    d.wait_json("/prices", Duration::from_secs(10), |v| {
        v["reason"]
            .as_str()
            .is_some_and(|r| r.contains("cannot reach"))
    });
    assert_eq!(d.get("/prices").status, 503);
    drop(d);

    // A valid entry for today is served.
    let env = TestEnv::new();
    write_cache(
        &env,
        json!([cached_day("2026-11-20", "2026-11-20T08:00:00Z")]),
    );
    let d = start(&env, &down, "2026-11-20T09:00:00Z");
    let v = wait_prices(&d, "/prices", |v| v["origin"] == "disk_cache");
    assert_eq!(v["quarters"]["today"].as_array().unwrap().len(), 96);
    drop(d);

    // Corrupt: not fatal, warned about, replaced after the next success.
    let env = TestEnv::new();
    std::fs::write(
        env.path().join("data/price_cache.json"),
        "{\"format\": \"energy-mon",
    )
    .unwrap();
    let pse = FakePse::start();
    let d = start(&env, &pse.url, "2026-11-20T09:00:00Z");
    d.wait_json("/prices", Duration::from_secs(10), |v| {
        v["reason"]
            .as_str()
            .is_some_and(|r| r.contains("not published"))
    });
    assert!(d.log().contains("not valid JSON"), "{}", d.log());
    pse.set(
        "2026-11-20",
        Answer::Rows(day_rows("2026-11-20", price_of, true, false)),
    );
    wait_prices(&d, "/prices", |v| v["quarters"]["today"].is_array());
    let text = std::fs::read_to_string(env.path().join("data/price_cache.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["format"], "energy-monitor-price-cache");
}

#[test]
fn the_original_cache_is_imported_as_hourly_legacy_data() {
    let env = TestEnv::new();
    let prices: Vec<Value> = (0..24)
        .map(|h| json!({"hour": h, "hour_str": format!("{h:02}:00"), "price": 0.6, "market_price": 0.4 + h as f64 / 100.0}))
        .collect();
    let ts = "2026-11-20T08:00:00Z"
        .parse::<DateTime<Utc>>()
        .unwrap()
        .timestamp() as f64
        + 0.29;
    let legacy = json!({"price_data": {"prices": prices, "data_source": "PSE API (CSDAC-PLN)", "price_trend": "stable"},
                        "cache_timestamp": ts, "business_date": "2026-11-20", "created_at": "2026-11-20T09:00:00.1"});
    std::fs::write(env.path().join("data/price_cache.json"), legacy.to_string()).unwrap();
    let down = format!("http://127.0.0.1:{}/api/csdac-pln", free_port());
    let d = start(&env, &down, "2026-11-20T09:00:00Z");
    let v = wait_prices(&d, "/prices", |v| v["quarters"]["today"].is_array());
    assert_eq!(v["hourly_legacy"], true);
    assert_eq!(v["origin"], "disk_cache");
    assert_eq!(v["quarters"]["today"].as_array().unwrap().len(), 96);
    assert_eq!(v["current"]["market_price_pln_mwh"], json!(500.0));
}

/// Tiny deterministic generator for kill delays.
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

#[test]
fn sigkill_while_writing_the_cache_never_leaves_a_broken_file() {
    let pse = FakePse::start();
    pse.set(
        "2026-11-20",
        Answer::Rows(day_rows("2026-11-20", price_of, true, false)),
    );
    pse.set(
        "2026-11-21",
        Answer::Rows(day_rows("2026-11-21", price_of, true, false)),
    );
    let env = TestEnv::new();
    let cache = env.path().join("data/price_cache.json");
    // Every start fetches (today re-checked at once since the cache is older than the
    // re-check interval of 1 s) and rewrites the cache within a few milliseconds.
    let extra = format!("{}  today_recheck_seconds: 1\n", prices_yaml(&pse.url));
    // Each run starts 2 s later on the fake clock, so the cached today is always due again.
    let spawn = |run: i64| {
        let now = "2026-11-20T15:00:00Z".parse::<DateTime<Utc>>().unwrap() + Span::seconds(2 * run);
        let config = env.write_config(free_port(), WEB, &extra);
        Command::new(bin())
            .arg("--config")
            .arg(&config)
            .env("ENERGY_MONITOR_FAKE_NOW", clock::utc_rfc3339(now))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // Calibrate: how long until the first write lands, with a cache already on disk as in
    // every killed run (the disk copy is served first and PSE asked on the next run, so
    // that write comes later than the very first one).
    let mut child = spawn(0);
    let t0 = Instant::now();
    while !cache.exists() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(cache.exists());
    let _ = child.kill();
    let _ = child.wait();
    let written = std::fs::metadata(&cache).and_then(|m| m.modified()).ok();
    let t0 = Instant::now();
    let mut child = spawn(1);
    while std::fs::metadata(&cache).and_then(|m| m.modified()).ok() == written
        && t0.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    let first_write = t0.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    let window_ms = (first_write.as_millis() as u64 * 2).max(20);

    // 20 kills locally; the full 120 under CI (`CI` set) or with ENERGY_MONITOR_KILL_RUNS.
    let runs: i64 = std::env::var("ENERGY_MONITOR_KILL_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if std::env::var_os("CI").is_some() {
            120
        } else {
            20
        });
    let mut rng = Lcg(0x5eed ^ std::process::id() as u64);
    let mut writes_seen = 0;
    let start = Instant::now();
    for i in 0..runs {
        let before = std::fs::metadata(&cache).and_then(|m| m.modified()).ok();
        let mut child = spawn(i + 2);
        // Half the kills anywhere in the start-up, half within ±10 ms of the typical write.
        let delay_us = if i % 2 == 0 {
            rng.below(window_ms * 1000)
        } else {
            (first_write.as_micros() as u64 + rng.below(20_000)).saturating_sub(10_000)
        };
        std::thread::sleep(Duration::from_micros(delay_us));
        child.kill().unwrap();
        child.wait().unwrap();
        let mut text = String::new();
        std::fs::File::open(&cache)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap_or_else(|e| panic!("kill {i}: cannot read the cache: {e}"));
        let loaded = energy_monitor::sources::prices::cache::load(&cache);
        assert!(
            loaded.warnings.is_empty(),
            "kill {i}: {:?}",
            loaded.warnings
        );
        assert_eq!(loaded.days.len(), 2, "kill {i}");
        if std::fs::metadata(&cache).and_then(|m| m.modified()).ok() != before {
            writes_seen += 1;
        }
    }
    // Some kills landed after a write and some before: the kills span the write.
    assert!(writes_seen > 0, "no kill came after a write");
    assert!(writes_seen < runs, "every kill came after the write");
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
    eprintln!("first write after {first_write:?}; {writes_seen}/{runs} runs rewrote the cache before being killed");
}

/// The stand-in publishes a whole day of `price_of` prices for `date`.
fn publish(pse: &FakePse, date: &str) {
    pse.set(date, Answer::Rows(day_rows(date, price_of, true, false)));
}

#[test]
fn without_todays_prices_the_503_names_todays_error() {
    let pse = FakePse::start();
    // Today fails with 500; tomorrow (due: 14:40 local) fails differently, with 404.
    pse.set("2026-11-20", Answer::Status(500));
    pse.set("2026-11-21", Answer::Status(404));
    let env = TestEnv::new();
    // Retries come 15 s or more after a failure: today fails first, then tomorrow (due at
    // once) fails, and nothing is retried while the body is read.
    let d = env.start_with_env(
        "  price_refresh_interval_seconds: 60\n  api_timeout_seconds: 2\n",
        &prices_yaml(&pse.url),
        &[("ENERGY_MONITOR_FAKE_NOW", "2026-11-20T13:40:00Z")],
    );
    let t0 = Instant::now();
    while pse.requests_for("2026-11-21") == 0 && t0.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(pse.requests_for("2026-11-21") > 0, "{:?}", pse.requests());
    std::thread::sleep(Duration::from_millis(300));
    let (code, v) = d.get_json("/prices");
    assert_eq!(code, 503, "{v}");
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.contains("2026-11-20") && reason.contains("500"),
        "today's error: {v}"
    );
    // (the stand-in's port may itself contain the digits 404)
    assert!(!reason.contains("HTTP 404"), "not tomorrow's error: {v}");
}

#[test]
fn the_next_attempt_of_a_503_counts_down() {
    let pse = FakePse::start();
    pse.set_fallback(Some(Answer::Status(500)));
    let env = TestEnv::new();
    // One attempt, then the next one 30 s or more later.
    let d = env.start_with_env(
        "  price_refresh_interval_seconds: 30\n  api_timeout_seconds: 2\n",
        &prices_yaml(&pse.url),
        &[("ENERGY_MONITOR_FAKE_NOW", "2026-11-20T09:00:00Z")],
    );
    let first = d.wait_json("/prices", Duration::from_secs(10), |v| {
        v["next_attempt_in_s"].as_u64().is_some_and(|s| s >= 10)
    });
    std::thread::sleep(Duration::from_millis(2500));
    let (code, second) = d.get_json("/prices");
    assert_eq!(code, 503);
    let (a, b) = (
        first["next_attempt_in_s"].as_u64().unwrap(),
        second["next_attempt_in_s"].as_u64().unwrap(),
    );
    assert!(a - b >= 2, "not frozen: {a} then {b}");
    // The instant stays where it was (up to the second the counts are rounded to).
    let at = |v: &Value| DateTime::parse_from_rfc3339(v["next_attempt"].as_str().unwrap()).unwrap();
    assert!(
        (at(&first) - at(&second)).num_seconds().abs() <= 1,
        "{first} {second}"
    );
    assert!(second["as_of"].is_string());
}

#[test]
fn a_valid_disk_cache_answers_the_first_request() {
    let env = TestEnv::new();
    write_cache(
        &env,
        json!([cached_day("2026-11-20", "2026-11-20T08:00:00Z")]),
    );
    let down = format!("http://127.0.0.1:{}/api/csdac-pln", free_port());
    for _ in 0..3 {
        // The very first request that gets an answer (asked for as soon as the port
        // accepts, without waiting for /health) is already the cached day.
        let port = free_port();
        let config = env.write_config(port, WEB, &prices_yaml(&down));
        let _child = crate::util::KillOnDrop(
            Command::new(bin())
                .arg("--config")
                .arg(&config)
                .env("ENERGY_MONITOR_FAKE_NOW", "2026-11-20T09:00:00Z")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let addr = format!("127.0.0.1:{port}").parse().unwrap();
        let t0 = Instant::now();
        let first = loop {
            match crate::util::raw_get(addr, "/prices") {
                Ok(r) => break r,
                Err(_) if t0.elapsed() < Duration::from_secs(15) => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                Err(e) => panic!("no answer: {e}"),
            }
        };
        assert_eq!(first.status, 200, "{}", first.text());
        let v: Value = serde_json::from_slice(&first.body).unwrap();
        assert_eq!(v["origin"], "disk_cache");
    }
}

#[test]
fn a_cache_that_cannot_be_written_is_a_problem_and_leaves_no_temp_file() {
    let pse = FakePse::start();
    publish(&pse, "2026-11-20");
    let env = TestEnv::new();
    // price_cache.json is a directory that is not empty: the rename over it fails after
    // the temp file was written.
    let blocker = env.path().join("data/price_cache.json");
    std::fs::create_dir_all(blocker.join("x")).unwrap();
    let d = start(&env, &pse.url, "2026-11-20T09:00:00Z");
    wait_prices(&d, "/prices", |v| v["quarters"]["today"].is_array());
    let s = d.wait_json("/status", Duration::from_secs(10), |s| {
        s["problems"]
            .to_string()
            .contains("cannot write the price cache")
    });
    assert!(
        s["sources"]["prices"]["warnings"]
            .to_string()
            .contains("price_cache.json"),
        "{s}"
    );
    assert!(
        !env.path().join("data/price_cache.json.tmp").exists(),
        "no partial temp file stays behind"
    );
}

#[test]
fn tomorrow_has_no_current_quarter() {
    let pse = FakePse::start();
    publish(&pse, "2026-11-20");
    publish(&pse, "2026-11-21");
    let env = TestEnv::new();
    let d = start(&env, &pse.url, "2026-11-20T13:40:00Z");
    let today = wait_prices(&d, "/prices?day=today", |v| v["current"].is_object());
    assert!(today["current_price_pln_kwh"].is_number());
    let t = wait_prices(&d, "/prices?day=tomorrow", |v| {
        v["tomorrow_status"] == "published"
    });
    assert_eq!(t["business_date"], "2026-11-21");
    assert!(t["current"].is_null(), "{t}");
    assert!(t["current_price_pln_kwh"].is_null(), "{t}");
    assert!(t["price_trend"].is_null(), "{t}");
}

#[test]
fn the_coordinators_g13s_table_prices_a_winter_peak() {
    let pse = FakePse::start();
    // Quarter i costs 300 + 10·i PLN/MWh: 17:00-17:15 (i = 68) is 980 PLN/MWh.
    publish(&pse, "2026-11-19");
    let env = TestEnv::new();
    std::fs::write(
        env.path().join("master.yaml"),
        include_str!("fixtures/master_coordinator_config.yaml"),
    )
    .unwrap();
    let port = free_port();
    let config = env.path().join("g13s.yaml");
    std::fs::write(
        &config,
        format!(
            "web_server:\n  host: 127.0.0.1\n  port: {port}\n{WEB}coordinator:\n  root: root\n  config: master.yaml\n  process_match: {}\ndata_dir: data\n{}",
            env.process_match,
            prices_yaml(&pse.url)
        ),
    )
    .unwrap();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    // Thursday 2026-11-19 17:05 Warsaw: a winter working day, evening peak (15-21).
    let d = Daemon::spawn_with_env(
        &["--config".as_ref(), config.as_os_str()],
        &[("ENERGY_MONITOR_FAKE_NOW", "2026-11-19T16:05:00Z")],
        addr,
    );
    let v = wait_prices(&d, "/prices", |v| v["current"].is_object());
    assert_eq!(v["tariff"]["tariff_type"], "g13s");
    assert_eq!(v["calculation_method"], "tariff_aware");
    assert!(v["tariff_problem"].is_null());
    let c = &v["current"];
    assert_eq!(c["period"], "17:00 - 17:15");
    assert_eq!(c["tariff_zone"], "peak");
    // 980 / 1000 + 0.0892 SC + 0.340 winter day_peak = 1.4092 PLN/kWh.
    assert_eq!(c["distribution_price_pln_kwh"], 0.34);
    assert_eq!(c["final_price_pln_kwh"], 1.4092);
    // 12:00-12:15 (i = 48, 780 PLN/MWh) is winter day_off_peak 0.200: 0.78 + 0.0892 + 0.2.
    let noon = &v["quarters"]["today"][48];
    assert_eq!(noon["period"], "12:00 - 12:15");
    assert_eq!(noon["final_price_pln_kwh"], round4(0.78 + 0.0892 + 0.2));
}
