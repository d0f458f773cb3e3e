//! The route table and the request → reply step.
//!
//! A handler gets the parsed request and the current snapshot and returns a [`Reply`]; it
//! does no I/O (the exceptions, log streams and downloads, return a [`Reply::Stream`] that
//! the connection runs afterwards). Handlers run inside a panic guard on the connection's
//! thread.

use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use serde_json::json;

use super::query::Query;
use crate::refresh::Heartbeat;
use crate::snapshot::{Body, Snapshot, SnapshotCell};

/// What a handler knows about a request. Never echoed into headers.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub method: String,
    /// The path exactly as sent (still percent-encoded).
    pub path: String,
    pub query: Query,
    pub if_none_match: Option<String>,
    /// True when the client takes gzip (`Accept-Encoding`).
    pub accepts_gzip: bool,
    /// `Last-Event-ID`, when an event stream reconnects.
    pub last_event_id: Option<String>,
}

/// A handler's answer.
pub enum Reply {
    /// A body from the snapshot (ETag and 304 handled by the connection).
    Shared(Arc<Body>),
    /// A body made for this request (errors).
    Owned(Body),
    /// A streaming response: the closure gets the raw connection writer, runs on the
    /// connection's thread, writes the status line and headers itself, and the connection
    /// is closed when it returns.
    Stream(Box<dyn FnOnce(Box<dyn Write + Send>) + Send>),
}

/// Shared state handlers may read; nothing here blocks.
pub struct HttpContext {
    pub heartbeat: Arc<Heartbeat>,
    /// Set when shutdown begins; streams end when they see it.
    pub stopping: Arc<AtomicBool>,
    /// The snapshot cell, for streams that need newer data while they run.
    pub cell: Arc<SnapshotCell>,
}

impl HttpContext {
    /// A context with a fresh stop flag.
    pub fn new(heartbeat: Arc<Heartbeat>, cell: Arc<SnapshotCell>) -> HttpContext {
        HttpContext {
            heartbeat,
            stopping: Arc::new(AtomicBool::new(false)),
            cell,
        }
    }
}

/// A request handler. A feature's handler may hold what only it needs (the log routes
/// hold their stream gates); everything else comes from the snapshot and the context.
pub type Handler = Box<dyn Fn(&RequestInfo, &Snapshot, &HttpContext) -> Reply + Send + Sync>;

/// One route: an exact path, or a prefix when `prefix` is true (e.g. `/logs/download/`).
pub struct Route {
    pub path: &'static str,
    pub prefix: bool,
    pub handler: Handler,
}

impl Route {
    /// A route for exactly `path`.
    pub fn exact<F>(path: &'static str, handler: F) -> Route
    where
        F: Fn(&RequestInfo, &Snapshot, &HttpContext) -> Reply + Send + Sync + 'static,
    {
        Route {
            path,
            prefix: false,
            handler: Box::new(handler),
        }
    }

    /// A route for every path that starts with `path`.
    pub fn prefix<F>(path: &'static str, handler: F) -> Route
    where
        F: Fn(&RequestInfo, &Snapshot, &HttpContext) -> Reply + Send + Sync + 'static,
    {
        Route {
            path,
            prefix: true,
            handler: Box::new(handler),
        }
    }
}

/// Serves the body stored under the request's path, or a 503 saying it is not built yet.
pub fn from_snapshot(req: &RequestInfo, snap: &Snapshot, _ctx: &HttpContext) -> Reply {
    serve_key(snap, &req.path)
}

/// Serves the body stored under `key` (a route key built from a validated query), or a
/// 503 saying it is not built yet.
pub fn serve_key(snap: &Snapshot, key: &str) -> Reply {
    match snap.get(key) {
        Some(b) => Reply::Shared(Arc::clone(b)),
        None => not_ready(key),
    }
}

/// A 503 for a route whose body the refresh thread has not built (yet).
pub fn not_ready(what: &str) -> Reply {
    Reply::Owned(Body::error(
        503,
        "not available yet: the refresh thread has not produced this data",
        json!({"route": what}),
    ))
}

/// Picks the route for `req`, or answers 404/405.
pub fn dispatch(routes: &[Route], req: &RequestInfo, snap: &Snapshot, ctx: &HttpContext) -> Reply {
    let route = routes.iter().find(|r| {
        if r.prefix {
            req.path.starts_with(r.path)
        } else {
            req.path == r.path
        }
    });
    let Some(route) = route else {
        let mut paths: Vec<String> = routes
            .iter()
            .map(|r| {
                if r.prefix {
                    format!("{}<name>", r.path)
                } else {
                    r.path.to_string()
                }
            })
            .collect();
        paths.sort();
        return Reply::Owned(Body::error(
            404,
            "no such route",
            json!({"path": req.path, "routes": paths}),
        ));
    };
    if req.method != "GET" && req.method != "HEAD" {
        return Reply::Owned(
            Body::error(
                405,
                "method not allowed; use GET or HEAD",
                json!({"allowed": ["GET", "HEAD"]}),
            )
            .with_header("Allow", "GET, HEAD"),
        );
    }
    (route.handler)(req, snap, ctx)
}
