//! Configuration: the YAML file, its defaults, and validation into one immutable [`Config`].
//!
//! Two stages. [`RawConfig`] mirrors the file exactly (every key optional, unknown keys
//! rejected); [`Config::from_raw`] validates it and resolves relative paths against the
//! directory of the config file. A bad file yields one [`ConfigError`] that names the file,
//! the key and what is allowed; the daemon prints it on one line and exits with code 2.
//!
//! The coordinator's own `master_coordinator_config.yaml` (`coordinator.config`) is someone
//! else's file: only the sections we understand are read from it, and unknown keys there are
//! ignored.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::sources::host::HostSettings;

mod coordinator_file;
pub mod defaults;
mod effective;
mod error;
mod host;
mod logs;
mod prices;
mod raw;
mod web;

use coordinator_file::read_coordinator_file;
pub use coordinator_file::CoordinatorFile;
use error::yaml_error;
pub use error::ConfigError;
use host::host_section;
use logs::logs_section;
pub use logs::Logs;
use prices::prices_from_raw;
pub use prices::Prices;
pub use raw::{RawConfig, RawCoordinator, RawHost, RawLogs, RawPrices, RawWebServer};
use web::web_section;
pub use web::WebServer;

/// The default location of our config file, relative to the working directory.
pub const DEFAULT_PATH: &str = "config/energy-monitor.yaml";

// ---------------------------------------------------------------------------------------
// Validated configuration
// ---------------------------------------------------------------------------------------

/// The validated, immutable configuration shared by every thread.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was read from.
    pub file: PathBuf,
    pub web: WebServer,
    pub coordinator: Coordinator,
    pub logs: Logs,
    pub prices: Prices,
    pub host: HostSettings,
    /// Where energy-monitor keeps its own files (e.g. `price_cache.json`).
    pub data_dir: PathBuf,
    pub log_level: log::LevelFilter,
    /// The coordinator root is synthetic demo data (`energy-monitor demo` writes this):
    /// prices come from the demo's cache only and say `demo` as their origin, and the
    /// coordinator process is simulated by the demo instead of searched for.
    pub demo: bool,
}

