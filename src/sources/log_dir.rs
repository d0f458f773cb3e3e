//! The log-directory source: which `*.log` files the coordinator's log directory holds,
//! with their sizes and modification times (for `/status` and `/logs/files`).

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::refresh::{RefreshContext, Refreshed, Source, SourceError, SourceResult};

#[derive(Debug, Clone, PartialEq)]
pub struct LogFileInfo {
    pub name: String,
    pub size: u64,
    pub modified: Option<DateTime<Utc>>,
}

/// The listing, sorted by name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogListing {
    pub dir: PathBuf,
    pub files: Vec<LogFileInfo>,
}

pub struct LogDirectory {
    dir: PathBuf,
    interval: Duration,
}

impl LogDirectory {
    pub fn new(dir: PathBuf, interval: Duration) -> LogDirectory {
        LogDirectory { dir, interval }
    }
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
    fn name(&self) -> &'static str {
        super::names::LOGS
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn refresh(&mut self, _ctx: &RefreshContext) -> SourceResult {
        let files = list(&self.dir).map_err(|e| {
            SourceError::new(format!(
                "cannot list log directory {}: {e}",
                self.dir.display()
            ))
        })?;
        Ok(Refreshed::new(LogListing {
            dir: self.dir.clone(),
            files,
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
}
