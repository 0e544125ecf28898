//! Bursar's storage: one portable query layer over embedded SQLite and PostgreSQL.
//!
//! Queries are written once, in the SQL both databases understand (`$1` placeholders, `text`
//! and `bigint` columns, `on conflict`, `returning`), and run through sqlx's `Any` driver.
//! Where the backends genuinely differ the code says so explicitly ([`Backend`]): the
//! migrations (one folder each), row locks (`for update` on PostgreSQL; SQLite has one writer),
//! and how writes reach the disk:
//!
//! * **SQLite** has a single writer. Every write runs on one connection owned by the
//!   [`writer`] task, which groups the jobs that queue up while a commit is in flight into one
//!   transaction (group commit), each job inside its own savepoint so that a failing job rolls
//!   back alone. Readers use a separate pool and never block the writer (WAL mode).
//! * **PostgreSQL** runs each write job in its own transaction from a pool; the server does its
//!   own group commit across connections.
//!
//! Either way a caller writes `db.write(|conn| Box::pin(async move { ... }))` and gets the
//! job's result only once it is durable.

pub mod api_keys;
pub mod customers;
pub mod idempotency;
pub mod workspaces;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};
use std::time::Duration;

use bursar_domain::time::{Clock, SystemClock, Timestamp};
use futures::future::BoxFuture;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Connection};

pub use sqlx::AnyConnection as Conn;

/// Which database a [`Db`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// The backend a connection belongs to, for the few queries that differ.
    pub fn of(conn: &Conn) -> Backend {
        if conn.backend_name().eq_ignore_ascii_case("postgresql") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// Embedded SQLite: the database file `bursar.db` inside this directory.
    SqliteDir(PathBuf),
    /// A PostgreSQL server, `postgres://user:pass@host:port/db`.
    Postgres(String),
}

impl Location {
    pub fn backend(&self) -> Backend {
        match self {
            Location::SqliteDir(_) => Backend::Sqlite,
            Location::Postgres(_) => Backend::Postgres,
        }
    }

    /// The location for `--database-url` if given, else the SQLite file under `data_dir`.
    pub fn from_options(
        database_url: Option<&str>,
        data_dir: &Path,
    ) -> Result<Location, StoreError> {
        match database_url {
            None => Ok(Location::SqliteDir(data_dir.to_path_buf())),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Location::Postgres(url.to_owned()))
            }
            Some(url) => match url.strip_prefix("sqlite://") {
                Some(dir) => Ok(Location::SqliteDir(PathBuf::from(dir))),
                None => Err(StoreError::Config(
                    "database URL must start with postgres:// (or sqlite://<directory>)".into(),
                )),
            },
        }
    }

    /// A description safe to log: never the password.
    pub fn redacted(&self) -> String {
        match self {
            Location::SqliteDir(dir) => format!("sqlite:{}", dir.join(SQLITE_FILE).display()),
            Location::Postgres(url) => redact_url(url),
        }
    }
}

fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "postgres://…".into();
    };
    match rest.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

pub const SQLITE_FILE: &str = "bursar.db";

/// Sizes and timeouts of the connection pools, written out rather than left to defaults.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub sqlite_readers_max: u32,
    pub postgres_connections_max: u32,
    pub acquire_timeout: Duration,
    /// How many queued write jobs the SQLite writer puts in one transaction.
    pub sqlite_group_commit_jobs_max: usize,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            sqlite_readers_max: 8,
            postgres_connections_max: 16,
            acquire_timeout: Duration::from_secs(10),
            sqlite_group_commit_jobs_max: 512,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("configuration: {0}")]
    Config(String),
    #[error("the database writer has stopped")]
    WriterStopped,
    #[error("a write job panicked: {0}")]
    JobPanicked(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the group commit failed: {0}")]
    CommitFailed(String),
}

