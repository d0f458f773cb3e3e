//! The log-directory source: which `*.log` files the coordinator's log directory holds,
//! with their sizes and modification times (for `/status` and `/logs/files`), and the end
//! of each of them, parsed into records (for `/logs`).
//!
//! Each refresh lists the directory and re-reads the last `logs.max_lines` lines of every
//! listed file whose size, modification time or inode changed since the last refresh; an
//! unchanged file costs two `stat`s (listing and check), is not opened, and keeps its tail
//! (the same `Arc`)
//! (see [`crate::sources::log_text::tail`]: the cost does not grow with the file's size). Request
//! handlers then filter these tails in memory and never touch the disk.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::refresh::{RefreshContext, Refreshed, Source, SourceError, SourceId, SourceResult};
use crate::sources::log_text::record::{self, Record};
use crate::sources::log_text::tail;

/// At most this many bytes are read from the end of one file per refresh, whatever
/// `logs.max_lines` says (it bounds memory when lines are very long).
pub const TAIL_BYTE_BUDGET: u64 = 8 * 1024 * 1024;

/// At most this many listed files are tailed (sorted by name); the rest are only listed.
pub const MAX_TAILED_FILES: usize = 32;

/// The tails of all files together hold at most about this many bytes; files after the
/// budget is spent are listed but not tailed (their `/logs` answer says why).
pub const TOTAL_TAIL_BUDGET: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct LogFileInfo {
    pub name: String,
    pub size: u64,
    pub modified: Option<DateTime<Utc>>,
}

/// The last lines of one file, decoded (lossy UTF-8) and grouped into records.
#[derive(Debug, Clone, PartialEq)]
pub struct FileTail {
    pub lines: Vec<String>,
    pub records: Vec<Record>,
    /// True when `lines` is the whole file (so its line count is known).
    pub from_start: bool,
    /// When the end was read.
    pub read_at: DateTime<Utc>,
    /// Identity of what was read: size, modification time (ns) and inode.
    stamp: (u64, i128, u64),
}

impl FileTail {
    /// Bytes held by the lines.
    pub fn bytes(&self) -> u64 {
        self.lines.iter().map(|l| l.len() as u64).sum()
    }

    /// A tail from decoded lines (grouped into records here), read now.
    pub fn from_lines(lines: Vec<String>, from_start: bool) -> FileTail {
        let records = record::group(&lines, record::header_level);
        FileTail {
            lines,
            records,
            from_start,
            read_at: crate::clock::now(),
            stamp: (0, 0, 0),
        }
    }
}

/// The listing, sorted by name, and the end of each listed file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogListing {
    pub dir: PathBuf,
    pub files: Vec<LogFileInfo>,
    /// File name → its tail. Files that could not be read are in `tail_errors` instead.
    pub tails: BTreeMap<String, Arc<FileTail>>,
    pub tail_errors: BTreeMap<String, String>,
}

pub struct LogDirectory {
    dir: PathBuf,
    interval: Duration,
    max_lines: usize,
    previous: BTreeMap<String, Arc<FileTail>>,
}

impl LogDirectory {
    pub fn new(dir: PathBuf, interval: Duration, max_lines: usize) -> LogDirectory {
        LogDirectory {
            dir,
            interval,
            max_lines,
            previous: BTreeMap::new(),
        }
    }
}

fn stamp_of(meta: &std::fs::Metadata) -> (u64, i128, u64) {
    (
        meta.len(),
        i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        meta.ino(),
    )
}

/// Reads the end of `path` into a [`FileTail`]; `previous` is returned as is when the file
/// has not changed since it was read (one `stat`: the file is not even opened).
pub fn read_tail(
    path: &Path,
    max_lines: usize,
    previous: Option<&Arc<FileTail>>,
) -> std::io::Result<Arc<FileTail>> {
    if let Some(p) = previous {
        if p.stamp == stamp_of(&std::fs::metadata(path)?) {
            return Ok(Arc::clone(p));
        }
    }
    let mut f = std::fs::File::open(path)?;
    let meta = f.metadata()?;
    let stamp = stamp_of(&meta);
    if let Some(p) = previous.filter(|p| p.stamp == stamp) {
        return Ok(Arc::clone(p));
    }
    let t = tail::tail_lines(&mut f, meta.len(), max_lines, TAIL_BYTE_BUDGET)?;
    let lines: Vec<String> = t
        .lines
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    let mut tail = FileTail::from_lines(lines, t.from_start);
    tail.stamp = stamp;
    Ok(Arc::new(tail))
}

