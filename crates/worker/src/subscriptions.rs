//! The subscription projection: a relay subscriber that keeps each contract's subscription in
//! step with the contract's log. It acts on `contract.*` events after they commit, never inline
//! in the request; a failure is retried by the relay. The subscription is a function of the log
//! (`bursar_domain::subscription::derive`), so applying an event twice, or out of turn, or
//! rebuilding everything (`bursar contracts rebuild`) gives the same subscription.

use std::sync::Arc;

use bursar_domain::event::Event;
use bursar_domain::id::WorkspaceId;
use bursar_store::{contracts, Db, StoreError, Tx};
use futures::future::BoxFuture;

use crate::subscriber::Subscriber;

/// The subscriber's name (deliveries are kept per name).
pub const SUBSCRIBER: &str = "subscriptions";

pub struct SubscriptionProjector {
    db: Db,
}

impl SubscriptionProjector {
    pub fn subscriber(db: Db) -> Arc<dyn Subscriber> {
        Arc::new(Self { db })
    }

    async fn handle(&self, workspace_id: &WorkspaceId, event: &Event) -> Result<(), String> {
        if event.aggregate_type != "contract" {
            return Ok(());
        }
        project(&self.db, workspace_id.clone(), event.aggregate_id.clone())
            .await
            .map_err(|e| e.to_string())
    }
}

/// Brings one contract's subscription up to date, in its own transaction.
pub async fn project(
    db: &Db,
    workspace_id: WorkspaceId,
    contract_id: String,
) -> Result<(), StoreError> {
    let now = db.now();
    db.write(move |tx: &mut Tx| {
        Box::pin(async move {
            contracts::project_subscription(tx, &workspace_id, &contract_id, now).await?;
            Ok::<(), StoreError>(())
        })
    })
    .await
}

/// Recomputes every contract's subscription from its log; returns how many contracts.
pub async fn rebuild(db: &Db) -> Result<usize, StoreError> {
    let all = db
        .read(|tx: &mut Tx| Box::pin(async move { contracts::contracts(tx, false).await }))
        .await?;
    let count = all.len();
    for (workspace_id, contract_id) in all {
        project(db, workspace_id, contract_id).await?;
    }
    Ok(count)
}

impl Subscriber for SubscriptionProjector {
    fn name(&self) -> &str {
        SUBSCRIBER
    }

    fn deliver<'a>(
        &'a self,
        workspace_id: &'a WorkspaceId,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(self.handle(workspace_id, event))
    }
}
