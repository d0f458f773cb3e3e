//! The coordinator-process source: is the charging coordinator running, and how heavy is it?
//!
//! The coordinator writes no PID file, so it is found by its command line. The source
//! remembers the PID it found and, on each check, refreshes only that PID (one `/proc/<pid>`
//! read): is it alive, is it the same process (its start time), and does its command line
//! still match? Only when the remembered process is gone or another does it scan the whole
//! process table.
//!
//! A process matches when the configured script name (`coordinator.process_match`, default
//! `master_coordinator.py`) is the program being run: either the program itself, or the
//! script an interpreter (`python3 …`) was started with. A process that merely mentions the
//! name as an argument (`grep master_coordinator.py`, `vim master_coordinator.py`,
//! `python3 -c … master_coordinator.py`) does not match, and neither does energy-monitor.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};

use crate::clock;
use crate::refresh::{RefreshContext, Refreshed, Source, SourceId, SourceResult};

/// What one check found.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessReport {
    pub running: bool,
    pub pid: Option<u32>,
    pub started_at: Option<DateTime<Utc>>,
    pub uptime_s: Option<u64>,
    /// Share of the whole machine's CPU, 0–100, over the last check interval. `None` on the
    /// first sample of a process (a CPU share needs two samples).
    pub cpu_percent: Option<f32>,
    pub rss_bytes: Option<u64>,
    pub command: Option<String>,
    /// `pid` when the remembered PID was re-checked, `scan` after a full scan, `demo` when
    /// the demo simulates the coordinator.
    pub found_by: &'static str,
    /// No process was looked for: the demo simulates the coordinator (its data is
    /// synthetic), so it is reported running, without a PID, CPU or memory.
    pub simulated: bool,
}

/// The source. Owns the sysinfo state.
pub struct CoordinatorProcess {
    pattern: String,
    interval: Duration,
    system: System,
    remembered: Option<Pid>,
    /// The start time of the remembered PID's process when it was found: a PID reused by
    /// another process has another start time, so the table is scanned again.
    remembered_start: Option<u64>,
    /// Samples taken of the remembered PID; CPU is meaningful from the second one.
    samples: u32,
    own_pid: Pid,
    cpus: f32,
    /// Demo mode: report the coordinator as simulated by the demo, never scan.
    demo: bool,
}

impl CoordinatorProcess {
    pub fn new(pattern: &str, interval: Duration) -> CoordinatorProcess {
        // sysinfo may keep one /proc file open per known process; keep that budget small,
        // since running out of descriptors would break accepting connections.
        sysinfo::set_open_files_limit(16);
        CoordinatorProcess {
            pattern: pattern.to_string(),
            interval,
            system: System::new(),
            remembered: None,
            remembered_start: None,
            samples: 0,
            own_pid: Pid::from_u32(std::process::id()),
            cpus: std::thread::available_parallelism()
                .map(|n| n.get() as f32)
                .unwrap_or(1.0),
            demo: false,
        }
    }

    /// Demo mode (`demo: true` in the config): the coordinator is simulated by the demo.
    pub fn demo(mut self) -> CoordinatorProcess {
        self.demo = true;
        self
    }

    fn check_remembered(&mut self, pid: Pid) -> Option<ProcessReport> {
        let kind = ProcessRefreshKind::nothing()
            .with_cpu()
            .with_memory()
            .with_cmd(UpdateKind::OnlyIfNotSet);
        self.system
            .refresh_processes_specifics(ProcessesToUpdate::Some(&[pid]), true, kind);
        let process = self.system.process(pid)?;
        let start = process.start_time();
        if self.remembered_start.is_some_and(|s| s != start) {
            return None;
        }
        let cmd = strings(process.cmd());
        if !command_matches(&cmd, &self.pattern) {
            return None;
        }
        self.samples += 1;
        self.remembered_start = Some(start);
        let started_at = Utc.timestamp_opt(process.start_time() as i64, 0).single();
        let now = clock::now();
        Some(ProcessReport {
            running: true,
            pid: Some(pid.as_u32()),
            started_at,
            uptime_s: started_at.map(|s| (now - s).num_seconds().max(0) as u64),
            cpu_percent: (self.samples >= 2).then(|| process.cpu_usage() / self.cpus),
            rss_bytes: Some(process.memory()),
            command: Some(cmd.join(" ")),
            found_by: "pid",
            simulated: false,
        })
    }

