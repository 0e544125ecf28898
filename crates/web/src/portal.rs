//! The customer portal (`/portal/{handle}`): sign-in by magic link or from a receipt, the
//! customer's orders, an order with its licenses and fresh download links, and sign-out.
//!
//! The portal's cookie (`bursar_portal_{handle}`, one per shop) holds the session's
//! token; forms carry the browser session's CSRF token like every page.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bursar_core::invoice_checkout::LinkPage;
use bursar_core::portal::{
    complete_sign_in, open_from_receipt, preview_sign_in, request_sign_in, sign_out,
};
use bursar_core::portal_plans::plans;
use bursar_core::portal_setup::start_card_setup;
use bursar_core::portal_standing::{standing, Standing};
use bursar_core::portal_views::{
    fresh_downloads, invoice_pdf, invoices, order, orders, pay_invoice, saved_methods,
};
use bursar_core::shop_checkout::Client;
use bursar_core::App;
use bursar_domain::billing_status::BillingStatus;
use bursar_domain::customer::Email;
use bursar_domain::fulfillment::LicenseStatus;
use serde::Deserialize;

use crate::frame::{error_page, not_found, see_other, Frame, Visit};
use crate::i18n::Tr;
use crate::portal_visit::{day, PortalVisit};
use crate::session::ClientAddress;

#[derive(Template)]
#[template(path = "shop/portal_sign_in.html")]
struct SignInPage {
    frame: Frame,
    portal_path: String,
    /// After asking: the page says a link is on its way.
    sent_to: Option<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "shop/portal_home.html")]
