//! The host source: the machine energy-monitor and the coordinator share.
//!
//! Every `host.refresh_seconds` it reads CPU usage (whole machine and per core), load
//! averages, memory and swap, the filesystems holding the coordinator's DB, its `out/` and
//! `logs/` and our `data_dir` (space and inodes, one entry per filesystem), temperature
//! sensors, the boot time, and energy-monitor's own RSS and CPU share. All sysinfo and
//! `statvfs` calls happen here, on the source's lane; renderers only read the
//! [`HostReport`]. Nothing is invented: a reading the machine does not offer (no sensors,
//! a filesystem without inode counts) is absent, never 0.
//!
//! The thresholds of the `host:` config section turn a reading into a plain-language
//! warning ([`warnings`]), which `/status` lists among its problems.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};
use sysinfo::{Components, Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use crate::clock;
use crate::refresh::{RefreshContext, Refreshed, Source, SourceError, SourceId, SourceResult};

/// The `host:` section: how often the host is read, and when its state is a problem.
#[derive(Debug, Clone, PartialEq)]
pub struct HostSettings {
    pub refresh_interval: Duration,
    /// A filesystem (space or inodes) at or above this share in use is a problem.
    pub disk_warn_percent: f64,
    /// Memory in use (total − available) at or above this share is a problem.
    pub memory_warn_percent: f64,
    /// Any temperature sensor at or above this is a problem.
    pub temperature_warn_celsius: f64,
}

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

/// `statvfs(2)` of `path`: (size, available, free, inodes total, inodes free).
#[allow(
    clippy::useless_conversion,
    reason = "the field types are 32-bit on some targets (32-bit ARM) and 64-bit on others"
)]
pub fn statvfs(path: &Path) -> std::io::Result<(u64, u64, u64, u64, u64)> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in path"))?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c` is a valid NUL-terminated string and `st` points to writable memory of
    // the right type; statvfs only writes into it and we read it only after success.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled the struct.
    let st = unsafe { st.assume_init() };
    let frsize = if st.f_frsize > 0 {
        u64::from(st.f_frsize)
    } else {
        u64::from(st.f_bsize)
    };
    Ok((
        u64::from(st.f_blocks) * frsize,
        u64::from(st.f_bavail) * frsize,
        u64::from(st.f_bfree) * frsize,
        u64::from(st.f_files),
        u64::from(st.f_ffree),
    ))
}

/// The nearest existing directory at or above `path` (a watched path that does not exist
/// yet lives on its parent's filesystem).
fn existing(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .find(|p| p.exists())
        .and_then(|p| std::fs::canonicalize(p).ok())
}

/// The mount point of the filesystem holding the existing path `p`: its topmost ancestor on
/// the same device.
fn mount_point(p: &Path, dev: u64) -> PathBuf {
    let mut top = p.to_path_buf();
    for a in p.ancestors().skip(1) {
        match std::fs::metadata(a) {
            Ok(m) if m.dev() == dev => top = a.to_path_buf(),
            _ => break,
        }
    }
    top
}

