//! Bursar's web pages: the storefront (`/shop/{handle}`) and the customer portal
//! (`/portal/{handle}`), server-rendered over the core.
//!
//! Pages are HTML that works without JavaScript; every form carries a CSRF token bound to the
//! browser's session cookie ([`session`]), and every change goes through the same core
//! operations as the JSON API. Handlers parse the request, call `bursar_core`, and fill a
//! template: no business rule lives here or in the templates (askama escapes every value).

mod cart;
mod checkout;
mod frame;
mod i18n;
mod language;
mod portal;
mod portal_licenses;
mod portal_methods;
mod portal_payments;
mod portal_plan_switch;
mod portal_plans;
mod portal_visit;
mod session;
mod shop;
mod usage_chart;

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bursar_core::App;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

/// The storefront's stylesheet, compiled in.
const SHOP_CSS: &str = include_str!("../assets/shop.css");

/// The largest form body a page accepts.
const FORM_BYTES_MAX: usize = 16 * 1024;

/// The web pages over `app`, ready to merge beside the API.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/shop/assets/shop.css", get(stylesheet))
        .route("/language/{code}", get(language::choose))
        .route("/shop/{handle}", get(shop::catalog))
        .route("/shop/{handle}/theme.css", get(shop::theme))
        .route("/shop/{handle}/products/{id}", get(shop::product))
        .route("/shop/{handle}/pages/{slug}", get(shop::page))
        .route("/shop/{handle}/cart", get(cart::show))
        .route("/shop/{handle}/cart/add", post(cart::add))
        .route("/shop/{handle}/cart/update", post(cart::update))
        .route("/shop/{handle}/cart/code", post(cart::code))
        .route(
            "/shop/{handle}/checkout",
            get(checkout::form).post(checkout::place),
        )
        .route("/shop/{handle}/checkout/saved", post(checkout::place_saved))
        .route("/shop/{handle}/orders/{id}", get(checkout::receipt))
        .route("/portal/{handle}", get(portal::home))
        .route("/portal/{handle}/sign-in", post(portal::ask_link))
        .route(
            "/portal/{handle}/sign-in/{token}",
            get(portal::confirm).post(portal::sign_in),
        )
        .route("/portal/{handle}/from-receipt", post(portal::from_receipt))
        .route("/portal/{handle}/sign-out", post(portal::sign_out_page))
        .route("/portal/{handle}/payment-methods", post(portal::add_card))
        .route(
            "/portal/{handle}/payment-methods/return",
            get(portal_methods::setup_return),
        )
        .route(
            "/portal/{handle}/payment-methods/{id}/default",
            post(portal_methods::make_default),
        )
        .route(
            "/portal/{handle}/payment-methods/{id}/remove",
            post(portal_methods::remove),
        )
        .route("/portal/{handle}/orders/{id}", get(portal::order_page))
        .route(
            "/portal/{handle}/licenses/{id}/deactivate",
            post(portal_licenses::deactivate),
        )
        .route(
            "/portal/{handle}/licenses/{id}/replace",
            post(portal_licenses::replace),
        )
        .route(
            "/portal/{handle}/payments",
            get(portal_payments::payments_page),
        )
        .route("/portal/{handle}/plans/{id}", get(portal_plans::plan_page))
        .route(
            "/portal/{handle}/plans/{id}/renewal",
            post(portal_plans::renewal),
        )
        .route(
            "/portal/{handle}/plans/{id}/lines/{line}",
            get(portal_plans::preview_seats).post(portal_plans::change_seats),
        )
        .route(
            "/portal/{handle}/plans/{id}/lines/{line}/switch",
            get(portal_plan_switch::preview).post(portal_plan_switch::switch),
        )
        .route(
            "/portal/{handle}/invoices/{id}/pdf",
            get(portal::invoice_file),
        )
        .route("/portal/{handle}/invoices/{id}/pay", post(portal::pay))
        .route(
            "/portal/{handle}/orders/{id}/downloads",
            post(portal::downloads),
        )
        .layer(axum::middleware::from_fn(i18n::with_language))
        .layer(axum::middleware::from_fn_with_state(
            page_policy(&app),
            security_headers,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(FORM_BYTES_MAX))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(30),
        ))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("BUG: a web page handler panicked");
            (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong.").into_response()
        }))
        .with_state(app)
}

/// What every page's response carries: a content policy that allows only this server's
/// styles, no scripts, no framing, forms posted here (or to a provider's HTTPS page), no MIME
/// sniffing, and no referrer beyond this origin.
const PAGE_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
    form-action 'self' https:; base-uri 'none'; frame-ancestors 'none'";

/// The same, for a server whose outbound requests may reach loopback (tests, a local fake of a
/// provider): its forms may also lead to a provider's page served on loopback over plain HTTP.
const PAGE_POLICY_LOOPBACK: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
    form-action 'self' https: http://127.0.0.1:*; base-uri 'none'; frame-ancestors 'none'";

pub(crate) fn page_policy(app: &App) -> &'static str {
    match app.config.outbound.allow_loopback {
        true => PAGE_POLICY_LOOPBACK,
        false => PAGE_POLICY,
    }
}

async fn security_headers(
    axum::extract::State(policy): axum::extract::State<&'static str>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    // A page that draws a challenge widget has set its own, wider policy.
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(policy),
        );
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SHOP_CSS,
    )
        .into_response()
}
