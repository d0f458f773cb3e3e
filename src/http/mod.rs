//! The HTTP/1.1 server: start and stop, and what its parts share.
//!
//! Synchronous, on std threads: one acceptor thread ([`accept`]) and one thread per open
//! connection ([`conn`]), started on demand up to `web_server.max_connections`. Request heads
//! are parsed by `httparse` under our limits ([`head`]); handlers ([`routes`]) answer from the
//! snapshot; responses are written from the shared bytes ([`respond`]). Every wait has a
//! deadline: the head, the idle time between requests, the whole response. Stopping closes
//! idle connections at once and waits (bounded) for the busy ones to finish their answer.

pub mod accept;
pub mod conn;
pub mod encoding;
pub mod head;
pub mod host;
pub mod query;
pub mod respond;
pub mod routes;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::snapshot::SnapshotCell;
use accept::Registry;
use routes::{HttpContext, Route};

/// The listen backlog: connections the kernel queues before we accept them.
const BACKLOG: i32 = 1024;

/// Binds the listening socket (address reuse, so that a restart does not wait out
/// TIME_WAIT).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// The server's limits, from `web_server.*`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub max_connections: usize,
    /// The whole request head must arrive within this time of its first byte.
    pub header_timeout: Duration,
    /// An open connection with no request in progress is closed after this long.
    pub keep_alive: Duration,
    /// The whole response (not a stream) must be taken by the client within this time.
    pub write_timeout: Duration,
    pub hosts: host::HostPolicy,
}

/// The address to probe ourselves at: loopback when listening on all interfaces.
pub fn probe_addr(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// What the acceptor and every connection thread share.
pub struct Shared {
    pub settings: Settings,
    pub registry: Registry,
    pub cell: Arc<SnapshotCell>,
    pub ctx: Arc<HttpContext>,
    pub routes: Arc<Vec<Route>>,
}

impl Shared {
    pub fn stopping(&self) -> bool {
        self.ctx.stopping.load(Ordering::SeqCst)
    }
}

/// The running server.
pub struct HttpServer {
    shared: Arc<Shared>,
    acceptor: JoinHandle<()>,
    pub addr: SocketAddr,
}

/// Starts the acceptor on `listener`.
pub fn start(
    listener: TcpListener,
    settings: Settings,
    cell: Arc<SnapshotCell>,
    ctx: Arc<HttpContext>,
    routes: Arc<Vec<Route>>,
) -> std::io::Result<HttpServer> {
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        settings,
        registry: Registry::default(),
        cell,
        ctx,
        routes,
    });
    let acceptor = {
        let shared = Arc::clone(&shared);
        thread::Builder::new()
            .name("http-accept".into())
            .spawn(move || accept::run(listener, &shared))?
    };
    Ok(HttpServer {
        shared,
        acceptor,
        addr,
    })
}

impl HttpServer {
    /// Open connections right now (streams included).
    pub fn open_connections(&self) -> usize {
        self.shared.registry.len()
    }

    /// Stops serving: no new connections; connections already accepted get answers to the
    /// requests they sent, idle ones are closed at once, streams end with their end event.
    /// Returns when every connection is closed or `deadline` has passed.
    pub fn stop(self, deadline: Duration) {
        let until = Instant::now() + deadline;
        self.shared.ctx.stopping.store(true, Ordering::SeqCst);
        // Streams waiting for a change wake up and end.
        self.shared.cell.changes().close();
        // Wake the acceptor out of accept(): it then takes what is queued and leaves.
        let _ = TcpStream::connect_timeout(&probe_addr(self.addr), Duration::from_millis(100));
        while !self.acceptor.is_finished() && Instant::now() < until {
            thread::sleep(Duration::from_millis(1));
        }
        if self.acceptor.is_finished() {
            let _ = self.acceptor.join();
        }
        self.shared.registry.close_idle();
        if !self.shared.registry.wait_empty(until) {
            log::warn!(
                "{} connections still open at the stop deadline; closing them",
                self.shared.registry.len()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refresh::Heartbeat;
    use crate::snapshot::Body;
    use routes::{Reply, RequestInfo};
    use std::io::{Read, Write};

    fn panics(_: &RequestInfo, _: &crate::snapshot::Snapshot, _: &HttpContext) -> Reply {
        panic!("handler bug")
    }

    fn ok(_: &RequestInfo, _: &crate::snapshot::Snapshot, _: &HttpContext) -> Reply {
        Reply::Owned(Body::json(200, &serde_json::json!({"ok": true})))
    }

    fn server_with(routes: Vec<Route>, max_connections: usize) -> HttpServer {
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let ctx = Arc::new(HttpContext::new(
            Arc::new(Heartbeat::new(Duration::from_secs(5))),
            Arc::default(),
        ));
        let settings = Settings {
            max_connections,
            header_timeout: Duration::from_secs(5),
            keep_alive: Duration::from_secs(5),
            write_timeout: Duration::from_secs(5),
            hosts: host::HostPolicy::new(IpAddr::V4(Ipv4Addr::LOCALHOST), &[]),
        };
        start(
            listener,
            settings,
            Arc::new(SnapshotCell::default()),
            ctx,
            Arc::new(routes),
        )
        .unwrap()
    }

    #[test]
    fn probe_targets_loopback_for_wildcards() {
        assert_eq!(
            probe_addr("0.0.0.0:80".parse().unwrap()),
            "127.0.0.1:80".parse().unwrap()
        );
        assert_eq!(
            probe_addr("[::]:80".parse().unwrap()),
            "[::1]:80".parse().unwrap()
        );
        assert_eq!(
            probe_addr("192.0.2.1:80".parse().unwrap()),
            "192.0.2.1:80".parse().unwrap()
        );
    }

    #[test]
    fn a_panicking_handler_answers_500_and_the_connection_lives_on() {
        let routes = vec![Route::exact("/panic", panics), Route::exact("/ok", ok)];
        let server = server_with(routes, 1);
        // One connection, several requests: the panic neither kills its thread nor closes it.
        let mut s = TcpStream::connect(server.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        for _ in 0..3 {
            s.write_all(b"GET /panic HTTP/1.1\r\nHost: localhost\r\n\r\nGET /ok HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .unwrap();
        }
        s.write_all(b"GET /ok HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert_eq!(out.matches("HTTP/1.1 500").count(), 3, "{out}");
        assert_eq!(out.matches("HTTP/1.1 200").count(), 4, "{out}");
        assert!(out.contains("\"error\""), "{out}");
        server.stop(Duration::from_secs(1));
    }

    #[test]
    fn stop_closes_idle_connections_at_once() {
        let server = server_with(Vec::new(), 256);
        let idle: Vec<TcpStream> = (0..20)
            .map(|_| TcpStream::connect(server.addr).unwrap())
            .collect();
        let t = Instant::now();
        while server.open_connections() < 20 && t.elapsed() < Duration::from_secs(5) {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(server.open_connections(), 20);
        let t = Instant::now();
        server.stop(Duration::from_secs(3));
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
        for mut s in idle {
            s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
            let mut b = [0u8; 16];
            assert_eq!(s.read(&mut b).unwrap(), 0, "idle connection not closed");
        }
    }
}
