//! Inbound provider events: a signed webhook verified, claimed once, and applied to what it
//! pays for (an order, an invoice's payment link, a saved method) in one transaction.

use bursar_domain::event::Cause;
use bursar_domain::payment_provider::*;
use bursar_payments::{Headers, WebhookError};
use bursar_store::Tx;
use bytes::Bytes;

use crate::error::{Error, ErrorKind};
use crate::providers::*;
use crate::write::Context;
use crate::App;
use crate::{invoice_checkout, invoice_disputes, orders, payment_methods};
use bursar_domain::payment_provider::PaymentTarget;
use bursar_payments::{PaymentEvent, PaymentEventKind};

pub fn webhook_error(error: WebhookError) -> Error {
    let code = match error {
        WebhookError::MissingSignature => "signature_missing",
        WebhookError::MalformedSignature(_) => "signature_malformed",
        WebhookError::BadSignature => "signature_invalid",
        WebhookError::Expired { .. } => "signature_expired",
        WebhookError::BadPayload(_) => "payload_invalid",
    };
    Error::new(ErrorKind::Invalid, code, error.to_string())
}

/// Verifies, claims and applies one inbound provider webhook. Nothing of an unverified body is
/// read or stored. A checkout the buyer approved but the provider does not charge by itself
/// (PayPal) is then captured ([`capture_approved`]), on every delivery of the approval until
/// the capture is recorded.
pub async fn ingest(
    state: &App,
    selector: &str,
    headers: &Headers,
    body: Bytes,
) -> Result<WebhookReceipt, Error> {
    let row = find_connection(state, selector, None).await?;
    let connection = connect(state, row, "")?;
    let now = state.db.now();
    let event = connection
        .provider
        .parse_webhook(
            headers,
            &body,
            &connection.secrets,
            now.unix_micros() / 1_000_000,
        )
        .map_err(webhook_error)?;
    let payload = String::from_utf8_lossy(&body).into_owned();
    let approved = event.clone();
    let receipt = record(state, &connection.row, event, payload).await?;
    capture_approved(state, &connection, &approved).await?;
    Ok(receipt)
}

/// Claims `event` of the connection `row` (once: its provider event id) and applies it, in one
/// write; `payload` is what is stored of it.
async fn record(
    state: &App,
    row: &bursar_store::payment_providers::ProviderRow,
    event: PaymentEvent,
    payload: String,
) -> Result<WebhookReceipt, Error> {
    let now = state.db.now();
    let workspace_id = row.workspace_id.clone();
    let provider_id = row.provider_id.clone();
    let kind = row.kind.clone();
    let cause = Cause {
        request_id: None,
        actor: Some(format!("provider:{provider_id}")),
    };
    state
        .db
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let first = bursar_store::payment_providers::claim_provider_event(
                    tx,
                    &provider_id,
                    &event.provider_event_id,
                    &workspace_id,
                    &event.provider_event_type,
                    &payload,
                    now.unix_micros(),
                )
                .await?;
                if !first {
                    return Ok::<_, Error>(WebhookReceipt {
                        received: true,
                        event_id: event.provider_event_id,
                        first_delivery: false,
                        outcome: "duplicate".into(),
                        detail: None,
                        order_id: event.order_id,
                    });
                }
                let applied = {
                    let mut cx = Context {
                        tx: &mut *tx,
                        workspace_id: &workspace_id,
                        now,
                        cause: &cause,
                    };
                    apply(&mut cx, &provider_id, &kind, &event).await?
                };
                bursar_store::payment_providers::settle_provider_event(
                    tx,
                    &provider_id,
                    &event.provider_event_id,
                    applied.order_id.as_deref(),
                    applied.outcome,
                    applied.detail.as_deref(),
                )
                .await?;
                Ok(WebhookReceipt {
                    received: true,
                    event_id: event.provider_event_id,
                    first_delivery: true,
                    outcome: applied.outcome.to_owned(),
                    detail: applied.detail,
                    order_id: applied.order_id,
                })
            })
        })
        .await
}

