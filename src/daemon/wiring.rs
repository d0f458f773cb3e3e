//! Which sources, renderers, composers and routes run, with which settings: the one place
//! that turns a [`Config`] into the parts the refresh thread and the HTTP server run.

use std::sync::Arc;

use crate::config::{Config, WebServer};
use crate::http::host::HostPolicy;
use crate::http::routes::Route;
use crate::refresh::{tagged, Composer, Renderer};
use crate::sources::store::{DynSource, Sources};
use crate::{api, http, logs, prometheus, sources, status, web};

/// Everything the refresh side runs.
pub struct Wiring {
    pub sources: Vec<DynSource>,
    pub renderers: Vec<Box<dyn Renderer<Sources>>>,
    pub composers: Vec<Box<dyn Composer<Sources>>>,
    /// The log routes' hub: the logs renderer publishes into it, the log routes read it
    /// (hand it to [`routes`]).
    pub logs: Arc<logs::LogsHub>,
    /// A valid price cache for today was read from disk: `/prices` can answer 200 from the
    /// first snapshot, and the daemon waits for it before it serves.
    pub prices_preloaded: bool,
}

/// Builds every source and renderer for `config`. `status` renders `/status` and `/health`.
pub fn build(config: &Arc<Config>, status: Box<dyn Renderer<Sources>>) -> Wiring {
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
    let mut prices = sources::prices::source::PriceSource::new(
        &p.api_url,
        &p.value_field,
        config.web.api_timeout,
        &config.data_dir,
        p.tariff.clone(),
        sources::prices::source::Schedule {
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
    let process = sources::coordinator::CoordinatorProcess::new(
        &config.coordinator.process_match,
        config.web.pid_interval,
    );
    let sources: Vec<DynSource> = vec![
        tagged(if config.demo { process.demo() } else { process }),
        tagged(sources::log_dir::LogDirectory::new(
            config.coordinator.logs_dir.clone(),
            config.logs.refresh_interval,
            config.logs.max_lines,
        )),
        tagged(sources::journal::Journal::new(
            &config.coordinator.systemd_unit,
            config.logs.max_lines,
            config.logs.journal_interval,
        )),
        tagged(sources::coordinator_db::inverter::InverterSource::new(
            config.coordinator.database.clone(),
            &config.coordinator.root,
            config.web.inverter_interval,
            config.web.staleness_threshold,
        )),
        tagged(sources::coordinator_db::source::CoordinatorSource::new(
            config.coordinator.database.clone(),
            &config.coordinator.root,
            config.web.metrics_interval,
        )),
        tagged(prices),
        tagged(sources::host::HostSource::new(
            config.host.clone(),
            host_paths(config),
        )),
    ];
    let logs_hub = logs::LogsHub::new(logs::LogsSettings::from_config(config));
    let renderers: Vec<Box<dyn Renderer<Sources>>> = vec![
        status,
        Box::new(logs::render::LogsRenderer::new(Arc::clone(&logs_hub))),
        Box::new(api::coordinator::render::CurrentStateRenderer),
        Box::new(api::coordinator::render::CoordinatorRenderer),
        Box::new(api::prices::render::PriceRenderer),
        Box::new(prometheus::PrometheusRenderer::default()),
    ];
    let composers: Vec<Box<dyn Composer<Sources>>> = vec![Box::new(web::Dashboard::new(config))];
    Wiring {
        sources,
        renderers,
        composers,
        logs: logs_hub,
        prices_preloaded,
    }
}

/// The paths whose filesystems the host source watches, and what each holds.
pub fn host_paths(config: &Config) -> Vec<(&'static str, std::path::PathBuf)> {
    let c = &config.coordinator;
    vec![
        (sources::host::roles::COORDINATOR_DB, c.database.clone()),
        (sources::host::roles::COORDINATOR_OUT, c.root.join("out")),
        (sources::host::roles::COORDINATOR_LOGS, c.logs_dir.clone()),
        (sources::host::roles::DATA_DIR, config.data_dir.clone()),
    ]
}

/// Every route served: each feature's own routes. `logs` is [`Wiring::logs`], the hub the
/// logs renderer publishes into.
pub fn routes(config: &Config, logs: Arc<logs::LogsHub>) -> Vec<Route> {
    let mut routes = status::routes();
    routes.extend(logs::api::routes(logs));
    routes.extend(api::coordinator::handlers::routes());
    routes.extend(api::prices::handlers::routes());
    routes.push(prometheus::route());
    routes.extend(web::routes());
    routes.push(web::events::route(config.web.max_event_streams));
    routes
}

/// The server's limits, from `web_server.*`.
pub fn http_settings(web: &WebServer) -> http::Settings {
    http::Settings {
        max_connections: web.max_connections,
        header_timeout: web.header_timeout,
        keep_alive: web.keep_alive,
        write_timeout: web.write_timeout,
        hosts: HostPolicy::new(web.host, &web.allowed_hosts),
    }
}
