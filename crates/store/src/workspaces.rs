//! Workspaces: the tenants. Every other record belongs to one.

use bursar_domain::auth::WorkspaceMode;
use bursar_domain::id::WorkspaceId;
use bursar_domain::time::Timestamp;

use crate::{params, Backend, Row, StoreError, Tx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    pub created_at: Timestamp,
    pub mode: WorkspaceMode,
    /// For a sandbox created beside a live workspace: that workspace.
    pub live_workspace_id: Option<WorkspaceId>,
}

const COLUMNS: &str = "workspace_id, name, created_at, mode, live_workspace_id";

fn from_row(row: &Row) -> Result<Workspace, StoreError> {
    Ok(Workspace {
        id: WorkspaceId::from_trusted(row.text("workspace_id")?),
        name: row.text("name")?,
        created_at: Timestamp::from_unix_micros(row.i64("created_at")?),
        mode: WorkspaceMode::from_stored(&row.text("mode")?),
        live_workspace_id: row
            .opt_text("live_workspace_id")?
            .map(WorkspaceId::from_trusted),
    })
}

pub async fn insert(tx: &mut Tx, workspace: &Workspace) -> Result<(), StoreError> {
    tx.execute(
        &format!("insert into workspace ({COLUMNS}) values ($1, $2, $3, $4, $5)"),
        params![
            workspace.id.as_str(),
            workspace.name.as_str(),
            workspace.created_at.unix_micros(),
            workspace.mode.as_str(),
            workspace
                .live_workspace_id
                .as_ref()
                .map(WorkspaceId::as_str)
        ],
    )
    .await?;
    Ok(())
}

pub async fn list(tx: &mut Tx) -> Result<Vec<Workspace>, StoreError> {
    let rows = tx
        .fetch_all(
            &format!("select {COLUMNS} from workspace order by workspace_id"),
            &[],
        )
        .await?;
    rows.iter().map(from_row).collect()
}

pub async fn get(tx: &mut Tx, id: &WorkspaceId) -> Result<Option<Workspace>, StoreError> {
    let row = tx
        .fetch_optional(
            &format!("select {COLUMNS} from workspace where workspace_id = $1"),
            params![id.as_str()],
        )
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The sandboxes created beside live workspace `live`, oldest first.
pub async fn sandboxes_of(tx: &mut Tx, live: &WorkspaceId) -> Result<Vec<Workspace>, StoreError> {
    let rows = tx
        .fetch_all(
            &format!(
                "select {COLUMNS} from workspace where live_workspace_id = $1 \
                 order by created_at, workspace_id"
            ),
            params![live.as_str()],
        )
        .await?;
    rows.iter().map(from_row).collect()
}

/// The mode of workspace `id` (live when there is no such workspace: it permits less).
pub async fn mode_of(tx: &mut Tx, id: &WorkspaceId) -> Result<WorkspaceMode, StoreError> {
    let row = tx
        .fetch_optional(
            "select mode from workspace where workspace_id = $1",
            params![id.as_str()],
        )
        .await?;
    Ok(match row {
        Some(row) => WorkspaceMode::from_stored(&row.text("mode")?),
        None => WorkspaceMode::Live,
    })
}

/// Serialises workspace-wide set-up (such as creating the default test connection on first
/// use) among concurrent write jobs: locks the workspace row on PostgreSQL until commit (SQLite
/// has a single writer already).
pub async fn lock_workspace(tx: &mut Tx, workspace_id: &WorkspaceId) -> Result<(), StoreError> {
    if tx.backend() == Backend::Postgres {
        tx.fetch_optional(
            "select workspace_id from workspace where workspace_id = $1 for update",
            params![workspace_id.as_str()],
        )
        .await?;
    }
    Ok(())
}
