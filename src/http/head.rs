//! Parsing one request head (`httparse`) and enforcing our limits on it. Pure: bytes in,
//! a [`Head`] or a [`Reject`] out; no I/O, no allocation proportional to the input beyond
//! the small strings kept.
//!
//! Rules (see README, "Connections"):
//! - the head is at most [`MAX_HEAD`] bytes (else 431), its request line at most
//!   [`MAX_REQUEST_LINE`] (else 414), with at most [`MAX_HEADERS`] header fields (else 431);
//! - lines end in CRLF. A bare LF anywhere in the head is refused with 400: RFC 9112 lets a
//!   server accept it, but a proxy in front of us might split the same bytes differently,
//!   so we take the strict reading;
//! - only HTTP/1.0 and HTTP/1.1 (httparse refuses any other version: 505); bytes that
//!   cannot start a request line (a TLS hello, junk) are refused as soon as they arrive;
//! - HTTP/1.1 needs exactly one `Host`; HTTP/1.0 may have none, never several;
//! - we accept no request bodies: any `Transfer-Encoding` → 400, a `Content-Length` other
//!   than 0 → 413, a malformed or conflicting `Content-Length` → 400. The connection is
//!   closed after these answers without reading the body;
//! - the target must be in origin form (`/path?query`); methods are case-sensitive and are
//!   checked by the router (`get` is not `GET`: 405 on a known route).

/// The longest request head accepted, request line included.
pub const MAX_HEAD: usize = 16 * 1024;
/// The longest request line accepted.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// The most header fields accepted.
pub const MAX_HEADERS: usize = 64;

/// A request head we will answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    /// The request target as sent (origin form).
    pub target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    /// The `Host` value, if any (never more than one).
    pub host: Option<String>,
    /// Every `If-None-Match` field, joined with ", ".
    pub if_none_match: Option<String>,
    /// True when `Accept-Encoding` allows gzip ([`super::encoding::accepts_gzip`]).
    pub accepts_gzip: bool,
    /// The `Last-Event-ID` value, if any (an event stream's reconnection).
    pub last_event_id: Option<String>,
    /// Whether the client lets the connection stay open after this response.
    pub keep_alive: bool,
}

/// Why a head is refused: the status and a message for the JSON body. The connection is
/// always closed after a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reject {
    pub status: u16,
    pub message: &'static str,
}

const fn reject(status: u16, message: &'static str) -> Reject {
    Reject { status, message }
}

/// The outcome of looking at the bytes received so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed (and may still fit the limits).
    Partial,
    /// A full head of `len` bytes; bytes after it belong to the next (pipelined) request.
    Complete(Head, usize),
}

