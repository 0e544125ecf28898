//! Embedded SQLite: opening the database, its migrations, and the pool of read connections.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bursar_domain::time::Clock;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use crate::sql::TxInner;
use crate::{migrate, writer, Job, PoolSettings, StoreError, Tx, SQLITE_FILE};

/// Settings every connection gets (the page cache as `treasury::import_page_cache` restores
/// it). `synchronous=full` makes each commit durable (this is
/// money); foreign keys are enforced; a generous page cache keeps hot b-tree pages in memory.
const CONNECTION_PRAGMAS: &str = "pragma busy_timeout = 10000; pragma foreign_keys = on; \
     pragma synchronous = full; pragma cache_size = -16384; pragma temp_store = memory;";

/// Prepared statements kept per connection.
const STATEMENT_CACHE_CAPACITY: usize = 256;

fn connect(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.execute_batch(CONNECTION_PRAGMAS)?;
    if read_only {
        conn.execute_batch("pragma query_only = on;")?;
    }
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    Ok(conn)
}

/// Opens (creating if needed) the database under `dir`, migrates it, and starts the writer.
pub(crate) async fn open(
    dir: &Path,
    settings: &PoolSettings,
    clock: Arc<dyn Clock>,
) -> Result<(writer::Handle, ReaderPool), StoreError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        StoreError::Config(format!(
            "cannot create data directory {}: {e}",
            dir.display()
        ))
    })?;
    let path = dir.join(SQLITE_FILE);
    let conn = connect(&path, false)?;
    // WAL: readers see the last commit and never wait for the writer.
    let mode: String = conn.query_row("pragma journal_mode = wal", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Config(format!(
            "SQLite refused WAL mode (got {mode})"
        )));
    }
    let mut tx = Tx {
        inner: TxInner::Sqlite(conn),
        accounts: None,
        events_recorded: 0,
        deferred: None,
        claims: None,
        rollups: None,
    };
    tx.execute_batch("begin immediate").await?;
    match migrate::run(&mut tx, clock.now()).await {
        Ok(()) => tx.execute_batch("commit").await?,
        Err(error) => {
            let _ = tx.execute_batch("rollback").await;
            return Err(error);
        }
    }
    let TxInner::Sqlite(conn) = tx.inner else {
        unreachable!("BUG: sqlite tx changed kind")
    };
    // Checkpoints run beside the writer (see Checkpointer); the writer checkpoints itself only
    // as a backstop, if the WAL grows far beyond what the checkpointer leaves behind.
    conn.execute_batch(&format!(
        "pragma wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES};"
    ))?;
    let checkpointer = Checkpointer::spawn(&path)?;
    let after_stop = Box::new(move || checkpointer.stop());
    let writer = writer::spawn(conn, settings.sqlite_group_commit_jobs_max, after_stop)?;
    Ok((writer, ReaderPool::new(path, settings.sqlite_readers_max)))
}

/// WAL pages after which the writer checkpoints by itself (64 MiB of 4 KiB pages).
const WRITER_CHECKPOINT_PAGES: u32 = 16_384;
/// How often the checkpointer copies committed pages from the WAL into the database file.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);

/// Copies the WAL into the database file on a thread and connection of its own.
///
/// In WAL mode a commit appends pages to the WAL; a checkpoint later copies them into the
/// database file and syncs it. Left to SQLite's default, the committing connection does that
/// work itself every thousand pages, inside a commit: the writer stalls, and a batch that
/// happens to trigger it waits twice as long. A passive checkpoint from another connection
/// never blocks the writer or the readers, so the writer's commits cost only their WAL append
/// and its sync, and the copying overlaps with the next batch on another core.
pub(crate) struct Checkpointer {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Checkpointer {
    fn spawn(path: &Path) -> Result<Self, StoreError> {
        let conn = connect(path, false)?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("bursar-sqlite-checkpointer".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(CHECKPOINT_INTERVAL)
                {
                    checkpoint(&conn, "passive");
                }
                // Closing: leave the database file complete and the WAL empty.
                checkpoint(&conn, "truncate");
            })
            .map_err(|e| StoreError::Config(format!("cannot start the checkpointer: {e}")))?;
        Ok(Self { stop, thread })
    }

    /// Runs a last checkpoint and ends the thread; call after the writer has stopped.
    pub(crate) fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

fn checkpoint(conn: &Connection, mode: &str) {
    let result = conn.query_row(&format!("pragma wal_checkpoint({mode})"), [], |row| {
        row.get::<_, i64>(0)
    });
    if let Err(error) = result {
        tracing::warn!(%error, mode, "sqlite checkpoint failed");
    }
}

/// Read connections, opened on demand up to a bound and reused.
pub(crate) struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
    open: std::sync::atomic::AtomicU32,
}

impl ReaderPool {
    fn new(path: PathBuf, readers_max: usize) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::with_capacity(readers_max)),
            permits: Semaphore::new(readers_max),
            open: std::sync::atomic::AtomicU32::new(0),
        }
    }

    pub(crate) async fn run<T, E>(&self, job: Job<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => {
                let conn = connect(&self.path, true)?;
                self.open.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                conn
            }
        };
        let mut tx = Tx {
            inner: TxInner::Sqlite(conn),
            accounts: None,
            events_recorded: 0,
            deferred: None,
            claims: None,
            rollups: None,
        };
        let result = job(&mut tx).await;
        if let TxInner::Sqlite(conn) = tx.inner {
            if conn.is_autocommit() {
                self.idle
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(conn);
            } else {
                // A read job left a transaction open: do not reuse that connection.
                self.open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        result
    }

    pub(crate) fn state(&self) -> (u32, u32) {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).len();
        (
            self.open.load(std::sync::atomic::Ordering::Relaxed),
            u32::try_from(idle).unwrap_or(u32::MAX),
        )
    }

    pub(crate) fn close(&self) {
        let closed = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|p| p.into_inner()));
        self.permits.close();
        drop(closed);
    }
}
