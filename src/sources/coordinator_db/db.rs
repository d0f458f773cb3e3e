//! The read-only handle on the coordinator's SQLite DB, owned by one source lane.
//!
//! It opens the file with `SQLITE_OPEN_READ_ONLY` (never `CREATE`, so a missing file stays
//! missing), sets an explicit busy timeout and `query_only`, and before every use checks
//! the file's device and inode: a deleted file drops the connection, a replaced file (new
//! inode) is reopened. Queries are single short statements run to completion, so no read
//! transaction outlives a refresh and the writer's WAL checkpoints are never held back.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// How long a statement waits for a lock held by the writer before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_millis(2000);

/// Why the DB could not be used.
#[derive(Debug)]
pub enum DbError {
    /// The file does not exist (yet, or any more).
    Missing(PathBuf),
    /// The file exists but could not be opened read-only.
    Open(PathBuf, rusqlite::Error),
    /// A query failed; `what` names the table and purpose.
    Query(&'static str, rusqlite::Error),
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::Missing(p) => write!(
                f,
                "coordinator database {} does not exist (is coordinator.database right, and has the coordinator started?)",
                p.display()
            ),
            DbError::Open(p, e) => write!(
                f,
                "cannot open coordinator database {} read-only: {e}",
                p.display()
            ),
            DbError::Query(what, e) => write!(f, "database query failed ({what}): {e}"),
        }
    }
}

impl std::error::Error for DbError {}

/// Identity of the file behind an open connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

fn file_id(path: &Path) -> Option<FileId> {
    std::fs::metadata(path).ok().map(|m| FileId {
        dev: m.dev(),
        ino: m.ino(),
    })
}

/// What `stat` says of one file: size, modification time (ns) and inode; `None` when the
/// file does not exist. Equal stamps mean the file was not written (SQLite changes size or
/// mtime on every commit, and a replaced file has a new inode).
pub type FileStamp = Option<(u64, i128, u64)>;

/// The [`FileStamp`] of `path`.
pub fn file_stamp(path: &Path) -> FileStamp {
    let m = std::fs::metadata(path).ok()?;
    let mtime = i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec());
    Some((m.len(), mtime, m.ino()))
}

/// The stamps of the DB file and of its `-wal` file (an empty one counts as none): a commit changes one of them (a
/// commit in WAL mode only the `-wal` file), so equal stamps mean the DB holds what it
/// held. Two `stat` calls, no SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DbStamp {
    pub db: FileStamp,
    pub wal: FileStamp,
}

/// A file written this close before it was stamped may be written again within the same
/// mtime tick with the same size (a reused `-wal` file), so such a stamp is not trusted.
pub const RACY: Duration = Duration::from_secs(2);

impl DbStamp {
    /// True when every file's mtime lies more than [`RACY`] before `taken` (when the stamp
    /// was taken): a later write then shows as a new mtime.
    pub fn settled(&self, taken: std::time::SystemTime) -> bool {
        let Ok(t) = taken.duration_since(std::time::UNIX_EPOCH) else {
            return false;
        };
        let limit = t.saturating_sub(RACY).as_nanos() as i128;
        [self.db, self.wal]
            .iter()
            .flatten()
            .all(|(_, mtime, _)| *mtime < limit)
    }
}

/// The handle. Not `Sync`: it lives on one lane.
pub struct Db {
    path: PathBuf,
    conn: Option<(Connection, FileId)>,
    /// Times the file was (re)opened; shown in logs and used by tests.
    pub opens: u64,
}

