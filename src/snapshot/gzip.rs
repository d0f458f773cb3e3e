//! The gzip variant of a pre-built body: compressed once, when the body is built. Only the
//! few bodies with values filled per answer ([`super::live`]) are compressed on a
//! connection's thread, at the fastest level.

use std::io::Write;

use flate2::write::{DeflateEncoder, GzEncoder};
use flate2::{Compression, Crc};

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

/// A piece of a body compressed on its own: raw deflate blocks that end on a byte
/// boundary and are not final, with the piece's CRC-32. A body made of pieces side by side
/// is gzip-compressed by putting their compressed forms side by side ([`Body::with_pieces`]):
/// when one piece of a large body changes (a section of the dashboard document), only that
/// piece is compressed again.
#[derive(Debug)]
pub struct Piece {
    deflate: Vec<u8>,
    crc: Crc,
}

impl Piece {
    /// `bytes` compressed at the default level.
    pub fn compress(bytes: &[u8]) -> Piece {
        let mut enc = DeflateEncoder::new(
            Vec::with_capacity(bytes.len() / 3 + 64),
            Compression::default(),
        );
        // A sync flush ends the blocks on a byte boundary without a final block; what the
        // encoder would add when dropped goes to the emptied buffer.
        let deflate = match enc.write_all(bytes).and_then(|_| enc.flush()) {
            Ok(()) => std::mem::take(enc.get_mut()),
            Err(_) => return Piece::stored(bytes),
        };
        Piece {
            deflate,
            crc: crc_of(bytes),
        }
    }

    /// `bytes` as they are, in stored blocks (for a few bytes of glue).
    pub fn stored(bytes: &[u8]) -> Piece {
        let mut deflate = Vec::with_capacity(bytes.len() + 5 * (bytes.len() / 65_535 + 1));
        for chunk in bytes.chunks(65_535) {
            let len = chunk.len() as u16;
            // BFINAL 0, BTYPE 00, padded to the byte; then LEN and its complement.
            deflate.push(0);
            deflate.extend_from_slice(&len.to_le_bytes());
            deflate.extend_from_slice(&(!len).to_le_bytes());
            deflate.extend_from_slice(chunk);
        }
        Piece {
            deflate,
            crc: crc_of(bytes),
        }
    }
}

fn crc_of(bytes: &[u8]) -> Crc {
    let mut crc = Crc::new();
    crc.update(bytes);
    crc
}

impl Body {
    /// The body with a gzip variant made of `pieces`, which must be its bytes side by side
    /// (the caller's promise); under [`GZIP_MIN_BYTES`] the body stays plain.
    pub fn with_pieces(mut self, pieces: &[&Piece]) -> Body {
        if self.bytes.len() < GZIP_MIN_BYTES {
            return self;
        }
        let len: usize = pieces.iter().map(|p| p.deflate.len()).sum();
        let mut out = Vec::with_capacity(len + 20);
        // The gzip header: deflate, no flags, no time, any OS.
        out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
        let mut crc = Crc::new();
        for p in pieces {
            out.extend_from_slice(&p.deflate);
            crc.combine(&p.crc);
        }
        // An empty final block (fixed Huffman, end of block), then CRC-32 and length.
        out.extend_from_slice(&[0x03, 0x00]);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&crc.amount().to_le_bytes());
        self.gzip = Some(Gzip {
            bytes: out,
            etag: gzip_etag(&self.etag),
        });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn pieces_side_by_side_make_one_gzip_member_of_the_whole() {
        let a = "{\"section\":".repeat(300);
        let b = "[1,2,3,4,5],".repeat(500);
        let whole = format!("{a}{b}{a}");
        let pieces = [
            Piece::compress(a.as_bytes()),
            Piece::stored(b.as_bytes()),
            Piece::compress(a.as_bytes()),
        ];
        let refs: Vec<&Piece> = pieces.iter().collect();
        let body =
            Body::new(200, super::super::JSON, whole.clone().into_bytes()).with_pieces(&refs);
        let gz = body.gzip.as_ref().expect("compressed");
        // One member: a single-member decoder reads the whole body.
        let mut back = String::new();
        flate2::read::GzDecoder::new(&gz.bytes[..])
            .read_to_string(&mut back)
            .unwrap();
        assert_eq!(back, whole);
        // The compressed pieces shrink; the stored one is carried as it is.
        assert!(gz.bytes.len() < b.len() + 200, "{}", gz.bytes.len());
    }

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
