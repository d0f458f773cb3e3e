//! HTTP load loop for `bench/http.sh`: N client threads hammer one URL for a while and the
//! tool prints requests per second and latency percentiles as a table row.
//!
//! Usage:
//!   http_load <addr> <path> <connections> <seconds> close|keepalive [label]
//!   http_load --reference-server <addr> <body-file> [--no-nodelay]
//!
//! `close`: one TCP connection per request (what energy-monitor's `Connection: close`
//! costs). `keepalive`: requests on persistent connections. `--reference-server` runs a
//! plain tiny_http server answering every request with the given bytes and keep-alive
//! (with TCP_NODELAY set on its listener unless `--no-nodelay`), as a reference point for
//! the cost of closing connections and for the delayed-ACK stall without TCP_NODELAY.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    buf.clear();
    let mut chunk = [0u8; 16384];
    let header_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let ok = head.starts_with("http/1.1 200");
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + len {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(ok)
}

fn client(
    addr: SocketAddr,
    path: String,
    keepalive: bool,
    stop: Arc<AtomicBool>,
) -> (Vec<u32>, u64) {
    let mut latencies_us = Vec::with_capacity(100_000);
    let mut errors = 0u64;
    let mut buf = Vec::with_capacity(65536);
    let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n");
    let mut conn: Option<TcpStream> = None;
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let result = (|| -> std::io::Result<bool> {
            if conn.is_none() {
                let s = TcpStream::connect(addr)?;
                s.set_nodelay(true)?;
                s.set_read_timeout(Some(Duration::from_secs(5)))?;
                conn = Some(s);
            }
            let s = conn.as_mut().unwrap();
            s.write_all(request.as_bytes())?;
            read_response(s, &mut buf)
        })();
        match result {
            Ok(true) => latencies_us.push(t.elapsed().as_micros() as u32),
            _ => errors += 1,
        }
        if !keepalive || errors > 0 {
            conn = None;
        }
    }
    (latencies_us, errors)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn reference_server(addr: &str, body_file: &str, nodelay: bool) {
    let body = std::fs::read(body_file).expect("body file");
    let server = if nodelay {
        let listener = energy_monitor::http::bind(addr.parse().expect("addr")).expect("bind");
        tiny_http::Server::from_listener(listener, None).expect("server")
    } else {
        tiny_http::Server::http(addr).expect("bind")
    };
    let server = Arc::new(server);
    let mut workers = Vec::new();
    for _ in 0..4 {
        let server = Arc::clone(&server);
        let body = body.clone();
        workers.push(std::thread::spawn(move || {
            for rq in server.incoming_requests() {
                let header =
                    tiny_http::Header::from_bytes("Content-Type", "application/json").unwrap();
                let _ =
                    rq.respond(tiny_http::Response::from_data(body.clone()).with_header(header));
            }
        }));
    }
    for w in workers {
        let _ = w.join();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--reference-server") {
        reference_server(
            &args[2],
            &args[3],
            args.get(4).map(String::as_str) != Some("--no-nodelay"),
        );
        return;
    }
    if args.len() < 6 {
        eprintln!("usage: http_load <addr> <path> <connections> <seconds> close|keepalive [label]");
        std::process::exit(2);
    }
    let addr: SocketAddr = args[1].parse().expect("addr");
    let path = args[2].clone();
    let connections: usize = args[3].parse().expect("connections");
    let seconds: f64 = args[4].parse().expect("seconds");
    let keepalive = args[5] == "keepalive";
    let label = args
        .get(6)
        .cloned()
        .unwrap_or_else(|| format!("{path} {}", args[5]));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let handles: Vec<_> = (0..connections)
        .map(|_| {
            let (path, stop) = (path.clone(), Arc::clone(&stop));
            std::thread::spawn(move || client(addr, path, keepalive, stop))
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut errors = 0;
    for h in handles {
        let (l, e) = h.join().unwrap();
        all.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    println!(
        "| {label} | {connections} | {:.0} | {:.3} | {:.3} | {:.3} | {errors} |",
        all.len() as f64 / elapsed,
        percentile(&all, 0.50),
        percentile(&all, 0.99),
        all.last().map(|m| *m as f64 / 1000.0).unwrap_or(f64::NAN),
    );
}
