//! The portal's payment history (`/portal/{handle}/payments`): what the customer paid, newest
//! first, a page at a time (`?before=` holds where each source stopped).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bursar_core::portal_payments::{history, HistoryCursor, PaidFor};
use bursar_core::App;
use serde::Deserialize;

use crate::frame::{error_page, Frame};
use crate::portal_visit::{day, PortalVisit};

/// A payment as the history shows it.
pub struct PaymentRow {
    pub date: String,
    pub amount: String,
    pub method: String,
    /// "Order ord_…" or "Invoice INV-…", as a sentence.
    pub paid_for: String,
    /// The order's page, for an order.
    pub link: Option<String>,
    /// "12.00 USD refunded", when some was.
    pub returned: Option<String>,
}

#[derive(Template)]
#[template(path = "shop/portal_payments.html")]
struct PaymentsPage {
    frame: Frame,
    portal_path: String,
    payments: Vec<PaymentRow>,
    /// The next (older) page's cursor.
    older: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct PaymentsQuery {
    before: Option<String>,
}

pub async fn payments_page(
    State(app): State<App>,
    Path(handle): Path<String>,
    Query(query): Query<PaymentsQuery>,
    headers: HeaderMap,
) -> Response {
    let (portal, signed_in) = match PortalVisit::signed_in_get(&app, &handle, &headers).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let signed_in = &signed_in;
    let cursor = query
        .before
        .as_deref()
        .map(HistoryCursor::parse)
        .unwrap_or_default();
    let found = match history(&app, &portal.visit.shop, signed_in, cursor).await {
        Ok(found) => found,
        Err(error) => return error_page(&error),
    };
    let tr = &portal.visit.tr;
    let payments = found
        .payments
        .iter()
        .map(|p| {
            let (paid_for, link) = match &p.paid_for {
                PaidFor::Order(id) => (
                    tr.t1("paid-for-order", "order", id),
                    Some(format!("{}/orders/{id}", portal.path())),
                ),
                PaidFor::Invoices(numbers) if numbers.is_empty() => (tr.t("paid-for-credit"), None),
                PaidFor::Invoices(numbers) => (
                    tr.t1("paid-for-invoices", "numbers", numbers.join(", ")),
                    None,
                ),
            };
            PaymentRow {
                date: day(Some(p.paid_at)),
                amount: p.currency.format(p.amount),
                method: p.method.replace('_', " "),
                paid_for,
                link,
                returned: (p.returned > 0)
                    .then(|| tr.t1("amount-returned", "amount", p.currency.format(p.returned))),
            }
        })
        .collect();
    let page = PaymentsPage {
        frame: portal.visit.frame(tr.t("payment-history")),
        portal_path: portal.path(),
        payments,
        older: found.older.map(|c| c.to_text()),
    };
    portal.visit.respond(StatusCode::OK, &page)
}
