//! Bursar's JSON HTTP API.
//!
//! [`app`] builds the whole router from a [`Db`] and an [`HttpConfig`]; `serve` lives in the
//! binary, so tests can run the same router on a port of their own. Each resource module
//! exposes a `router()`; routes are declared through `utoipa_axum`, so a route cannot exist
//! without appearing in `/openapi.json`.

pub mod billing;
pub mod blobs;
pub mod catalog;
pub mod companies;
pub mod contracts;
pub mod customers;
pub mod discounts;
pub mod docs;
pub mod emails;
pub mod error;
pub mod events;
pub mod extract;
pub mod fulfillment;
pub mod invoice_checkout;
pub mod invoice_pdf;
pub mod invoices;
pub mod keys;
pub mod ledger;
pub mod list;
pub mod metering;
pub mod mutate;
pub mod ops;
pub mod orders;
pub mod payment_methods;
pub mod payments;
pub mod quotes;
pub mod reference;
pub mod telemetry;
pub mod wallet;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Router;
use bursar_store::Db;
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
    /// The URL customers reach this server at (checkout pages); default: the request's Host.
    pub public_url: Option<String>,
    /// Where artifact files are kept (the data directory's `artifacts/`)...
    pub artifacts_dir: std::path::PathBuf,
    /// ...unless an object store is named: `s3://bucket/prefix`, with its options.
    pub artifacts_url: Option<String>,
    pub artifacts_options: StoreOptions,
    /// Download links and the limits of the public routes.
    pub downloads: fulfillment::DownloadSettings,
    /// Whether the server bills contracts itself as their periods start (every minute); off
    /// by default here (tests run billing by hand), on for `bursar serve`.
    pub auto_billing: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            api_key_cache_ttl: Duration::from_secs(2),
            public_url: None,
            artifacts_dir: std::path::PathBuf::from("bursar-data/artifacts"),
            artifacts_url: None,
            artifacts_options: StoreOptions::default(),
            downloads: fulfillment::DownloadSettings::default(),
            auto_billing: false,
        }
    }
}

/// Options of an object store (`aws_endpoint`, `aws_secret_access_key`, ...): never printed.
#[derive(Clone, Default)]
pub struct StoreOptions(pub Vec<(String, String)>);

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self.0.iter().map(|(k, _)| k.as_str()).collect();
        write!(f, "StoreOptions({keys:?})")
    }
}

/// The artifact store `config` names.
pub fn blob_store(config: &HttpConfig) -> std::io::Result<Arc<dyn blobs::BlobStore>> {
    Ok(match &config.artifacts_url {
        Some(url) => Arc::new(blobs::ObjectBlobs::from_url(
            url,
            &config.artifacts_options.0,
        )?),
        None => Arc::new(blobs::LocalBlobs::new(config.artifacts_dir.clone())),
    })
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<HttpConfig>,
    pub keys: Arc<KeyCache>,
    pub metrics: PrometheusHandle,
    /// Shares ledger batches between concurrent transfer requests.
    pub ledger: bursar_store::ledger::Batcher,
    /// The payment layer's shared HTTP executor.
    pub payments: Arc<payments::Payments>,
    /// Artifact files.
    pub blobs: Arc<dyn blobs::BlobStore>,
    /// Request counts of the routes callers use without an API key.
    pub limiter: Arc<fulfillment::RateLimiter>,
    pub openapi_json: Arc<String>,
    pub docs_page: Arc<ops::DocsPage>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bursar API",
        description = "Bursar: contract-to-cash. Customers, and every capability built on them.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "customers", description = "The people and businesses that pay"),
        (name = "catalog", description = "Products, prices, price books and negotiated price agreements"),
        (name = "discounts", description = "Coupons and promotion codes"),
        (name = "orders", description = "Quotes, orders, checkout, refunds"),
        (name = "payments", description = "Payment providers, their inbound webhooks, and the embedded test provider"),
        (name = "events", description = "Domain events, their deliveries to subscribers, and dead letters"),
        (name = "fulfillment", description = "Release artifacts, license keys, download links and update checks"),
        (name = "invoices", description = "Tax rates, invoices, their numbering and settings"),
        (name = "ledger", description = "Double-entry accounts and transfers"),
        (name = "wallets", description = "Party wallets and the recipes that move money through them"),
        (name = "webhooks", description = "Outbound webhook endpoints, signed per Standard Webhooks"),
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
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(customers::router())
        .merge(catalog::router())
        .merge(companies::router())
        .merge(contracts::router())
        .merge(discounts::router())
        .merge(quotes::router())
        .merge(orders::router())
        .merge(payments::router())
        .merge(payment_methods::router())
        .merge(events::router())
        .merge(emails::router())
        .merge(fulfillment::router())
        .merge(invoices::router())
        .merge(invoice_checkout::router())
        .merge(billing::router())
        .merge(ledger::router())
        .merge(metering::router())
        .merge(wallet::router())
        .merge(webhooks::router())
        .merge(ops::router())
        .split_for_parts()
}

/// The OpenAPI document of the whole API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().1
}

/// The whole application, ready to serve.
pub fn app(db: Db, config: HttpConfig) -> Router {
    app_with_state(db, config).0
}

/// The application and the state its handlers share (for background jobs that act as the API
/// does, such as the test provider's expiry of checkout sessions).
pub fn app_with_state(db: Db, config: HttpConfig) -> (Router, AppState) {
    let (router, spec) = routes();
    let spec_value = serde_json::to_value(&spec).unwrap_or_default();
    let ledger = bursar_store::ledger::Batcher::start(db.clone());
    let state = AppState {
        db,
        keys: Arc::new(KeyCache::new(config.api_key_cache_ttl)),
        ledger,
        payments: Arc::new(payments::Payments::new()),
        blobs: blob_store(&config).unwrap_or_else(|error| {
            // `bursar serve` checks the URL before it starts; a library caller gets the files
            // on local disk and this error in the log.
            tracing::error!(%error, "artifact store unusable; keeping artifacts on local disk");
            Arc::new(blobs::LocalBlobs::new(config.artifacts_dir.clone()))
        }),
        limiter: Arc::new(fulfillment::RateLimiter::default()),
        config: Arc::new(config),
        metrics: telemetry::prometheus(),
        openapi_json: Arc::new(serde_json::to_string_pretty(&spec_value).unwrap_or_default()),
        docs_page: Arc::new(ops::DocsPage::new(&spec_value)),
    };
    let router = router
        .merge(payments::pages())
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
                .layer(CatchPanicLayer::custom(|_| {
                    tracing::error!("BUG: a request handler panicked");
                    ApiError::internal().into_response()
                })),
        )
        .with_state(state.clone());
    (router, state)
}
