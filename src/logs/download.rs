//! `/logs/download/<name>`: one listed log file, streamed.
//!
//! The name is checked on the connection thread against the refresh side's listing, which holds only
//! regular `*.log` files directly in the log directory (symlinks, directories and dot-files
//! are never listed). Refused before any lookup: an empty name, separators, `..`, any `%`
//! (percent-encoded escapes are not decoded, so no encoded form can smuggle a separator),
//! a leading `.`, and characters that could not be put in a quoted header value.
//!
//! The file is opened on the stream's own thread, checked once more to be the regular file
//! of that name in the directory (not a symlink swapped in since the listing), and copied
//! in blocks with the length it had when opened: it is never read whole.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;

use crate::sources::log_dir::LogListing;

use crate::snapshot::Body;

/// Why a download name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    Empty,
    /// Separators, `..`, `%`, a leading dot or unprintable characters.
    Unsafe(&'static str),
    /// Well-formed but not a listed log file.
    NotListed(Vec<String>),
    /// The log directory has not been listed (yet).
    NoListing,
}

impl Refused {
    pub fn body(&self) -> Body {
        match self {
            Refused::Empty => Body::error(
                400,
                "a file name is required: /logs/download/<name> with a name from /logs/files",
                json!({"parameter": "name"}),
            ),
            Refused::Unsafe(why) => Body::error(
                400,
                &format!("refused file name: {why}; use a name exactly as /logs/files lists it"),
                json!({"parameter": "name"}),
            ),
            Refused::NotListed(valid) => Body::error(
                404,
                "log file not found; only files listed by /logs/files can be downloaded",
                json!({"valid_files": valid}),
            ),
            Refused::NoListing => Body::error(
                503,
                "the log directory has not been listed yet",
                json!({"route": super::DOWNLOAD}),
            ),
        }
    }
}

/// Checks the raw (still percent-encoded) path segment after `/logs/download/`.
pub fn check_name(raw: &str, listing: Option<&LogListing>) -> Result<String, Refused> {
    if raw.is_empty() {
        return Err(Refused::Empty);
    }
    if raw.contains('/') || raw.contains('\\') {
        return Err(Refused::Unsafe("it contains a path separator"));
    }
    if raw.contains('%') {
        return Err(Refused::Unsafe(
            "percent-encoded characters are not accepted",
        ));
    }
    if raw.contains("..") {
        return Err(Refused::Unsafe("it contains '..'"));
    }
    if raw.starts_with('.') {
        return Err(Refused::Unsafe("it names a hidden file"));
    }
    if !raw.bytes().all(|b| (0x21..0x7f).contains(&b) && b != b'"') {
        return Err(Refused::Unsafe(
            "it contains spaces, quotes, control or non-ASCII characters",
        ));
    }
    let listing = listing.ok_or(Refused::NoListing)?;
    match listing.files.iter().find(|f| f.name == raw) {
        Some(f) => Ok(f.name.clone()),
        None => Err(Refused::NotListed(
            listing.files.iter().map(|f| f.name.clone()).collect(),
        )),
    }
}

/// Opens `dir/name` and makes sure it is the regular file of that name, not a symlink or
/// something swapped in after the listing.
pub fn open_checked(dir: &Path, name: &str) -> io::Result<(File, u64)> {
    let path = dir.join(name);
    let file = File::open(&path)?;
    let opened = file.metadata()?;
    let at_name = std::fs::symlink_metadata(&path)?;
    let same = at_name.file_type().is_file()
        && opened.is_file()
        && at_name.dev() == opened.dev()
        && at_name.ino() == opened.ino();
    if !same {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "not a regular file in the log directory",
        ));
    }
    Ok((file, opened.len()))
}

fn error_response(w: &mut dyn Write, status: u16, message: &str) {
    let body = Body::error(status, message, json!({}));
    crate::http::respond::send(w, &crate::http::respond::encode(&body, false, false, false));
}

/// Streams `dir/name` to `w` as an attachment (headers only for HEAD). Stops early, leaving
/// the body short of its `Content-Length`, when `stopping` is set.
pub fn send(
    mut w: Box<dyn Write + Send>,
    dir: &Path,
    name: &str,
    head: bool,
    stopping: &AtomicBool,
) {
    let (file, len) = match open_checked(dir, name) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return error_response(&mut w, 404, "log file not found");
        }
        Err(e) => {
            log::warn!("download of {name} refused: {e}");
            return error_response(&mut w, 404, "log file not found");
        }
    };
    // `name` passed check_name: printable ASCII without quotes, so it is safe to quote.
    let head_text = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {len}\r\n\
         Content-Disposition: attachment; filename=\"{name}\"\r\nCache-Control: no-cache\r\n\
         X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n"
    );
    if w.write_all(head_text.as_bytes()).is_err() || head {
        let _ = w.flush();
        return;
    }
    // Exactly the length announced, even if the file grows meanwhile.
    let mut reader = file.take(len);
    let mut buf = vec![0u8; 64 * 1024];
    while !stopping.load(Ordering::Relaxed) {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if w.write_all(&buf[..n]).is_err() {
                    return; // the client went away
                }
            }
            Err(e) => {
                log::warn!("reading {name} for a download failed: {e}");
                return;
            }
        }
    }
    let _ = w.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::log_dir::LogFileInfo;

    fn listing() -> LogListing {
        let mut l = LogListing::default();
        for n in ["a.log", "master_coordinator.log"] {
            l.files.push(LogFileInfo {
                name: n.into(),
                size: 1,
                modified: None,
            });
        }
        l
    }

    #[test]
    fn names() {
        let l = listing();
        assert_eq!(check_name("a.log", Some(&l)), Ok("a.log".into()));
        for bad in [
            "",
            "../x",
            "..%2Fx",
            "%2e%2e",
            "/etc/passwd",
            "..",
            ".hidden.log",
            "a\\b",
            "a\".log",
            "a b.log",
            "a.log\r\nX: y",
        ] {
            let r = check_name(bad, Some(&l));
            assert!(
                matches!(r, Err(Refused::Empty | Refused::Unsafe(_))),
                "{bad:?}: {r:?}"
            );
            assert_eq!(r.unwrap_err().body().status, 400);
        }
        assert!(matches!(
            check_name("b.log", Some(&l)),
            Err(Refused::NotListed(_))
        ));
        assert!(matches!(
            check_name("passwd", Some(&l)),
            Err(Refused::NotListed(_))
        ));
        assert_eq!(check_name("a.log", None), Err(Refused::NoListing));
    }

    #[test]
    fn open_refuses_symlinks_and_directories() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ok.log"), "x").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("p.log")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("ok.log"), dir.path().join("in.log")).unwrap();
        std::fs::create_dir(dir.path().join("d.log")).unwrap();
        assert_eq!(open_checked(dir.path(), "ok.log").unwrap().1, 1);
        assert!(open_checked(dir.path(), "p.log").is_err());
        assert!(open_checked(dir.path(), "in.log").is_err());
        assert!(open_checked(dir.path(), "d.log").is_err());
    }
}
