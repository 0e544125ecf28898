//! Backups of the embedded SQLite database, online: [`backup`] copies a consistent snapshot
//! (SQLite's `VACUUM INTO`, one read transaction, so every commit before it started is in the
//! copy and none after it is half there) while the server keeps writing; [`restore`] puts a
//! copy back into a data directory no server is using ([`ServerLock`]).
//!
//! The copy holds no key: sealed secrets and keyed hashes need the data directory's
//! `secret.key` (or `BURSAR_SECRET_KEY`), which must be kept apart, in escrow. PostgreSQL is
//! backed up with its own tools (`pg_dump`, base backups with WAL archiving).

use std::fs::File;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::{StoreError, SQLITE_FILE};

/// The lock file a server holds in its data directory while it runs.
pub const LOCK_FILE: &str = "bursar.lock";

/// A running server's claim on its SQLite data directory: held while the value lives (the
/// operating system drops it if the process dies), so a restore, or a second server, can tell
/// that the directory is in use.
#[derive(Debug)]
pub struct ServerLock {
    _file: File,
}

impl ServerLock {
    /// Takes the lock of `dir`, or says that another process holds it.
    pub fn acquire(dir: &Path) -> Result<ServerLock, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| io_error("create", dir, e))?;
        let path = dir.join(LOCK_FILE);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io_error("open", &path, e))?;
        file.try_lock().map_err(|_| {
            StoreError::Config(format!(
                "{} is in use by a running Bursar server (it holds {LOCK_FILE})",
                dir.display()
            ))
        })?;
        Ok(ServerLock { _file: file })
    }
}

fn io_error(action: &str, path: &Path, error: std::io::Error) -> StoreError {
    StoreError::Config(format!("cannot {action} {}: {error}", path.display()))
}

/// Copies the database of data directory `dir` to `target` (which must not exist), while a
/// server may be writing to it. Returns the copy's size in bytes.
pub fn backup(dir: &Path, target: &Path) -> Result<u64, StoreError> {
    let source = dir.join(SQLITE_FILE);
    if !source.is_file() {
        return Err(StoreError::Config(format!(
            "no database at {}",
            source.display()
        )));
    }
    if target.exists() {
        return Err(StoreError::Config(format!(
            "{} exists already; name a new file",
            target.display()
        )));
    }
    let conn = Connection::open_with_flags(&source, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    let target_text = target
        .to_str()
        .ok_or_else(|| StoreError::Config("the backup path must be UTF-8".into()))?;
    conn.execute("vacuum into ?1", [target_text])?;
    check_copy(target)?;
    let size = std::fs::metadata(target)
        .map_err(|e| io_error("read", target, e))?
        .len();
    Ok(size)
}

/// Checks that `file` is a whole Bursar database: SQLite's integrity check passes and it has
/// Bursar's schema.
fn check_copy(file: &Path) -> Result<(), StoreError> {
    let conn = Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let integrity: String = conn.query_row("pragma integrity_check", [], |row| row.get(0))?;
    if integrity != "ok" {
        return Err(StoreError::Config(format!(
            "{} fails SQLite's integrity check: {integrity}",
            file.display()
        )));
    }
    let migrated: i64 = conn
        .query_row(
            "select count(*) from sqlite_master where name = 'schema_migration'",
            [],
            |row| row.get(0),
        )
        .unwrap_or(0);
    if migrated == 0 {
        return Err(StoreError::Config(format!(
            "{} is not a Bursar database",
            file.display()
        )));
    }
    Ok(())
}

/// Puts the backup `from` in place as the database of data directory `dir`, refusing while a
/// server holds the directory. A database already there is kept beside it, renamed; returns
/// its new path, if there was one.
pub fn restore(from: &Path, dir: &Path) -> Result<Option<PathBuf>, StoreError> {
    check_copy(from)?;
    let _lock = ServerLock::acquire(dir)?;
    let target = dir.join(SQLITE_FILE);
    let staged = dir.join(format!("{SQLITE_FILE}.restoring"));
    std::fs::copy(from, &staged).map_err(|e| io_error("copy to", &staged, e))?;
    File::open(&staged)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_error("sync", &staged, e))?;
    let kept = if target.exists() {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let aside = dir.join(format!("{SQLITE_FILE}.replaced-{stamp}"));
        // The old database with its write-ahead log, whose commits it may not hold yet.
        for suffix in ["", "-wal", "-shm"] {
            let file = dir.join(format!("{SQLITE_FILE}{suffix}"));
            if file.exists() {
                let moved = PathBuf::from(format!("{}{suffix}", aside.display()));
                std::fs::rename(&file, &moved).map_err(|e| io_error("move aside", &file, e))?;
            }
        }
        Some(aside)
    } else {
        // A log without its database belongs to nothing.
        for suffix in ["-wal", "-shm"] {
            let stale = dir.join(format!("{SQLITE_FILE}{suffix}"));
            if stale.exists() {
                std::fs::remove_file(&stale).map_err(|e| io_error("remove", &stale, e))?;
            }
        }
        None
    };
    std::fs::rename(&staged, &target).map_err(|e| io_error("rename", &staged, e))?;
    Ok(kept)
}
