//! The `web_server:` section: listen address, connection and stream caps, the HTTP
//! deadlines, accepted `Host` names and the refresh intervals, validated into [`WebServer`].

use super::*;

#[derive(Debug, Clone)]
pub struct WebServer {
    pub host: IpAddr,
    pub port: u16,
    /// Open connections at most (each has a thread); one more gets a 503.
    pub max_connections: usize,
    /// Open `/events` streams at most; one more gets a 503 (the page then polls).
    pub max_event_streams: usize,
    /// The whole request head must arrive within this time of its first byte.
    pub header_timeout: Duration,
    /// An idle connection is closed after this long.
    pub keep_alive: Duration,
    /// The whole response must be taken within this time.
    pub write_timeout: Duration,
    /// `Host` names accepted besides the loopback ones (lower case, without port).
    pub allowed_hosts: Vec<String>,
    /// Inverter state refresh interval.
    pub inverter_interval: Duration,
    pub price_interval: Duration,
    pub metrics_interval: Duration,
    pub pid_interval: Duration,
    pub staleness_threshold: Duration,
    pub api_timeout: Duration,
    /// How often the page polls `/api/dashboard`.
    pub dashboard_poll: Duration,
}

/// Validates the `web_server:` section.
pub(super) fn web_section(
    w: &RawWebServer,
    err: &dyn Fn(&str, String) -> ConfigError,
) -> Result<WebServer, ConfigError> {
    let host_text = w.host.clone().unwrap_or_else(|| defaults::HOST.to_string());
    let host: IpAddr = if host_text == "localhost" {
        IpAddr::from([127, 0, 0, 1])
    } else {
        host_text.parse().map_err(|_| {
            err(
                "web_server.host",
                format!(
                    "{host_text:?} is not an IP address; use one such as 127.0.0.1 \
                     (this machine only) or 0.0.0.0 (all interfaces)"
                ),
            )
        })?
    };
    let port = match w.port {
        None => defaults::PORT,
        Some(p) if (1..=65535).contains(&p) => p as u16,
        Some(p) => {
            return Err(err(
                "web_server.port",
                format!("{p} is out of range; use a port from 1 to 65535"),
            ))
        }
    };
    let max_connections = match w.max_connections {
        None => defaults::MAX_CONNECTIONS,
        Some(n) if (1..=4096).contains(&n) => n as usize,
        Some(n) => {
            return Err(err(
                "web_server.max_connections",
                format!(
                    "{n} is out of range; use 1 to 4096 open connections (each needs a \
                     thread and two file descriptors; see LimitNOFILE and TasksMax in the unit)"
                ),
            ))
        }
    };
    let max_event_streams = match w.max_event_streams {
        None => defaults::MAX_EVENT_STREAMS,
        Some(n) if (1..=256).contains(&n) => n as usize,
        Some(n) => {
            return Err(err(
                "web_server.max_event_streams",
                format!("{n} is out of range; use 1 to 256 open event streams"),
            ))
        }
    };
    let secs = |key: &str, v: Option<i64>, default: u64| {
        seconds(&format!("web_server.{key}"), v, default, &err)
    };
    let short_secs = |key: &str, v: Option<i64>, default: u64| match v {
        Some(s) if !(1..=300).contains(&s) => Err(err(
            &format!("web_server.{key}"),
            format!("{s} is not allowed; use a whole number of seconds from 1 to 300"),
        )),
        _ => secs(key, v, default),
    };
    let mut allowed_hosts = Vec::new();
    for h in w.allowed_hosts.iter().flatten() {
        let name = h.trim().to_ascii_lowercase();
        let valid = !name.is_empty()
            && name.len() <= 253
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
        if !valid {
            return Err(err(
                "web_server.allowed_hosts",
                format!(
                    "{h:?} is not a host name; list names as a browser would send them, \
                     without scheme or port, e.g. [energy.home.arpa]"
                ),
            ));
        }
        allowed_hosts.push(name);
    }
    Ok(WebServer {
        host,
        port,
        max_connections,
        max_event_streams,
        header_timeout: short_secs(
            "header_timeout_seconds",
            w.header_timeout_seconds,
            defaults::HEADER_TIMEOUT_S,
        )?,
        keep_alive: short_secs(
            "keep_alive_seconds",
            w.keep_alive_seconds,
            defaults::KEEP_ALIVE_S,
        )?,
        write_timeout: short_secs(
            "write_timeout_seconds",
            w.write_timeout_seconds,
            defaults::WRITE_TIMEOUT_S,
        )?,
        allowed_hosts,
        inverter_interval: secs(
            "background_refresh_interval_seconds",
            w.background_refresh_interval_seconds,
            defaults::INVERTER_INTERVAL_S,
        )?,
        price_interval: secs(
            "price_refresh_interval_seconds",
            w.price_refresh_interval_seconds,
            defaults::PRICE_INTERVAL_S,
        )?,
        metrics_interval: secs(
            "metrics_refresh_interval_seconds",
            w.metrics_refresh_interval_seconds,
            defaults::METRICS_INTERVAL_S,
        )?,
        pid_interval: secs(
            "coordinator_pid_check_interval_seconds",
            w.coordinator_pid_check_interval_seconds,
            defaults::PID_INTERVAL_S,
        )?,
        staleness_threshold: secs(
            "cache_staleness_threshold_seconds",
            w.cache_staleness_threshold_seconds,
            defaults::STALENESS_S,
        )?,
        api_timeout: secs(
            "api_timeout_seconds",
            w.api_timeout_seconds,
            defaults::API_TIMEOUT_S,
        )?,
        dashboard_poll: secs(
            "dashboard_poll_seconds",
            w.dashboard_poll_seconds,
            defaults::DASHBOARD_POLL_S,
        )?,
    })
}
