//! Payment providers: a workspace's connections (`/v1/payment_providers`), inbound provider
//! webhooks (`POST /v1/webhooks/{provider}`), and the embedded `test` provider.
//!
//! Inbound webhooks are verified before anything is read, then claimed by `(connection, event
//! id)` in the same transaction that applies their effects: a provider event takes effect once,
//! however often and however concurrently it arrives. The `test` provider delivers its outcomes
//! through the same [`ingest`] function, signed the way Stripe signs.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Json;
use bursar_domain::event::{Cause, NewEvent};
use bursar_domain::id::{ProviderId, WorkspaceId};
use bursar_domain::time::Timestamp;
use bursar_domain::ValidationError;
use bursar_payments::executor::{ExecutorConfig, HttpExecutor};
use bursar_payments::stripe::{self, StripeConfig, StripeProvider};
use bursar_payments::{
    signature, CheckoutRequest, CheckoutSession, Headers, OffSessionCharge, PaymentProvider,
    PaymentState, PaymentStatus, ProviderError, RefundRequest, RefundResult, RefundStatus,
    SetupRequest, SetupSession, WebhookError,
};
use bursar_store::commerce::{self, ProviderRow, TestSession};
use bursar_store::{seal, Db, Tx};
use futures::future::BoxFuture;
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody, ErrorType};
use crate::extract::{Mutation, Principal, QueryParams};
use crate::list::ListResponse;
use crate::mutate::Context;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_provider, list_providers))
        .routes(routes!(get_provider, update_provider))
        .routes(routes!(receive_webhook))
        .routes(routes!(complete_test_session))
        .routes(routes!(complete_test_setup))
}

/// The test provider's hosted checkout page: plain routes, outside the API document.
pub fn pages() -> axum::Router<AppState> {
    axum::Router::new()
        .route(
            "/test-provider/checkout/{session}",
            axum::routing::get(checkout_page),
        )
        .route(
            "/test-provider/checkout/{session}/{action}",
            axum::routing::post(checkout_action),
        )
        .route("/test-provider/done", axum::routing::get(done_page))
        .route(
            "/test-provider/setup/{session}",
            axum::routing::get(setup_page),
        )
        .route(
            "/test-provider/setup/{session}/save",
            axum::routing::post(setup_save),
        )
}

/// What the payment layer shares across requests.
pub struct Payments {
    pub executor: HttpExecutor,
    /// Connections looked up recently, by selector: a checkout and a webhook need their
    /// connection on every request. Entries live [`CONNECTION_CACHE_TTL`]; this process drops
    /// them all when a connection changes, other processes see a change within the TTL.
    connections: std::sync::Mutex<HashMap<String, (std::time::Instant, ProviderRow)>>,
}

/// How long a looked-up connection is reused without reading it again.
pub const CONNECTION_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

impl Payments {
    pub fn new() -> Payments {
        let executor = HttpExecutor::new(ExecutorConfig::default()).unwrap_or_else(|e| {
            tracing::error!(error = %e, "provider HTTP client failed to build; using defaults");
            HttpExecutor::with_client(reqwest::Client::new(), ExecutorConfig::default())
        });
        Payments {
            executor,
            connections: Default::default(),
        }
    }

    fn cached(&self, key: &str) -> Option<ProviderRow> {
        let map = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .filter(|(at, _)| at.elapsed() < CONNECTION_CACHE_TTL)
            .map(|(_, row)| row.clone())
    }

    fn remember(&self, key: String, row: &ProviderRow) {
        let mut map = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(key, (std::time::Instant::now(), row.clone()));
    }

