//! The settlement subscriber: marketplace invoices settle through wallets as events arrive
//! (see `bursar_core::settlement`).
//!
//! - `invoice.issued` → pay the invoice from the buyer's wallet, if it holds enough;
//! - `wallet.funded`, `pay_in.settled` → pay the buyer's open marketplace invoices from the
//!   money that arrived;
//! - `invoice.paid` → release the seller's part into their PAY_IN_HOLDING, seasoning.
//!
//! Every step is keyed by the invoice, so a redelivered event changes nothing the second time.

use std::sync::Arc;

use bursar_core::settlement;
use bursar_core::{App, Error};
use bursar_domain::event::{Cause, Event};
use bursar_domain::event_type;
use bursar_domain::id::{CustomerId, WorkspaceId};
use bursar_domain::money::Currency;
use futures::future::BoxFuture;

use crate::subscriber::Subscriber;

pub const SUBSCRIBER: &str = "settlement";

pub struct Settlement {
    app: App,
}

/// What an event asks of settlement.
enum Step {
    PayInvoice(String),
    PayOpen(CustomerId, Currency),
    Release(String),
}

impl Settlement {
    pub fn subscriber(app: App) -> Arc<dyn Subscriber> {
        Arc::new(Settlement { app })
    }

    async fn handle(&self, workspace_id: &WorkspaceId, event: &Event) -> Result<(), String> {
        let Some(step) = step_of(event) else {
            return Ok(());
        };
        let cause = Cause {
            request_id: event.cause.request_id.clone(),
            actor: Some(format!("system:{SUBSCRIBER}")),
        };
        self.app
            .write(workspace_id.clone(), cause, move |mut cx| {
                Box::pin(async move {
                    match step {
                        Step::PayInvoice(id) => {
                            settlement::pay_from_wallet(&mut cx, &id).await?;
                        }
                        Step::PayOpen(buyer, currency) => {
                            settlement::pay_open_from_wallet(&mut cx, &buyer, currency).await?;
                        }
                        Step::Release(id) => {
                            settlement::release_seller_share(&mut cx, &id).await?;
                        }
                    }
                    Ok::<(), Error>(())
                })
            })
            .await
            .map_err(|e| format!("{}: {}", e.code, e.message))
    }
}

fn step_of(event: &Event) -> Option<Step> {
    match event.event_type.as_str() {
        event_type::INVOICE_ISSUED => Some(Step::PayInvoice(event.aggregate_id.clone())),
        event_type::INVOICE_PAID => Some(Step::Release(event.aggregate_id.clone())),
        event_type::WALLET_FUNDED => funded(&event.payload["party"], &event.payload["currency"]),
        event_type::PAY_IN_SETTLED => {
            let pay_in = &event.payload["object"];
            funded(&pay_in["party_id"], &pay_in["currency"])
        }
        _ => None,
    }
}

fn funded(party: &serde_json::Value, currency: &serde_json::Value) -> Option<Step> {
    let party = CustomerId::parse(party.as_str()?, "party").ok()?;
    let currency = Currency::parse(currency.as_str()?, "currency").ok()?;
    Some(Step::PayOpen(party, currency))
}

impl Subscriber for Settlement {
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
