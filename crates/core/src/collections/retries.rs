//! Smart retries, pay before commit: the sweep charges the saved method off-session for a due
//! `retry_payment` step outside any transaction (the attempt's idempotency key is the
//! customer, the anchor invoice and the step, so a repeated sweep never charges twice), then
//! records the outcome — a payment only when the provider confirms it — in the transaction
//! that evaluates the account.

use bursar_domain::collections::{DeclineClass, DunningAction, Retry, RetryOutcome};
use bursar_domain::event_type;
use bursar_domain::id::*;
use bursar_domain::invoice::Payment;
use bursar_domain::ledger::chart::CommerceAccount;
use bursar_domain::money::Currency;
use bursar_payments::{PaymentState, PaymentStatus};
use bursar_store::documents::{self, INVOICE_PAYMENT};
use bursar_store::Tx;
use serde_json::json;

use super::load;
use crate::error::Error;
use crate::invoices::{allocate, open_invoices, save_payment};
use crate::write::Context;
use crate::{providers, App};

/// An off-session charge made for a retry step, not yet recorded.
#[derive(Debug, Clone)]
pub struct ChargedRetry {
    pub anchor_invoice_id: InvoiceId,
    pub step: u16,
    pub payment_method_id: String,
    pub amount: i64,
    pub currency: Currency,
    /// The provider's answer; `Err` when it could not be reached (nothing is recorded).
    pub outcome: Result<PaymentState, String>,
    pub clearing: CommerceAccount,
    /// A hosted page opened for the anchor invoice when the charge was declined: the email
    /// about it (fix the card, a new method, authenticate) carries it, and the customer can
    /// pay there.
    pub payment_link: Option<bursar_domain::invoice::PaymentLink>,
}

/// Charges the customer's saved method for its first due step if that step is a retry that
/// may charge and has not; `None` when there is nothing to charge.
pub async fn charge_due_retry(
    app: &App,
    workspace_id: &WorkspaceId,
    customer_id: &CustomerId,
) -> Result<Option<ChargedRetry>, Error> {
    let (ws, id) = (workspace_id.clone(), customer_id.clone());
    let now = app.db.now();
    let account = app
        .db
        .read(move |tx: &mut Tx| Box::pin(async move { load(tx, &ws, &id, false).await }))
        .await?;
    let health = account.assess(now);
    let (Some(position), Some(due), Some(method)) = (
        health.position.as_ref(),
        health.due.first(),
        account.payment_method.as_ref(),
    ) else {
        return Ok(None);
    };
    let recorded = account
        .stored
        .as_ref()
        .and_then(|s| s.dunning.as_ref())
        .is_some_and(|d| {
            d.retries
                .iter()
                .any(|r| r.anchor_invoice_id == position.anchor_invoice_id && r.step == due.step)
        });
    if !due.actions.contains(&DunningAction::RetryPayment)
        || due.retry_skipped.is_some()
        || recorded
    {
        return Ok(None);
    }
    let Some(currency) = account
        .invoices
        .iter()
        .find(|i| i.id == position.anchor_invoice_id)
        .map(|i| i.currency)
    else {
        return Ok(None);
    };
    let amount = position
        .overdue
        .iter()
        .find(|b| b.currency == currency)
        .map_or(0, |b| b.amount);
    let connection =
        providers::resolve(app, workspace_id, Some(method.provider_id.as_str()), "").await?;
    let charge = bursar_payments::OffSessionCharge {
        attempt_id: format!(
            "dun-{customer_id}-{}-{}",
            position.anchor_invoice_id, due.step
        ),
        order_id: position.anchor_invoice_id.to_string(),
        provider_customer: method.provider_customer.clone().unwrap_or_default(),
        payment_method: method.provider_method_id.clone(),
        amount,
        currency: currency.code().to_owned(),
        metadata: providers::order_metadata(position.anchor_invoice_id.as_str()),
    };
    let outcome = connection.provider.charge_saved(&charge).await;
    let declined = outcome.as_ref().is_ok_and(|state| {
        !matches!(
            state.status,
            PaymentStatus::Succeeded | PaymentStatus::Processing
        )
    });
    let anchor = account
        .invoices
        .iter()
        .find(|i| i.id == position.anchor_invoice_id);
    let payment_link = match anchor {
        Some(invoice) if declined => {
            fresh_payment_link(app, workspace_id, invoice, method.provider_id.as_str()).await
        }
        _ => None,
    };
    Ok(Some(ChargedRetry {
        payment_link,
        anchor_invoice_id: position.anchor_invoice_id.clone(),
        step: due.step,
        payment_method_id: method.id.to_string(),
        amount,
        currency,
        outcome: outcome.map_err(|e| e.to_string()),
        clearing: CommerceAccount::Clearing(connection.row.kind.clone()),
    }))
}

