//! `/metrics/prometheus` and the host source end to end: a real Prometheus server scrapes
//! the real binary serving demo data; `promtool check metrics` lints our output; the
//! Grafana dashboard names only metrics we export; host readings match `/proc`, `df` and
//! the thresholds become problems.
//!
//! Prometheus and promtool come from Debian's `prometheus` package. Without them a test
//! prints one "skipped" line, except under CI (`CI` set), where that is a failure
//! (`tools_present`).

use std::collections::BTreeSet;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{free_port, local_agent, tools_present, Daemon, TestEnv};

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const PROMETHEUS: &str = "/usr/bin/prometheus";
const PROMTOOL: &str = "/usr/bin/promtool";

/// The demo's data (2 days, seed 2026) served by the real binary on a free port, outside
/// demo mode (the coordinator process is looked for, as on a real installation). With
/// `coordinator`, a stand-in coordinator process (a Python script of a name no other test
/// uses) runs while the daemon starts, so the process metrics have a process to measure.
fn demo_daemon(coordinator: bool) -> (tempfile::TempDir, Daemon, Option<KillOnDrop>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let port = free_port();
    let options = energy_monitor::demo::Options {
        days: 2,
        port,
        ..Default::default()
    };
    energy_monitor::demo::generate(&dir, &options).expect("demo data");
    let config = dir.join(energy_monitor::demo::CONFIG_FILE);
    let script = tmp.path().join(format!("prom_test_coordinator_{port}.py"));
    let process_match = script.file_name().unwrap().to_str().unwrap().to_string();
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(
            "coordinator:\n  root: .\n",
            &format!("coordinator:\n  root: .\n  process_match: {process_match}\n"),
        )
        .replace(
            "web_server:\n",
            "web_server:\n  coordinator_pid_check_interval_seconds: 1\n",
        )
        // The process metrics of a real (or missing) process, not the demo's simulated one.
        .replace("demo: true\n", "demo: false\n");
    std::fs::write(&config, text).unwrap();
    let child = coordinator.then(|| {
        std::fs::write(&script, "import time\ntime.sleep(120)\n").unwrap();
        KillOnDrop(
            Command::new("python3")
                .arg(&script)
                .spawn()
                .expect("python3"),
        )
    });
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let daemon = Daemon::spawn(&["--config".as_ref(), config.as_os_str()], addr);
    (tmp, daemon, child)
}

/// A child process killed when the test ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The exposition once the inverter, metrics and host data (and `also`) are in it.
fn exposition(d: &Daemon, also: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = d.get("/metrics/prometheus");
        let text = r.text();
        if r.status == 200
            && text.contains("energy_monitor_battery_state_of_charge_ratio ")
            && text.contains("energy_monitor_decisions_last_24h{")
            && text.contains("energy_monitor_host_memory_total_bytes ")
            && text.contains(also)
        {
            assert_eq!(r.header("Content-Type"), Some(CONTENT_TYPE));
            assert!(r.header("ETag").is_some());
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "the exposition did not fill in time: {} {text}\n{}",
            r.status,
            d.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The value of the unlabelled sample `name` in an exposition.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Family names declared by `# TYPE` lines.
fn families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_string)
        .collect()
}

/// A Prometheus server in a temp dir; killed on drop.
struct Prometheus {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
    agent: ureq::Agent,
}

