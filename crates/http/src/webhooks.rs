//! Outbound webhook endpoints: register, change, rotate the secret, re-enable, read the log.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bursar_core::webhooks::{self as endpoints, parse_endpoint_id, EndpointChanges, NewEndpoint};
use bursar_domain::id::WebhookEndpointId;
use bursar_domain::webhook::{
    Attempt, EndpointObject, EventFilter, EventTypeFilter, WebhookSecretText,
};
use bursar_store::{webhooks, Tx};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal, QueryParams};
use crate::livemode::Json;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_endpoint, list_endpoints))
        .routes(routes!(get_endpoint, update_endpoint))
        .routes(routes!(rotate_secret))
        .routes(routes!(enable_endpoint))
        .routes(routes!(list_attempts))
        .routes(routes!(endpoint_timeline))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpointRequest {
    /// An absolute `http(s)` URL of at most 2048 bytes, without white space, to a public
    /// address (the server resolves its host and refuses private and loopback addresses).
    #[schema(
        example = "https://example.com/webhooks/bursar",
        format = "uri",
        max_length = 2048,
        pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://[^/\s]\S*$"
    )]
    pub url: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Event types to receive; absent or empty: all.
    #[serde(default)]
    #[schema(value_type = Option<Vec<EventTypeFilter>>, max_items = 100)]
    pub event_types: Option<Vec<String>>,
    /// Bring your own secret; absent: one is generated.
    #[serde(default)]
    #[schema(value_type = Option<WebhookSecretText>)]
    pub secret: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpointRequest {
    /// As when created.
    #[serde(default)]
    #[schema(
        format = "uri",
        max_length = 2048,
        pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://[^/\s]\S*$"
    )]
    pub url: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Replaces the event types; empty: all.
    #[serde(default)]
    #[schema(value_type = Option<Vec<EventTypeFilter>>, max_items = 100)]
    pub event_types: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretRequest {
    /// The new secret; absent: one is generated.
    #[serde(default)]
    #[schema(value_type = Option<WebhookSecretText>)]
    pub secret: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnableRequest {}

/// Register an endpoint. The response carries its signing secret; keep it.
#[utoipa::path(
    post, path = "/v1/webhook_endpoints", tag = "webhooks",
    request_body = CreateEndpointRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 200, body = EndpointObject), (status = 400, body = ErrorBody)),
    security(("api_key" = []))
)]
async fn create_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<CreateEndpointRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let new = NewEndpoint {
        url: endpoints::check_url(&state.outbound, &body.url).await?,
        filter: EventFilter::parse(body.event_types.unwrap_or_default(), "event_types")?,
        description: body.description.unwrap_or_default(),
    };
    let secret = endpoints::sealed_secret(&state, body.secret.as_deref())?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                Ok((
                    StatusCode::OK,
                    endpoints::create(&mut cx, new, secret).await?,
                ))
            })
        })
        .await
}

/// List endpoints, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointList {
    /// Always `list`.
    pub object: &'static str,
    pub data: Vec<EndpointObject>,
}

#[utoipa::path(
    get, path = "/v1/webhook_endpoints", tag = "webhooks",
    params(("limit" = Option<i64>, Query, description = "1 to 100, default 100")),
    responses((status = 200, body = EndpointList), (status = 400, body = ErrorBody)),
    security(("api_key" = []))
)]
async fn list_endpoints(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<EndpointList>, ApiError> {
    let limit = crate::list::limit_param(&query, &["limit"])?;
    let workspace_id = principal.workspace_id.clone();
    let endpoints = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { webhooks::list(tx, &workspace_id, limit).await })
        })
        .await?;
    Ok(principal.json(EndpointList {
        object: "list",
        data: endpoints
            .iter()
            .map(|e| EndpointObject::new(e, None))
            .collect(),
    }))
}

/// Retrieve an endpoint.
#[utoipa::path(
    get, path = "/v1/webhook_endpoints/{id}", tag = "webhooks",
    params(("id" = WebhookEndpointId, Path, description = "The endpoint's id")),
    responses((status = 200, body = EndpointObject), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
async fn get_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<EndpointObject>, ApiError> {
    let id = parse_endpoint_id(&id)?;
    let workspace_id = principal.workspace_id.clone();
    let lookup = id.clone();
    let endpoint = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { webhooks::get(tx, &workspace_id, &lookup, false).await })
        })
        .await?
        .ok_or_else(|| ApiError::not_found("webhook endpoint", id.as_str()))?;
    Ok(principal.json(EndpointObject::new(&endpoint, None)))
}

/// Change an endpoint's URL, description or event types.
#[utoipa::path(
    post, path = "/v1/webhook_endpoints/{id}", tag = "webhooks",
    request_body = UpdateEndpointRequest,
    params(
        ("id" = WebhookEndpointId, Path, description = "The endpoint's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    responses((status = 200, body = EndpointObject), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
async fn update_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<UpdateEndpointRequest>,
) -> Result<Response, ApiError> {
    let id = parse_endpoint_id(&id)?;
    let body = request.body;
    let changes = EndpointChanges {
        url: match body.url {
            Some(url) => Some(endpoints::check_url(&state.outbound, &url).await?),
            None => None,
        },
        filter: body
            .event_types
            .map(|t| EventFilter::parse(t, "event_types"))
            .transpose()?,
        description: body.description,
    };
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                Ok((
                    StatusCode::OK,
                    endpoints::update(&mut cx, &id, changes).await?,
                ))
            })
        })
        .await
}

