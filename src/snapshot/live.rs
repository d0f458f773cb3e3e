//! Bodies with a few values that depend on the moment they are answered: ages, countdowns,
//! uptimes, the time of the answer.
//!
//! Such a body is rendered when its data changes, like every other body, with each moving
//! value left as a [`Hole`] that holds an *instant* (when the data was observed, when the
//! next run is due). The connection fills the holes from its clock when it answers: a few
//! integers written between pre-serialized bytes, no lock, no I/O. So `/status` and
//! `/current-state` are exact to the second for every request, and nothing is rebuilt
//! every second for them while nobody asks.
//!
//! A renderer asks [`Holes::put`] for a placeholder value, puts it where the number goes
//! in its JSON, and builds the body with [`Body::live`]; the placeholder serializes to a
//! marker string that is cut out again here. [`Body::bytes`] holds the body filled at
//! render time (valid JSON for whoever reads it on the refresh thread); [`Body::at`] gives
//! the body as of the request.

use std::borrow::Cow;
use std::io::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{etag_of, Body};
use crate::clock;

/// Where a hole's instant comes from.
#[derive(Debug, Clone)]
pub enum At {
    /// The time of the answer.
    Now,
    /// An instant known when the body was rendered (a reading's time, a process start).
    Fixed(DateTime<Utc>),
    /// A slot of a [`Board`]: an instant (or a duration) that moves without a re-render,
    /// e.g. a source's last success; an empty slot is written as `null`.
    Board(Arc<Board>, usize),
}

/// How a hole shows its instant, as of the answer (`now`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    /// Local RFC 3339 (a JSON string).
    Rfc3339,
    /// Unix seconds, to the millisecond (Prometheus' timestamps).
    UnixSeconds,
    /// Whole seconds since the instant (0 when it lies ahead).
    SecondsSince,
    /// Seconds since the instant, to a tenth (0.0 when it lies ahead).
    TenthsSince,
    /// Seconds since the instant, to the millisecond (negative when it lies ahead).
    MillisSince,
    /// Whole seconds until the instant (0 once it has passed).
    SecondsUntil,
    /// The time since the instant in words, e.g. `"3h 12m"` (a JSON string).
    HumanSince,
    /// `"Data is 95s old (from 14:03:12)"`: the warning of a reading observed at the
    /// instant (a JSON string).
    OldDataWarning,
    /// The slot's value as a whole number (a duration in ms kept on a board).
    Number,
    /// `true` when there is a value, else `false`.
    IsSet,
}

/// One value computed when the body is answered.
#[derive(Debug, Clone)]
pub struct Hole {
    pub at: At,
    pub show: Show,
}

impl Hole {
    /// The value as text (JSON, or a Prometheus sample value), as of `now`.
    fn write(&self, now: DateTime<Utc>, out: &mut Vec<u8>) {
        let ms = match &self.at {
            At::Now => Some(now.timestamp_millis()),
            At::Fixed(t) => Some(t.timestamp_millis()),
            At::Board(board, slot) => board.get(*slot),
        };
        let _ = match (ms, self.show) {
            (v, Show::IsSet) => write!(out, "{}", v.is_some()),
            (None, _) => write!(out, "null"),
            (Some(n), Show::Number) => write!(out, "{n}"),
            (Some(ms), show) => {
                let t = DateTime::from_timestamp_millis(ms).unwrap_or(now);
                let ms_since = (now - t).num_milliseconds();
                let secs_since = (ms_since.max(0) / 1000) as u64;
                match show {
                    Show::Rfc3339 => write!(out, "\"{}\"", clock::local_rfc3339(t)),
                    Show::UnixSeconds => write!(out, "{}", ms as f64 / 1000.0),
                    Show::SecondsSince => write!(out, "{secs_since}"),
                    Show::TenthsSince => {
                        write!(out, "{:?}", (ms_since.max(0) as f64 / 100.0).round() / 10.0)
                    }
                    Show::MillisSince => write!(out, "{:?}", ms_since as f64 / 1000.0),
                    Show::SecondsUntil => write!(out, "{}", (t - now).num_seconds().max(0)),
                    Show::HumanSince => {
                        write!(out, "\"{}\"", clock::human_duration(secs_since))
                    }
                    Show::OldDataWarning => write!(
                        out,
                        "\"Data is {secs_since}s old (from {})\"",
                        t.with_timezone(&clock::ZONE).format("%H:%M:%S")
                    ),
                    Show::Number | Show::IsSet => Ok(()),
                }
            }
        };
    }
}

/// Values that move without a re-render (ms since the epoch, or a duration in ms), one
/// per slot, written by the refresh thread and read when a body is answered: a source's
/// last success and attempt, its next run, the run in flight. Lock-free.
#[derive(Debug)]
pub struct Board(Vec<AtomicI64>);

/// An empty slot.
const EMPTY: i64 = i64::MIN;

impl Board {
    pub fn new(slots: usize) -> Board {
        Board((0..slots).map(|_| AtomicI64::new(EMPTY)).collect())
    }

