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
use crate::logs;
use crate::refresh::Heartbeat;
use crate::snapshot::{Body, Snapshot};
use crate::sources::coordinator_db as cdb;
use crate::status;

/// What a handler knows about a request. Never echoed into headers.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub method: String,
    /// The path exactly as sent (still percent-encoded).
    pub path: String,
    pub query: Query,
    pub if_none_match: Option<String>,
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
    pub cell: Arc<crate::snapshot::SnapshotCell>,
    /// Log settings and the caps on followers and downloads.
    pub logs: Arc<crate::logs::LogsHub>,
}

impl HttpContext {
    /// A context for `config`, with a fresh stop flag.
    pub fn new(
        heartbeat: Arc<Heartbeat>,
        cell: Arc<crate::snapshot::SnapshotCell>,
        config: &crate::config::Config,
    ) -> HttpContext {
        HttpContext {
            heartbeat,
            stopping: Arc::new(AtomicBool::new(false)),
            cell,
            logs: crate::logs::LogsHub::new(crate::logs::LogsSettings::from_config(config)),
        }
    }
}

pub type Handler = fn(&RequestInfo, &Snapshot, &HttpContext) -> Reply;

/// One route: an exact path, or a prefix when `prefix` is true (e.g. `/logs/download/`).
pub struct Route {
    pub path: &'static str,
    pub prefix: bool,
    pub handler: Handler,
}

/// Every route served. Later sources add theirs here.
pub fn table() -> Vec<Route> {
    let mut routes = vec![
        Route {
            path: status::HEALTH,
            prefix: false,
            handler: from_snapshot,
        },
        Route {
            path: status::STATUS,
            prefix: false,
            handler: status_route,
        },
        Route {
            path: logs::api::LOGS,
            prefix: false,
            handler: logs::api::logs_route,
        },
        Route {
            path: logs::api::FILES,
            prefix: false,
            handler: logs::api::files_route,
        },
        Route {
            path: logs::api::DOWNLOAD,
            prefix: true,
            handler: logs::api::download_route,
        },
        Route {
            path: cdb::render::CURRENT_STATE,
            prefix: false,
            handler: from_snapshot,
        },
        Route {
            path: cdb::render::DECISIONS,
            prefix: false,
            handler: cdb::handlers::decisions,
        },
        Route {
            path: cdb::render::METRICS,
            prefix: false,
            handler: from_snapshot,
        },
        Route {
            path: cdb::render::MONTHLY_SUMMARY,
            prefix: false,
            handler: cdb::handlers::monthly_summary,
        },
        Route {
            path: cdb::render::MONTHLY_COMPARISON,
            prefix: false,
            handler: cdb::handlers::monthly_comparison,
        },
        Route {
            path: cdb::render::HISTORICAL,
            prefix: false,
            handler: cdb::handlers::historical,
        },
        Route {
            path: crate::sources::prices::ROUTE,
            prefix: false,
            handler: crate::sources::prices::handle,
        },
        Route {
            path: crate::prometheus::ROUTE,
            prefix: false,
            handler: from_snapshot,
        },
    ];
    routes.extend(crate::web::routes());
    routes
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

fn status_route(req: &RequestInfo, snap: &Snapshot, ctx: &HttpContext) -> Reply {
    if !ctx.heartbeat.is_alive() {
        return Reply::Owned(status::dead_refresh_body(&ctx.heartbeat));
    }
    from_snapshot(req, snap, ctx)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn info(path: &str, method: &str) -> RequestInfo {
        RequestInfo {
            method: method.into(),
            path: path.into(),
            query: Query::default(),
            if_none_match: None,
        }
    }

    fn snapshot_with_status() -> Snapshot {
        let mut s = Snapshot::default();
        s.bodies.insert(
            status::STATUS.into(),
            Arc::new(Body::json(200, &json!({"status": "running"}))),
        );
        s
    }

    fn context(heartbeat: Heartbeat) -> HttpContext {
        let dir = tempfile::tempdir().unwrap();
        let config = crate::config::Config::parse("", &dir.path().join("c.yaml")).unwrap();
        HttpContext::new(Arc::new(heartbeat), Arc::default(), &config)
    }

    fn status_of(reply: Reply) -> u16 {
        match reply {
            Reply::Shared(b) => b.status,
            Reply::Owned(b) => b.status,
            Reply::Stream(_) => 0,
        }
    }

    #[test]
    fn status_is_503_only_when_the_refresh_thread_is_silent() {
        let alive = context(Heartbeat::new(Duration::from_secs(60)));
        let snap = snapshot_with_status();
        assert_eq!(
            status_of(dispatch(&table(), &info("/status", "GET"), &snap, &alive)),
            200
        );
        let silent = context(Heartbeat::new(Duration::from_millis(1)));
        std::thread::sleep(Duration::from_millis(20));
        let reply = dispatch(&table(), &info("/status", "GET"), &snap, &silent);
        match reply {
            Reply::Owned(b) => {
                assert_eq!(b.status, 503);
                let v: serde_json::Value = serde_json::from_slice(&b.bytes).unwrap();
                assert_eq!(v["background_worker"]["health"], "failed");
                assert!(v["error"].as_str().unwrap().contains("no progress"));
            }
            _ => panic!("expected an owned 503 body"),
        }
    }

    #[test]
    fn unknown_paths_and_methods() {
        let ctx = context(Heartbeat::new(Duration::from_secs(60)));
        let snap = snapshot_with_status();
        assert_eq!(
            status_of(dispatch(&table(), &info("/nope", "GET"), &snap, &ctx)),
            404
        );
        assert_eq!(
            status_of(dispatch(&table(), &info("/status", "DELETE"), &snap, &ctx)),
            405
        );
        // A known route whose body is not built yet says so, with a 503.
        assert_eq!(
            status_of(dispatch(&table(), &info("/health", "GET"), &snap, &ctx)),
            503
        );
    }
}
