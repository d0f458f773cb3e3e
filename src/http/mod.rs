//! The HTTP side: the listener, the worker pool and the request loop.
//!
//! We create the listening socket ourselves (TCP_NODELAY and a send timeout set on it are
//! inherited by every accepted socket on Linux) and hand it to tiny_http. `workers` threads
//! pull parsed requests from tiny_http's queue; each one clones the current snapshot,
//! dispatches, and writes the response itself with `Connection: close` (see [`respond`]).
//! A panicking handler becomes a 500 and the worker lives on. At shutdown the workers drain
//! until quiet (see [`DRAIN_QUIET`]). An error from `recv` while
//! not stopping means tiny_http's accept thread has died: the worker reports it as fatal and
//! the daemon exits non-zero so that systemd restarts it.

pub mod query;
pub mod respond;
pub mod routes;

use std::net::{SocketAddr, TcpListener};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use socket2::{Domain, Protocol, Socket, Type};

use crate::daemon::Event;
use crate::snapshot::{Body, SnapshotCell};
use query::Query;
use routes::{HttpContext, Reply, RequestInfo, Route};

/// How long a write to a client may block before the connection is dropped (a client that
/// stops reading must not hold a worker for ever).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds the listening socket with TCP_NODELAY and a send timeout, both inherited by
/// accepted connections.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.set_write_timeout(Some(SEND_TIMEOUT))?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// The running server.
pub struct HttpServer {
    _server: Arc<tiny_http::Server>,
    workers: Vec<JoinHandle<()>>,
    stopping: Arc<AtomicBool>,
    drain_deadline: Arc<parking_lot::Mutex<Option<Instant>>>,
    pub addr: SocketAddr,
}

/// Starts `workers` worker threads serving from `cell`.
pub fn start(
    listener: TcpListener,
    workers: usize,
    cell: Arc<SnapshotCell>,
    ctx: Arc<HttpContext>,
    routes: Arc<Vec<Route>>,
    events: Sender<Event>,
) -> std::io::Result<HttpServer> {
    let addr = listener.local_addr()?;
    let server = tiny_http::Server::from_listener(listener, None)
        .map(Arc::new)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let stopping = Arc::clone(&ctx.stopping);
    let drain_deadline = Arc::new(parking_lot::Mutex::new(None));
    let mut handles = Vec::with_capacity(workers);
    for i in 0..workers {
        let server = Arc::clone(&server);
        let cell = Arc::clone(&cell);
        let ctx = Arc::clone(&ctx);
        let routes = Arc::clone(&routes);
        let events = events.clone();
        let drain = Arc::clone(&drain_deadline);
        handles.push(
            thread::Builder::new()
                .name(format!("http-{i}"))
                .spawn(move || worker(&server, &cell, &ctx, &routes, &events, &drain))?,
        );
    }
    Ok(HttpServer {
        _server: server,
        workers: handles,
        stopping,
        drain_deadline,
        addr,
    })
}

impl HttpServer {
    /// Stops serving: the workers answer every request that reaches them until no request
    /// has arrived for [`DRAIN_QUIET`] (at most `deadline` after the stop began), then exit.
    pub fn stop(self, deadline: Duration) {
        *self.drain_deadline.lock() = Some(Instant::now() + deadline);
        self.stopping.store(true, Ordering::SeqCst);
        let until = Instant::now() + deadline + POLL * 2;
        for w in self.workers {
            while !w.is_finished() && Instant::now() < until {
                thread::sleep(Duration::from_millis(2));
            }
            if w.is_finished() {
                let _ = w.join();
            }
        }
        // Dropping the server closes the listener and stops its accept thread.
    }
}

/// How often an idle worker wakes to look at the stop flag.
const POLL: Duration = Duration::from_millis(100);

/// During shutdown, a worker leaves once no request has reached it for this long.
///
/// Why not `Server::unblock`: tiny_http's task pool can park an accepted connection without
/// a thread until an earlier connection closes, so a request sent before the signal may be
/// parsed only after an unblock token was queued. Draining until quiet answers it.
pub const DRAIN_QUIET: Duration = Duration::from_millis(150);

