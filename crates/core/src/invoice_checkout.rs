//! Paying an issued invoice online: a hosted payment link through the payment-provider boundary
//! (the test provider or Stripe), and the provider's signed webhooks recording the payment.
//!
//! Pay-before-commit: opening the link writes nothing to the ledger, and the customer's return
//! from the page proves nothing; only the provider's confirmation (a verified webhook, each
//! provider event once) records the payment — provider clearing → customer credit → the
//! invoice's receivable — and the invoice is paid when nothing is left to pay.

use bursar_domain::event_type;
use bursar_domain::id::{CustomerId, PaymentId};
use bursar_domain::invoice::{Invoice, InvoiceStatus, Payment, PaymentMethodKind};
use bursar_domain::ledger::chart::{CommerceAccount, Posting, TransferCode};
use bursar_payments::{PaymentEvent, PaymentEventKind};
use bursar_store::documents::{self, INVOICE, INVOICE_PAYMENT};
use serde_json::json;

use crate::error::Error;
use crate::invoices::{allocate, customer_credit, save_payment};
use crate::providers::Applied;
use crate::write::Context;

pub fn not_payable(invoice: &Invoice) -> Error {
    Error::state(
        "invoice_not_payable",
        invoice.status.as_str(),
        format!(
            "Only an issued invoice with an amount due can be paid online; this one is {} with {} due.",
            invoice.status.as_str(),
            invoice.amount_due
        ),
    )
}

pub fn payable(invoice: &Invoice) -> bool {
    matches!(
        invoice.status,
        InvoiceStatus::Issued | InvoiceStatus::Uncollectible
    ) && invoice.amount_due > 0
}

pub fn outcome(outcome: &'static str, invoice_id: &str, detail: impl Into<String>) -> Applied {
    Applied {
        outcome,
        detail: Some(detail.into()),
        order_id: Some(invoice_id.to_owned()),
    }
}

/// Applies a verified provider event about an invoice's payment link, in the transaction that
/// claimed the event: a confirmed payment is recorded once (by the provider's payment id, as
/// both the completed checkout and the succeeded payment report it) and allocated to the
/// invoice; what is beyond its amount due stays as the customer's credit.
pub async fn apply_payment_event(
    cx: &mut Context<'_>,
    provider_kind: &str,
    event: &PaymentEvent,
    invoice_id: &str,
) -> Result<Applied, Error> {
    let (payment_ref, amount, currency) = match &event.kind {
        PaymentEventKind::CheckoutCompleted {
            paid: true,
            payment_id,
            session_id,
            amount,
            currency,
            ..
        } => (
            payment_id.clone().unwrap_or_else(|| session_id.clone()),
            *amount,
            currency,
        ),
        PaymentEventKind::PaymentSucceeded {
            payment_id,
            amount,
            currency,
            ..
        } => (payment_id.clone(), *amount, currency),
        PaymentEventKind::PaymentFailed { code, message, .. } => {
            let Some(invoice) =
                documents::get::<Invoice>(cx.tx, INVOICE, cx.workspace_id, invoice_id, true)
                    .await?
            else {
                return Ok(outcome("unmatched", invoice_id, "no such invoice"));
            };
            cx.emit(bursar_domain::event::NewEvent::new(
                event_type::INVOICE_PAYMENT_FAILED,
                "invoice",
                invoice_id,
                json!({ "object": invoice, "code": code, "message": message }),
            ))
            .await?;
            return Ok(outcome(
                "applied",
                invoice_id,
                "payment failed; the invoice stays due",
            ));
        }
        _ => {
            return Ok(outcome(
                "ignored",
                invoice_id,
                "nothing to record for an invoice",
            ))
        }
    };
    // The invoice's row is locked first: concurrent events of one payment record it once.
    let Some(invoice) =
        documents::get::<Invoice>(cx.tx, INVOICE, cx.workspace_id, invoice_id, true).await?
    else {
        return Ok(outcome(
            "unmatched",
            invoice_id,
            "no such invoice in this workspace",
        ));
    };
    if currency != invoice.currency.code() {
        return Ok(outcome(
            "ignored",
            invoice_id,
            format!(
                "payment in {currency} for an invoice in {}: needs review",
                invoice.currency
            ),
        ));
    }
    let payments: Vec<Payment> = documents::find_in(
        cx.tx,
        INVOICE_PAYMENT,
        cx.workspace_id,
        "customer_id",
        &[invoice.customer_id.as_str()],
    )
    .await?;
    if payments
        .iter()
        .any(|p| p.reference.as_deref() == Some(payment_ref.as_str()))
    {
        return Ok(outcome("ignored", invoice_id, "payment recorded already"));
    }
    if amount <= 0 {
        return Ok(outcome("ignored", invoice_id, "no amount"));
    }
    let customer_id: CustomerId = invoice.customer_id.clone();
    let id = PaymentId::new();
    let mut payment = Payment {
        transfer_id: format!("received:{id}"),
        id,
        object: "payment".into(),
        customer_id: customer_id.clone(),
        currency: invoice.currency,
        amount,
        method: PaymentMethodKind::Card,
        reference: Some(payment_ref),
        allocations: Vec::new(),
        unallocated: amount,
        received_at: cx.now,
        created_at: cx.now,
    };
    // The money is at the provider (its clearing account) until it pays out.
    crate::postings::post(
        cx,
        invoice.currency,
        &[Posting::new(
            payment.transfer_id.clone(),
            CommerceAccount::Clearing(provider_kind.to_owned()),
            customer_credit(&customer_id),
            amount,
            TransferCode::Received,
        )],
    )
    .await?;
    save_payment(cx, &payment, true).await?;
    cx.emit_object(
        event_type::PAYMENT_RECEIVED,
        "payment",
        payment.id.as_str(),
        &payment,
    )
    .await?;
    let detail = if payable(&invoice) {
        let applied = amount.min(invoice.amount_due);
        allocate(cx, &mut payment, invoice_id, applied, "invoice_id").await?;
        save_payment(cx, &payment, false).await?;
        if payment.unallocated > 0 {
            format!(
                "paid; {} kept as the customer's credit",
                payment.unallocated
            )
        } else {
            "paid".to_owned()
        }
    } else {
        format!(
            "the invoice is {}: the payment is kept as the customer's credit",
            invoice.status.as_str()
        )
    };
    Ok(outcome("applied", invoice_id, detail))
}