/// Parses the head at the start of `buf`.
pub fn parse(buf: &[u8]) -> Result<Parsed, Reject> {
    if let Some(i) = memchr_lf(buf) {
        if i > MAX_REQUEST_LINE {
            return Err(reject(414, "the request line is longer than 8 KiB"));
        }
    } else if buf.len() > MAX_REQUEST_LINE {
        return Err(reject(414, "the request line is longer than 8 KiB"));
    }
    if has_bare_lf(buf) {
        return Err(reject(
            400,
            "malformed request: lines must end with CRLF, not a bare LF",
        ));
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            return if buf.len() >= MAX_HEAD {
                Err(reject(431, "the request head is larger than 16 KiB"))
            } else {
                Ok(Parsed::Partial)
            };
        }
        Err(httparse::Error::Version) => {
            return Err(reject(
                505,
                "only HTTP/1.0 and HTTP/1.1 are supported (no HTTP/2 or TLS on this port)",
            ))
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(reject(431, "more than 64 header fields"))
        }
        Err(_) => return Err(reject(400, "malformed request head")),
    };
    if len > MAX_HEAD {
        return Err(reject(431, "the request head is larger than 16 KiB"));
    }
    let method = req.method.unwrap_or_default().to_string();
    let target = req.path.unwrap_or_default();
    let minor = req.version.unwrap_or(1);
    if !target.starts_with('/') {
        return Err(reject(
            400,
            "the request target must be a path starting with '/'",
        ));
    }
    let mut host: Option<String> = None;
    let mut hosts = 0;
    let mut content_length: Option<u64> = None;
    let mut if_none_match: Option<String> = None;
    let mut accept_encoding = String::new();
    let mut last_event_id: Option<String> = None;
    let mut close = false;
    let mut keep = false;
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("host") {
            hosts += 1;
            host = Some(String::from_utf8_lossy(h.value).trim().to_string());
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(reject(
                400,
                "Transfer-Encoding is not accepted: this server takes no request bodies",
            ));
        } else if name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(h.value).unwrap_or("").trim();
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(reject(400, "malformed Content-Length"));
            }
            // Digits only: a value too long for u64 is certainly not 0.
            let n = text.parse::<u64>().unwrap_or(u64::MAX);
            if content_length.is_some_and(|prev| prev != n) {
                return Err(reject(400, "conflicting Content-Length fields"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("if-none-match") {
            let v = String::from_utf8_lossy(h.value);
            if_none_match = Some(match if_none_match {
                Some(prev) => format!("{prev}, {}", v.trim()),
                None => v.trim().to_string(),
            });
        } else if name.eq_ignore_ascii_case("accept-encoding") {
            accept_encoding.push(',');
            accept_encoding.push_str(&String::from_utf8_lossy(h.value));
        } else if name.eq_ignore_ascii_case("last-event-id") {
            last_event_id = Some(String::from_utf8_lossy(h.value).trim().to_string());
        } else if name.eq_ignore_ascii_case("connection") {
            for token in String::from_utf8_lossy(h.value).split(',') {
                let t = token.trim();
                close |= t.eq_ignore_ascii_case("close");
                keep |= t.eq_ignore_ascii_case("keep-alive");
            }
        }
    }
    if hosts > 1 {
        return Err(reject(400, "more than one Host field"));
    }
    if minor == 1 && hosts == 0 {
        return Err(reject(400, "an HTTP/1.1 request needs a Host field"));
    }
    if content_length.is_some_and(|n| n > 0) {
        return Err(reject(
            413,
            "request bodies are not accepted: this server answers GET and HEAD only",
        ));
    }
    let keep_alive = !close && (minor == 1 || keep);
    Ok(Parsed::Complete(
        Head {
            method,
            target: target.to_string(),
            minor,
            host,
            if_none_match,
            accepts_gzip: super::encoding::accepts_gzip(&accept_encoding),
            last_event_id,
            keep_alive,
        },
        len,
    ))
}

fn memchr_lf(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n')
}

/// True when a LF in `buf` is not preceded by CR (a CR at the very end may still be
/// followed by its LF).
fn has_bare_lf(buf: &[u8]) -> bool {
    buf.iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || buf[i - 1] != b'\r'))
}

