//! What one host refresh found ([`HostReport`]: CPU, load, memory, filesystems, sensors,
//! boot time, our own process), the threshold [`warnings`] made of it, and its `/status`
//! object ([`status_json`]).

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::HostSettings;
use crate::clock;

/// What a filesystem holds, as named in `/status` and in the `role` label.
pub mod roles {
    pub const COORDINATOR_DB: &str = "coordinator_db";
    pub const COORDINATOR_OUT: &str = "coordinator_out";
    pub const COORDINATOR_LOGS: &str = "coordinator_logs";
    pub const DATA_DIR: &str = "data_dir";
}

/// Memory and swap, bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Memory {
    pub total_bytes: u64,
    pub available_bytes: u64,
    pub swap_total_bytes: u64,
    pub swap_used_bytes: u64,
}

impl Memory {
    /// Share in use (total − available), percent; `None` when the total is unknown.
    pub fn used_percent(&self) -> Option<f64> {
        (self.total_bytes > 0).then(|| {
            self.total_bytes.saturating_sub(self.available_bytes) as f64 / self.total_bytes as f64
                * 100.0
        })
    }
}

/// One filesystem holding one or more of the watched paths.
#[derive(Debug, Clone, PartialEq)]
pub struct Filesystem {
    /// Where it is mounted (the topmost directory of the watched path on the same device).
    pub mount_point: PathBuf,
    /// What it holds ([`roles`]), in a fixed order.
    pub roles: Vec<&'static str>,
    pub size_bytes: u64,
    /// Free for unprivileged users (what `df` calls available).
    pub available_bytes: u64,
    /// Free including the blocks reserved for root.
    pub free_bytes: u64,
    /// Inode counts; `None` when the filesystem does not report them (e.g. btrfs).
    pub inodes_total: Option<u64>,
    pub inodes_free: Option<u64>,
}

impl Filesystem {
    /// Space in use as `df` computes it: used ÷ (used + available), percent.
    pub fn used_percent(&self) -> Option<f64> {
        let used = self.size_bytes.saturating_sub(self.free_bytes);
        let base = used + self.available_bytes;
        (base > 0).then(|| used as f64 / base as f64 * 100.0)
    }

    pub fn inodes_used_percent(&self) -> Option<f64> {
        match (self.inodes_total, self.inodes_free) {
            (Some(t), Some(f)) if t > 0 => Some(t.saturating_sub(f) as f64 / t as f64 * 100.0),
            _ => None,
        }
    }
}

/// One temperature sensor with a reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Temperature {
    pub sensor: String,
    pub celsius: f64,
    pub critical_celsius: Option<f64>,
}

/// energy-monitor's own process.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnProcess {
    pub pid: u32,
    pub rss_bytes: Option<u64>,
    /// Share of the whole machine, percent.
    pub cpu_percent: Option<f64>,
}

/// What one host refresh found.
#[derive(Debug, Clone, PartialEq)]
pub struct HostReport {
    /// Whole machine, percent.
    pub cpu_percent: Option<f64>,
    /// Per core, percent.
    pub cpu_cores_percent: Vec<f64>,
    /// Load averages over 1, 5 and 15 minutes.
    pub load: Option<[f64; 3]>,
    pub memory: Option<Memory>,
    pub filesystems: Vec<Filesystem>,
    /// Why a watched path's filesystem could not be read, per path.
    pub filesystem_errors: Vec<String>,
    /// Only sensors that gave a reading; empty on a machine without sensors.
    pub temperatures: Vec<Temperature>,
    pub boot_time: Option<DateTime<Utc>>,
    pub process: OwnProcess,
    /// The thresholds in force (from the `host:` section).
    pub thresholds: HostSettings,
    /// Thresholds crossed, in plain language (see [`warnings`]).
    pub warnings: Vec<String>,
}

impl HostReport {
    /// The hottest sensor's reading, if any sensor gave one.
    pub fn max_temperature(&self) -> Option<f64> {
        self.temperatures
            .iter()
            .map(|t| t.celsius)
            .fold(None, |m, x| Some(m.map_or(x, |m: f64| m.max(x))))
    }
}

fn role_words(role: &str) -> &'static str {
    match role {
        roles::COORDINATOR_DB => "the coordinator's database",
        roles::COORDINATOR_OUT => "the coordinator's out/ files",
        roles::COORDINATOR_LOGS => "the coordinator's logs",
        _ => "energy-monitor's data",
    }
}