    fn forget_all(&self) {
        self.connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

impl Default for Payments {
    fn default() -> Self {
        Self::new()
    }
}

/// A connection to a payment provider as the API shows it; secrets never leave Bursar.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PaymentProviderObject {
    pub id: ProviderId,
    /// Always `payment_provider`.
    pub object: String,
    /// `test` or `stripe`.
    pub kind: String,
    pub name: String,
    /// Stripe's API base (tests point it at a local fake).
    pub api_base: Option<String>,
    /// Where the provider sends its webhooks.
    pub webhook_path: String,
    /// The last four characters of the secret API key.
    pub secret_key_last4: Option<String>,
    /// How many signing secrets are accepted (more than one while rotating).
    pub webhook_secrets: usize,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A usable connection: its row, the provider behind it, and its signing secrets.
pub struct Connection {
    pub row: ProviderRow,
    pub object: PaymentProviderObject,
    pub provider: Arc<dyn PaymentProvider>,
    pub secrets: Vec<String>,
}

fn decode_object(row: &ProviderRow) -> Result<PaymentProviderObject, ApiError> {
    serde_json::from_str(&row.body).map_err(|e| {
        tracing::error!(error = %e, "BUG: stored payment provider unreadable");
        ApiError::internal()
    })
}

fn random_token(bytes: usize) -> String {
    hex::encode(seal::random_bytes(bytes))
}

/// Builds the provider of a stored connection.
pub fn connect(state: &AppState, row: ProviderRow, base_url: &str) -> Result<Connection, ApiError> {
    let sealer = state.db.sealer()?;
    let secrets: Vec<String> = serde_json::from_str(&sealer.open(&row.webhook_secrets_sealed)?)
        .map_err(|_| ApiError::internal())?;
    let object = decode_object(&row)?;
    let provider: Arc<dyn PaymentProvider> = match row.kind.as_str() {
        "stripe" => {
            let secret_key = match &row.secret_key_sealed {
                Some(sealed) => sealer.open(sealed)?,
                None => String::new(),
            };
            let config = StripeConfig {
                secret_key,
                api_base: object
                    .api_base
                    .clone()
                    .unwrap_or_else(|| stripe::DEFAULT_API_BASE.to_owned()),
            };
            Arc::new(StripeProvider::new(config, state.payments.executor.clone()))
        }
        _ => Arc::new(TestProvider {
            db: state.db.clone(),
            workspace_id: row.workspace_id.clone(),
            provider_id: row.provider_id.clone(),
            base_url: base_url.trim_end_matches('/').to_owned(),
        }),
    };
    Ok(Connection {
        row,
        object,
        provider,
        secrets,
    })
}

/// The workspace's test provider, created on first use with a fresh signing secret.
async fn ensure_test_provider(
    tx: &mut Tx,
    sealer: &seal::Sealer,
    workspace_id: &WorkspaceId,
    now: Timestamp,
) -> Result<ProviderRow, ApiError> {
    // Concurrent first checkouts must not each create one.
    commerce::lock_workspace(tx, workspace_id).await?;
    if let Some(row) = commerce::providers_of_kind(tx, "test", Some(workspace_id), 1)
        .await?
        .pop()
    {
        return Ok(row);
    }
    let id = ProviderId::new();
    let secret = format!("whsec_{}", random_token(24));
    let object = PaymentProviderObject {
        id: id.clone(),
        object: "payment_provider".into(),
        kind: "test".into(),
        name: "Test provider".into(),
        api_base: None,
        webhook_path: format!("/v1/webhooks/{id}"),
        secret_key_last4: None,
        webhook_secrets: 1,
        created_at: now,
        updated_at: now,
    };
    let row = ProviderRow {
        workspace_id: workspace_id.clone(),
        provider_id: id.to_string(),
        kind: "test".into(),
        body: serde_json::to_string(&object).map_err(|_| ApiError::internal())?,
        secret_key_sealed: None,
        webhook_secrets_sealed: sealer
            .seal(&serde_json::to_string(&[secret]).map_err(|_| ApiError::internal())?)?,
    };
    commerce::insert_provider(tx, &row).await?;
    Ok(row)
}

/// The connection a checkout names: `test` (the default), `stripe` (the workspace's only Stripe
/// connection) or a connection id.
pub async fn resolve(
    state: &AppState,
    workspace_id: &WorkspaceId,
    selector: Option<&str>,
    base_url: &str,
) -> Result<Connection, ApiError> {
    let selector = selector.unwrap_or("test");
    let row = match find_connection(state, selector, Some(workspace_id)).await {
        Ok(row) => row,
        // Every workspace has a test provider, created on its first use.
        Err(error) if selector == "test" && error.status == StatusCode::NOT_FOUND => {
            let (ws, sealer, now) = (
                workspace_id.clone(),
                state.db.sealer()?.clone(),
                state.db.now(),
            );
            state
                .db
                .write(move |tx: &mut Tx| {
                    Box::pin(async move { ensure_test_provider(tx, &sealer, &ws, now).await })
                })
                .await?
        }
        Err(error) => return Err(error),
    };
    connect(state, row, base_url)
}

/// The one connection a selector names: a connection id (`pp_…`) or a kind (`stripe`,
/// `test`), within `workspace` when given (else server-wide, as inbound webhooks name no
/// workspace). Looked up through the connection cache; 404 when none, 400 when a kind is
/// ambiguous.
async fn find_connection(
    state: &AppState,
    selector: &str,
    workspace: Option<&WorkspaceId>,
) -> Result<ProviderRow, ApiError> {
    let cache_key = format!("{}|{selector}", workspace.map_or("*", WorkspaceId::as_str));
    if let Some(row) = state.payments.cached(&cache_key) {
        return Ok(row);
    }
    let lookup = selector.to_owned();
    let scope = workspace.cloned();
    let rows = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let rows = if lookup.starts_with("pp_") {
                    commerce::provider_by_id(tx, &lookup)
                        .await?
                        .into_iter()
                        .collect()
                } else {
                    commerce::providers_of_kind(tx, &lookup, scope.as_ref(), 2).await?
                };
                Ok::<Vec<ProviderRow>, bursar_store::StoreError>(rows)
            })
        })
        .await?;
    let mut rows: Vec<ProviderRow> = rows
        .into_iter()
        .filter(|r| workspace.is_none_or(|ws| &r.workspace_id == ws))
        .collect();
    match rows.len() {
        1 => {
            let row = rows.remove(0);
            state.payments.remember(cache_key, &row);
            Ok(row)
        }
        0 => Err(ApiError::not_found("payment_provider", selector).with_param("provider")),
        _ => Err(ApiError::invalid(
            "provider_ambiguous",
            Some("provider".into()),
            format!("Several {selector} connections exist: name one by id (pp_…)."),
        )),
    }
}

