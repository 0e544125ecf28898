//! Usage metering over OpenMeter's API: `POST /api/v1/events` (CloudEvents, one or a batch),
//! `/api/v1/meters` (create, list, get, delete), `/api/v1/meters/{meterIdOrSlug}/query` and
//! `/subjects`; and which customer a usage subject belongs to (`/v1/customers/{id}/usage_subjects`,
//! `/v1/customers/{id}/usage_close`).
//!
//! Request and response shapes follow OpenMeter's OpenAPI document, so its clients work
//! unchanged; errors use Bursar's one error format.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use bursar_core::meter_query;
use bursar_core::metering::{self as usage, existing_customer, find_meter, usage_subjects};
use bursar_domain::id::CustomerId;
use bursar_domain::metering::{
    CloudEvent, Meter, MeterCreate, MeterQueryResult, UsageSubjects, WindowSize,
};
use bursar_domain::time::Timestamp;
use bursar_store::metering;
use bursar_store::Tx;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal, QueryParams, RawMutation};
use crate::livemode::Json;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ingest_events))
        .routes(routes!(create_meter, list_meters))
        .routes(routes!(get_meter, delete_meter))
        .routes(routes!(query_meter))
        .routes(routes!(list_meter_subjects))
        .routes(routes!(add_usage_subject, list_usage_subjects))
        .routes(routes!(close_usage))
}

/// Ingest usage events: one CloudEvents 1.0 event (`application/cloudevents+json`) or a batch
/// (`application/cloudevents-batch+json`; `application/json` takes either). Events are
/// deduplicated by `source` and `id`: a resent event is accepted and counted once. The batch is
/// all or nothing: an event a meter cannot take (its value is missing or not a number) refuses
/// the request, naming the event.
#[utoipa::path(post, path = "/api/v1/events", tag = "metering",
    request_body(content(
        (CloudEvent = "application/cloudevents+json"),
        (Vec<CloudEvent> = "application/cloudevents-batch+json"),
        (CloudEvent = "application/json"))),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe.")),
    responses((status = 204, description = "Accepted: every event is stored and counted once."),
        (status = 400, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("api_key" = [])))]
async fn ingest_events(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    request: RawMutation,
) -> Result<Response, ApiError> {
    let (batch, values) = events_of(&headers, &request.bytes)?;
    let ingest = usage::prepare_ingest(&state, &principal.workspace_id, values, batch).await?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                usage::ingest(&mut cx, ingest).await?;
                Ok((StatusCode::NO_CONTENT, ()))
            })
        })
        .await
}

/// The events a request carries, by its Content-Type: one (a JSON object) or a batch (an
/// array), and whether it was a batch.
fn events_of(headers: &HeaderMap, bytes: &[u8]) -> Result<(bool, Vec<Value>), ApiError> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_else(|| "application/json".into());
    let body: Value = crate::extract::parse_json(bytes)?;
    Ok(match (media.as_str(), body) {
        ("application/cloudevents+json", value @ Value::Object(_)) => (false, vec![value]),
        ("application/cloudevents-batch+json" | "application/json", Value::Array(values)) => (true, values),
        ("application/json", value @ Value::Object(_)) => (false, vec![value]),
        ("application/cloudevents+json", _) => {
            return Err(ApiError::invalid("event_invalid", None, "application/cloudevents+json takes one event: a JSON object."))
        }
        ("application/cloudevents-batch+json", _) => {
            return Err(ApiError::invalid("event_invalid", None, "application/cloudevents-batch+json takes a JSON array of events."))
        }
        ("application/json", _) => {
            return Err(ApiError::invalid("event_invalid", None, "The body must be an event (a JSON object) or an array of events."))
        }
        (other, _) => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                crate::error::ErrorType::InvalidRequestError,
                "content_type_unsupported",
                format!("Content-Type '{other}' is not supported: send application/cloudevents+json, application/cloudevents-batch+json or application/json."),
            ))
        }
    })
}

/// Create a meter. Events already ingested with its event type are counted into it.
#[utoipa::path(post, path = "/api/v1/meters", tag = "metering", request_body = MeterCreate,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe.")),
    responses((status = 201, body = Meter), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn create_meter(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<MeterCreate>,
) -> Result<Response, ApiError> {
    let meter = usage::new_meter(request.body, state.db.now())?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let meter = usage::create_meter(&mut cx, meter).await?;
                Ok((StatusCode::CREATED, meter))
            })
        })
        .await
}

/// List meters, by slug.
#[utoipa::path(get, path = "/api/v1/meters", tag = "metering",
    params(("includeDeleted" = Option<bool>, Query, description = "Include deleted meters.")),
    responses((status = 200, body = Vec<Meter>)), security(("api_key" = [])))]
async fn list_meters(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<Vec<Meter>>, ApiError> {
    query.only(&["includeDeleted", "page", "pageSize", "order", "orderBy"])?;
    let include_deleted = query.text("includeDeleted").as_deref() == Some("true");
    let ws = principal.workspace_id.clone();
    let meters = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { metering::list_meters(tx, &ws, include_deleted).await })
        })
        .await?;
    Ok(principal.json(meters))
}

