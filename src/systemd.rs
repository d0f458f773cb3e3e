//! systemd integration: `sd_notify` messages and the self-check that gates the watchdog.
//!
//! `READY=1` is sent once the listener is bound. `WATCHDOG=1` is sent only while the
//! refresh loop makes progress *and* a real loopback request to our own listener has just
//! succeeded. If the server stops answering while the process lives on, the self-check
//! notices, and after [`MAX_FAILED_CHECKS`] failed checks in a row the daemon exits
//! non-zero, with or without systemd. A `503` with `Retry-After` from a server at its
//! connection cap counts as an answer: the server is alive, and restarting it would not help.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::event::Event;
use crate::http::accept::{out_of_descriptors, Throttle};
use crate::http::probe_addr;
use crate::refresh::Heartbeat;

/// How often the server checks itself when no systemd watchdog asks for a period: a
/// server that stopped answering exits within [`MAX_FAILED_CHECKS`] of these, and an idle
/// daemon makes one loopback request this often.
pub const UNWATCHED_PERIOD: Duration = Duration::from_secs(20);

/// Failed self-checks in a row before the daemon gives up and exits.
pub const MAX_FAILED_CHECKS: u32 = 3;

/// Sends `state` to the socket in `$NOTIFY_SOCKET`, if any. Returns true when sent.
pub fn notify(state: &str) -> bool {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return false;
    };
    let Ok(socket) = UnixDatagram::unbound() else {
        return false;
    };
    let bytes = path.as_encoded_bytes();
    let sent = if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name)
            .and_then(|addr| socket.send_to_addr(state.as_bytes(), &addr))
    } else {
        socket.send_to(state.as_bytes(), std::path::Path::new(&path))
    };
    match sent {
        Ok(_) => true,
        Err(e) => {
            log::warn!("cannot notify systemd ({state}): {e}");
            false
        }
    }
}

/// The watchdog period systemd asked for (`WATCHDOG_USEC`, for this PID), if any.
pub fn watchdog_period() -> Option<Duration> {
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
            return None;
        }
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// One real request to our own `/health`; true on a 200 (or the at-capacity 503) within
/// `timeout`.
pub fn probe(addr: SocketAddr, timeout: Duration) -> bool {
    probe_outcome(addr, timeout).unwrap_or(false)
}

/// Like [`probe`], but None when this process could not even open the probe's socket
/// (out of file descriptors): that says nothing about the listener.
fn probe_outcome(addr: SocketAddr, timeout: Duration) -> Option<bool> {
    let mut s = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(s) => s,
        Err(e) if out_of_descriptors(&e) => return None,
        Err(_) => return Some(false),
    };
    let attempt = || -> std::io::Result<bool> {
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        s.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
        let mut head = Vec::with_capacity(512);
        s.take(2048).read_to_end(&mut head)?;
        let text = String::from_utf8_lossy(&head);
        Ok(text.starts_with("HTTP/1.1 200")
            || (text.starts_with("HTTP/1.1 503") && text.contains("\r\nRetry-After: 1\r\n")))
    };
    Some(attempt().unwrap_or(false))
}

/// Starts the self-check thread. It probes every `period`; on success with a live refresh
/// loop it pings the systemd watchdog; after too many failures it reports a fatal event.
pub fn spawn_self_check(
    listen: SocketAddr,
    heartbeat: Arc<Heartbeat>,
    stopping: Arc<AtomicBool>,
    events: Sender<Event>,
) -> std::io::Result<()> {
    let watchdog = watchdog_period();
    let period = watchdog
        .map(|w| w / 2)
        .unwrap_or(UNWATCHED_PERIOD)
        .max(Duration::from_millis(500));
    let target = probe_addr(listen);
    thread::Builder::new()
        .name("self-check".into())
        .spawn(move || {
            let mut failures = 0u32;
            let mut skipped = Throttle::default();
            let mut next = Instant::now() + period;
            loop {
                // One sleep per probe, not a polling loop: nobody joins this thread, so
                // shutdown need not wake it; it leaves at its next probe, or with the process.
                thread::sleep(next.saturating_duration_since(Instant::now()));
                if stopping.load(Ordering::Relaxed) {
                    return;
                }
                next += period;
                let refresh_ok = heartbeat.is_alive();
                let Some(http_ok) = probe_outcome(target, Duration::from_secs(2)) else {
                    skipped.warn("self-check skipped: out of file descriptors for its own socket");
                    continue;
                };
                if stopping.load(Ordering::Relaxed) {
                    return;
                }
                if refresh_ok && http_ok {
                    failures = 0;
                    if watchdog.is_some() {
                        notify("WATCHDOG=1");
                    }
                    continue;
                }
                failures += 1;
                let what = match (refresh_ok, http_ok) {
                    (false, false) => "the refresh loop is stuck and our listener does not answer",
                    (false, true) => "the refresh loop is stuck",
                    _ => "our listener does not answer on loopback",
                };
                log::warn!("self-check failed ({failures}/{MAX_FAILED_CHECKS}): {what}");
                if failures >= MAX_FAILED_CHECKS {
                    let _ = events.send(Event::Fatal(format!(
                        "self-check failed {failures} times: {what}"
                    )));
                    return;
                }
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_reaches_a_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        // The environment is process-wide; this test is the only one touching NOTIFY_SOCKET.
        unsafe { std::env::set_var("NOTIFY_SOCKET", &path) };
        assert!(notify("READY=1"));
        unsafe { std::env::remove_var("NOTIFY_SOCKET") };
        let mut buf = [0u8; 32];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }

    #[test]
    fn probe_fails_on_a_closed_port() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        assert!(!probe(addr, Duration::from_millis(200)));
    }
}