/// The base URL customers reach this server at: `HttpConfig::public_url`, else the request's
/// Host.
pub fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.config.public_url {
        return url.clone();
    }
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProviderRequest {
    /// `stripe` (or `test`, though every workspace has one already).
    pub kind: String,
    pub name: Option<String>,
    /// Stripe's secret key (`sk_…` or a restricted `rk_…`).
    pub secret_key: Option<String>,
    /// The endpoint's signing secrets (`whsec_…`); several are accepted while rotating.
    pub webhook_secrets: Option<Vec<String>>,
    /// Default `https://api.stripe.com`.
    pub api_base: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProviderRequest {
    pub name: Option<String>,
    pub secret_key: Option<String>,
    /// Replaces the accepted signing secrets.
    pub webhook_secrets: Option<Vec<String>>,
    pub api_base: Option<String>,
}

fn check_secrets(secrets: &[String]) -> Result<(), ValidationError> {
    if secrets.is_empty() || secrets.len() > 5 {
        return Err(ValidationError::invalid(
            "webhook_secrets",
            "Give 1 to 5 signing secrets.",
        ));
    }
    for (i, s) in secrets.iter().enumerate() {
        if s.len() < 16 || s.len() > 200 {
            return Err(ValidationError::invalid(
                format!("webhook_secrets[{i}]"),
                "A signing secret has 16 to 200 characters.",
            ));
        }
    }
    Ok(())
}

fn check_api_base(url: &str) -> Result<(), ValidationError> {
    if !(url.starts_with("https://")
        || url.starts_with("http://127.0.0.1")
        || url.starts_with("http://localhost"))
    {
        return Err(ValidationError::invalid(
            "api_base",
            "api_base must be https (or http on loopback, for tests).",
        ));
    }
    Ok(())
}

fn last4(secret: &str) -> String {
    secret
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect()
}

/// Connect a payment provider.
#[utoipa::path(post, path = "/v1/payment_providers", tag = "payments", request_body = CreateProviderRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = PaymentProviderObject), (status = 400, body = ErrorBody)), security(("api_key" = [])))]
async fn create_provider(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<CreateProviderRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    if body.kind != "stripe" && body.kind != "test" {
        return Err(ValidationError::invalid("kind", "kind must be stripe or test.").into());
    }
    if body.kind == "stripe" && body.secret_key.is_none() {
        return Err(ValidationError::missing("secret_key").into());
    }
    let secrets = match body.webhook_secrets {
        Some(secrets) => secrets,
        None if body.kind == "test" => vec![format!("whsec_{}", random_token(24))],
        None => return Err(ValidationError::missing("webhook_secrets").into()),
    };
    check_secrets(&secrets)?;
    if let Some(url) = &body.api_base {
        check_api_base(url)?;
    }
    let name = body
        .name
        .map(|n| bursar_domain::commerce::parse_text(&n, "name", 100))
        .transpose()?;
    let sealer = state.db.sealer()?.clone();
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let id = ProviderId::new();
                let object = PaymentProviderObject {
                    id: id.clone(),
                    object: "payment_provider".into(),
                    kind: body.kind.clone(),
                    name: name.unwrap_or_else(|| body.kind.clone()),
                    api_base: body.api_base,
                    webhook_path: format!("/v1/webhooks/{id}"),
                    secret_key_last4: body.secret_key.as_deref().map(last4),
                    webhook_secrets: secrets.len(),
                    created_at: cx.now,
                    updated_at: cx.now,
                };
                let row = ProviderRow {
                    workspace_id: cx.workspace_id.clone(),
                    provider_id: id.to_string(),
                    kind: body.kind,
                    body: serde_json::to_string(&object).map_err(|_| ApiError::internal())?,
                    secret_key_sealed: body
                        .secret_key
                        .as_deref()
                        .map(|k| sealer.seal(k))
                        .transpose()?,
                    webhook_secrets_sealed: sealer.seal(
                        &serde_json::to_string(&secrets).map_err(|_| ApiError::internal())?,
                    )?,
                };
                commerce::insert_provider(cx.tx, &row).await?;
                cx.emit(NewEvent::new(
                    "payment_provider.created",
                    "payment_provider",
                    id.as_str(),
                    json!({ "object": object }),
                ))
                .await?;
                Ok((StatusCode::OK, object))
            })
        })
        .await
}

/// Change a connection: its name, API key, accepted signing secrets (rotation) or API base.
#[utoipa::path(post, path = "/v1/payment_providers/{id}", tag = "payments", request_body = UpdateProviderRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = PaymentProviderObject), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn update_provider(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<UpdateProviderRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    if let Some(secrets) = &body.webhook_secrets {
        check_secrets(secrets)?;
    }
    if let Some(url) = &body.api_base {
        check_api_base(url)?;
    }
    let name = body
        .name
        .map(|n| bursar_domain::commerce::parse_text(&n, "name", 100))
        .transpose()?;
    let sealer = state.db.sealer()?.clone();
    let forget = state.payments.clone();
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let mut row = commerce::provider_by_id(cx.tx, &id)
                    .await?
                    .filter(|r| &r.workspace_id == cx.workspace_id)
                    .ok_or_else(|| ApiError::not_found("payment_provider", &id))?;
                let mut object = decode_object(&row)?;
                if let Some(name) = name {
                    object.name = name;
                }
                if let Some(key) = &body.secret_key {
                    row.secret_key_sealed = Some(sealer.seal(key)?);
                    object.secret_key_last4 = Some(last4(key));
                }
                if let Some(secrets) = &body.webhook_secrets {
                    row.webhook_secrets_sealed = sealer
                        .seal(&serde_json::to_string(secrets).map_err(|_| ApiError::internal())?)?;
                    object.webhook_secrets = secrets.len();
                }
                if body.api_base.is_some() {
                    object.api_base = body.api_base;
                }
                object.updated_at = cx.now;
                row.body = serde_json::to_string(&object).map_err(|_| ApiError::internal())?;
                commerce::update_provider(cx.tx, &row).await?;
                forget.forget_all();
                cx.emit(NewEvent::new(
                    "payment_provider.updated",
                    "payment_provider",
                    id.as_str(),
                    json!({ "object": object }),
                ))
                .await?;
                Ok((StatusCode::OK, object))
            })
        })
        .await
}

/// Retrieve a connection.
#[utoipa::path(get, path = "/v1/payment_providers/{id}", tag = "payments", params(("id" = String, Path)),
    responses((status = 200, body = PaymentProviderObject), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_provider(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<PaymentProviderObject>, ApiError> {
    let lookup = id.clone();
    let row = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { commerce::provider_by_id(tx, &lookup).await })
        })
        .await?
        .filter(|r| r.workspace_id == principal.workspace_id)
        .ok_or_else(|| ApiError::not_found("payment_provider", &id))?;
    Ok(Json(decode_object(&row)?))
}