/// Reads the filesystems holding `paths`, one entry per device (roles merged).
pub fn filesystems(paths: &[(&'static str, PathBuf)]) -> (Vec<Filesystem>, Vec<String>) {
    let mut out: Vec<(u64, Filesystem)> = Vec::new();
    let mut errors = Vec::new();
    for (role, path) in paths {
        let Some(p) = existing(path) else {
            errors.push(format!(
                "{}: no existing directory above it",
                path.display()
            ));
            continue;
        };
        let dev = match std::fs::metadata(&p) {
            Ok(m) => m.dev(),
            Err(e) => {
                errors.push(format!("{}: {e}", p.display()));
                continue;
            }
        };
        if let Some((_, fs)) = out.iter_mut().find(|(d, _)| *d == dev) {
            if !fs.roles.contains(role) {
                fs.roles.push(role);
            }
            continue;
        }
        match statvfs(&p) {
            Ok((size, avail, free, files, ffree)) => out.push((
                dev,
                Filesystem {
                    mount_point: mount_point(&p, dev),
                    roles: vec![role],
                    size_bytes: size,
                    available_bytes: avail,
                    free_bytes: free,
                    inodes_total: (files > 0).then_some(files),
                    inodes_free: (files > 0).then_some(ffree),
                },
            )),
            Err(e) => errors.push(format!("{}: statvfs failed: {e}", p.display())),
        }
    }
    (out.into_iter().map(|(_, f)| f).collect(), errors)
}

/// The source. Owns its sysinfo state.
pub struct HostSource {
    interval: Duration,
    thresholds: HostSettings,
    paths: Vec<(&'static str, PathBuf)>,
    system: System,
    components: Option<Components>,
    own_pid: Pid,
    sampled: bool,
}

impl HostSource {
    /// `paths`: the watched paths and what they hold ([`roles`]).
    pub fn new(thresholds: HostSettings, paths: Vec<(&'static str, PathBuf)>) -> HostSource {
        HostSource {
            interval: thresholds.refresh_interval,
            thresholds,
            paths,
            system: System::new(),
            components: None,
            own_pid: Pid::from_u32(std::process::id()),
            sampled: false,
        }
    }

    fn sample_cpu(&mut self) {
        self.system.refresh_cpu_usage();
        let kind = ProcessRefreshKind::nothing().with_cpu().with_memory();
        self.system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[self.own_pid]),
            true,
            kind,
        );
    }
}

impl Source for HostSource {
    type Data = HostReport;

    fn id(&self) -> SourceId {
        SourceId::Host
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn refresh(&mut self, ctx: &RefreshContext) -> SourceResult<HostReport> {
        if !self.sampled {
            // A CPU share needs two samples; take the first one a moment before the second
            // so that the first report already has one.
            self.sample_cpu();
            std::thread::sleep(
                sysinfo::MINIMUM_CPU_UPDATE_INTERVAL.max(Duration::from_millis(250)),
            );
            if ctx.stopping() {
                return Err(SourceError::new("host: shutting down"));
            }
            self.sampled = true;
        }
        self.sample_cpu();
        self.system.refresh_memory();
        let cpus = self.system.cpus();
        let n = cpus.len().max(1) as f64;
        let cpu_percent = (!cpus.is_empty()).then(|| f64::from(self.system.global_cpu_usage()));
        let cpu_cores_percent = cpus.iter().map(|c| f64::from(c.cpu_usage())).collect();
        let load = System::load_average();
        let total = self.system.total_memory();
        let memory = (total > 0).then(|| Memory {
            total_bytes: total,
            available_bytes: self.system.available_memory(),
            swap_total_bytes: self.system.total_swap(),
            swap_used_bytes: self.system.used_swap(),
        });
        let process = match self.system.process(self.own_pid) {
            Some(p) => OwnProcess {
                pid: self.own_pid.as_u32(),
                rss_bytes: Some(p.memory()),
                cpu_percent: Some(f64::from(p.cpu_usage()) / n),
            },
            None => OwnProcess {
                pid: self.own_pid.as_u32(),
                rss_bytes: None,
                cpu_percent: None,
            },
        };
        let components = self
            .components
            .get_or_insert_with(Components::new_with_refreshed_list);
        components.refresh(false);
        let temperatures = components
            .list()
            .iter()
            .filter_map(|c| {
                let t = f64::from(c.temperature()?);
                t.is_finite().then(|| Temperature {
                    sensor: c.label().to_string(),
                    celsius: t,
                    critical_celsius: c.critical().map(f64::from).filter(|x| x.is_finite()),
                })
            })
            .collect();
        let (filesystems, filesystem_errors) = filesystems(&self.paths);
        let boot = System::boot_time();
        let mut report = HostReport {
            cpu_percent,
            cpu_cores_percent,
            load: Some([load.one, load.five, load.fifteen])
                .filter(|l| l.iter().all(|x| x.is_finite())),
            memory,
            filesystems,
            filesystem_errors,
            temperatures,
            boot_time: (boot > 0)
                .then(|| Utc.timestamp_opt(boot as i64, 0).single())
                .flatten(),
            process,
            thresholds: self.thresholds.clone(),
            warnings: Vec::new(),
        };
        report.warnings = warnings(&report, &self.thresholds);
        Ok(Refreshed::new(report))
    }
}

/// Typed values for rendering tests elsewhere in the crate.
#[cfg(test)]
pub(crate) mod fixture {
    use super::*;
    use crate::refresh::SourceStatus;

    /// The `host` source's status with data, refreshed just now (the data: [`store`]).
    pub(crate) fn status() -> SourceStatus {
        let mut s = SourceStatus::new(
            SourceId::Host,
            Duration::from_secs(30),
            Duration::from_secs(60),
        );
        s.last_success = Some(clock::now());
        s.last_attempt = s.last_success;
        s.has_data = true;
        s
    }

    /// A store holding `report` as the host source's data.
    pub(crate) fn store(report: HostReport) -> crate::sources::store::Sources {
        crate::sources::store::Sources {
            host: Some(std::sync::Arc::new(report)),
            ..Default::default()
        }
    }

    pub(crate) fn thresholds() -> HostSettings {
        HostSettings {
            refresh_interval: Duration::from_secs(30),
            disk_warn_percent: 90.0,
            memory_warn_percent: 90.0,
            temperature_warn_celsius: 80.0,
        }
    }

    /// A report with every field present except the temperatures, for rendering tests.
    pub(crate) fn report() -> HostReport {
        HostReport {
            cpu_percent: Some(12.5),
            cpu_cores_percent: vec![10.0, 15.0],
            load: Some([0.5, 0.25, 0.125]),
            memory: Some(Memory {
                total_bytes: 4_000_000_000,
                available_bytes: 1_000_000_000,
                swap_total_bytes: 0,
                swap_used_bytes: 0,
            }),
            filesystems: vec![Filesystem {
                mount_point: PathBuf::from("/"),
                roles: vec![roles::COORDINATOR_DB, roles::DATA_DIR],
                size_bytes: 100_000,
                available_bytes: 5_000,
                free_bytes: 10_000,
                inodes_total: Some(1000),
                inodes_free: Some(900),
            }],
            filesystem_errors: Vec::new(),
            temperatures: Vec::new(),
            boot_time: Some(Utc.timestamp_opt(1_700_000_000, 0).unwrap()),
            process: OwnProcess {
                pid: 42,
                rss_bytes: Some(10_000_000),
                cpu_percent: Some(0.5),
            },
            thresholds: thresholds(),
            warnings: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::{report, thresholds};
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

    #[test]
    fn filesystems_are_deduplicated_and_missing_paths_use_their_parent() {
        let dir = tempfile::tempdir().unwrap();
        let paths = vec![
            (roles::COORDINATOR_DB, dir.path().join("data/db.sqlite")),
            (roles::DATA_DIR, dir.path().to_path_buf()),
        ];
        let (fs, errors) = filesystems(&paths);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(fs.len(), 1);
        assert_eq!(fs[0].roles, vec![roles::COORDINATOR_DB, roles::DATA_DIR]);
        assert!(fs[0].size_bytes > 0);
        assert!(fs[0].available_bytes <= fs[0].size_bytes);
        // The mount point holds the directory.
        let canon = std::fs::canonicalize(dir.path()).unwrap();
        assert!(
            canon.starts_with(&fs[0].mount_point),
            "{:?}",
            fs[0].mount_point
        );
    }

    #[test]
    fn a_refresh_reads_this_machine() {
        let mut s = HostSource::new(thresholds(), vec![(roles::DATA_DIR, std::env::temp_dir())]);
        let r = s.refresh(&RefreshContext::default()).unwrap();
        let r = r.data;
        assert!(r.cpu_percent.is_some(), "the first report has a CPU share");
        assert!(r.memory.as_ref().unwrap().total_bytes > 0);
        assert!(r.process.rss_bytes.unwrap() > 0);
        assert_eq!(r.filesystems.len(), 1);
        assert!(r.boot_time.is_some());
    }
}
