//! The log routes against the real binary, with real files in temp dirs: tails compared
//! with the files' real ends, filters, search, odd bytes, following (rotation, cap,
//! shutdown), the journal's unavailable path, and an attack table for `level` and for
//! download names.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::util::{raw_request, Daemon, TestEnv};

const MASTER: &str = "master_coordinator.log";
const FAST: &str = "logs:\n  refresh_seconds: 1\n";

fn logs_dir(env: &TestEnv) -> PathBuf {
    env.root().join("logs")
}

/// A log with records, multi-line tracebacks and lines of varied length.
fn sample_log(records: usize) -> String {
    let mut s = String::new();
    for i in 0..records {
        let level = ["INFO", "DEBUG", "WARNING", "ERROR", "INFO", "CRITICAL"][i % 6];
        s.push_str(&format!(
            "2025-12-06 14:{:02}:{:02},{:03} - coordinator - {level} - record {i} {}\n",
            (i / 60) % 60,
            i % 60,
            i % 1000,
            "x".repeat(i % 37)
        ));
        if level == "ERROR" {
            s.push_str("Traceback (most recent call last):\n");
            s.push_str(&format!("  File \"c.py\", line {i}, in run\n"));
            s.push_str("ValueError: INFO and WARNING are just words here\n");
        }
    }
    s
}

/// Starts the daemon and waits until `/logs/files` lists `name`.
fn start_with_log(env: &TestEnv, name: &str, extra: &str) -> Daemon {
    let d = env.start("", extra);
    wait_listed(&d, name);
    d
}

fn wait_listed(d: &Daemon, name: &str) {
    d.wait_json("/logs/files", Duration::from_secs(10), |v| {
        v["log_files"]
            .as_array()
            .is_some_and(|a| a.iter().any(|f| f["name"] == name))
    });
}

