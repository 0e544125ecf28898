//! Velocity counts shared by every node: hits per key in fixed windows.

use bursar_domain::id::WorkspaceId;

use crate::{params, StoreError, Tx};

/// Counts one hit against each of `keys` in window `window` and returns each key's hits this
/// window, the new one included. The caller refuses (and rolls the write back) when any is
/// over its limit; on PostgreSQL the rows stay locked until then, so concurrent hits on one
/// key are counted one after the other.
pub async fn hit(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    keys: &[&str],
    window: i64,
) -> Result<Vec<i64>, StoreError> {
    let mut hits = Vec::with_capacity(keys.len());
    for key in keys {
        let row = tx
            .fetch_one(
                "insert into velocity_window (workspace_id, key, window_start, hits) \
                 values ($1, $2, $3, 1) on conflict (workspace_id, key) do update set \
                 hits = case when velocity_window.window_start = excluded.window_start \
                 then velocity_window.hits + 1 else 1 end, \
                 window_start = excluded.window_start returning hits",
                params![workspace_id.as_str(), *key, window],
            )
            .await?;
        hits.push(row.i64("hits")?);
    }
    Ok(hits)
}

/// Forgets the keys whose last hit was before window `window`; returns how many.
pub async fn forget_before(tx: &mut Tx, window: i64) -> Result<u64, StoreError> {
    tx.execute(
        "delete from velocity_window where window_start < $1",
        params![window],
    )
    .await
}

/// The hits of each of `keys` in window `window` (0 for a key not hit in it).
pub async fn hits_in(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    keys: &[&str],
    window: i64,
) -> Result<Vec<i64>, StoreError> {
    let mut hits = Vec::with_capacity(keys.len());
    for key in keys {
        let row = tx
            .fetch_optional(
                "select hits from velocity_window \
                 where workspace_id = $1 and key = $2 and window_start = $3",
                params![workspace_id.as_str(), *key, window],
            )
            .await?;
        hits.push(row.map(|r| r.i64("hits")).transpose()?.unwrap_or(0));
    }
    Ok(hits)
}
