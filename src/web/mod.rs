//! The browser dashboard: the embedded page (`/`, `/app.js`, `/app.css`) and
//! `/api/dashboard`, everything the first paint needs in one JSON document.
//!
//! The page is plain HTML, CSS and JavaScript compiled into the binary (no CDN, no build
//! step), served with a Content-Security-Policy that allows scripts and styles from this
//! origin only. `/api/dashboard` is composed by the refresh thread out of the bodies the
//! other renderers built (status, current state, prices, metrics, decisions, history, month
//! summary), each read into its typed part ([`dto`]: only the fields the page reads) when
//! that body changed, so it agrees with them value for value; fields that change every
//! second (ages) are not parts, so an unchanged poll is a 304. The document is written as
//! its sections' bytes side by side, and its gzip variant as their compressed pieces. The page computes ages itself from the timestamps. The
//! document also says whether this is the demo (`demo`) and which log names `/logs`
//! accepts (`log_selectors`, from [`crate::logs::SELECTORS`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::Datelike;
use serde_json::{json, Map, Value};

use crate::api::coordinator::render as cdb;
use crate::api::prices::render as prices;
use crate::clock;
use crate::config::Config;
use crate::http::routes::{from_snapshot, HttpContext, Reply, RequestInfo, Route};
use crate::refresh::Composer;
use crate::snapshot::{route_key, Body, Piece, Snapshot};
use crate::sources::store::{Sources, View};

pub mod dto;
pub mod events;

pub const DASHBOARD: &str = "/api/dashboard";
/// The status part of the dashboard, rendered by the status renderer; not routed.
pub const DASHBOARD_STATUS: &str = "/internal/dashboard-status";
/// Each top-level field of the dashboard document is also published on its own, under
/// this prefix and its name (not routed; `/events` sends the ones that changed).
pub const SECTION_PREFIX: &str = "/internal/dashboard/";

const INDEX_HTML: &str = include_str!("index.html");
const APP_JS: &str = include_str!("app.js");
const APP_CSS: &str = include_str!("app.css");

/// Scripts, styles, images and connections from this origin only; no inline script.
pub const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, text: &str) -> Body {
    Body::new(200, content_type, text.as_bytes().to_vec())
        .with_header("Content-Security-Policy", CSP)
        .with_header("X-Frame-Options", "DENY")
        .with_header("Referrer-Policy", "no-referrer")
}

/// A handler serving one embedded file, compressed once here (when the routes are built,
/// never on a connection's thread).
fn embedded(
    content_type: &'static str,
    text: &str,
) -> impl Fn(&RequestInfo, &Snapshot, &HttpContext) -> Reply + Send + Sync + 'static {
    let body = Arc::new(asset(content_type, text).compressed());
    move |_: &RequestInfo, _: &Snapshot, _: &HttpContext| Reply::Shared(Arc::clone(&body))
}

/// The page's routes.
pub fn routes() -> Vec<Route> {
    vec![
        Route::exact("/", embedded("text/html; charset=utf-8", INDEX_HTML)),
        Route::exact(
            "/app.js",
            embedded("text/javascript; charset=utf-8", APP_JS),
        ),
        Route::exact("/app.css", embedded("text/css; charset=utf-8", APP_CSS)),
        Route::exact(DASHBOARD, from_snapshot),
    ]
}

/// Composes `/api/dashboard`.
pub struct Dashboard {
    poll_seconds: u64,
    demo: bool,
    /// Each part as last composed, by name.
    composed: HashMap<&'static str, Part>,
}

/// Fields of an error body that move with the clock (the time of the answer, countdowns,
/// instants computed from them, ages); the document's `unavailable` details leave them out
/// so that they do not change it.
const TICKING: &[&str] = &[
    "as_of",
    "next_attempt",
    "next_attempt_in_s",
    "data_age_s",
    "age_s",
];

/// Reads a body into its typed part ([`dto`]).
type PartReader = fn(&[u8]) -> Result<Value, String>;

impl Dashboard {
    pub fn new(config: &Config) -> Dashboard {
        Dashboard {
            poll_seconds: config.web.dashboard_poll.as_secs(),
            demo: config.demo,
            composed: HashMap::new(),
        }
    }

    /// (part name, route key, reader) for the current Warsaw month.
    fn parts(&self, view: &View) -> Vec<(&'static str, String, PartReader)> {
        let today = clock::local_date(view.now);
        let (y, m) = (today.year(), today.month());
        let (py, pm) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
        vec![
            (
                "status",
                DASHBOARD_STATUS.to_string(),
                dto::part::<dto::Status>,
            ),
            (
                "current_state",
                cdb::CURRENT_STATE_STABLE.to_string(),
                dto::part::<dto::CurrentState>,
            ),
            (
                "prices",
                prices::ROUTE.to_string(),
                dto::part::<dto::Prices>,
            ),
            (
                "metrics",
                cdb::METRICS.to_string(),
                dto::part::<dto::Metrics>,
            ),
            (
                "decisions",
                route_key(cdb::DECISIONS, &[("time_range", "24h")]),
                dto::part::<dto::Decisions>,
            ),
            (
                "history",
                cdb::HISTORICAL.to_string(),
                dto::part::<dto::History>,
            ),
            (
                "month",
                route_key(
                    cdb::MONTHLY_SUMMARY,
                    &[("year", &y.to_string()), ("month", &m.to_string())],
                ),
                dto::part::<dto::Month>,
            ),
            (
                "comparison",
                route_key(
                    cdb::MONTHLY_COMPARISON,
                    &[("year", &py.to_string()), ("month", &pm.to_string())],
                ),
                dto::part::<dto::Comparison>,
            ),
        ]
    }
}

