//! Bursar's JSON HTTP API.
//!
//! [`router`] builds the whole API over a core [`App`] and an [`HttpConfig`]; `serve` lives in
//! the binary, so tests can run the same router on a port of their own. Handlers parse the
//! request, call `bursar_core`, and map its answer (and its errors) to JSON. Each resource module
//! exposes a `router()`; routes are declared through `utoipa_axum`, so a route cannot exist
//! without appearing in `/openapi.json`.

pub mod agreements;
pub mod artifacts;
pub mod automation;
pub mod bank_connections;
pub mod billing;
pub mod billing_status;
pub mod catalog;
pub mod companies;
pub mod contracts;
pub mod couriers;
pub mod credit_notes;
pub mod customers;
pub mod declared_params;
pub mod declared_statuses;
pub mod devices;
pub mod discounts;
pub mod docs;
pub mod downloads;
pub mod dunning;
pub mod emails;
pub mod error;
pub mod events;
pub mod extract;
pub mod guard;
pub mod hosted_pages;
pub mod invoice_checkout;
pub mod invoice_payments;
pub mod invoice_settings;
pub mod invoices;
pub mod job_runs;
pub mod keys;
pub mod ledger;
pub mod licenses;
pub mod limits;
pub mod list;
pub mod livemode;
pub mod metering;
pub mod mutate;
pub mod ops;
pub mod order_payments;
pub mod orders;
pub mod pay_ins;
pub mod payment_methods;
pub mod payments;
pub mod payouts;
pub mod public;
pub mod quotes;
pub mod reference;
pub mod refunds;
pub mod sandboxes;
pub mod shipments;
pub mod storefront;
pub mod tax_rates;
pub mod telemetry;
pub mod transfers;
pub mod treasury;
pub mod updates;
pub mod wallet;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Router;
use bursar_core::App;
use metrics_exporter_prometheus::PrometheusHandle;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::error::{ApiError, ErrorType};
use crate::keys::KeyCache;

/// Limits and timeouts of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub body_limit_bytes: usize,
    pub request_timeout: Duration,
    /// How long an authenticated key is trusted without asking the database again.
    pub api_key_cache_ttl: Duration,
    /// Requests one API key may make per minute (0: no limit); more are answered 429.
    pub key_requests_per_minute: u32,
    /// Requests with a missing or wrong API key one address may make per minute (0: no
    /// limit); more are answered 429 before any key is looked up.
    pub failed_auth_per_minute: u32,
    /// Connections open at once; past it, new ones wait in the kernel's queue.
    pub max_connections: usize,
    /// How long a client has to send a request's headers (also how long an idle keep-alive
    /// connection stays open): slow-header clients cannot hold connections.
    pub header_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            api_key_cache_ttl: Duration::from_secs(2),
            key_requests_per_minute: 60_000,
            failed_auth_per_minute: 60,
            max_connections: 1024,
            header_timeout: Duration::from_secs(30),
        }
    }
}

/// What every handler can reach: the application (through `Deref`, so `state.db` is the
/// app's database) and what only the HTTP surface needs.
#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub config: Arc<HttpConfig>,
    pub keys: Arc<KeyCache>,
    pub metrics: PrometheusHandle,
    /// Request counts per minute: of the routes callers use without an API key, of each API
    /// key, and of failed authentications per address.
    pub limiter: Arc<limits::RateLimiter>,
    /// Failed authentications per address, apart: while there are none, checking costs nothing.
    pub auth_failures: Arc<limits::RateLimiter>,
    pub openapi_json: Arc<String>,
    pub docs_page: Arc<ops::DocsPage>,
}

