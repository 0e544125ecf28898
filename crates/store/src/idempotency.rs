//! Idempotency keys with the semantics payment APIs document.
//!
//! A key is claimed by inserting it in the same transaction as the request's effects, with the
//! response saved before commit. Consequences:
//! * a retry after success finds the saved response and replays it, doing nothing again;
//! * a request that fails rolls back its claim with its effects, so a retry runs afresh;
//! * two concurrent requests with one key never both execute: on PostgreSQL the second insert
//!   waits on the first's uncommitted row and then sees it; on SQLite writes are serialised;
//! * the same key with a different request (method, path or body) is refused.
//!
//! Keys live at least [`IDEMPOTENCY_KEY_TTL_SECONDS`]; an expired key is replaced on next use and
//! swept in the background.

use bursar_domain::id::WorkspaceId;
use bursar_domain::time::Timestamp;

use crate::{params, StoreError, Tx};

/// How long a saved response is kept: 24 hours.
pub const IDEMPOTENCY_KEY_TTL_SECONDS: i64 = 24 * 60 * 60;
/// The longest key accepted.
pub const IDEMPOTENCY_KEY_LENGTH_MAX: usize = 255;

/// What to do with a request that carries a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is new: do the work and [`save`] the response in this transaction.
    Execute,
    /// The key was used by this same request before: answer with the saved response.
    Replay { status: u16, body: String },
    /// The key was used by a different request.
    Mismatch,
}

pub async fn claim(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    key: &str,
    fingerprint: &str,
    now: Timestamp,
) -> Result<Claim, StoreError> {
    // One statement claims a new key or takes over an expired one; a live key is left alone
    // (and, on PostgreSQL, waited for while another transaction holds it uncommitted). The
    // placeholder response is replaced by `save` before this transaction commits, so no other
    // transaction ever sees it.
    let inserted = tx
        .execute(
            "insert into idempotency_key (workspace_id, idempotency_key, request_fingerprint, \
             response_status, response_body, created_at, expires_at) \
             values ($1, $2, $3, 0, '', $4, $5) \
             on conflict (workspace_id, idempotency_key) do update set \
             request_fingerprint = excluded.request_fingerprint, response_status = 0, \
             response_body = '', created_at = excluded.created_at, \
             expires_at = excluded.expires_at \
             where idempotency_key.expires_at <= excluded.created_at",
            params![
                workspace_id.as_str(),
                key,
                fingerprint,
                now.unix_micros(),
                now.plus_seconds(IDEMPOTENCY_KEY_TTL_SECONDS).unix_micros(),
            ],
        )
        .await?;
    if inserted == 1 {
        return Ok(Claim::Execute);
    }
    let row = tx
        .fetch_one(
            "select request_fingerprint, response_status, response_body from idempotency_key \
             where workspace_id = $1 and idempotency_key = $2",
            params![workspace_id.as_str(), key],
        )
        .await?;
    if row.text("request_fingerprint")? != fingerprint {
        return Ok(Claim::Mismatch);
    }
    let status = u16::try_from(row.i64("response_status")?)
        .map_err(|_| StoreError::Corrupt("idempotency_key.response_status".into()))?;
    Ok(Claim::Replay {
        status,
        body: row.text("response_body")?,
    })
}

/// Saves the response of a request that claimed `key` in this same transaction.
pub async fn save(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    key: &str,
    status: u16,
    body: &str,
) -> Result<(), StoreError> {
    let updated = tx
        .execute(
            "update idempotency_key set response_status = $1, response_body = $2 \
             where workspace_id = $3 and idempotency_key = $4",
            params![i64::from(status), body, workspace_id.as_str(), key],
        )
        .await?;
    assert_eq!(updated, 1, "BUG: saving a response for an unclaimed key");
    Ok(())
}

/// Deletes expired keys, at most `limit` of them; returns how many went.
pub async fn sweep_expired(tx: &mut Tx, now: Timestamp, limit: i64) -> Result<u64, StoreError> {
    tx.execute(
        "delete from idempotency_key where (workspace_id, idempotency_key) in \
         (select workspace_id, idempotency_key from idempotency_key where expires_at <= $1 \
          limit $2)",
        params![now.unix_micros(), limit],
    )
    .await
}
