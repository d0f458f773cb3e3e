//! Times the `/logs` tail path on one file: the block reader alone, and the reader plus
//! decoding and record grouping as the `logs` source does it.
//!
//! Usage: `cargo run --release --example logs_tail -- <file> [lines] [runs]`.
//! `bench/logs_tail.sh` builds a 1 GB log and runs this on it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use energy_monitor::sources::log_dir::{read_tail, TAIL_BYTE_BUDGET};
use energy_monitor::sources::log_text::tail;

fn summary(mut times: Vec<Duration>) -> String {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "min {:.3} ms, median {:.3} ms, max {:.3} ms over {} runs",
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1]),
        times.len()
    )
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next().map(PathBuf::from) else {
        eprintln!("usage: logs_tail <file> [lines] [runs]");
        std::process::exit(2);
    };
    let lines: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let size = std::fs::metadata(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .len();

    let mut first = None;
    let mut reader = Vec::new();
    let mut got = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let tail = tail::tail_file(&path, lines, TAIL_BYTE_BUDGET).expect("tail");
        let took = t.elapsed();
        first.get_or_insert(took);
        got = tail.lines.len();
        reader.push(took);
    }
    let mut parsed = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let tail = read_tail(&path, lines, None).expect("read_tail");
        parsed.push(t.elapsed());
        assert_eq!(tail.lines.len(), got);
    }
    println!(
        "file {} ({:.2} GiB), last {lines} lines ({got} returned)",
        path.display(),
        size as f64 / (1u64 << 30) as f64
    );
    println!(
        "block reader:            first run {:.3} ms (page cache as the script left it); {}",
        first.unwrap_or_default().as_secs_f64() * 1000.0,
        summary(reader)
    );
    println!("reader + decode + group: {}", summary(parsed));
}
