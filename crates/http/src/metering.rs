//! Usage metering over OpenMeter's API: `POST /api/v1/events` (CloudEvents, one or a batch),
//! `/api/v1/meters` (create, list, get, delete), `/api/v1/meters/{meterIdOrSlug}/query` and
//! `/subjects`; and which customer a usage subject belongs to (`/v1/customers/{id}/usage_subjects`,
//! `/v1/customers/{id}/usage_close`).
//!
//! Request and response shapes follow OpenMeter's OpenAPI document, so its clients work
//! unchanged; errors use Bursar's one error format.

use bursar_domain::event_type;
use std::collections::{BTreeMap, HashSet};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use bursar_domain::event::NewEvent;
use bursar_domain::metering::{
    time_zone, CompiledMeter, FilterString, Meter, MeterCreate, UsageEvent, WindowSize,
};
use bursar_domain::time::Timestamp;
use bursar_store::metering::{self, Metered};
use bursar_store::Tx;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal, QueryParams, RawMutation};
use crate::AppState;
use bursar_core::meter_query::{self, MeterQuery};
use bursar_core::metering::*;
use bursar_domain::metering::{MeterQueryResult, UsageSubjects};

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
    request_body(content = Object, content_type = "application/cloudevents+json"),
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
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_else(|| "application/json".into());
    let now = state.db.now();
    let body: Value = crate::extract::parse_json(&request.bytes)?;
    let (batch, values) = match (media.as_str(), body) {
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
    };
    if values.len() > BATCH_MAX {
        return Err(ApiError::invalid(
            "batch_too_large",
            None,
            format!(
                "A batch holds at most {BATCH_MAX} events; this one has {}.",
                values.len()
            ),
        ));
    }
    let param = move |index: usize, field: &str| {
        let field = if field.is_empty() {
            String::new()
        } else {
            format!(".{field}")
        };
        if batch {
            format!("[{index}]{field}")
        } else {
            field.trim_start_matches('.').to_owned()
        }
    };
    let mut events = Vec::with_capacity(values.len());
    for (index, value) in values.iter().enumerate() {
        let event = UsageEvent::parse(value, now).map_err(|(field, message)| {
            let which = value
                .get("id")
                .and_then(Value::as_str)
                .map(|id| format!(" (id '{id}')"))
                .unwrap_or_default();
            ApiError::invalid(
                "event_invalid",
                Some(param(index, &field)),
                format!("Event {index}{which}: {message}"),
            )
        })?;
        events.push(event);
    }
    drop(values);
    // What each event adds to each meter, computed before the write job (off the single
    // writer); the job checks the live meters are still these.
    let ws = principal.workspace_id.clone();
    let meters = state
        .db
        .read(move |tx: &mut Tx| Box::pin(async move { live_meters(tx, &ws).await }))
        .await?;
    let contributions = contributions_of(&meters, &events, &param)?;
    let data: Vec<Option<String>> = events
        .iter()
        .map(|e| e.data.as_ref().map(Value::to_string))
        .collect();
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let mut keys: Vec<i64> = meters.iter().map(|m| m.meter.key).collect();
                keys.sort_unstable();
                let (meters, contributions) =
                    if metering::live_meter_keys(cx.tx, cx.workspace_id).await? == keys {
                        (meters, contributions)
                    } else {
                        let meters = live_meters(cx.tx, cx.workspace_id).await?;
                        let contributions = contributions_of(&meters, &events, &param)?;
                        (meters, contributions)
                    };
                let metered: Vec<Metered<'_>> = events
                    .iter()
                    .zip(&data)
                    .zip(&contributions)
                    .map(|((event, data), contributions)| Metered {
                        event,
                        data: data.as_deref(),
                        contributions,
                    })
                    .collect();
                let ingested =
                    metering::ingest(cx.tx, cx.workspace_id, &meters, &metered, cx.now).await?;
                metrics::counter!("bursar_usage_events_ingested_total")
                    .increment(ingested.accepted as u64);
                metrics::counter!("bursar_usage_events_duplicate_total")
                    .increment(ingested.duplicates as u64);
                if ingested.accepted > 0 {
                    // One event per request, not per usage event: what arrived, for the timeline
                    // and subscribers.
                    let subjects: std::collections::BTreeSet<&str> =
                        events.iter().map(|e| e.subject.as_str()).collect();
                    cx.emit(NewEvent::new(
                        event_type::USAGE_INGESTED,
                        "usage_batch",
                        ulid::Ulid::new().to_string(),
                        json!({"accepted": ingested.accepted, "duplicates": ingested.duplicates,
                               "subjects": subjects.into_iter().take(100).collect::<Vec<_>>()}),
                    ))
                    .await?;
                }
                Ok((StatusCode::NO_CONTENT, ()))
            })
        })
        .await
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
    let meter = request.body.into_meter(state.db.now())?;
    CompiledMeter::new(meter.clone())
        .map_err(|e| ApiError::invalid("parameter_invalid", None, e))?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let mut meter = meter;
                (meter.created_at, meter.updated_at) = (cx.now, cx.now);
                if metering::find_meter(cx.tx, cx.workspace_id, &meter.slug).await?.is_some() {
                    return Err(slug_taken(&meter.slug).into());
                }
                let slug = meter.slug.clone();
                metering::insert_meter(cx.tx, cx.workspace_id, &mut meter).await.map_err(|e| match e.unique_violation() {
                    Some(_) => ApiError::from(slug_taken(&slug)),
                    None => ApiError::from(e),
                })?;
                let compiled = CompiledMeter::new(meter.clone()).map_err(|e| ApiError::invalid("parameter_invalid", None, e))?;
                let rebuilt = metering::rebuild(cx.tx, cx.workspace_id, &compiled).await?;
                cx.emit(NewEvent::new(
                    event_type::METER_CREATED,
                    "meter",
                    &meter.id,
                    json!({"object": meter, "backfilled_events": rebuilt.events, "skipped_events": rebuilt.skipped}),
                ))
                .await?;
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
    Ok(Json(meters))
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
    Ok(Json(
        find_meter(&state, &principal.workspace_id, &key).await?,
    ))
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
                let mut meter = metering::find_meter(cx.tx, cx.workspace_id, &key)
                    .await?
                    .filter(|m| m.deleted_at.is_none())
                    .ok_or_else(|| {
                        ApiError::not_found("meter", &key).with_param("meterIdOrSlug")
                    })?;
                (meter.deleted_at, meter.updated_at) = (Some(cx.now), cx.now);
                metering::delete_meter(cx.tx, cx.workspace_id, &meter).await?;
                cx.emit(NewEvent::new(
                    event_type::METER_DELETED,
                    "meter",
                    &meter.id,
                    json!({"object": meter}),
                ))
                .await?;
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
        ("from" = Option<String>, Query, description = "Start, inclusive (RFC 3339)."),
        ("to" = Option<String>, Query, description = "End, exclusive (RFC 3339)."),
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
    let meter = find_meter(&state, &principal.workspace_id, &key).await?;
    if meter.deleted_at.is_some() {
        return Err(ApiError::not_found("meter", &key).with_param("meterIdOrSlug"));
    }
    let mut subjects: Vec<String> = Vec::new();
    let mut customers_filter: Vec<String> = Vec::new();
    let mut group_by: Vec<String> = Vec::new();
    let mut filters: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    let mut advanced: Vec<(String, FilterString)> = Vec::new();
    for (name, value) in query.pairs() {
        match name.as_str() {
            "subject" if !value.is_empty() => subjects.push(value.clone()),
            "filterCustomerId" => customers_filter.push(value.clone()),
            "groupBy" => {
                if value != "subject" && value != "customer_id" && !meter.group_by.contains_key(value) {
                    return Err(ApiError::invalid(
                        "parameter_invalid",
                        Some("groupBy".into()),
                        format!("groupBy '{value}' is neither 'subject' nor a group-by key of meter '{}'.", meter.slug),
                    ));
                }
                if !group_by.contains(value) {
                    group_by.push(value.clone());
                }
            }
            "advancedMeterGroupByFilters" => {
                let parsed: BTreeMap<String, FilterString> = serde_json::from_str(value).map_err(|e| {
                    ApiError::invalid(
                        "parameter_invalid",
                        Some(name.clone()),
                        format!("advancedMeterGroupByFilters must be a JSON object of group-by key to filter ({e})."),
                    )
                })?;
                for (key, filter) in parsed {
                    if !meter.group_by.contains_key(&key) {
                        return Err(ApiError::invalid(
                            "parameter_invalid",
                            Some(name.clone()),
                            format!("'{key}' is not a group-by key of meter '{}'.", meter.slug),
                        ));
                    }
                    advanced.push((key, filter));
                }
            }
            "from" | "to" | "windowSize" | "windowTimeZone" | "clientId" => {}
            other => match other.strip_prefix("filterGroupBy[").and_then(|k| k.strip_suffix(']')) {
                Some(group) if meter.group_by.contains_key(group) => {
                    filters.entry(group.to_owned()).or_default().insert(value.clone());
                }
                _ => {
                    return Err(ApiError::invalid(
                        "parameter_unknown",
                        Some(other.to_owned()),
                        format!("Unknown query parameter '{other}' (filterGroupBy keys must be group-by keys of the meter)."),
                    ))
                }
            },
        }
    }
    let window = query
        .text("windowSize")
        .map(|w| {
            WindowSize::parse(&w).ok_or_else(|| {
                ApiError::invalid(
                    "parameter_invalid",
                    Some("windowSize".into()),
                    format!("windowSize '{w}' is not one of MINUTE, HOUR, DAY, MONTH."),
                )
            })
        })
        .transpose()?;
    let time_zone = time_zone(query.text("windowTimeZone").as_deref().unwrap_or("UTC"))?;
    let from = seconds_param(&query, "from")?;
    let to = seconds_param(&query, "to")?;
    let query = MeterQuery {
        subjects,
        customers: customers_filter,
        group_by,
        filters,
        advanced,
        window,
        time_zone,
        from,
        to,
    };
    Ok(Json(
        meter_query::query(&state, &principal.workspace_id, &meter, query).await?,
    ))
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
    Ok(Json(subjects))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddUsageSubjectRequest {
    /// The `subject` the customer's usage events carry (e.g. a tenant or API-key name).
    #[schema(example = "acme-production")]
    pub subject: String,
}

