//! Contracts' edit logs. The stored projection lives in the `contract` document table
//! ([`crate::documents::CONTRACT`]); this module keeps the log it is the replay of.

use bursar_domain::contract::{LogEntry, Operation};
use bursar_domain::id::WorkspaceId;
use bursar_domain::time::Timestamp;

use crate::{params, Backend, StoreError, Tx};

/// A contract's whole log, in the order recorded. Inside a write job on PostgreSQL the
/// contract's row is locked first, so appends to one contract are serialised.
pub async fn log(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    contract_id: &str,
    lock: bool,
) -> Result<Vec<LogEntry>, StoreError> {
    if lock && tx.backend() == Backend::Postgres {
        tx.fetch_optional(
            "select object_id from contract where workspace_id = $1 and object_id = $2 for update",
            params![workspace_id.as_str(), contract_id],
        )
        .await?;
    }
    let rows = tx
        .fetch_all(
            "select seq, effective_at, recorded_at, operation from contract_log \
             where workspace_id = $1 and contract_id = $2 order by seq",
            params![workspace_id.as_str(), contract_id],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let operation: Operation = serde_json::from_str(row.str("operation")?)
                .map_err(|e| StoreError::Corrupt(format!("contract operation: {e}")))?;
            Ok(LogEntry {
                seq: u64::try_from(row.i64("seq")?).unwrap_or(0),
                effective_at: Timestamp::from_unix_micros(row.i64("effective_at")?),
                recorded_at: Timestamp::from_unix_micros(row.i64("recorded_at")?),
                operation,
            })
        })
        .collect()
}

/// Appends an entry (its `seq` is the next one: the primary key refuses a concurrent twin).
pub async fn append(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    contract_id: &str,
    entry: &LogEntry,
) -> Result<(), StoreError> {
    let operation = serde_json::to_string(&entry.operation)
        .map_err(|e| StoreError::Corrupt(format!("BUG: operation: {e}")))?;
    tx.execute(
        "insert into contract_log (workspace_id, contract_id, seq, effective_at, recorded_at, operation) \
         values ($1, $2, $3, $4, $5, $6)",
        params![
            workspace_id.as_str(),
            contract_id,
            i64::try_from(entry.seq).unwrap_or(i64::MAX),
            entry.effective_at.unix_micros(),
            entry.recorded_at.unix_micros(),
            operation
        ],
    )
    .await?;
    Ok(())
}

/// Brings a contract's subscription up to date with its log, as of `now` (idempotent: the
/// subscription is a function of the log). Returns it, if the contract was ever activated.
pub async fn project_subscription(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    contract_id: &str,
    now: Timestamp,
) -> Result<Option<bursar_domain::subscription::Subscription>, StoreError> {
    use crate::documents::{self, SUBSCRIPTION};
    let log = log(tx, workspace_id, contract_id, true).await?;
    let Some(subscription) = bursar_domain::subscription::derive(contract_id, &log, now) else {
        return Ok(None);
    };
    let stored: Option<bursar_domain::subscription::Subscription> =
        documents::get(tx, SUBSCRIPTION, workspace_id, &subscription.id, false).await?;
    if stored.as_ref() == Some(&subscription) {
        return Ok(Some(subscription));
    }
    let extra = [("contract_id", contract_id.into())];
    if !documents::save(
        tx,
        SUBSCRIPTION,
        workspace_id,
        &subscription.id,
        &subscription,
        &extra,
    )
    .await?
    {
        documents::insert(
            tx,
            SUBSCRIPTION,
            workspace_id,
            &subscription.id,
            &subscription,
            &extra,
        )
        .await?;
    }
    Ok(Some(subscription))
}

/// Contracts as (workspace, id): every one, or (`open_only`) those not ended yet, which the
/// scheduler looks at.
pub async fn contracts(
    tx: &mut Tx,
    open_only: bool,
) -> Result<Vec<(WorkspaceId, String)>, StoreError> {
    let rows = tx
        .fetch_all(
            "select workspace_id, object_id, body from contract order by workspace_id, object_id",
            &[],
        )
        .await?;
    let mut found = Vec::with_capacity(rows.len());
    for row in &rows {
        if open_only {
            let body: serde_json::Value = serde_json::from_str(row.str("body")?)
                .map_err(|e| StoreError::Corrupt(format!("contract: {e}")))?;
            if matches!(body["status"].as_str(), Some("terminated" | "expired")) {
                continue;
            }
        }
        found.push((
            WorkspaceId::from_trusted(row.text("workspace_id")?),
            row.text("object_id")?,
        ));
    }
    Ok(found)
}
