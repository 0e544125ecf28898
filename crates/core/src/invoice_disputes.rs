//! Disputes of invoice payments ([`bursar_domain::dispute`]), applied from the provider's
//! verified events in the transaction that claimed them. An opened dispute moves the amount
//! from the provider's clearing account to the disputes account (and its fee to fees) and marks
//! the invoices the payment paid; a won one moves the amount back; a lost one takes it for
//! good: the customer's credit from that payment shrinks, and the invoices it paid are owed
//! again, due from the day the dispute was lost. Each change re-evaluates the account.

use bursar_domain::dispute::{DisputeStatus, InvoiceDispute, PaymentDispute};
use bursar_domain::event_type;
use bursar_domain::invoice::{Invoice, InvoiceStatus, Payment};
use bursar_domain::ledger::chart::{CommerceAccount, Posting, TransferCode};
use bursar_payments::{PaymentEvent, PaymentEventKind};
use bursar_store::documents::{self, INVOICE, INVOICE_PAYMENT};
use serde_json::json;

use crate::error::Error;
use crate::invoices::{customer_credit, move_to, receivable, save, save_payment};
use crate::providers::Applied;
use crate::write::Context;

/// Applies a dispute event when it concerns an invoice payment (one recorded with the
/// provider's payment id as its reference); `None` when it does not.
pub async fn apply(
    cx: &mut Context<'_>,
    provider_kind: &str,
    event: &PaymentEvent,
) -> Result<Option<Applied>, Error> {
    let provider_payment = match &event.kind {
        PaymentEventKind::DisputeOpened { payment_id, .. }
        | PaymentEventKind::DisputeClosed { payment_id, .. } => payment_id.as_deref(),
        _ => None,
    };
    let Some(provider_payment) = provider_payment else {
        return Ok(None);
    };
    let Some(payment) = disputed_payment(cx, provider_payment).await? else {
        return Ok(None);
    };
    let clearing = CommerceAccount::Clearing(provider_kind.to_owned());
    let applied = match &event.kind {
        PaymentEventKind::DisputeOpened {
            dispute_id,
            amount,
            currency,
            reason,
            fee,
            ..
        } => {
            if currency != payment.currency.code() {
                return Ok(Some(outcome(
                    "ignored",
                    &payment,
                    "a dispute in another currency: needs review",
                )));
            }
            let opened = Opened {
                dispute_id,
                amount: *amount,
                reason: reason.clone(),
                fee: fee.unwrap_or(0),
            };
            open(cx, payment, &clearing, opened).await?
        }
        PaymentEventKind::DisputeClosed {
            dispute_id, won, ..
        } => close(cx, payment, &clearing, dispute_id, *won).await?,
        _ => return Ok(None),
    };
    Ok(Some(applied))
}

/// The invoice payment the provider's payment id names, locked.
async fn disputed_payment(
    cx: &mut Context<'_>,
    provider_payment: &str,
) -> Result<Option<Payment>, Error> {
    let found: Vec<Payment> = documents::find_in(
        cx.tx,
        INVOICE_PAYMENT,
        cx.workspace_id,
        "reference",
        &[provider_payment],
    )
    .await?;
    let Some(payment) = found.into_iter().next() else {
        return Ok(None);
    };
    Ok(documents::get(
        cx.tx,
        INVOICE_PAYMENT,
        cx.workspace_id,
        payment.id.as_str(),
        true,
    )
    .await?)
}

fn outcome(outcome: &'static str, payment: &Payment, detail: &str) -> Applied {
    Applied {
        outcome,
        detail: Some(format!("payment {}: {detail}", payment.id)),
        order_id: None,
    }
}

struct Opened<'a> {
    dispute_id: &'a str,
    amount: i64,
    reason: Option<String>,
    fee: i64,
}