/// Register a usage subject to a customer: its events count as the customer's usage.
#[utoipa::path(post, path = "/v1/customers/{id}/usage_subjects", tag = "metering", request_body = AddUsageSubjectRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe.")),
    responses((status = 200, body = UsageSubjects), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn add_usage_subject(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<AddUsageSubjectRequest>,
) -> Result<Response, ApiError> {
    let subject = request.body.subject.trim().to_owned();
    if subject.is_empty() || subject.len() > 1024 {
        return Err(ApiError::invalid(
            "parameter_invalid",
            Some("subject".into()),
            "subject must be 1-1024 bytes.",
        ));
    }
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                existing_customer(cx.tx, cx.workspace_id, &id).await?;
                if let Some(other) =
                    metering::add_subject(cx.tx, cx.workspace_id, &subject, &id, cx.now).await?
                {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        crate::error::ErrorType::InvalidRequestError,
                        "usage_subject_taken",
                        format!("Subject '{subject}' belongs to customer {other}."),
                    )
                    .with_param("subject"));
                }
                cx.emit(NewEvent::new(
                    event_type::CUSTOMER_USAGE_SUBJECT_ADDED,
                    "customer",
                    &id,
                    json!({"subject": subject}),
                ))
                .await?;
                Ok((
                    StatusCode::OK,
                    usage_subjects(cx.tx, cx.workspace_id, &id).await?,
                ))
            })
        })
        .await
}

