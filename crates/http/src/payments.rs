//! Payment providers: a workspace's connections (`/v1/payment_providers`), inbound provider
//! webhooks (`POST /v1/webhooks/{provider}`), and the embedded `test` provider.
//!
//! Inbound webhooks are verified before anything is read, then claimed by `(connection, event
//! id)` in the same transaction that applies their effects: a provider event takes effect once,
//! however often and however concurrently it arrives. The `test` provider delivers its outcomes
//! through the same [`ingest`] function, signed the way Stripe signs.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bursar_domain::id::ProviderId;
use bursar_store::documents;
use bursar_store::Tx;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal, QueryParams};
use crate::list::ListResponse;
use crate::livemode::Json;
use crate::AppState;
use bursar_core::payment_events::*;
use bursar_core::provider_connections::{
    check_changes, check_new, create, update, ConnectionChanges, ConnectionRequest,
};
use bursar_core::providers::*;
use bursar_core::test_provider::*;
use bursar_domain::payment_provider::*;

/// The largest inbound provider webhook read: providers' events are a few KiB, and the body
/// is read before its signature can be checked.
pub const INBOUND_WEBHOOK_BODY_LIMIT: usize = 256 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    let inbound = OpenApiRouter::new().routes(routes!(receive_webhook)).layer(
        axum::extract::DefaultBodyLimit::max(INBOUND_WEBHOOK_BODY_LIMIT),
    );
    OpenApiRouter::new()
        .routes(routes!(create_provider, list_providers))
        .routes(routes!(get_provider, update_provider))
        .merge(inbound)
        .routes(routes!(complete_test_session))
        .routes(routes!(complete_test_setup))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProviderRequest {
    /// `stripe`, `paypal` (or `test`, though every workspace has one already).
    #[schema(pattern = "^(stripe|paypal|test)$")]
    pub kind: String,
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: Option<String>,
    /// Stripe's secret key (`sk_…` or a restricted `rk_…`), or PayPal's client secret;
    /// required for both.
    pub secret_key: Option<String>,
    /// The endpoint's signing secrets (Stripe's `whsec_…`), or PayPal's signing certificates
    /// (PEM); several are accepted while rotating. Required for both.
    #[schema(value_type = Option<Vec<ProviderSigningSecret>>, min_items = 1, max_items = 5)]
    pub webhook_secrets: Option<Vec<String>>,
    /// Default `https://api.stripe.com` (`https://api-m.paypal.com`). An https URL to a public
    /// address (the server resolves its host).
    #[schema(format = "uri")]
    pub api_base: Option<String>,
    /// PayPal's REST app client id; required for `paypal`.
    #[schema(min_length = 1, max_length = 200)]
    pub client_id: Option<String>,
    /// The id of the PayPal webhook that sends Bursar's events; required for `paypal`.
    #[schema(min_length = 1, max_length = 200)]
    pub webhook_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProviderRequest {
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: Option<String>,
    pub secret_key: Option<String>,
    /// Replaces the accepted signing secrets.
    #[schema(value_type = Option<Vec<ProviderSigningSecret>>, min_items = 1, max_items = 5)]
    pub webhook_secrets: Option<Vec<String>>,
    /// As when created.
    #[schema(format = "uri")]
    pub api_base: Option<String>,
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
    let new = check_new(
        &state.outbound,
        ConnectionRequest {
            kind: body.kind,
            name: body.name,
            secret_key: body.secret_key,
            webhook_secrets: body.webhook_secrets,
            api_base: body.api_base,
            client_id: body.client_id,
            webhook_id: body.webhook_id,
        },
    )
    .await?;
    let sealer = state.db.sealer()?.clone();
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move { Ok((StatusCode::OK, create(&mut cx, &sealer, new).await?)) })
        })
        .await
}

/// Change a connection: its name, API key, accepted signing secrets (rotation) or API base.
#[utoipa::path(post, path = "/v1/payment_providers/{id}", tag = "payments", request_body = UpdateProviderRequest,
    params(("id" = ProviderId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = PaymentProviderObject), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn update_provider(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<UpdateProviderRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let changes = check_changes(
        &state.outbound,
        ConnectionChanges {
            name: body.name,
            secret_key: body.secret_key,
            webhook_secrets: body.webhook_secrets,
            api_base: body.api_base,
        },
    )
    .await?;
    let sealer = state.db.sealer()?.clone();
    let payments = state.payments.clone();
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let object = update(&mut cx, &sealer, &payments, &id, changes).await?;
                Ok((StatusCode::OK, object))
            })
        })
        .await
}

/// Retrieve a connection.
#[utoipa::path(get, path = "/v1/payment_providers/{id}", tag = "payments", params(("id" = ProviderId, Path)),
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
            Box::pin(
                async move { bursar_store::payment_providers::provider_by_id(tx, &lookup).await },
            )
        })
        .await?
        .filter(|r| r.workspace_id == principal.workspace_id)
        .ok_or_else(|| ApiError::not_found("payment_provider", &id))?;
    Ok(principal.json(decode_object(&row)?))
}

/// List the workspace's connections (the test provider appears once it was first used).
#[utoipa::path(get, path = "/v1/payment_providers", tag = "payments",
    params(("limit" = Option<i64>, Query), ("starting_after" = Option<ProviderId>, Query), ("ending_before" = Option<ProviderId>, Query)),
    responses((status = 200, body = ListResponse<PaymentProviderObject>)), security(("api_key" = [])))]
async fn list_providers(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<PaymentProviderObject>>, ApiError> {
    Ok(principal.json(
        crate::docs::list(
            &state,
            &principal,
            &query,
            documents::PAYMENT_PROVIDER,
            "/v1/payment_providers",
            "pp_",
            None,
        )
        .await?,
    ))
}

/// Receive a payment provider's webhook. `{provider}` is a connection id (`pp_…`), or `stripe` /
/// `test` when the server has exactly one connection of that kind. The signature is verified
/// first (missing, invalid or older than 5 minutes: 400, nothing stored); each provider event
/// id is processed once. Bodies over 256 KiB are refused (413).
#[utoipa::path(post, path = "/v1/webhooks/{provider}", tag = "payments",
    params(("provider" = String, Path), ("Stripe-Signature" = String, Header, description = "t=…,v1=…")),
    request_body(content = String, content_type = "application/json", description = "The provider's event, as sent"),
    responses((status = 200, body = WebhookReceipt), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody)))]
async fn receive_webhook(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<WebhookReceipt>, ApiError> {
    let headers = crate::extract::inbound_headers(&headers);
    Ok(axum::Json(ingest(&state, &provider, &headers, body).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteSetupRequest {
    /// Default `visa`.
    pub card: Option<TestCard>,
    /// Deliver `setup_intent.succeeded` now (default true).
    pub deliver: Option<bool>,
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
        .read(move |tx: &mut Tx| {
            Box::pin(async move { bursar_store::payment_providers::test_setup(tx, &lookup).await })
        })
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteSessionRequest {
    pub outcome: TestOutcome,
    /// Deliver the events now through the webhook path (default true). With `false` the signed
    /// events are only returned, for a test to deliver itself (late, twice, out of order).
    pub deliver: Option<bool>,
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

/// The base URL customers reach this server at: `HttpConfig::public_url`, else the request's
/// Host.
pub fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    state
        .app
        .base_url(headers.get("host").and_then(|h| h.to_str().ok()))
}