    /// Sets `slot` to `value` (ms), or empties it.
    pub fn set(&self, slot: usize, value: Option<i64>) {
        if let Some(s) = self.0.get(slot) {
            s.store(value.unwrap_or(EMPTY), Ordering::Release);
        }
    }

    pub fn get(&self, slot: usize) -> Option<i64> {
        let v = self.0.get(slot)?.load(Ordering::Acquire);
        (v != EMPTY).then_some(v)
    }
}

/// The holes of one body being rendered, in the order they are put.
#[derive(Debug, Default)]
pub struct Holes(Vec<Hole>);

#[cfg(test)]
#[test]
fn text_bodies_take_holes_at_offsets() {
    let board = Arc::new(Board::new(1));
    let text = b"a 1\nb \nc 3\n";
    let live = Live::at_offsets(
        text,
        vec![(
            6,
            Hole {
                at: At::Board(board.clone(), 0),
                show: Show::UnixSeconds,
            },
        )],
    );
    board.set(0, Some(1_500));
    assert_eq!(live.fill(clock::now()), b"a 1\nb 1.5\nc 3\n");
}

/// What a placeholder serializes to: a string no data carries (it begins with NUL), with
/// the hole's index so that a literal copy in some data cannot be taken for it.
const MARK: &str = "\u{0}hole";

impl Holes {
    pub fn new() -> Holes {
        Holes::default()
    }

    /// A placeholder for the value of `at` shown as `show`, to be put where it goes.
    pub fn put(&mut self, at: At, show: Show) -> serde_json::Value {
        let marker = format!("{MARK}{}\u{0}", self.0.len());
        self.0.push(Hole { at, show });
        serde_json::Value::String(marker)
    }

    /// [`Holes::put`] when there is an instant, else null.
    pub fn put_opt(&mut self, at: Option<At>, show: Show) -> serde_json::Value {
        at.map_or(serde_json::Value::Null, |at| self.put(at, show))
    }
}

/// A body cut at its holes: `parts` has one more element than `holes`, which are in the
/// order they appear.
#[derive(Debug)]
pub struct Live {
    parts: Vec<Vec<u8>>,
    holes: Vec<Hole>,
}

impl Live {
    /// Cuts `bytes` (serialized JSON) at the placeholders of `holes` (in the order they
    /// appear, which is the serializer's, not the order they were put in). A marker that
    /// names no hole, or one already cut, is left as it is.
    fn cut(bytes: &[u8], holes: Holes) -> Live {
        // `"\u0000hole` as serde_json writes the marker's start, and its end.
        const OPEN: &[u8] = b"\"\\u0000hole";
        const CLOSE: &[u8] = b"\\u0000\"";
        let mut cut = vec![false; holes.0.len()];
        let mut parts = Vec::with_capacity(holes.0.len() + 1);
        let mut order = Vec::with_capacity(holes.0.len());
        let mut rest = bytes;
        let mut current = Vec::new();
        while let Some(at) = find(rest, OPEN) {
            let after = &rest[at + OPEN.len()..];
            let digits = after.iter().take_while(|b| b.is_ascii_digit()).count();
            let index = std::str::from_utf8(&after[..digits])
                .ok()
                .and_then(|d| d.parse::<usize>().ok())
                .filter(|i| after[digits..].starts_with(CLOSE) && cut.get(*i) == Some(&false));
            match index {
                Some(i) => {
                    cut[i] = true;
                    current.extend_from_slice(&rest[..at]);
                    parts.push(std::mem::take(&mut current));
                    order.push(holes.0[i].clone());
                    rest = &after[digits + CLOSE.len()..];
                }
                None => {
                    current.extend_from_slice(&rest[..at + OPEN.len()]);
                    rest = after;
                }
            }
        }
        current.extend_from_slice(rest);
        parts.push(current);
        Live {
            parts,
            holes: order,
        }
    }

    /// A text body with holes at byte offsets of `bytes` (ascending), e.g. the
    /// Prometheus exposition.
    pub fn at_offsets(bytes: &[u8], holes: Vec<(usize, Hole)>) -> Live {
        let mut parts = Vec::with_capacity(holes.len() + 1);
        let mut from = 0;
        let mut order = Vec::with_capacity(holes.len());
        for (offset, hole) in holes {
            let offset = offset.clamp(from, bytes.len());
            parts.push(bytes[from..offset].to_vec());
            order.push(hole);
            from = offset;
        }
        parts.push(bytes[from..].to_vec());
        Live {
            parts,
            holes: order,
        }
    }