impl Prometheus {
    fn start(bin: &Path, target: SocketAddr) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: energy-monitor\n    metrics_path: /metrics/prometheus\n\
                 \x20   static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        let agent = local_agent(Duration::from_secs(5));
        Prometheus {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
            agent,
        }
    }

    /// The first sample's value of an instant query, if the query answered one.
    fn query(&self, q: &str) -> Option<f64> {
        let mut r = self
            .agent
            .get(&format!("{}/api/v1/query", self.base))
            .query("query", q)
            .call()
            .ok()?;
        let v: Value = r.body_mut().read_json().ok()?;
        v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }

    /// The API's whole answer to an instant query.
    fn answer(&self, q: &str) -> Value {
        let mut r = self
            .agent
            .get(&format!("{}/api/v1/query", self.base))
            .query("query", q)
            .call()
            .expect("prometheus answers");
        r.body_mut().read_json().expect("prometheus answers JSON")
    }

    /// Polls `q` until `pred` holds on its value, up to `deadline`.
    fn wait(&self, q: &str, deadline: Instant, pred: impl Fn(f64) -> bool) -> f64 {
        loop {
            match self.query(q) {
                Some(v) if pred(v) => return v,
                last => assert!(
                    Instant::now() < deadline,
                    "prometheus: {q} did not hold in time (last: {last:?})"
                ),
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn prometheus_scrapes_us_and_sees_the_soc_of_current_state() {
    let test = "prometheus_scrapes_us_and_sees_the_soc_of_current_state";
    if !tools_present(test, &[PROMETHEUS], "prometheus") {
        return;
    }
    let started = Instant::now();
    let (_tmp, d, _) = demo_daemon(false);
    let text = exposition(&d, "");
    assert!(text.len() < 16 * 1024, "{} bytes", text.len());
    let (_, state) = d.get_json("/current-state");
    let soc = state["battery"]["soc_percent"]
        .as_f64()
        .expect("the demo has a SOC");
    assert_eq!(
        sample(&text, "energy_monitor_battery_state_of_charge_ratio"),
        Some(soc / 100.0)
    );

    let p = Prometheus::start(Path::new(PROMETHEUS), d.addr);
    let deadline = started + Duration::from_secs(30);
    p.wait("up{job=\"energy-monitor\"}", deadline, |v| v == 1.0);
    let scraped = p.wait(
        "energy_monitor_battery_state_of_charge_ratio",
        deadline,
        |_| true,
    );
    assert_eq!(scraped, soc / 100.0, "SOC in Prometheus vs /current-state");
    assert_eq!(
        p.wait(
            "energy_monitor_source_up{source=\"inverter\"}",
            deadline,
            |_| true
        ),
        1.0
    );
    // Every query of the Grafana dashboard is valid PromQL, and the power panel has data.
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/grafana/energy-monitor.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    for e in &exprs {
        let q = e.replace("$installation", &d.addr.to_string());
        let a = p.answer(&q);
        assert_eq!(a["status"], "success", "{q}: {a}");
    }
    let pv = format!("energy_monitor_pv_power_watts{{instance=\"{}\"}}", d.addr);
    assert!(p.query(&pv).is_some(), "{pv}");
    // Nothing was invented: the demo has no coordinator process, so no CPU or RSS series.
    assert_eq!(p.query("energy_monitor_coordinator_up"), Some(0.0));
    assert_eq!(
        p.query("energy_monitor_coordinator_resident_memory_bytes"),
        None
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn promtool_accepts_our_output_and_grafana_names_only_our_metrics() {
    let test = "promtool_accepts_our_output_and_grafana_names_only_our_metrics";
    let (_tmp, d, _coordinator) = demo_daemon(true);
    // The stand-in coordinator is found; its CPU share needs a second check.
    let text = exposition(&d, "energy_monitor_coordinator_cpu_usage_ratio ");

    // Every metric the dashboard's expressions name is in our output. Temperature
    // families may be absent only on a machine without sensors (then /status says so).
    let dashboard =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/grafana/energy-monitor.json");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&dashboard).unwrap()).unwrap();
    let mut named = BTreeSet::new();
    collect_names(&json, &mut named);
    assert!(named.len() >= 20, "the dashboard names {named:?}");
    let ours = families(&text);
    let (_, status) = d.get_json("/status");
    let no_sensors = status["host"]["temperatures"] == serde_json::json!([]);
    let missing: Vec<&String> = named
        .iter()
        .filter(|n| !ours.contains(*n))
        .filter(|n| !(no_sensors && n.starts_with("energy_monitor_host_temperature")))
        .collect();
    assert!(missing.is_empty(), "not in our output: {missing:?}\n{text}");
    // Every family we export is documented.
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/prometheus.md"))
            .unwrap();
    let undocumented: Vec<&String> = ours
        .iter()
        .filter(|n| !docs.contains(&format!("`{n}`")))
        .collect();
    assert!(
        undocumented.is_empty(),
        "not in docs/prometheus.md: {undocumented:?}"
    );
    // One dashboard for many homes: the installation variable is Prometheus's instance
    // label, and every query is limited to it.
    let vars = json["templating"]["list"].as_array().unwrap();
    let installation = vars
        .iter()
        .find(|v| v["name"] == "installation")
        .expect("an installation variable");
    assert!(installation["definition"]
        .as_str()
        .unwrap()
        .contains(", instance)"));
    let mut exprs = Vec::new();
    collect_exprs(&json, &mut exprs);
    assert!(exprs.len() >= 20);
    for e in &exprs {
        assert!(e.contains("instance=\"$installation\""), "{e}");
    }

    if !tools_present(test, &[PROMTOOL], "prometheus") {
        return;
    }
    let mut child = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}\n{}{}\n{text}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The example scrape config is valid too.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/prometheus/prometheus.yml");
    let out = Command::new(PROMTOOL)
        .args(["check", "config", "--syntax-only"])
        .arg(&example)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check config: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every `expr` of the dashboard's queries.
fn collect_exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| collect_exprs(x, out)),
        Value::Object(o) => {
            if let Some(Value::String(e)) = o.get("expr") {
                out.push(e.clone());
            }
            o.values().for_each(|x| collect_exprs(x, out));
        }
        _ => {}
    }
}

/// Metric names (`energy_monitor_…`) in every string of the dashboard.
fn collect_names(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::String(s) => {
            let mut rest = s.as_str();
            while let Some(i) = rest.find("energy_monitor_") {
                let name: String = rest[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[i + name.len()..];
                out.insert(name);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_names(x, out)),
        Value::Object(o) => o.values().for_each(|x| collect_names(x, out)),
        _ => {}
    }
}

fn meminfo_total_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = text.lines().find(|l| l.starts_with("MemTotal:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

fn proc_uptime() -> f64 {
    let text = std::fs::read_to_string("/proc/uptime").unwrap();
    text.split_whitespace().next().unwrap().parse().unwrap()
}

/// `df -B1` of `dir`: size, available, inodes, free inodes.
fn df(dir: &Path) -> [u64; 4] {
    let out = Command::new("df")
        .args(["-B1", "--output=size,avail,itotal,iavail"])
        .arg(dir)
        .output()
        .expect("df");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let v: Vec<u64> = text
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    [v[0], v[1], v[2], v[3]]
}

#[test]
fn host_readings_match_proc_and_a_crossed_threshold_is_a_problem() {
    let env = TestEnv::new();
    let d = env.start("", "host:\n  refresh_seconds: 1\n  disk_warn_percent: 1\n");
    let status = d.wait_json("/status", Duration::from_secs(10), |v| {
        v["host"]["memory"].is_object()
    });
    let host = &status["host"];

    assert_eq!(
        host["memory"]["total_bytes"].as_u64(),
        Some(meminfo_total_bytes())
    );
    let uptime = host["uptime_s"].as_f64().unwrap();
    let proc = proc_uptime();
    assert!(
        (uptime - proc).abs() <= 3.0,
        "uptime {uptime} vs /proc/uptime {proc}"
    );
    assert!(host["cpu_percent"].as_f64().is_some(), "{host}");
    assert!(host["process"]["rss_bytes"].as_u64().unwrap() > 1_000_000);

    // data_dir's filesystem, against df.
    let data = env.path().join("data");
    let fs = host["filesystems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            f["roles"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == "data_dir")
        })
        .unwrap_or_else(|| panic!("no data_dir filesystem: {host}"));
    let [size, avail, itotal, iavail] = df(&data);
    assert_eq!(fs["size_bytes"].as_u64(), Some(size), "{fs}");
    let ours = fs["available_bytes"].as_u64().unwrap() as f64;
    assert!(
        (ours - avail as f64).abs() <= size as f64 * 0.02,
        "available {ours} vs df {avail}"
    );
    if itotal > 0 {
        assert_eq!(fs["inodes_total"].as_u64(), Some(itotal), "{fs}");
        let ours = fs["inodes_free"].as_u64().unwrap() as f64;
        assert!((ours - iavail as f64).abs() <= itotal as f64 * 0.01);
    }

    // The 1 % disk threshold is crossed: a problem in plain words, and health degraded.
    let problems = status["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.as_str().unwrap().starts_with("disk almost full: ")
                && p.as_str().unwrap().contains("warning at 1%")),
        "{problems:?}"
    );
    assert_eq!(status["background_worker"]["health"], "degraded");
    assert_eq!(host["thresholds"]["disk_warn_percent"], 1.0);

    // Temperatures: absent sensors are an empty list, null and absent series; present
    // ones carry a reading.
    let text = d.get("/metrics/prometheus").text();
    let temps = host["temperatures"].as_array().unwrap();
    if temps.is_empty() {
        assert!(host["max_temperature_celsius"].is_null());
        assert!(
            !text.contains("energy_monitor_host_temperature_celsius"),
            "{text}"
        );
    } else {
        assert!(host["max_temperature_celsius"].as_f64().is_some());
        assert!(text.contains("energy_monitor_host_temperature_celsius{sensor="));
    }
    assert!(
        sample(&text, "energy_monitor_host_warnings").unwrap() >= 1.0,
        "{text}"
    );
}
