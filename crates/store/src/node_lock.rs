//! Running servers' claim on a PostgreSQL database: each node holds a shared advisory lock on
//! a connection of its own while it runs, and a command that needs every node stopped
//! (`bursar secret-key rotate`) takes the same lock exclusively, which PostgreSQL refuses while
//! any node holds its share. PostgreSQL drops a lock with its connection, so a node that died
//! holds none. (SQLite's data directory has its lock file: [`crate::backup::ServerLock`].)

use sqlx::{Connection, PgConnection};

use crate::StoreError;

/// An arbitrary constant, apart from the migration lock's.
const NODE_LOCK_KEY: i64 = 0x6275_7273_6172_0002;

/// A held claim; released when dropped (the connection closes).
#[derive(Debug)]
pub struct NodeLock {
    _connection: PgConnection,
}

impl NodeLock {
    /// A running node's share: refused only while a command holds the database alone.
    pub async fn share(url: &str) -> Result<NodeLock, StoreError> {
        Self::take(url, "select pg_try_advisory_lock_shared($1)")
            .await?
            .ok_or_else(|| {
                StoreError::Config(
                    "the database is held by a maintenance command (`bursar secret-key rotate`); \
                 start the server once it has finished"
                        .into(),
                )
            })
    }

    /// The database alone: refused while any node runs on it.
    pub async fn exclusive(url: &str) -> Result<NodeLock, StoreError> {
        Self::take(url, "select pg_try_advisory_lock($1)")
            .await?
            .ok_or_else(|| {
                StoreError::Config(
                    "a Bursar server is running on this database: stop every node first".into(),
                )
            })
    }

    async fn take(url: &str, sql: &str) -> Result<Option<NodeLock>, StoreError> {
        let mut connection = PgConnection::connect(url).await?;
        let taken: bool = sqlx::query_scalar(sql)
            .bind(NODE_LOCK_KEY)
            .fetch_one(&mut connection)
            .await?;
        Ok(taken.then_some(NodeLock {
            _connection: connection,
        }))
    }
}
