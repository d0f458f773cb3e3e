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

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{etag_of, Body};
use crate::clock;

/// One value computed when the body is answered, from the time of the answer (`now`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hole {
    /// The time of the answer, local RFC 3339 (a JSON string).
    Now,
    /// Whole seconds since the instant (0 when it lies ahead).
    SecondsSince(DateTime<Utc>),
    /// Seconds since the instant, to a tenth (0.0 when it lies ahead).
    TenthsSince(DateTime<Utc>),
    /// Seconds since the instant, to the millisecond (may be negative when it lies ahead).
    MillisSince(DateTime<Utc>),
    /// Whole seconds until the instant (0 once it has passed).
    SecondsUntil(DateTime<Utc>),
    /// The time since the instant in words, e.g. `"3h 12m"` (a JSON string).
    HumanSince(DateTime<Utc>),
    /// `"Data is 95s old (from 14:03:12)"`: the warning of a reading observed at the
    /// instant (a JSON string).
    OldDataWarning(DateTime<Utc>),
}

impl Hole {
    /// The value as JSON text, as of `now`.
    fn write(self, now: DateTime<Utc>, out: &mut Vec<u8>) {
        let ms_since = |t: DateTime<Utc>| (now - t).num_milliseconds();
        let secs_since = |t: DateTime<Utc>| (ms_since(t).max(0) / 1000) as u64;
        let _ = match self {
            Hole::Now => write!(out, "\"{}\"", clock::local_rfc3339(now)),
            Hole::SecondsSince(t) => write!(out, "{}", secs_since(t)),
            Hole::TenthsSince(t) => {
                let tenths = (ms_since(t).max(0) as f64 / 100.0).round() / 10.0;
                write!(out, "{tenths:?}")
            }
            Hole::MillisSince(t) => write!(out, "{:?}", ms_since(t) as f64 / 1000.0),
            Hole::SecondsUntil(t) => write!(out, "{}", ((t - now).num_seconds()).max(0)),
            Hole::HumanSince(t) => {
                write!(out, "\"{}\"", clock::human_duration(secs_since(t)))
            }
            Hole::OldDataWarning(t) => write!(
                out,
                "\"Data is {}s old (from {})\"",
                secs_since(t),
                t.with_timezone(&clock::ZONE).format("%H:%M:%S")
            ),
        };
    }
}

/// The holes of one body being rendered, in the order they are put.
#[derive(Debug, Default)]
pub struct Holes(Vec<Hole>);

/// What a placeholder serializes to: a string no data carries (it begins with NUL), with
/// the hole's index so that a literal copy in some data cannot be taken for it.
const MARK: &str = "\u{0}hole";

impl Holes {
    pub fn new() -> Holes {
        Holes::default()
    }

    /// A placeholder for `hole`, to be put where its value goes.
    pub fn put(&mut self, hole: Hole) -> serde_json::Value {
        let marker = format!("{MARK}{}\u{0}", self.0.len());
        self.0.push(hole);
        serde_json::Value::String(marker)
    }

    /// A placeholder for `hole` when there is an instant, else null.
    pub fn put_opt(
        &mut self,
        at: Option<DateTime<Utc>>,
        hole: fn(DateTime<Utc>) -> Hole,
    ) -> serde_json::Value {
        at.map_or(serde_json::Value::Null, |t| self.put(hole(t)))
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
                    order.push(holes.0[i]);
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
        let live = Live::cut(&template.bytes, holes);
        let mut body = Body::new(status, template.content_type, live.fill(now));
        body.live = Some(std::sync::Arc::new(live));
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
        let v = json!({
            "age_s": holes.put(Hole::SecondsSince(at)),
            "nested": {"next_in_s": holes.put(Hole::SecondsUntil(at + chrono::Duration::seconds(90)))},
            "list": [holes.put(Hole::TenthsSince(at)), holes.put(Hole::MillisSince(at))],
            "now": holes.put(Hole::Now),
            "human": holes.put(Hole::HumanSince(at)),
            "warning": holes.put(Hole::OldDataWarning(at)),
            "text": "plain \u{0}hole7\u{0} text",
        });
        let body = Body::live(200, &v, holes, at);
        let rendered: serde_json::Value = serde_json::from_slice(&body.bytes).unwrap();
        assert_eq!(rendered["age_s"], 0);
        assert_eq!(rendered["nested"]["next_in_s"], 90);

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
        let v =
            json!({"age_s": holes.put(Hole::SecondsSince(clock::now())), "pad": "x".repeat(4000)});
        let body = Body::live(200, &v, holes, clock::now());
        let answered = body.at(clock::now(), true);
        let gz = answered.gzip.as_ref().expect("a gzip variant");
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz.bytes[..]), &mut back)
            .unwrap();
        assert_eq!(back, answered.bytes);
    }
}