impl StoreError {
    /// The name of the unique constraint a write violated, if that is why it failed.
    pub fn unique_violation(&self) -> Option<String> {
        match self {
            StoreError::Database(sqlx::Error::Database(e))
                if e.kind() == sqlx::error::ErrorKind::UniqueViolation =>
            {
                Some(
                    e.constraint()
                        .map(str::to_owned)
                        .unwrap_or_else(|| e.message().to_owned()),
                )
            }
            _ => None,
        }
    }
}

/// A write job: runs inside a transaction (or a savepoint of a group commit) and returns a
/// value once everything it wrote is durable. Errors roll back everything the job wrote.
pub type WriteJob<T, E> =
    Box<dyn for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<T, E>> + Send + 'static>;

/// The database: a read pool and a way to write.
#[derive(Clone)]
pub struct Db {
    inner: Arc<DbInner>,
}

struct DbInner {
    backend: Backend,
    read: AnyPool,
    write: Writer,
    clock: Arc<dyn Clock>,
}

enum Writer {
    Sqlite(writer::Handle),
    Postgres(AnyPool),
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.inner.backend)
            .finish()
    }
}

fn install_drivers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}

/// Settings every SQLite connection gets. WAL lets readers run beside the writer;
/// `synchronous=FULL` makes each commit durable (this is money); foreign keys are enforced.
const SQLITE_CONNECTION_PRAGMAS: [&str; 4] = [
    "pragma busy_timeout = 10000",
    "pragma foreign_keys = on",
    "pragma synchronous = full",
    "pragma cache_size = -65536",
];

impl Db {
    /// Connects, creating the SQLite directory if needed, and runs pending migrations.
    pub async fn open(location: &Location, settings: &PoolSettings) -> Result<Db, StoreError> {
        Self::open_with_clock(location, settings, Arc::new(SystemClock)).await
    }

    pub async fn open_with_clock(
        location: &Location,
        settings: &PoolSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Db, StoreError> {
        install_drivers();
        let inner = match location {
            Location::SqliteDir(dir) => open_sqlite(dir, settings, clock).await?,
            Location::Postgres(url) => open_postgres(url, settings, clock).await?,
        };
        Ok(Db {
            inner: Arc::new(inner),
        })
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    pub fn clock(&self) -> Arc<dyn Clock> {
        self.inner.clock.clone()
    }

    /// The pool for reads. On SQLite these connections are `query_only`.
    pub fn read_pool(&self) -> &AnyPool {
        &self.inner.read
    }

    /// A connection for reads.
    pub async fn reader(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, StoreError> {
        Ok(self.inner.read.acquire().await?)
    }

    /// Runs `job` in a transaction and returns its result once committed.
    pub async fn write<T, E>(&self, job: WriteJob<T, E>) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        match &self.inner.write {
            Writer::Sqlite(handle) => handle.submit(job).await,
            Writer::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(StoreError::from)?;
                match job(&mut tx).await {
                    Ok(value) => {
                        tx.commit().await.map_err(StoreError::from)?;
                        Ok(value)
                    }
                    Err(error) => {
                        // Dropping the transaction would roll back too; doing it here surfaces
                        // a broken connection instead of returning it to the pool.
                        let _ = tx.rollback().await;
                        Err(error)
                    }
                }
            }
        }
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1").execute(&self.inner.read).await?;
        Ok(())
    }

    /// (open, idle) connections of the read pool, for metrics.
    pub fn pool_state(&self) -> (u32, u32) {
        let size = self.inner.read.size();
        let idle = u32::try_from(self.inner.read.num_idle()).unwrap_or(u32::MAX);
        (size, idle)
    }

    /// Stops the writer after the jobs already queued and closes the pools.
    pub async fn close(&self) {
        if let Writer::Sqlite(handle) = &self.inner.write {
            handle.shutdown().await;
        }
        if let Writer::Postgres(pool) = &self.inner.write {
            pool.close().await;
        }
        self.inner.read.close().await;
    }
}

async fn open_sqlite(
    dir: &Path,
    settings: &PoolSettings,
    clock: Arc<dyn Clock>,
) -> Result<DbInner, StoreError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        StoreError::Config(format!(
            "cannot create data directory {}: {e}",
            dir.display()
        ))
    })?;
    let path = dir.join(SQLITE_FILE);
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let options: AnyConnectOptions = url.parse()?;
    let options = options.disable_statement_logging();

    let mut writer_conn = sqlx::AnyConnection::connect_with(&options).await?;
    sqlx::query("pragma journal_mode = wal")
        .execute(&mut writer_conn)
        .await?;
    for pragma in SQLITE_CONNECTION_PRAGMAS {
        sqlx::query(pragma).execute(&mut writer_conn).await?;
    }
    sqlx::migrate!("./migrations/sqlite")
        .run(&mut writer_conn)
        .await?;

    let read = AnyPoolOptions::new()
        .max_connections(settings.sqlite_readers_max)
        .min_connections(1)
        .acquire_timeout(settings.acquire_timeout)
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                for pragma in SQLITE_CONNECTION_PRAGMAS {
                    sqlx::query(pragma).execute(&mut *conn).await?;
                }
                sqlx::query("pragma query_only = on")
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    let write = writer::spawn(writer_conn, settings.sqlite_group_commit_jobs_max);
    Ok(DbInner {
        backend: Backend::Sqlite,
        read,
        write: Writer::Sqlite(write),
        clock,
    })
}