fn worker(
    server: &tiny_http::Server,
    cell: &SnapshotCell,
    ctx: &HttpContext,
    routes: &[Route],
    events: &Sender<Event>,
    drain_deadline: &parking_lot::Mutex<Option<Instant>>,
) {
    let mut last_request = Instant::now();
    let mut stop_seen: Option<Instant> = None;
    loop {
        if stop_seen.is_none() && ctx.stopping.load(Ordering::SeqCst) {
            stop_seen = Some(Instant::now());
            last_request = Instant::now();
        }
        if stop_seen.is_some() {
            let past_deadline = drain_deadline.lock().is_some_and(|d| Instant::now() >= d);
            if past_deadline || last_request.elapsed() >= DRAIN_QUIET {
                return;
            }
        }
        match server.recv_timeout(POLL.min(DRAIN_QUIET / 3)) {
            Ok(Some(request)) => {
                handle(request, cell, ctx, routes);
                last_request = Instant::now();
            }
            Ok(None) => {}
            Err(e) => {
                if !ctx.stopping.load(Ordering::SeqCst) {
                    let _ = events.send(Event::Fatal(format!("accepting connections failed: {e}")));
                }
                return;
            }
        }
    }
}

fn request_info(request: &tiny_http::Request) -> RequestInfo {
    let url = request.url();
    let (path, raw_query) = url.split_once('?').unwrap_or((url, ""));
    let if_none_match = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("If-None-Match"))
        .map(|h| h.value.as_str().to_string());
    RequestInfo {
        method: request.method().as_str().to_ascii_uppercase(),
        path: path.to_string(),
        query: Query::parse(raw_query),
        if_none_match,
    }
}

fn handle(request: tiny_http::Request, cell: &SnapshotCell, ctx: &HttpContext, routes: &[Route]) {
    let info = request_info(&request);
    let snapshot = cell.load();
    let reply = catch_unwind(AssertUnwindSafe(|| {
        routes::dispatch(routes, &info, &snapshot, ctx)
    }))
    .unwrap_or_else(|_| {
        log::error!("handler for {} panicked; answered 500", info.path);
        Reply::Owned(Body::error(
            500,
            "internal error while answering this request",
            serde_json::json!({}),
        ))
    });
    let head_only = info.method == "HEAD";
    match reply {
        Reply::Shared(body) => write_body(request, &body, head_only, &info),
        Reply::Owned(body) => write_body(request, &body, head_only, &info),
        Reply::Stream(run) => {
            let writer = request.into_writer();
            let spawned = thread::Builder::new()
                .name("stream".into())
                .spawn(move || run(writer));
            if let Err(e) = spawned {
                log::warn!("cannot start a stream thread: {e}");
            }
        }
    }
}

fn write_body(request: tiny_http::Request, body: &Body, head_only: bool, info: &RequestInfo) {
    let not_modified = body.status == 200
        && info.if_none_match.as_deref().is_some_and(|tags| {
            tags.split(',')
                .any(|t| t.trim() == body.etag || t.trim() == "*")
        });
    let bytes = respond::encode(body, head_only, not_modified);
    let mut writer = request.into_writer();
    respond::send(&mut writer, &bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refresh::Heartbeat;
    use std::io::{Read, Write};

    fn panics(_: &RequestInfo, _: &crate::snapshot::Snapshot, _: &HttpContext) -> Reply {
        panic!("handler bug")
    }

    fn ok(_: &RequestInfo, _: &crate::snapshot::Snapshot, _: &HttpContext) -> Reply {
        Reply::Owned(Body::json(200, &serde_json::json!({"ok": true})))
    }

    fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn a_panicking_handler_answers_500_and_the_worker_lives_on() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let ctx = Arc::new(HttpContext {
            heartbeat: Arc::new(Heartbeat::new(Duration::from_secs(5))),
            stopping: Arc::new(AtomicBool::new(false)),
        });
        let routes = vec![
            Route {
                path: "/panic",
                prefix: false,
                handler: panics,
            },
            Route {
                path: "/ok",
                prefix: false,
                handler: ok,
            },
        ];
        let (events, events_rx) = crossbeam_channel::unbounded();
        // One worker: if the panic killed it, the next request would never be answered.
        let server = start(
            listener,
            1,
            Arc::new(SnapshotCell::default()),
            ctx,
            Arc::new(routes),
            events,
        )
        .unwrap();
        let addr = server.addr;
        for _ in 0..3 {
            let r = get(addr, "/panic");
            assert!(r.starts_with("HTTP/1.1 500"), "{r}");
            assert!(r.contains("\"error\""), "{r}");
            let r = get(addr, "/ok");
            assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        }
        server.stop(Duration::from_secs(1));
        assert!(events_rx.try_recv().is_err(), "a stop is not a fatal event");
    }

    #[test]
    fn accepted_sockets_inherit_nodelay_and_send_timeout() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = std::net::TcpStream::connect(addr).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        let sock = socket2::SockRef::from(&accepted);
        assert!(sock.tcp_nodelay().unwrap(), "TCP_NODELAY not inherited");
        assert_eq!(sock.write_timeout().unwrap(), Some(SEND_TIMEOUT));
    }
}
