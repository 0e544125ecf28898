//! Bank connections (their secrets sealed) and the bank webhooks received, each processed once.

use bursar_domain::id::WorkspaceId;

use crate::{params, StoreError, Tx};

/// A workspace's connection to a bank, with its sealed secrets.
#[derive(Debug, Clone)]
pub struct BankConnectionRow {
    pub workspace_id: WorkspaceId,
    pub connection_id: String,
    pub kind: String,
    /// The connection as the API shows it (JSON).
    pub body: String,
    pub api_key_sealed: Option<String>,
    pub webhook_secrets_sealed: String,
}

const COLUMNS: &str =
    "workspace_id, connection_id, kind, body, api_key_sealed, webhook_secrets_sealed";

fn row_from(row: &crate::Row) -> Result<BankConnectionRow, StoreError> {
    Ok(BankConnectionRow {
        workspace_id: WorkspaceId::from_trusted(row.text("workspace_id")?),
        connection_id: row.text("connection_id")?,
        kind: row.text("kind")?,
        body: row.text("body")?,
        api_key_sealed: row.opt_text("api_key_sealed")?,
        webhook_secrets_sealed: row.text("webhook_secrets_sealed")?,
    })
}

pub async fn insert(
    tx: &mut Tx,
    row: &BankConnectionRow,
    created_at: i64,
) -> Result<(), StoreError> {
    tx.execute(
        &format!("insert into bank_connection ({COLUMNS}, created_at) values ($1, $2, $3, $4, $5, $6, $7)"),
        params![
            row.workspace_id.as_str(),
            row.connection_id.as_str(),
            row.kind.as_str(),
            row.body.as_str(),
            row.api_key_sealed.clone(),
            row.webhook_secrets_sealed.as_str(),
            created_at,
        ],
    )
    .await?;
    Ok(())
}

/// A connection by id, whatever its workspace (inbound webhooks name the connection).
pub async fn by_id(tx: &mut Tx, id: &str) -> Result<Option<BankConnectionRow>, StoreError> {
    let sql = format!("select {COLUMNS} from bank_connection where connection_id = $1");
    tx.fetch_optional(&sql, params![id])
        .await?
        .as_ref()
        .map(row_from)
        .transpose()
}

/// The workspace's connections, oldest first.
pub async fn of_workspace(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
) -> Result<Vec<BankConnectionRow>, StoreError> {
    let sql = format!(
        "select {COLUMNS} from bank_connection where workspace_id = $1 order by created_at, connection_id"
    );
    tx.fetch_all(&sql, params![workspace_id.as_str()])
        .await?
        .iter()
        .map(row_from)
        .collect()
}

/// Every connection of a kind, in any workspace (the worker drives every test bank).
pub async fn of_kind(tx: &mut Tx, kind: &str) -> Result<Vec<BankConnectionRow>, StoreError> {
    let sql =
        format!("select {COLUMNS} from bank_connection where kind = $1 order by connection_id");
    tx.fetch_all(&sql, params![kind])
        .await?
        .iter()
        .map(row_from)
        .collect()
}

/// Claims a bank webhook: true the first time, false for every repeat. The claim commits with
/// the webhook's effects, so it is applied once; concurrent deliveries wait for the first.
pub async fn claim_webhook(
    tx: &mut Tx,
    connection_id: &str,
    webhook_id: &str,
    workspace_id: &WorkspaceId,
    topic: &str,
    event: &str,
    received_at: i64,
) -> Result<bool, StoreError> {
    let inserted = tx
        .execute(
            "insert into bank_webhook (connection_id, webhook_id, workspace_id, topic, event, \
             outcome, received_at) values ($1, $2, $3, $4, $5, 'received', $6) \
             on conflict (connection_id, webhook_id) do nothing",
            params![
                connection_id,
                webhook_id,
                workspace_id.as_str(),
                topic,
                event,
                received_at
            ],
        )
        .await?;
    Ok(inserted == 1)
}

/// Records what became of a claimed webhook.
pub async fn settle_webhook(
    tx: &mut Tx,
    connection_id: &str,
    webhook_id: &str,
    outcome: &str,
    detail: Option<&str>,
) -> Result<(), StoreError> {
    tx.execute(
        "update bank_webhook set outcome = $3, detail = $4 where connection_id = $1 and webhook_id = $2",
        params![connection_id, webhook_id, outcome, detail],
    )
    .await?;
    Ok(())
}
