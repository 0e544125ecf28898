//! Storefront settings: one row per workspace, found by the shop's public handle.

use bursar_domain::id::WorkspaceId;

use crate::{params, StoreError, Tx};

/// The workspace's storefront settings (JSON), if it has a storefront.
pub async fn get(tx: &mut Tx, workspace_id: &WorkspaceId) -> Result<Option<String>, StoreError> {
    let row = tx
        .fetch_optional(
            "select body from storefront where workspace_id = $1",
            params![workspace_id.as_str()],
        )
        .await?;
    row.map(|r| r.text("body")).transpose()
}

/// The workspace whose shop has `handle`, and its settings (JSON).
pub async fn by_handle(
    tx: &mut Tx,
    handle: &str,
) -> Result<Option<(WorkspaceId, String)>, StoreError> {
    let row = tx
        .fetch_optional(
            "select workspace_id, body from storefront where handle = $1",
            params![handle],
        )
        .await?;
    row.map(|r| {
        Ok((
            WorkspaceId::from_trusted(r.text("workspace_id")?),
            r.text("body")?,
        ))
    })
    .transpose()
}

/// Stores the workspace's storefront settings under `handle`.
pub async fn save(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    handle: &str,
    body: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "insert into storefront (workspace_id, handle, body) values ($1, $2, $3) \
         on conflict (workspace_id) do update set handle = excluded.handle, body = excluded.body",
        params![workspace_id.as_str(), handle, body],
    )
    .await?;
    Ok(())
}

/// Replaces the sealed secret of the workspace's challenge provider (`None` removes it).
pub async fn set_challenge_secret(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    sealed: Option<&str>,
) -> Result<(), StoreError> {
    tx.execute(
        "update storefront set challenge_secret = $2 where workspace_id = $1",
        params![workspace_id.as_str(), sealed],
    )
    .await?;
    Ok(())
}

/// The sealed secret of the workspace's challenge provider, if it has one.
pub async fn challenge_secret(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
) -> Result<Option<String>, StoreError> {
    let row = tx
        .fetch_optional(
            "select challenge_secret from storefront where workspace_id = $1",
            params![workspace_id.as_str()],
        )
        .await?;
    Ok(row
        .map(|r| r.opt_text("challenge_secret"))
        .transpose()?
        .flatten())
}
