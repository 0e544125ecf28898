//! Outbound webhook endpoints: register, change, rotate the secret, re-enable, read the log.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::id::WebhookEndpointId;
use bursar_domain::webhook::{
    parse_url, Attempt, EndpointStatus, EventFilter, WebhookEndpoint, WebhookSecret,
};
use bursar_store::{webhooks, Tx};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal, QueryParams};
use crate::AppState;
use bursar_core::webhooks::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_endpoint, list_endpoints))
        .routes(routes!(get_endpoint, update_endpoint))
        .routes(routes!(rotate_secret))
        .routes(routes!(enable_endpoint))
        .routes(routes!(list_attempts))
        .routes(routes!(endpoint_timeline))
}

/// An outbound webhook endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointObject {
    /// `we_` followed by a time-sortable ULID.
    pub id: String,
    /// Always `webhook_endpoint`.
    pub object: &'static str,
    pub url: String,
    pub description: String,
    /// Event types it receives (`customer.created`, `customer.*`, `*`); empty: all.
    pub event_types: Vec<String>,
    /// `enabled` or `disabled`.
    pub status: &'static str,
    pub disabled_reason: Option<String>,
    /// The signing secret (`whsec_…`): only in the responses that create or rotate it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
}

impl EndpointObject {
    fn new(endpoint: &WebhookEndpoint, secret: Option<&WebhookSecret>) -> Self {
        EndpointObject {
            id: endpoint.id.to_string(),
            object: "webhook_endpoint",
            url: endpoint.url.clone(),
            description: endpoint.description.clone(),
            event_types: endpoint.filter.types().to_vec(),
            status: endpoint.status.as_str(),
            disabled_reason: endpoint.disabled_reason.clone(),
            secret: secret.map(WebhookSecret::expose),
            created_at: endpoint.created_at.to_rfc3339(),
            updated_at: endpoint.updated_at.to_rfc3339(),
        }
    }

