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
    // The snapshot is held only while an event is written: a stream that kept one would
    // keep every body of it (30 days of decisions) alive for as long as the page is open.
    let (mut sent_doc, mut sent) = {
        let snap = cell.load();
        if let Some(doc) = snap.get(DASHBOARD) {
            if last_id != Some(doc.etag.as_str()) && !send_document(&mut sse, doc) {
                return;
            }
        }
        (snap.get(DASHBOARD).map(|b| b.etag.clone()), sections(&snap))
    };
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

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;

    /// What the stream wrote, readable while it runs.
    #[derive(Clone, Default)]
    struct Wire(Arc<Mutex<Vec<u8>>>);

    impl Write for Wire {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn snapshot(generation: u64, doc: &str) -> Snapshot {
        let mut bodies = HashMap::new();
        let body = Body::new(200, "application/json", doc.as_bytes().to_vec());
        bodies.insert(DASHBOARD.to_string(), Arc::new(body));
        let section = Body::new(200, "application/json", doc.as_bytes().to_vec());
        bodies.insert(format!("{SECTION_PREFIX}a"), Arc::new(section));
        let big = Body::new(200, "application/json", vec![b' '; 1 << 20]);
        bodies.insert("/decisions?time_range=30d".to_string(), Arc::new(big));
        Snapshot {
            built_at: None,
            generation,
            bodies,
        }
    }

    fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let until = Instant::now() + Duration::from_secs(5);
        while !done() {
            assert!(Instant::now() < until, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn an_open_stream_holds_no_snapshot_between_events() {
        let cell = Arc::new(SnapshotCell::new(snapshot(1, "{\"a\":1}")));
        cell.changes().watch(DASHBOARD);
        let first = Arc::downgrade(&cell.load());
        let wire = Wire::default();
        let stream = {
            let (cell, wire) = (Arc::clone(&cell), wire.clone());
            std::thread::spawn(move || run(Box::new(wire), &cell, false, false, None))
        };
        let text = || String::from_utf8_lossy(&wire.0.lock()).into_owned();
        wait_for("the document", || text().contains("event: document"));
        // A new snapshot: the one the stream opened with is gone, bodies and all.
        cell.store(snapshot(2, "{\"a\":2}"));
        wait_for("the section", || text().contains("event: section"));
        assert!(
            first.upgrade().is_none(),
            "the stream still holds the first snapshot"
        );
        cell.changes().close();
        stream.join().unwrap();
        assert!(text().contains("event: end"));
    }
}
