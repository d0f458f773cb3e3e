//! Shared helpers: a temp directory with a config, the real binary started on a free port,
//! and small HTTP clients (ureq for ordinary requests, raw TCP where the wire matters).

#![allow(
    dead_code,
    reason = "helpers shared by test modules; not every module uses every helper"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// True when every file in `tools` exists. Otherwise, under CI (`CI` set) the test fails
/// naming the package to install; locally it prints one `skipped:` line that stays visible
/// in `cargo test` output (written to stderr directly, past the test harness's capture).
pub fn tools_present(test: &str, tools: &[&str], packages: &str) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| !Path::new(t).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "{test}: {} missing; CI must install {packages}",
            missing.join(", ")
        );
    }
    let _ = writeln!(
        std::io::stderr().lock(),
        "skipped: {test}: install {packages} ({} missing)",
        missing.join(", ")
    );
    false
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_energy-monitor"))
}

/// A temp dir holding `config.yaml` and a coordinator root (`root/`, with `logs/`).
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    /// `coordinator.process_match`. Tests on one machine share its process table, so each
    /// environment gets a script name no other test runs, unless a test sets its own.
    pub process_match: String,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("root/logs")).unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        let unique = dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(['.', '-'], "");
        TestEnv {
            dir,
            process_match: format!("absent_coordinator_{unique}.py"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// Writes `config.yaml`: `web_server` host/port, `coordinator.root: root`,
    /// `data_dir: data`, then `extra` (YAML lines, merged by the caller's care: extra may
    /// add keys under `web_server:` by starting lines with two spaces right after it).
    pub fn write_config(&self, port: u16, web_extra: &str, extra: &str) -> PathBuf {
        let path = self.dir.path().join("config.yaml");
        // Tests never call PSE: unless a test brings its own stand-in, prices come from a
        // loopback port that refuses at once.
        let prices = if extra.contains("prices:") {
            ""
        } else {
            "prices:\n  api_url: http://127.0.0.1:9/api/csdac-pln\n"
        };
        // A test may bring its own log level.
        let level = if extra.contains("log_level:") {
            ""
        } else {
            "log_level: debug\n"
        };
        let text = format!(
            "web_server:\n  host: 127.0.0.1\n  port: {port}\n{web_extra}coordinator:\n  root: root\n  process_match: {}\ndata_dir: data\n{level}{prices}{extra}",
            self.process_match
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Starts the daemon with a config written for a free port; waits until `/health`
    /// answers. `web_extra` lines go under `web_server:` (indent them by two spaces).
    pub fn start(&self, web_extra: &str, extra: &str) -> Daemon {
        self.start_with_env(web_extra, extra, &[])
    }

    pub fn start_with_env(&self, web_extra: &str, extra: &str, env: &[(&str, &str)]) -> Daemon {
        self.start_wrapped(web_extra, extra, env, &[])
    }

    /// Like `start_with_env`, with the binary run through `wrapper` (e.g. a shell that sets
    /// a resource limit and then runs `exec "$@"`).
    pub fn start_wrapped(
        &self,
        web_extra: &str,
        extra: &str,
        env: &[(&str, &str)],
        wrapper: &[&str],
    ) -> Daemon {
        for _ in 0..5 {
            let port = free_port();
            let config = self.write_config(port, web_extra, extra);
            let mut cmd = match wrapper.split_first() {
                Some((program, args)) => {
                    let mut c = Command::new(program);
                    c.args(args).arg(bin());
                    c
                }
                None => Command::new(bin()),
            };
            cmd.arg("--config")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            for (k, v) in env {
                cmd.env(k, v);
            }
            let mut child = cmd.spawn().expect("spawn energy-monitor");
            let log = capture_stderr(&mut child);
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let mut d = Daemon { child, addr, log };
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = d.child.try_wait() {
                    break;
                }
                if raw_get(addr, "/health")
                    .map(|r| r.status == 200)
                    .unwrap_or(false)
                {
                    return d;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if d.log().contains("cannot listen") {
                continue; // the free port was taken meanwhile; try another
            }
            panic!("energy-monitor did not start; stderr:\n{}", d.log());
        }
        panic!("no free port found");
    }
}

/// Collects the child's stderr lines into a shared string, on a thread of its own.
fn capture_stderr(child: &mut Child) -> Arc<Mutex<String>> {
    let log = Arc::new(Mutex::new(String::new()));
    let stderr = child.stderr.take().expect("stderr is piped");
    let sink = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    log
}

/// An HTTP client for local helper servers (chromedriver, Prometheus): no proxy, error
/// statuses returned as answers, every call bounded by `timeout`.
pub fn local_agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .proxy(None)
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running daemon; killed on drop.
pub struct Daemon {
    pub child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Daemon {
    /// Starts the binary with `args` and waits until `/health` at `addr` answers.
    pub fn spawn(args: &[&std::ffi::OsStr], addr: SocketAddr) -> Daemon {
        Daemon::spawn_with_env(args, &[], addr)
    }

    /// Like `spawn`, with extra environment variables.
    pub fn spawn_with_env(
        args: &[&std::ffi::OsStr],
        env: &[(&str, &str)],
        addr: SocketAddr,
    ) -> Daemon {
        let mut child = Command::new(bin())
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn energy-monitor");
        let log = capture_stderr(&mut child);
        let mut d = Daemon { child, addr, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = d.child.try_wait() {
                panic!("energy-monitor exited ({st}); stderr:\n{}", d.log());
            }
            if raw_get(addr, "/health")
                .map(|r| r.status == 200)
                .unwrap_or(false)
            {
                return d;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("energy-monitor did not start; stderr:\n{}", d.log());
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Waits for exit up to `limit`; returns the status and how long it took.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<(ExitStatus, Duration)> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some((st, start.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }

    pub fn get(&self, path: &str) -> Response {
        raw_get(self.addr, path)
            .unwrap_or_else(|e| panic!("GET {path}: {e}\nstderr:\n{}", self.log()))
    }

    pub fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self.get(path);
        let v = serde_json::from_slice(&r.body).unwrap_or_else(|e| {
            panic!(
                "GET {path}: not JSON ({e}): {}",
                String::from_utf8_lossy(&r.body)
            )
        });
        (r.status, v)
    }

    /// Polls `path` until `pred` holds on its JSON, up to `limit`.
    pub fn wait_json(
        &self,
        path: &str,
        limit: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let start = Instant::now();
        loop {
            let (_, v) = self.get_json(path);
            if pred(&v) {
                return v;
            }
            if start.elapsed() > limit {
                panic!(
                    "GET {path}: condition not met within {limit:?}; last body: {v}\nstderr:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response read off the wire.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one raw request and reads one response (by Content-Length, as a browser does;
/// no body for HEAD and 304), then closes the connection.
pub fn raw_request(addr: SocketAddr, request: &str) -> std::io::Result<Response> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(request.as_bytes())?;
    read_response(&mut s, request.starts_with("HEAD "))
}

/// Reads one response from `s`.
pub fn read_response(s: &mut TcpStream, head_only: bool) -> std::io::Result<Response> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed before the headers ended",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let mut r = parse_response(&buf)?;
    let length: usize = r
        .header("Content-Length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let want = if head_only || r.status == 304 {
        0
    } else {
        length
    };
    let mut body = buf[header_end..].to_vec();
    while body.len() < want {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(want);
    r.body = body;
    Ok(r)
}

pub fn raw_get(addr: SocketAddr, path: &str) -> std::io::Result<Response> {
    raw_request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n"),
    )
}

pub fn parse_response(buf: &[u8]) -> std::io::Result<Response> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no header end"))?;
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("empty"))?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(status_line))?;
    let headers = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    Ok(Response {
        status,
        headers,
        body: buf[split + 4..].to_vec(),
    })
}

/// A child process that is killed when the guard goes away, also when a test fails half
/// way (a stray child could hold the test's output pipe open).
pub struct KillOnDrop(pub Child);

impl KillOnDrop {
    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
