//! Credit notes: an issued (or paid) invoice credited in full or in part, numbered
//! `PREFIX-CN-YEAR-000001`; the credit takes the amount off what is owed first and refunds what
//! the customer had paid beyond that. Ledger: revenue and tax payable → receivable, and
//! receivable → cash for a refund.

use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::id::CreditNoteId;
use bursar_domain::invoice::*;
use bursar_domain::ledger::chart::{CommerceAccount, Posting, TransferCode};
use bursar_store::documents::{self, CREDIT_NOTE, INVOICE};
use bursar_store::invoices;
use serde_json::json;

use crate::account_hook::account_changed;
use crate::error::Error;
use crate::invoices::{load_settings, move_to, receivable, save};
use crate::lookup;
use crate::write::Context;

/// A credit asked for, its input parsed.
#[derive(Debug, Clone)]
pub struct NewCreditNote {
    pub invoice_id: String,
    /// Tax included; none: everything not credited yet.
    pub amount: Option<i64>,
    pub reason: Option<String>,
    /// How to pay back what the customer paid beyond what is still owed.
    pub refund_method: Option<PaymentMethodKind>,
}

/// Credits an invoice, in the write's transaction: the note, its postings, `credit_note.created`
/// and `invoice.credited`, the invoice paid when nothing is left owed, the billing status moved.
pub async fn credit_invoice(
    cx: &mut Context<'_>,
    credit: NewCreditNote,
) -> Result<CreditNote, Error> {
    let mut invoice: Invoice =
        lookup::get_in(cx, INVOICE, "invoice", &credit.invoice_id, "invoice_id").await?;
    if !matches!(invoice.status, InvoiceStatus::Issued | InvoiceStatus::Paid) {
        return Err(Error::state(
            "invoice_not_creditable",
            invoice.status.as_str(),
            format!(
                "Credit notes apply to issued or paid invoices; this one is {}.",
                invoice.status.as_str()
            ),
        ));
    }
    let creditable = invoice.total - invoice.amount_credited;
    let amount = credit.amount.unwrap_or(creditable);
    if amount <= 0 || amount > creditable {
        return Err(Error::invalid(
            "parameter_invalid",
            Some("amount".into()),
            format!("A credit is positive and at most {creditable}, what is not credited yet."),
        ));
    }
    let reduced_due = amount.min(invoice.amount_due);
    let refunded = amount - reduced_due;
    if refunded > 0 && credit.refund_method.is_none() {
        return Err(Error::invalid(
            "parameter_missing",
            Some("refund_method".into()),
            format!("{refunded} of this credit was paid already: say how to refund it."),
        ));
    }
    let (net_amount, tax_amount) = credit_split(amount, invoice.subtotal, invoice.total);
    let settings = load_settings(cx.tx, cx.workspace_id).await?;
    let prefix = format!("{}-CN", settings.number_prefix);
    let year = cx.now.year();
    let sequence = invoices::next_number(cx.tx, cx.workspace_id, &prefix, i64::from(year)).await?;
    let id = CreditNoteId::new();
    let note = CreditNote {
        number: invoice_number(&prefix, year, sequence),
        id,
        object: "credit_note".into(),
        invoice_id: invoice.id.clone(),
        customer_id: invoice.customer_id.clone(),
        currency: invoice.currency,
        amount,
        net_amount,
        tax_amount,
        reduced_due,
        refunded,
        refund_method: if refunded > 0 {
            credit.refund_method
        } else {
            None
        },
        reason: credit.reason,
        created_at: cx.now,
    };
    let owed = receivable(&invoice.customer_id);
    let mut transfers = vec![
        Posting::new(
            format!("cn:{}:net", note.id),
            CommerceAccount::Revenue,
            owed.clone(),
            net_amount,
            TransferCode::Credited,
        ),
        Posting::new(
            format!("cn:{}:tax", note.id),
            CommerceAccount::TaxPayable,
            owed.clone(),
            tax_amount,
            TransferCode::Credited,
        ),
    ];
    if let Some(method) = note.refund_method {
        transfers.push(Posting::new(
            format!("cn:{}:refund", note.id),
            owed,
            CommerceAccount::Cash(method.as_str().to_owned()),
            refunded,
            TransferCode::Refunded,
        ));
    }
    crate::postings::post(cx, invoice.currency, &transfers).await?;
    documents::insert(
        cx.tx,
        CREDIT_NOTE,
        cx.workspace_id,
        note.id.as_str(),
        &note,
        &[("invoice_id", invoice.id.as_str().into())],
    )
    .await?;
    cx.emit_object(
        event_type::CREDIT_NOTE_CREATED,
        "credit_note",
        note.id.as_str(),
        &note,
    )
    .await?;
    invoice.amount_credited += amount;
    invoice.recompute()?;
    if invoice.status == InvoiceStatus::Issued && invoice.amount_due == 0 {
        move_to(&mut invoice, InvoiceStatus::Paid)?;
        invoice.paid_at = Some(cx.now);
    }
    invoice.updated_at = cx.now;
    save(cx, &invoice).await?;
    cx.emit(NewEvent::new(
        event_type::INVOICE_CREDITED,
        "invoice",
        invoice.id.as_str(),
        json!({ "object": invoice, "credit_note_id": note.id, "amount": amount }),
    ))
    .await?;
    account_changed(cx, &invoice.customer_id).await?;
    Ok(note)
}
