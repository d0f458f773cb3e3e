//! `/logs?follow=true`: a log file, or the journal view, as Server-Sent Events, on a
//! thread of its own.
//!
//! For `file=journal` ([`run_journal`]) no process is started: the stream sends the lines
//! that each refresh of the journal source added to the `journal` view, so new lines come
//! every `logs.journal_refresh_seconds`. The rest of this note is about files.
//!
//! The stream sends `retry:` once, a `start` event, the last `lines` lines that pass the
//! filters, then every line appended to the file, polling every [`POLL`] (no busy loop).
//! Every event carries an `id:`; a comment line is sent after [`HEARTBEAT`] of silence so a
//! vanished client shows up as a write error and the thread ends. The socket's send timeout
//! (set by the connection) bounds a write to a client that stopped reading.
//!
//! Rotation: when the file at the path is replaced (another inode), the rest of the old file
//! is sent and the new one is followed from its start; when it shrinks (truncated), it is
//! followed again from its start; while it is missing, the stream waits for it.
//!
//! Filters while following: `level` applies to records (a traceback line goes with the
//! header above it); `q` keeps a line that contains it, or any line of a record whose header
//! contains it. The stream sends `end` and its thread ends within one poll when shutdown
//! begins. The stream runs on its connection's thread; when it ends (also by itself, after
//! an `error` event) the connection is closed and its follower place freed.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::download::open_checked;
use crate::sources::journal::journal_header_level;
use crate::sources::log_text::record::{self, contains_ci, Filter, Level};
use crate::sources::log_text::tail;

/// How often the file is checked for new lines.
pub const POLL: Duration = Duration::from_millis(250);
/// A comment is sent after this long without an event.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// The reconnection delay suggested to clients, in ms.
pub const RETRY_MS: u64 = 3000;
/// At most this much is read from the file per poll.
const READ_CHUNK: usize = 256 * 1024;
/// An unterminated line longer than this is sent in parts.
const MAX_PARTIAL: usize = 1024 * 1024;
/// Bytes read from the end of the file for the first lines.
const INITIAL_BUDGET: u64 = 8 * 1024 * 1024;

/// What one follower streams.
pub struct Job {
    pub path: PathBuf,
    pub lines: usize,
    pub filter: Filter,
    pub stopping: Arc<AtomicBool>,
    /// HEAD: send the headers only.
    pub head: bool,
}

struct Sse {
    w: Box<dyn Write + Send>,
    next_id: u64,
    last_write: Instant,
}

impl Sse {
    fn raw(&mut self, text: &str) -> bool {
        self.last_write = Instant::now();
        self.w
            .write_all(text.as_bytes())
            .and_then(|_| self.w.flush())
            .is_ok()
    }

    fn event(&mut self, data: serde_json::Value) -> bool {
        self.next_id += 1;
        let text = format!("id: {}\ndata: {}\n\n", self.next_id, data);
        self.raw(&text)
    }

    /// Sends the head, `retry:` and the start event; false when the stream should end
    /// (a HEAD request, or the client went away).
    fn open(&mut self, head_only: bool, message: &str) -> bool {
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n\
                    Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n\
                    X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n";
        self.raw(head)
            && !head_only
            && self.raw(&format!("retry: {RETRY_MS}\n\n"))
            && self.event(json!({"type": "start", "message": message}))
    }

    fn line(&mut self, line: &str) -> bool {
        self.event(json!({"type": "log", "line": line.trim_end()}))
    }
}

/// Decides line by line what passes the filters while following.
struct LineFilter {
    filter: Filter,
    header: fn(&str) -> Option<Level>,
    /// Whether the current record passes `level`, and whether its header contained `q`.
    record_level_ok: bool,
    record_q: bool,
}

impl LineFilter {
    fn new(filter: Filter, header: fn(&str) -> Option<Level>) -> LineFilter {
        LineFilter {
            header,
            record_level_ok: filter.level.is_none(),
            record_q: false,
            filter,
        }
    }

    fn keeps(&mut self, line: &str) -> bool {
        let hit = self
            .filter
            .needle
            .as_deref()
            .is_none_or(|n| contains_ci(line, n));
        if let Some(level) = (self.header)(line) {
            self.record_level_ok = self.filter.level.is_none_or(|l| l == level);
            self.record_q = hit;
        }
        self.record_level_ok && (hit || self.record_q)
    }
}

fn identity(m: &std::fs::Metadata) -> (u64, u64) {
    (m.dev(), m.ino())
}