/// Rotate the signing secret. The previous secret keeps signing (a second signature in
/// `webhook-signature`) for 24 hours, so receivers can switch without missing a delivery.
#[utoipa::path(
    post, path = "/v1/webhook_endpoints/{id}/rotate_secret", tag = "webhooks",
    request_body = RotateSecretRequest,
    params(
        ("id" = WebhookEndpointId, Path, description = "The endpoint's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    responses((status = 200, body = EndpointObject), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
async fn rotate_secret(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<RotateSecretRequest>,
) -> Result<Response, ApiError> {
    let id = parse_endpoint_id(&id)?;
    let secret = endpoints::sealed_secret(&state, request.body.secret.as_deref())?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                Ok((
                    StatusCode::OK,
                    endpoints::rotate_secret(&mut cx, &id, secret).await?,
                ))
            })
        })
        .await
}

/// Re-enable an endpoint disabled after persistent failure; its failure count starts afresh.
#[utoipa::path(
    post, path = "/v1/webhook_endpoints/{id}/enable", tag = "webhooks",
    request_body = EnableRequest,
    params(
        ("id" = WebhookEndpointId, Path, description = "The endpoint's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    responses((status = 200, body = EndpointObject), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = []))
)]
async fn enable_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<EnableRequest>,
) -> Result<Response, ApiError> {
    let id = parse_endpoint_id(&id)?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move { Ok((StatusCode::OK, endpoints::enable(&mut cx, &id).await?)) })
        })
        .await
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptObject {
    pub id: String,
    /// Always `webhook_attempt`.
    pub object: &'static str,
    pub endpoint_id: String,
    pub event_id: String,
    pub event_type: String,
    /// RFC 3339, UTC.
    pub attempted_at: String,
    pub succeeded: bool,
    /// The HTTP status the endpoint answered, if it answered.
    pub status_code: Option<i64>,
    /// The start of its response body.
    pub response: Option<String>,
    /// Why there was no acceptable answer.
    pub error: Option<String>,
    pub duration_ms: i64,
}

impl From<Attempt> for AttemptObject {
    fn from(a: Attempt) -> Self {
        AttemptObject {
            id: a.id.to_string(),
            object: "webhook_attempt",
            endpoint_id: a.endpoint_id.to_string(),
            event_id: a.event_id,
            event_type: a.event_type,
            attempted_at: a.attempted_at.to_rfc3339(),
            succeeded: a.succeeded,
            status_code: a.status_code,
            response: a.response,
            error: a.error,
            duration_ms: a.duration_ms,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptList {
    /// Always `list`.
    pub object: &'static str,
    pub data: Vec<AttemptObject>,
}

/// An endpoint's delivery attempts, newest first.
#[utoipa::path(
    get, path = "/v1/webhook_endpoints/{id}/attempts", tag = "webhooks",
    params(
        ("id" = WebhookEndpointId, Path, description = "The endpoint's id"),
        ("limit" = Option<i64>, Query, description = "1 to 100, default 100"),
    ),
    responses((status = 200, body = AttemptList), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
async fn list_attempts(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Json<AttemptList>, ApiError> {
    let id = parse_endpoint_id(&id)?;
    let limit = crate::list::limit_param(&query, &["limit"])?;
    let workspace_id = principal.workspace_id.clone();
    let lookup = id.clone();
    let attempts = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                if webhooks::get(tx, &workspace_id, &lookup, false)
                    .await?
                    .is_none()
                {
                    return Ok(None);
                }
                webhooks::attempts(tx, &workspace_id, &lookup, limit)
                    .await
                    .map(Some)
            })
        })
        .await?
        .ok_or_else(|| ApiError::not_found("webhook endpoint", id.as_str()))?;
    Ok(principal.json(AttemptList {
        object: "list",
        data: attempts.into_iter().map(AttemptObject::from).collect(),
    }))
}

/// An endpoint's timeline: created, updated, secret rotated, disabled, enabled — oldest first.
#[utoipa::path(
    get, path = "/v1/webhook_endpoints/{id}/timeline", tag = "webhooks",
    params(
        ("id" = WebhookEndpointId, Path, description = "The endpoint's id"),
        ("after" = Option<i64>, Query, minimum = 0, description = "Events after this sequence number (default 0)"),
        ("limit" = Option<i64>, Query, description = "1 to 100, default 100"),
    ),
    responses((status = 200, body = crate::events::TimelineResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
async fn endpoint_timeline(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Json<crate::events::TimelineResponse>, ApiError> {
    let id = parse_endpoint_id(&id)?;
    let workspace_id = principal.workspace_id.clone();
    let lookup = id.clone();
    state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { webhooks::get(tx, &workspace_id, &lookup, false).await })
        })
        .await?
        .ok_or_else(|| ApiError::not_found("webhook endpoint", id.as_str()))?;
    let page = crate::events::timeline(
        &state,
        &principal,
        "webhook_endpoint",
        id.to_string(),
        &query,
    )
    .await?;
    Ok(principal.json(page))
}
