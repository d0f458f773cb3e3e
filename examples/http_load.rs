//! HTTP load loop for `bench/http.sh`: N client threads, one connection each, send one URL
//! for a while; the tool prints one line: requests per second, p50, p99 and max latency in
//! ms, and the count of errors (anything but a 200).
//!
//! Usage:
//!   http_load <addr> <path> <connections> <seconds> close|keepalive
//!
//! `keepalive`: requests one after another on persistent connections. `close`: each request
//! says `Connection: close`, is read to the end of its body, and the next one opens a new
//! connection (what a client without keep-alive costs).

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
    let request = if keepalive {
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    } else {
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    };
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 || !["close", "keepalive"].contains(&args[5].as_str()) {
        eprintln!("usage: http_load <addr> <path> <connections> <seconds> close|keepalive");
        std::process::exit(2);
    }
    let addr: SocketAddr = args[1].parse().expect("addr");
    let path = args[2].clone();
    let connections: usize = args[3].parse().expect("connections");
    let seconds: f64 = args[4].parse().expect("seconds");
    let keepalive = args[5] == "keepalive";
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
        "{:.0} {:.3} {:.3} {:.3} {errors}",
        all.len() as f64 / elapsed,
        percentile(&all, 0.50),
        percentile(&all, 0.99),
        all.last().map(|m| *m as f64 / 1000.0).unwrap_or(f64::NAN),
    );
}