/// List the workspace's connections (the test provider appears once it was first used).
#[utoipa::path(get, path = "/v1/payment_providers", tag = "payments",
    params(("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query), ("ending_before" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<PaymentProviderObject>)), security(("api_key" = [])))]
async fn list_providers(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<PaymentProviderObject>>, ApiError> {
    Ok(Json(
        crate::docs::list(
            &state,
            &principal,
            &query,
            commerce::PAYMENT_PROVIDER,
            "/v1/payment_providers",
            "pp_",
            None,
        )
        .await?,
    ))
}

/// The answer to a provider's webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookReceipt {
    pub received: bool,
    /// The provider's event id.
    pub event_id: String,
    /// False when this event had been received before (nothing happened again).
    pub first_delivery: bool,
    /// `applied`, `ignored` (with the reason in `detail`) or `unmatched`.
    pub outcome: String,
    pub detail: Option<String>,
    pub order_id: Option<String>,
}

fn webhook_error(error: WebhookError) -> ApiError {
    let code = match error {
        WebhookError::MissingSignature => "signature_missing",
        WebhookError::MalformedSignature(_) => "signature_malformed",
        WebhookError::BadSignature => "signature_invalid",
        WebhookError::Expired { .. } => "signature_expired",
        WebhookError::BadPayload(_) => "payload_invalid",
    };
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorType::InvalidRequestError,
        code,
        error.to_string(),
    )
}

/// Verifies, claims and applies one inbound provider webhook. Nothing of an unverified body is
/// read or stored.
pub async fn ingest(
    state: &AppState,
    selector: &str,
    headers: &Headers,
    body: Bytes,
) -> Result<WebhookReceipt, ApiError> {
    let row = find_connection(state, selector, None).await?;
    let connection = connect(state, row, "")?;
    let now = state.db.now();
    let event = connection
        .provider
        .parse_webhook(
            headers,
            &body,
            &connection.secrets,
            now.unix_micros() / 1_000_000,
        )
        .map_err(webhook_error)?;
    let payload = String::from_utf8_lossy(&body).into_owned();
    let workspace_id = connection.row.workspace_id.clone();
    let provider_id = connection.row.provider_id.clone();
    let kind = connection.row.kind.clone();
    let cause = Cause {
        request_id: None,
        actor: Some(format!("provider:{provider_id}")),
    };
    let receipt = state
        .db
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let first = commerce::claim_provider_event(
                    tx,
                    &provider_id,
                    &event.provider_event_id,
                    &workspace_id,
                    &event.provider_event_type,
                    &payload,
                    now.unix_micros(),
                )
                .await?;
                if !first {
                    return Ok::<_, ApiError>(WebhookReceipt {
                        received: true,
                        event_id: event.provider_event_id,
                        first_delivery: false,
                        outcome: "duplicate".into(),
                        detail: None,
                        order_id: event.order_id,
                    });
                }
                let applied = {
                    let mut cx = Context {
                        tx: &mut *tx,
                        workspace_id: &workspace_id,
                        now,
                        cause: &cause,
                    };
                    crate::orders::apply_payment_event(&mut cx, &provider_id, &kind, &event).await?
                };
                commerce::settle_provider_event(
                    tx,
                    &provider_id,
                    &event.provider_event_id,
                    applied.order_id.as_deref(),
                    applied.outcome,
                    applied.detail.as_deref(),
                )
                .await?;
                Ok(WebhookReceipt {
                    received: true,
                    event_id: event.provider_event_id,
                    first_delivery: true,
                    outcome: applied.outcome.to_owned(),
                    detail: applied.detail,
                    order_id: applied.order_id,
                })
            })
        })
        .await?;
    Ok(receipt)
}

