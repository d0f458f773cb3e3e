//! The snapshot: everything request handlers may read.
//!
//! A [`Snapshot`] is an immutable set of pre-serialized response [`Body`]s, keyed by a
//! *route key* (the path plus the canonical query, see [`route_key`]). The refresh thread
//! builds a new one and swaps it whole into the [`SnapshotCell`]; a connection thread clones the
//! `Arc` under a read lock that is held for a reference-count increment and nothing else.
//! There is exactly one writer of the cell: the refresh thread.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use serde::Serialize;

mod gzip;
pub mod live;
pub mod watch;

pub use gzip::{Gzip, Piece, GZIP_MIN_BYTES};
pub use live::{At, Board, Hole, Holes, Show};

/// One pre-serialized HTTP response: status, content type, bytes and their ETag, and the
/// bytes gzip-compressed when they are worth it ([`Body::compressed`]).
#[derive(Debug, Clone)]
pub struct Body {
    pub status: u16,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
    /// Strong ETag, quoted, derived from the bytes.
    pub etag: String,
    /// Extra response headers (never built from client input).
    pub headers: Vec<(&'static str, String)>,
    /// The same bytes gzip-compressed, with their own ETag; `None` for bodies built per
    /// request and bodies under [`GZIP_MIN_BYTES`].
    pub gzip: Option<Gzip>,
    /// The body cut at the values that depend on the time of the answer ([`live`]);
    /// `None` for bodies that are served as they are.
    pub live: Option<Arc<live::Live>>,
}

pub const JSON: &str = "application/json";

impl Body {
    /// A body from raw bytes.
    pub fn new(status: u16, content_type: &'static str, mut bytes: Vec<u8>) -> Body {
        // A body built by appending may hold up to twice its length; it is kept for as long
        // as it is served, so it keeps only its length.
        if bytes.capacity() - bytes.len() > 4096 {
            bytes.shrink_to_fit();
        }
        let etag = etag_of(&bytes);
        Body {
            status,
            content_type,
            bytes,
            etag,
            headers: Vec::new(),
            gzip: None,
            live: None,
        }
    }

    /// A JSON body. Serialization of our own types cannot fail in practice; if it does,
    /// the body says so instead of panicking.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Body {
        match to_json_vec(value) {
            Ok(bytes) => Body::new(status, JSON, bytes),
            Err(e) => Body::new(
                500,
                JSON,
                format!("{{\"error\":\"response could not be serialized: {}\"}}", e)
                    .replace('\n', " ")
                    .into_bytes(),
            ),
        }
    }

    /// A JSON error body: `{"error": message, ...extra}`.
    pub fn error(status: u16, message: &str, extra: serde_json::Value) -> Body {
        let mut obj = serde_json::Map::new();
        obj.insert(
            "error".into(),
            serde_json::Value::String(message.to_string()),
        );
        if let serde_json::Value::Object(extra) = extra {
            obj.extend(extra);
        }
        Body::json(status, &serde_json::Value::Object(obj))
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Body {
        self.headers.push((name, value.into()));
        self
    }
}

/// A quoted strong ETag for `bytes` (64-bit FNV-1a; collisions only cost a re-download).
/// Compact JSON, like `serde_json::to_vec`, except that `-0.0` is written as `0.0`: an
/// empty or cancelling sum is zero, never "negative zero", in every body we serve.
pub fn to_json_vec<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, NoNegativeZero);
    value.serialize(&mut ser)?;
    Ok(out)
}

/// `String` form of [`to_json_vec`].
pub fn to_json_string<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    to_json_vec(value).map(|v| String::from_utf8(v).expect("serde_json writes UTF-8"))
}

/// The compact formatter with `-0.0` normalised to `0.0`.
struct NoNegativeZero;

impl serde_json::ser::Formatter for NoNegativeZero {
    fn write_f64<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        value: f64,
    ) -> std::io::Result<()> {
        let value = if value == 0.0 { 0.0 } else { value };
        serde_json::ser::CompactFormatter.write_f64(writer, value)
    }

    fn write_f32<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        value: f32,
    ) -> std::io::Result<()> {
        let value = if value == 0.0 { 0.0 } else { value };
        serde_json::ser::CompactFormatter.write_f32(writer, value)
    }
}

pub fn etag_of(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{:016x}-{:x}\"", h, bytes.len())
}