/// A hosted payment page for `invoice`'s amount due, opened after a declined retry so the
/// email that says so carries a working link (writes nothing: [`record_charge`] records it).
/// `None` when it could not be opened: the email goes without.
async fn fresh_payment_link(
    app: &App,
    workspace_id: &WorkspaceId,
    invoice: &bursar_domain::invoice::Invoice,
    provider_id: &str,
) -> Option<bursar_domain::invoice::PaymentLink> {
    let base = app.config.public_url.clone().unwrap_or_default();
    let back = format!("{base}/?invoice={}", invoice.id);
    let page = crate::invoice_checkout::LinkPage {
        provider: Some(provider_id.to_owned()),
        base_url: base,
        success_url: back.clone(),
        cancel_url: back,
    };
    match crate::invoice_checkout::open_payment_link(app, workspace_id, invoice, page).await {
        Ok(link) => link,
        Err(error) => {
            tracing::warn!(error = %error, invoice = %invoice.id, "no payment link after a declined retry");
            None
        }
    }
}

/// Records a retry's charge: a confirmed payment (once, by the provider's payment id) paid to
/// the customer's open invoices oldest first; a decline with its class. Emits
/// `dunning.retry_attempted`.
pub(super) async fn record_charge(
    cx: &mut Context<'_>,
    customer_id: &CustomerId,
    charged: ChargedRetry,
) -> Result<Option<Retry>, Error> {
    let state = match &charged.outcome {
        Ok(state) => state,
        // Unreachable provider: nothing happened; the next sweep tries again.
        Err(_) => return Ok(None),
    };
    let outcome = match state.status {
        PaymentStatus::Succeeded => RetryOutcome::Succeeded {
            payment_id: state.id.clone(),
        },
        PaymentStatus::Processing => RetryOutcome::Processing,
        _ => {
            let code = state
                .decline_code
                .clone()
                .or_else(|| state.last_error.clone())
                .unwrap_or_else(|| "payment_failed".into());
            let class = state
                .decline_class
                .unwrap_or_else(|| bursar_payments::decline_class(&code));
            RetryOutcome::Declined {
                class: decline_class(class),
                code,
            }
        }
    };
    let retry = Retry {
        anchor_invoice_id: charged.anchor_invoice_id.clone(),
        step: charged.step,
        at: cx.now,
        payment_method_id: Some(charged.payment_method_id.clone()),
        amount: charged.amount,
        currency: charged.currency,
        outcome,
    };
    let label = match &retry.outcome {
        RetryOutcome::Declined { class, .. } => match class {
            DeclineClass::Hard => "hard",
            DeclineClass::Soft => "soft",
            DeclineClass::AuthenticationRequired => "authentication_required",
        },
        RetryOutcome::Succeeded { .. } => "succeeded",
        RetryOutcome::Processing => "processing",
        RetryOutcome::Skipped { .. } => "skipped",
    };
    metrics::counter!("bursar_dunning_retries_total", "outcome" => label).increment(1);
    // The retry is on the account before its payment pays the invoices: the evaluations the
    // payment causes see it.
    super::note_retry(cx, customer_id, retry.clone()).await?;
    cx.emit(bursar_domain::event::NewEvent::new(
        event_type::DUNNING_RETRY_ATTEMPTED,
        "customer",
        customer_id.as_str(),
        json!({ "customer_id": customer_id, "retry": retry }),
    ))
    .await?;
    if state.status == PaymentStatus::Succeeded {
        record_payment(cx, customer_id, &charged, state).await?;
    }
    if let Some(link) = charged.payment_link.clone() {
        let invoice = charged.anchor_invoice_id.to_string();
        match crate::invoice_checkout::record_payment_link(cx, &invoice, Some(link)).await {
            // Another evaluation (a second node's sweep) recorded its link first: that one
            // stands.
            Err(e) if e.kind == crate::error::ErrorKind::State => {}
            other => {
                other?;
            }
        }
    }
    Ok(Some(retry))
}

/// The class the provider boundary gave a decline, in the domain's terms.
pub fn decline_class(class: bursar_payments::DeclineClass) -> DeclineClass {
    match class {
        bursar_payments::DeclineClass::Hard => DeclineClass::Hard,
        bursar_payments::DeclineClass::Soft => DeclineClass::Soft,
        bursar_payments::DeclineClass::AuthenticationRequired => {
            DeclineClass::AuthenticationRequired
        }
    }
}

/// Posts the confirmed charge (provider clearing → customer credit) and allocates it to the
/// open invoices, oldest first; what is left stays credit. Once per provider payment id.
async fn record_payment(
    cx: &mut Context<'_>,
    customer_id: &CustomerId,
    charged: &ChargedRetry,
    state: &PaymentState,
) -> Result<PaymentId, Error> {
    let existing: Vec<Payment> = documents::find_in(
        cx.tx,
        INVOICE_PAYMENT,
        cx.workspace_id,
        "reference",
        &[state.id.as_str()],
    )
    .await?;
    if let Some(first) = existing.first().filter(|_| !state.id.is_empty()) {
        return Ok(first.id.clone());
    }
    let mut payment = crate::invoice_checkout::record_card_payment(
        cx,
        customer_id,
        (charged.currency, state.amount_received),
        state.id.clone(),
        charged.clearing.clone(),
    )
    .await?;
    for invoice in open_invoices(cx, customer_id, payment.currency).await? {
        if payment.unallocated == 0 {
            break;
        }
        let part = invoice.amount_due.min(payment.unallocated);
        allocate(cx, &mut payment, invoice.id.as_str(), part, "invoice_id").await?;
    }
    save_payment(cx, &payment, false).await?;
    Ok(payment.id)
}
