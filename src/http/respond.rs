//! Writing responses ourselves, through `Request::into_writer`.
//!
//! tiny_http 0.12 cannot send `Connection: close` (it drops that header) and keeps one
//! thread per open connection with no timeouts; idle keep-alive connections can then starve
//! newly accepted ones of a thread. So every non-streaming response is written here, head
//! and body in one buffer, with `Connection: close`: the client closes, the connection's
//! thread ends, and no idle connection holds a thread. The cost, measured in `bench/`, is a
//! new TCP connection per request on loopback; the README gives the figures.

use std::io::Write;

use crate::snapshot::Body;

/// The reason phrase for the status codes we send.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Headers on every response.
const COMMON: &str =
    "Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n";

/// Bodies up to this size go out in one write with the head; larger ones are written
/// straight from the shared body after the head, without a copy.
const COALESCE: usize = 16 * 1024;

/// The status line and headers. `head_only` (HEAD) still announces the body's length;
/// `not_modified` sends a 304 with the ETag and no body.
pub fn head(body: &Body, not_modified: bool) -> Vec<u8> {
    let status = if not_modified { 304 } else { body.status };
    let mut out = Vec::with_capacity(256);
    let _ = write!(out, "HTTP/1.1 {} {}\r\n", status, reason(status));
    if !not_modified {
        let _ = write!(
            out,
            "Content-Type: {}\r\nContent-Length: {}\r\n",
            body.content_type,
            body.bytes.len()
        );
    }
    // Date: the server's clock, so that clients can compute ages against it.
    let _ = write!(
        out,
        "Date: {}\r\nETag: {}\r\n{}",
        crate::clock::now().format("%a, %d %b %Y %H:%M:%S GMT"),
        body.etag,
        COMMON
    );
    for (name, value) in &body.headers {
        // Header values are ours, never client input; still, refuse line breaks.
        if !value.contains(['\r', '\n']) {
            let _ = write!(out, "{name}: {value}\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Serializes a full response into one buffer (used for small bodies and in tests).
pub fn encode(body: &Body, head_only: bool, not_modified: bool) -> Vec<u8> {
    let mut out = head(body, not_modified);
    if !head_only && !not_modified {
        out.extend_from_slice(&body.bytes);
    }
    out
}

/// Writes the response for `body` and flushes; small bodies in one write, large ones from
/// the shared bytes without copying them. A client that went away is not our error.
pub fn write_response(writer: &mut dyn Write, body: &Body, head_only: bool, not_modified: bool) {
    let with_body = !head_only && !not_modified;
    let result = if with_body && body.bytes.len() > COALESCE {
        let head = head(body, not_modified);
        writer
            .write_all(&head)
            .and_then(|_| writer.write_all(&body.bytes))
            .and_then(|_| writer.flush())
    } else {
        let bytes = encode(body, head_only, not_modified);
        writer.write_all(&bytes).and_then(|_| writer.flush())
    };
    if let Err(e) = result {
        log::debug!("client went away while we answered: {e}");
    }
}

/// Writes `bytes` and flushes. A client that went away is not an error of ours.
pub fn send(writer: &mut dyn Write, bytes: &[u8]) {
    if let Err(e) = writer.write_all(bytes).and_then(|_| writer.flush()) {
        log::debug!("client went away while we answered: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_head_and_304() {
        let b = Body::new(200, "application/json", b"{\"a\":1}".to_vec())
            .with_header("Allow", "GET, HEAD");
        let full = String::from_utf8(encode(&b, false, false)).unwrap();
        assert!(full.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(full.contains("Content-Length: 7\r\n"));
        assert!(full.contains("Connection: close\r\n"));
        assert!(full.contains("Allow: GET, HEAD\r\n"));
        assert!(full.contains(" GMT\r\n") && full.contains("\r\nDate: "));
        assert!(full.ends_with("\r\n\r\n{\"a\":1}"));
        let head = String::from_utf8(encode(&b, true, false)).unwrap();
        assert!(head.contains("Content-Length: 7\r\n") && head.ends_with("\r\n\r\n"));
        let nm = String::from_utf8(encode(&b, false, true)).unwrap();
        assert!(nm.starts_with("HTTP/1.1 304 Not Modified\r\n") && nm.ends_with("\r\n\r\n"));
        assert!(!nm.contains("Content-Length"));
    }
}