/// Runs one follower until the client goes away or shutdown begins.
pub fn run(w: Box<dyn Write + Send>, job: Job) {
    let mut sse = Sse {
        w,
        next_id: 0,
        last_write: Instant::now(),
    };
    let name = job
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = job.path.parent().map(PathBuf::from).unwrap_or_default();
    // Where following starts is fixed before the start event, so a line written after the
    // client saw that event is never lost.
    let opened = open_at_end(&dir, &name, job.lines);
    if !sse.open(job.head, "Starting log stream") {
        return;
    }
    let (mut file, mut ident, lines, mut pos) = match opened {
        Ok(o) => o,
        Err(message) => {
            sse.event(json!({"type": "error", "message": message}));
            return;
        }
    };
    let records = record::group(&lines, record::header_level);
    let sel = record::select(&lines, &records, &job.filter, job.lines);
    for l in &sel.lines {
        if !sse.line(l) {
            return;
        }
    }
    // Carry the last record's state into the follow phase.
    let mut filter = LineFilter::new(job.filter.clone(), record::header_level);
    for l in &lines {
        filter.keeps(l);
    }
    let mut partial: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        if job.stopping.load(Ordering::Relaxed) {
            sse.event(json!({"type": "end", "message": "the server is shutting down"}));
            return;
        }
        // Read what was appended (all of it, a chunk per step, while there is more).
        let mut progressed = true;
        while progressed {
            progressed = false;
            let n = file
                .seek(SeekFrom::Start(pos))
                .and_then(|_| file.read(&mut buf));
            if let Ok(n) = n {
                if n > 0 {
                    progressed = n == buf.len();
                    pos += n as u64;
                    partial.extend_from_slice(&buf[..n]);
                    if !emit_complete(&mut sse, &mut partial, &mut filter) {
                        return;
                    }
                }
            }
            if job.stopping.load(Ordering::Relaxed) {
                break;
            }
        }
        // Rotation: replaced, truncated or (for now) missing.
        match std::fs::symlink_metadata(&job.path) {
            Ok(m) if identity(&m) != ident => {
                if let Ok((f, _)) = open_checked(&dir, &name) {
                    file = f;
                    ident = identity(&m);
                    pos = 0;
                    partial.clear();
                    if !sse.event(json!({"type": "rotated", "message": format!("{name} was replaced; following the new file")})) {
                        return;
                    }
                    continue;
                }
            }
            Ok(m) if m.len() < pos => {
                pos = 0;
                partial.clear();
                if !sse.event(json!({"type": "rotated", "message": format!("{name} was truncated; following it from its start")})) {
                    return;
                }
                continue;
            }
            _ => {}
        }
        if sse.last_write.elapsed() >= HEARTBEAT && !sse.raw(": heartbeat\n\n") {
            return;
        }
        std::thread::sleep(POLL);
    }
}

/// What one journal follower streams: the `journal` view as the journal source refreshes
/// it (every `logs.journal_refresh_seconds`; no process is started per client).
pub struct JournalJob {
    pub hub: Arc<super::LogsHub>,
    pub lines: usize,
    pub filter: Filter,
    pub stopping: Arc<AtomicBool>,
    pub head: bool,
}

/// Where `old` ends inside `new`: the index after the last line of `new` at which the last
/// few lines of `old` appear in order; `None` when they do not (more than a window of new
/// lines arrived, or the journal was rotated away).
pub fn overlap_end<S: AsRef<str>>(old: &[S], new: &[S]) -> Option<usize> {
    let k = old.len().min(3);
    if k == 0 {
        return Some(0);
    }
    let tail = &old[old.len() - k..];
    (k..=new.len()).rev().find(|&end| {
        new[end - k..end]
            .iter()
            .zip(tail)
            .all(|(a, b)| a.as_ref() == b.as_ref())
    })
}

/// Runs one journal follower until the client goes away or shutdown begins.
pub fn run_journal(w: Box<dyn Write + Send>, job: JournalJob) {
    let mut sse = Sse {
        w,
        next_id: 0,
        last_write: Instant::now(),
    };
    // Only the journal read is kept, not the whole view (every file's tail) for as long
    // as the stream is open.
    let first = {
        let view = job.hub.view();
        view.journal
            .clone()
            .ok_or_else(|| view.journal_error.clone())
    };
    if !sse.open(job.head, "Starting systemd journal stream") {
        return;
    }
    let mut current = match first {
        Ok(journal) => journal,
        Err(why) => {
            let why = why.as_deref().unwrap_or("not read yet");
            sse.event(json!({"type": "error", "message": format!("the systemd journal is unavailable: {why}")}));
            return;
        }
    };
    let v = &current.journal;
    let sel = record::select(&v.lines, &v.records, &job.filter, job.lines);
    for l in &sel.lines {
        if !sse.line(l) {
            return;
        }
    }
    let mut filter = LineFilter::new(job.filter.clone(), journal_header_level);
    for l in &v.lines {
        filter.keeps(l);
    }
    loop {
        if job.stopping.load(Ordering::Relaxed) {
            sse.event(json!({"type": "end", "message": "the server is shutting down"}));
            return;
        }
        if let Some(next) = job.hub.view().journal.clone() {
            if next.read_at != current.read_at {
                let (old, new) = (&current.journal.lines, &next.journal.lines);
                let from = match overlap_end(old, new) {
                    Some(i) => i,
                    None => {
                        let gap = json!({"type": "gap", "message": "more lines arrived than one journal read holds; some may be missing"});
                        if !sse.event(gap) {
                            return;
                        }
                        0
                    }
                };
                for l in &new[from..] {
                    if filter.keeps(l) && !sse.line(l) {
                        return;
                    }
                }
                current = next;
            }
        }
        if sse.last_write.elapsed() >= HEARTBEAT && !sse.raw(": heartbeat\n\n") {
            return;
        }
        std::thread::sleep(POLL);
    }
}