/// Receive a payment provider's webhook. `{provider}` is a connection id (`pp_…`), or `stripe` /
/// `test` when the server has exactly one connection of that kind. The signature is verified
/// first (missing, invalid or older than 5 minutes: 400, nothing stored); each provider event
/// id is processed once.
#[utoipa::path(post, path = "/v1/webhooks/{provider}", tag = "payments",
    params(("provider" = String, Path), ("Stripe-Signature" = String, Header, description = "t=…,v1=…")),
    request_body(content = String, content_type = "application/json", description = "The provider's event, as sent"),
    responses((status = 200, body = WebhookReceipt), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn receive_webhook(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookReceipt>, ApiError> {
    let headers: Headers = headers
        .iter()
        .filter_map(|(name, value)| {
            Some((
                name.as_str().to_ascii_lowercase(),
                value.to_str().ok()?.to_owned(),
            ))
        })
        .collect();
    Ok(Json(ingest(&state, &provider, &headers, body).await?))
}

/// The embedded test provider: checkout sessions kept in Bursar's database, outcomes chosen on
/// its checkout page or through the API, delivered as Stripe-format signed webhooks.
pub struct TestProvider {
    db: Db,
    workspace_id: WorkspaceId,
    provider_id: String,
    base_url: String,
}

impl PaymentProvider for TestProvider {
    fn kind(&self) -> &'static str {
        "test"
    }

    fn create_checkout<'a>(
        &'a self,
        request: &'a CheckoutRequest,
    ) -> BoxFuture<'a, Result<CheckoutSession, ProviderError>> {
        async move {
            let session = TestSession {
                session_id: format!("cs_test_{}", random_token(16)),
                workspace_id: self.workspace_id.clone(),
                provider_id: self.provider_id.clone(),
                order_id: request.order_id.clone(),
                payment_id: format!("pi_test_{}", random_token(12)),
                amount: request.amount,
                currency: request.currency.clone(),
                customer_email: request.customer_email.clone(),
                success_url: request.success_url.clone(),
                cancel_url: request.cancel_url.clone(),
                status: "open".into(),
                expires_at: request.expires_at,
                created_at: self.db.now().unix_micros(),
            };
            let stored = session.clone();
            self.db
                .write(move |tx: &mut Tx| {
                    Box::pin(async move { commerce::insert_test_session(tx, &stored).await })
                })
                .await
                .map_err(|e| ProviderError::Unavailable(e.to_string()))?;
            Ok(CheckoutSession {
                url: format!(
                    "{}/test-provider/checkout/{}",
                    self.base_url, session.session_id
                ),
                id: session.session_id,
                payment_id: Some(session.payment_id),
                expires_at: session.expires_at,
            })
        }
        .boxed()
    }

    fn refund<'a>(
        &'a self,
        request: &'a RefundRequest,
    ) -> BoxFuture<'a, Result<RefundResult, ProviderError>> {
        async move {
            let payment = self.payment(&request.payment_id).await?;
            if payment.status != PaymentStatus::Succeeded {
                return Err(ProviderError::Refused {
                    status: 400,
                    code: "charge_not_refundable".into(),
                    message: format!("Payment {} has not succeeded.", request.payment_id),
                });
            }
            // Deterministic per Bursar refund: a retried refund is the same refund.
            let digest = bursar_store::sha256_hex(request.refund_id.as_bytes());
            Ok(RefundResult {
                id: format!("re_test_{}", &digest[..24]),
                status: RefundStatus::Succeeded,
                amount: request.amount,
            })
        }
        .boxed()
    }

    fn payment<'a>(
        &'a self,
        payment_id: &'a str,
    ) -> BoxFuture<'a, Result<PaymentState, ProviderError>> {
        async move {
            let id = payment_id.to_owned();
            let session = self
                .db
                .read(move |tx: &mut Tx| {
                    Box::pin(async move { commerce::test_session(tx, "payment_id", &id).await })
                })
                .await
                .map_err(|e| ProviderError::Unavailable(e.to_string()))?
                .ok_or_else(|| ProviderError::Refused {
                    status: 404,
                    code: "resource_missing".into(),
                    message: format!("No such payment: {payment_id}"),
                })?;
            let status = match session.status.as_str() {
                "complete" => PaymentStatus::Succeeded,
                "processing" => PaymentStatus::Processing,
                "expired" => PaymentStatus::Canceled,
                _ => PaymentStatus::Open,
            };
            let received = if status == PaymentStatus::Succeeded {
                session.amount
            } else {
                0
            };
            Ok(PaymentState {
                id: session.payment_id,
                status,
                amount: session.amount,
                amount_received: received,
                currency: session.currency,
                order_id: Some(session.order_id),
                last_error: None,
            })
        }
        .boxed()
    }

    fn create_setup<'a>(
        &'a self,
        request: &'a SetupRequest,
    ) -> BoxFuture<'a, Result<SetupSession, ProviderError>> {
        async move {
            let setup = commerce::TestSetup {
                session_id: format!("cs_test_setup_{}", random_token(16)),
                workspace_id: self.workspace_id.clone(),
                provider_id: self.provider_id.clone(),
                customer_id: request.customer_id.clone(),
                provider_customer_id: request
                    .provider_customer
                    .clone()
                    .unwrap_or_else(|| format!("cus_test_{}", random_token(8))),
                success_url: request.success_url.clone(),
                status: "open".into(),
                created_at: self.db.now().unix_micros(),
            };
            let stored = setup.clone();
            self.db
                .write(move |tx: &mut Tx| {
                    Box::pin(async move { commerce::insert_test_setup(tx, &stored).await })
                })
                .await
                .map_err(|e| ProviderError::Unavailable(e.to_string()))?;
            Ok(SetupSession {
                url: format!("{}/test-provider/setup/{}", self.base_url, setup.session_id),
                id: setup.session_id,
                provider_customer: setup.provider_customer_id,
            })
        }
        .boxed()
    }

    fn charge_saved<'a>(
        &'a self,
        request: &'a OffSessionCharge,
    ) -> BoxFuture<'a, Result<PaymentState, ProviderError>> {
        async move {
            let card = TestCard::of_method(&request.payment_method).ok_or_else(|| {
                ProviderError::Refused {
                    status: 400,
                    code: "resource_missing".into(),
                    message: format!("No such payment method: {}", request.payment_method),
                }
            })?;
            // Deterministic per attempt: a retried charge is the same payment.
            let digest = bursar_store::sha256_hex(request.attempt_id.as_bytes());
            let payment_id = format!("pi_test_{}", &digest[..24]);
            let (status, last_error) = match card {
                TestCard::Visa => (PaymentStatus::Succeeded, None),
                TestCard::Declined => (PaymentStatus::Failed, Some("card_declined".to_owned())),
                TestCard::AuthenticationRequired => (
                    PaymentStatus::Open,
                    Some("authentication_required".to_owned()),
                ),
            };
            if status == PaymentStatus::Succeeded {
                // The provider's record of the payment, so it can be refunded later.
                let session = TestSession {
                    session_id: format!("cs_test_offsession_{}", &digest[..24]),
                    workspace_id: self.workspace_id.clone(),
                    provider_id: self.provider_id.clone(),
                    order_id: request.order_id.clone(),
                    payment_id: payment_id.clone(),
                    amount: request.amount,
                    currency: request.currency.clone(),
                    customer_email: None,
                    success_url: String::new(),
                    cancel_url: String::new(),
                    status: "complete".into(),
                    expires_at: 0,
                    created_at: self.db.now().unix_micros(),
                };
                self.db
                    .write(move |tx: &mut Tx| {
                        Box::pin(async move {
                            if commerce::test_session(tx, "session_id", &session.session_id)
                                .await?
                                .is_none()
                            {
                                commerce::insert_test_session(tx, &session).await?;
                            }
                            Ok::<_, bursar_store::StoreError>(())
                        })
                    })
                    .await
                    .map_err(|e| ProviderError::Unavailable(e.to_string()))?;
            }
            Ok(PaymentState {
                id: payment_id,
                status,
                amount: request.amount,
                amount_received: if status == PaymentStatus::Succeeded {
                    request.amount
                } else {
                    0
                },
                currency: request.currency.clone(),
                order_id: Some(request.order_id.clone()),
                last_error,
            })
        }
        .boxed()
    }

    fn parse_webhook(
        &self,
        headers: &Headers,
        body: &[u8],
        secrets: &[String],
        now: i64,
    ) -> Result<bursar_payments::PaymentEvent, WebhookError> {
        signature::verify(
            headers.get(signature::HEADER).map(String::as_str),
            body,
            secrets,
            now,
            signature::TOLERANCE_SECONDS,
        )?;
        stripe::parse_event(body)
    }
}

/// The cards a person can save on the test provider's setup page, named like Stripe's test
/// cards: the saved method's id says how off-session charges of it behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TestCard {
    /// Charges succeed.
    Visa,
    /// Charges are declined (`card_declined`).
    Declined,
    /// Charges need the customer to authenticate (`authentication_required`).
    AuthenticationRequired,
}

