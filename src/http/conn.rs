//! One connection's thread: read a head, answer it, and again, until the connection ends.
//!
//! - Waiting for a request, the thread blocks in `read` with the keep-alive time as its
//!   timeout (`web_server.keep_alive_seconds`); the registry can wake it at stop.
//! - From the first byte of a head, the whole head must arrive within
//!   `web_server.header_timeout_seconds` (the socket's timeout is set to the time left before
//!   each read), else `408` and close. Heads live in one 16 KiB buffer per connection.
//! - Answers are written from the snapshot's bytes within `web_server.write_timeout_seconds`
//!   for the whole response. Pipelined requests are answered in order.
//! - A refused head (400, 413, 414, 431, 505) is answered and the connection closed without
//!   reading further; so is every answer after `Connection: close`, to HTTP/1.0 without
//!   keep-alive, and while stopping. Closing shuts down our sending side first and reads
//!   (bounded) what the client still sends, so the answer is not lost to a reset.
//! - Streams (`Reply::Stream`) run here, on the connection's thread, and end the connection.

use std::io::{ErrorKind, Read};
use std::net::{Shutdown, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use super::head::{self, Parsed, MAX_HEAD, MAX_REQUEST_LINE};
use super::query::Query;
use super::respond;
use super::routes::{self, Reply, RequestInfo};
use super::Shared;
use crate::snapshot::Body;

/// Connection states, kept in the registry.
pub const IDLE: u8 = 0;
pub const BUSY: u8 = 1;
/// Being closed by stop or eviction; its thread ends at its next read.
pub const CLOSING: u8 = 2;
/// Waiting for the rest of a request head (closed at stop, never evicted).
pub const READING: u8 = 3;

/// While stopping, how long an idle connection is given to deliver a request already sent.
const STOP_GRACE: Duration = Duration::from_millis(30);
/// Closing: how long, and how many bytes, we read and drop after shutting down our side.
const LINGER: Duration = Duration::from_millis(200);
const LINGER_BYTES: usize = 256 * 1024;
/// The send timeout of one write of a stream (streams have no whole-response deadline).
const STREAM_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `stream` until it ends. `state` is shared with the registry.
pub fn serve(stream: TcpStream, state: &AtomicU8, shared: &Shared) {
    let settings = &shared.settings;
    let mut buf = vec![0u8; MAX_HEAD];
    let mut filled = 0usize;
    // The socket's receive timeout as last set: most requests arrive in one read, so the
    // idle wait's timeout rarely needs setting again.
    let mut read_timeout: Option<Duration> = None;
    // Every response is written within this (see `respond::write_all_by`).
    if stream
        .set_write_timeout(Some(settings.write_timeout))
        .is_err()
    {
        return;
    }
    loop {
        // Wait for the first bytes of the next request, unless pipelined bytes are here.
        if filled == 0 {
            if state
                .compare_exchange(BUSY, IDLE, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                return;
            }
            let wait = if shared.stopping() {
                STOP_GRACE
            } else {
                settings.keep_alive
            };
            match read_some(&stream, &mut read_timeout, &mut buf[filled..], wait) {
                Ok(n) if n > 0 => filled += n,
                _ => return, // closed, idle too long, or closed by stop/eviction
            }
            // Bytes arrived; if stop or eviction raced us, still answer them.
            let _ = state.compare_exchange(IDLE, BUSY, Ordering::SeqCst, Ordering::SeqCst);
        }
        let head_deadline = Instant::now() + settings.header_timeout;
        let mut fresh = filled;
        let (head, len) = loop {
            // Parse when a line may have ended or a limit may be reached; not on every byte.
            let worth_parsing = fresh == filled
                || buf[filled - fresh..filled].contains(&b'\n')
                || filled > MAX_REQUEST_LINE
                || filled == MAX_HEAD;
            if worth_parsing {
                match head::parse(&buf[..filled]) {
                    Ok(Parsed::Complete(h, len)) => break (h, len),
                    Ok(Parsed::Partial) => {}
                    Err(r) => {
                        let body = Body::error(r.status, r.message, serde_json::json!({}));
                        answer_and_close(&stream, &body, shared, state);
                        return;
                    }
                }
            }
            let left = head_deadline.saturating_duration_since(Instant::now());
            // Waiting for the rest of a head: stopping cuts this wait short (what was not
            // received is not answered).
            let _ = state.compare_exchange(BUSY, READING, Ordering::SeqCst, Ordering::SeqCst);
            if shared.stopping() {
                return;
            }
            let got = read_some(&stream, &mut read_timeout, &mut buf[filled..], left);
            let _ = state.compare_exchange(READING, BUSY, Ordering::SeqCst, Ordering::SeqCst);
            match got {
                Ok(0) => return,
                Ok(n) => {
                    fresh = n;
                    filled += n;
                }
                Err(e) if is_timeout(&e) => {
                    let body = Body::error(
                        408,
                        "the request head did not arrive in time",
                        serde_json::json!({"key": "web_server.header_timeout_seconds"}),
                    );
                    answer_and_close(&stream, &body, shared, state);
                    return;
                }
                Err(_) => return,
            }
        };
        buf.copy_within(len..filled, 0);
        filled -= len;

        let keep_alive = head.keep_alive && !shared.stopping();
        if !settings.hosts.allows(head.host.as_deref()) {
            let body = super::host::misdirected_body();
            if !write_body(&stream, &body, false, false, keep_alive, shared) || !keep_alive {
                return close(&stream, state);
            }
            continue;
        }
        let info = request_info(&head);
        match dispatch(&info, shared) {
            Reply::Shared(body) => {
                if !answer(&stream, &body, &info, keep_alive, shared) {
                    return;
                }
            }
            Reply::Owned(body) => {
                if !answer(&stream, &body, &info, keep_alive, shared) {
                    return;
                }
            }
            Reply::Stream(run) => {
                let Ok(writer) = stream.try_clone() else {
                    return;
                };
                let _ = writer.set_write_timeout(Some(STREAM_WRITE_TIMEOUT));
                let ran = catch_unwind(AssertUnwindSafe(|| run(Box::new(writer))));
                if ran.is_err() {
                    log::error!("the stream for {} panicked", info.path);
                }
                return close(&stream, state);
            }
        }
        if !keep_alive {
            return close(&stream, state);
        }
    }
}

/// Reads into `buf` with `timeout` (a zero timeout is a timeout). `current` is the
/// socket's receive timeout as last set, so that an unchanged one is not set again.
fn read_some(
    stream: &TcpStream,
    current: &mut Option<Duration>,
    buf: &mut [u8],
    timeout: Duration,
) -> std::io::Result<usize> {
    if timeout.is_zero() {
        return Err(ErrorKind::TimedOut.into());
    }
    if *current != Some(timeout) {
        stream.set_read_timeout(Some(timeout))?;
        *current = Some(timeout);
    }
    let mut r = stream;
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

fn request_info(head: &head::Head) -> RequestInfo {
    let (path, raw_query) = head.target.split_once('?').unwrap_or((&head.target, ""));
    RequestInfo {
        method: head.method.clone(),
        path: path.to_string(),
        query: Query::parse(raw_query),
        if_none_match: head.if_none_match.clone(),
        accepts_gzip: head.accepts_gzip,
        last_event_id: head.last_event_id.clone(),
    }
}

/// Runs the handler inside the panic guard.
fn dispatch(info: &RequestInfo, shared: &Shared) -> Reply {
    let snapshot = shared.cell.load();
    catch_unwind(AssertUnwindSafe(|| {
        routes::dispatch(&shared.routes, info, &snapshot, &shared.ctx)
    }))
    .unwrap_or_else(|_| {
        log::error!("handler for {} panicked; answered 500", info.path);
        Reply::Owned(Body::error(
            500,
            "internal error while answering this request",
            serde_json::json!({}),
        ))
    })
}

/// Writes `body` as the answer to `info`: headers only for HEAD, a 304 when the client's
/// `If-None-Match` matches. False when the connection must end.
fn answer(
    stream: &TcpStream,
    body: &Body,
    info: &RequestInfo,
    keep_alive: bool,
    shared: &Shared,
) -> bool {
    // A body with values that depend on the time of the answer is filled now.
    let body = body.at(crate::clock::now(), info.accepts_gzip);
    let body = body.as_ref();
    let gzip = info.accepts_gzip && body.gzip.is_some();
    let etag = match (&body.gzip, gzip) {
        (Some(gz), true) => &gz.etag,
        _ => &body.etag,
    };
    let not_modified = body.status == 200
        && info
            .if_none_match
            .as_deref()
            .is_some_and(|tags| head::etag_matches(tags, etag));
    let head_only = info.method == "HEAD";
    if gzip {
        write_variant(
            stream,
            body,
            true,
            head_only,
            not_modified,
            keep_alive,
            shared,
        )
    } else {
        write_body(stream, body, head_only, not_modified, keep_alive, shared)
    }
}

/// Writes one response within the write deadline; false when the connection must end.
fn write_body(
    stream: &TcpStream,
    body: &Body,
    head_only: bool,
    not_modified: bool,
    keep_alive: bool,
    shared: &Shared,
) -> bool {
    write_variant(
        stream,
        body,
        false,
        head_only,
        not_modified,
        keep_alive,
        shared,
    )
}

/// [`write_body`] of the plain bytes, or of the gzip bytes when `gzip` (the body has them).
fn write_variant(
    stream: &TcpStream,
    body: &Body,
    gzip: bool,
    head_only: bool,
    not_modified: bool,
    keep_alive: bool,
    shared: &Shared,
) -> bool {
    let head = respond::head_as(body, gzip, not_modified, keep_alive);
    let bytes = match (&body.gzip, gzip) {
        (Some(gz), true) => &gz.bytes,
        _ => &body.bytes,
    };
    let with_body = !head_only && !not_modified;
    let parts: [&[u8]; 2] = [&head, if with_body { bytes } else { &[] }];
    match respond::write_all_by(stream, &parts, shared.settings.write_timeout) {
        Ok(()) => true,
        Err(e) => {
            log::debug!("response not delivered: {e}");
            false
        }
    }
}

/// Answers a refused request with `body` and closes.
fn answer_and_close(stream: &TcpStream, body: &Body, shared: &Shared, state: &AtomicU8) {
    if write_body(stream, body, false, false, false, shared) {
        close(stream, state);
    }
}

/// Ends the connection so that a client reading to EOF finishes: our side is shut down,
/// then what the client still sends is read and dropped for a short, bounded time. Meanwhile
/// the connection counts as idle: stop and eviction at the cap may cut this short.
fn close(stream: &TcpStream, state: &AtomicU8) {
    let _ = stream.shutdown(Shutdown::Write);
    if state
        .compare_exchange(BUSY, IDLE, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        return;
    }
    let until = Instant::now() + LINGER;
    let mut sink = [0u8; 8192];
    let mut drained = 0usize;
    let mut r = stream;
    while drained < LINGER_BYTES {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match r.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}