#[derive(Debug, Clone)]
pub struct Coordinator {
    pub root: PathBuf,
    pub config: Option<PathBuf>,
    pub database: PathBuf,
    pub logs_dir: PathBuf,
    pub process_match: String,
    /// The coordinator's systemd unit, read with `journalctl -u` for `/logs?file=journal`.
    pub systemd_unit: String,
    /// The sections of the coordinator's own YAML that we read, when `config` is set.
    pub file: Option<CoordinatorFile>,
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            key: String::new(),
            message: format!(
                "cannot read the file ({e}); create it (see config/energy-monitor.yaml in the \
                 repository) or pass --config FILE"
            ),
        })?;
        Config::parse(&text, path)
    }

    /// Parses and validates YAML text that came from `path` (used for messages and for
    /// resolving relative paths).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = if text.trim().is_empty() {
            RawConfig::default()
        } else {
            serde_yaml::from_str(text).map_err(|e| yaml_error(path, &e))?
        };
        Config::from_raw(raw, path)
    }

    /// Validates the raw structure.
    pub fn from_raw(raw: RawConfig, path: &Path) -> Result<Config, ConfigError> {
        let err = |key: &str, message: String| ConfigError {
            file: path.to_path_buf(),
            key: key.to_string(),
            message,
        };
        let base = path
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .unwrap_or(Path::new("."));
        let base = absolute(base);
        let resolve = |p: &str| -> PathBuf {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                absolute(&base.join(p))
            }
        };

        let web = web_section(&raw.web_server, &err)?;

        let c = &raw.coordinator;
        let root_text = c.root.clone().unwrap_or_else(|| defaults::ROOT.to_string());
        let root = resolve(&root_text);
        if !root.is_dir() {
            return Err(err(
                "coordinator.root",
                format!(
                    "{} does not exist or is not a directory; set it to the coordinator's \
                     project directory (the one holding data/, out/ and logs/)",
                    root.display()
                ),
            ));
        }
        let coordinator_config = c.config.as_deref().map(resolve);
        let file = match &coordinator_config {
            None => None,
            Some(p) => Some(read_coordinator_file(p).map_err(|m| err("coordinator.config", m))?),
        };
        let under_root = |p: &str| -> PathBuf {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                absolute(&root.join(p))
            }
        };
        let database = match (
            &c.database,
            file.as_ref().and_then(|f| f.database_path.as_ref()),
        ) {
            (Some(ours), _) => under_root(ours),
            (None, Some(theirs)) => under_root(theirs),
            (None, None) => under_root(defaults::DATABASE),
        };
        let logs_dir = under_root(c.logs_dir.as_deref().unwrap_or(defaults::LOGS_DIR));
        let process_match = c
            .process_match
            .clone()
            .unwrap_or_else(|| defaults::PROCESS_MATCH.into());
        if process_match.trim().is_empty() || process_match.contains('/') {
            return Err(err(
                "coordinator.process_match",
                format!("{process_match:?} is not allowed; use the coordinator's script file name, e.g. master_coordinator.py"),
            ));
        }

        let systemd_unit = c
            .systemd_unit
            .clone()
            .unwrap_or_else(|| defaults::SYSTEMD_UNIT.into());
        if !valid_unit_name(&systemd_unit) {
            return Err(err(
                "coordinator.systemd_unit",
                format!(
                    "{systemd_unit:?} is not a unit name; use letters, digits and :-_.@\\ only, \
                     not starting with '-', e.g. {}",
                    defaults::SYSTEMD_UNIT
                ),
            ));
        }
        let logs = logs_section(&raw.logs, &err)?;
        let prices = prices_from_raw(
            &raw.prices,
            file.as_ref().zip(coordinator_config.as_deref()),
            &err,
        )?;
        let host = host_section(&raw.host, &err)?;

        let data_dir = resolve(raw.data_dir.as_deref().unwrap_or(defaults::DATA_DIR));
        let level_text = raw
            .log_level
            .clone()
            .unwrap_or_else(|| defaults::LOG_LEVEL.into());
        let log_level = match level_text.to_ascii_lowercase().as_str() {
            "off" => log::LevelFilter::Off,
            "error" => log::LevelFilter::Error,
            "warn" | "warning" => log::LevelFilter::Warn,
            "info" => log::LevelFilter::Info,
            "debug" => log::LevelFilter::Debug,
            "trace" => log::LevelFilter::Trace,
            _ => {
                return Err(err(
                    "log_level",
                    format!("{level_text:?} is not a level; use one of error, warn, info, debug, trace, off"),
                ))
            }
        };

        Ok(Config {
            file: absolute(path),
            web,
            coordinator: Coordinator {
                root,
                config: coordinator_config,
                database,
                logs_dir,
                process_match,
                systemd_unit,
                file,
            },
            logs,
            prices,
            host,
            data_dir,
            log_level,
            demo: raw.demo.unwrap_or(false),
        })
    }

    /// The shortest configured refresh interval (the refresh thread's liveness unit).
    pub fn shortest_interval(&self) -> Duration {
        [
            self.web.inverter_interval,
            self.web.price_interval,
            self.web.metrics_interval,
            self.web.pid_interval,
        ]
        .into_iter()
        .min()
        .unwrap_or(Duration::from_secs(30))
    }
}

/// A systemd unit name we are willing to pass to `journalctl -u` (as one argument, never
/// through a shell; the check keeps it from looking like an option).
fn valid_unit_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ":-_.@\\".contains(c))
}