impl TestCard {
    fn slug(self) -> &'static str {
        match self {
            TestCard::Visa => "visa",
            TestCard::Declined => "declined",
            TestCard::AuthenticationRequired => "authreq",
        }
    }

    fn of_method(method: &str) -> Option<TestCard> {
        let rest = method.strip_prefix("pm_test_")?;
        [
            TestCard::Visa,
            TestCard::Declined,
            TestCard::AuthenticationRequired,
        ]
        .into_iter()
        .find(|card| rest.starts_with(&format!("{}_", card.slug())))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteSetupRequest {
    /// Default `visa`.
    pub card: Option<TestCard>,
    /// Deliver `setup_intent.succeeded` now (default true).
    pub deliver: Option<bool>,
}

/// Saves a card on a test setup session, once, and returns (and by default delivers) the
/// signed `setup_intent.succeeded` event.
pub async fn complete_setup(
    state: &AppState,
    session_id: &str,
    card: TestCard,
    deliver: bool,
) -> Result<CompleteSessionResponse, ApiError> {
    let id = session_id.to_owned();
    let setup = state
        .db
        .read(move |tx: &mut Tx| Box::pin(async move { commerce::test_setup(tx, &id).await }))
        .await?
        .ok_or_else(|| ApiError::not_found("setup_session", session_id))?;
    let sid = setup.session_id.clone();
    let moved = state
        .db
        .write(move |tx: &mut Tx| {
            Box::pin(
                async move { commerce::set_test_setup_status(tx, &sid, "open", "complete").await },
            )
        })
        .await?;
    if !moved {
        return Err(ApiError::state(
            "setup_session_state_invalid",
            "complete",
            "This setup session has already saved a card.",
        ));
    }
    let now = state.db.now().unix_micros() / 1_000_000;
    let method = format!("pm_test_{}_{}", card.slug(), random_token(8));
    let object = json!({
        "id": format!("seti_test_{}", random_token(12)), "object": "setup_intent", "status": "succeeded",
        "customer": setup.provider_customer_id, "payment_method": method, "usage": "off_session",
        "metadata": { "bursar_customer_id": setup.customer_id }, "livemode": false, "created": now,
    });
    let events = sign_events(
        state,
        &setup.provider_id,
        vec![("setup_intent.succeeded", object)],
        now,
    )
    .await?;
    let receipts = if deliver {
        deliver_events(state, &setup.provider_id, &events).await?
    } else {
        Vec::new()
    };
    Ok(CompleteSessionResponse {
        session_id: setup.session_id,
        status: "complete".into(),
        events,
        receipts,
    })
}

/// Signs events with the connection's first secret, as Stripe would send them.
async fn sign_events(
    state: &AppState,
    provider_id: &str,
    objects: Vec<(&'static str, serde_json::Value)>,
    now_seconds: i64,
) -> Result<Vec<SignedEvent>, ApiError> {
    let row = find_connection(state, provider_id, None).await?;
    let connection = connect(state, row, "")?;
    let secret = connection
        .secrets
        .first()
        .cloned()
        .ok_or_else(ApiError::internal)?;
    Ok(objects
        .into_iter()
        .map(|(event_type, object)| {
            let id = format!("evt_test_{}", random_token(12));
            let payload = stripe::event_json(&id, event_type, now_seconds, object).to_string();
            let signature = signature::header(&[secret.as_str()], now_seconds, payload.as_bytes());
            SignedEvent {
                id,
                event_type: event_type.to_owned(),
                payload,
                signature,
                webhook_path: format!("/v1/webhooks/{provider_id}"),
            }
        })
        .collect())
}

/// Delivers signed events through the webhook path, in order.
async fn deliver_events(
    state: &AppState,
    provider_id: &str,
    events: &[SignedEvent],
) -> Result<Vec<WebhookReceipt>, ApiError> {
    let mut receipts = Vec::new();
    for event in events {
        let headers: Headers = [(signature::HEADER.to_owned(), event.signature.clone())]
            .into_iter()
            .collect();
        receipts.push(
            ingest(
                state,
                provider_id,
                &headers,
                Bytes::from(event.payload.clone()),
            )
            .await?,
        );
    }
    Ok(receipts)
}

/// Save a card on a test-provider setup session (what a person would do on its page).
#[utoipa::path(post, path = "/v1/test_provider/setup_sessions/{id}/complete", tag = "payments",
    request_body = CompleteSetupRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = CompleteSessionResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn complete_test_setup(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<CompleteSetupRequest>,
) -> Result<Response, ApiError> {
    let lookup = id.clone();
    let owner = state
        .db
        .read(move |tx: &mut Tx| Box::pin(async move { commerce::test_setup(tx, &lookup).await }))
        .await?
        .map(|s| s.workspace_id);
    if owner.as_ref() != Some(&principal.workspace_id) {
        return Err(ApiError::not_found("setup_session", &id));
    }
    let body = request.body;
    state
        .idempotent(&principal, request.idempotency, async {
            complete_setup(
                &state,
                &id,
                body.card.unwrap_or(TestCard::Visa),
                body.deliver.unwrap_or(true),
            )
            .await
        })
        .await
}

async fn setup_page(Path(session_id): Path<String>) -> Html<String> {
    let id = escape(&session_id);
    Html(format!(
        "<!doctype html><html><head><meta charset=utf-8><title>Bursar test provider: save a card</title></head>\
         <body style=\"font-family:system-ui;max-width:28rem;margin:4rem auto\"><p>Bursar test provider — no real card.</p>\
         <h1>Save a card for later payments</h1>\
         <form method=post action=\"/test-provider/setup/{id}/save\"><button>Save card</button></form></body></html>"
    ))
}

async fn setup_save(State(state): State<AppState>, Path(session_id): Path<String>) -> Response {
    let id = session_id.clone();
    let setup = state
        .db
        .read(move |tx: &mut Tx| Box::pin(async move { commerce::test_setup(tx, &id).await }))
        .await;
    let Ok(Some(setup)) = setup else {
        return (
            StatusCode::NOT_FOUND,
            Html("<h1>No such setup session</h1>".to_owned()),
        )
            .into_response();
    };
    match complete_setup(&state, &session_id, TestCard::Visa, true).await {
        Ok(_) => Redirect::to(&setup.success_url).into_response(),
        Err(error) => (
            error.status,
            Html(format!("<h1>{}</h1>", escape(&error.message))),
        )
            .into_response(),
    }
}

/// Expires the test provider's open checkout sessions whose time is up, as Stripe does after
/// 24 hours: each delivers `checkout.session.expired`. Returns how many expired.
pub async fn expire_due_sessions(state: &AppState) -> Result<usize, ApiError> {
    let now = state.db.now().unix_micros() / 1_000_000;
    let due = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { commerce::due_test_sessions(tx, now, 100).await })
        })
        .await?;
    let mut expired = 0;
    for session in due {
        match complete_session(state, &session, TestOutcome::Expired, true).await {
            Ok(_) => expired += 1,
            // Paid or expired meanwhile: nothing to do.
            Err(error) if error.status == StatusCode::CONFLICT => {}
            Err(error) => return Err(error),
        }
    }
    Ok(expired)
}

