//! The daemon's life: start every thread, wait for a signal or a fatal event, shut down.
//!
//! Order at start: logger, signal handlers (before any other thread), listener, refresh
//! thread (first snapshot published before it returns), HTTP acceptor, `READY=1`, self-check.
//! Order at stop: HTTP stops accepting, answers what was received and closes idle
//! connections (bounded), then the refresh thread is stopped; both with deadlines; the exit
//! code is 0 after a signal, 1 after a fatal event. A second SIGTERM/SIGINT exits at once.
//! SIGHUP does not stop the daemon: it asks the refresh thread to refresh every source now.

mod memory;
pub mod wiring;

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{unbounded, Sender};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::config::Config;
use crate::event::Event;
use crate::exit::EXIT_FAILURE;
use crate::http::{self, routes::HttpContext};
use crate::refresh::{self, Heartbeat};
use crate::snapshot::SnapshotCell;
use crate::status::StatusRenderer;
use crate::{logging, systemd};

/// How long HTTP connections get to finish the answers in flight.
const HTTP_DRAIN: Duration = Duration::from_millis(600);
/// How long the refresh thread gets to stop.
const REFRESH_STOP: Duration = Duration::from_millis(300);

fn install_signals(events: Sender<Event>) -> std::io::Result<()> {
    use signal_hook::flag;
    let armed = Arc::new(AtomicBool::new(false));
    for sig in [SIGTERM, SIGINT] {
        // Order matters: the conditional exit is checked before the flag is set, so only a
        // second signal exits at once.
        flag::register_conditional_shutdown(sig, 1, Arc::clone(&armed))?;
        flag::register(sig, Arc::clone(&armed))?;
    }
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                let event = match sig {
                    SIGHUP => Event::RefreshNow,
                    SIGTERM => Event::Shutdown("SIGTERM"),
                    _ => Event::Shutdown("SIGINT"),
                };
                let _ = events.send(event);
            }
        })?;
    Ok(())
}

/// Runs the daemon until a signal or a fatal event; returns the exit code.
/// Waits (at most `limit`) until the snapshot holds a 200 body for `key`.
fn wait_for_body(cell: &SnapshotCell, key: &str, limit: Duration) {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if cell.load().get(key).is_some_and(|b| b.status == 200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    log::warn!("{key} was not ready {} ms after start", limit.as_millis());
}

pub fn run(config: Config) -> i32 {
    memory::tune();
    logging::init(config.log_level);
    let config = Arc::new(config);
    let (events_tx, events_rx) = unbounded::<Event>();
    if let Err(e) = install_signals(events_tx.clone()) {
        log::error!("cannot install signal handlers: {e}");
        return EXIT_FAILURE;
    }

    let addr = SocketAddr::new(config.web.host, config.web.port);
    let listener = match http::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            log::error!(
                "cannot listen on {addr}: {e}; choose another web_server.port or web_server.host in {}",
                config.file.display()
            );
            return EXIT_FAILURE;
        }
    };

    let heartbeat = Arc::new(Heartbeat::new(config.shortest_interval() * 3));
    let cell = Arc::new(SnapshotCell::default());
    cell.after_store(Box::new(memory::release));
    // `/events` streams wake when the dashboard document changes, and only then.
    cell.changes().watch(crate::web::DASHBOARD);
    let wiring = wiring::build(
        &config,
        Box::new(StatusRenderer::new(Arc::clone(&heartbeat)).demo(config.demo)),
    );
    let wiring_prices_preloaded = wiring.prices_preloaded;
    let logs_hub = Arc::clone(&wiring.logs);
    let refresh = match refresh::spawn(
        wiring.sources,
        wiring.renderers,
        wiring.composers,
        Arc::clone(&cell),
        Arc::clone(&heartbeat),
    ) {
        Ok(r) => r,
        Err(e) => {
            log::error!("cannot start the refresh thread: {e}");
            return EXIT_FAILURE;
        }
    };

    if wiring_prices_preloaded {
        // The disk price cache is in memory already: let its first snapshot land before
        // requests are served, so `/prices` never answers 503 right after a restart.
        wait_for_body(
            &cell,
            crate::api::prices::render::ROUTE,
            Duration::from_secs(2),
        );
    }

    let ctx = Arc::new(HttpContext::new(Arc::clone(&heartbeat), Arc::clone(&cell)));
    let stopping = Arc::clone(&ctx.stopping);
    let server = match http::start(
        listener,
        wiring::http_settings(&config.web),
        Arc::clone(&cell),
        ctx,
        Arc::new(wiring::routes(&config, logs_hub)),
    ) {
        Ok(s) => s,
        Err(e) => {
            log::error!("cannot start the HTTP server on {addr}: {e}");
            refresh.join(REFRESH_STOP);
            return EXIT_FAILURE;
        }
    };
    log::info!(
        "energy-monitor {} listening on http://{} (config {})",
        env!("CARGO_PKG_VERSION"),
        server.addr,
        config.file.display()
    );
    systemd::notify("READY=1");
    if let Err(e) = systemd::spawn_self_check(
        server.addr,
        Arc::clone(&heartbeat),
        Arc::clone(&stopping),
        events_tx.clone(),
    ) {
        log::warn!("cannot start the self-check thread: {e}");
    }

    let code = loop {
        match events_rx.recv() {
            Ok(Event::RefreshNow) => {
                log::info!("SIGHUP received; refreshing every source now");
                refresh.refresh_now();
            }
            Ok(Event::Shutdown(sig)) => {
                log::info!("{sig} received; shutting down");
                break 0;
            }
            Ok(Event::Fatal(why)) => {
                log::error!("fatal: {why}; exiting so that the service manager restarts us");
                break EXIT_FAILURE;
            }
            Err(_) => break EXIT_FAILURE,
        }
    };
    systemd::notify("STOPPING=1");
    // HTTP first, so that requests received before the signal are answered from a live cache;
    // the refresh thread then stops at once (shutdown is the first arm of its select).
    server.stop(HTTP_DRAIN);
    if !refresh.join(REFRESH_STOP) {
        log::warn!("the refresh thread did not stop in time; exiting anyway");
    }
    log::info!("stopped");
    code
}
