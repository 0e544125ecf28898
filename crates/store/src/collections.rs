//! Collections queries: the accounts whose health is due for a check, their next-check
//! instants, the latest version of each dunning policy.

use bursar_domain::id::WorkspaceId;
use bursar_domain::time::Timestamp;

use crate::{params, StoreError, Tx};

/// Customers whose next check is at or before `now`, earliest first, at most `limit`.
pub async fn accounts_due(
    tx: &mut Tx,
    now: Timestamp,
    limit: i64,
) -> Result<Vec<(WorkspaceId, String)>, StoreError> {
    let rows = tx
        .fetch_all(
            "select workspace_id, object_id from billing_status \
             where next_check_at <= $1 and object_id like 'cus_%' \
             order by next_check_at, workspace_id, object_id limit $2",
            params![now.unix_micros(), limit],
        )
        .await?;
    crate::invoices::workspace_objects(&rows)
}

/// Every customer with a stored billing status, in `workspace_id` (all workspaces for none).
pub async fn accounts(
    tx: &mut Tx,
    workspace_id: Option<&WorkspaceId>,
) -> Result<Vec<(WorkspaceId, String)>, StoreError> {
    let rows = match workspace_id {
        Some(ws) => {
            tx.fetch_all(
                "select workspace_id, object_id from billing_status \
                 where workspace_id = $1 and object_id like 'cus_%' order by object_id",
                params![ws.as_str()],
            )
            .await?
        }
        None => {
            tx.fetch_all(
                "select workspace_id, object_id from billing_status \
                 where object_id like 'cus_%' order by workspace_id, object_id",
                &[],
            )
            .await?
        }
    };
    crate::invoices::workspace_objects(&rows)
}

/// Sets when account `id`'s health is next checked (never for none).
pub async fn set_next_check(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    id: &str,
    at: Option<Timestamp>,
) -> Result<(), StoreError> {
    tx.execute(
        "update billing_status set next_check_at = $3 where workspace_id = $1 and object_id = $2",
        params![workspace_id.as_str(), id, at.map(|t| t.unix_micros())],
    )
    .await?;
    Ok(())
}

/// The latest version of each of a workspace's dunning policies (JSON bodies), by id.
pub async fn latest_policies(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
) -> Result<Vec<String>, StoreError> {
    let rows = tx
        .fetch_all(
            "select body from dunning_policy where workspace_id = $1 and object_id = policy_id \
             order by object_id",
            params![workspace_id.as_str()],
        )
        .await?;
    rows.iter().map(|row| row.text("body")).collect()
}

/// The number of billing statuses per status, across workspaces: for metrics.
pub async fn status_counts(tx: &mut Tx) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = tx
        .fetch_all(
            "select status, count(*) as n from billing_status where object_id like 'cus_%' \
             group by status order by status",
            &[],
        )
        .await?;
    rows.iter()
        .map(|row| Ok((row.text("status")?, row.i64("n")?)))
        .collect()
}

/// The payloads of a workspace's events of `event_type`, oldest first.
pub async fn event_payloads(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    event_type: &str,
) -> Result<Vec<String>, StoreError> {
    let rows = tx
        .fetch_all(
            "select payload from domain_event where workspace_id = $1 and event_type = $2 \
             order by position",
            params![workspace_id.as_str(), event_type],
        )
        .await?;
    rows.iter().map(|row| row.text("payload")).collect()
}
