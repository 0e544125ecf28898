//! Bursar's storage: one portable query layer over embedded SQLite and PostgreSQL.
//!
//! Queries are written once, in the SQL both databases understand (`$1` placeholders, `text`
//! and `bigint` columns, `on conflict`, `returning`), and run through a [`Tx`] (see [`sql`]).
//! Where the backends genuinely differ the code says so explicitly ([`Backend`]): the
//! migrations (one folder each), row locks (`for update` on PostgreSQL; SQLite has one writer),
//! and how writes reach the disk:
//!
//! * **SQLite** has a single writer. Every write job runs on one connection owned by the
//!   [`writer`] thread, which groups the jobs that queue up while a commit is in flight into one
//!   transaction (group commit), each job inside its own savepoint so that a failing job rolls
//!   back alone. Statements run synchronously on that thread, with no hop per statement.
//!   Readers use a separate pool of connections and never block the writer (WAL mode).
//! * **PostgreSQL** runs each write job in its own transaction from a pool (sqlx); the server
//!   does its own group commit across connections.
//!
//! Either way a caller writes `db.write(|tx| Box::pin(async move { ... }))` and gets
//! the job's result only once it is durable.

mod account_cache;
pub mod api_keys;
pub mod audit;
pub mod backup;
pub mod bank_connections;
mod claims;
pub mod collections;
pub mod contracts;
pub mod customers;
pub mod deferred;
pub mod discounts;
pub mod documents;
pub mod emails;
pub mod events;
pub mod idempotency;
pub mod invoices;
pub mod jobs;
pub mod ledger;
pub mod licenses;
pub mod metering;
mod migrate;
pub mod node_lock;
pub mod onboarding;
pub mod pay_ins;
pub mod payment_providers;
pub mod payouts;
pub mod portal;
pub mod relay;
pub mod sandbox_reset;
pub mod seal;
pub mod sealing_key;
pub mod shipping;
pub mod sql;
mod sqlite;
pub mod statements;
pub mod storefront;
pub mod treasury;
pub mod velocity;
pub mod wallet;
pub mod webhooks;
pub mod workspaces;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bursar_domain::time::{Clock, SystemClock, Timestamp};
use futures::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::ConnectOptions;

pub use sql::{Row, Tx, Value};

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
    pub sqlite_readers_max: usize,
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
    #[error("sqlite error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("configuration: {0}")]
    Config(String),
    #[error("migration failed: {0}")]
    Migration(String),
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
    /// The unique constraint (or its message) a write violated, if that is why it failed.
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
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, message))
                if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                Some(
                    message
                        .clone()
                        .unwrap_or_else(|| "unique constraint".to_owned()),
                )
            }
            _ => None,
        }
    }
}

/// A unit of database work: runs inside a transaction (or a savepoint of a group commit) for
/// writes, on a plain connection for reads. Errors roll back everything a write job wrote.
pub type Job<T, E> =
    Box<dyn for<'c> FnOnce(&'c mut Tx) -> BoxFuture<'c, Result<T, E>> + Send + 'static>;

/// The database: a way to read and a way to write.
#[derive(Clone)]
pub struct Db {
    inner: Arc<DbInner>,
}

struct DbInner {
    kind: Kind,
    clock: Arc<dyn Clock>,
    /// Signalled after a commit that recorded domain events (wakes the relay).
    events: tokio::sync::Notify,
    /// Seals secrets stored in the database (see [`seal`]).
    sealer: std::sync::OnceLock<seal::Sealer>,
}

