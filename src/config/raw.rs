//! The file as written: every key optional, unknown keys rejected; [`super::Config::from_raw`]
//! validates it.

use super::*;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub web_server: RawWebServer,
    pub coordinator: RawCoordinator,
    pub logs: RawLogs,
    pub prices: RawPrices,
    pub host: RawHost,
    pub data_dir: Option<String>,
    pub log_level: Option<String>,
    pub demo: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawWebServer {
    pub host: Option<String>,
    pub port: Option<i64>,
    pub max_connections: Option<i64>,
    pub max_event_streams: Option<i64>,
    pub header_timeout_seconds: Option<i64>,
    pub keep_alive_seconds: Option<i64>,
    pub write_timeout_seconds: Option<i64>,
    pub allowed_hosts: Option<Vec<String>>,
    pub background_refresh_interval_seconds: Option<i64>,
    pub price_refresh_interval_seconds: Option<i64>,
    pub metrics_refresh_interval_seconds: Option<i64>,
    pub coordinator_pid_check_interval_seconds: Option<i64>,
    pub cache_staleness_threshold_seconds: Option<i64>,
    pub api_timeout_seconds: Option<i64>,
    pub dashboard_poll_seconds: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCoordinator {
    pub root: Option<String>,
    pub config: Option<String>,
    pub database: Option<String>,
    pub logs_dir: Option<String>,
    pub process_match: Option<String>,
    pub systemd_unit: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLogs {
    pub max_lines: Option<i64>,
    pub max_followers: Option<i64>,
    pub max_downloads: Option<i64>,
    pub max_response_bytes: Option<i64>,
    pub refresh_seconds: Option<i64>,
    pub journal_refresh_seconds: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPrices {
    pub api_url: Option<String>,
    pub value_field: Option<String>,
    pub today_recheck_seconds: Option<i64>,
    pub tomorrow_poll_seconds: Option<i64>,
    pub tomorrow_poll_from: Option<String>,
    /// Same shape as the coordinator's `electricity_tariff` section.
    pub tariff: Option<serde_yaml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawHost {
    pub refresh_seconds: Option<i64>,
    pub disk_warn_percent: Option<f64>,
    pub memory_warn_percent: Option<f64>,
    pub temperature_warn_celsius: Option<f64>,
}
