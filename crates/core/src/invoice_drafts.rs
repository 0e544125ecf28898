//! Draft invoices by hand: a one-off charge, or any invoice a billing run does not make;
//! edited (memo, terms, lines) until issued.

use bursar_domain::commerce::parse_text;
use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::id::*;
use bursar_domain::invoice::*;
use bursar_domain::money::Currency;
use bursar_store::customers;
use bursar_store::documents::{self, INVOICE, TAX_RATE};
use serde_json::json;

use crate::error::Error;
use crate::invoices::{draft, load_settings, save};
use crate::lookup;
use crate::write::Context;

/// A manual line as asked for; [`line_of`] checks and prices it.
#[derive(Debug, Clone)]
pub struct NewInvoiceLine {
    pub description: String,
    /// Default 1.
    pub quantity: Option<i64>,
    /// Minor units per unit; negative for a credit line.
    pub unit_amount: i64,
    pub discount_amount: Option<i64>,
    pub tax_rate_id: Option<String>,
}

/// A draft invoice to create, its memo and terms checked (see
/// [`crate::invoices::check_terms`]).
#[derive(Debug, Clone)]
pub struct NewInvoice {
    pub customer_id: CustomerId,
    pub currency: Currency,
    pub lines: Vec<NewInvoiceLine>,
    /// Days from issue to due date; the settings' when absent.
    pub payment_terms_days: Option<u32>,
    pub memo: Option<String>,
}

/// Creates a draft invoice for an existing customer and records `invoice.created`.
pub async fn create(cx: &mut Context<'_>, new: NewInvoice) -> Result<Invoice, Error> {
    customers::get(cx.tx, cx.workspace_id, &new.customer_id, false)
        .await?
        .ok_or_else(|| {
            Error::not_found("customer", new.customer_id.as_str()).with_param("customer_id")
        })?;
    let settings = load_settings(cx.tx, cx.workspace_id).await?;
    let mut lines = Vec::new();
    for (i, line) in new.lines.into_iter().enumerate() {
        lines.push(line_of(cx, line, &format!("lines[{i}]")).await?);
    }
    let terms = new
        .payment_terms_days
        .unwrap_or(settings.payment_terms_days);
    let mut invoice = Invoice::draft(new.customer_id, new.currency, lines, terms, cx.now)?;
    invoice.memo = new.memo;
    documents::insert(
        cx.tx,
        INVOICE,
        cx.workspace_id,
        invoice.id.as_str(),
        &invoice,
        &[
            ("customer_id", invoice.customer_id.as_str().into()),
            ("status", "draft".into()),
        ],
    )
    .await?;
    cx.emit_object(
        event_type::INVOICE_CREATED,
        "invoice",
        invoice.id.as_str(),
        &invoice,
    )
    .await?;
    Ok(invoice)
}

/// The changes to a draft; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct DraftUpdate {
    pub memo: Option<String>,
    pub payment_terms_days: Option<u32>,
}

/// Edits draft `id` (memo, payment terms) and records `invoice.updated`.
pub async fn update(cx: &mut Context<'_>, id: &str, update: DraftUpdate) -> Result<Invoice, Error> {
    let mut invoice = draft(cx, id).await?;
    if update.memo.is_some() {
        invoice.memo = update.memo;
    }
    if let Some(days) = update.payment_terms_days {
        invoice.payment_terms_days = days;
    }
    invoice.updated_at = cx.now;
    save(cx, &invoice).await?;
    cx.emit_object(event_type::INVOICE_UPDATED, "invoice", id, &invoice)
        .await?;
    Ok(invoice)
}

/// Adds a line to draft `id` (a manual charge, a discount as a negative amount) and records
/// `invoice.line_added`.
pub async fn add_line(
    cx: &mut Context<'_>,
    id: &str,
    line: NewInvoiceLine,
) -> Result<Invoice, Error> {
    let mut invoice = draft(cx, id).await?;
    let line = line_of(cx, line, "line").await?;
    let line_id = line.id.clone();
    invoice.lines.push(line);
    invoice.recompute()?;
    invoice.updated_at = cx.now;
    save(cx, &invoice).await?;
    cx.emit(NewEvent::new(
        event_type::INVOICE_LINE_ADDED,
        "invoice",
        id,
        json!({ "object": invoice, "line_id": line_id }),
    ))
    .await?;
    Ok(invoice)
}

/// Removes line `line_id` from draft `id` and records `invoice.line_removed`.
pub async fn remove_line(cx: &mut Context<'_>, id: &str, line_id: &str) -> Result<Invoice, Error> {
    let mut invoice = draft(cx, id).await?;
    let before = invoice.lines.len();
    invoice.lines.retain(|l| l.id != line_id);
    if invoice.lines.len() == before {
        return Err(Error::not_found("invoice line", line_id).with_param("line_id"));
    }
    invoice.recompute()?;
    invoice.updated_at = cx.now;
    save(cx, &invoice).await?;
    cx.emit(NewEvent::new(
        event_type::INVOICE_LINE_REMOVED,
        "invoice",
        id,
        json!({ "object": invoice, "line_id": line_id }),
    ))
    .await?;
    Ok(invoice)
}

/// A requested line, checked and priced (its tax rate looked up, and active); `param` names
/// it in errors.
pub async fn line_of(
    cx: &mut Context<'_>,
    line: NewInvoiceLine,
    param: &str,
) -> Result<InvoiceLine, Error> {
    let description = parse_text(&line.description, &format!("{param}.description"), 500)?;
    let quantity = line.quantity.unwrap_or(1);
    if !(1..=1_000_000_000).contains(&quantity) {
        return Err(Error::invalid(
            "parameter_invalid",
            Some(format!("{param}.quantity")),
            "quantity is 1 to 1,000,000,000.",
        ));
    }
    let rate = match line.tax_rate_id {
        Some(id) => Some(active_rate(cx, &id, &format!("{param}.tax_rate_id")).await?),
        None => None,
    };
    Ok(InvoiceLine::new(
        LineKind::Manual,
        description,
        quantity,
        line.unit_amount,
        line.discount_amount.unwrap_or(0),
        rate.as_ref(),
        None,
        param,
    )?)
}

/// Tax rate `id`, if it is still active.
async fn active_rate(cx: &mut Context<'_>, id: &str, param: &str) -> Result<TaxRate, Error> {
    let rate: TaxRate = lookup::get_in(cx, TAX_RATE, "tax_rate", id, param).await?;
    if !rate.active {
        return Err(Error::invalid(
            "parameter_invalid",
            Some(param.to_owned()),
            "This tax rate is no longer active.",
        ));
    }
    Ok(rate)
}
