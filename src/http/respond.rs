//! Writing a response: the status line and headers we build, then the body straight from
//! its shared bytes (one vectored write, no copy), all within a deadline for the whole
//! response.

use std::io::{self, IoSlice, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::snapshot::Body;

/// The reason phrase for the status codes we send.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        421 => "Misdirected Request",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Headers on every response.
const COMMON: &str = "Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n";

/// The status line and headers. `not_modified` sends a 304 with the ETag and no length;
/// otherwise the body's `Content-Length` is announced (also for HEAD). `keep_alive` says
/// whether the connection stays open after this response.
pub fn head(body: &Body, not_modified: bool, keep_alive: bool) -> Vec<u8> {
    head_as(body, false, not_modified, keep_alive)
}

/// [`head`] of the body's gzip variant when `gzip` (and the body has one): its length,
/// its ETag and `Content-Encoding: gzip`. A body that has a gzip variant says
/// `Vary: Accept-Encoding` in both variants.
pub fn head_as(body: &Body, gzip: bool, not_modified: bool, keep_alive: bool) -> Vec<u8> {
    let gz = body.gzip.as_ref().filter(|_| gzip);
    let (len, etag) = match gz {
        Some(gz) => (gz.bytes.len(), &gz.etag),
        None => (body.bytes.len(), &body.etag),
    };
    let status = if not_modified { 304 } else { body.status };
    let mut out = Vec::with_capacity(320);
    let _ = write!(out, "HTTP/1.1 {} {}\r\n", status, reason(status));
    if !not_modified {
        let _ = write!(
            out,
            "Content-Type: {}\r\nContent-Length: {}\r\n",
            body.content_type, len
        );
        if gz.is_some() {
            out.extend_from_slice(b"Content-Encoding: gzip\r\n");
        }
    }
    if body.gzip.is_some() {
        out.extend_from_slice(b"Vary: Accept-Encoding\r\n");
    }
    // Date: the server's clock, so that clients can compute ages against it.
    let _ = write!(
        out,
        "Date: {}\r\nETag: {}\r\n{}Connection: {}\r\n",
        crate::clock::now().format("%a, %d %b %Y %H:%M:%S GMT"),
        etag,
        COMMON,
        if keep_alive { "keep-alive" } else { "close" }
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

/// Serializes a full response into one buffer (prebuilt answers and tests).
pub fn encode(body: &Body, head_only: bool, not_modified: bool, keep_alive: bool) -> Vec<u8> {
    let mut out = head(body, not_modified, keep_alive);
    if !head_only && !not_modified {
        out.extend_from_slice(&body.bytes);
    }
    out
}

/// Writes `parts` in order with vectored writes, all within `limit`. The socket's send
/// timeout must be `limit` on entry and is again on a successful return; it is set to the
/// time left before each further call (usually one call takes everything). An error means
/// the connection must be closed.
pub fn write_all_by(stream: &TcpStream, parts: &[&[u8]], limit: Duration) -> io::Result<()> {
    let deadline = Instant::now() + limit;
    let mut slices: Vec<IoSlice<'_>> = parts
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| IoSlice::new(p))
        .collect();
    let mut rest = &mut slices[..];
    let mut w = stream;
    let mut first = true;
    let mut changed = false;
    while !rest.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the response was not taken within the write deadline",
            ));
        }
        if !first {
            stream.set_write_timeout(Some(left.max(Duration::from_millis(1))))?;
            changed = true;
        }
        match w.write_vectored(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        first = false;
    }
    if changed {
        stream.set_write_timeout(Some(limit))?;
    }
    Ok(())
}

/// Writes `bytes` and flushes (streams and their error answers). A client that went away
/// is not an error of ours.
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
        let full = String::from_utf8(encode(&b, false, false, true)).unwrap();
        assert!(full.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(full.contains("Content-Length: 7\r\n"));
        assert!(full.contains("Connection: keep-alive\r\n"));
        assert!(full.contains("Allow: GET, HEAD\r\n"));
        assert!(full.contains(" GMT\r\n") && full.contains("\r\nDate: "));
        assert!(full.ends_with("\r\n\r\n{\"a\":1}"));
        let head = String::from_utf8(encode(&b, true, false, false)).unwrap();
        assert!(head.contains("Content-Length: 7\r\n") && head.ends_with("\r\n\r\n"));
        assert!(head.contains("Connection: close\r\n"));
        let nm = String::from_utf8(encode(&b, false, true, true)).unwrap();
        assert!(nm.starts_with("HTTP/1.1 304 Not Modified\r\n") && nm.ends_with("\r\n\r\n"));
        assert!(!nm.contains("Content-Length"));
    }

    #[test]
    fn vectored_writes_deliver_every_part_in_order() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        let big = vec![b'x'; 3 * 1024 * 1024];
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            std::io::Read::read_to_end(&mut &c, &mut got).unwrap();
            got
        });
        write_all_by(
            &s,
            &[b"head|", &big, b"", b"|tail"],
            Duration::from_secs(10),
        )
        .unwrap();
        drop(s);
        let got = reader.join().unwrap();
        assert_eq!(got.len(), 5 + big.len() + 5);
        assert!(got.starts_with(b"head|x") && got.ends_with(b"x|tail"));
    }
}
