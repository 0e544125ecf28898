//! What the test provider's hosted checkout page shows: whose page it is (the workspace's
//! name), what is being paid (an order, or an invoice by its number) and its lines.

use bursar_domain::commerce::Order;
use bursar_domain::id::InvoiceId;
use bursar_domain::invoice::Invoice;
use bursar_store::documents::{self, INVOICE, ORDER};
use bursar_store::payment_providers::TestSession;
use bursar_store::{StoreError, Tx};

use crate::error::Error;
use crate::App;

/// The page's summary of a checkout session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSummary {
    /// The merchant: the name of the workspace's shop, else the workspace's name.
    pub merchant: String,
    /// What is paid: "Order ord_…" or "Invoice INV-0001" (its id while it has no number).
    pub title: String,
    pub lines: Vec<SummaryLine>,
}

/// One line as the buyer reads it, its amount in the session's currency (minor units).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryLine {
    pub description: String,
    pub quantity: i64,
    pub amount: i64,
}

/// The summary of `session`: its order's lines (after discounts), or its invoice's.
pub async fn checkout_summary(app: &App, session: &TestSession) -> Result<CheckoutSummary, Error> {
    let (workspace_id, paid_for) = (session.workspace_id.clone(), session.order_id.clone());
    let summary = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let shop = crate::storefront::load(tx, &workspace_id).await?;
                let merchant = match shop {
                    Some(shop) => shop.name,
                    None => bursar_store::workspaces::get(tx, &workspace_id)
                        .await?
                        .map(|w| w.name)
                        .unwrap_or_default(),
                };
                let (title, lines) = if is_invoice(&paid_for) {
                    invoice_lines(tx, &workspace_id, &paid_for).await?
                } else {
                    order_lines(tx, &workspace_id, &paid_for).await?
                };
                Ok::<_, StoreError>(CheckoutSummary {
                    merchant,
                    title,
                    lines,
                })
            })
        })
        .await?;
    Ok(summary)
}

fn is_invoice(id: &str) -> bool {
    id.strip_prefix(InvoiceId::PREFIX)
        .is_some_and(|rest| rest.starts_with('_'))
}

async fn invoice_lines(
    tx: &mut Tx,
    workspace_id: &bursar_domain::id::WorkspaceId,
    id: &str,
) -> Result<(String, Vec<SummaryLine>), StoreError> {
    let invoice: Option<Invoice> = documents::get(tx, INVOICE, workspace_id, id, false).await?;
    let Some(invoice) = invoice else {
        return Ok((format!("Invoice {id}"), Vec::new()));
    };
    let label = invoice.number.unwrap_or_else(|| invoice.id.to_string());
    let lines = invoice
        .lines
        .into_iter()
        .map(|line| SummaryLine {
            description: line.description,
            quantity: line.quantity,
            amount: line.amount,
        })
        .collect();
    Ok((format!("Invoice {label}"), lines))
}

async fn order_lines(
    tx: &mut Tx,
    workspace_id: &bursar_domain::id::WorkspaceId,
    id: &str,
) -> Result<(String, Vec<SummaryLine>), StoreError> {
    let order: Option<Order> = documents::get(tx, ORDER, workspace_id, id, false).await?;
    let lines = order
        .map(|order| {
            order
                .lines
                .into_iter()
                .map(|line| SummaryLine {
                    description: line.product_name,
                    quantity: line.quantity,
                    amount: line.total,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok((format!("Order {id}"), lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invoice_is_told_from_an_order_by_its_id() {
        assert!(is_invoice("in_01jabc"));
        assert!(!is_invoice("ord_01jabc"));
        assert!(!is_invoice("inx_01jabc"));
    }
}
