//! The gzip variant of a pre-built body: compressed once, when the body is built. Only the
//! few bodies with values filled per answer ([`super::live`]) are compressed on a
//! connection's thread, at the fastest level.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;

use super::Body;

/// Bodies shorter than this are served plain only (compression would save little).
pub const GZIP_MIN_BYTES: usize = 1024;

/// A body's bytes gzip-compressed, and their ETag (the plain ETag with `-gz` inside the
/// quotes, so that the two variants never match each other).
#[derive(Debug, Clone)]
pub struct Gzip {
    pub bytes: Vec<u8>,
    pub etag: String,
}

impl Gzip {
    /// `bytes` compressed at the default level; `None` when that fails (it cannot for an
    /// in-memory buffer) or does not make them smaller.
    fn of(bytes: &[u8], etag: &str, level: Compression) -> Option<Gzip> {
        let mut enc = GzEncoder::new(Vec::with_capacity(bytes.len() / 4 + 64), level);
        enc.write_all(bytes).ok()?;
        let mut out = enc.finish().ok()?;
        if out.len() >= bytes.len() {
            return None;
        }
        out.shrink_to_fit();
        Some(Gzip {
            bytes: out,
            etag: gzip_etag(etag),
        })
    }
}

/// `"x"` → `"x-gz"` (a weak `W/"x"` keeps its prefix).
fn gzip_etag(etag: &str) -> String {
    match etag.strip_suffix('"') {
        Some(open) => format!("{open}-gz\""),
        None => format!("{etag}-gz"),
    }
}

impl Body {
    /// The body with its gzip variant, when it has at least [`GZIP_MIN_BYTES`] and gzip
    /// makes it smaller. Called where bodies are built ahead of requests (the refresh
    /// thread, the embedded page), once per body.
    pub fn compressed(mut self) -> Body {
        if self.gzip.is_none() && self.bytes.len() >= GZIP_MIN_BYTES {
            self.gzip = Gzip::of(&self.bytes, &self.etag, Compression::default());
        }
        self
    }

    /// [`Body::compressed`] at the fastest level: for bodies filled per answer
    /// ([`super::live`]), which are a few KiB.
    pub fn compressed_fast(mut self) -> Body {
        if self.gzip.is_none() && self.bytes.len() >= GZIP_MIN_BYTES {
            self.gzip = Gzip::of(&self.bytes, &self.etag, Compression::fast());
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn large_bodies_get_a_gzip_variant_that_decompresses_to_the_same_bytes() {
        let text = "{\"a\":1,\"b\":[1,2,3]}".repeat(200);
        let b = Body::new(200, super::super::JSON, text.clone().into_bytes()).compressed();
        let gz = b.gzip.as_ref().expect("compressed");
        assert!(gz.bytes.len() < text.len());
        assert_eq!(gz.etag, format!("{}-gz\"", &b.etag[..b.etag.len() - 1]));
        let mut back = String::new();
        flate2::read::GzDecoder::new(&gz.bytes[..])
            .read_to_string(&mut back)
            .unwrap();
        assert_eq!(back, text);
    }

    #[test]
    fn small_bodies_stay_plain() {
        let b = Body::new(200, super::super::JSON, b"{}".to_vec()).compressed();
        assert!(b.gzip.is_none());
        assert_eq!(gzip_etag("W/\"x\""), "W/\"x-gz\"");
    }
}
