//! The filesystems holding the watched paths: `statvfs(2)` and one entry per device
//! (a path that does not exist yet counts on its parent's filesystem).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::Filesystem;

/// `statvfs(2)` of `path`: (size, available, free, inodes total, inodes free).
#[allow(
    clippy::useless_conversion,
    reason = "the field types are 32-bit on some targets (32-bit ARM) and 64-bit on others"
)]
pub fn statvfs(path: &Path) -> std::io::Result<(u64, u64, u64, u64, u64)> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in path"))?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c` is a valid NUL-terminated string and `st` points to writable memory of
    // the right type; statvfs only writes into it and we read it only after success.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled the struct.
    let st = unsafe { st.assume_init() };
    let frsize = if st.f_frsize > 0 {
        u64::from(st.f_frsize)
    } else {
        u64::from(st.f_bsize)
    };
    Ok((
        u64::from(st.f_blocks) * frsize,
        u64::from(st.f_bavail) * frsize,
        u64::from(st.f_bfree) * frsize,
        u64::from(st.f_files),
        u64::from(st.f_ffree),
    ))
}

/// The nearest existing directory at or above `path` (a watched path that does not exist
/// yet lives on its parent's filesystem).
fn existing(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .find(|p| p.exists())
        .and_then(|p| std::fs::canonicalize(p).ok())
}

/// The mount point of the filesystem holding the existing path `p`: its topmost ancestor on
/// the same device.
fn mount_point(p: &Path, dev: u64) -> PathBuf {
    let mut top = p.to_path_buf();
    for a in p.ancestors().skip(1) {
        match std::fs::metadata(a) {
            Ok(m) if m.dev() == dev => top = a.to_path_buf(),
            _ => break,
        }
    }
    top
}

/// Reads the filesystems holding `paths`, one entry per device (roles merged).
pub fn filesystems(paths: &[(&'static str, PathBuf)]) -> (Vec<Filesystem>, Vec<String>) {
    let mut out: Vec<(u64, Filesystem)> = Vec::new();
    let mut errors = Vec::new();
    for (role, path) in paths {
        let Some(p) = existing(path) else {
            errors.push(format!(
                "{}: no existing directory above it",
                path.display()
            ));
            continue;
        };
        let dev = match std::fs::metadata(&p) {
            Ok(m) => m.dev(),
            Err(e) => {
                errors.push(format!("{}: {e}", p.display()));
                continue;
            }
        };
        if let Some((_, fs)) = out.iter_mut().find(|(d, _)| *d == dev) {
            if !fs.roles.contains(role) {
                fs.roles.push(role);
            }
            continue;
        }
        match statvfs(&p) {
            Ok((size, avail, free, files, ffree)) => out.push((
                dev,
                Filesystem {
                    mount_point: mount_point(&p, dev),
                    roles: vec![role],
                    size_bytes: size,
                    available_bytes: avail,
                    free_bytes: free,
                    inodes_total: (files > 0).then_some(files),
                    inodes_free: (files > 0).then_some(ffree),
                },
            )),
            Err(e) => errors.push(format!("{}: statvfs failed: {e}", p.display())),
        }
    }
    (out.into_iter().map(|(_, f)| f).collect(), errors)
}

#[cfg(test)]
mod tests {
    use super::super::roles;
    use super::*;

    #[test]
    fn filesystems_are_deduplicated_and_missing_paths_use_their_parent() {
        let dir = tempfile::tempdir().unwrap();
        let paths = vec![
            (roles::COORDINATOR_DB, dir.path().join("data/db.sqlite")),
            (roles::DATA_DIR, dir.path().to_path_buf()),
        ];
        let (fs, errors) = filesystems(&paths);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(fs.len(), 1);
        assert_eq!(fs[0].roles, vec![roles::COORDINATOR_DB, roles::DATA_DIR]);
        assert!(fs[0].size_bytes > 0);
        assert!(fs[0].available_bytes <= fs[0].size_bytes);
        // The mount point holds the directory.
        let canon = std::fs::canonicalize(dir.path()).unwrap();
        assert!(
            canon.starts_with(&fs[0].mount_point),
            "{:?}",
            fs[0].mount_point
        );
    }
}
