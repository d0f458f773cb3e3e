//! Refresh times of the coordinator-data sources on a year of data.
//!
//! `coordinator_bench build DIR` writes DIR/data/goodwe_energy.db holding a year of rows
//! ending now (525,600 `system_state`, 105,120 `energy_data`, 35,040 decisions);
//! `coordinator_bench measure DIR` times the refreshes in a fresh process and prints a
//! table, then the process's peak RSS. `bench/coordinator_refresh.sh` runs both.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use energy_monitor::clock;
use energy_monitor::refresh::{RefreshContext, Source};
use energy_monitor::sources::coordinator_db::inverter::InverterSource;
use energy_monitor::sources::coordinator_db::source::CoordinatorSource;
use energy_monitor::sources::coordinator_db::writer;

fn db_path(dir: &Path) -> PathBuf {
    dir.join("data/goodwe_energy.db")
}

fn build(dir: &Path) {
    std::fs::create_dir_all(dir.join("data")).expect("create data dir");
    let path = db_path(dir);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let mut conn = rusqlite::Connection::open(&path).expect("open");
    energy_monitor::schema::create(&conn).expect("schema");
    conn.pragma_update(None, "synchronous", "OFF")
        .expect("pragma");
    let started = Instant::now();
    let (s, e, d) = writer::fill(&mut conn, clock::now(), 365).expect("fill");
    println!(
        "built {} in {:.1} s: {s} system_state, {e} energy_data, {d} coordinator_decisions",
        path.display(),
        started.elapsed().as_secs_f64()
    );
}

fn rss_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn ms(d: Duration) -> String {
    format!("{:8.2}", d.as_secs_f64() * 1000.0)
}

fn measure(dir: &Path) {
    let path = db_path(dir);
    let ctx = RefreshContext::default();
    let mut rows: Vec<(String, Duration)> = Vec::new();
    let mut inverter = InverterSource::new(
        path.clone(),
        dir,
        Duration::from_secs(30),
        Duration::from_secs(300),
    );
    let mut coordinator = CoordinatorSource::new(path, dir, Duration::from_secs(60));
    let now = clock::now();

    let t = Instant::now();
    let first = coordinator.refresh_at(now).expect("first refresh");
    rows.push((
        format!(
            "metrics: first refresh after start ({} months built, {} pending)",
            first.months.len(),
            first.pending_months.len()
        ),
        t.elapsed(),
    ));
    let mut pending = first.pending_months.len();
    let mut months = first.months.len();
    let mut recent = first.decisions.len();
    drop(first);
    let (mut catch_up, mut rounds) = (Duration::ZERO, 0);
    while pending > 0 {
        let t = Instant::now();
        let d = coordinator.refresh_at(clock::now()).expect("refresh");
        catch_up = catch_up.max(t.elapsed());
        rounds += 1;
        pending = d.pending_months.len();
        months = d.months.len();
        recent = d.decisions.len();
    }
    rows.push((
        format!("metrics: catch-up refreshes for the older months (max of {rounds})"),
        catch_up,
    ));

    let mut warm = Vec::new();
    for _ in 0..10 {
        // As after a change of the DB: the recent span is read again.
        coordinator.forget_reads();
        let t = Instant::now();
        coordinator.refresh_at(clock::now()).expect("refresh");
        warm.push(t.elapsed());
    }
    warm.sort();
    rows.push((
        "metrics: refresh after a DB change, summaries cached (median of 10)".into(),
        warm[5],
    ));
    rows.push((
        "metrics: refresh after a DB change, summaries cached (max of 10)".into(),
        warm[9],
    ));

    // A stamp of a DB written within `RACY` is not trusted; wait that long after the
    // build, then read once more so the source holds what it read.
    std::thread::sleep(
        energy_monitor::sources::coordinator_db::db::RACY + Duration::from_millis(100),
    );
    coordinator.forget_reads();
    coordinator.refresh_at(clock::now()).expect("refresh");
    let mut unchanged = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        coordinator.refresh_at(clock::now()).expect("refresh");
        unchanged.push(t.elapsed());
    }
    unchanged.sort();
    rows.push((
        "metrics: refresh, DB unchanged (median of 10)".into(),
        unchanged[5],
    ));

    let mut rebuild = Vec::new();
    for _ in 0..5 {
        coordinator.forget_reads();
        coordinator.expire_summaries();
        let t = Instant::now();
        coordinator.refresh_at(clock::now()).expect("refresh");
        rebuild.push(t.elapsed());
    }
    rebuild.sort();
    rows.push((
        "metrics: refresh + 5-min summary rebuild (median of 5)".into(),
        rebuild[2],
    ));
    rows.push((
        "metrics: refresh + 5-min summary rebuild (max of 5)".into(),
        rebuild[4],
    ));

    let mut inv = Vec::new();
    let mut inv_unchanged = Vec::new();
    for _ in 0..10 {
        inverter.forget_reads();
        let t = Instant::now();
        inverter.refresh(&ctx).expect("inverter");
        inv.push(t.elapsed());
        let t = Instant::now();
        inverter.refresh(&ctx).expect("inverter");
        inv_unchanged.push(t.elapsed());
    }
    inv.sort();
    inv_unchanged.sort();
    rows.push(("inverter: refresh (median of 10)".into(), inv[5]));
    rows.push((
        "inverter: refresh, inputs unchanged (median of 10)".into(),
        inv_unchanged[5],
    ));

    println!("| step | ms |\n|---|---:|");
    for (name, d) in &rows {
        println!("| {name} | {} |", ms(*d));
    }
    println!(
        "\nmonths served: {months}; decisions held for /decisions: {recent}\nRSS now: {} KiB; peak RSS (VmHWM): {} KiB",
        rss_kb("VmRSS:"),
        rss_kb("VmHWM:")
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("build"), Some(dir)) => build(Path::new(dir)),
        (Some("measure"), Some(dir)) => measure(Path::new(dir)),
        _ => {
            eprintln!("usage: coordinator_bench build DIR | measure DIR");
            std::process::exit(2);
        }
    }
}
