//! Invoices: tax rates, drafts (manual one-off charges, or made by billing runs), editing and
//! preview, issue with a gapless number, void, uncollectible; the workspace's invoicing
//! settings (numbering prefix, issuer, payment terms and instructions).

use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::id::*;
use bursar_domain::invoice::*;
use bursar_domain::ledger::chart::{CommerceAccount, Posting, TransferCode};
use bursar_domain::money::Currency;
use bursar_store::documents::{self, INVOICE, INVOICE_PAYMENT};
use bursar_store::{customers, invoices, Tx};
use serde_json::json;

use crate::error::{Error, ErrorKind};
use crate::lookup;
use crate::write::Context;
use bursar_domain::ledger::{NewTransfer, TransferId, TransferResult};
use bursar_domain::wallet::{party_account, Role};

// Ledger transfer codes of invoicing.

/// Ledger accounts of invoicing (`commerce:<name>:<currency>`): a customer's receivable
/// (`receivable:cus_…`, debited when an invoice is issued) and credit (`customer_credit:cus_…`,
/// credited by payments, debited by allocations); `revenue` and `tax_payable`; cash by method
/// (`cash:bank_transfer`, …); `bad_debt` for write-offs.
pub fn receivable(customer: &CustomerId) -> CommerceAccount {
    CommerceAccount::Receivable(customer.clone())
}

pub fn customer_credit(customer: &CustomerId) -> CommerceAccount {
    CommerceAccount::CustomerCredit(customer.clone())
}

// ---------------------------------------------------------------------------------------------
// Settings

/// Payment terms are 0 to 365 days.
pub fn check_terms(days: Option<u32>) -> Result<(), Error> {
    if days.is_some_and(|d| d > 365) {
        return Err(Error::invalid(
            "parameter_invalid",
            Some("payment_terms_days".into()),
            "Payment terms are 0 to 365 days.",
        ));
    }
    Ok(())
}

pub async fn load_settings(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
) -> Result<InvoiceSettings, Error> {
    Ok(match invoices::settings(tx, workspace_id).await? {
        Some(body) => serde_json::from_str(&body).map_err(|e| {
            Error::from(bursar_store::StoreError::Corrupt(format!(
                "invoice settings: {e}"
            )))
        })?,
        None => InvoiceSettings::default(),
    })
}

pub async fn save(cx: &mut Context<'_>, invoice: &Invoice) -> Result<(), Error> {
    documents::save(
        cx.tx,
        INVOICE,
        cx.workspace_id,
        invoice.id.as_str(),
        invoice,
        &[
            ("status", invoice.status.as_str().into()),
            ("number", invoice.number.clone().into()),
        ],
    )
    .await?;
    Ok(())
}

/// Loads a draft for editing, or refuses with the invoice's current state.
pub async fn draft(cx: &mut Context<'_>, id: &str) -> Result<Invoice, Error> {
    let invoice: Invoice = lookup::get_in(cx, INVOICE, "invoice", id, "id").await?;
    if invoice.status != InvoiceStatus::Draft {
        return Err(Error::state(
            "invoice_not_draft",
            invoice.status.as_str(),
            format!(
                "Only a draft can be edited; this invoice is {}.",
                invoice.status.as_str()
            ),
        ));
    }
    Ok(invoice)
}

/// Moves an invoice through the state machine, or refuses with 409 and its current state.
pub fn move_to(invoice: &mut Invoice, to: InvoiceStatus) -> Result<InvoiceStatus, Error> {
    let from = invoice.status;
    invoice.status = from
        .transition(to)
        .map_err(|e| Error::state("invoice_state_invalid", from.as_str(), e.to_string()))?;
    Ok(from)
}

