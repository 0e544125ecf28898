//! Workspaces: the tenants. Every other record belongs to one.

use bursar_domain::id::WorkspaceId;
use bursar_domain::time::Timestamp;
use sqlx::any::AnyRow;

use crate::{get_i64, get_text, Conn, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    pub created_at: Timestamp,
}

fn from_row(row: &AnyRow) -> Result<Workspace, StoreError> {
    Ok(Workspace {
        id: WorkspaceId::from_trusted(get_text(row, "workspace_id")?),
        name: get_text(row, "name")?,
        created_at: Timestamp::from_unix_micros(get_i64(row, "created_at")?),
    })
}

pub async fn insert(conn: &mut Conn, workspace: &Workspace) -> Result<(), StoreError> {
    sqlx::query("insert into workspace (workspace_id, name, created_at) values ($1, $2, $3)")
        .bind(workspace.id.as_str())
        .bind(workspace.name.as_str())
        .bind(workspace.created_at.unix_micros())
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn list(conn: &mut Conn) -> Result<Vec<Workspace>, StoreError> {
    let rows =
        sqlx::query("select workspace_id, name, created_at from workspace order by workspace_id")
            .fetch_all(conn)
            .await?;
    rows.iter().map(from_row).collect()
}

pub async fn get(conn: &mut Conn, id: &WorkspaceId) -> Result<Option<Workspace>, StoreError> {
    let row =
        sqlx::query("select workspace_id, name, created_at from workspace where workspace_id = $1")
            .bind(id.as_str())
            .fetch_optional(conn)
            .await?;
    row.as_ref().map(from_row).transpose()
}