/// Lists regular `*.log` files directly inside `dir` (symlinks are not followed).
pub fn list(dir: &std::path::Path) -> std::io::Result<Vec<LogFileInfo>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !name.ends_with(".log") || name.starts_with('.') {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        files.push(LogFileInfo {
            name,
            size: meta.len(),
            modified: meta.modified().ok().map(DateTime::<Utc>::from),
        });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

impl Source for LogDirectory {
    type Data = LogListing;

    fn id(&self) -> SourceId {
        SourceId::Logs
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn refresh(&mut self, ctx: &RefreshContext) -> SourceResult<LogListing> {
        let files = list(&self.dir).map_err(|e| {
            SourceError::new(format!(
                "cannot list log directory {}: {e}",
                self.dir.display()
            ))
        })?;
        let mut tails = BTreeMap::new();
        let mut tail_errors = BTreeMap::new();
        let mut held = 0u64;
        for (i, f) in files.iter().enumerate() {
            if ctx.stopping() {
                break;
            }
            if i >= MAX_TAILED_FILES || held >= TOTAL_TAIL_BUDGET {
                tail_errors.insert(
                    f.name.clone(),
                    format!(
                        "{} is listed but its end is not kept: the log directory holds more \
                         than {MAX_TAILED_FILES} log files or {} MiB of log tails; download it \
                         with /logs/download/{}",
                        f.name,
                        TOTAL_TAIL_BUDGET >> 20,
                        f.name
                    ),
                );
                continue;
            }
            let path = self.dir.join(&f.name);
            match read_tail(&path, self.max_lines, self.previous.get(&f.name)) {
                Ok(t) => {
                    held += t.bytes();
                    tails.insert(f.name.clone(), t);
                }
                Err(e) => {
                    tail_errors.insert(f.name.clone(), format!("cannot read {}: {e}", f.name));
                }
            }
        }
        self.previous = tails.clone();
        Ok(Refreshed::new(LogListing {
            dir: self.dir.clone(),
            files,
            tails,
            tail_errors,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_only_regular_log_files_sorted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.log"), "12345").unwrap();
        std::fs::write(dir.path().join("a.log"), "1").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        std::fs::write(dir.path().join(".hidden.log"), "x").unwrap();
        std::fs::create_dir(dir.path().join("dir.log")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("passwd.log")).unwrap();
        let files = list(dir.path()).unwrap();
        let names: Vec<_> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a.log", "b.log"]);
        assert_eq!(files[1].size, 5);
    }

    #[test]
    fn tailing_is_bounded_in_files() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..MAX_TAILED_FILES + 2 {
            std::fs::write(dir.path().join(format!("f{i:03}.log")), "line\n").unwrap();
        }
        let mut src = LogDirectory::new(dir.path().to_path_buf(), Duration::from_secs(1), 10);
        let out = src.refresh(&RefreshContext::default()).unwrap();
        let listing = out.data;
        assert_eq!(listing.files.len(), MAX_TAILED_FILES + 2);
        assert_eq!(listing.tails.len(), MAX_TAILED_FILES);
        assert_eq!(listing.tail_errors.len(), 2);
        assert!(listing.tail_errors["f033.log"].contains("/logs/download/f033.log"));
    }

    #[test]
    fn tails_are_read_once_per_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.log");
        std::fs::write(
            &path,
            b"2025-12-06 14:00:01,234 - m - ERROR - boom\nTraceback\n\xff\xfe bad bytes\n",
        )
        .unwrap();
        let a = read_tail(&path, 10, None).unwrap();
        assert_eq!(a.lines.len(), 3);
        assert_eq!(a.records.len(), 1);
        assert!(a.lines[2].contains('\u{fffd}'));
        assert!(a.from_start);
        let b = read_tail(&path, 10, Some(&a)).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "unchanged file is not re-read");
        // The source keeps the same tails, and the same listing is not new data.
        let mut src = LogDirectory::new(dir.path().to_path_buf(), Duration::from_secs(1), 10);
        let ctx = RefreshContext::default();
        let one = src.refresh(&ctx).unwrap().data;
        let two = src.refresh(&ctx).unwrap().data;
        assert!(Arc::ptr_eq(&one.tails["m.log"], &two.tails["m.log"]));
        assert!(crate::sources::store::Same::same(&two, &one));
        std::fs::write(&path, "x\n").unwrap();
        let c = read_tail(&path, 10, Some(&a)).unwrap();
        assert_eq!(c.lines, ["x"]);
    }
}