/// Issues a draft in the caller's transaction: the next number of its sequence, issue and due
/// dates, frozen from now on. Records `invoice.issued`.
pub async fn issue(cx: &mut Context<'_>, id: &str) -> Result<Invoice, Error> {
    let mut invoice: Invoice = lookup::get_in(cx, INVOICE, "invoice", id, "id").await?;
    let previous = move_to(&mut invoice, InvoiceStatus::Issued)?;
    if invoice.lines.is_empty() {
        return Err(Error::invalid(
            "invoice_empty",
            Some("lines".into()),
            "An invoice without lines cannot be issued.",
        ));
    }
    let settings = load_settings(cx.tx, cx.workspace_id).await?;
    let year = cx.now.year();
    let sequence = invoices::next_number(
        cx.tx,
        cx.workspace_id,
        &settings.number_prefix,
        i64::from(year),
    )
    .await?;
    invoice.number = Some(invoice_number(&settings.number_prefix, year, sequence));
    invoice.issued_at = Some(cx.now);
    invoice.due_at = Some(
        cx.now
            .plus_seconds(i64::from(invoice.payment_terms_days) * 86_400),
    );
    invoice.recompute()?;
    if invoice.total < 0 {
        return Err(Error::invalid(
            "invoice_total_negative",
            Some("lines".into()),
            "An invoice cannot total less than zero; credit an issued invoice instead.",
        ));
    }
    if invoice.total == 0 {
        // Nothing to collect: paid as it is issued.
        invoice.status = InvoiceStatus::Paid;
        invoice.paid_at = Some(cx.now);
    }
    invoice.updated_at = cx.now;
    save(cx, &invoice).await?;
    // Receivable ← revenue (net) and tax payable (tax).
    let owed = receivable(&invoice.customer_id);
    crate::postings::post(
        cx,
        invoice.currency,
        &[
            Posting::new(
                format!("inv:{id}:net"),
                owed.clone(),
                CommerceAccount::Revenue,
                invoice.subtotal,
                TransferCode::Invoiced,
            ),
            Posting::new(
                format!("inv:{id}:tax"),
                owed,
                CommerceAccount::TaxPayable,
                invoice.tax,
                TransferCode::Tax,
            ),
        ],
    )
    .await?;
    cx.emit(NewEvent::new(
        event_type::INVOICE_ISSUED,
        "invoice",
        id,
        json!({ "object": invoice, "previous_attributes": { "status": previous } }),
    ))
    .await?;
    // A contract's invoice consumes the customer's credit first (prepaid credits, earlier
    // overpayments); manual invoices take it when asked (`apply_credit`).
    if invoice.contract_id.is_some() && invoice.amount_due > 0 {
        let payments = credits_of(cx, &invoice).await?;
        let credit: i64 = payments.iter().map(|p| p.unallocated).sum();
        if credit > 0 {
            let amount = credit.min(invoice.amount_due);
            invoice = consume_credit(cx, invoice, payments, amount).await?;
        }
    }
    crate::account_hook::account_changed(cx, &invoice.customer_id).await?;
    Ok(invoice)
}

/// Applies `amount` of `payment` to an invoice, in the caller's transaction: the ledger transfer
/// (customer credit → receivable; for a written-off invoice, the write-off is reversed first),
/// the invoice's paid amount and status (`invoice.payment_applied`, or `invoice.paid` when
/// nothing is left to pay).
pub async fn allocate(
    cx: &mut Context<'_>,
    payment: &mut Payment,
    invoice_id: &str,
    amount: i64,
    param: &str,
) -> Result<Invoice, Error> {
    let mut invoice: Invoice = lookup::get_in(cx, INVOICE, "invoice", invoice_id, param).await?;
    if invoice.customer_id != payment.customer_id || invoice.currency != payment.currency {
        return Err(Error::invalid(
            "parameter_invalid",
            Some(param.into()),
            "The invoice belongs to another customer or is in another currency.",
        ));
    }
    if !matches!(
        invoice.status,
        InvoiceStatus::Issued | InvoiceStatus::Uncollectible
    ) {
        return Err(Error::state(
            "invoice_not_payable",
            invoice.status.as_str(),
            format!(
                "A payment applies to an issued invoice; this one is {}.",
                invoice.status.as_str()
            ),
        ));
    }
    if amount <= 0 || amount > invoice.amount_due || amount > payment.unallocated {
        return Err(Error::invalid(
            "parameter_invalid",
            Some(format!("{param}.amount").replace(".invoice_id.amount", ".amount")),
            format!(
                "An allocation is positive and at most what the invoice still owes ({}) and \
                 what is left of the payment ({}).",
                invoice.amount_due, payment.unallocated
            ),
        ));
    }
    let n = payment.allocations.len();
    let transfer_id = format!("alloc:{}:{n}", payment.id);
    let owed = receivable(&invoice.customer_id);
    let mut transfers = Vec::new();
    if invoice.status == InvoiceStatus::Uncollectible {
        transfers.push(Posting::new(
            format!("reinstate:{}:{n}", payment.id),
            owed.clone(),
            CommerceAccount::BadDebt,
            amount,
            TransferCode::Reinstated,
        ));
    }
    transfers.push(Posting::new(
        transfer_id.clone(),
        customer_credit(&invoice.customer_id),
        owed,
        amount,
        TransferCode::Allocated,
    ));
    crate::postings::post(cx, invoice.currency, &transfers).await?;
    payment.unallocated -= amount;
    payment.allocations.push(Allocation {
        invoice_id: invoice.id.clone(),
        amount,
        allocated_at: cx.now,
        transfer_id,
    });
    invoice.amount_paid += amount;
    invoice.recompute()?;
    let event_type = if invoice.amount_due == 0 {
        let previous = move_to(&mut invoice, InvoiceStatus::Paid)?;
        invoice.paid_at = Some(cx.now);
        let _ = previous;
        event_type::INVOICE_PAID
    } else {
        event_type::INVOICE_PAYMENT_APPLIED
    };
    invoice.updated_at = cx.now;
    save(cx, &invoice).await?;
    cx.emit(NewEvent::new(
        event_type,
        "invoice",
        invoice.id.as_str(),
        json!({ "object": invoice, "payment_id": payment.id, "amount": amount }),
    ))
    .await?;
    crate::account_hook::account_changed(cx, &invoice.customer_id).await?;
    Ok(invoice)
}