    fn scan(&mut self) -> Option<Pid> {
        // A fresh System so that nothing of the previous scan lingers in memory.
        let mut all = System::new();
        let kind = ProcessRefreshKind::nothing().with_cmd(UpdateKind::Always);
        all.refresh_processes_specifics(ProcessesToUpdate::All, true, kind);
        let mut found: Vec<Pid> = all
            .processes()
            .iter()
            .filter(|(pid, _)| **pid != self.own_pid)
            .filter(|(_, p)| p.thread_kind().is_none())
            .filter(|(_, p)| command_matches(&strings(p.cmd()), &self.pattern))
            .map(|(pid, _)| *pid)
            .collect();
        found.sort();
        found.first().copied()
    }
}

impl Source for CoordinatorProcess {
    type Data = ProcessReport;

    fn id(&self) -> SourceId {
        SourceId::Coordinator
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn refresh(&mut self, _ctx: &RefreshContext) -> SourceResult<ProcessReport> {
        if self.demo {
            return Ok(Refreshed::new(ProcessReport {
                running: true,
                found_by: "demo",
                simulated: true,
                ..not_running()
            }));
        }
        if let Some(pid) = self.remembered {
            if let Some(report) = self.check_remembered(pid) {
                return Ok(Refreshed::new(report));
            }
            log::info!("coordinator process {pid} is gone; scanning the process table");
            self.remembered = None;
        }
        self.remembered_start = None;
        self.system = System::new();
        self.samples = 0;
        match self.scan() {
            Some(pid) => {
                log::info!("coordinator process found: pid {pid}");
                self.remembered = Some(pid);
                let mut report = self.check_remembered(pid).unwrap_or_else(not_running);
                report.found_by = "scan";
                Ok(Refreshed::new(report))
            }
            None => Ok(Refreshed::new(not_running())),
        }
    }
}

fn not_running() -> ProcessReport {
    ProcessReport {
        running: false,
        pid: None,
        started_at: None,
        uptime_s: None,
        cpu_percent: None,
        rss_bytes: None,
        command: None,
        found_by: "scan",
        simulated: false,
    }
}

fn strings(cmd: &[std::ffi::OsString]) -> Vec<String> {
    cmd.iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect()
}

fn base_name(s: &str) -> &str {
    Path::new(s)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(s)
}

fn is_interpreter(program: &str) -> bool {
    let p = base_name(program);
    p.starts_with("python") || p.starts_with("pypy")
}

/// Interpreter options that take a separate value (`python -W ignore script.py`).
const OPTIONS_WITH_VALUE: &[&str] = &["-W", "-X", "--check-hash-based-pycs"];

/// True when `cmd` (argv) runs the script `pattern`: the program itself is named `pattern`,
/// or an interpreter's first non-option argument is a path whose file name is `pattern`.
pub fn command_matches(cmd: &[String], pattern: &str) -> bool {
    let Some(program) = cmd.first() else {
        return false;
    };
    if base_name(program) == pattern {
        return true;
    }
    if !is_interpreter(program) {
        return false;
    }
    let mut args = cmd.iter().skip(1);
    while let Some(arg) = args.next() {
        if arg == "-c" || arg == "-m" || arg == "-" {
            return false;
        }
        if OPTIONS_WITH_VALUE.contains(&arg.as_str()) {
            args.next();
            continue;
        }
        if arg.starts_with('-') {
            continue;
        }
        return base_name(arg) == pattern;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(cmd: &[&str]) -> bool {
        let v: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
        command_matches(&v, "master_coordinator.py")
    }

    #[test]
    fn matches_the_running_script() {
        assert!(m(&["python3", "src/master_coordinator.py"]));
        assert!(m(&[
            "/usr/bin/python3.11",
            "-u",
            "/opt/goodwe/src/master_coordinator.py",
            "--config",
            "x.yaml"
        ]));
        assert!(m(&[
            "/home/pi/venv/bin/python",
            "-W",
            "ignore",
            "master_coordinator.py"
        ]));
        assert!(m(&["./master_coordinator.py", "--daemon"]));
        assert!(m(&["pypy3", "master_coordinator.py"]));
    }

    #[test]
    fn does_not_match_mentions() {
        assert!(!m(&["grep", "master_coordinator.py"]));
        assert!(!m(&["grep", "-f", "/tmp/master_coordinator.py"]));
        assert!(!m(&["vim", "src/master_coordinator.py"]));
        assert!(!m(&["tail", "-f", "master_coordinator.py"]));
        assert!(!m(&["python3", "-c", "print(1)", "master_coordinator.py"]));
        assert!(!m(&[
            "python3",
            "-m",
            "pytest",
            "tests/test_master_coordinator.py"
        ]));
        assert!(!m(&["python3", "other.py", "master_coordinator.py"]));
        assert!(!m(&["energy-monitor", "--config", "master_coordinator.py"]));
        assert!(!m(&["python3", "master_coordinator.py.bak"]));
        assert!(!m(&[]));
    }

    /// A sleeping Python child running a script named `<prefix>_<our pid>.py`: a name of
    /// this test process's own, so copies of the test running at once never find each
    /// other's child.
    fn probe_child(prefix: &str) -> (tempfile::TempDir, std::process::Child, String) {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("{prefix}_{}.py", std::process::id());
        let script = dir.path().join(&name);
        std::fs::write(&script, "import time\ntime.sleep(60)\n").unwrap();
        let child = std::process::Command::new("python3")
            .arg(&script)
            .spawn()
            .unwrap();
        (dir, child, name)
    }

    #[test]
    fn finds_a_real_child_process_and_notices_its_end() {
        let (_dir, mut child, name) = probe_child("unit_probe_coordinator");
        let mut source = CoordinatorProcess::new(&name, Duration::from_secs(1));
        let ctx = RefreshContext::default();
        // `python3` may be a wrapper script that execs the interpreter a moment later.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let r = loop {
            let first = source.refresh(&ctx).unwrap();
            let r = first.data.clone();
            if r.running || std::time::Instant::now() > deadline {
                break r;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(r.running, "{r:?}");
        assert_eq!(r.pid, Some(child.id()));
        assert_eq!(r.found_by, "scan");
        assert!(r.rss_bytes.unwrap() > 0);
        let second = source.refresh(&ctx).unwrap();
        let r = second.data.clone();
        assert_eq!(r.found_by, "pid");
        assert!(r.cpu_percent.is_some());
        child.kill().unwrap();
        child.wait().unwrap();
        let third = source.refresh(&ctx).unwrap();
        let r = third.data.clone();
        assert!(!r.running);
        assert_eq!(r.pid, None);
    }

    #[test]
    fn a_remembered_pid_of_another_start_time_is_scanned_for_again() {
        let (_dir, mut child, name) = probe_child("unit_probe_restart");
        let mut source = CoordinatorProcess::new(&name, Duration::from_secs(1));
        let ctx = RefreshContext::default();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !source.refresh(&ctx).unwrap().data.running {
            assert!(std::time::Instant::now() < deadline, "child not found");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(source.refresh(&ctx).unwrap().data.found_by, "pid");
        // As if the PID now belonged to a process started at another time.
        source.remembered_start = source.remembered_start.map(|s| s + 1);
        let r = source.refresh(&ctx).unwrap().data;
        assert_eq!(r.found_by, "scan");
        assert_eq!(r.pid, Some(child.id()));
        assert_eq!(source.refresh(&ctx).unwrap().data.found_by, "pid");
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