fn lines_of(v: &serde_json::Value) -> Vec<String> {
    v["lines"]
        .as_array()
        .unwrap_or_else(|| panic!("no lines in {v}"))
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn last_n_lines_match_the_files_real_tail() {
    let env = TestEnv::new();
    let text = sample_log(3000);
    std::fs::write(logs_dir(&env).join(MASTER), &text).unwrap();
    let d = start_with_log(&env, MASTER, FAST);
    let all: Vec<&str> = text.lines().collect();
    for n in [1usize, 7, 100, 999, 3500] {
        let (code, v) = d.get_json(&format!("/logs?lines={n}"));
        assert_eq!(code, 200, "{v}");
        let want: Vec<String> = all[all.len().saturating_sub(n)..]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(lines_of(&v), want, "lines={n}");
        assert_eq!(v["returned_lines"], want.len());
        assert_eq!(v["log_file"], MASTER);
        assert_eq!(v["level_filter"], "");
        // 3500 lines is under logs.max_lines (5000): the whole file is held, so counted.
        assert_eq!(v["total_lines"], all.len());
        assert_eq!(v["filtered_lines"], all.len());
        assert_eq!(v["window_complete"], true);
    }
    // The default view (pre-serialized) is the same as asking for it explicitly.
    let (_, default) = d.get_json("/logs");
    let (_, explicit) = d.get_json("/logs?file=master&lines=100");
    assert_eq!(lines_of(&default), lines_of(&explicit));
    assert_eq!(lines_of(&default).len(), 100);
    let (_, by_name) = d.get_json(&format!("/logs?file={MASTER}&lines=100"));
    assert_eq!(lines_of(&by_name), lines_of(&default));
}

#[test]
fn counts_are_null_when_the_file_is_longer_than_the_window() {
    let env = TestEnv::new();
    let text = sample_log(3000);
    std::fs::write(logs_dir(&env).join(MASTER), &text).unwrap();
    let d = start_with_log(
        &env,
        MASTER,
        "logs:\n  refresh_seconds: 1\n  max_lines: 500\n",
    );
    let (code, v) = d.get_json("/logs?lines=500");
    assert_eq!(code, 200);
    let all: Vec<&str> = text.lines().collect();
    assert_eq!(lines_of(&v), all[all.len() - 500..]);
    assert!(v["total_lines"].is_null(), "{v}");
    assert!(v["filtered_lines"].is_null(), "{v}");
    assert_eq!(v["scanned_lines"], 500);
    assert_eq!(v["window_complete"], false);
    let (code, v) = d.get_json("/logs?lines=501");
    assert_eq!(code, 400);
    assert_eq!(v["parameter"], "lines");
    assert!(v["error"].as_str().unwrap().contains("500"), "{v}");
}

#[test]
fn level_filter_keeps_tracebacks_with_their_record() {
    let env = TestEnv::new();
    let text = sample_log(60);
    std::fs::write(logs_dir(&env).join(MASTER), &text).unwrap();
    let d = start_with_log(&env, MASTER, FAST);
    let (code, v) = d.get_json("/logs?level=error&lines=1000");
    assert_eq!(code, 200);
    let got = lines_of(&v);
    // Expected: every ERROR header and the three traceback lines after it.
    let all: Vec<&str> = text.lines().collect();
    let mut want = Vec::new();
    for (i, l) in all.iter().enumerate() {
        if l.contains(" - ERROR - ") {
            want.extend(all[i..i + 4].iter().map(|s| s.to_string()));
        }
    }
    assert_eq!(got, want);
    assert_eq!(v["level_filter"], "ERROR");
    assert_eq!(v["filtered_lines"], want.len());
    // "INFO" inside a traceback does not make it an INFO record.
    let (_, info) = d.get_json("/logs?level=INFO&lines=1000");
    assert!(lines_of(&info).iter().all(|l| l.contains(" - INFO - ")));
    // The last N lines of the selection.
    let (_, last) = d.get_json("/logs?level=ERROR&lines=2");
    assert_eq!(lines_of(&last), want[want.len() - 2..]);
}

#[test]
fn search_is_a_case_insensitive_literal() {
    let env = TestEnv::new();
    let text = "2025-12-06 14:00:01,000 - m - INFO - Fetched 96 CSDAC price points\n\
                2025-12-06 14:00:02,000 - m - ERROR - Failed to read weather\n\
                Traceback: WeatherTimeout (a.b*c)\n\
                2025-12-06 14:00:03,000 - m - INFO - Decision made: charge\n";
    std::fs::write(logs_dir(&env).join(MASTER), text).unwrap();
    let d = start_with_log(&env, MASTER, FAST);
    let (_, v) = d.get_json("/logs?q=csdac");
    assert_eq!(lines_of(&v), [text.lines().next().unwrap()]);
    // A match in a traceback returns its whole record.
    let (_, v) = d.get_json("/logs?q=weathertimeout");
    assert_eq!(
        lines_of(&v),
        text.lines().skip(1).take(2).collect::<Vec<_>>()
    );
    // Pattern characters are literal.
    let (_, v) = d.get_json("/logs?q=a.b*c");
    assert_eq!(lines_of(&v).len(), 2);
    let (_, v) = d.get_json("/logs?q=.*");
    assert_eq!(lines_of(&v).len(), 0);
    assert_eq!(v["returned_lines"], 0);
    let (_, v) = d.get_json("/logs?q=decision&level=ERROR");
    assert_eq!(lines_of(&v).len(), 0);
}

#[test]
fn non_utf8_bytes_are_decoded_lossily() {
    let env = TestEnv::new();
    let mut bytes = b"2025-12-06 14:00:01,000 - m - INFO - caf\xe9 \xff\xfe\n".to_vec();
    bytes.extend_from_slice(b"2025-12-06 14:00:02,000 - m - ERROR - ok\n");
    std::fs::write(logs_dir(&env).join(MASTER), &bytes).unwrap();
    let d = start_with_log(&env, MASTER, FAST);
    let (code, v) = d.get_json("/logs");
    assert_eq!(code, 200, "{v}");
    let lines = lines_of(&v);
    assert_eq!(lines.len(), 2);
    assert!(lines[0].contains('\u{fffd}'), "{lines:?}");
    assert!(lines[0].starts_with("2025-12-06 14:00:01,000 - m - INFO - caf"));
    let (_, v) = d.get_json("/logs?level=INFO");
    assert_eq!(lines_of(&v).len(), 1);
}

#[test]
fn files_listing_and_bad_parameters() {
    let env = TestEnv::new();
    let dir = logs_dir(&env);
    std::fs::write(dir.join("b.log"), "12345").unwrap();
    std::fs::write(dir.join("a.log"), "1").unwrap();
    std::fs::write(dir.join("notes.txt"), "x").unwrap();
    let d = start_with_log(&env, "b.log", FAST);
    let (code, v) = d.get_json("/logs/files");
    assert_eq!(code, 200);
    let files = v["log_files"].as_array().unwrap();
    let names: Vec<_> = files.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a.log", "b.log"]);
    assert_eq!(files[1]["size"], 5);
    assert!(files[1]["modified"].is_string());

    // Any listed file by name; selectors and unknown names.
    let (code, v) = d.get_json("/logs?file=b.log");
    assert_eq!(code, 200);
    assert_eq!(lines_of(&v), ["12345"]);
    let (code, v) = d.get_json("/logs?file=notes.txt");
    assert_eq!(code, 404);
    let valid = v["valid_files"].as_array().unwrap();
    for n in [
        "master",
        "fast_charge",
        "data",
        "journal",
        "summary",
        "a.log",
        "b.log",
    ] {
        assert!(valid.iter().any(|f| f == n), "{n} missing from {v}");
    }
    let (code, v) = d.get_json("/logs?file=master");
    assert_eq!(code, 404, "master_coordinator.log does not exist: {v}");
    for bad in [
        "lines=0",
        "lines=-5",
        "lines=abc",
        "lines=5001",
        "lines=1.5",
    ] {
        let (code, v) = d.get_json(&format!("/logs?file=a.log&{bad}"));
        assert_eq!(code, 400, "{bad}: {v}");
        assert_eq!(v["parameter"], "lines");
        assert_eq!(v["allowed"], serde_json::json!({"min": 1, "max": 5000}));
    }
    let (code, v) = d.get_json("/logs?file=a.log&level=LOUD");
    assert_eq!(code, 400);
    assert_eq!(v["parameter"], "level");
    let (code, v) = d.get_json("/logs?file=summary&follow=true");
    assert_eq!(code, 400, "{v}");
}

// ---------------------------------------------------------------------------------------
// Journal
// ---------------------------------------------------------------------------------------

#[test]
fn journal_without_journalctl_is_unavailable_with_the_reason() {
    let env = TestEnv::new();
    let empty = env.path().join("empty-bin");
    std::fs::create_dir(&empty).unwrap();
    let d = env.start_with_env("", FAST, &[("PATH", empty.to_str().unwrap())]);
    let v = d.wait_json("/status", Duration::from_secs(10), |v| {
        v["sources"]["journal"]["last_error"].is_string()
    });
    assert_eq!(v["sources"]["journal"]["state"], "unavailable");
    let why = v["sources"]["journal"]["last_error"].as_str().unwrap();
    assert!(why.contains("journalctl"), "{why}");
    for file in ["journal", "summary"] {
        let (code, j) = d.get_json(&format!("/logs?file={file}"));
        assert_eq!(code, 503, "{j}");
        assert!(j["error"].as_str().unwrap().contains("journalctl"), "{j}");
        assert_eq!(j["state"], "unavailable");
    }
}

#[test]
fn journal_on_this_machine_answers_honestly() {
    // Whatever this machine has (a journal, none, or no journalctl), the answer is either
    // data or a 503 with a reason, never an error from a request-time process.
    let env = TestEnv::new();
    let d = env.start("", FAST);
    let v = d.wait_json("/status", Duration::from_secs(15), |v| {
        v["sources"]["journal"]["last_attempt"].is_string()
            && v["sources"]["journal"]["in_flight_s"].is_null()
    });
    let (code, j) = d.get_json("/logs?file=journal");
    match code {
        200 => assert!(j["lines"].is_array()),
        503 => {
            assert!(j["error"].as_str().unwrap().len() > 30, "{j}");
            assert!(v["sources"]["journal"]["last_error"].is_string(), "{v}");
        }
        other => panic!("unexpected {other}: {j}"),
    }
}

#[test]
fn journal_and_summary_from_a_stand_in_journalctl() {
    let env = TestEnv::new();
    let bin = env.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let args_file = env.path().join("args.txt");
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\ncat <<'EOF'\n\
-- Journal begins at Mon 2025-12-01 10:00:00 CET. --\n\
2025-12-06T14:00:01+0100 pi goodwe-master-coordinator[812]: 2025-12-06 14:00:01,234 - __main__ - INFO - Decision made: False - wait\n\
2025-12-06T14:00:01+0100 pi goodwe-master-coordinator[812]: 2025-12-06 14:00:01,300 - werkzeug - INFO - 127.0.0.1 GET /status HTTP/1.1 200\n\
2025-12-06T14:00:03+0100 pi goodwe-master-coordinator[812]: 2025-12-06 14:00:03,000 - ctl - ERROR - Failed to connect\n\
2025-12-06T14:00:04+0100 pi goodwe-master-coordinator[812]: 2025-12-06 14:00:03,000 - ctl - ERROR - Failed to connect\n\
2025-12-06T14:00:05+0100 pi systemd[1]: Started goodwe-master-coordinator.service.\n\
EOF\n",
        args_file.display()
    );
    let fake = bin.join("journalctl");
    std::fs::write(&fake, script).unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let d = env.start_with_env("", "logs:\n  max_lines: 300\n", &[("PATH", &path)]);
    let v = d.wait_json("/logs?file=journal", Duration::from_secs(10), |v| {
        v["lines"].is_array()
    });
    assert_eq!(v["log_file"], "systemd-journal");
    let lines = lines_of(&v);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines.iter().all(|l| !l.contains("werkzeug")));
    assert_eq!(v["total_lines"], 5);
    assert_eq!(v["filtered_lines"], 3);
    let args = std::fs::read_to_string(&args_file).unwrap();
    assert_eq!(
        args.lines().collect::<Vec<_>>(),
        [
            "-u",
            "goodwe-master-coordinator",
            "--output=short-iso",
            "-n",
            "300",
            "--no-pager"
        ]
    );
    let (code, s) = d.get_json("/logs?file=summary");
    assert_eq!(code, 200);
    assert_eq!(s["log_file"], "coordinator-summary");
    assert_eq!(
        lines_of(&s),
        [
            "2025-12-06 14:00:01,234 - __main__ - INFO - Decision made: False - wait",
            "2025-12-06 14:00:03,000 - ctl - ERROR - Failed to connect"
        ]
    );
    assert_eq!(s["total_lines"], 5);
    assert_eq!(s["filtered_lines"], 2);
    let (_, e) = d.get_json("/logs?file=summary&level=ERROR");
    assert_eq!(lines_of(&e).len(), 1);
}