/// A test checkout session by id.
async fn load_test_session(state: &AppState, id: &str) -> Result<Option<TestSession>, ApiError> {
    let id = id.to_owned();
    Ok(state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { commerce::test_session(tx, "session_id", &id).await })
        })
        .await?)
}

/// The fee the test provider charges, as a card processor would: 2.9% + 30 minor units,
/// rounded half up.
pub fn test_fee(amount: i64) -> i64 {
    (amount.saturating_mul(29) + 500) / 1000 + 30
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TestOutcome {
    /// The card is charged: `checkout.session.completed` and `payment_intent.succeeded`.
    Succeeded,
    /// The card is declined: `payment_intent.payment_failed`; the session stays open.
    Declined,
    /// An asynchronous method: `checkout.session.completed` unpaid, `payment_intent.processing`.
    Processing,
    /// Nobody paid: `checkout.session.expired`.
    Expired,
    /// The card holder disputes the paid charge: `charge.dispute.created` (amount and a 15.00
    /// fee withdrawn).
    Disputed,
    /// The dispute is decided for the merchant: `charge.dispute.closed`, status `won`.
    DisputeWon,
    /// The dispute is lost: `charge.dispute.closed`, status `lost`.
    DisputeLost,
}

/// What the test provider charges for a dispute, like Stripe's 15.00.
pub const TEST_DISPUTE_FEE: i64 = 1500;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteSessionRequest {
    pub outcome: TestOutcome,
    /// Deliver the events now through the webhook path (default true). With `false` the signed
    /// events are only returned, for a test to deliver itself (late, twice, out of order).
    pub deliver: Option<bool>,
}

/// One signed event of the test provider, exactly as it would be POSTed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SignedEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// The raw body.
    pub payload: String,
    /// The `Stripe-Signature` header value.
    pub signature: String,
    /// Where it is delivered.
    pub webhook_path: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompleteSessionResponse {
    pub session_id: String,
    pub status: String,
    pub events: Vec<SignedEvent>,
    /// The receipts of the delivered events (empty when not delivered).
    pub receipts: Vec<WebhookReceipt>,
}

fn stripe_objects(
    session: &TestSession,
    outcome: TestOutcome,
    now: i64,
) -> Vec<(&'static str, serde_json::Value)> {
    let currency = session.currency.to_ascii_lowercase();
    let metadata = json!({ stripe::ORDER_ID_KEY: session.order_id });
    let checkout = |payment_status: &str, status: &str| {
        json!({
            "id": session.session_id, "object": "checkout.session", "mode": "payment",
            "amount_total": session.amount, "amount_subtotal": session.amount, "currency": currency,
            "payment_status": payment_status, "status": status, "payment_intent": session.payment_id,
            "client_reference_id": session.order_id, "metadata": metadata, "customer": null,
            "customer_details": { "email": session.customer_email }, "expires_at": session.expires_at,
            "success_url": session.success_url, "cancel_url": session.cancel_url, "livemode": false, "created": now,
        })
    };
    let intent = |status: &str, received: i64, extra: serde_json::Value| {
        let mut object = json!({
            "id": session.payment_id, "object": "payment_intent", "amount": session.amount,
            "amount_received": received, "currency": currency, "status": status, "metadata": metadata,
            "payment_method": "pm_card_visa", "customer": null, "livemode": false, "created": now,
            "capture_method": "automatic", "last_payment_error": null, "latest_charge": null,
        });
        if let (Some(object), Some(extra)) = (object.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                object.insert(k.clone(), v.clone());
            }
        }
        object
    };
    match outcome {
        TestOutcome::Succeeded => {
            let fee = test_fee(session.amount);
            let charge = json!({
                "id": format!("ch_{}", &session.payment_id[3..]), "object": "charge", "amount": session.amount,
                "balance_transaction": { "id": format!("txn_{}", &session.payment_id[3..]), "object": "balance_transaction",
                    "amount": session.amount, "fee": fee, "net": session.amount - fee, "currency": currency },
            });
            let mut events = Vec::new();
            if session.status == "processing" {
                events.push((
                    "checkout.session.async_payment_succeeded",
                    checkout("paid", "complete"),
                ));
            } else {
                events.push(("checkout.session.completed", checkout("paid", "complete")));
            }
            events.push((
                "payment_intent.succeeded",
                intent(
                    "succeeded",
                    session.amount,
                    json!({ "latest_charge": charge }),
                ),
            ));
            events
        }
        TestOutcome::Declined => vec![(
            "payment_intent.payment_failed",
            intent(
                "requires_payment_method",
                0,
                json!({ "last_payment_error": { "type": "card_error", "code": "card_declined", "decline_code": "generic_decline", "message": "Your card was declined." } }),
            ),
        )],
        TestOutcome::Processing => vec![
            ("checkout.session.completed", checkout("unpaid", "complete")),
            (
                "payment_intent.processing",
                intent("processing", 0, json!({})),
            ),
        ],
        TestOutcome::Expired => vec![("checkout.session.expired", checkout("unpaid", "expired"))],
        TestOutcome::Disputed | TestOutcome::DisputeWon | TestOutcome::DisputeLost => {
            let (event_type, status, balance) = match outcome {
                TestOutcome::Disputed => (
                    "charge.dispute.created",
                    "needs_response",
                    json!([{ "object": "balance_transaction", "amount": -session.amount, "fee": TEST_DISPUTE_FEE }]),
                ),
                TestOutcome::DisputeWon => ("charge.dispute.closed", "won", json!([])),
                _ => ("charge.dispute.closed", "lost", json!([])),
            };
            vec![(
                event_type,
                json!({
                    "id": format!("dp_{}", &session.payment_id[3..]), "object": "dispute", "amount": session.amount,
                    "currency": currency, "charge": format!("ch_{}", &session.payment_id[3..]), "payment_intent": session.payment_id,
                    "reason": "fraudulent", "status": status, "balance_transactions": balance, "metadata": {}, "livemode": false, "created": now,
                }),
            )]
        }
    }
}