/// Weak comparison of `If-None-Match` (RFC 9110 §13.1.2) against our `etag`: `*` matches,
/// and `W/"x"` matches `"x"` either way round; a comma-separated list matches if any does.
pub fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    let ours = etag.strip_prefix("W/").unwrap_or(etag);
    if_none_match.split(',').any(|t| {
        let t = t.trim();
        t == "*" || t.strip_prefix("W/").unwrap_or(t) == ours
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> (Head, usize) {
        match parse(text.as_bytes()) {
            Ok(Parsed::Complete(h, n)) => (h, n),
            other => panic!("{text:?}: {other:?}"),
        }
    }

    fn status(text: &[u8]) -> u16 {
        match parse(text) {
            Err(r) => r.status,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(text)),
        }
    }

    #[test]
    fn a_simple_get_and_pipelined_rest() {
        let text = "GET /status?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\nGET /h";
        let (h, n) = ok(text);
        assert_eq!(h.method, "GET");
        assert_eq!(h.target, "/status?x=1");
        assert_eq!(h.minor, 1);
        assert_eq!(h.host.as_deref(), Some("localhost"));
        assert!(h.keep_alive);
        assert_eq!(&text[n..], "GET /h");
    }

    #[test]
    fn partial_heads_wait_for_more() {
        assert_eq!(parse(b"GET /sta").unwrap(), Parsed::Partial);
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap(),
            Parsed::Partial
        );
        assert_eq!(parse(b"GET / HTTP/1.1\r").unwrap(), Parsed::Partial);
    }

    #[test]
    fn keep_alive_rules() {
        assert!(
            !ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                .0
                .keep_alive
        );
        assert!(
            !ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n")
                .0
                .keep_alive
        );
        assert!(!ok("GET / HTTP/1.0\r\n\r\n").0.keep_alive);
        assert!(
            ok("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                .0
                .keep_alive
        );
    }

    #[test]
    fn host_rules() {
        assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
        assert_eq!(ok("GET / HTTP/1.0\r\n\r\n").0.host, None);
    }

    #[test]
    fn bodies_are_refused_without_reading_them() {
        let cl = |v: &str| format!("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: {v}\r\n\r\n");
        assert_eq!(status(cl("1000000000000000").as_bytes()), 413);
        assert_eq!(status(cl("99999999999999999999999999").as_bytes()), 413);
        assert_eq!(status(cl("2000").as_bytes()), 413);
        assert_eq!(status(cl("-1").as_bytes()), 400);
        assert_eq!(status(cl("1,1").as_bytes()), 400);
        assert_eq!(status(cl("").as_bytes()), 400);
        assert!(ok(&cl("0")).0.keep_alive);
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: identity\r\n\r\n"),
            400
        );
    }

    #[test]
    fn size_limits() {
        let long_line = format!("GET /{} HTTP/1.1\r\n", "a".repeat(MAX_REQUEST_LINE));
        assert_eq!(status(long_line.as_bytes()), 414);
        // Still incomplete, but already too long: refused before the line ends.
        assert_eq!(status(&long_line.as_bytes()[..MAX_REQUEST_LINE + 1]), 414);
        let mut big = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
        big.resize(MAX_HEAD, b'a');
        assert_eq!(status(&big), 431);
        let mut many = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 0..MAX_HEADERS {
            many.push_str(&format!("X-{i}: v\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(status(many.as_bytes()), 431);
        // 63 more fields plus Host is exactly the limit.
        let mut fits = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 0..MAX_HEADERS - 1 {
            fits.push_str(&format!("X-{i}: v\r\n"));
        }
        fits.push_str("\r\n");
        ok(&fits);
    }

    #[test]
    fn not_http_1() {
        assert_eq!(status(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 505);
        assert_eq!(status(b"GET / HTTP/2.0\r\n\r\n"), 505);
        assert_eq!(status(b"GET / HTTP/1.2\r\n\r\n"), 505);
        assert_eq!(status(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), 400);
        assert_eq!(status(b"\x00\x01\x02"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\nHost: a\n\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\n\r\n"), 400);
        assert_eq!(status(b"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n"), 400);
    }

    #[test]
    fn methods_are_kept_as_sent() {
        assert_eq!(ok("get / HTTP/1.1\r\nHost: a\r\n\r\n").0.method, "get");
    }

    #[test]
    fn weak_etag_comparison() {
        assert!(etag_matches("\"x\"", "\"x\""));
        assert!(etag_matches("W/\"x\"", "\"x\""));
        assert!(etag_matches("\"y\", W/\"x\"", "\"x\""));
        assert!(etag_matches("*", "\"x\""));
        assert!(!etag_matches("\"y\"", "\"x\""));
        assert!(!etag_matches("\"xx\"", "\"x\""));
    }
}
