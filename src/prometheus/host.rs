//! The machine's families (`host` source): CPU, load, memory, swap, temperatures,
//! filesystems, boot time and energy-monitor's own process.

use super::format::{unix, Exposition};
use crate::sources::host::HostReport;

pub(super) fn host(e: &mut Exposition, r: &HostReport) {
    e.single(
        "host_cpu_usage_ratio",
        "gauge",
        "CPU usage of the whole machine over the last host interval, 0-1.",
        r.cpu_percent.map(|c| c / 100.0),
    );
    e.family(
        "host_cpu_core_usage_ratio",
        "gauge",
        "CPU usage per core over the last host interval, 0-1.",
    );
    for (i, c) in r.cpu_cores_percent.iter().enumerate() {
        e.sample(&[("core", &i.to_string())], c / 100.0);
    }
    e.single(
        "host_cpus",
        "gauge",
        "Number of logical CPUs.",
        (!r.cpu_cores_percent.is_empty()).then_some(r.cpu_cores_percent.len() as f64),
    );
    for (name, help, i) in [
        ("host_load1", "1-minute load average.", 0),
        ("host_load5", "5-minute load average.", 1),
        ("host_load15", "15-minute load average.", 2),
    ] {
        e.single(name, "gauge", help, r.load.map(|l| l[i]));
    }
    let m = r.memory.as_ref();
    let b = |x: u64| x as f64;
    e.single(
        "host_memory_total_bytes",
        "gauge",
        "Total memory, bytes.",
        m.map(|m| b(m.total_bytes)),
    );
    e.single(
        "host_memory_available_bytes",
        "gauge",
        "Memory available for new work without swapping, bytes.",
        m.map(|m| b(m.available_bytes)),
    );
    e.single(
        "host_swap_total_bytes",
        "gauge",
        "Total swap, bytes.",
        m.map(|m| b(m.swap_total_bytes)),
    );
    e.single(
        "host_swap_used_bytes",
        "gauge",
        "Swap in use, bytes.",
        m.map(|m| b(m.swap_used_bytes)),
    );
    let mp: Vec<String> = r
        .filesystems
        .iter()
        .map(|f| f.mount_point.display().to_string())
        .collect();
    type Field = fn(&crate::sources::host::Filesystem) -> Option<f64>;
    let fields: [(&'static str, &'static str, Field); 5] = [
        (
            "host_filesystem_size_bytes",
            "Size of a filesystem holding watched data, bytes.",
            |f| Some(f.size_bytes as f64),
        ),
        (
            "host_filesystem_available_bytes",
            "Space available to unprivileged users, bytes.",
            |f| Some(f.available_bytes as f64),
        ),
        (
            "host_filesystem_free_bytes",
            "Free space including blocks reserved for root, bytes.",
            |f| Some(f.free_bytes as f64),
        ),
        (
            "host_filesystem_files",
            "Inodes of the filesystem (absent when it does not report them).",
            |f| f.inodes_total.map(|x| x as f64),
        ),
        (
            "host_filesystem_files_free",
            "Free inodes of the filesystem.",
            |f| f.inodes_free.map(|x| x as f64),
        ),
    ];
    for (name, help, get) in fields {
        e.family(name, "gauge", help);
        for (f, m) in r.filesystems.iter().zip(&mp) {
            e.maybe(&[("mountpoint", m)], get(f));
        }
    }
    e.family(
        "host_filesystem_role_info",
        "gauge",
        "What a filesystem holds (coordinator_db, coordinator_out, coordinator_logs, data_dir); always 1.",
    );
    for (f, m) in r.filesystems.iter().zip(&mp) {
        for role in &f.roles {
            e.sample(&[("mountpoint", m), ("role", role)], 1.0);
        }
    }
    e.family(
        "host_temperature_celsius",
        "gauge",
        "Temperature per sensor, degrees Celsius (absent on machines without sensors).",
    );
    for t in &r.temperatures {
        e.sample(&[("sensor", &t.sensor)], t.celsius);
    }
    e.family(
        "host_temperature_critical_celsius",
        "gauge",
        "Critical temperature per sensor as the chip reports it, degrees Celsius.",
    );
    for t in &r.temperatures {
        e.maybe(&[("sensor", &t.sensor)], t.critical_celsius);
    }
    e.single(
        "host_boot_time_seconds",
        "gauge",
        "When the machine booted (unix seconds); uptime = time() - this.",
        r.boot_time.map(unix),
    );
    e.single(
        "host_warnings",
        "gauge",
        "Host thresholds crossed right now (disk, memory, temperature); listed in /status problems.",
        Some(r.warnings.len() as f64),
    );
    e.single(
        "process_resident_memory_bytes",
        "gauge",
        "energy-monitor's own resident set size, bytes.",
        r.process.rss_bytes.map(b),
    );
    e.single(
        "process_cpu_usage_ratio",
        "gauge",
        "energy-monitor's own share of the whole machine's CPU over the last host interval, 0-1.",
        r.process.cpu_percent.map(|c| c / 100.0),
    );
}