/// A whole number of seconds from 1 to 86400 under `key`, or `default` when absent.
fn seconds(
    key: &str,
    v: Option<i64>,
    default: u64,
    err: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Duration, ConfigError> {
    match v {
        None => Ok(Duration::from_secs(default)),
        Some(s) if (1..=86_400).contains(&s) => Ok(Duration::from_secs(s as u64)),
        Some(s) => Err(err(
            key,
            format!("{s} is not allowed; use a whole number of seconds from 1 to 86400"),
        )),
    }
}

/// The absolute form of `p`, with `.` and `..` resolved lexically (as the shell's `cd -L`).
fn absolute(p: &Path) -> PathBuf {
    use std::path::Component;
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push(c);
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in(dir: &Path, text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, &dir.join("energy-monitor.yaml"))
    }

    #[test]
    fn empty_file_gives_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let c = parse_in(dir.path(), "").unwrap();
        assert_eq!(c.web.port, 8080);
        assert_eq!(c.web.host.to_string(), "127.0.0.1");
        assert_eq!(c.web.max_connections, 256);
        assert_eq!(c.web.keep_alive, Duration::from_secs(5));
        assert_eq!(c.web.inverter_interval, Duration::from_secs(30));
        assert_eq!(c.coordinator.root, absolute(dir.path()));
        assert_eq!(
            c.coordinator.database,
            absolute(dir.path()).join("data/goodwe_energy.db")
        );
        assert_eq!(c.data_dir, absolute(dir.path()).join("data"));
        assert!(c
            .effective_yaml()
            .contains("price_refresh_interval_seconds: 300"));
        assert_eq!(c.coordinator.systemd_unit, "goodwe-master-coordinator");
        assert_eq!(c.logs.max_lines, 5000);
        assert_eq!(c.logs.max_followers, 8);
        assert_eq!(c.logs.journal_interval, Duration::from_secs(30));
        assert_eq!(c.host.refresh_interval, Duration::from_secs(30));
        assert_eq!(c.host.disk_warn_percent, 90.0);
        assert_eq!(c.host.memory_warn_percent, 90.0);
        assert_eq!(c.host.temperature_warn_celsius, 80.0);
        let yaml = c.effective_yaml();
        assert!(yaml.contains("disk_warn_percent: 90"), "{yaml}");
        let again = parse_in(dir.path(), &yaml).unwrap();
        assert_eq!(again.host, c.host);
        assert!(yaml.contains("max_lines: 5000"), "{yaml}");
        assert!(yaml.contains("journal_refresh_seconds: 30"), "{yaml}");
        assert!(
            yaml.contains("systemd_unit: goodwe-master-coordinator"),
            "{yaml}"
        );
    }

    #[test]
    fn errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("web_server:\n  prot: 1\n", "web_server.prot"),
            ("web_server:\n  port: 70000\n", "web_server.port"),
            ("web_server:\n  port: 0\n", "web_server.port"),
            (
                "web_server:\n  max_event_streams: 0\n",
                "web_server.max_event_streams",
            ),
            ("web_server:\n  port: abc\n", "web_server.port"),
            (
                "web_server:\n  price_refresh_interval_seconds: 0\n",
                "web_server.price_refresh_interval_seconds",
            ),
            (
                "web_server:\n  metrics_refresh_interval_seconds: -5\n",
                "web_server.metrics_refresh_interval_seconds",
            ),
            (
                "coordinator:\n  root: /does/not/exist\n",
                "coordinator.root",
            ),
            ("bogus: 1\n", "bogus"),
            ("logs:\n  max_lines: 0\n", "logs.max_lines"),
            ("logs:\n  max_followers: 1000\n", "logs.max_followers"),
            ("logs:\n  max_downloads: -1\n", "logs.max_downloads"),
            (
                "logs:\n  journal_refresh_seconds: 0\n",
                "logs.journal_refresh_seconds",
            ),
            ("logs:\n  refresh_seconds: x\n", "logs.refresh_seconds"),
            ("logs:\n  bogus: 1\n", "logs.bogus"),
            (
                "coordinator:\n  systemd_unit: '-x; rm -rf /'\n",
                "coordinator.systemd_unit",
            ),
            ("log_level: loud\n", "log_level"),
            ("host:\n  refresh_seconds: 0\n", "host.refresh_seconds"),
            ("host:\n  disk_warn_percent: 0\n", "host.disk_warn_percent"),
            (
                "host:\n  memory_warn_percent: 101\n",
                "host.memory_warn_percent",
            ),
            (
                "host:\n  temperature_warn_celsius: hot\n",
                "host.temperature_warn_celsius",
            ),
            ("host:\n  disk_warn: 5\n", "host.disk_warn"),
            (
                "web_server:\n  max_connections: 0\n",
                "web_server.max_connections",
            ),
            (
                "web_server:\n  max_connections: 4097\n",
                "web_server.max_connections",
            ),
            (
                "web_server:\n  keep_alive_seconds: 301\n",
                "web_server.keep_alive_seconds",
            ),
            (
                "web_server:\n  header_timeout_seconds: 0\n",
                "web_server.header_timeout_seconds",
            ),
            (
                "web_server:\n  write_timeout_seconds: -1\n",
                "web_server.write_timeout_seconds",
            ),
            (
                "web_server:\n  allowed_hosts: ['http://x/']\n",
                "web_server.allowed_hosts",
            ),
            (
                "web_server:\n  allowed_hosts: ['a b']\n",
                "web_server.allowed_hosts",
            ),
            (
                "logs:\n  max_response_bytes: 100\n",
                "logs.max_response_bytes",
            ),
        ];
        for (text, key) in cases {
            let e = parse_in(dir.path(), text).unwrap_err();
            assert!(e.key.starts_with(key), "{text:?}: key {:?} in {e}", e.key);
            let line = e.to_string();
            assert!(!line.contains('\n'), "{line}");
            assert!(line.contains("energy-monitor.yaml"), "{line}");
        }
    }

    #[test]
    fn relative_paths_resolve_against_the_config_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("coord")).unwrap();
        let c = parse_in(
            dir.path(),
            "coordinator:\n  root: coord\n  logs_dir: /var/log/x\ndata_dir: state\n",
        )
        .unwrap();
        assert_eq!(c.coordinator.root, absolute(dir.path()).join("coord"));
        assert_eq!(c.coordinator.logs_dir, PathBuf::from("/var/log/x"));
        assert_eq!(c.data_dir, absolute(dir.path()).join("state"));
    }

    #[test]
    fn prices_section() {
        let dir = tempfile::tempdir().unwrap();
        let c = parse_in(dir.path(), "").unwrap();
        assert_eq!(c.prices.api_url, defaults::PRICE_API_URL);
        assert_eq!(c.prices.value_field, "csdac_pln");
        assert_eq!(c.prices.tariff.name, "g12");
        assert!(c.effective_yaml().contains("value_field: csdac_pln"));
        // The effective configuration reads back to the same price settings.
        let again = parse_in(dir.path(), &c.effective_yaml()).unwrap();
        assert_eq!(again.prices.tariff, c.prices.tariff);
        assert_eq!(again.prices.api_url, c.prices.api_url);
        let c = parse_in(
            dir.path(),
            "prices:\n  api_url: http://127.0.0.1:9/api/rce-pln\n  tariff:\n    tariff_type: g11\n    sc_component_pln_kwh: 0.1\n",
        )
        .unwrap();
        assert_eq!(c.prices.value_field, "rce_pln");
        assert_eq!(c.prices.tariff.name, "g11");
        assert_eq!(c.prices.tariff.sc_component, 0.1);
        let cases = [
            ("prices:\n  api_url: ftp://x\n", "prices.api_url"),
            ("prices:\n  value_field: 'a b'\n", "prices.value_field"),
            (
                "prices:\n  tomorrow_poll_seconds: 0\n",
                "prices.tomorrow_poll_seconds",
            ),
            (
                "prices:\n  tomorrow_poll_from: '25:00'\n",
                "prices.tomorrow_poll_from",
            ),
            (
                "prices:\n  tariff:\n    tariff_type: g13s\n",
                "prices.tariff.distribution_pricing.g13s",
            ),
            ("prices:\n  tarif: {}\n", "prices.tarif"),
        ];
        for (text, key) in cases {
            let e = parse_in(dir.path(), text).unwrap_err();
            assert_eq!(e.key, key, "{text:?}: {e}");
            assert!(!e.to_string().contains('\n'));
        }
    }

    #[test]
    fn prices_follow_the_coordinator_file_unless_overridden() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("master.yaml"),
            "price_analysis:\n  api_url: http://x/api/rce-pln\nelectricity_tariff:\n  tariff_type: g12as\n  sc_component_pln_kwh: 0.05\n",
        )
        .unwrap();
        let c = parse_in(dir.path(), "coordinator:\n  config: master.yaml\n").unwrap();
        assert_eq!(c.prices.api_url, "http://x/api/rce-pln");
        assert_eq!(c.prices.value_field, "rce_pln");
        assert_eq!(c.prices.tariff.name, "g12as");
        assert_eq!(c.prices.tariff.sc_component, 0.05);
        let c = parse_in(
            dir.path(),
            "coordinator:\n  config: master.yaml\nprices:\n  api_url: http://y/api/csdac-pln\n",
        )
        .unwrap();
        assert_eq!(c.prices.api_url, "http://y/api/csdac-pln");
        // An unusable coordinator tariff does not stop the daemon (market + SC with a
        // warning that `/status` lists), but `check-config` reports it as an error.
        std::fs::write(
            dir.path().join("master.yaml"),
            "electricity_tariff:\n  tariff_type: g13s\n",
        )
        .unwrap();
        let c = parse_in(dir.path(), "coordinator:\n  config: master.yaml\n").unwrap();
        assert_eq!(c.prices.tariff.calculation_method(), "market_plus_sc");
        assert!(c.prices.tariff_warning.is_some());
        let e = c.prices.tariff_error.as_ref().unwrap();
        assert_eq!(e.key, "electricity_tariff.distribution_pricing.g13s");
        assert!(e.file.ends_with("master.yaml"), "{e}");
    }

    #[test]
    fn coordinator_file_is_read_leniently() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("master.yaml"),
            "price_analysis:\n  api_url: http://x/api/rce-pln\n  other: 1\ndata_storage:\n  database_storage:\n    sqlite:\n      path: db/x.db\nunrelated: [1, 2]\nelectricity_tariff:\n  tariff_type: g12\n",
        )
        .unwrap();
        let c = parse_in(dir.path(), "coordinator:\n  config: master.yaml\n").unwrap();
        let f = c.coordinator.file.as_ref().unwrap();
        assert_eq!(f.price_api_url.as_deref(), Some("http://x/api/rce-pln"));
        assert!(f.electricity_tariff.is_some());
        assert_eq!(c.coordinator.database, absolute(dir.path()).join("db/x.db"));
        let e = parse_in(dir.path(), "coordinator:\n  config: missing.yaml\n").unwrap_err();
        assert_eq!(e.key, "coordinator.config");
    }
}