async fn open(
    cx: &mut Context<'_>,
    mut payment: Payment,
    clearing: &CommerceAccount,
    opened: Opened<'_>,
) -> Result<Applied, Error> {
    if payment.dispute.is_some() {
        return Ok(outcome("ignored", &payment, "dispute already recorded"));
    }
    let amount = opened.amount.clamp(0, payment.amount);
    let dispute_id = opened.dispute_id;
    let postings = [
        Posting::new(
            format!("dispute:{dispute_id}"),
            CommerceAccount::Disputes,
            clearing.clone(),
            amount,
            TransferCode::DisputeHold,
        ),
        // The provider's fee for the dispute: an expense whatever the outcome.
        Posting::new(
            format!("dispute_fee:{dispute_id}"),
            CommerceAccount::Fees,
            clearing.clone(),
            opened.fee,
            TransferCode::Fee,
        ),
    ];
    crate::postings::post(cx, payment.currency, &postings).await?;
    payment.dispute = Some(PaymentDispute {
        dispute_id: dispute_id.to_owned(),
        amount,
        status: DisputeStatus::Open,
        reason: opened.reason,
        opened_at: cx.now,
        closed_at: None,
        credit_reversed: 0,
    });
    // The invoices it paid carry the dispute: the account's health reads it there.
    let contested = payment.reversal(amount);
    for (invoice_id, part) in &contested.invoices {
        let mut invoice = invoice(cx, invoice_id.as_str()).await?;
        invoice.disputes.push(InvoiceDispute {
            dispute_id: dispute_id.to_owned(),
            payment_id: payment.id.clone(),
            amount: *part,
            status: DisputeStatus::Open,
            opened_at: cx.now,
            closed_at: None,
            reinstated: 0,
        });
        invoice.updated_at = cx.now;
        save(cx, &invoice).await?;
    }
    save_payment(cx, &payment, false).await?;
    emit(cx, event_type::PAYMENT_DISPUTED, &payment, json!({})).await?;
    crate::account_hook::account_changed(cx, &payment.customer_id).await?;
    Ok(outcome("applied", &payment, "disputed"))
}

async fn close(
    cx: &mut Context<'_>,
    mut payment: Payment,
    clearing: &CommerceAccount,
    dispute_id: &str,
    won: bool,
) -> Result<Applied, Error> {
    let Some(mut dispute) = payment
        .dispute
        .clone()
        .filter(|d| d.dispute_id == dispute_id && d.status == DisputeStatus::Open)
    else {
        return Ok(outcome("ignored", &payment, "no open dispute of that id"));
    };
    dispute.status = if won {
        DisputeStatus::Won
    } else {
        DisputeStatus::Lost
    };
    dispute.closed_at = Some(cx.now);
    let (event_type, reopened) = if won {
        let release = Posting::new(
            format!("dispute_won:{dispute_id}"),
            clearing.clone(),
            CommerceAccount::Disputes,
            dispute.amount,
            TransferCode::DisputeRelease,
        );
        crate::postings::post(cx, payment.currency, &[release]).await?;
        mark_invoices(cx, &payment, &dispute, &[]).await?;
        (event_type::PAYMENT_DISPUTE_WON, Vec::new())
    } else {
        let reopened = take_back(cx, &mut payment, &mut dispute).await?;
        (event_type::PAYMENT_DISPUTE_LOST, reopened)
    };
    payment.dispute = Some(dispute);
    save_payment(cx, &payment, false).await?;
    emit(cx, event_type, &payment, json!({ "reopened": reopened })).await?;
    crate::account_hook::account_changed(cx, &payment.customer_id).await?;
    Ok(outcome("applied", &payment, dispute_status_detail(won)))
}

fn dispute_status_detail(won: bool) -> &'static str {
    if won {
        "dispute won"
    } else {
        "dispute lost: what the payment paid is owed again"
    }
}

/// A lost dispute: the amount comes back from the payment's credit, then from the invoices it
/// paid (reopened, owed again), and what neither holds is the merchant's loss. Returns the
/// invoices reopened.
async fn take_back(
    cx: &mut Context<'_>,
    payment: &mut Payment,
    dispute: &mut PaymentDispute,
) -> Result<Vec<String>, Error> {
    let split = payment.reversal(dispute.amount);
    let customer = payment.customer_id.clone();
    let id = &dispute.dispute_id;
    let mut postings = vec![Posting::new(
        format!("dispute_lost:{id}:credit"),
        customer_credit(&customer),
        CommerceAccount::Disputes,
        split.credit,
        TransferCode::DisputeLoss,
    )];
    let mut reinstated: Vec<(String, i64)> = Vec::new();
    let mut loss = split.loss;
    for (invoice_id, part) in &split.invoices {
        let mut invoice = invoice(cx, invoice_id.as_str()).await?;
        if !matches!(invoice.status, InvoiceStatus::Paid | InvoiceStatus::Issued) {
            // Void or written off since: nothing to reopen; the merchant bears it.
            loss += part;
            continue;
        }
        postings.push(Posting::new(
            format!("dispute_lost:{id}:{invoice_id}"),
            receivable(&customer),
            CommerceAccount::Disputes,
            *part,
            TransferCode::DisputeLoss,
        ));
        reopen(cx, &mut invoice, payment, *part).await?;
        reinstated.push((invoice_id.to_string(), *part));
    }
    postings.push(Posting::new(
        format!("dispute_lost:{id}:loss"),
        CommerceAccount::DisputeLosses,
        CommerceAccount::Disputes,
        loss,
        TransferCode::DisputeLoss,
    ));
    crate::postings::post(cx, payment.currency, &postings).await?;
    payment.unallocated -= split.credit;
    dispute.credit_reversed = split.credit;
    mark_invoices(cx, payment, dispute, &reinstated).await?;
    Ok(reinstated.into_iter().map(|(id, _)| id).collect())
}

