//! Checkout: the buyer's details, the order placed and handed to the provider's hosted page,
//! and the success page the provider returns to, which waits for the payment's confirmation
//! (pay-before-commit: "processing" until the provider's webhook lands).

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bursar_core::shop_checkout::{
    place_order, price_cart, receipt as order_receipt, Buyer, Client, ShopUrls,
};
use bursar_core::shop_saved_card::{pay_with_saved_method, saved_method, SavedCardOutcome};
use bursar_core::App;
use bursar_domain::commerce::OrderStatus;
use bursar_domain::customer::{CustomerName, Email};
use serde::Deserialize;

use crate::cart::CartView;
use crate::frame::{error_page, forged_form, not_found, see_other, Frame, Visit};
use crate::session::{set_cart, ClientAddress};

/// The countries a buyer can bill to (ISO 3166-1 alpha-2); their names are in the message
/// catalogs (`country-at`, …).
const COUNTRIES: &[&str] = &[
    "AT", "AU", "BE", "BR", "CA", "CH", "CZ", "DE", "DK", "ES", "FI", "FR", "GB", "IE", "IN", "IT",
    "JP", "MX", "NL", "NO", "NZ", "PL", "PT", "SE", "SG", "US",
];

/// The countries in the visitor's language, sorted by their names there.
fn countries(tr: &crate::i18n::Tr) -> Vec<(&'static str, String)> {
    let mut named: Vec<(&'static str, String)> = COUNTRIES
        .iter()
        .map(|code| {
            (
                *code,
                tr.t(&format!("country-{}", code.to_ascii_lowercase())),
            )
        })
        .collect();
    named.sort_by_cached_key(|(_, name)| sort_key(name));
    named
}

/// A name as an alphabetical list orders it: case and the German umlauts' dots set aside.
fn sort_key(name: &str) -> String {
    name.to_lowercase()
        .replace('ä', "a")
        .replace('ö', "o")
        .replace('ü', "u")
        .replace('ß', "ss")
}

/// What the checkout form was filled with, to show it again after a refusal.
#[derive(Debug, Default, Deserialize)]
pub struct CheckoutForm {
    /// The form's idempotency key: one order however often it is sent.
    form_key: Option<String>,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    company: String,
    #[serde(default)]
    vat_id: String,
    #[serde(default)]
    country: String,
    /// The challenge widget's token (Turnstile's field), when the shop asks for one.
    #[serde(default, rename = "cf-turnstile-response")]
    challenge_token: String,
}

#[derive(Template)]
#[template(path = "shop/checkout.html")]
struct CheckoutPage {
    frame: Frame,
    cart: CartView,
    form: CheckoutForm,
    form_key: String,
    countries: Vec<(&'static str, String)>,
    /// The field at fault and why.
    error: Option<(String, String)>,
    /// For a signed-in customer with a saved card: (what the card is, the Pay button).
    saved_card: Option<(String, String)>,
}

pub async fn form(
    State(app): State<App>,
    Path(handle): Path<String>,
    headers: HeaderMap,
) -> Response {
    let visit = match Visit::open(&app, &handle, &headers).await {
        Ok(visit) => visit,
        Err(page) => return page,
    };
    let form = CheckoutForm {
        country: "US".into(),
        ..CheckoutForm::default()
    };
    render_form((&visit, &headers), form, None, StatusCode::OK).await
}

async fn render_form(
    (visit, headers): (&Visit, &HeaderMap),
    form: CheckoutForm,
    error: Option<(String, String)>,
    status: StatusCode,
) -> Response {
    let saved_card = match saved_card(visit, headers).await {
        Ok(saved) => saved,
        Err(page) => return page,
    };
    let priced = match price_cart(&visit.app, &visit.shop, &visit.cart).await {
        Ok(priced) => priced,
        Err(error) => return error_page(&error),
    };
    if priced.cart.is_empty() {
        return see_other(&format!("{}/cart", visit.shop_path), None);
    }
    let form_key = form
        .form_key
        .clone()
        .filter(|key| is_form_key(key))
        .unwrap_or_else(|| ulid::Ulid::new().to_string());
    let page = CheckoutPage {
        frame: visit.frame(visit.tr.t("checkout-title")),
        cart: CartView::of(visit, &priced),
        form,
        form_key,
        countries: countries(&visit.tr),
        error,
        saved_card: saved_card.map(|date| {
            (
                visit.tr.t1("saved-card", "date", date),
                visit
                    .tr
                    .t1("pay-saved-card", "amount", visit.money(priced.totals.total)),
            )
        }),
    };
    visit.respond(status, &page)
}

/// The day the signed-in customer's saved card was saved, if the browser is signed in to the
/// shop's portal and the customer has one.
async fn saved_card(visit: &Visit, headers: &HeaderMap) -> Result<Option<String>, Response> {
    let Some((_, portal)) = crate::portal_visit::signed_in(&visit.app, visit, headers).await?
    else {
        return Ok(None);
    };
    match saved_method(&visit.app, &visit.shop, &portal).await {
        Ok(method) => Ok(method.map(|m| m.created_at.to_rfc3339()[..10].to_owned())),
        Err(error) => Err(error_page(&error)),
    }
}

fn is_form_key(key: &str) -> bool {
    key.len() == 26 && key.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Places the order and sends the buyer to the provider's page.
pub async fn place(
    State(app): State<App>,
    Path(handle): Path<String>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let visit = match Visit::posted(&app, &handle, &headers, &body).await {
        Ok(visit) => visit,
        Err(page) => return page,
    };
    let form: CheckoutForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let Some(form_key) = form.form_key.clone().filter(|k| is_form_key(k)) else {
        return forged_form();
    };
    let buyer = match buyer_of(&form, &visit.tr) {
        Ok(buyer) => buyer,
        Err((field, why)) => {
            return render_form(
                (&visit, &headers),
                form,
                Some((field, why)),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
    };
    let urls = ShopUrls {
        base_url: visit.base_url.clone(),
        shop_url: visit.shop_url(),
    };
    let client = Client {
        address,
        session: visit.session.id.clone(),
        challenge_token: Some(form.challenge_token.clone()),
    };
    let placed = place_order(
        &app,
        &visit.shop,
        (&visit.cart, buyer),
        &client,
        &urls,
        &form_key,
    )
    .await;
    match placed {
        Ok(placed) => see_other(&placed.checkout_url, None),
        Err(error) => {
            let field = error.param.clone().unwrap_or_else(|| "cart".into());
            let status = if error.kind == bursar_core::ErrorKind::Invalid {
                StatusCode::BAD_REQUEST
            } else {
                return error_page(&error);
            };
            render_form(
                (&visit, &headers),
                form,
                Some((field, crate::frame::refusal(&visit.tr, &error))),
                status,
            )
            .await
        }
    }
}

/// The buyer the form describes, or the field at fault and why.
fn buyer_of(form: &CheckoutForm, tr: &crate::i18n::Tr) -> Result<Buyer, (String, String)> {
    let fault =
        |field: &str, error: bursar_domain::ValidationError| (field.to_owned(), error.message);
    let optional = |value: &str| Some(value.trim().to_owned()).filter(|v| !v.is_empty());
    let email = Email::parse(form.email.trim(), "email").map_err(|e| fault("email", e))?;
    let name = optional(&form.name)
        .map(|name| CustomerName::parse(&name, "name"))
        .transpose()
        .map_err(|e| fault("name", e))?;
    let short = |field: &str, value: Option<String>| match value {
        Some(v) if v.chars().count() > 100 => Err((
            field.to_owned(),
            format!("{field} must be at most 100 characters."),
        )),
        other => Ok(other),
    };
    let country = form.country.trim().to_ascii_uppercase();
    if !COUNTRIES.contains(&country.as_str()) {
        return Err(("country".into(), tr.t("choose-country")));
    }
    Ok(Buyer {
        email,
        name,
        company: short("company", optional(&form.company))?,
        vat_id: short("vat_id", optional(&form.vat_id))?,
        country,
    })
}

#[derive(Debug, Deserialize)]
pub struct ReceiptQuery {
    key: Option<String>,
}

/// A licence as the success page shows it.
pub struct LicenseView {
    pub product: String,
    /// The key, the one time it is shown; else its hint.
    pub key: Option<String>,
    pub hint: String,
}

#[derive(Template)]
#[template(path = "shop/receipt.html")]
struct ReceiptPage {
    frame: Frame,
    order_id: String,
    /// `processing`, `paid` or `failed`.
    state: &'static str,
    /// Paid, its license keys on their way: the page refreshes until they are here.
    delivering: bool,
    /// The receipt link's key: the page's "see it in your account" form passes it on.
    key: String,
    lines: Vec<(String, i64, String)>,
    discount: Option<String>,
    total: String,
    email: Option<String>,
    licenses: Vec<LicenseView>,
}

pub async fn receipt(
    State(app): State<App>,
    Path((handle, id)): Path<(String, String)>,
    Query(query): Query<ReceiptQuery>,
    headers: HeaderMap,
) -> Response {
    let mut visit = match Visit::open(&app, &handle, &headers).await {
        Ok(visit) => visit,
        Err(page) => return page,
    };
    let key = query.key.unwrap_or_default();
    let found = match order_receipt(&app, &visit.shop, &id, &key).await {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(),
        Err(error) => return error_page(&error),
    };
    let order = &found.order;
    let state = match order.status {
        OrderStatus::Paid | OrderStatus::Fulfilled | OrderStatus::PartiallyRefunded => "paid",
        OrderStatus::PaymentFailed | OrderStatus::CheckoutExpired | OrderStatus::Canceled => {
            "failed"
        }
        _ => "processing",
    };
    // The cart was bought: empty it (this page's header already counts it empty).
    let bought_cart = state == "paid" && !visit.cart.is_empty();
    if bought_cart {
        visit.cart = Default::default();
    }
    let names = |product_id: &bursar_domain::id::ProductId| {
        order
            .lines
            .iter()
            .find(|l| &l.product_id == product_id)
            .map(|l| l.product_name.clone())
            .unwrap_or_default()
    };
    let page = ReceiptPage {
        frame: visit.frame(visit.tr.t1("order-title", "order", &order.id)),
        order_id: order.id.to_string(),
        state,
        delivering: found.delivering,
        key: key.clone(),
        lines: order
            .lines
            .iter()
            .map(|l| (l.product_name.clone(), l.quantity, visit.money(l.total)))
            .collect(),
        discount: (order.totals.discount != 0).then(|| visit.money(order.totals.discount)),
        total: visit.money(order.totals.total),
        email: found.email.clone(),
        licenses: found
            .licenses
            .iter()
            .map(|(license, key)| LicenseView {
                product: names(&license.product_id),
                key: key.clone(),
                hint: license.key_hint.clone(),
            })
            .collect(),
    };
    let mut response = visit.respond(StatusCode::OK, &page);
    if bought_cart {
        if let Some(cookie) = set_cart(&visit.cart, &visit.shop_path, visit.secure()) {
            response
                .headers_mut()
                .append(axum::http::header::SET_COOKIE, cookie);
        }
    }
    response
}

/// Two clicks: pays the cart with the signed-in customer's saved card, then the receipt (or
/// the provider's page when the card asks for authentication, or the form again, saying the
/// card was declined).
pub async fn place_saved(
    State(app): State<App>,
    Path(handle): Path<String>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let visit = match Visit::posted(&app, &handle, &headers, &body).await {
        Ok(visit) => visit,
        Err(page) => return page,
    };
    let form: CheckoutForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let Some(form_key) = form.form_key.clone().filter(|k| is_form_key(k)) else {
        return forged_form();
    };
    let portal = match crate::portal_visit::signed_in(&app, &visit, &headers).await {
        Ok(Some((_, portal))) => portal,
        Ok(None) => return see_other(&format!("{}/checkout", visit.shop_path), None),
        Err(page) => return page,
    };
    let client = Client {
        address,
        session: visit.session.id.clone(),
        challenge_token: Some(form.challenge_token.clone()),
    };
    let urls = ShopUrls {
        base_url: visit.base_url.clone(),
        shop_url: visit.shop_url(),
    };
    let paid = pay_with_saved_method(
        &app,
        &visit.shop,
        (&visit.cart, &portal),
        &client,
        &urls,
        &form_key,
    )
    .await;
    match paid {
        Ok(SavedCardOutcome::Receipt { url, .. } | SavedCardOutcome::Hosted { url, .. }) => {
            see_other(&url, None)
        }
        Ok(SavedCardOutcome::Declined { reason, .. }) => {
            let why = visit.tr.t1("card-declined", "reason", reason);
            let again = CheckoutForm {
                country: "US".into(),
                ..CheckoutForm::default()
            };
            render_form(
                (&visit, &headers),
                again,
                Some(("payment_method".into(), why)),
                StatusCode::PAYMENT_REQUIRED,
            )
            .await
        }
        Err(error) => error_page(&error),
    }
}

#[cfg(test)]
mod country_tests {
    use super::*;
    use crate::i18n::{Lang, Tr};

    #[test]
    fn countries_are_named_and_sorted_in_the_visitors_language() {
        let german = countries(&Tr { lang: Lang::De });
        let names: Vec<&str> = german.iter().map(|(_, name)| name.as_str()).collect();
        let at = names.iter().position(|n| *n == "Österreich").unwrap();
        assert_eq!(
            (names[at - 1], names[at + 1]),
            ("Norwegen", "Polen"),
            "{names:?}"
        );
        assert_eq!(german.len(), COUNTRIES.len());
        let english = countries(&Tr { lang: Lang::En });
        assert_eq!(english.first(), Some(&("AU", "Australia".to_owned())));
        assert!(english
            .iter()
            .all(|(code, name)| !name.starts_with("country-") && code.len() == 2));
    }
}
