//! The `host:` section: the host source's refresh interval and warning thresholds,
//! validated into [`HostSettings`].

use super::*;

/// Validates the `host:` section.
pub(super) fn host_section(
    raw: &RawHost,
    err: &dyn Fn(&str, String) -> ConfigError,
) -> Result<HostSettings, ConfigError> {
    let bounded = |key: &str, v: Option<f64>, default: f64, max: f64, unit: &str| match v {
        None => Ok(default),
        Some(x) if x.is_finite() && x >= 1.0 && x <= max => Ok(x),
        Some(x) => Err(err(
            &format!("host.{key}"),
            format!("{x} is out of range; use a number from 1 to {max} ({unit})"),
        )),
    };
    Ok(HostSettings {
        refresh_interval: seconds(
            "host.refresh_seconds",
            raw.refresh_seconds,
            defaults::HOST_REFRESH_S,
            err,
        )?,
        disk_warn_percent: bounded(
            "disk_warn_percent",
            raw.disk_warn_percent,
            defaults::DISK_WARN_PERCENT,
            100.0,
            "percent of a filesystem in use",
        )?,
        memory_warn_percent: bounded(
            "memory_warn_percent",
            raw.memory_warn_percent,
            defaults::MEMORY_WARN_PERCENT,
            100.0,
            "percent of memory in use",
        )?,
        temperature_warn_celsius: bounded(
            "temperature_warn_celsius",
            raw.temperature_warn_celsius,
            defaults::TEMPERATURE_WARN_CELSIUS,
            150.0,
            "degrees Celsius",
        )?,
    })
}