async fn open_postgres(
    url: &str,
    settings: &PoolSettings,
    clock: Arc<dyn Clock>,
) -> Result<DbInner, StoreError> {
    let options: AnyConnectOptions = url.parse()?;
    let options = options.disable_statement_logging();
    let pool = AnyPoolOptions::new()
        .max_connections(settings.postgres_connections_max)
        .min_connections(1)
        .acquire_timeout(settings.acquire_timeout)
        .connect_with(options)
        .await?;
    {
        let mut conn = pool.acquire().await?;
        // Several processes may start at once against one database: migrate under a lock.
        // (sqlx's PostgreSQL migrator takes an advisory lock itself.)
        sqlx::migrate!("./migrations/postgres")
            .run(&mut *conn)
            .await?;
    }
    Ok(DbInner {
        backend: Backend::Postgres,
        read: pool.clone(),
        write: Writer::Postgres(pool),
        clock,
    })
}

/// Hex SHA-256 of a string, used for secrets and request fingerprints.
pub fn sha256_hex(input: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(input))
}

/// Reads an `i64` column, the one integer type both backends return alike.
pub(crate) fn get_i64(row: &sqlx::any::AnyRow, column: &str) -> Result<i64, StoreError> {
    use sqlx::Row;
    Ok(row.try_get::<i64, _>(column)?)
}

pub(crate) fn get_text(row: &sqlx::any::AnyRow, column: &str) -> Result<String, StoreError> {
    use sqlx::Row;
    Ok(row.try_get::<String, _>(column)?)
}

pub(crate) fn get_opt_text(
    row: &sqlx::any::AnyRow,
    column: &str,
) -> Result<Option<String>, StoreError> {
    use sqlx::Row;
    Ok(row.try_get::<Option<String>, _>(column)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_the_password() {
        let location = Location::Postgres("postgres://bursar:s3cret@db:5432/bursar".into());
        assert_eq!(location.redacted(), "postgres://bursar:***@db:5432/bursar");
        assert!(!location.redacted().contains("s3cret"));
    }

    #[test]
    fn location_parses_urls() {
        let dir = Path::new("/tmp/x");
        assert_eq!(
            Location::from_options(None, dir).unwrap(),
            Location::SqliteDir(dir.into())
        );
        assert_eq!(
            Location::from_options(Some("postgres://a@b/c"), dir)
                .unwrap()
                .backend(),
            Backend::Postgres
        );
        assert!(Location::from_options(Some("mysql://a@b/c"), dir).is_err());
    }
}
