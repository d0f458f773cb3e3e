//! The sources of outside data and the renderers that turn their data into route bodies.
//!
//! [`build`] is the one place that decides which sources run and with which settings; the
//! daemon hands the result to [`crate::refresh::spawn`]. Each source module owns its
//! parsing as pure functions (tested without I/O) and keeps its I/O thin.

pub mod coordinator;
pub mod coordinator_db;
pub mod host;
pub mod journal;
pub mod log_dir;
pub mod prices;

use std::sync::Arc;

use crate::config::Config;
use crate::refresh::{Composer, Renderer, Source};

/// Source names, as they appear under `sources` in `/status`.
pub mod names {
    pub const COORDINATOR: &str = "coordinator";
    pub const LOGS: &str = "logs";
    pub const JOURNAL: &str = "journal";
    pub const INVERTER: &str = "inverter";
    pub const PRICES: &str = "prices";
    pub const METRICS: &str = "metrics";
    pub const HOST: &str = "host";
}

/// Everything the refresh side runs.
pub struct Wiring {
    pub sources: Vec<Box<dyn Source>>,
    pub renderers: Vec<Box<dyn Renderer>>,
    pub composers: Vec<Box<dyn Composer>>,
    /// A valid price cache for today was read from disk: `/prices` can answer 200 from the
    /// first snapshot, and the daemon waits for it before it serves.
    pub prices_preloaded: bool,
}

/// Builds every source and renderer for `config`. `status` renders `/status` and `/health`.
pub fn build(config: &Arc<Config>, status: Box<dyn Renderer>) -> Wiring {
    let p = &config.prices;
    log::info!(
        "prices from {} ({}), field {}; tariff {} ({})",
        p.api_url,
        p.api_url_from,
        p.value_field,
        p.tariff.name,
        p.tariff_from
    );
    if let Some(w) = &p.tariff_warning {
        log::warn!("{w}");
    }
    let mut prices = prices::PriceSource::new(
        &p.api_url,
        &p.value_field,
        config.web.api_timeout,
        &config.data_dir,
        p.tariff.clone(),
        prices::Schedule {
            interval: config.web.price_interval,
            today_recheck: p.today_recheck,
            tomorrow_poll: p.tomorrow_poll,
            tomorrow_from: p.tomorrow_poll_from,
        },
    )
    .with_tariff_warning(p.tariff_warning.clone());
    if config.demo {
        prices = prices.demo();
    }
    let prices_preloaded = prices.preload();
    let sources: Vec<Box<dyn Source>> = vec![
        Box::new({
            let process = coordinator::CoordinatorProcess::new(
                &config.coordinator.process_match,
                config.web.pid_interval,
            );
            if config.demo {
                process.demo()
            } else {
                process
            }
        }),
        Box::new(log_dir::LogDirectory::new(
            config.coordinator.logs_dir.clone(),
            config.logs.refresh_interval,
            config.logs.max_lines,
        )),
        Box::new(journal::Journal::new(
            &config.coordinator.systemd_unit,
            config.logs.max_lines,
            config.logs.journal_interval,
        )),
        Box::new(coordinator_db::inverter::InverterSource::new(
            config.coordinator.database.clone(),
            &config.coordinator.root,
            config.web.inverter_interval,
            config.web.staleness_threshold,
        )),
        Box::new(coordinator_db::source::CoordinatorSource::new(
            config.coordinator.database.clone(),
            &config.coordinator.root,
            config.web.metrics_interval,
        )),
        Box::new(prices),
        Box::new(host::HostSource::new(
            config.host.clone(),
            host_paths(config),
        )),
    ];
    let renderers: Vec<Box<dyn Renderer>> = vec![
        status,
        Box::new(crate::logs::render::LogsRenderer::new(
            crate::logs::LogsSettings::from_config(config),
        )),
        Box::new(coordinator_db::render::CurrentStateRenderer),
        Box::new(coordinator_db::render::CoordinatorRenderer),
        Box::new(prices::PriceRenderer),
        Box::new(crate::prometheus::PrometheusRenderer::default()),
    ];
    let composers: Vec<Box<dyn Composer>> = vec![Box::new(crate::web::Dashboard::new(config))];
    Wiring {
        sources,
        renderers,
        composers,
        prices_preloaded,
    }
}

/// The paths whose filesystems the host source watches, and what each holds.
pub fn host_paths(config: &Config) -> Vec<(&'static str, std::path::PathBuf)> {
    let c = &config.coordinator;
    vec![
        (host::roles::COORDINATOR_DB, c.database.clone()),
        (host::roles::COORDINATOR_OUT, c.root.join("out")),
        (host::roles::COORDINATOR_LOGS, c.logs_dir.clone()),
        (host::roles::DATA_DIR, config.data_dir.clone()),
    ]
}

/// The `storage` object of `/status`: is the coordinator's DB open, and did it hold data at
/// the last read? (`type` is `sqlite`.)
pub fn storage_state(view: &crate::refresh::StoreView) -> serde_json::Value {
    coordinator_db::storage_state(view)
}

/// The `pricing` object that `/current-state` embeds: the current quarter's final price and
/// the day's cheapest, from the prices source. `None` while there is no valid price data.
pub fn current_pricing(view: &crate::refresh::StoreView) -> Option<serde_json::Value> {
    prices::current_pricing(view)
}
