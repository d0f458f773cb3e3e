//! [`DemoError`]: a generation failure, naming the file or the option at fault.

use std::fmt;
use std::path::{Path, PathBuf};

use super::MARKER;

/// A generation failure, naming the file or the option at fault.
#[derive(Debug)]
pub enum DemoError {
    /// An option is out of range.
    Invalid(String),
    /// The directory holds files that the demo did not write.
    NotDemoDir(PathBuf),
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    Db {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// The written config did not validate (a bug, reported with its message).
    Config(String),
}

impl DemoError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> DemoError {
        DemoError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(super) fn db(path: &Path, source: rusqlite::Error) -> DemoError {
        DemoError::Db {
            path: path.to_path_buf(),
            source,
        }
    }

    /// True when the user can fix it by choosing other arguments.
    pub fn is_usage(&self) -> bool {
        matches!(self, DemoError::Invalid(_) | DemoError::NotDemoDir(_))
    }
}

impl fmt::Display for DemoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DemoError::Invalid(m) => f.write_str(m),
            DemoError::NotDemoDir(p) => write!(
                f,
                "{} is not empty and was not written by `energy-monitor demo` (no {MARKER} file); \
                 refusing to overwrite it: choose an empty or new directory with --dir",
                p.display()
            ),
            DemoError::Io { path, source } => {
                write!(f, "cannot write {}: {source}", path.display())
            }
            DemoError::Db { path, source } => {
                write!(
                    f,
                    "cannot write the demo database {}: {source}",
                    path.display()
                )
            }
            DemoError::Config(m) => write!(f, "the generated config is invalid: {m}"),
        }
    }
}

impl std::error::Error for DemoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DemoError::Io { source, .. } => Some(source),
            DemoError::Db { source, .. } => Some(source),
            _ => None,
        }
    }
}