/// After the buyer approved a checkout that the provider charges only when asked (PayPal's
/// `CHECKOUT.ORDER.APPROVED`), captures it, outside any transaction, and records what the
/// capture came to as the provider's own event would be recorded: paid, or failed with the
/// decline. It is recorded once (keyed by the checkout) however often the approval is
/// delivered; the provider's capture webhook that follows is then a no-op. Providers whose
/// checkouts charge on completion (Stripe, the test provider) have nothing to capture. A
/// capture still pending at the provider is left to its webhook.
async fn capture_approved(
    state: &App,
    connection: &Connection,
    approved: &PaymentEvent,
) -> Result<(), Error> {
    let PaymentEventKind::CheckoutCompleted {
        paid: false,
        session_id,
        ..
    } = &approved.kind
    else {
        return Ok(());
    };
    let captured = match connection.provider.capture_checkout(session_id).await {
        Ok(captured) => captured,
        Err(bursar_payments::ProviderError::Unsupported(_)) => return Ok(()),
        Err(error) => return Err(provider_error(error)),
    };
    let kind = match captured.status {
        bursar_payments::PaymentStatus::Succeeded => PaymentEventKind::PaymentSucceeded {
            payment_id: captured.id.clone(),
            amount: captured.amount_received,
            currency: captured.currency.clone(),
            fee: None,
            payment_method: None,
            provider_customer: None,
        },
        bursar_payments::PaymentStatus::Failed => PaymentEventKind::PaymentFailed {
            payment_id: captured.id.clone(),
            code: captured.last_error.clone(),
            message: None,
            decline_code: captured.decline_code.clone(),
            decline_class: captured.decline_class,
            card: None,
        },
        _ => return Ok(()),
    };
    let event = PaymentEvent {
        provider_event_id: format!("capture:{session_id}"),
        provider_event_type: "bursar.checkout_captured".into(),
        created: state.db.now().unix_micros() / 1_000_000,
        order_id: approved.order_id.clone().or(captured.order_id.clone()),
        kind,
    };
    let payload = serde_json::json!({
        "checkout": session_id,
        "payment_id": captured.id,
        "status": format!("{:?}", captured.status),
    })
    .to_string();
    record(state, &connection.row, event, payload).await?;
    Ok(())
}

/// Applies one verified provider event to what it pays for, in the write's transaction: a
/// saved method to the customer's methods, a payment to its order or its invoice.
pub async fn apply(
    cx: &mut Context<'_>,
    provider_id: &str,
    provider_kind: &str,
    event: &PaymentEvent,
) -> Result<Applied, Error> {
    // A decline on the provider's page counts against the card's fingerprint (an off-session
    // charge's decline was counted when it was recorded, by its saved method).
    if let PaymentEventKind::PaymentFailed {
        card:
            Some(bursar_payments::DeclinedCard {
                fingerprint: Some(fingerprint),
                ..
            }),
        ..
    } = &event.kind
    {
        let card = crate::velocity::Card::Fingerprint(fingerprint);
        crate::velocity::count_card_decline(cx, card).await?;
    }
    if let PaymentEventKind::PaymentMethodSaved {
        payment_method,
        provider_customer,
        customer_id,
        ..
    } = &event.kind
    {
        return payment_methods::record_saved(
            cx,
            provider_id,
            provider_kind,
            payment_method,
            provider_customer.as_deref(),
            customer_id.as_deref(),
        )
        .await;
    }
    let Some(reference) = reference_of(cx, event).await? else {
        if let Some(applied) = invoice_disputes::apply(cx, provider_kind, event).await? {
            return Ok(applied);
        }
        return Ok(Applied::unmatched("no Bursar order named by the event"));
    };
    match PaymentTarget::of_reference(&reference) {
        Some(PaymentTarget::Invoice(invoice_id)) => {
            invoice_checkout::apply_payment_event(cx, provider_kind, event, invoice_id.as_str())
                .await
        }
        Some(PaymentTarget::Order(order_id)) => {
            orders::apply_payment_event(cx, provider_id, provider_kind, event, &order_id).await
        }
        None => Ok(Applied::unmatched(
            "the named order does not exist in this workspace",
        )),
    }
}

/// The reference the event names: its own, or that of the payment it concerns (disputes and
/// refunds name the payment only).
async fn reference_of(cx: &mut Context<'_>, event: &PaymentEvent) -> Result<Option<String>, Error> {
    let payment = match &event.kind {
        PaymentEventKind::DisputeOpened { payment_id, .. }
        | PaymentEventKind::DisputeClosed { payment_id, .. }
        | PaymentEventKind::Refund { payment_id, .. } => payment_id.clone(),
        _ => None,
    };
    Ok(match (&event.order_id, payment) {
        (Some(id), _) => Some(id.clone()),
        (None, Some(payment)) => {
            bursar_store::payment_providers::order_id_by_payment(cx.tx, cx.workspace_id, &payment)
                .await?
        }
        (None, None) => None,
    })
}
