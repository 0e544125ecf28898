//! The disagreement detector: every stored health recomputed from the facts at the instant it
//! was computed; an account whose stored answer differs is a bug the system reports itself,
//! and repairs by evaluating it again.

use bursar_domain::billing_status::{Access, BillingStatus};
use bursar_domain::collections::{CustomerBillingStatus, Health};
use bursar_domain::id::{CustomerId, WorkspaceId};
use bursar_store::Tx;
use serde::Serialize;

use super::{evaluate_now, load, load_many, Account};
use crate::error::Error;
use crate::App;

/// The parts of an account's health that are stored and checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthSummary {
    pub status: BillingStatus,
    pub access: Access,
    pub changes_blocked: bool,
    pub policy_version: Option<u32>,
    pub anchor_invoice_id: Option<String>,
    /// The last step in force.
    pub step: Option<u16>,
}

impl HealthSummary {
    pub fn of_stored(stored: &CustomerBillingStatus) -> Self {
        HealthSummary {
            status: stored.status,
            access: stored.access,
            changes_blocked: stored.changes_blocked,
            policy_version: stored.position.as_ref().map(|p| p.policy_version),
            anchor_invoice_id: stored
                .position
                .as_ref()
                .map(|p| p.anchor_invoice_id.to_string()),
            step: stored.position.as_ref().and_then(|p| p.applied),
        }
    }

    pub fn of_health(health: &Health) -> Self {
        HealthSummary {
            status: health.status,
            access: health.access,
            changes_blocked: health.changes_blocked,
            policy_version: health.position.as_ref().map(|p| p.policy_version),
            anchor_invoice_id: health
                .position
                .as_ref()
                .map(|p| p.anchor_invoice_id.to_string()),
            step: health.position.as_ref().and_then(|p| p.applied),
        }
    }
}

/// An account whose stored health is not what its facts say.
#[derive(Debug, Clone, Serialize)]
pub struct Disagreement {
    pub workspace_id: WorkspaceId,
    pub customer_id: CustomerId,
    pub stored: HealthSummary,
    pub recomputed: HealthSummary,
}

/// What a check found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub accounts: usize,
    pub disagreements: Vec<Disagreement>,
}

/// Recomputes every account's health (of `workspace_id`, or all) at the instant it was
/// stored, and lists the accounts whose stored answer differs.
pub async fn check(app: &App, workspace_id: Option<&WorkspaceId>) -> Result<CheckReport, Error> {
    let scope = workspace_id.cloned();
    let accounts = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { bursar_store::collections::accounts(tx, scope.as_ref()).await })
        })
        .await?;
    let mut disagreements = Vec::new();
    let mut by_workspace: Vec<(WorkspaceId, Vec<CustomerId>)> = Vec::new();
    for (ws, id) in &accounts {
        match by_workspace.last_mut() {
            Some((last, ids)) if last == ws => ids.push(CustomerId::from_trusted(id.clone())),
            _ => by_workspace.push((ws.clone(), vec![CustomerId::from_trusted(id.clone())])),
        }
    }
    for (ws, ids) in by_workspace {
        for chunk in ids.chunks(500) {
            let (ws, chunk) = (ws.clone(), chunk.to_vec());
            let found = app
                .db
                .read(move |tx: &mut Tx| {
                    Box::pin(async move {
                        let loaded = load_many(tx, &ws, &chunk).await?;
                        Ok::<_, Error>(
                            loaded
                                .iter()
                                .filter_map(|account| disagreement_of(&ws, account))
                                .collect::<Vec<_>>(),
                        )
                    })
                })
                .await?;
            disagreements.extend(found);
        }
    }
    metrics::gauge!("bursar_account_health_disagreements").set(disagreements.len() as f64);
    Ok(CheckReport {
        accounts: accounts.len(),
        disagreements,
    })
}

async fn disagreement(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    customer_id: &CustomerId,
) -> Result<Option<Disagreement>, Error> {
    let account = load(tx, workspace_id, customer_id, false).await?;
    Ok(disagreement_of(workspace_id, &account))
}

/// The account's stored health against its facts at the instant it was stored.
fn disagreement_of(workspace_id: &WorkspaceId, account: &Account) -> Option<Disagreement> {
    let stored = account.stored.as_ref()?;
    let at = stored.evaluated_at?;
    let stored = HealthSummary::of_stored(stored);
    let recomputed = HealthSummary::of_health(&account.assess(at));
    (stored != recomputed).then(|| Disagreement {
        workspace_id: workspace_id.clone(),
        customer_id: account.customer_id.clone(),
        stored,
        recomputed,
    })
}

/// Evaluates each disagreeing account again, which stores what its facts say; returns how
/// many still disagree afterwards.
pub async fn repair(app: &App, disagreements: &[Disagreement]) -> Result<usize, Error> {
    for d in disagreements {
        evaluate_now(app, &d.workspace_id, &d.customer_id, None).await?;
    }
    let mut left = 0;
    for d in disagreements {
        let (ws, id) = (d.workspace_id.clone(), d.customer_id.clone());
        let still = app
            .db
            .read(move |tx: &mut Tx| Box::pin(async move { disagreement(tx, &ws, &id).await }))
            .await?;
        left += usize::from(still.is_some());
    }
    Ok(left)
}