impl std::ops::Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.app
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bursar API",
        description = "Bursar: contract-to-cash. Customers, and every capability built on them.\n\n\
            Schemas declare the bounds the server checks on each field (lengths, ranges, \
            patterns); rules between fields are in their descriptions. Besides those, no \
            text anywhere (body, query or path) may contain the NUL character (`\\u0000`), \
            and integers are written as integers (`100`, not `100.0` or `1e2`): such a \
            request is refused with 400.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    // Schemas only parameters name (the derives register those request bodies reach).
    components(schemas(
        bursar_domain::id::EmailId,
        bursar_domain::id::WebhookEndpointId,
        bursar_domain::id::PayoutId,
        bursar_domain::id::PayInId,
        bursar_domain::id::BankAccountId,
        bursar_domain::id::BankConnectionId,
        bursar_domain::id::ExpectedPaymentId,
        bursar_domain::id::BankTransactionId,
        bursar_domain::id::ReconciliationItemId,
        bursar_domain::fulfillment::FileName,
        bursar_domain::fulfillment::PlatformName,
        bursar_domain::fulfillment::SemanticVersion,
    )),
    tags(
        (name = "customers", description = "The people and businesses that pay"),
        (name = "catalog", description = "Products, prices, price books and negotiated price agreements"),
        (name = "discounts", description = "Coupons and promotion codes"),
        (name = "orders", description = "Quotes, orders, checkout, refunds"),
        (name = "payments", description = "Payment providers, their inbound webhooks, and the embedded test provider"),
        (name = "events", description = "Domain events, their deliveries to subscribers, and dead letters"),
        (name = "fulfillment", description = "Release artifacts, license keys, download links and update checks"),
        (name = "shipping", description = "Shipments of physical goods, returns, and the courier events that track them"),
        (name = "storefront", description = "The workspace's public shop: its address, currency, branding and pages"),
        (name = "invoices", description = "Tax rates, invoices, their numbering and settings"),
        (name = "collections", description = "Account health, dunning policies and their steps, entitlements"),
        (name = "treasury", description = "Expected payments, bank statements matched to them, the reconciliation review queue"),
        (name = "payouts", description = "Parties' bank accounts, payouts to them and payout schedules"),
        (name = "ledger", description = "Double-entry accounts and transfers"),
        (name = "wallets", description = "Party wallets and the recipes that move money through them"),
        (name = "webhooks", description = "Outbound webhook endpoints, signed per Standard Webhooks"),
        (name = "sandboxes", description = "Sandboxes beside a live workspace: test data apart, reset at will"),
        (name = "operations", description = "Health, metrics and this document"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("sk_…")
                    .description(Some("A secret API key: `Authorization: Bearer sk_…`"))
                    .build(),
            ),
        );
    }
}

fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, spec) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(customers::router())
        .merge(catalog::router())
        .merge(companies::router())
        .merge(agreements::router())
        .merge(contracts::router())
        .merge(discounts::router())
        .merge(quotes::router())
        .merge(orders::router())
        .merge(order_payments::router())
        .merge(refunds::router())
        .merge(payments::router())
        .merge(payment_methods::router())
        .merge(events::router())
        .merge(emails::router())
        .merge(artifacts::router())
        .merge(licenses::router())
        .merge(shipments::router())
        .merge(storefront::router())
        .merge(couriers::router())
        .merge(automation::router())
        .merge(devices::router())
        .merge(job_runs::router())
        .merge(downloads::router())
        .merge(updates::router())
        .merge(invoices::router())
        .merge(dunning::router())
        .merge(treasury::router())
        .merge(bank_connections::router())
        .merge(payouts::router())
        .merge(pay_ins::router())
        .merge(tax_rates::router())
        .merge(invoice_settings::router())
        .merge(invoice_payments::router())
        .merge(billing_status::router())
        .merge(credit_notes::router())
        .merge(invoice_checkout::router())
        .merge(billing::router())
        .merge(ledger::router())
        .merge(transfers::router())
        .merge(metering::router())
        .merge(wallet::router())
        .merge(webhooks::router())
        .merge(sandboxes::router())
        .merge(ops::router())
        .split_for_parts();
    let mut spec = spec;
    declared_statuses::declare(&mut spec);
    livemode::declare(&mut spec);
    declared_params::declare(&mut spec);
    (router, spec)
}

/// The OpenAPI document of the whole API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().1
}

/// The whole API over `app`, ready to serve.
pub fn router(app: App, config: HttpConfig) -> Router {
    router_with_state(app, config).0
}

/// The API and the state its handlers share.
pub fn router_with_state(app: App, config: HttpConfig) -> (Router, AppState) {
    let (router, spec) = routes();
    let spec_value = serde_json::to_value(&spec).unwrap_or_default();
    let state = AppState {
        app,
        keys: Arc::new(KeyCache::new(config.api_key_cache_ttl)),
        limiter: Arc::new(limits::RateLimiter::default()),
        auth_failures: Arc::new(limits::RateLimiter::default()),
        config: Arc::new(config),
        metrics: telemetry::prometheus(),
        openapi_json: Arc::new(serde_json::to_string_pretty(&spec_value).unwrap_or_default()),
        docs_page: Arc::new(ops::DocsPage::new(&spec_value)),
    };
    let router = router
        .merge(hosted_pages::pages())
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                ErrorType::InvalidRequestError,
                "route_missing",
                "No such route. See /docs for the API reference.",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorType::InvalidRequestError,
                "method_not_allowed",
                "This route does not accept that method. See /docs.",
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            telemetry::timeout,
        ))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(telemetry::MakeRequestIds))
                .layer(TraceLayer::new_for_http().make_span_with(telemetry::request_span))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(axum::middleware::from_fn(telemetry::track_metrics))
                .layer(axum::middleware::from_fn(guard::request_hygiene))
                .layer(axum::middleware::from_fn(guard::security_headers))
                .layer(CatchPanicLayer::custom(|_| {
                    tracing::error!("BUG: a request handler panicked");
                    ApiError::internal().into_response()
                })),
        )
        .with_state(state.clone());
    (router, state)
}
