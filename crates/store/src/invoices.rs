//! Invoice numbering and settings. Invoices and tax rates themselves are documents
//! ([`crate::documents`], tables `invoice` and `tax_rate`).

use bursar_domain::id::WorkspaceId;
use bursar_domain::time::Timestamp;

use crate::{params, StoreError, Tx};

/// The next number of the sequence `prefix`/`year`, taken in the caller's transaction: the row
/// stays locked until it commits, and a rollback gives the number back, so issued numbers have
/// no gaps.
pub async fn next_number(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    prefix: &str,
    year: i64,
) -> Result<i64, StoreError> {
    tx.execute(
        "insert into invoice_sequence (workspace_id, prefix, year, last) values ($1, $2, $3, 0) \
         on conflict do nothing",
        params![workspace_id.as_str(), prefix, year],
    )
    .await?;
    let row = tx
        .fetch_one(
            "update invoice_sequence set last = last + 1 \
             where workspace_id = $1 and prefix = $2 and year = $3 returning last",
            params![workspace_id.as_str(), prefix, year],
        )
        .await?;
    row.i64("last")
}

/// The workspace's invoicing settings (JSON), if set.
pub async fn settings(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
) -> Result<Option<String>, StoreError> {
    let row = tx
        .fetch_optional(
            "select body from invoice_settings where workspace_id = $1",
            params![workspace_id.as_str()],
        )
        .await?;
    row.map(|r| r.text("body")).transpose()
}

pub async fn save_settings(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    body: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "insert into invoice_settings (workspace_id, body) values ($1, $2) \
         on conflict (workspace_id) do update set body = excluded.body",
        params![workspace_id.as_str(), body],
    )
    .await?;
    Ok(())
}

/// Customers whose billing status a passing due date can change (active, past due), with
/// their workspaces.
pub async fn customers_to_sweep(tx: &mut Tx) -> Result<Vec<(WorkspaceId, String)>, StoreError> {
    let rows = tx
        .fetch_all(
            "select workspace_id, object_id from billing_status \
             where status in ('active', 'past_due') and object_id like 'cus_%' \
             order by workspace_id, object_id",
            &[],
        )
        .await?;
    workspace_objects(&rows)
}

/// Whether an invoice with this billing key exists (a contract's period already billed).
pub async fn billed(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    billing_key: &str,
) -> Result<bool, StoreError> {
    Ok(tx
        .fetch_optional(
            "select object_id from invoice where workspace_id = $1 and billing_key = $2",
            params![workspace_id.as_str(), billing_key],
        )
        .await?
        .is_some())
}

/// The open contracts of one workspace.
pub async fn open_contracts(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
) -> Result<Vec<String>, StoreError> {
    let rows = tx
        .fetch_all(
            "select object_id from contract where workspace_id = $1 order by object_id",
            params![workspace_id.as_str()],
        )
        .await?;
    rows.iter().map(|r| r.text("object_id")).collect()
}

/// Contracts due for billing at `now` (never billed, or their `bill_at` passed), by workspace,
/// at most `limit`.
pub async fn contracts_due(
    tx: &mut Tx,
    now: Timestamp,
    limit: i64,
) -> Result<Vec<(WorkspaceId, String)>, StoreError> {
    let rows = tx
        .fetch_all(
            "select workspace_id, object_id from contract where bill_at is null or bill_at <= $1 \
             order by workspace_id, object_id limit $2",
            params![now.unix_micros(), limit],
        )
        .await?;
    workspace_objects(&rows)
}

/// When a contract is next due for billing.
pub async fn set_bill_at(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    contract_id: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    tx.execute(
        "update contract set bill_at = $3 where workspace_id = $1 and object_id = $2",
        params![workspace_id.as_str(), contract_id, at.unix_micros()],
    )
    .await?;
    Ok(())
}

/// Workspaces with draft invoices made by billing runs.
pub async fn workspaces_with_billed_drafts(tx: &mut Tx) -> Result<Vec<WorkspaceId>, StoreError> {
    let rows = tx
        .fetch_all(
            "select distinct workspace_id from invoice \
             where status = 'draft' and billing_key is not null order by workspace_id",
            &[],
        )
        .await?;
    rows.iter()
        .map(|row| Ok(WorkspaceId::from_trusted(row.text("workspace_id")?)))
        .collect()
}

/// A workspace's draft invoices made by billing runs: (invoice id, the invoice as stored).
pub async fn billed_drafts(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
) -> Result<Vec<(String, String)>, StoreError> {
    let rows = tx
        .fetch_all(
            "select object_id, body from invoice where status = 'draft' and workspace_id = $1 \
             and billing_key is not null order by object_id",
            params![workspace_id.as_str()],
        )
        .await?;
    rows.iter()
        .map(|row| Ok((row.text("object_id")?, row.text("body")?)))
        .collect()
}

/// `(workspace_id, object_id)` of each row.
pub(crate) fn workspace_objects(
    rows: &[crate::sql::Row],
) -> Result<Vec<(WorkspaceId, String)>, StoreError> {
    rows.iter()
        .map(|row| {
            Ok((
                WorkspaceId::from_trusted(row.text("workspace_id")?),
                row.text("object_id")?,
            ))
        })
        .collect()
}

/// The buyers of these contracts.
pub async fn buyers_of(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    contract_ids: &[String],
) -> Result<Vec<String>, StoreError> {
    let mut buyers = Vec::new();
    for id in contract_ids {
        if let Some(row) = tx
            .fetch_optional(
                "select buyer_id from contract where workspace_id = $1 and object_id = $2",
                params![workspace_id.as_str(), id.as_str()],
            )
            .await?
        {
            buyers.push(row.text("buyer_id")?);
        }
    }
    buyers.sort();
    buyers.dedup();
    Ok(buyers)
}
