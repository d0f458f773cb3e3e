//! The `logs:` section: limits of the log routes and how often log data is re-read,
//! validated into [`Logs`].

use super::*;

/// The `logs:` section: limits of the log routes and how often log data is re-read.
#[derive(Debug, Clone)]
pub struct Logs {
    /// The most lines `/logs` returns, and how many lines of each file's end are kept.
    pub max_lines: usize,
    /// Concurrent `/logs?follow=true` streams; one more gets a 503.
    pub max_followers: usize,
    /// Concurrent `/logs/download/<name>` streams; one more gets a 503.
    pub max_downloads: usize,
    /// The largest `/logs` answer; older lines are left out (and `truncated` says so).
    pub max_response_bytes: usize,
    /// How often the log directory is listed and the files' ends are re-read.
    pub refresh_interval: Duration,
    /// How often `journalctl` is run for the journal views.
    pub journal_interval: Duration,
}

/// Validates the `logs:` section.
pub(super) fn logs_section(
    raw: &RawLogs,
    err: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Logs, ConfigError> {
    let count = |key: &str, v: Option<i64>, default: usize, max: i64| match v {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n as usize),
        Some(n) => Err(err(
            &format!("logs.{key}"),
            format!("{n} is out of range; use a whole number from 1 to {max}"),
        )),
    };
    let secs =
        |key: &str, v: Option<i64>, default: u64| seconds(&format!("logs.{key}"), v, default, err);
    Ok(Logs {
        max_lines: count(
            "max_lines",
            raw.max_lines,
            defaults::LOGS_MAX_LINES,
            100_000,
        )?,
        max_followers: count(
            "max_followers",
            raw.max_followers,
            defaults::LOGS_MAX_FOLLOWERS,
            256,
        )?,
        max_downloads: count(
            "max_downloads",
            raw.max_downloads,
            defaults::LOGS_MAX_DOWNLOADS,
            64,
        )?,
        max_response_bytes: match raw.max_response_bytes {
            None => defaults::LOGS_MAX_RESPONSE_BYTES,
            Some(n) if (65_536..=67_108_864).contains(&n) => n as usize,
            Some(n) => {
                return Err(err(
                    "logs.max_response_bytes",
                    format!("{n} is out of range; use 65536 (64 KiB) to 67108864 (64 MiB)"),
                ))
            }
        },
        refresh_interval: secs(
            "refresh_seconds",
            raw.refresh_seconds,
            defaults::LOGS_REFRESH_S,
        )?,
        journal_interval: secs(
            "journal_refresh_seconds",
            raw.journal_refresh_seconds,
            defaults::JOURNAL_REFRESH_S,
        )?,
    })
}