impl Db {
    pub fn new(path: PathBuf) -> Db {
        Db {
            path,
            conn: None,
            opens: 0,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stamps of the DB file and its `-wal` file, as they are now.
    pub fn stamp(&self) -> DbStamp {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        DbStamp {
            db: file_stamp(&self.path),
            // An empty -wal file holds nothing: the same as none (a reader opening the DB
            // creates one).
            wal: file_stamp(Path::new(&wal)).filter(|(len, _, _)| *len > 0),
        }
    }

    /// True while a connection is open (as of the last [`Db::connection`] call).
    pub fn is_open(&self) -> bool {
        self.conn.is_some()
    }

    /// The open connection, after checking that the file is still the one it was opened
    /// on; opens or reopens as needed.
    pub fn connection(&mut self) -> Result<&Connection, DbError> {
        let Some(id) = file_id(&self.path) else {
            if self.conn.take().is_some() {
                log::warn!(
                    "coordinator database {} disappeared; closed it",
                    self.path.display()
                );
            }
            return Err(DbError::Missing(self.path.clone()));
        };
        if let Some((_, open_id)) = &self.conn {
            if *open_id != id {
                log::info!(
                    "coordinator database {} was replaced; reopening",
                    self.path.display()
                );
                self.conn = None;
            }
        }
        if self.conn.is_none() {
            let conn = open_read_only(&self.path)?;
            self.opens += 1;
            log::info!(
                "opened coordinator database {} read-only",
                self.path.display()
            );
            self.conn = Some((conn, id));
        }
        match &self.conn {
            Some((c, _)) => Ok(c),
            None => Err(DbError::Missing(self.path.clone())),
        }
    }

    /// Drops the connection (after an error that may mean it is broken).
    pub fn reset(&mut self) {
        self.conn = None;
    }
}

fn open_read_only(path: &Path) -> Result<Connection, DbError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn =
        Connection::open_with_flags(path, flags).map_err(|e| DbError::Open(path.into(), e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| DbError::Open(path.into(), e))?;
    conn.pragma_update(None, "query_only", true)
        .map_err(|e| DbError::Open(path.into(), e))?;
    // A small page cache: reads are short range scans, and memory matters more.
    conn.pragma_update(None, "cache_size", -1024)
        .map_err(|e| DbError::Open(path.into(), e))?;
    // A DB that is not SQLite fails here rather than on the first real query.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| DbError::Open(path.into(), e))?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_appears_replaced_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let mut db = Db::new(path.clone());
        assert!(matches!(db.connection(), Err(DbError::Missing(_))));
        assert!(!path.exists(), "a read-only open must not create the file");

        let w = Connection::open(&path).unwrap();
        crate::schema::create(&w).unwrap();
        w.execute(
            "INSERT INTO system_state (timestamp, metrics) VALUES ('2026-01-01T00:00:00', '{}')",
            [],
        )
        .unwrap();
        drop(w);
        let n: i64 = db
            .connection()
            .unwrap()
            .query_row("SELECT count(*) FROM system_state", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(db.opens, 1);
        // Same file: no reopen.
        db.connection().unwrap();
        assert_eq!(db.opens, 1);
        // Writes through our handle are refused.
        assert!(db
            .connection()
            .unwrap()
            .execute("DELETE FROM system_state", [])
            .is_err());

        // Replace with a new file (new inode) holding two rows.
        let tmp = dir.path().join("new.db");
        let w = Connection::open(&tmp).unwrap();
        crate::schema::create(&w).unwrap();
        for _ in 0..2 {
            w.execute(
                "INSERT INTO system_state (timestamp, metrics) VALUES ('2026-01-01T00:00:00', '{}')",
                [],
            )
            .unwrap();
        }
        w.pragma_update(None, "journal_mode", "DELETE").unwrap();
        drop(w);
        std::fs::rename(&tmp, &path).unwrap();
        let n: i64 = db
            .connection()
            .unwrap()
            .query_row("SELECT count(*) FROM system_state", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(db.opens, 2);

        std::fs::remove_file(&path).unwrap();
        assert!(matches!(db.connection(), Err(DbError::Missing(_))));
        assert!(!db.is_open());
    }

    #[test]
    fn a_file_that_is_not_sqlite_is_an_open_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        std::fs::write(
            &path,
            b"this is not a database, just text padding it out....",
        )
        .unwrap();
        let mut db = Db::new(path);
        let e = db.connection().unwrap_err();
        assert!(matches!(e, DbError::Open(..)), "{e}");
        assert!(e.to_string().contains("read-only"));
    }
}
