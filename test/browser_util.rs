//! A small W3C WebDriver client (over ureq) driving Debian's headless Chromium through
//! chromedriver, for the dashboard tests. Only the handful of commands the tests use.
//!
//! Chromium and chromedriver come from Debian's `chromium` and `chromium-driver` packages
//! (`.ci/run` installs them). When they are missing the browser tests say SKIPPED and pass,
//! except under CI (`CI` set), where a missing browser is a failure.

#![allow(
    dead_code,
    reason = "helpers shared by test modules; not every module uses every helper"
)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::util::{free_port, local_agent, tools_present};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// True when the browser is available; otherwise fails under CI or skips visibly.
pub fn browser_available(test: &str) -> bool {
    tools_present(test, &[CHROMIUM, CHROMEDRIVER], "chromium chromium-driver")
}

/// One chromedriver process with one browser session.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub fn start(width: u32, height: u32) -> Browser {
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let agent = local_agent(Duration::from_secs(60));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut r) = agent.get(&format!("{base}/status")).call() {
                let v: Value = r.body_mut().read_json().unwrap_or(Value::Null);
                if v["value"]["ready"] == true {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.path().display()),
                    format!("--window-size={width},{height}"),
                ]
            }
        }}});
        let mut b = Browser {
            driver,
            base,
            session: String::new(),
            agent,
            _profile: profile,
        };
        let v = b.command("POST", "/session", Some(caps));
        b.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        b
    }

    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{}", self.base, path);
        let mut r = match (method, body) {
            ("POST", Some(b)) => self.agent.post(&url).send_json(&b),
            ("POST", None) => self.agent.post(&url).send_json(json!({})),
            ("DELETE", _) => self.agent.delete(&url).call(),
            _ => self.agent.get(&url).call(),
        }
        .unwrap_or_else(|e| panic!("webdriver {method} {path}: {e}"));
        let v: Value = r.body_mut().read_json().unwrap_or(Value::Null);
        if let Some(err) = v["value"]["error"].as_str() {
            panic!(
                "webdriver {method} {path}: {err}: {}",
                v["value"]["message"]
            );
        }
        if path == "/session" {
            return v["value"].clone();
        }
        v["value"].clone()
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{}", self.session, rest)
    }

    pub fn goto(&self, url: &str) {
        self.command("POST", &self.s("/url"), Some(json!({"url": url})));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub fn eval(&self, script: &str) -> Value {
        self.command(
            "POST",
            &self.s("/execute/sync"),
            Some(json!({"script": script, "args": []})),
        )
    }

    /// Polls `script` until it returns a truthy value, up to `limit`.
    pub fn wait_for(&self, script: &str, limit: Duration) -> Value {
        let start = Instant::now();
        loop {
            let v = self.eval(script);
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v != json!(0) && v != json!("");
            if truthy {
                return v;
            }
            assert!(start.elapsed() < limit, "timed out waiting for: {script}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn set_window(&self, width: u32, height: u32) {
        self.command(
            "POST",
            &self.s("/window/rect"),
            Some(json!({"width": width, "height": height})),
        );
    }

    pub fn screenshot(&self, path: &Path) {
        let v = self.command("GET", &self.s("/screenshot"), None);
        let png = base64_decode(v.as_str().expect("screenshot data"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// Sends keys to the focused element.
    pub fn keys(&self, text: &str) {
        let actions: Vec<Value> = text
            .chars()
            .flat_map(|c| {
                [
                    json!({"type": "keyDown", "value": c.to_string()}),
                    json!({"type": "keyUp", "value": c.to_string()}),
                ]
            })
            .collect();
        self.command(
            "POST",
            &self.s("/actions"),
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self
                .agent
                .delete(&format!("{}/session/{}", self.base, self.session))
                .call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Where screenshots go: `target/screenshots/` of this checkout.
pub fn screenshot_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots")
}

fn base64_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let Some(v) = value(c) else { continue };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
