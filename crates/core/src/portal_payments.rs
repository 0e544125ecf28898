//! The portal's payment history: what the signed-in customer paid, newest first — orders paid
//! at checkout and payments received against invoices — a page at a time. Each source is read
//! newest first by id through its customer index; the page's cursor holds where each source
//! stopped.

use std::collections::BTreeMap;

use bursar_domain::commerce::Order;
use bursar_domain::invoice::{Invoice, Payment};
use bursar_domain::money::Currency;
use bursar_domain::time::Timestamp;
use bursar_store::documents::{self, INVOICE, INVOICE_PAYMENT, ORDER};
use bursar_store::Tx;

use crate::error::Error;
use crate::portal::Portal;
use crate::portal_views::PAGE_SIZE;
use crate::storefront::Shop;
use crate::App;

/// Orders read for a page: unpaid ones are passed over, so more than a page.
const ORDERS_READ: usize = PAGE_SIZE * 2;
/// Invoice payments read for a page: one more tells whether another page follows.
const PAYMENTS_READ: usize = PAGE_SIZE + 1;

/// One payment as the history lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentLine {
    pub paid_at: Timestamp,
    pub currency: Currency,
    pub amount: i64,
    /// Refunded of it (orders), or reversed by a dispute (invoice payments).
    pub returned: i64,
    /// `card` (orders are paid at checkout), `bank_transfer`, `manual`, ….
    pub method: String,
    /// What it paid: the order, or the numbers of the invoices it was applied to.
    pub paid_for: PaidFor,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaidFor {
    Order(String),
    /// Invoice numbers (ids while unnumbered); empty while the payment is unapplied credit.
    Invoices(Vec<String>),
}

/// Where the next (older) page starts in each source: the last order and invoice payment
/// already shown. Written `ord_…,pay_…` in the page's link (either side may be empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryCursor {
    pub orders_before: Option<String>,
    pub payments_before: Option<String>,
}

impl HistoryCursor {
    pub fn parse(text: &str) -> HistoryCursor {
        let (orders, payments) = text.split_once(',').unwrap_or((text, ""));
        let part = |s: &str| (!s.is_empty() && s.len() <= 64).then(|| s.to_owned());
        HistoryCursor {
            orders_before: part(orders),
            payments_before: part(payments),
        }
    }

    pub fn to_text(&self) -> String {
        format!(
            "{},{}",
            self.orders_before.as_deref().unwrap_or(""),
            self.payments_before.as_deref().unwrap_or("")
        )
    }
}

/// A page of the history and the cursor of the next one, when there is more.
#[derive(Debug, Clone)]
pub struct History {
    pub payments: Vec<PaymentLine>,
    pub older: Option<HistoryCursor>,
}

/// What `portal`'s customers paid, newest first, from `cursor` on: a page of at most
/// [`PAGE_SIZE`] payments (a fixed number of statements however long the history).
pub async fn history(
    app: &App,
    shop: &Shop,
    portal: &Portal,
    cursor: HistoryCursor,
) -> Result<History, Error> {
    let workspace_id = shop.workspace_id.clone();
    let customers: Vec<String> = portal.customers.iter().map(|c| c.to_string()).collect();
    let cursor_back = cursor.clone();
    let (orders, payments, numbers) = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let ids: Vec<&str> = customers.iter().map(String::as_str).collect();
                // Unpaid orders are skipped: read a page more than is shown.
                let orders: Vec<Order> = documents::newest_for(
                    tx,
                    ORDER,
                    &workspace_id,
                    "customer_id",
                    &ids,
                    cursor.orders_before.as_deref(),
                    ORDERS_READ,
                )
                .await?;
                let payments: Vec<Payment> = documents::newest_for(
                    tx,
                    INVOICE_PAYMENT,
                    &workspace_id,
                    "customer_id",
                    &ids,
                    cursor.payments_before.as_deref(),
                    PAYMENTS_READ,
                )
                .await?;
                let numbers = invoice_numbers(tx, &workspace_id, &payments).await?;
                Ok::<_, Error>((orders, payments, numbers))
            })
        })
        .await?;
    Ok(merge(cursor_back, orders, payments, &numbers))
}

/// The numbers of the invoices `payments` were applied to, by id (one query).
async fn invoice_numbers(
    tx: &mut Tx,
    workspace_id: &bursar_domain::id::WorkspaceId,
    payments: &[Payment],
) -> Result<BTreeMap<String, String>, Error> {
    let ids: Vec<String> = payments
        .iter()
        .flat_map(|p| p.allocations.iter().map(|a| a.invoice_id.to_string()))
        .collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let invoices: Vec<(String, Invoice)> =
        documents::get_many(tx, INVOICE, workspace_id, &ids).await?;
    Ok(invoices
        .into_iter()
        .map(|(id, invoice)| {
            let number = invoice.number.unwrap_or_else(|| id.clone());
            (id, number)
        })
        .collect())
}

/// Both sources as one page: at each step the source whose next payment (in id order) is the
/// later one gives it, so that what a page shows of each source is a prefix of it and the
/// cursor (the last of each consumed, else where the page began) skips nothing. Unpaid orders
/// are passed over.
fn merge(
    cursor: HistoryCursor,
    orders: Vec<Order>,
    payments: Vec<Payment>,
    numbers: &BTreeMap<String, String>,
) -> History {
    let full = (orders.len() == ORDERS_READ, payments.len() == PAYMENTS_READ);
    let mut orders = orders.into_iter().peekable();
    let mut payments = payments.into_iter().peekable();
    let mut older = cursor;
    let mut lines = Vec::new();
    loop {
        while let Some(unpaid) = orders.next_if(|o| o.payment.is_none()) {
            older.orders_before = Some(unpaid.id.to_string());
        }
        if lines.len() == PAGE_SIZE {
            break;
        }
        let order_first = match (orders.peek(), payments.peek()) {
            (Some(order), Some(payment)) => order
                .payment
                .as_ref()
                .is_some_and(|paid| paid.paid_at >= payment.received_at),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        if order_first {
            let Some(order) = orders.next() else { break };
            older.orders_before = Some(order.id.to_string());
            lines.extend(order_line(order));
        } else {
            let Some(payment) = payments.next() else {
                break;
            };
            older.payments_before = Some(payment.id.to_string());
            lines.push(payment_line(payment, numbers));
        }
    }
    let more = orders.peek().is_some() || payments.peek().is_some() || full.0 || full.1;
    History {
        payments: lines,
        older: more.then_some(older),
    }
}

fn order_line(order: Order) -> Option<PaymentLine> {
    let payment = order.payment?;
    Some(PaymentLine {
        paid_at: payment.paid_at,
        currency: order.currency,
        amount: payment.amount,
        returned: order.amount_refunded,
        method: "card".to_owned(),
        paid_for: PaidFor::Order(order.id.to_string()),
    })
}

fn payment_line(payment: Payment, numbers: &BTreeMap<String, String>) -> PaymentLine {
    let applied = payment
        .allocations
        .iter()
        .map(|a| {
            numbers
                .get(a.invoice_id.as_str())
                .cloned()
                .unwrap_or_else(|| a.invoice_id.to_string())
        })
        .collect();
    PaymentLine {
        paid_at: payment.received_at,
        currency: payment.currency,
        amount: payment.amount,
        returned: payment.dispute.as_ref().map_or(0, |d| d.amount),
        method: payment.method.as_str().to_owned(),
        paid_for: PaidFor::Invoices(applied),
    }
}
