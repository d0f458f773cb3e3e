//! Size and render cost of the `/metrics/prometheus` body on the demo's seed fixture.
//!
//! `prometheus_bench [DAYS] [--print]` writes the demo (seed 2026, DAYS days, default 30) into a
//! temporary directory, runs every source of that configuration once (the same sources the
//! daemon runs), then renders the exposition body repeatedly from that data and prints a
//! table: body size, samples, and the render time per call (`--print`: the body instead).

use std::sync::Arc;
use std::time::{Duration, Instant};

use energy_monitor::clock;
use energy_monitor::config::Config;
use energy_monitor::demo;
use energy_monitor::prometheus::PrometheusRenderer;
use energy_monitor::refresh::{Heartbeat, RefreshContext, Renderer, SourceStatus, Store};
use energy_monitor::sources::store::{Sources, View};
use energy_monitor::status::StatusRenderer;

fn main() {
    let days: u32 = std::env::args()
        .nth(1)
        .map(|d| d.parse().expect("DAYS must be a whole number"))
        .unwrap_or(30);
    let dir = tempfile::tempdir().expect("temp dir");
    let options = demo::Options {
        days,
        ..demo::Options::default()
    };
    demo::generate(dir.path(), &options).expect("demo data");
    let config = Arc::new(
        Config::load(&dir.path().join(demo::CONFIG_FILE)).expect("the demo's config is valid"),
    );
    let status = Box::new(StatusRenderer::new(Arc::new(Heartbeat::new(
        Duration::from_secs(60),
    ))));
    let wiring = energy_monitor::daemon::wiring::build(&config, status);
    let ctx = RefreshContext::default();
    let mut statuses = Vec::new();
    let mut store = Sources::default();
    for mut source in wiring.sources {
        let mut s = SourceStatus::new(source.id(), source.interval(), source.stale_after());
        let now = clock::now();
        s.last_attempt = Some(now);
        match source.refresh(&ctx) {
            Ok(r) => {
                s.last_success = Some(now);
                s.observed_at = r.observed_at;
                s.origin = r.origin;
                s.has_data = true;
                store.put(r.data);
                s.version = 1;
            }
            Err(e) => {
                s.last_error = Some(e.0);
                s.consecutive_failures = 1;
            }
        }
        statuses.push(s);
    }
    let renderer = PrometheusRenderer::default();
    let view = View {
        sources: &statuses,
        data: &store,
        now: clock::now(),
    };
    let body = renderer.render(&view).remove(0).1;
    let text = String::from_utf8_lossy(&body.bytes).into_owned();
    if std::env::args().nth(2).as_deref() == Some("--print") {
        print!("{text}");
        return;
    }
    let samples = text.lines().filter(|l| !l.starts_with('#')).count();
    let families = text.lines().filter(|l| l.starts_with("# TYPE")).count();
    // Warm up, then time single calls.
    for _ in 0..50 {
        std::hint::black_box(renderer.render(&view));
    }
    let mut times: Vec<Duration> = (0..1000)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(renderer.render(&view));
            t.elapsed()
        })
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let failed: Vec<&str> = statuses
        .iter()
        .filter(|s| !s.has_data)
        .map(|s| s.name())
        .collect();
    println!("seed fixture: demo seed {}, {days} days", options.seed);
    println!("sources without data: {failed:?}");
    println!();
    println!("| what | value |");
    println!("|---|---:|");
    println!(
        "| body size | {} bytes ({:.1} KiB) |",
        body.bytes.len(),
        body.bytes.len() as f64 / 1024.0
    );
    println!("| metric families | {families} |");
    println!("| samples | {samples} |");
    println!(
        "| render, median of 1000 | {:.3} ms |",
        ms(times[times.len() / 2])
    );
    println!(
        "| render, p99 of 1000 | {:.3} ms |",
        ms(times[times.len() * 99 / 100])
    );
    println!(
        "| render, max of 1000 | {:.3} ms |",
        ms(times[times.len() - 1])
    );
}
