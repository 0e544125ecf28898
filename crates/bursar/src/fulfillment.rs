//! The fulfillment subscriber: when an order is paid (`order.paid`, after it committed), issue
//! its licenses and download links and mark it fulfilled, in one transaction with the events
//! that announce it. The order's status is the guard: only a `paid` order is fulfilled, so a
//! redelivered or duplicated `order.paid` does nothing the second time, and nothing is
//! delivered before the payment is confirmed. An order refunded in full (`order.refunded`) has
//! its licenses revoked.

use std::sync::Arc;

use bursar_domain::event::{Cause, Event};
use bursar_domain::id::WorkspaceId;
use bursar_http::error::ApiError;
use bursar_http::fulfillment::{fulfill_order, revoke_refunded, DownloadSettings};
use bursar_http::mutate::Context;
use bursar_store::{Db, Tx};
use futures::future::BoxFuture;

use crate::relay::Subscriber;

pub const SUBSCRIBER: &str = "fulfillment";

pub struct Fulfillment {
    db: Db,
    settings: DownloadSettings,
}

impl Fulfillment {
    pub fn subscriber(db: Db, settings: DownloadSettings) -> Arc<dyn Subscriber> {
        Arc::new(Fulfillment { db, settings })
    }

    async fn handle(&self, workspace_id: &WorkspaceId, event: &Event) -> Result<(), String> {
        let refunded = match event.event_type.as_str() {
            "order.paid" => false,
            "order.refunded" => true,
            _ => return Ok(()),
        };
        let sealer = self.db.sealer().map_err(|e| e.to_string())?.clone();
        let (settings, ws, order_id, now) = (
            self.settings.clone(),
            workspace_id.clone(),
            event.aggregate_id.clone(),
            self.db.now(),
        );
        let cause = Cause {
            request_id: event.cause.request_id.clone(),
            actor: Some(format!("system:{SUBSCRIBER}")),
        };
        self.db
            .write(move |tx: &mut Tx| {
                Box::pin(async move {
                    let mut cx = Context {
                        tx,
                        workspace_id: &ws,
                        now,
                        cause: &cause,
                    };
                    if refunded {
                        revoke_refunded(&mut cx, &order_id).await?;
                    } else {
                        fulfill_order(&mut cx, &sealer, &settings, &order_id).await?;
                    }
                    Ok::<(), ApiError>(())
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