enum Kind {
    Sqlite {
        writer: writer::Handle,
        readers: sqlite::ReaderPool,
    },
    Postgres {
        pool: PgPool,
    },
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend())
            .finish()
    }
}

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
        let (kind, key) = match location {
            Location::SqliteDir(dir) => {
                let (writer, readers) = sqlite::open(dir, settings, clock.clone()).await?;
                let key = seal::Sealer::load_or_create(dir)?;
                (Kind::Sqlite { writer, readers }, Some(key))
            }
            Location::Postgres(url) => {
                let key = match std::env::var(seal::SECRET_KEY_ENV) {
                    Ok(key) => Some(seal::Sealer::from_env_value(&key)?),
                    Err(_) => None,
                };
                let pool = open_postgres(url, settings, &clock).await?;
                (Kind::Postgres { pool }, key)
            }
        };
        let db = Db {
            inner: Arc::new(DbInner {
                kind,
                clock,
                events: tokio::sync::Notify::new(),
                sealer: std::sync::OnceLock::new(),
            }),
        };
        if let Some(key) = key {
            db.set_sealer(sealing_key::with_stored_lookup_key(&db, key).await?);
        }
        Ok(db)
    }

    pub fn backend(&self) -> Backend {
        match self.inner.kind {
            Kind::Sqlite { .. } => Backend::Sqlite,
            Kind::Postgres { .. } => Backend::Postgres,
        }
    }

    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// Sets the key secrets are sealed with, unless one is set already (SQLite databases get
    /// theirs from the data directory when opened). Returns whether it was set. For databases
    /// whose key was never rotated (tests, benchmarks): [`Db::open`] loads a rotated
    /// database's lookup key, and [`sealing_key::check`] refuses a sealer without it.
    pub fn set_sealer(&self, sealer: seal::Sealer) -> bool {
        self.inner.sealer.set(sealer).is_ok()
    }

    /// The key secrets are sealed with.
    pub fn sealer(&self) -> Result<&seal::Sealer, StoreError> {
        self.inner.sealer.get().ok_or_else(|| {
            StoreError::Config(format!(
                "no secret key: set {} (base64 of 32 bytes)",
                seal::SECRET_KEY_ENV
            ))
        })
    }

    /// Tells the relay of this process that committed events wait (call after the commit).
    pub fn notify_events(&self) {
        self.inner.events.notify_one();
    }

    /// Resolves at the next [`Db::notify_events`] (or at once if one came since the last wait).
    pub async fn events_notified(&self) {
        self.inner.events.notified().await;
    }

    pub fn clock(&self) -> Arc<dyn Clock> {
        self.inner.clock.clone()
    }

    /// Runs `job` in a transaction and returns its result once committed. When the job
    /// recorded domain events, the relay of this process hears of them after the commit.
    pub async fn write<T, E, F>(&self, job: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'c> FnOnce(&'c mut Tx) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
    {
        self.write_job(job, false).await
    }

    /// As [`Db::write`], in a transaction shared with no other job, after which the SQLite
    /// writer forgets what it caches of the tables (ledger accounts, usage-event claims): for
    /// jobs that delete or rewrite those tables wholesale, such as a sandbox's reset.
    pub async fn write_alone<T, E, F>(&self, job: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'c> FnOnce(&'c mut Tx) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
    {
        self.write_job(job, true).await
    }

    async fn write_job<T, E, F>(&self, job: F, alone: bool) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'c> FnOnce(&'c mut Tx) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
    {
        let job: Job<(T, usize), E> = Box::new(move |tx: &mut Tx| {
            Box::pin(async move {
                tx.take_events_recorded();
                let value = job(tx).await?;
                Ok((value, tx.take_events_recorded()))
            })
        });
        let (value, events) = match &self.inner.kind {
            Kind::Sqlite { writer, .. } => writer.submit(job, alone).await?,
            Kind::Postgres { pool } => in_postgres_transaction(pool, job).await?,
        };
        if events > 0 {
            self.notify_events();
        }
        Ok(value)
    }

    /// Runs `job` on a connection for reading. On SQLite the read runs on the calling task
    /// (reads are short; there is no thread hop); on PostgreSQL through the pool.
    pub async fn read<T, E, F>(&self, job: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'c> FnOnce(&'c mut Tx) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
    {
        let job: Job<T, E> = Box::new(job);
        match &self.inner.kind {
            Kind::Sqlite { readers, .. } => readers.run(job).await,
            Kind::Postgres { pool } => {
                let conn = pool.acquire().await.map_err(StoreError::from)?;
                let mut tx = Tx {
                    inner: sql::TxInner::PostgresRead(conn),
                    accounts: None,
                    events_recorded: 0,
                    deferred: None,
                    claims: None,
                    rollups: None,
                };
                job(&mut tx).await
            }
        }
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.read(|tx: &mut Tx| {
            Box::pin(async move { tx.fetch_one("select 1 as one", &[]).await.map(|_| ()) })
        })
        .await
    }

    /// (open, idle) connections of the read pool, for metrics.
    pub fn pool_state(&self) -> (u32, u32) {
        match &self.inner.kind {
            Kind::Sqlite { readers, .. } => readers.state(),
            Kind::Postgres { pool } => (
                pool.size(),
                u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            ),
        }
    }

    /// Stops the writer after the jobs already queued and closes the pools.
    pub async fn close(&self) {
        match &self.inner.kind {
            Kind::Sqlite { writer, readers } => {
                writer.shutdown().await;
                readers.close();
            }
            Kind::Postgres { pool } => pool.close().await,
        }
    }
}

async fn open_postgres(
    url: &str,
    settings: &PoolSettings,
    clock: &Arc<dyn Clock>,
) -> Result<PgPool, StoreError> {
    let options: PgConnectOptions = url.parse()?;
    let options = options.disable_statement_logging();
    let pool = PgPoolOptions::new()
        .max_connections(settings.postgres_connections_max)
        .min_connections(1)
        .acquire_timeout(settings.acquire_timeout)
        .connect_with(options)
        .await?;
    // On error the transaction is dropped, which rolls it back.
    let mut tx = Tx {
        inner: sql::TxInner::Postgres(pool.begin().await?),
        accounts: None,
        events_recorded: 0,
        deferred: None,
        claims: None,
        rollups: None,
    };
    migrate::run(&mut tx, clock.now()).await?;
    if let sql::TxInner::Postgres(transaction) = tx.inner {
        transaction.commit().await?;
    }
    Ok(pool)
}

/// Runs `job` in a transaction of its own: committed when it succeeds, rolled back otherwise.
async fn in_postgres_transaction<T, E>(pool: &PgPool, job: Job<T, E>) -> Result<T, E>
where
    E: From<StoreError>,
{
    let transaction = pool.begin().await.map_err(StoreError::from)?;
    let mut tx = Tx {
        inner: sql::TxInner::Postgres(transaction),
        accounts: None,
        events_recorded: 0,
        deferred: None,
        claims: None,
        rollups: None,
    };
    let result = job(&mut tx).await;
    let sql::TxInner::Postgres(transaction) = tx.inner else {
        unreachable!("BUG: a job replaced its transaction")
    };
    match result {
        Ok(value) => {
            transaction.commit().await.map_err(StoreError::from)?;
            Ok(value)
        }
        Err(error) => {
            // Dropping would roll back too; doing it here surfaces a broken connection
            // instead of returning it to the pool.
            let _ = transaction.rollback().await;
            Err(error)
        }
    }
}

/// Hex SHA-256 of a string, used for secrets and request fingerprints.
pub fn sha256_hex(input: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(input))
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
