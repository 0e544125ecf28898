//! Ending an invoice without payment: void it (a draft, or an issued one that should never
//! have been), or write it off as uncollectible. Each reverses or writes off its postings.

use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::invoice::*;
use bursar_domain::ledger::chart::{CommerceAccount, Posting, TransferCode};
use bursar_store::documents::INVOICE;
use serde_json::json;

use crate::account_hook::account_changed;
use crate::error::Error;
use crate::invoices::{move_to, receivable, save};
use crate::lookup;
use crate::postings;
use crate::write::Context;

/// Voids invoice `id`: it keeps its number, and nothing is owed (the postings are
/// reversed). Refused once payments or credits apply. Records `invoice.voided`.
pub async fn void(cx: &mut Context<'_>, id: &str) -> Result<Invoice, Error> {
    let invoice = close(cx, id, InvoiceStatus::Void, event_type::INVOICE_VOIDED).await?;
    account_changed(cx, &invoice.customer_id).await?;
    Ok(invoice)
}

/// Writes issued invoice `id` off as uncollectible (what is still owed goes to bad debt; a
/// payment arriving later still pays it). Records `invoice.marked_uncollectible`.
pub async fn mark_uncollectible(cx: &mut Context<'_>, id: &str) -> Result<Invoice, Error> {
    let invoice = close(
        cx,
        id,
        InvoiceStatus::Uncollectible,
        event_type::INVOICE_MARKED_UNCOLLECTIBLE,
    )
    .await?;
    account_changed(cx, &invoice.customer_id).await?;
    Ok(invoice)
}

/// Writes invoice `id` off for a dunning step, which re-evaluates the account itself.
pub async fn write_off_for_dunning(cx: &mut Context<'_>, id: &str) -> Result<Invoice, Error> {
    close(
        cx,
        id,
        InvoiceStatus::Uncollectible,
        event_type::INVOICE_MARKED_UNCOLLECTIBLE,
    )
    .await
}

/// Moves invoice `id` to `to`, posts what the move means to the ledger, and records
/// `event_type`.
async fn close(
    cx: &mut Context<'_>,
    id: &str,
    to: InvoiceStatus,
    event_type: &'static str,
) -> Result<Invoice, Error> {
    let mut invoice: Invoice = lookup::get_in(cx, INVOICE, "invoice", id, "id").await?;
    let previous = move_to(&mut invoice, to)?;
    post_closing(cx, &invoice, previous, to).await?;
    if to == InvoiceStatus::Void {
        invoice.voided_at = Some(cx.now);
    }
    invoice.recompute()?;
    invoice.updated_at = cx.now;
    save(cx, &invoice).await?;
    cx.emit(NewEvent::new(
        event_type,
        "invoice",
        id,
        json!({ "object": invoice, "previous_attributes": { "status": previous } }),
    ))
    .await?;
    Ok(invoice)
}

/// The postings of moving `invoice` from `previous` to `to`: an issued invoice voided
/// reverses its issue; a written-off one voided undoes the write-off into that reversal; a
/// write-off moves what is still owed to bad debt.
async fn post_closing(
    cx: &mut Context<'_>,
    invoice: &Invoice,
    previous: InvoiceStatus,
    to: InvoiceStatus,
) -> Result<(), Error> {
    let id = invoice.id.as_str();
    let owed = receivable(&invoice.customer_id);
    let postings = match (previous, to) {
        (InvoiceStatus::Issued | InvoiceStatus::Uncollectible, InvoiceStatus::Void)
            if invoice.amount_paid > 0 || invoice.amount_credited > 0 =>
        {
            return Err(Error::state(
                "invoice_partially_paid",
                previous.as_str(),
                "An invoice with payments applied cannot be voided; credit it instead.",
            ));
        }
        // The postings, reversed.
        (InvoiceStatus::Issued, InvoiceStatus::Void) => reversal(invoice, owed),
        // Written off, then voided: the write-off is undone into the reversal
        // (nothing was paid or credited, so bad debt holds the total).
        (InvoiceStatus::Uncollectible, InvoiceStatus::Void) => {
            reversal(invoice, CommerceAccount::BadDebt)
        }
        // What is still owed, written off.
        (_, InvoiceStatus::Uncollectible) => {
            let due = invoice.total - invoice.amount_paid - invoice.amount_credited;
            vec![Posting::new(
                format!("writeoff:{id}"),
                CommerceAccount::BadDebt,
                owed,
                due,
                TransferCode::WrittenOff,
            )]
        }
        _ => return Ok(()),
    };
    postings::post(cx, invoice.currency, &postings).await
}

/// The revenue and tax postings of `invoice`, reversed from `from`.
fn reversal(invoice: &Invoice, from: CommerceAccount) -> Vec<Posting> {
    let id = invoice.id.as_str();
    vec![
        Posting::new(
            format!("void:{id}:net"),
            CommerceAccount::Revenue,
            from.clone(),
            invoice.subtotal,
            TransferCode::Voided,
        ),
        Posting::new(
            format!("void:{id}:tax"),
            CommerceAccount::TaxPayable,
            from,
            invoice.tax,
            TransferCode::Voided,
        ),
    ]
}