/// The thresholds `report` crosses, in plain language, most serious first (disks, memory,
/// temperatures).
pub fn warnings(report: &HostReport, t: &HostSettings) -> Vec<String> {
    let mut out = Vec::new();
    for fs in &report.filesystems {
        let holds = fs
            .roles
            .iter()
            .map(|r| role_words(r))
            .collect::<Vec<_>>()
            .join(", ");
        if let Some(p) = fs.used_percent().filter(|p| *p >= t.disk_warn_percent) {
            out.push(format!(
                "disk almost full: {} (holding {holds}) is {p:.0}% used (warning at {}%)",
                fs.mount_point.display(),
                t.disk_warn_percent
            ));
        }
        if let Some(p) = fs
            .inodes_used_percent()
            .filter(|p| *p >= t.disk_warn_percent)
        {
            out.push(format!(
                "disk almost out of inodes: {} (holding {holds}) has {p:.0}% of its inodes used (warning at {}%)",
                fs.mount_point.display(),
                t.disk_warn_percent
            ));
        }
    }
    if let Some(p) = report
        .memory
        .as_ref()
        .and_then(Memory::used_percent)
        .filter(|p| *p >= t.memory_warn_percent)
    {
        out.push(format!(
            "memory almost full: {p:.0}% in use (warning at {}%)",
            t.memory_warn_percent
        ));
    }
    for s in &report.temperatures {
        if s.celsius >= t.temperature_warn_celsius {
            out.push(format!(
                "the host is hot: sensor {} at {:.1} °C (warning at {} °C)",
                s.sensor, s.celsius, t.temperature_warn_celsius
            ));
        }
    }
    out
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The `host` object of `/status` (and of the dashboard's status). Absent readings are
/// `null`; `temperatures` is empty and `max_temperature_celsius` null without sensors.
pub fn status_json(r: &HostReport, now: DateTime<Utc>) -> Value {
    let uptime = r.boot_time.map(|b| (now - b).num_seconds().max(0) as u64);
    json!({
        "cpu_percent": r.cpu_percent.map(round1),
        "cpu_cores_percent": r.cpu_cores_percent.iter().copied().map(round1).collect::<Vec<_>>(),
        "load_average": r.load.map(|[a, b, c]| json!({"one": a, "five": b, "fifteen": c})),
        "memory": r.memory.as_ref().map(|m| json!({
            "total_bytes": m.total_bytes,
            "available_bytes": m.available_bytes,
            "used_percent": m.used_percent().map(round1),
            "swap_total_bytes": m.swap_total_bytes,
            "swap_used_bytes": m.swap_used_bytes,
        })),
        "filesystems": r.filesystems.iter().map(|f| json!({
            "mount_point": f.mount_point.display().to_string(),
            "roles": f.roles,
            "size_bytes": f.size_bytes,
            "available_bytes": f.available_bytes,
            "used_percent": f.used_percent().map(round1),
            "inodes_total": f.inodes_total,
            "inodes_free": f.inodes_free,
            "inodes_used_percent": f.inodes_used_percent().map(round1),
        })).collect::<Vec<_>>(),
        "filesystem_errors": r.filesystem_errors,
        "temperatures": r.temperatures.iter().map(|t| json!({
            "sensor": t.sensor,
            "celsius": round1(t.celsius),
            "critical_celsius": t.critical_celsius,
        })).collect::<Vec<_>>(),
        "max_temperature_celsius": r.max_temperature().map(round1),
        "boot_time": r.boot_time.map(clock::local_rfc3339),
        "uptime_s": uptime,
        "uptime_human": uptime.map(clock::human_duration),
        "process": {
            "pid": r.process.pid,
            "rss_bytes": r.process.rss_bytes,
            "cpu_percent": r.process.cpu_percent.map(round1),
        },
        "thresholds": {
            "disk_warn_percent": r.thresholds.disk_warn_percent,
            "memory_warn_percent": r.thresholds.memory_warn_percent,
            "temperature_warn_celsius": r.thresholds.temperature_warn_celsius,
        },
        "warnings": r.warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{report, thresholds};
    use super::*;

    #[test]
    fn percentages_follow_df() {
        let r = report();
        // used = 100000 - 10000 = 90000; 90000 / (90000 + 5000) = 94.7 %.
        let p = r.filesystems[0].used_percent().unwrap();
        assert!((p - 94.736).abs() < 0.01, "{p}");
        assert_eq!(r.filesystems[0].inodes_used_percent(), Some(10.0));
        assert_eq!(r.memory.unwrap().used_percent(), Some(75.0));
    }

    #[test]
    fn warnings_name_what_crossed_its_threshold() {
        let mut r = report();
        let w = warnings(&r, &thresholds());
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("disk almost full: / (holding the coordinator's database, energy-monitor's data) is 95% used"), "{}", w[0]);
        r.temperatures.push(Temperature {
            sensor: "cpu_thermal".into(),
            celsius: 85.0,
            critical_celsius: None,
        });
        let mut t = thresholds();
        t.memory_warn_percent = 75.0;
        t.disk_warn_percent = 99.0;
        let w = warnings(&r, &t);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("memory almost full: 75% in use"), "{w:?}");
        assert!(
            w[1].contains("sensor cpu_thermal at 85.0 °C (warning at 80 °C)"),
            "{w:?}"
        );
    }

    #[test]
    fn no_sensors_is_null_not_zero() {
        let r = report();
        let v = status_json(&r, Utc::now());
        assert_eq!(v["temperatures"], json!([]));
        assert!(v["max_temperature_celsius"].is_null());
        assert_eq!(
            v["filesystems"][0]["roles"],
            json!(["coordinator_db", "data_dir"])
        );
    }
}
