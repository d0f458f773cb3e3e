//! `GET /events`: the dashboard document pushed as Server-Sent Events.
//!
//! On connect the stream sends `retry:`, a `clock` event (the server's time, for the
//! page's clock offset: an `EventSource` shows no `Date` header) and the whole document
//! (`event: document`, the document's ETag as its `id`), unless `Last-Event-ID` already
//! names the current document. Afterwards it waits on the snapshot's change notice (no
//! polling: it wakes only when the document changed, for its heartbeat, or at shutdown)
//! and sends each top-level section that changed (`event: section`, data
//! `{"name", "etag", "value"}`, `id` the new document's ETag), a comment heartbeat after
//! [`HEARTBEAT`] of silence, and `event: end` when the server stops. When the client takes
//! gzip, the stream is one gzip stream, flushed after each event (so repeated text across
//! events costs almost nothing). Streams run on their
//! connection's thread and are capped (`web_server.max_event_streams`); one more gets a
//! 503 and the page polls instead.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::json;

use super::{DASHBOARD, SECTION_PREFIX};
use crate::clock;
use crate::http::routes::{HttpContext, Reply, RequestInfo, Route};
use crate::snapshot::watch::Wait;
use crate::snapshot::{Body, Snapshot, SnapshotCell};

pub const EVENTS: &str = "/events";
/// A comment is sent after this long without an event.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// The reconnection delay suggested to clients, in ms.
pub const RETRY_MS: u64 = 3000;

/// The `/events` route, with at most `max_streams` streams open at once.
pub fn route(max_streams: usize) -> Route {
    let open = Arc::new(AtomicUsize::new(0));
    Route::exact(
        EVENTS,
        move |req: &RequestInfo, _: &Snapshot, ctx: &HttpContext| {
            let Some(slot) = Slot::take(&open, max_streams) else {
                return Reply::Owned(
                    Body::error(
                        503,
                        "too many event streams are open; poll /api/dashboard instead",
                        json!({"max_event_streams": max_streams}),
                    )
                    .with_header("Retry-After", "30"),
                );
            };
            let cell = Arc::clone(&ctx.cell);
            let head_only = req.method == "HEAD";
            let last_id = req.last_event_id.clone();
            let gzip = req.accepts_gzip;
            Reply::Stream(Box::new(move |w| {
                let _slot = slot;
                run(w, &cell, head_only, gzip, last_id.as_deref());
            }))
        },
    )
}

/// One open stream's place under the cap; given back when dropped.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(open: &Arc<AtomicUsize>, max: usize) -> Option<Slot> {
        open.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n < max).then_some(n + 1)
        })
        .ok()
        .map(|_| Slot(Arc::clone(open)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Sse {
    w: Box<dyn Write + Send>,
    last_write: Instant,
}

impl Sse {
    /// Writes `parts` as one piece; false when the client went away.
    fn send(&mut self, parts: &[&[u8]]) -> bool {
        self.last_write = Instant::now();
        parts.iter().all(|p| self.w.write_all(p).is_ok()) && self.w.flush().is_ok()
    }
}

/// The document's body and the ETag of each section, from one snapshot.
fn sections(snap: &Snapshot) -> HashMap<String, Arc<Body>> {
    snap.bodies
        .iter()
        .filter_map(|(k, b)| Some((k.strip_prefix(SECTION_PREFIX)?.to_string(), Arc::clone(b))))
        .collect()
}

/// Sends the whole dashboard document, with its ETag as the event id.
fn send_document(sse: &mut Sse, doc: &Body) -> bool {
    let id = format!("event: document\nid: {}\ndata: ", doc.etag);
    sse.send(&[id.as_bytes(), &doc.bytes, b"\n\n"])
}

fn run(
    mut w: Box<dyn Write + Send>,
    cell: &SnapshotCell,
    head_only: bool,
    gzip: bool,
    last_id: Option<&str>,
) {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n\
         Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n\
         X-Content-Type-Options: nosniff\r\nVary: Accept-Encoding\r\n{}\
         Connection: close\r\n\r\n",
        if gzip {
            "Content-Encoding: gzip\r\n"
        } else {
            ""
        }
    );
    if w.write_all(head.as_bytes())
        .and_then(|_| w.flush())
        .is_err()
        || head_only
    {
        return;
    }
    // One gzip stream for the whole connection, flushed after each event: a section that
    // differs from what was sent before in a few numbers costs a few bytes.
    let w: Box<dyn Write + Send> = if gzip {
        Box::new(GzEncoder::new(w, Compression::default()))
    } else {
        w
    };
    let mut sse = Sse {
        w,
        last_write: Instant::now(),
    };
    let clock = format!(
        "retry: {RETRY_MS}\n\nevent: clock\ndata: \"{}\"\n\n",
        clock::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    if !sse.send(&[clock.as_bytes()]) {
        return;
    }
    let changes = cell.changes();
    let mut seen = changes.seq();
    let snap = cell.load();
    let mut sent_doc = snap.get(DASHBOARD).map(|b| b.etag.clone());
    let mut sent = sections(&snap);
    if let Some(doc) = snap.get(DASHBOARD) {
        if last_id != Some(doc.etag.as_str()) && !send_document(&mut sse, doc) {
            return;
        }
    }
    loop {
        let left = HEARTBEAT.saturating_sub(sse.last_write.elapsed());
        match changes.wait(seen, left) {
            Wait::Closed => {
                sse.send(&[b"event: end\ndata: {\"reason\":\"the server is stopping\"}\n\n"]);
                return;
            }
            Wait::TimedOut => {
                if sse.last_write.elapsed() >= HEARTBEAT && !sse.send(&[b": heartbeat\n\n"]) {
                    return;
                }
            }
            Wait::Changed(seq) => {
                seen = seq;
                let snap = cell.load();
                let Some(doc) = snap.get(DASHBOARD) else {
                    continue;
                };
                if sent_doc.as_deref() == Some(doc.etag.as_str()) {
                    continue;
                }
                let now = sections(&snap);
                if sent_doc.is_none() {
                    // The document did not exist when the stream opened: the client has
                    // nothing to apply sections to, so it gets the whole document first.
                    if !send_document(&mut sse, doc) {
                        return;
                    }
                    sent = now;
                    sent_doc = Some(doc.etag.clone());
                    continue;
                }
                for (name, body) in &now {
                    if sent.get(name).is_some_and(|b| b.etag == body.etag) {
                        continue;
                    }
                    let open = format!(
                        "event: section\nid: {}\ndata: {{\"name\":{},\"etag\":{},\"value\":",
                        doc.etag,
                        json!(name),
                        json!(body.etag)
                    );
                    if !sse.send(&[open.as_bytes(), &body.bytes, b"}\n\n"]) {
                        return;
                    }
                }
                sent = now;
                sent_doc = Some(doc.etag.clone());
            }
        }
    }
}