/// Moves a test session to an outcome, once (concurrent "Pay" clicks produce one payment), and
/// returns the signed events; delivers them through [`ingest`] when asked.
pub async fn complete_session(
    state: &AppState,
    session_id: &str,
    outcome: TestOutcome,
    deliver: bool,
) -> Result<CompleteSessionResponse, ApiError> {
    let session = load_test_session(state, session_id)
        .await?
        .ok_or_else(|| ApiError::not_found("checkout_session", session_id))?;
    let (from, to): (&[&str], &str) = match outcome {
        TestOutcome::Succeeded => (&["open", "processing"], "complete"),
        TestOutcome::Declined => (&["open"], "open"),
        TestOutcome::Processing => (&["open"], "processing"),
        TestOutcome::Expired => (&["open"], "expired"),
        TestOutcome::Disputed => (&["complete"], "disputed"),
        TestOutcome::DisputeWon => (&["disputed"], "complete"),
        TestOutcome::DisputeLost => (&["disputed"], "dispute_lost"),
    };
    if !from.contains(&session.status.as_str()) {
        return Err(ApiError::state(
            "checkout_session_state_invalid",
            &session.status,
            format!(
                "A checkout session that is {} cannot be {}.",
                session.status, to
            ),
        ));
    }
    if to != session.status {
        let (sid, old, new) = (
            session.session_id.clone(),
            session.status.clone(),
            to.to_owned(),
        );
        let moved = state
            .db
            .write(move |tx: &mut Tx| {
                Box::pin(
                    async move { commerce::set_test_session_status(tx, &sid, &old, &new).await },
                )
            })
            .await?;
        if !moved {
            return Err(ApiError::state(
                "checkout_session_state_invalid",
                "changed",
                "The session changed concurrently; read it again.",
            ));
        }
    }
    let provider_id = session.provider_id.clone();
    let now_seconds = state.db.now().unix_micros() / 1_000_000;
    let objects = stripe_objects(&session, outcome, now_seconds);
    let events = sign_events(state, &provider_id, objects, now_seconds).await?;
    let receipts = if deliver {
        deliver_events(state, &provider_id, &events).await?
    } else {
        Vec::new()
    };
    Ok(CompleteSessionResponse {
        session_id: session.session_id,
        status: to.to_owned(),
        events,
        receipts,
    })
}

/// Script the outcome of a test-provider checkout session (what a person would do on its
/// page). The events are signed as Stripe signs and delivered through `/v1/webhooks/{provider}`'s
/// path, unless `deliver` is false.
#[utoipa::path(post, path = "/v1/test_provider/checkout_sessions/{id}/complete", tag = "payments",
    request_body = CompleteSessionRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = CompleteSessionResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn complete_test_session(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<CompleteSessionRequest>,
) -> Result<Response, ApiError> {
    // A session of another workspace is not found.
    let owner = load_test_session(&state, &id)
        .await?
        .map(|s| s.workspace_id);
    if owner.as_ref() != Some(&principal.workspace_id) {
        return Err(ApiError::not_found("checkout_session", &id));
    }
    let body = request.body;
    state
        .idempotent(&principal, request.idempotency, async {
            complete_session(&state, &id, body.outcome, body.deliver.unwrap_or(true)).await
        })
        .await
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn checkout_page(State(state): State<AppState>, Path(session_id): Path<String>) -> Response {
    let Ok(Some(session)) = load_test_session(&state, &session_id).await else {
        return (
            StatusCode::NOT_FOUND,
            Html("<h1>No such checkout session</h1>".to_owned()),
        )
            .into_response();
    };
    let amount = bursar_domain::money::Currency::from_code(&session.currency).map_or_else(
        || format!("{} {}", session.amount, session.currency),
        |c| c.format(session.amount),
    );
    let id = escape(&session.session_id);
    let body = format!(
        "<!doctype html><html><head><meta charset=utf-8><title>Bursar test checkout</title>\
         <style>body{{font-family:system-ui;max-width:28rem;margin:4rem auto;padding:0 1rem}}\
         .total{{font-size:2rem;margin:1rem 0}}button{{font-size:1.1rem;padding:.6rem 1.4rem;margin-right:.6rem}}</style></head>\
         <body><p>Bursar test provider — no real money moves.</p><h1>Pay order {order}</h1>\
         <p class=total>{amount}</p><p>Status: {status}</p>\
         <form method=post action=\"/test-provider/checkout/{id}/pay\" style=display:inline><button>Pay</button></form>\
         <form method=post action=\"/test-provider/checkout/{id}/decline\" style=display:inline><button>Decline</button></form>\
         </body></html>",
        order = escape(&session.order_id),
        status = escape(&session.status),
    );
    Html(body).into_response()
}

async fn done_page() -> Html<&'static str> {
    Html(
        "<!doctype html><html><head><meta charset=utf-8><title>Bursar test checkout</title></head>\
          <body><h1>Done</h1><p>The test provider has told Bursar the outcome.</p></body></html>",
    )
}

async fn checkout_action(
    State(state): State<AppState>,
    Path((session_id, action)): Path<(String, String)>,
) -> Response {
    let outcome = match action.as_str() {
        "pay" => TestOutcome::Succeeded,
        "decline" => TestOutcome::Declined,
        _ => {
            return (
                StatusCode::NOT_FOUND,
                Html("<h1>No such action</h1>".to_owned()),
            )
                .into_response()
        }
    };
    let Ok(Some(session)) = load_test_session(&state, &session_id).await else {
        return (
            StatusCode::NOT_FOUND,
            Html("<h1>No such checkout session</h1>".to_owned()),
        )
            .into_response();
    };
    match complete_session(&state, &session_id, outcome, true).await {
        Ok(_) if outcome == TestOutcome::Succeeded => {
            Redirect::to(&session.success_url).into_response()
        }
        Ok(_) => Redirect::to(&format!("/test-provider/checkout/{session_id}")).into_response(),
        Err(error) => (
            error.status,
            Html(format!("<h1>{}</h1>", escape(&error.message))),
        )
            .into_response(),
    }
}

/// Metadata Bursar attaches to provider objects.
pub fn order_metadata(order_id: &str) -> BTreeMap<String, String> {
    [(stripe::ORDER_ID_KEY.to_owned(), order_id.to_owned())]
        .into_iter()
        .collect()
}