    /// The body's bytes as of `now`.
    pub fn fill(&self, now: DateTime<Utc>) -> Vec<u8> {
        let len: usize = self.parts.iter().map(Vec::len).sum();
        let mut out = Vec::with_capacity(len + 32 * self.holes.len());
        for (i, part) in self.parts.iter().enumerate() {
            out.extend_from_slice(part);
            if let Some(hole) = self.holes.get(i) {
                hole.write(now, &mut out);
            }
        }
        out
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl Body {
    /// A JSON body with holes (see [`Holes`]): its bytes are filled as of `now` (the
    /// render), and again by [`Body::at`] for each answer.
    pub fn live<T: Serialize + ?Sized>(
        status: u16,
        value: &T,
        holes: Holes,
        now: DateTime<Utc>,
    ) -> Body {
        let template = Body::json(status, value);
        if holes.0.is_empty() || template.status != status {
            return template;
        }
        Body::from_live(
            status,
            template.content_type,
            Live::cut(&template.bytes, holes),
            now,
        )
    }

    /// A body from its cut form, filled as of `now`.
    pub fn from_live(
        status: u16,
        content_type: &'static str,
        live: Live,
        now: DateTime<Utc>,
    ) -> Body {
        let mut body = Body::new(status, content_type, live.fill(now));
        body.live = Some(Arc::new(live));
        body
    }

    /// The body as answered at `now`: itself when it has no holes, else filled anew, with
    /// the ETag of the new bytes and, when `gzip` is wanted and the body is large enough,
    /// its gzip variant (compressed here: these bodies are a few KiB).
    pub fn at(&self, now: DateTime<Utc>, gzip: bool) -> Cow<'_, Body> {
        let Some(live) = &self.live else {
            return Cow::Borrowed(self);
        };
        let bytes = live.fill(now);
        let mut body = Body {
            status: self.status,
            content_type: self.content_type,
            etag: etag_of(&bytes),
            bytes,
            headers: self.headers.clone(),
            gzip: None,
            live: None,
        };
        if gzip {
            body = body.compressed_fast();
        } else if body.bytes.len() >= super::GZIP_MIN_BYTES {
            // A client that takes gzip would get another variant.
            body.headers.push(("Vary", "Accept-Encoding".to_string()));
        }
        Cow::Owned(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn holes_are_filled_from_the_time_of_the_answer() {
        let at = t("2026-03-29T00:59:00Z");
        let mut holes = Holes::new();
        let board = Arc::new(Board::new(2));
        let v = json!({
            "age_s": holes.put(At::Fixed(at), Show::SecondsSince),
            "nested": {"next_in_s": holes.put_opt(Some(At::Fixed(at + chrono::Duration::seconds(90))), Show::SecondsUntil)},
            "list": [holes.put(At::Fixed(at), Show::TenthsSince), holes.put(At::Fixed(at), Show::MillisSince)],
            "now": holes.put(At::Now, Show::Rfc3339),
            "human": holes.put(At::Fixed(at), Show::HumanSince),
            "warning": holes.put(At::Fixed(at), Show::OldDataWarning),
            "board": [holes.put(At::Board(board.clone(), 0), Show::Rfc3339), holes.put(At::Board(board.clone(), 1), Show::IsSet)],
            "text": "plain \u{0}hole7\u{0} text",
        });
        let body = Body::live(200, &v, holes, at);
        let rendered: serde_json::Value = serde_json::from_slice(&body.bytes).unwrap();
        assert_eq!(rendered["age_s"], 0);
        assert_eq!(rendered["nested"]["next_in_s"], 90);
        assert_eq!(rendered["board"], json!([null, false]));
        // The board moves without a re-render.
        board.set(0, Some(at.timestamp_millis()));
        board.set(1, Some(0));

        // Across the spring-forward hour: 1 h 2 min 3.46 s later.
        let later = at + chrono::Duration::milliseconds(3_723_460);
        let answered = body.at(later, false);
        let v: serde_json::Value = serde_json::from_slice(&answered.bytes).unwrap();
        assert_eq!(v["age_s"], 3723);
        assert_eq!(v["nested"]["next_in_s"], 0);
        assert_eq!(v["list"], json!([3723.5, 3723.46]));
        assert_eq!(v["now"], "2026-03-29T04:01:03+02:00");
        assert_eq!(v["human"], "1h 2m");
        assert_eq!(v["warning"], "Data is 3723s old (from 01:59:00)");
        assert_eq!(v["board"], json!(["2026-03-29T01:59:00+01:00", true]));
        // A marker-like string in the data is data, left as it is.
        assert_eq!(v["text"], "plain \u{0}hole7\u{0} text");
        assert_ne!(answered.etag, body.etag);
        assert_eq!(answered.etag, etag_of(&answered.bytes));
    }

    #[test]
    fn a_body_without_holes_is_answered_as_it_is() {
        let body = Body::live(200, &json!({"a": 1}), Holes::new(), clock::now());
        assert!(body.live.is_none());
        assert!(matches!(body.at(clock::now(), true), Cow::Borrowed(_)));
    }

    #[test]
    fn a_large_live_body_gets_a_gzip_variant_per_answer() {
        let mut holes = Holes::new();
        let v = json!({"age_s": holes.put(At::Now, Show::UnixSeconds), "pad": "x".repeat(4000)});
        let body = Body::live(200, &v, holes, clock::now());
        let answered = body.at(clock::now(), true);
        let gz = answered.gzip.as_ref().expect("a gzip variant");
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz.bytes[..]), &mut back)
            .unwrap();
        assert_eq!(back, answered.bytes);
    }
}
