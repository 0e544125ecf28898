//! The fulfillment subscriber: when an order is paid (`order.paid`, after it committed), issue
//! its licenses and download links and mark it fulfilled, in one transaction with the events
//! that announce it. The order's status is the guard: only a `paid` order is fulfilled, so a
//! redelivered or duplicated `order.paid` does nothing the second time, and nothing is
//! delivered before the payment is confirmed. An order refunded in full (`order.refunded`) has
//! its licenses revoked.

use bursar_domain::event_type;
use std::sync::Arc;

use bursar_core::fulfillment::{fulfill_order, revoke_refunded};
use bursar_core::{App, Error};
use bursar_domain::event::{Cause, Event};
use bursar_domain::id::WorkspaceId;
use futures::future::BoxFuture;

use crate::subscriber::Subscriber;

pub const SUBSCRIBER: &str = "fulfillment";

pub struct Fulfillment {
    app: App,
}

impl Fulfillment {
    pub fn subscriber(app: App) -> Arc<dyn Subscriber> {
        Arc::new(Fulfillment { app })
    }

    async fn handle(&self, workspace_id: &WorkspaceId, event: &Event) -> Result<(), String> {
        let refunded = match event.event_type.as_str() {
            event_type::ORDER_PAID => false,
            event_type::ORDER_REFUNDED => true,
            _ => return Ok(()),
        };
        let sealer = self.app.db.sealer().map_err(|e| e.to_string())?.clone();
        let settings = self.app.config.downloads.clone();
        let order_id = event.aggregate_id.clone();
        let cause = Cause {
            request_id: event.cause.request_id.clone(),
            actor: Some(format!("system:{SUBSCRIBER}")),
        };
        self.app
            .write(workspace_id.clone(), cause, move |mut cx| {
                Box::pin(async move {
                    if refunded {
                        revoke_refunded(&mut cx, &order_id).await?;
                    } else {
                        fulfill_order(&mut cx, &sealer, &settings, &order_id).await?;
                    }
                    Ok::<(), Error>(())
                })
            })
            .await
            .map_err(|e| format!("{}: {}", e.code, e.message))
    }
}

impl Subscriber for Fulfillment {
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
