//! Paying an issued invoice online: a hosted payment link through the payment-provider boundary
//! (the test provider or Stripe), and the provider's signed webhooks recording the payment.
//!
//! Pay-before-commit: opening the link writes nothing to the ledger, and the customer's return
//! from the page proves nothing; only the provider's confirmation (a verified webhook, each
//! provider event once) records the payment — provider clearing → customer credit → the
//! invoice's receivable — and the invoice is paid when nothing is left to pay.

use bursar_domain::event_type;
use bursar_domain::id::{CustomerId, PaymentId, WorkspaceId};
use bursar_domain::invoice::{Invoice, InvoiceStatus, Payment, PaymentLink, PaymentMethodKind};
use bursar_domain::ledger::chart::{CommerceAccount, Posting, TransferCode};
use bursar_domain::money::Currency;
use bursar_domain::time::Timestamp;
use bursar_payments::{CheckoutLine, CheckoutRequest, PaymentEvent, PaymentEventKind};
use bursar_store::documents::{self, INVOICE, INVOICE_PAYMENT};
use bursar_store::{customers, Tx};
use serde_json::json;

use crate::error::Error;
use crate::invoices::{allocate, customer_credit, save, save_payment};
use crate::providers::{provider_error, Applied, CHECKOUT_TTL_SECONDS};
use crate::write::Context;
use crate::App;

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

/// Records money a provider confirmed for a customer (its payment id as the reference): posted
/// from the provider's clearing account (where it stays until the provider pays out) to the
/// customer's credit, `payment.received`; unallocated.
pub async fn record_card_payment(
    cx: &mut Context<'_>,
    customer_id: &CustomerId,
    (currency, amount): (Currency, i64),
    reference: String,
    clearing: CommerceAccount,
) -> Result<Payment, Error> {
    let id = PaymentId::new();
    let payment = Payment {
        transfer_id: format!("received:{id}"),
        id,
        object: "payment".into(),
        customer_id: customer_id.clone(),
        currency,
        amount,
        method: PaymentMethodKind::Card,
        reference: Some(reference),
        allocations: Vec::new(),
        unallocated: amount,
        received_at: cx.now,
        created_at: cx.now,
        dispute: None,
    };
    let posting = Posting::new(
        payment.transfer_id.clone(),
        clearing,
        customer_credit(customer_id),
        amount,
        TransferCode::Received,
    );
    crate::postings::post(cx, currency, &[posting]).await?;
    save_payment(cx, &payment, true).await?;
    cx.emit_object(
        event_type::PAYMENT_RECEIVED,
        "payment",
        payment.id.as_str(),
        &payment,
    )
    .await?;
    Ok(payment)
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
    let clearing = CommerceAccount::Clearing(provider_kind.to_owned());
    let mut payment = record_card_payment(
        cx,
        &invoice.customer_id,
        (invoice.currency, amount),
        payment_ref,
        clearing,
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

/// Where a payment link's page sends the customer, and through which connection.
#[derive(Debug, Clone)]
pub struct LinkPage {
    /// A connection selector (`stripe`, `pp_…`), or none: the default (the test provider, in
    /// sandboxes).
    pub provider: Option<String>,
    pub base_url: String,
    pub success_url: String,
    pub cancel_url: String,
}

/// Opens the provider's hosted checkout for an issued invoice's amount due, unless a link for
/// that amount is still open (or the invoice is not payable): none then. Writes nothing; the
/// link is recorded by [`record_payment_link`].
pub async fn open_payment_link(
    app: &App,
    workspace_id: &WorkspaceId,
    invoice: &Invoice,
    page: LinkPage,
) -> Result<Option<PaymentLink>, Error> {
    let now = app.db.now();
    let open = invoice.payment_link.as_ref().filter(|link| {
        let same_provider = page
            .provider
            .as_deref()
            .is_none_or(|p| p == link.provider_id);
        link.expires_at > now && link.amount == invoice.amount_due && same_provider
    });
    if open.is_some() || !payable(invoice) {
        return Ok(None);
    }
    {
        let connection =
            crate::providers::resolve(app, workspace_id, page.provider.as_deref(), &page.base_url)
                .await?;
        let attempt = invoice.payment_link.as_ref().map_or(0, |l| l.attempt) + 1;
        let (workspace_id, customer_id) = (workspace_id.clone(), invoice.customer_id.clone());
        let customer = app
            .db
            .read(move |tx: &mut Tx| {
                Box::pin(
                    async move { customers::get(tx, &workspace_id, &customer_id, false).await },
                )
            })
            .await?;
        let label = invoice
            .number
            .clone()
            .unwrap_or_else(|| invoice.id.to_string());
        let checkout = CheckoutRequest {
            attempt_id: format!("{}-{attempt}", invoice.id),
            order_id: invoice.id.to_string(),
            currency: invoice.currency.code().to_owned(),
            amount: invoice.amount_due,
            lines: vec![CheckoutLine {
                name: format!("Invoice {label}"),
                quantity: 1,
                unit_amount: invoice.amount_due,
            }],
            customer_email: customer.and_then(|c| c.email.map(|e| e.as_str().to_owned())),
            provider_customer: None,
            success_url: page.success_url,
            cancel_url: page.cancel_url,
            expires_at: now.unix_micros() / 1_000_000 + CHECKOUT_TTL_SECONDS,
            metadata: crate::providers::order_metadata(invoice.id.as_str()),
        };
        let session = connection
            .provider
            .create_checkout(&checkout)
            .await
            .map_err(provider_error)?;
        Ok(Some(PaymentLink {
            url: session.url,
            provider_id: connection.object.id.to_string(),
            provider: connection.row.kind.clone(),
            session_id: session.id,
            amount: invoice.amount_due,
            expires_at: Timestamp::from_unix_micros(session.expires_at.saturating_mul(1_000_000)),
            attempt,
        }))
    }
}

/// Records a payment link opened by [`open_payment_link`] on the invoice
/// (`invoice.payment_link_created`), or, when none was opened, shares the open one
/// (`invoice.payment_link_shared`).
pub async fn record_payment_link(
    cx: &mut Context<'_>,
    id: &str,
    link: Option<PaymentLink>,
) -> Result<Invoice, Error> {
    let mut invoice: Invoice = crate::lookup::get_in(cx, INVOICE, "invoice", id, "id").await?;
    if !payable(&invoice) {
        return Err(not_payable(&invoice));
    }
    let Some(link) = link else {
        // The open link, unchanged.
        cx.emit_object(
            event_type::INVOICE_PAYMENT_LINK_SHARED,
            "invoice",
            invoice.id.as_str(),
            &invoice,
        )
        .await?;
        return Ok(invoice);
    };
    if invoice.payment_link.as_ref().map_or(0, |l| l.attempt) + 1 != link.attempt {
        return Err(Error::state(
            "invoice_state_invalid",
            invoice.status.as_str(),
            "Another payment link for this invoice was opened concurrently.",
        ));
    }
    invoice.payment_link = Some(link);
    invoice.updated_at = cx.now;
    save(cx, &invoice).await?;
    cx.emit_object(
        event_type::INVOICE_PAYMENT_LINK_CREATED,
        "invoice",
        invoice.id.as_str(),
        &invoice,
    )
    .await?;
    Ok(invoice)
}