/// The customer's open invoices in `currency`, oldest due first.
pub async fn open_invoices(
    cx: &mut Context<'_>,
    customer_id: &CustomerId,
    currency: Currency,
) -> Result<Vec<Invoice>, Error> {
    let mut open: Vec<Invoice> = documents::find_in(
        cx.tx,
        INVOICE,
        cx.workspace_id,
        "customer_id",
        &[customer_id.as_str()],
    )
    .await?;
    open.retain(|i| {
        i.currency == currency
            && matches!(
                i.status,
                InvoiceStatus::Issued | InvoiceStatus::Uncollectible
            )
            && i.amount_due > 0
    });
    open.sort_by_key(|i| (i.due_at, i.id.clone()));
    Ok(open)
}

pub async fn save_payment(cx: &mut Context<'_>, payment: &Payment, new: bool) -> Result<(), Error> {
    if new {
        let mut indexed = vec![("customer_id", payment.customer_id.as_str().into())];
        if let Some(reference) = &payment.reference {
            indexed.push(("reference", reference.as_str().into()));
        }
        documents::insert(
            cx.tx,
            INVOICE_PAYMENT,
            cx.workspace_id,
            payment.id.as_str(),
            payment,
            &indexed,
        )
        .await
        .map_err(|e| match e.unique_violation() {
            Some(_) => reference_taken(payment.reference.as_deref().unwrap_or_default(), None),
            None => e.into(),
        })?;
    } else {
        documents::save(
            cx.tx,
            INVOICE_PAYMENT,
            cx.workspace_id,
            payment.id.as_str(),
            payment,
            &[],
        )
        .await?;
    }
    Ok(())
}

/// A payment's reference is its natural id: a second payment with it is refused.
fn reference_taken(reference: &str, existing: Option<&PaymentId>) -> Error {
    let recorded = existing.map_or(String::new(), |id| format!(" ({id})"));
    Error::new(
        ErrorKind::Conflict,
        "payment_reference_taken",
        format!("A payment with reference '{reference}' is recorded already{recorded}."),
    )
    .with_param("reference")
}

/// The customer's payments with credit left in the invoice's currency, oldest first.
pub async fn credits_of(cx: &mut Context<'_>, invoice: &Invoice) -> Result<Vec<Payment>, Error> {
    let mut payments: Vec<Payment> = documents::find_in(
        cx.tx,
        INVOICE_PAYMENT,
        cx.workspace_id,
        "customer_id",
        &[invoice.customer_id.as_str()],
    )
    .await?;
    payments.retain(|p| p.currency == invoice.currency && p.unallocated > 0);
    payments.sort_by_key(|p| (p.received_at, p.id.clone()));
    Ok(payments)
}

/// Allocates up to `amount` of `payments`' credit to the invoice, oldest payment first.
pub async fn consume_credit(
    cx: &mut Context<'_>,
    invoice: Invoice,
    payments: Vec<Payment>,
    amount: i64,
) -> Result<Invoice, Error> {
    let id = invoice.id.to_string();
    let mut left = amount;
    let mut updated = invoice;
    for mut payment in payments {
        if left == 0 {
            break;
        }
        let part = payment.unallocated.min(left);
        updated = allocate(cx, &mut payment, &id, part, "id").await?;
        save_payment(cx, &payment, false).await?;
        left -= part;
    }
    Ok(updated)
}