struct HomePage {
    frame: Frame,
    portal_path: String,
    email: Option<String>,
    /// The names of the companies whose orders and invoices are listed too.
    companies: Option<String>,
    /// Back from paying an invoice: its payment is being confirmed.
    paid: bool,
    /// (id, date, status, total).
    orders: Vec<(String, String, &'static str, String)>,
    invoices: Vec<InvoiceLine>,
    /// The cursors of the older pages of orders and invoices, when there are more.
    older_orders: Option<String>,
    older_invoices: Option<String>,
    /// The customer's saved cards.
    cards: Vec<CardLine>,
    /// (id, name, status, renewal).
    plans: Vec<(String, String, &'static str, String)>,
    /// What collections have to say about the account ("your card was declined — update it").
    notices: Vec<String>,
}

/// A saved card as the account page lists it.
pub struct CardLine {
    pub id: String,
    /// "Card saved on … (provider)".
    pub text: String,
    pub is_default: bool,
}

/// An invoice as the account page lists it.
pub struct InvoiceLine {
    pub id: String,
    pub number: String,
    pub issued: String,
    pub status: &'static str,
    pub total: String,
    /// The Pay button's text and its accessible name, when it can be paid online now.
    pub pay: Option<(String, String)>,
}

/// The sentence the account page shows for a customer not in good standing.
fn notice(tr: &Tr, standing: &Standing) -> String {
    let overdue: Vec<String> = standing
        .overdue
        .iter()
        .map(|(currency, amount)| currency.format(*amount))
        .collect();
    let overdue = overdue.join(", ");
    match (standing.status, &standing.card_declined) {
        (BillingStatus::PastDue, Some(code)) => tr.t2(
            "notice-card-declined",
            ("code", code),
            ("overdue", &overdue),
        ),
        (BillingStatus::PastDue, None) => tr.t1("notice-past-due", "overdue", &overdue),
        (BillingStatus::Collections, _) => tr.t1("notice-collections", "overdue", &overdue),
        _ => tr.t("notice-closed"),
    }
}

#[derive(Debug, Deserialize)]
pub struct HomeQuery {
    paid: Option<String>,
    /// The cursor of an older page of orders.
    orders_before: Option<String>,
    /// The cursor of an older page of invoices.
    invoices_before: Option<String>,
}

pub async fn home(
    State(app): State<App>,
    Path(handle): Path<String>,
    Query(query): Query<HomeQuery>,
    headers: HeaderMap,
) -> Response {
    let portal = match PortalVisit::open(&app, &handle, &headers).await {
        Ok(portal) => portal,
        Err(page) => return page,
    };
    let Some((_, signed_in)) = &portal.signed_in else {
        let page = SignInPage {
            frame: portal.visit.frame(portal.visit.tr.t("account-title")),
            portal_path: portal.path(),
            sent_to: None,
            error: None,
        };
        return portal.visit.respond(StatusCode::OK, &page);
    };
    let listed = match orders(&app, &portal.visit.shop, signed_in, query.orders_before).await {
        Ok(listed) => listed,
        Err(error) => return error_page(&error),
    };
    let billed = match invoices(&app, &portal.visit.shop, signed_in, query.invoices_before).await {
        Ok(billed) => billed,
        Err(error) => return error_page(&error),
    };
    let cards = match saved_methods(&app, &portal.visit.shop, signed_in).await {
        Ok(cards) => cards,
        Err(error) => return error_page(&error),
    };
    let subscribed = match plans(&app, &portal.visit.shop, signed_in).await {
        Ok(subscribed) => subscribed,
        Err(error) => return error_page(&error),
    };
    let standings = match standing(&app, &portal.visit.shop, signed_in).await {
        Ok(standings) => standings,
        Err(error) => return error_page(&error),
    };
    let page = HomePage {
        notices: standings
            .iter()
            .map(|s| notice(&portal.visit.tr, s))
            .collect(),
        frame: portal.visit.frame(portal.visit.tr.t("account-title")),
        portal_path: portal.path(),
        email: signed_in.email.clone(),
        companies: (!signed_in.companies.is_empty()).then(|| {
            let names: Vec<&str> = signed_in
                .companies
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            names.join(", ")
        }),
        plans: subscribed
            .iter()
            .map(|p| {
                (
                    p.contract.id.clone(),
                    crate::portal_plans::plan_name(p),
                    p.contract.status.as_str(),
                    crate::portal_plans::renewal_sentence(&portal.visit.tr, p),
                )
            })
            .collect(),
        paid: query.paid.is_some(),
        cards: cards
            .iter()
            .map(|m| CardLine {
                id: m.id.to_string(),
                text: match m.provider.as_str() {
                    "paypal" => portal.visit.tr.t1(
                        "paypal-saved-on",
                        "date",
                        &m.created_at.to_rfc3339()[..10],
                    ),
                    _ => portal.visit.tr.t2(
                        "card-saved-on",
                        ("date", &m.created_at.to_rfc3339()[..10]),
                        ("provider", &m.provider),
                    ),
                },
                is_default: m.is_default,
            })
            .collect(),
        older_orders: listed.older.clone(),
        older_invoices: billed.older.clone(),
        orders: listed
            .items
            .iter()
            .map(|o| {
                (
                    o.id.to_string(),
                    o.created_at.to_rfc3339()[..10].to_owned(),
                    o.status.as_str(),
                    portal.visit.money(o.totals.total),
                )
            })
            .collect(),
        invoices: billed
            .items
            .iter()
            .map(|i| InvoiceLine {
                id: i.id.to_string(),
                number: i.number.clone().unwrap_or_else(|| i.id.to_string()),
                issued: day(i.issued_at),
                status: i.status.as_str(),
                total: i.currency.format(i.total),
                pay: bursar_core::invoice_checkout::payable(i).then(|| {
                    let (due, number) = (
                        i.currency.format(i.amount_due),
                        i.number.clone().unwrap_or_default(),
                    );
                    let tr = &portal.visit.tr;
                    (
                        tr.t1("pay-amount", "amount", &due),
                        tr.t2("pay-invoice", ("amount", &due), ("number", &number)),
                    )
                }),
            })
            .collect(),
    };
    portal.visit.respond(StatusCode::OK, &page)
}

#[derive(Debug, Default, Deserialize)]
struct EmailForm {
    #[serde(default)]
    email: String,
}

/// Emails a magic link, if the address is a customer's; the same answer either way.
pub async fn ask_link(
    State(app): State<App>,
    Path(handle): Path<String>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let portal = match PortalVisit::posted(&app, &handle, &headers, &body).await {
        Ok(portal) => portal,
        Err(page) => return page,
    };
    let form: EmailForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let (sent_to, error, status) = match Email::parse(form.email.trim(), "email") {
        Err(error) => {
            let why = portal
                .visit
                .tr
                .refusal(error.code, Some(&error.param), None, &error.message);
            (None, Some(why), StatusCode::BAD_REQUEST)
        }
        Ok(email) => match request_sign_in(&app, &portal.visit.shop, &email, &address).await {
            Ok(()) => (Some(email.as_str().to_owned()), None, StatusCode::OK),
            Err(error) => return error_page(&error),
        },
    };
    let page = SignInPage {
        frame: portal.visit.frame(portal.visit.tr.t("account-title")),
        portal_path: portal.path(),
        sent_to,
        error,
    };
    portal.visit.respond(status, &page)
}

#[derive(Template)]
#[template(path = "shop/portal_confirm.html")]
struct ConfirmPage {
    frame: Frame,
    /// The address the link signs in; none when it is used, expired or wrong.
    email: Option<String>,
    portal_path: String,
    token: String,
}

/// The page a magic link opens: a button that signs in (so that a mail scanner following the
/// link does not use it up).
pub async fn confirm(
    State(app): State<App>,
    Path((handle, token)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let portal = match PortalVisit::open(&app, &handle, &headers).await {
        Ok(portal) => portal,
        Err(page) => return page,
    };
    let email = match preview_sign_in(&app, &portal.visit.shop, &token).await {
        Ok(email) => email,
        Err(error) => return error_page(&error),
    };
    let status = if email.is_some() {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    let page = ConfirmPage {
        frame: portal.visit.frame(portal.visit.tr.t("sign-in")),
        email,
        portal_path: portal.path(),
        token,
    };
    portal.visit.respond(status, &page)
}

/// Uses the magic link: a session cookie, then the account page.
pub async fn sign_in(
    State(app): State<App>,
    Path((handle, token)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let portal = match PortalVisit::posted(&app, &handle, &headers, &body).await {
        Ok(portal) => portal,
        Err(page) => return page,
    };
    match complete_sign_in(&app, &portal.visit.shop, &token).await {
        Ok(Some(session_token)) => {
            see_other(&portal.path(), portal.session_cookie(Some(&session_token)))
        }
        Ok(None) => not_found(),
        Err(error) => error_page(&error),
    }
}

#[derive(Debug, Default, Deserialize)]
struct ReceiptForm {
    #[serde(default)]
    order_id: String,
    #[serde(default)]
    key: String,
}

/// Opens the portal from an order's receipt link (no email needed).
pub async fn from_receipt(
    State(app): State<App>,
    Path(handle): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let portal = match PortalVisit::posted(&app, &handle, &headers, &body).await {
        Ok(portal) => portal,
        Err(page) => return page,
    };
    let form: ReceiptForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    match open_from_receipt(&app, &portal.visit.shop, &form.order_id, &form.key).await {
        Ok(Some(session_token)) => see_other(
            &format!("{}/orders/{}", portal.path(), form.order_id),
            portal.session_cookie(Some(&session_token)),
        ),
        Ok(None) => not_found(),
        Err(error) => error_page(&error),
    }
}

/// Signs out: the session is revoked and its cookie cleared.
pub async fn sign_out_page(
    State(app): State<App>,
    Path(handle): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let portal = match PortalVisit::posted(&app, &handle, &headers, &body).await {
        Ok(portal) => portal,
        Err(page) => return page,
    };
    if let Some((token, _)) = &portal.signed_in {
        if let Err(error) = sign_out(&app, &portal.visit.shop, token).await {
            return error_page(&error);
        }
    }
    see_other(&portal.path(), portal.session_cookie(None))
}

/// A license as the order page shows it.
pub struct LicenseLine {
    pub id: String,
    pub hint: String,
    pub active: bool,
    /// Machines activated (of how many), as a phrase.
    pub activations: String,
    /// The machines activated, each with a Deactivate form.
    pub machines: Vec<String>,
}

/// "(linux, version 1.0.0): works until … UTC, for 5 downloads".
fn download_terms(tr: &Tr, download: &bursar_core::portal_views::Download) -> String {
    let expires = download.link.expires_at.to_rfc3339()[..16].replace('T', " ");
    tr.args(
        "download-terms",
        &[
            ("platform", &download.artifact.platform),
            ("version", &download.artifact.version),
            ("expires", &expires),
            ("count", &download.link.max_downloads.to_string()),
        ],
    )
}

/// "2 machines activated of 3".
fn activations(tr: &Tr, used: usize, max: Option<u32>) -> String {
    let used = tr.count("activations", i64::try_from(used).unwrap_or(i64::MAX));
    match max {
        Some(max) => format!("{used} {}", tr.t1("activations-of", "max", max)),
        None => used,
    }
}

/// A fresh download link as the order page shows it.
pub struct DownloadLine {
    pub file_name: String,
    pub url: String,
    /// Platform, version, expiry and downloads, as a sentence.
    pub terms: String,
}

#[derive(Template)]
#[template(path = "shop/portal_order.html")]
struct OrderPage {
    frame: Frame,
    portal_path: String,
    order_id: String,
    status: &'static str,
    lines: Vec<(String, i64, String)>,
    total: String,
    /// Whether the order is the visitor's own (not a colleague's at their company).
    own: bool,
    /// After a license form: what it did.
    notice: Option<String>,
    licenses: Vec<LicenseLine>,
    /// After "Get download links": the fresh links.
    downloads: Option<Vec<DownloadLine>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct OrderQuery {
    /// After a license form: `deactivated` or `replaced`.
    license: Option<String>,
}

pub async fn order_page(
    State(app): State<App>,
    Path((handle, id)): Path<(String, String)>,
    Query(query): Query<OrderQuery>,
    headers: HeaderMap,
) -> Response {
    let notice = match query.license.as_deref() {
        Some("deactivated") => Some("license-deactivated"),
        Some("replaced") => Some("license-replaced"),
        _ => None,
    };
    render_order(&app, (&handle, &id), &headers, false, notice).await
}

/// Fresh download links for the order, shown once on its page (never stored).
pub async fn downloads(
    State(app): State<App>,
    Path((handle, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(page) = Visit::posted(&app, &handle, &headers, &body).await {
        return page;
    }
    render_order(&app, (&handle, &id), &headers, true, None).await
}

async fn render_order(
    app: &App,
    (handle, id): (&str, &str),
    headers: &HeaderMap,
    with_downloads: bool,
    notice: Option<&str>,
) -> Response {
    let (portal, signed_in) = match PortalVisit::signed_in_get(app, handle, headers).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let signed_in = &signed_in;
    let shop = &portal.visit.shop;
    let found = match order(app, shop, signed_in, id).await {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(),
        Err(error) => return error_page(&error),
    };
    let downloads = if with_downloads {
        match fresh_downloads(app, shop, signed_in, id, &portal.visit.base_url).await {
            Ok(Some(fresh)) => Some(
                fresh
                    .into_iter()
                    .map(|d| DownloadLine {
                        terms: download_terms(&portal.visit.tr, &d),
                        file_name: d.artifact.file_name,
                        url: d.url,
                    })
                    .collect(),
            ),
            Ok(None) => return not_found(),
            Err(error) => return error_page(&error),
        }
    } else {
        None
    };
    let order = &found.order;
    let page = OrderPage {
        frame: portal
            .visit
            .frame(portal.visit.tr.t1("order-title", "order", &order.id)),
        portal_path: portal.path(),
        order_id: order.id.to_string(),
        status: order.status.as_str(),
        lines: order
            .lines
            .iter()
            .map(|l| {
                (
                    l.product_name.clone(),
                    l.quantity,
                    portal.visit.money(l.total),
                )
            })
            .collect(),
        total: portal.visit.money(order.totals.total),
        own: signed_in.reaches(&order.customer_id),
        notice: notice.map(|id| portal.visit.tr.t(id)),
        licenses: found
            .licenses
            .iter()
            .map(|l| LicenseLine {
                id: l.id.to_string(),
                machines: l.activations.iter().map(|a| a.machine_id.clone()).collect(),
                hint: l.key_hint.clone(),
                active: l.status == LicenseStatus::Active,
                activations: activations(&portal.visit.tr, l.activations.len(), l.max_activations),
            })
            .collect(),
        downloads,
    };
    portal.visit.respond(StatusCode::OK, &page)
}

/// An invoice's PDF, for a customer the session reaches.
pub async fn invoice_file(
    State(app): State<App>,
    Path((handle, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let (portal, signed_in) = match PortalVisit::signed_in_get(&app, &handle, &headers).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let signed_in = &signed_in;
    match invoice_pdf(&app, &portal.visit.shop, signed_in, &id).await {
        Ok(Some((name, bytes))) => {
            let disposition = format!("inline; filename=\"{name}\"");
            let mut response = (StatusCode::OK, bytes).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pdf"),
            );
            if let Ok(value) = HeaderValue::from_str(&disposition) {
                headers.insert(header::CONTENT_DISPOSITION, value);
            }
            response
        }
        Ok(None) => not_found(),
        Err(error) => error_page(&error),
    }
}

/// Pays an invoice: to the provider's hosted page for its amount due, back to the account.
pub async fn pay(
    State(app): State<App>,
    Path((handle, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (portal, signed_in) =
        match PortalVisit::signed_in_post(&app, &handle, &headers, &body).await {
            Ok(found) => found,
            Err(page) => return page,
        };
    let signed_in = &signed_in;
    let account = format!("{}{}", portal.visit.base_url, portal.path());
    let page = LinkPage {
        provider: None,
        base_url: portal.visit.base_url.clone(),
        success_url: format!("{account}?paid={id}"),
        cancel_url: account,
    };
    match pay_invoice(&app, &portal.visit.shop, signed_in, &id, page).await {
        Ok(Some(url)) => see_other(&url, None),
        Ok(None) => not_found(),
        Err(error) => error_page(&error),
    }
}

/// Saves a card: to the provider's hosted setup page, back to the account.
pub async fn add_card(
    State(app): State<App>,
    Path(handle): Path<String>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (portal, signed_in) =
        match PortalVisit::signed_in_post(&app, &handle, &headers, &body).await {
            Ok(found) => found,
            Err(page) => return page,
        };
    let form: ChallengeForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let client = Client {
        address,
        session: portal.visit.session.id.clone(),
        challenge_token: form.challenge_token,
    };
    let back = format!(
        "{}{}/payment-methods/return",
        portal.visit.base_url,
        portal.path()
    );
    let base = portal.visit.base_url.clone();
    let whom = (&portal.visit.shop, &signed_in);
    match start_card_setup(&app, whom, &client, &base, &back).await {
        Ok(Some(url)) => see_other(&url, None),
        Ok(None) => not_found(),
        Err(error) => error_page(&error),
    }
}

/// The challenge widget's token in a form (Turnstile's field).
#[derive(Debug, Default, Deserialize)]
struct ChallengeForm {
    #[serde(rename = "cf-turnstile-response")]
    challenge_token: Option<String>,
}
