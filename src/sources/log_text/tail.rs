//! Reading the last lines of a file from its end, in fixed-size blocks.
//!
//! The cost depends on how many lines are wanted and how long they are, never on the size
//! of the file: blocks of [`BLOCK`] bytes are read backwards from the end until enough line
//! breaks are seen, the start of the file is reached, or the byte budget is spent. Bytes are
//! kept raw; decoding (lossy UTF-8) is the caller's choice.

use std::io::{self, Read, Seek, SeekFrom};

/// Bytes read per step backwards.
pub const BLOCK: usize = 64 * 1024;

/// The end of a file: its last lines and where they sit in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tail {
    /// The lines, oldest first, without their line break (a trailing `\r` is removed too).
    /// The last one may be unterminated (a writer in the middle of a line).
    pub lines: Vec<Vec<u8>>,
    /// Offset of the first byte of `lines[0]`.
    pub start: u64,
    /// The file's length when it was read: one past the last byte of `lines`.
    pub end: u64,
    /// One past the last line break in the window (`== end` when the file ends with one).
    pub end_complete: u64,
    /// True when `lines` starts at the file's first byte: the window is the whole file.
    pub from_start: bool,
}

/// The last `max_lines` lines of the first `len` bytes of `r`, reading at most about
/// `max_bytes` (rounded up to whole blocks). When the budget runs out first, fewer lines
/// are returned; a line is never returned cut at its start.
pub fn tail_lines<R: Read + Seek>(
    r: &mut R,
    len: u64,
    max_lines: usize,
    max_bytes: u64,
) -> io::Result<Tail> {
    let mut empty = Tail {
        lines: Vec::new(),
        start: len,
        end: len,
        end_complete: len,
        from_start: len == 0,
    };
    if max_lines == 0 || len == 0 {
        return Ok(empty);
    }
    // Blocks are collected newest first and joined once at the end.
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut pos = len;
    let mut breaks = 0usize;
    let mut read_total = 0u64;
    // A break at the very end of the file terminates the last line; it does not start one.
    let mut skip_final_break = true;
    while pos > 0 {
        let size = (BLOCK as u64).min(pos);
        pos -= size;
        r.seek(SeekFrom::Start(pos))?;
        let mut block = vec![0u8; size as usize];
        r.read_exact(&mut block)?;
        read_total += size;
        let mut n = memchr_count(&block);
        if skip_final_break {
            if pos + size == len && block.last() == Some(&b'\n') {
                n -= 1;
            }
            skip_final_break = false;
        }
        breaks += n;
        blocks.push(block);
        // `max_lines` lines need `max_lines` breaks before them (or the file's start).
        if breaks >= max_lines || read_total >= max_bytes {
            break;
        }
    }
    let mut data = Vec::with_capacity(read_total as usize);
    for b in blocks.iter().rev() {
        data.extend_from_slice(b);
    }
    drop(blocks);
    let window_start = pos;
    let end_complete = match data.iter().rposition(|&b| b == b'\n') {
        Some(i) => window_start + i as u64 + 1,
        None => window_start,
    };
    let body: &[u8] = if data.last() == Some(&b'\n') {
        &data[..data.len() - 1]
    } else {
        &data
    };
    let mut pieces: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
    // Unless the window starts at the file's start, its first piece may be cut: drop it.
    let mut start = window_start;
    if window_start > 0 {
        let first = pieces.remove(0);
        start += first.len() as u64 + 1;
    }
    let skip = pieces.len().saturating_sub(max_lines);
    for p in &pieces[..skip] {
        start += p.len() as u64 + 1;
    }
    let from_start = start == 0;
    empty.lines = pieces[skip..]
        .iter()
        .map(|p| p.strip_suffix(b"\r").unwrap_or(p).to_vec())
        .collect();
    empty.start = start.min(len);
    empty.end_complete = end_complete.max(empty.start);
    empty.from_start = from_start;
    Ok(empty)
}

fn memchr_count(block: &[u8]) -> usize {
    block.iter().filter(|&&b| b == b'\n').count()
}

/// Opens `path` and returns its last `max_lines` lines (see [`tail_lines`]).
pub fn tail_file(path: &std::path::Path, max_lines: usize, max_bytes: u64) -> io::Result<Tail> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    tail_lines(&mut f, len, max_lines, max_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn tail(text: &[u8], n: usize) -> Tail {
        tail_lines(&mut Cursor::new(text), text.len() as u64, n, u64::MAX).unwrap()
    }

    fn strs(t: &Tail) -> Vec<String> {
        t.lines
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect()
    }

    #[test]
    fn small_files() {
        assert_eq!(strs(&tail(b"", 5)), Vec::<String>::new());
        assert!(tail(b"", 5).from_start);
        assert_eq!(strs(&tail(b"a\nb\nc\n", 2)), ["b", "c"]);
        assert_eq!(strs(&tail(b"a\nb\nc\n", 3)), ["a", "b", "c"]);
        assert!(tail(b"a\nb\nc\n", 3).from_start);
        assert!(!tail(b"a\nb\nc\n", 2).from_start);
        assert_eq!(tail(b"a\nb\nc\n", 2).start, 2);
        assert_eq!(strs(&tail(b"a\nb\nc\n", 10)), ["a", "b", "c"]);
        // No final break: the last line is still a line.
        let t = tail(b"a\nb\nc", 2);
        assert_eq!(strs(&t), ["b", "c"]);
        assert_eq!(t.end_complete, 4);
        assert_eq!(t.end, 5);
        // Empty lines and CRLF.
        assert_eq!(strs(&tail(b"a\r\n\r\nb\r\n", 3)), ["a", "", "b"]);
        assert_eq!(strs(&tail(b"\n\n", 5)), ["", ""]);
    }

    #[test]
    fn matches_a_naive_tail_across_block_boundaries() {
        let mut text = Vec::new();
        for i in 0..20_000 {
            text.extend_from_slice(format!("line {i} {}\n", "x".repeat(i % 97)).as_bytes());
        }
        let all: Vec<&[u8]> = text[..text.len() - 1].split(|&b| b == b'\n').collect();
        for n in [1, 2, 99, 100, 1000, 5000, 19_999, 20_000, 30_000] {
            let t = tail(&text, n);
            let want: Vec<Vec<u8>> = all[all.len().saturating_sub(n)..]
                .iter()
                .map(|l| l.to_vec())
                .collect();
            assert_eq!(t.lines, want, "n={n}");
            assert_eq!(t.from_start, n >= 20_000, "n={n}");
            // `start` points at the first returned line.
            assert!(text[t.start as usize..].starts_with(&want[0]));
        }
    }

    #[test]
    fn byte_budget_bounds_the_read() {
        let line = format!("{}\n", "y".repeat(1000));
        let text = line.repeat(1000);
        let t = tail_lines(
            &mut Cursor::new(text.as_bytes()),
            text.len() as u64,
            1000,
            BLOCK as u64,
        )
        .unwrap();
        // One block holds 65 whole lines of 1001 bytes; the cut one is dropped.
        assert_eq!(t.lines.len(), 65);
        assert!(t.lines.iter().all(|l| l.len() == 1000));
        assert!(!t.from_start);
    }

    #[test]
    fn one_huge_line_without_breaks() {
        let text = vec![b'z'; BLOCK * 3];
        let t = tail_lines(&mut Cursor::new(&text), text.len() as u64, 10, BLOCK as u64).unwrap();
        assert!(
            t.lines.is_empty(),
            "a line cut at its start is not returned"
        );
        let t = tail(&text, 10);
        assert_eq!(t.lines.len(), 1);
        assert!(t.from_start);
    }
}