/// A payment received outside a provider (a bank transfer, cash, a check), its input parsed.
#[derive(Debug, Clone)]
pub struct ReceivedPayment {
    pub customer_id: CustomerId,
    pub currency: Currency,
    pub amount: i64,
    pub method: PaymentMethodKind,
    pub reference: Option<String>,
    /// (invoice id, amount) to allocate to; none: the customer's open invoices, oldest first.
    pub allocations: Option<Vec<(String, i64)>>,
}

/// Records a received payment: `cash:<method>` → the customer's credit, `payment.received`,
/// then its allocation to the invoices named (or the open ones, oldest first); what is left
/// stays the customer's credit.
pub async fn record_payment(
    cx: &mut Context<'_>,
    received: ReceivedPayment,
) -> Result<Payment, Error> {
    let customer_id = received.customer_id;
    customers::get(cx.tx, cx.workspace_id, &customer_id, false)
        .await?
        .ok_or_else(|| {
            Error::not_found("customer", customer_id.as_str()).with_param("customer_id")
        })?;
    if let Some(reference) = &received.reference {
        let existing: Vec<Payment> = documents::find_in(
            cx.tx,
            INVOICE_PAYMENT,
            cx.workspace_id,
            "reference",
            &[reference],
        )
        .await?;
        if let Some(first) = existing.first() {
            return Err(reference_taken(reference, Some(&first.id)));
        }
    }
    let id = PaymentId::new();
    let mut payment = Payment {
        transfer_id: format!("received:{id}"),
        id,
        object: "payment".into(),
        customer_id: customer_id.clone(),
        currency: received.currency,
        amount: received.amount,
        method: received.method,
        reference: received.reference,
        allocations: Vec::new(),
        unallocated: received.amount,
        received_at: cx.now,
        created_at: cx.now,
        dispute: None,
    };
    if payment.method == PaymentMethodKind::Wallet {
        let (id, amount) = (payment.transfer_id.clone(), payment.amount);
        post_wallet_payment(cx, &id, &customer_id, payment.currency, amount).await?;
    } else {
        crate::postings::post(
            cx,
            payment.currency,
            &[Posting::new(
                payment.transfer_id.clone(),
                CommerceAccount::Cash(payment.method.as_str().to_owned()),
                customer_credit(&customer_id),
                payment.amount,
                TransferCode::Received,
            )],
        )
        .await?;
    }
    save_payment(cx, &payment, true).await?;
    cx.emit_object(
        event_type::PAYMENT_RECEIVED,
        "payment",
        payment.id.as_str(),
        &payment,
    )
    .await?;
    match received.allocations {
        Some(allocations) => {
            for (i, (invoice_id, amount)) in allocations.into_iter().enumerate() {
                let param = format!("allocations[{i}].invoice_id");
                allocate(cx, &mut payment, &invoice_id, amount, &param).await?;
            }
        }
        None => {
            for invoice in open_invoices(cx, &customer_id, payment.currency).await? {
                if payment.unallocated == 0 {
                    break;
                }
                let amount = invoice.amount_due.min(payment.unallocated);
                allocate(cx, &mut payment, invoice.id.as_str(), amount, "invoice_id").await?;
            }
        }
    }
    save_payment(cx, &payment, false).await?;
    Ok(payment)
}

/// The posting of a `wallet` payment: the buyer's COMMITTED → their credit (then allocated to
/// the invoice like any payment). Refused when COMMITTED does not hold the amount.
async fn post_wallet_payment(
    cx: &mut Context<'_>,
    transfer_id: &str,
    customer: &CustomerId,
    currency: Currency,
    amount: i64,
) -> Result<(), Error> {
    let credit = customer_credit(customer);
    crate::postings::open_accounts(cx, currency, &[&credit]).await?;
    let batch = [NewTransfer::single(
        TransferId::from_trusted(transfer_id.to_owned()),
        party_account(customer, Role::Committed, currency),
        credit.id(currency),
        amount,
        TransferCode::WalletPaid.code(),
    )];
    let results =
        bursar_store::ledger::create_transfers(cx.tx, cx.workspace_id, &batch, cx.now).await?;
    match results.first().map(|(result, _)| *result) {
        Some(TransferResult::Ok | TransferResult::Exists) => Ok(()),
        other => Err(Error::new(
            ErrorKind::State,
            "wallet_insufficient",
            format!(
                "The buyer's committed money does not cover {amount} ({:?}).",
                other.unwrap_or(TransferResult::Ok)
            ),
        )),
    }
}