/// Opens `dir/name` and reads its last `lines` complete lines: the file, its identity, the
/// lines, and the offset where following starts.
#[allow(
    clippy::type_complexity,
    reason = "the four parts are named in the doc comment and taken apart at the one call site"
)]
fn open_at_end(
    dir: &std::path::Path,
    name: &str,
    lines: usize,
) -> Result<(std::fs::File, (u64, u64), Vec<String>, u64), String> {
    let (mut file, len) =
        open_checked(dir, name).map_err(|e| format!("cannot open {name}: {e}"))?;
    let ident = file
        .metadata()
        .map(|m| identity(&m))
        .map_err(|e| format!("cannot read {name}: {e}"))?;
    // At least one line is read, so that an unterminated last line is found even for
    // `lines=0` (it is then sent once it is complete).
    let mut t = tail::tail_lines(&mut file, len, lines.max(1), INITIAL_BUDGET)
        .map_err(|e| format!("cannot read {name}: {e}"))?;
    if t.end_complete < t.end {
        t.lines.pop();
    }
    let skip = t.lines.len().saturating_sub(lines);
    let lines = t.lines[skip..]
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    Ok((file, ident, lines, t.end_complete))
}

/// Sends the complete lines in `partial` and keeps the unterminated rest (sent anyway once
/// it exceeds [`MAX_PARTIAL`]). False when the client went away.
fn emit_complete(sse: &mut Sse, partial: &mut Vec<u8>, filter: &mut LineFilter) -> bool {
    let mut start = 0;
    while let Some(i) = partial[start..].iter().position(|&b| b == b'\n') {
        let raw = &partial[start..start + i];
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = String::from_utf8_lossy(raw);
        if filter.keeps(&line) && !sse.line(&line) {
            return false;
        }
        start += i + 1;
    }
    partial.drain(..start);
    if partial.len() > MAX_PARTIAL {
        let line = String::from_utf8_lossy(partial).into_owned();
        partial.clear();
        if filter.keeps(&line) && !sse.line(&line) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap() {
        let old = ["a", "b", "c", "d"];
        assert_eq!(overlap_end(&old, &["b", "c", "d", "e", "f"]), Some(3));
        assert_eq!(
            overlap_end(&old, &["c", "d"]),
            None,
            "the last three must match"
        );
        assert_eq!(overlap_end(&old, &["x", "y"]), None);
        assert_eq!(overlap_end(&old, &["a", "b", "c", "d"]), Some(4));
        // Repeated lines: the last occurrence wins.
        let old = ["x", "x", "x"];
        assert_eq!(overlap_end(&old, &["x", "x", "x", "x", "y"]), Some(4));
        let empty: [&str; 0] = [];
        assert_eq!(overlap_end(&empty, &["a"]), Some(0));
    }

    #[test]
    fn line_filter_follows_records() {
        let mut f = LineFilter::new(Filter::new(Some(Level::Error), None), record::header_level);
        assert!(!f.keeps("continuation of an unknown record"));
        assert!(f.keeps("2025-12-06 14:00:02,000 - c - ERROR - Failed"));
        assert!(f.keeps("Traceback (most recent call last):"));
        assert!(!f.keeps("2025-12-06 14:00:03,000 - c - INFO - ERROR in text"));
        assert!(!f.keeps("  more"));
        let mut f = LineFilter::new(Filter::new(None, Some("weather")), record::header_level);
        assert!(f.keeps("2025-12-06 14:00:02,000 - c - ERROR - Weather failed"));
        assert!(f.keeps("Traceback"));
        assert!(!f.keeps("2025-12-06 14:00:03,000 - c - INFO - other"));
        assert!(f.keeps("a weather line inside"));
    }
}
