//! The `/prices` handler: validate `day=`, pick the pre-rendered body.

use super::render::ROUTE;
use crate::http::routes::{serve_key, HttpContext, Reply, RequestInfo, Route};
use crate::snapshot::{route_key, Snapshot};

/// The prices route.
pub fn routes() -> Vec<Route> {
    vec![Route::exact(ROUTE, handle)]
}

/// `GET /prices[?day=today|tomorrow]`: the body rendered for that key.
pub fn handle(req: &RequestInfo, snap: &Snapshot, _ctx: &HttpContext) -> Reply {
    let day = match req.query.one_of("day", &["today", "tomorrow"], "all") {
        Ok(d) => d,
        Err(bad) => return Reply::Owned(bad.body()),
    };
    let key = if day == "all" {
        ROUTE.to_string()
    } else {
        route_key(ROUTE, &[("day", day)])
    };
    serve_key(snap, &key)
}