/// Get a meter by id or slug.
#[utoipa::path(get, path = "/api/v1/meters/{meterIdOrSlug}", tag = "metering",
    params(("meterIdOrSlug" = String, Path)),
    responses((status = 200, body = Meter), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_meter(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
) -> Result<Json<Meter>, ApiError> {
    Ok(principal.json(find_meter(&state, &principal.workspace_id, &key).await?))
}

/// Delete a meter: it stops counting and its slug is free again. Its events stay stored.
#[utoipa::path(delete, path = "/api/v1/meters/{meterIdOrSlug}", tag = "metering",
    params(("meterIdOrSlug" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn delete_meter(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let idempotency = crate::extract::Idempotency {
        key: None,
        fingerprint: String::new(),
        request_id: None,
    };
    state
        .mutate(&principal, idempotency, move |mut cx| {
            Box::pin(async move {
                usage::delete_meter(&mut cx, &key).await?;
                Ok((StatusCode::NO_CONTENT, ()))
            })
        })
        .await
}

/// Query a meter: its value per window (`windowSize` MINUTE, HOUR, DAY or MONTH in
/// `windowTimeZone`; one window for the whole period without), per subject and group-by value
/// when asked. `from` and `to` must fall on window boundaries (on minutes without a window
/// size). Only windows with usage are returned. Reads rollups, never raw events.
#[utoipa::path(get, path = "/api/v1/meters/{meterIdOrSlug}/query", tag = "metering",
    params(("meterIdOrSlug" = String, Path),
        ("from" = Option<String>, Query, format = DateTime, description = "Start, inclusive (RFC 3339)."),
        ("to" = Option<String>, Query, format = DateTime, description = "End, exclusive (RFC 3339)."),
        ("windowSize" = Option<WindowSize>, Query),
        ("windowTimeZone" = Option<String>, Query, description = "IANA time zone, default UTC."),
        ("subject" = Option<Vec<String>>, Query, description = "Only these subjects (repeatable)."),
        ("filterCustomerId" = Option<Vec<String>>, Query, description = "Only these customers' subjects (repeatable)."),
        ("groupBy" = Option<Vec<String>>, Query, description = "`subject` or the meter's group-by keys (repeatable)."),
        ("filterGroupBy" = Option<Object>, Query, style = DeepObject, description = "filterGroupBy[key]=value (exact match)."),
        ("advancedMeterGroupByFilters" = Option<String>, Query, description = "JSON: group-by key → OpenMeter FilterString ($eq, $ne, $in, $nin, $like, $ilike, $gt, …, $and, $or).")),
    responses((status = 200, body = MeterQueryResult), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn query_meter(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
    query: QueryParams,
) -> Result<Json<MeterQueryResult>, ApiError> {
    let result =
        meter_query::query_meter(&state, &principal.workspace_id, &key, query.pairs()).await?;
    Ok(principal.json(result))
}

/// The subjects a meter has usage for.
#[utoipa::path(get, path = "/api/v1/meters/{meterIdOrSlug}/subjects", tag = "metering",
    params(("meterIdOrSlug" = String, Path)),
    responses((status = 200, body = Vec<String>), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn list_meter_subjects(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
) -> Result<Json<Vec<String>>, ApiError> {
    let meter = find_meter(&state, &principal.workspace_id, &key).await?;
    let subjects = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { metering::meter_subjects(tx, meter.key).await })
        })
        .await?;
    Ok(principal.json(subjects))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddUsageSubjectRequest {
    /// The `subject` the customer's usage events carry (e.g. a tenant or API-key name): not
    /// blank, at most 1024 bytes once trimmed.
    #[schema(
        example = "acme-production",
        min_length = 1,
        max_length = 1024,
        pattern = r"\S"
    )]
    pub subject: String,
}

/// Register a usage subject to a customer: its events count as the customer's usage.
#[utoipa::path(post, path = "/v1/customers/{id}/usage_subjects", tag = "metering", request_body = AddUsageSubjectRequest,
    params(("id" = CustomerId, Path), ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe.")),
    responses((status = 200, body = UsageSubjects), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn add_usage_subject(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<AddUsageSubjectRequest>,
) -> Result<Response, ApiError> {
    let subject = usage::parse_subject(&request.body.subject)?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let subjects = usage::add_usage_subject(&mut cx, &id, &subject).await?;
                Ok((StatusCode::OK, subjects))
            })
        })
        .await
}

/// A customer's usage subjects and where its usage is closed.
#[utoipa::path(get, path = "/v1/customers/{id}/usage_subjects", tag = "metering",
    params(("id" = CustomerId, Path)),
    responses((status = 200, body = UsageSubjects), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn list_usage_subjects(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<UsageSubjects>, ApiError> {
    let ws = principal.workspace_id.clone();
    let found = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                existing_customer(tx, &ws, &id).await?;
                usage_subjects(tx, &ws, &id).await
            })
        })
        .await?;
    Ok(principal.json(found))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseUsageRequest {
    /// Usage before this instant is final (e.g. the end of an invoiced period).
    pub until: Timestamp,
}

/// Close a customer's usage up to `until` (billing does this when it invoices a period): the
/// queries of the closed period never change again; events for it that arrive later are counted
/// at `until`, in the next period.
#[utoipa::path(post, path = "/v1/customers/{id}/usage_close", tag = "metering", request_body = CloseUsageRequest,
    params(("id" = CustomerId, Path), ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe.")),
    responses((status = 200, body = UsageSubjects), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn close_usage(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<CloseUsageRequest>,
) -> Result<Response, ApiError> {
    let until = request.body.until;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let subjects = usage::close_usage(&mut cx, &id, until).await?;
                Ok((StatusCode::OK, subjects))
            })
        })
        .await
}