/// The canonical key of a route with query parameters, e.g.
/// `route_key("/decisions", &[("time_range", "24h")])` is `/decisions?time_range=24h`.
/// Parameters are kept in the order given; callers always pass them in one fixed order.
pub fn route_key(path: &str, params: &[(&str, &str)]) -> String {
    let mut key = path.to_string();
    for (i, (name, value)) in params.iter().enumerate() {
        key.push(if i == 0 { '?' } else { '&' });
        key.push_str(name);
        key.push('=');
        key.push_str(value);
    }
    key
}

/// An immutable set of response bodies.
#[derive(Default)]
pub struct Snapshot {
    /// When the snapshot was built.
    pub built_at: Option<DateTime<Utc>>,
    /// Monotonic build counter (0 for the empty start-up snapshot).
    pub generation: u64,
    pub bodies: HashMap<String, Arc<Body>>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("built_at", &self.built_at)
            .field("generation", &self.generation)
            .field("bodies", &self.bodies.len())
            .finish()
    }
}

impl Snapshot {
    pub fn get(&self, key: &str) -> Option<&Arc<Body>> {
        self.bodies.get(key)
    }
}

/// The shared cell holding the current snapshot, and the change notice of the bodies
/// someone watches (see [`watch::Changes`]).
#[derive(Default)]
pub struct SnapshotCell {
    current: RwLock<Arc<Snapshot>>,
    changes: watch::Changes,
    /// Run after each store, on the refresh thread (the daemon hands freed memory back to
    /// the system there).
    after_store: std::sync::OnceLock<Box<dyn Fn() + Send + Sync>>,
}

impl SnapshotCell {
    pub fn new(initial: Snapshot) -> SnapshotCell {
        SnapshotCell {
            current: RwLock::new(Arc::new(initial)),
            changes: watch::Changes::default(),
            after_store: std::sync::OnceLock::new(),
        }
    }

    /// Sets what runs after each store (once; a second call is ignored).
    pub fn after_store(&self, hook: Box<dyn Fn() + Send + Sync>) {
        let _ = self.after_store.set(hook);
    }

    /// The change notice: streams wait on it for a watched body to change.
    pub fn changes(&self) -> &watch::Changes {
        &self.changes
    }

    /// The current snapshot. The lock is held only to clone the `Arc`.
    pub fn load(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current.read())
    }

    /// Replaces the snapshot whole. Only the refresh thread calls this.
    pub fn store(&self, next: Snapshot) {
        let next = Arc::new(next);
        let previous = std::mem::replace(&mut *self.current.write(), Arc::clone(&next));
        self.changes.compare(&previous, &next);
        drop(previous);
        if let Some(hook) = self.after_store.get() {
            hook();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_changes_with_content() {
        assert_ne!(etag_of(b"a"), etag_of(b"b"));
        assert_eq!(etag_of(b"abc"), etag_of(b"abc"));
        assert!(etag_of(b"").starts_with('"'));
    }

    #[test]
    fn route_key_is_canonical() {
        assert_eq!(route_key("/status", &[]), "/status");
        assert_eq!(
            route_key("/monthly-summary", &[("year", "2026"), ("month", "3")]),
            "/monthly-summary?year=2026&month=3"
        );
    }

    #[test]
    fn cell_swaps_whole_snapshot() {
        let cell = SnapshotCell::default();
        let old = cell.load();
        let mut next = Snapshot {
            generation: 1,
            ..Default::default()
        };
        next.bodies
            .insert("/x".into(), Arc::new(Body::new(200, JSON, b"{}".to_vec())));
        cell.store(next);
        assert_eq!(old.generation, 0);
        assert_eq!(cell.load().generation, 1);
        assert!(cell.load().get("/x").is_some());
    }

    #[test]
    fn negative_zero_is_written_as_zero_and_decimals_round_trip() {
        let v = serde_json::json!({"sum": -0.0, "list": [-0.0_f64, 0.0, -1.5], "f": -0.0_f32});
        let text = to_json_string(&v).unwrap();
        assert_eq!(text, r#"{"f":0.0,"list":[0.0,0.0,-1.5],"sum":0.0}"#);
        // float_roundtrip: a decimal read from the coordinator is written back unchanged.
        let parsed: serde_json::Value = serde_json::from_str("0.41052999999999995").unwrap();
        assert_eq!(to_json_string(&parsed).unwrap(), "0.41052999999999995");
        assert_eq!(parsed.as_f64(), Some(0.41052999999999995));
    }
}
