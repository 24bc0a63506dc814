//! Where stored bytes live ([`Placement`]), and files in the data directory, written so that
//! a crash never leaves a partial file under its real name: the bytes go to a temporary file in
//! the same directory, which is `fsync`ed, renamed over the final name, and the directory
//! `fsync`ed so the rename itself survives a power cut. A failed write removes its temporary
//! file.
//!
//! Temporary files start with `.` and end in `.tmp`; [`is_temporary`] tells the start-up
//! sweeps which ones a crash left behind.
//!
//! Everything in the data directory is the server's alone: directories are made `0700` and
//! files `0600` ([`private_dir`], [`private_file`], [`write_durably`]), whatever the umask.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of the data directory and every directory in it.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file in the data directory.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and its missing parents with [`DIR_MODE`], and makes `dir` itself
/// [`DIR_MODE`] if it existed (blocking).
pub fn private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE))
}

/// Creates `path` empty with [`FILE_MODE`] if it is missing, else makes it [`FILE_MODE`]
/// (blocking): for files others create inside, such as SQLite's database, whose log and
/// shared-memory files SQLite then creates with the database file's mode.
pub fn private_file(path: &Path) -> io::Result<()> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(FILE_MODE))
}

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
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&temporary)?;
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
    fn directories_and_files_are_the_servers_alone() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data").join("keys");
        private_dir(&data).unwrap();
        write_durably(&data.join("k.key"), b"key").unwrap();
        private_file(&data.join("db")).unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&dir.path().join("data")), 0o700);
        assert_eq!(mode(&data.join("k.key")), 0o600);
        assert_eq!(mode(&data.join("db")), 0o600);
        // An existing directory or file is tightened.
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&data).unwrap();
        assert_eq!(mode(&data), 0o700);
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