#[test]
fn journal_follow_sends_lines_from_each_journal_refresh() {
    let env = TestEnv::new();
    let bin = env.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let journal = env.path().join("journal.txt");
    let line = |i: usize, level: &str| {
        format!(
            "2025-12-06T14:00:{i:02}+0100 pi goodwe-master-coordinator[812]: 2025-12-06 14:00:{i:02},000 - __main__ - {level} - Decision made: {i}\n"
        )
    };
    std::fs::write(&journal, format!("{}{}", line(1, "INFO"), line(2, "ERROR"))).unwrap();
    let fake = bin.join("journalctl");
    std::fs::write(&fake, format!("#!/bin/sh\ncat '{}'\n", journal.display())).unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let d = env.start_with_env(
        "",
        "logs:\n  journal_refresh_seconds: 1\n",
        &[("PATH", &path)],
    );
    d.wait_json("/logs?file=journal", Duration::from_secs(10), |v| {
        v["lines"].is_array()
    });
    let mut f = Follower::open(&d, "file=journal&follow=true&level=ERROR");
    assert!(
        f.wait_for(Duration::from_secs(5), |t| t.contains("Decision made: 2")),
        "{}",
        f.text()
    );
    assert!(f.text().contains("Starting systemd journal stream"));
    let mut more = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .unwrap();
    more.write_all(format!("{}{}", line(3, "INFO"), line(4, "ERROR")).as_bytes())
        .unwrap();
    assert!(
        f.wait_for(Duration::from_secs(5), |t| t.contains("Decision made: 4")),
        "{}",
        f.text()
    );
    assert!(!f.text().contains("Decision made: 1"), "{}", f.text());
    assert!(!f.text().contains("Decision made: 3"), "{}", f.text());
    let (code, _) = d.get_json("/logs?file=summary&follow=true");
    assert_eq!(code, 400);
}

