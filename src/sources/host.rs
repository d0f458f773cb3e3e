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

use std::path::PathBuf;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use sysinfo::{Components, Pid, ProcessRefreshKind, ProcessesToUpdate, System};

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

mod fs;
mod report;

pub use fs::{filesystems, statvfs};
pub use report::{
    roles, status_json, warnings, Filesystem, HostReport, Memory, OwnProcess, Temperature,
};

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
    use crate::clock;
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
    use super::fixture::thresholds;
    use super::*;

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
