//! Where stored bytes live ([`Placement`]), and files in the data directory, written so that
//! a crash never leaves a partial file under its real name: the bytes go to a temporary file in
//! the same directory, which is `fsync`ed, renamed over the final name, and the directory
//! `fsync`ed so the rename itself survives a power cut. A failed write removes its temporary
//! file.
//!
//! Temporary files start with `.` and end in `.tmp`; [`is_temporary`] tells the start-up
//! sweeps which ones a crash left behind.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Where a service keeps its large bytes (server keys, encrypted rows, results).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Files under this directory (the SQLite deployment: one machine). A file is written
    /// durably before its row exists and removed after the row is gone; what a crash leaves
    /// in between, the start-up sweeps remove.
    Files(PathBuf),
    /// `bytea` columns of the rows themselves (PostgreSQL: every node sees them). Bytes are
    /// written and deleted in their row's own transaction, so neither outlives the other.
    Database,
}

/// Writes `bytes` to `path` durably (blocking: call from a blocking thread).
pub fn write_durably(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let temporary = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4()));
    let written = (|| {
        let mut file = File::create_new(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        crash_point(&format!(
            "temporary-written:{}",
            path.extension().and_then(|e| e.to_str()).unwrap_or_default()
        ));
        std::fs::rename(&temporary, path)?;
        sync_dir(dir)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// Makes the directory's entries (a rename, a removal) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Whether a file name is one of [`write_durably`]'s temporary files.
pub fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

/// Removes a file that may already be gone; other failures are logged, not returned: a file
/// left behind is removed by the next start-up sweep.
pub fn remove_quietly(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => tracing::warn!(path = %path.display(), %error, "could not remove a file"),
    }
}

/// Fault injection for the crash tests: with `BLINDFOLD_CRASH_AT=<point>` in the environment
/// the process kills itself with SIGKILL on reaching `point`, exactly as an operator's
/// `kill -9` or the OOM killer would at that instant. Compiled only with the `test-support`
/// feature (the binaries `cargo test` builds); a no-op otherwise.
pub fn crash_point(point: &str) {
    #[cfg(feature = "test-support")]
    if std::env::var("BLINDFOLD_CRASH_AT").is_ok_and(|wanted| wanted == point) {
        tracing::warn!(point, "crash point reached: SIGKILL");
        // SAFETY: kill(2) on our own pid has no memory-safety preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
    #[cfg(not(feature = "test-support"))]
    let _ = point;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_files_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.result");
        write_durably(&path, b"first").unwrap();
        write_durably(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["a.result"]);
    }

    #[test]
    fn a_failed_write_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // The final name is a non-empty directory: the rename fails after the temporary exists.
        let path = dir.path().join("taken");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("x"), b"x").unwrap();
        assert!(write_durably(&path, b"bytes").is_err());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["taken"]);
        assert!(is_temporary(".a.result.1234.tmp") && !is_temporary("a.result"));
    }
}