// ---------------------------------------------------------------------------------------
// Following
// ---------------------------------------------------------------------------------------

/// An open SSE connection and what has been read from it.
struct Follower {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Follower {
    fn open(d: &Daemon, query: &str) -> Follower {
        let mut s = TcpStream::connect(d.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        write!(s, "GET /logs?{query} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
        Follower { s, buf: Vec::new() }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf).into_owned()
    }

    /// Reads until `pred` holds on everything read so far; false on timeout or EOF.
    fn wait_for(&mut self, limit: Duration, pred: impl Fn(&str) -> bool) -> bool {
        let start = Instant::now();
        let mut chunk = [0u8; 8192];
        while start.elapsed() < limit {
            if pred(&self.text()) {
                return true;
            }
            match self.s.read(&mut chunk) {
                Ok(0) => return pred(&self.text()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return pred(&self.text()),
            }
        }
        pred(&self.text())
    }

    /// Waits for EOF (the server closed the stream).
    fn wait_closed(&mut self, limit: Duration) -> bool {
        let start = Instant::now();
        let mut chunk = [0u8; 8192];
        while start.elapsed() < limit {
            match self.s.read(&mut chunk) {
                Ok(0) => return true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return true,
            }
        }
        false
    }
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn rec(i: usize, level: &str) -> String {
    format!(
        "2025-12-06 15:00:{:02},000 - m - {level} - follow {i}\n",
        i % 60
    )
}

#[test]
fn follow_streams_the_tail_then_appends_and_survives_rotation() {
    let env = TestEnv::new();
    let path = logs_dir(&env).join(MASTER);
    std::fs::write(
        &path,
        format!("{}{}{}", rec(1, "INFO"), rec(2, "INFO"), rec(3, "INFO")),
    )
    .unwrap();
    let d = start_with_log(&env, MASTER, FAST);
    let mut f = Follower::open(&d, "follow=true&lines=2");
    assert!(
        f.wait_for(Duration::from_secs(5), |t| t.contains("follow 3")),
        "{}",
        f.text()
    );
    let t = f.text();
    assert!(t.starts_with("HTTP/1.1 200 OK\r\n"), "{t}");
    assert!(t.contains("Content-Type: text/event-stream"), "{t}");
    // No CORS: other sites' pages cannot read the coordinator's logs.
    assert!(!t.contains("Access-Control-Allow-Origin"), "{t}");
    assert!(t.contains("\r\n\r\nretry: "), "{t}");
    assert!(t.contains("id: 1\ndata: {"), "{t}");
    assert!(!t.contains("follow 1"), "only the last 2 lines first: {t}");

    append(&path, &rec(4, "INFO"));
    assert!(
        f.wait_for(Duration::from_secs(3), |t| t.contains("follow 4")),
        "{}",
        f.text()
    );

    // `lines=0` (what the page asks for): no backlog, only new lines.
    let mut only_new = Follower::open(&d, "follow=true&lines=0");
    assert!(only_new.wait_for(Duration::from_secs(5), |t| t
        .contains("Starting log stream")));
    append(&path, &rec(40, "INFO"));
    assert!(
        only_new.wait_for(Duration::from_secs(3), |t| t.contains("follow 40")),
        "{}",
        only_new.text()
    );
    let backlog = only_new.text().contains("follow 3\"") || only_new.text().contains("follow 4\"");
    assert!(!backlog, "{}", only_new.text());
    drop(only_new);

    // Truncated in place, then written again.
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    std::thread::sleep(Duration::from_millis(600));
    append(&path, &rec(5, "INFO"));
    assert!(
        f.wait_for(Duration::from_secs(3), |t| t.contains("follow 5")),
        "{}",
        f.text()
    );
    assert!(f.text().contains("truncated"), "{}", f.text());

    // Replaced by a new file (rename over it, as logrotate's create mode does).
    let next = logs_dir(&env).join("next.tmp");
    std::fs::write(&next, rec(6, "INFO")).unwrap();
    std::fs::rename(&next, &path).unwrap();
    assert!(
        f.wait_for(Duration::from_secs(3), |t| t.contains("follow 6")),
        "{}",
        f.text()
    );
    assert!(f.text().contains("replaced"), "{}", f.text());
    append(&path, &rec(7, "INFO"));
    assert!(
        f.wait_for(Duration::from_secs(3), |t| t.contains("follow 7")),
        "{}",
        f.text()
    );
    // Every event has an increasing id.
    let ids: Vec<u64> = f
        .text()
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
}

#[test]
fn follow_applies_the_level_filter_to_records() {
    let env = TestEnv::new();
    let path = logs_dir(&env).join(MASTER);
    std::fs::write(&path, rec(1, "INFO")).unwrap();
    let d = start_with_log(&env, MASTER, FAST);
    let mut f = Follower::open(&d, "follow=true&level=ERROR");
    assert!(f.wait_for(Duration::from_secs(5), |t| t
        .contains("Starting log stream")));
    append(
        &path,
        &format!("{}Traceback here\n{}", rec(2, "ERROR"), rec(3, "INFO")),
    );
    append(&path, &rec(4, "ERROR"));
    assert!(
        f.wait_for(Duration::from_secs(3), |t| t.contains("follow 4")),
        "{}",
        f.text()
    );
    let t = f.text();
    assert!(
        t.contains("follow 2") && t.contains("Traceback here"),
        "{t}"
    );
    assert!(!t.contains("follow 1") && !t.contains("follow 3"), "{t}");
}

#[test]
fn followers_are_capped_and_free_their_place() {
    let env = TestEnv::new();
    let path = logs_dir(&env).join(MASTER);
    std::fs::write(&path, rec(1, "INFO")).unwrap();
    let d = start_with_log(
        &env,
        MASTER,
        "logs:\n  refresh_seconds: 1\n  max_followers: 2\n",
    );
    let mut a = Follower::open(&d, "follow=true");
    let mut b = Follower::open(&d, "follow=true");
    assert!(a.wait_for(Duration::from_secs(5), |t| t.contains("follow 1")));
    assert!(b.wait_for(Duration::from_secs(5), |t| t.contains("follow 1")));
    let third = raw_request(
        d.addr,
        "GET /logs?follow=true HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .unwrap();
    assert_eq!(third.status, 503, "{}", third.text());
    assert!(third.text().contains("max_followers"), "{}", third.text());
    // Ordinary requests are still served while both streams are open.
    assert_eq!(d.get("/logs").status, 200);

    // A follower that leaves frees its place once its thread notices (at its next write).
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut i = 10;
    loop {
        append(&path, &rec(i, "INFO"));
        i += 1;
        std::thread::sleep(Duration::from_millis(300));
        let r = raw_request(
            d.addr,
            "GET /logs?follow=true HTTP/1.1\r\nHost: localhost\r\n\r\n",
        );
        if let Ok(r) = r {
            if r.status == 200 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the place was never freed");
    }
    drop(b);
}

#[test]
fn shutdown_with_open_streams_exits_within_two_seconds() {
    let env = TestEnv::new();
    let path = logs_dir(&env).join(MASTER);
    std::fs::write(&path, rec(1, "INFO")).unwrap();
    let mut d = start_with_log(&env, MASTER, FAST);
    let mut streams: Vec<Follower> = (0..3).map(|_| Follower::open(&d, "follow=true")).collect();
    for s in &mut streams {
        assert!(s.wait_for(Duration::from_secs(5), |t| t.contains("follow 1")));
    }
    let mut dl = TcpStream::connect(d.addr).unwrap();
    write!(
        dl,
        "GET /logs/download/{MASTER} HTTP/1.1\r\nHost: localhost\r\n\r\n"
    )
    .unwrap();
    d.signal("TERM");
    let (status, took) = d
        .wait_exit(Duration::from_secs(2))
        .expect("did not exit within 2 s with open streams");
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(2));
    for s in &mut streams {
        assert!(s.wait_closed(Duration::from_secs(1)), "stream left open");
    }
}

// ---------------------------------------------------------------------------------------
// Downloads
// ---------------------------------------------------------------------------------------

#[test]
fn download_streams_a_listed_file() {
    let env = TestEnv::new();
    let text = sample_log(2000);
    std::fs::write(logs_dir(&env).join(MASTER), &text).unwrap();
    let d = start_with_log(&env, MASTER, FAST);
    let r = d.get(&format!("/logs/download/{MASTER}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, text.as_bytes());
    assert_eq!(
        r.header("Content-Disposition"),
        Some(format!("attachment; filename=\"{MASTER}\"").as_str())
    );
    assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("Access-Control-Allow-Origin"), None);
    let head = raw_request(
        d.addr,
        &format!("HEAD /logs/download/{MASTER} HTTP/1.1\r\nHost: localhost\r\n\r\n"),
    )
    .unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("Content-Length"),
        Some(text.len().to_string().as_str())
    );
}

#[test]
fn downloads_are_capped_so_slow_clients_cannot_take_every_thread() {
    let env = TestEnv::new();
    // Larger than loopback socket buffers, so an unread download stays in progress.
    let chunk = sample_log(2000);
    let mut f = std::fs::File::create(logs_dir(&env).join("big.log")).unwrap();
    while f.metadata().unwrap().len() < 64 << 20 {
        f.write_all(chunk.as_bytes()).unwrap();
    }
    drop(f);
    let d = start_with_log(
        &env,
        "big.log",
        "logs:\n  refresh_seconds: 1\n  max_downloads: 1\n",
    );
    let mut slow = TcpStream::connect(d.addr).unwrap();
    write!(
        slow,
        "GET /logs/download/big.log HTTP/1.1\r\nHost: localhost\r\n\r\n"
    )
    .unwrap();
    let mut first = [0u8; 64];
    slow.read_exact(&mut first).unwrap();
    assert!(first.starts_with(b"HTTP/1.1 200 OK"));
    let second = d.get("/logs/download/big.log");
    assert_eq!(second.status, 503, "{}", second.text());
    assert!(second.text().contains("max_downloads"));
    // Everything else is still answered.
    assert_eq!(d.get("/logs/files").status, 200);
    assert_eq!(d.get("/health").status, 200);
}

/// The attack environment: a secret outside the log dir, a symlink to /etc/passwd and a
/// directory inside it.
fn attack_env() -> (TestEnv, Daemon) {
    let env = TestEnv::new();
    let dir = logs_dir(&env);
    std::fs::write(dir.join(MASTER), rec(1, "INFO")).unwrap();
    std::fs::write(
        env.root().join("secret.log"),
        "TOPSECRET outside the log dir\n",
    )
    .unwrap();
    std::fs::write(env.root().join("x"), "TOPSECRET x\n").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.join("passwd.log")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.join("passwd")).unwrap();
    std::fs::create_dir(dir.join("archive.log")).unwrap();
    std::fs::write(dir.join(".hidden.log"), "TOPSECRET hidden\n").unwrap();
    let d = start_with_log(&env, MASTER, FAST);
    (env, d)
}

fn assert_refused(d: &Daemon, raw_path: &str) {
    let r = raw_request(
        d.addr,
        &format!("GET {raw_path} HTTP/1.1\r\nHost: localhost\r\n\r\n"),
    )
    .unwrap_or_else(|e| panic!("{raw_path}: {e}"));
    assert!(
        r.status == 400 || r.status == 404,
        "{raw_path}: {} {}",
        r.status,
        r.text()
    );
    let body = r.text();
    assert!(!body.contains("TOPSECRET"), "{raw_path}: {body}");
    assert!(!body.contains("root:"), "{raw_path}: {body}");
    assert!(r.header("Content-Disposition").is_none(), "{raw_path}");
    assert!(
        serde_json::from_slice::<serde_json::Value>(&r.body).is_ok(),
        "{raw_path}: {body}"
    );
}

#[test]
fn download_refuses_dot_dot_slash() {
    let (_env, d) = attack_env();
    assert_refused(&d, "/logs/download/../x");
    assert_refused(&d, "/logs/download/../secret.log");
}

#[test]
fn download_refuses_encoded_slash() {
    let (_env, d) = attack_env();
    assert_refused(&d, "/logs/download/..%2Fx");
    assert_refused(&d, "/logs/download/..%2fsecret.log");
}

#[test]
fn download_refuses_encoded_dots() {
    let (_env, d) = attack_env();
    assert_refused(&d, "/logs/download/%2e%2e");
    assert_refused(&d, "/logs/download/%2e%2e%2fsecret.log");
}

#[test]
fn download_refuses_absolute_paths() {
    let (_env, d) = attack_env();
    assert_refused(&d, "/logs/download//etc/passwd");
    assert_refused(&d, "/logs/download/%2Fetc%2Fpasswd");
}

#[test]
fn download_refuses_symlinks_out_of_the_dir() {
    let (_env, d) = attack_env();
    assert_refused(&d, "/logs/download/passwd.log");
    assert_refused(&d, "/logs/download/passwd");
    let (_, files) = d.get_json("/logs/files");
    assert!(!files.to_string().contains("passwd"), "{files}");
}

#[test]
fn download_refuses_directories() {
    let (_env, d) = attack_env();
    assert_refused(&d, "/logs/download/archive.log");
    assert_refused(&d, "/logs/download/.");
}

#[test]
fn download_refuses_empty_and_hidden_names() {
    let (_env, d) = attack_env();
    assert_refused(&d, "/logs/download/");
    assert_refused(&d, "/logs/download/.hidden.log");
}

// ---------------------------------------------------------------------------------------
// `level` attack table: each is a 400 naming `level`, and nothing runs.
// ---------------------------------------------------------------------------------------

fn assert_level_refused(raw_level: &str) {
    let env = TestEnv::new();
    std::fs::write(logs_dir(&env).join(MASTER), rec(1, "ERROR")).unwrap();
    let d = start_with_log(&env, MASTER, FAST);
    let marker = env.path().join("pwned");
    let value = raw_level.replace("MARKER", marker.to_str().unwrap());
    let encoded: String = value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let (code, v) = d.get_json(&format!("/logs?level={encoded}"));
    assert_eq!(code, 400, "{value}: {v}");
    assert_eq!(v["parameter"], "level");
    assert_eq!(
        v["allowed"],
        serde_json::json!(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
    );
    assert!(!v.to_string().contains("root:"), "{v}");
    // The same with the raw (unencoded) characters where HTTP allows them.
    if !value.contains(' ') {
        let r = raw_request(
            d.addr,
            &format!("GET /logs?level={value} HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        );
        if let Ok(r) = r {
            assert_eq!(r.status, 400, "{value}: {}", r.text());
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(!marker.exists(), "{value} ran a command");
}

#[test]
fn level_with_quotes_is_refused() {
    assert_level_refused("ERROR' /etc/passwd '");
    assert_level_refused("\"ERROR\"");
}

#[test]
fn level_with_semicolon_is_refused() {
    assert_level_refused("ERROR;touch MARKER");
}

#[test]
fn level_with_command_substitution_is_refused() {
    assert_level_refused("$(touch MARKER)");
}

#[test]
fn level_with_backticks_is_refused() {
    assert_level_refused("`touch MARKER`");
}

/// A `/logs` answer stops at `logs.max_response_bytes` (64 KiB here), keeps the newest
/// lines and says it was truncated; a smaller one is whole.
#[test]
fn answers_are_bounded_by_max_response_bytes() {
    let env = TestEnv::new();
    let mut text = String::new();
    for i in 0..4000 {
        text.push_str(&format!(
            "2025-12-06 14:00:00,000 - m - ERROR - line {i} {}\n",
            "a".repeat(200)
        ));
    }
    std::fs::write(logs_dir(&env).join(MASTER), &text).unwrap();
    let d = start_with_log(
        &env,
        MASTER,
        "logs:\n  refresh_seconds: 1\n  max_response_bytes: 65536\n",
    );
    let r = d.get("/logs?lines=4000&q=a");
    assert_eq!(r.status, 200);
    assert!(r.body.len() <= 65_536, "{} bytes", r.body.len());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["truncated"], true);
    assert_eq!(v["max_response_bytes"], 65_536);
    assert_eq!(v["matched_lines"], 4000);
    let lines = v["lines"].as_array().unwrap();
    assert_eq!(v["returned_lines"], lines.len());
    assert!(lines.len() > 100 && lines.len() < 4000, "{}", lines.len());
    assert!(lines
        .last()
        .unwrap()
        .as_str()
        .unwrap()
        .contains("line 3999 "));
    let (_, small) = d.get_json("/logs?lines=10&q=a");
    assert_eq!(small["truncated"], false);
    assert_eq!(small["returned_lines"], 10);
}
