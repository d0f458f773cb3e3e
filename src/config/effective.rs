//! The effective configuration, defaults included, as `check-config` prints it.

use super::*;

impl Config {
    /// The effective configuration, defaults included, as YAML in the file's own key names.
    pub fn effective_yaml(&self) -> String {
        let p = |p: &Path| p.display().to_string();
        let w = &self.web;
        let c = &self.coordinator;
        let value = serde_json::json!({
            "web_server": {
                "host": w.host.to_string(),
                "port": w.port,
                "max_connections": w.max_connections,
                "max_event_streams": w.max_event_streams,
                "header_timeout_seconds": w.header_timeout.as_secs(),
                "keep_alive_seconds": w.keep_alive.as_secs(),
                "write_timeout_seconds": w.write_timeout.as_secs(),
                "allowed_hosts": w.allowed_hosts,
                "background_refresh_interval_seconds": w.inverter_interval.as_secs(),
                "price_refresh_interval_seconds": w.price_interval.as_secs(),
                "metrics_refresh_interval_seconds": w.metrics_interval.as_secs(),
                "coordinator_pid_check_interval_seconds": w.pid_interval.as_secs(),
                "cache_staleness_threshold_seconds": w.staleness_threshold.as_secs(),
                "api_timeout_seconds": w.api_timeout.as_secs(),
                "dashboard_poll_seconds": w.dashboard_poll.as_secs(),
            },
            "coordinator": {
                "root": p(&c.root),
                "config": c.config.as_deref().map(p),
                "database": p(&c.database),
                "logs_dir": p(&c.logs_dir),
                "process_match": c.process_match,
                "systemd_unit": c.systemd_unit,
            },
            "logs": {
                "max_lines": self.logs.max_lines,
                "max_followers": self.logs.max_followers,
                "max_downloads": self.logs.max_downloads,
                "max_response_bytes": self.logs.max_response_bytes,
                "refresh_seconds": self.logs.refresh_interval.as_secs(),
                "journal_refresh_seconds": self.logs.journal_interval.as_secs(),
            },
            "prices": {
                "api_url": self.prices.api_url,
                "value_field": self.prices.value_field,
                "today_recheck_seconds": self.prices.today_recheck.as_secs(),
                "tomorrow_poll_seconds": self.prices.tomorrow_poll.as_secs(),
                "tomorrow_poll_from": self.prices.tomorrow_poll_from.format("%H:%M").to_string(),
                "tariff": self.prices.tariff.to_config(),
            },
            "host": {
                "refresh_seconds": self.host.refresh_interval.as_secs(),
                "disk_warn_percent": self.host.disk_warn_percent,
                "memory_warn_percent": self.host.memory_warn_percent,
                "temperature_warn_celsius": self.host.temperature_warn_celsius,
            },
            "data_dir": p(&self.data_dir),
            "log_level": self.log_level.to_string().to_lowercase(),
            "demo": self.demo,
        });
        serde_yaml::to_string(&value).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}