/// Takes `part` of what `payment` paid off `invoice`: owed again, issued again if it was paid.
async fn reopen(
    cx: &mut Context<'_>,
    invoice: &mut Invoice,
    payment: &Payment,
    part: i64,
) -> Result<(), Error> {
    invoice.amount_paid -= part;
    invoice.recompute()?;
    let previous = if invoice.status == InvoiceStatus::Paid {
        invoice.paid_at = None;
        Some(move_to(invoice, InvoiceStatus::Issued)?)
    } else {
        None
    };
    invoice.updated_at = cx.now;
    save(cx, invoice).await?;
    cx.emit(bursar_domain::event::NewEvent::new(
        event_type::INVOICE_REOPENED,
        "invoice",
        invoice.id.as_str(),
        json!({
            "object": invoice, "previous_status": previous.map(InvoiceStatus::as_str),
            "payment_id": payment.id, "amount": part, "reason": "dispute_lost",
        }),
    ))
    .await?;
    Ok(())
}

/// Records the dispute's outcome on each invoice that carries it, with what it made owed again.
async fn mark_invoices(
    cx: &mut Context<'_>,
    payment: &Payment,
    dispute: &PaymentDispute,
    reinstated: &[(String, i64)],
) -> Result<(), Error> {
    let invoice_ids: Vec<String> = payment
        .allocations
        .iter()
        .map(|a| a.invoice_id.to_string())
        .collect();
    for invoice_id in dedup(invoice_ids) {
        let mut invoice = invoice(cx, &invoice_id).await?;
        let part = reinstated
            .iter()
            .find(|(id, _)| *id == invoice_id)
            .map_or(0, |(_, part)| *part);
        let mut changed = false;
        for marked in invoice
            .disputes
            .iter_mut()
            .filter(|d| d.dispute_id == dispute.dispute_id)
        {
            marked.status = dispute.status;
            marked.closed_at = dispute.closed_at;
            marked.reinstated = part;
            changed = true;
        }
        if !changed && part > 0 {
            // Paid from the payment's credit after the dispute opened: reopened all the same.
            invoice.disputes.push(InvoiceDispute {
                dispute_id: dispute.dispute_id.clone(),
                payment_id: payment.id.clone(),
                amount: part,
                status: dispute.status,
                opened_at: dispute.opened_at,
                closed_at: dispute.closed_at,
                reinstated: part,
            });
            changed = true;
        }
        if changed {
            invoice.updated_at = cx.now;
            save(cx, &invoice).await?;
        }
    }
    Ok(())
}

fn dedup(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids.dedup();
    ids
}

async fn invoice(cx: &mut Context<'_>, id: &str) -> Result<Invoice, Error> {
    documents::get(cx.tx, INVOICE, cx.workspace_id, id, true)
        .await?
        .ok_or_else(|| {
            tracing::error!(invoice = id, "BUG: a payment's allocation names no invoice");
            Error::internal()
        })
}

async fn emit(
    cx: &mut Context<'_>,
    event_type: &'static str,
    payment: &Payment,
    extra: serde_json::Value,
) -> Result<(), Error> {
    let mut payload = json!({ "object": payment });
    if let (Some(payload), Some(extra)) = (payload.as_object_mut(), extra.as_object()) {
        payload.extend(extra.clone());
    }
    cx.emit(bursar_domain::event::NewEvent::new(
        event_type,
        "payment",
        payment.id.as_str(),
        payload,
    ))
    .await?;
    Ok(())
}