/// One part as last composed: the body it was read from (status and ETag), its section's
/// bytes and their compressed piece of the document's gzip variant, and why it is
/// unavailable, if it is.
struct Part {
    input: Option<(u16, String)>,
    bytes: Vec<u8>,
    piece: Piece,
    unavailable: Option<Value>,
}

impl Part {
    /// Reads the body under `key` (or its absence) into the dashboard's part `name`.
    fn read(name: &str, key: &str, body: Option<&Arc<Body>>, read: PartReader) -> Part {
        let (value, unavailable) = match body {
            Some(b) if b.status == 200 => match read(&b.bytes) {
                Ok(v) => (v, None),
                Err(e) => {
                    log::warn!("dashboard: {key} does not fit the dashboard's {name}: {e}");
                    let why = json!({"status": 200, "reason": format!("{key} does not fit the dashboard: {e}")});
                    (Value::Null, Some(why))
                }
            },
            Some(b) => {
                let mut detail: Value = serde_json::from_slice(&b.bytes).unwrap_or(Value::Null);
                if let Some(d) = detail.as_object_mut() {
                    d.retain(|k, _| !TICKING.contains(&k.as_str()));
                }
                let reason = detail
                    .get("error")
                    .cloned()
                    .unwrap_or(json!(format!("HTTP {}", b.status)));
                let why = json!({"status": b.status, "reason": reason, "detail": detail});
                (Value::Null, Some(why))
            }
            None => {
                let why = json!({"status": null, "reason": "not available in this build or not produced yet"});
                (Value::Null, Some(why))
            }
        };
        let bytes = json_bytes(&value);
        Part {
            input: body.map(|b| (b.status, b.etag.clone())),
            piece: Piece::compress(&bytes),
            bytes,
            unavailable,
        }
    }
}

fn json_bytes(value: &Value) -> Vec<u8> {
    crate::snapshot::to_json_vec(value).unwrap_or_else(|_| b"null".to_vec())
}

impl Composer<Sources> for Dashboard {
    fn inputs(&self, view: &View) -> Vec<String> {
        self.parts(view)
            .into_iter()
            .map(|(_, key, _)| key)
            .collect()
    }

    /// Reads only the parts whose body changed since the last run (each part keeps its
    /// section's bytes and their compressed piece), and writes the document as the
    /// sections' bytes side by side: the same bytes a serializer would write for the whole
    /// object. Its gzip variant is the pieces side by side, so a change compresses only
    /// the section that changed.
    fn compose(&mut self, bodies: &HashMap<String, Arc<Body>>, view: &View) -> Vec<(String, Body)> {
        let mut unavailable = Map::new();
        let mut kept = HashMap::new();
        for (name, key, read) in self.parts(view) {
            let body = bodies.get(&key);
            let input = body.map(|b| (b.status, b.etag.clone()));
            let part = match self.composed.remove(name) {
                Some(p) if p.input == input => p,
                _ => Part::read(name, &key, body, read),
            };
            if let Some(why) = &part.unavailable {
                unavailable.insert(name.to_string(), why.clone());
            }
            kept.insert(name, part);
        }
        self.composed = kept;
        // The small sections, stored as they are in the gzip variant.
        let mut small: BTreeMap<&'static str, Vec<u8>> = BTreeMap::new();
        small.insert("unavailable", json_bytes(&Value::Object(unavailable)));
        small.insert("poll_seconds", json_bytes(&json!(self.poll_seconds)));
        small.insert("version", json_bytes(&json!(env!("CARGO_PKG_VERSION"))));
        small.insert("demo", json_bytes(&json!(self.demo)));
        small.insert(
            "log_selectors",
            json_bytes(&json!(crate::logs::selector_names().collect::<Vec<_>>())),
        );
        let mut names: Vec<&'static str> =
            self.composed.keys().chain(small.keys()).copied().collect();
        names.sort_unstable();
        let mut doc = Vec::new();
        let mut glue: Vec<Piece> = Vec::new();
        let mut order: Vec<(usize, Option<&'static str>)> = Vec::new();
        let mut out = Vec::with_capacity(names.len() + 1);
        for (i, name) in names.iter().enumerate() {
            let open = format!("{}{}:", if i == 0 { "{" } else { "," }, json!(name));
            let bytes = match self.composed.get(name) {
                Some(part) => &part.bytes,
                None => &small[name],
            };
            doc.extend_from_slice(open.as_bytes());
            doc.extend_from_slice(bytes);
            match self.composed.get(name) {
                Some(_) => {
                    glue.push(Piece::stored(open.as_bytes()));
                    order.push((glue.len() - 1, Some(name)));
                }
                None => {
                    glue.push(Piece::stored(&[open.as_bytes(), bytes].concat()));
                    order.push((glue.len() - 1, None));
                }
            }
            out.push((
                format!("{SECTION_PREFIX}{name}"),
                Body::new(200, crate::snapshot::JSON, bytes.clone()),
            ));
        }
        doc.push(b'}');
        glue.push(Piece::stored(b"}"));
        let mut pieces: Vec<&Piece> = Vec::with_capacity(2 * order.len() + 1);
        for (g, part) in &order {
            pieces.push(&glue[*g]);
            if let Some(p) = part.and_then(|n| self.composed.get(n)) {
                pieces.push(&p.piece);
            }
        }
        pieces.extend(glue.last());
        out.push((
            DASHBOARD.to_string(),
            Body::new(200, crate::snapshot::JSON, doc).with_pieces(&pieces),
        ));
        out
    }
}