/// A customer's usage subjects and where its usage is closed.
#[utoipa::path(get, path = "/v1/customers/{id}/usage_subjects", tag = "metering",
    params(("id" = String, Path)),
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
    Ok(Json(found))
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
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe.")),
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
                existing_customer(cx.tx, cx.workspace_id, &id).await?;
                let closed = metering::close_usage(cx.tx, cx.workspace_id, &id, until).await?;
                cx.emit(NewEvent::new(
                    event_type::CUSTOMER_USAGE_CLOSED,
                    "customer",
                    &id,
                    json!({"closed_until": closed}),
                ))
                .await?;
                Ok((
                    StatusCode::OK,
                    usage_subjects(cx.tx, cx.workspace_id, &id).await?,
                ))
            })
        })
        .await
}

pub fn seconds_param(query: &QueryParams, name: &str) -> Result<Option<i64>, ApiError> {
    let Some(text) = query.text(name) else {
        return Ok(None);
    };
    let at = Timestamp::parse_rfc3339(&text).ok_or_else(|| {
        ApiError::invalid(
            "parameter_invalid",
            Some(name.into()),
            format!("{name} '{text}' is not an RFC 3339 timestamp."),
        )
    })?;
    let micros = at.unix_micros();
    if micros.rem_euclid(1_000_000) != 0 {
        return Err(ApiError::invalid(
            "parameter_invalid",
            Some(name.into()),
            format!("{name} must be a whole second."),
        ));
    }
    Ok(Some(micros.div_euclid(1_000_000)))
}
