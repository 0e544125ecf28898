//! The onboarding steps of fulfilled orders: planned once per order and step, found when due,
//! marked sent once.

use bursar_domain::id::WorkspaceId;
use bursar_domain::time::Timestamp;

use crate::{params, StoreError, Tx};

/// A due step: its workspace, order and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueStep {
    pub workspace_id: WorkspaceId,
    pub order_id: String,
    pub step: String,
}

/// Plans step `step` of order `order_id` at `due_at`; a step planned already stays as it is.
pub async fn plan(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    order_id: &str,
    step: &str,
    due_at: Timestamp,
) -> Result<(), StoreError> {
    tx.execute(
        "insert into onboarding_step (workspace_id, order_id, step, due_at, status) \
         values ($1, $2, $3, $4, 'pending') on conflict do nothing",
        params![workspace_id.as_str(), order_id, step, due_at.unix_micros()],
    )
    .await?;
    Ok(())
}

/// The pending steps due at `now`, oldest first, at most `limit`.
pub async fn due(tx: &mut Tx, now: Timestamp, limit: i64) -> Result<Vec<DueStep>, StoreError> {
    let rows = tx
        .fetch_all(
            "select workspace_id, order_id, step from onboarding_step \
             where status = 'pending' and due_at <= $1 order by due_at limit $2",
            params![now.unix_micros(), limit],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(DueStep {
                workspace_id: WorkspaceId::from_trusted(row.text("workspace_id")?),
                order_id: row.text("order_id")?,
                step: row.text("step")?,
            })
        })
        .collect()
}

/// Marks a step sent; whether it was still pending (so exactly one sender goes on).
pub async fn mark_sent(tx: &mut Tx, step: &DueStep) -> Result<bool, StoreError> {
    let changed = tx
        .execute(
            "update onboarding_step set status = 'sent' where workspace_id = $1 \
             and order_id = $2 and step = $3 and status = 'pending'",
            params![
                step.workspace_id.as_str(),
                step.order_id.as_str(),
                step.step.as_str()
            ],
        )
        .await?;
    Ok(changed == 1)
}