    /// The endpoint as events carry it: never with its secret.
    fn in_event(endpoint: &WebhookEndpoint) -> serde_json::Value {
        json!({ "object": EndpointObject::new(endpoint, None) })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpointRequest {
    #[schema(example = "https://example.com/webhooks/bursar")]
    pub url: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Event types to receive; absent or empty: all.
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// Bring your own `whsec_…` secret; absent: one is generated.
    #[serde(default)]
    pub secret: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpointRequest {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretRequest {
    /// The new `whsec_…` secret; absent: one is generated.
    #[serde(default)]
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
    let url = parse_url(&body.url, "url")?;
    let filter = EventFilter::parse(body.event_types.unwrap_or_default(), "event_types")?;
    let secret = new_secret(body.secret.as_deref())?;
    let sealed = state.db.sealer()?.seal(&secret.expose())?;
    let description = body.description.unwrap_or_default();
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let endpoint = WebhookEndpoint {
                    id: WebhookEndpointId::new(),
                    url,
                    description,
                    filter,
                    status: EndpointStatus::Enabled,
                    disabled_reason: None,
                    consecutive_failures: 0,
                    created_at: cx.now,
                    updated_at: cx.now,
                };
                webhooks::insert(cx.tx, cx.workspace_id, &endpoint, &sealed).await?;
                cx.emit(NewEvent::new(
                    event_type::WEBHOOK_ENDPOINT_CREATED,
                    "webhook_endpoint",
                    endpoint.id.as_str(),
                    EndpointObject::in_event(&endpoint),
                ))
                .await?;
                Ok((
                    StatusCode::OK,
                    EndpointObject::new(&endpoint, Some(&secret)),
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
    Ok(Json(EndpointList {
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
    params(("id" = String, Path, description = "The endpoint's id")),
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
    Ok(Json(EndpointObject::new(&endpoint, None)))
}

/// Change an endpoint's URL, description or event types.
#[utoipa::path(
    post, path = "/v1/webhook_endpoints/{id}", tag = "webhooks",
    request_body = UpdateEndpointRequest,
    params(
        ("id" = String, Path, description = "The endpoint's id"),
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
    let url = body.url.map(|u| parse_url(&u, "url")).transpose()?;
    let filter = body
        .event_types
        .map(|t| EventFilter::parse(t, "event_types"))
        .transpose()?;
    let description = body.description;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let mut endpoint = locked(&mut cx, &id).await?;
                let previous = EndpointObject::in_event(&endpoint);
                if let Some(url) = url {
                    endpoint.url = url;
                }
                if let Some(filter) = filter {
                    endpoint.filter = filter;
                }
                if let Some(description) = description {
                    endpoint.description = description;
                }
                endpoint.updated_at = cx.now;
                webhooks::update(cx.tx, cx.workspace_id, &endpoint).await?;
                cx.emit(NewEvent::new(
                    event_type::WEBHOOK_ENDPOINT_UPDATED,
                    "webhook_endpoint",
                    endpoint.id.as_str(),
                    json!({
                        "object": EndpointObject::new(&endpoint, None),
                        "previous": previous["object"],
                    }),
                ))
                .await?;
                Ok((StatusCode::OK, EndpointObject::new(&endpoint, None)))
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
        ("id" = String, Path, description = "The endpoint's id"),
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
    let secret = new_secret(request.body.secret.as_deref())?;
    let sealed = state.db.sealer()?.seal(&secret.expose())?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let mut endpoint = locked(&mut cx, &id).await?;
                endpoint.updated_at = cx.now;
                webhooks::rotate_secret(
                    cx.tx,
                    cx.workspace_id,
                    &id,
                    &sealed,
                    cx.now.plus_seconds(ROTATION_GRACE_SECONDS),
                    cx.now,
                )
                .await?;
                cx.emit(NewEvent::new(
                    event_type::WEBHOOK_ENDPOINT_SECRET_ROTATED,
                    "webhook_endpoint",
                    id.as_str(),
                    EndpointObject::in_event(&endpoint),
                ))
                .await?;
                Ok((
                    StatusCode::OK,
                    EndpointObject::new(&endpoint, Some(&secret)),
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
        ("id" = String, Path, description = "The endpoint's id"),
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
            Box::pin(async move {
                let mut endpoint = locked(&mut cx, &id).await?;
                if endpoint.status == EndpointStatus::Enabled {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        crate::error::ErrorType::InvalidRequestError,
                        "endpoint_already_enabled",
                        format!("Webhook endpoint '{id}' is enabled already (status: enabled)."),
                    ));
                }
                endpoint.status = EndpointStatus::Enabled;
                endpoint.disabled_reason = None;
                endpoint.consecutive_failures = 0;
                endpoint.updated_at = cx.now;
                webhooks::update(cx.tx, cx.workspace_id, &endpoint).await?;
                cx.emit(NewEvent::new(
                    event_type::WEBHOOK_ENDPOINT_ENABLED,
                    "webhook_endpoint",
                    id.as_str(),
                    EndpointObject::in_event(&endpoint),
                ))
                .await?;
                Ok((StatusCode::OK, EndpointObject::new(&endpoint, None)))
            })
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
        ("id" = String, Path, description = "The endpoint's id"),
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
    Ok(Json(AttemptList {
        object: "list",
        data: attempts.into_iter().map(AttemptObject::from).collect(),
    }))
}

/// An endpoint's timeline: created, updated, secret rotated, disabled, enabled — oldest first.
#[utoipa::path(
    get, path = "/v1/webhook_endpoints/{id}/timeline", tag = "webhooks",
    params(
        ("id" = String, Path, description = "The endpoint's id"),
        ("after" = Option<i64>, Query, description = "Events after this sequence number (default 0)"),
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
        principal.workspace_id.clone(),
        "webhook_endpoint",
        id.to_string(),
        &query,
    )
    .await?;
    Ok(Json(page))
}
