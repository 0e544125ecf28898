//! Domain events as the API shows them, and per-object timelines.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bursar_domain::event::Event;
use bursar_domain::id::EventId;
use bursar_store::{audit, events, relay, Tx};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal, QueryParams};
use crate::livemode::Json;
use crate::AppState;

/// A domain event.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventObject {
    /// `evt_` followed by a time-sortable ULID; consumers apply an event once by this id.
    pub id: String,
    /// Always `event`.
    pub object: &'static str,
    /// What happened, e.g. `customer.created`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Version of the payload's schema.
    pub version: i64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// 1, 2, ... within the aggregate, in the order its changes committed.
    pub sequence: i64,
    /// RFC 3339, UTC.
    pub occurred_at: String,
    /// The request that caused it, if any.
    pub request_id: Option<String>,
    /// The API key (or `system:<job>`) that caused it.
    pub actor: Option<String>,
    /// What a consumer needs: the object, and for updates its previous attributes.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl EventObject {
    /// The event as shown in a workspace that is `live` or not: the object it carries says so.
    pub fn new(e: Event, live: bool) -> Self {
        let mut data = e.payload;
        bursar_domain::livemode::mark_event_data(&mut data, live);
        EventObject {
            id: e.id.to_string(),
            object: "event",
            event_type: e.event_type,
            version: e.version,
            aggregate_type: e.aggregate_type,
            aggregate_id: e.aggregate_id,
            sequence: e.sequence,
            occurred_at: e.occurred_at.to_rfc3339(),
            request_id: e.cause.request_id,
            actor: e.cause.actor,
            data,
        }
    }
}

/// A page of an object's timeline, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineResponse {
    /// Always `list`.
    pub object: &'static str,
    /// Whether more events follow (ask again with `after` = the last sequence).
    pub has_more: bool,
    pub data: Vec<EventObject>,
}

/// The events of one aggregate after sequence `after` (query: `after`, `limit` 1–100).
pub async fn timeline(
    state: &AppState,
    principal: &Principal,
    aggregate_type: &'static str,
    aggregate_id: String,
    query: &QueryParams,
) -> Result<TimelineResponse, ApiError> {
    let after = query.integer("after")?.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::invalid(
            "parameter_invalid",
            Some("after".into()),
            "after must be a sequence number (0 or more).",
        ));
    }
    let limit = crate::list::limit_param(query, &["after", "limit"])?;
    let workspace_id = principal.workspace_id.clone();
    let mut found = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                events::timeline(
                    tx,
                    &workspace_id,
                    aggregate_type,
                    &aggregate_id,
                    after,
                    limit + 1,
                )
                .await
            })
        })
        .await?;
    let has_more = found.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    found.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(TimelineResponse {
        object: "list",
        has_more,
        data: found
            .into_iter()
            .map(|e| EventObject::new(e, principal.livemode()))
            .collect(),
    })
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_event))
        .routes(routes!(list_dead_letters))
        .routes(routes!(replay_dead_letter))
        .routes(routes!(list_audit_log))
}

/// Where one subscriber stands with an event.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryObject {
    pub subscriber: String,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// An event with its deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventWithDeliveries {
    #[serde(flatten)]
    pub event: EventObject,
    pub deliveries: Vec<DeliveryObject>,
}

/// Retrieve an event and where each subscriber stands with it.
#[utoipa::path(
    get, path = "/v1/events/{id}", tag = "events",
    params(("id" = EventId, Path, description = "The event's id")),
    responses(
        (status = 200, body = EventWithDeliveries),
        (status = 404, description = "No such event in this workspace", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn get_event(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<EventWithDeliveries>, ApiError> {
    let id = EventId::parse(&id, "id")?;
    let workspace_id = principal.workspace_id.clone();
    let lookup = id.clone();
    let found = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let Some(event) = events::get(tx, &workspace_id, lookup.as_str()).await? else {
                    return Ok(None);
                };
                let deliveries = relay::deliveries_of(tx, &workspace_id, lookup.as_str()).await?;
                Ok::<_, bursar_store::StoreError>(Some((event, deliveries)))
            })
        })
        .await?
        .ok_or_else(|| ApiError::not_found("event", id.as_str()))?;
    let (event, deliveries) = found;
    Ok(principal.json(EventWithDeliveries {
        event: EventObject::new(event, principal.livemode()),
        deliveries: deliveries
            .into_iter()
            .map(
                |(subscriber, status, attempts, last_error)| DeliveryObject {
                    subscriber,
                    status,
                    attempts,
                    last_error,
                },
            )
            .collect(),
    }))
}

/// A delivery that failed `max_attempts` times.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterObject {
    /// Always `dead_letter`.
    pub object: &'static str,
    pub subscriber: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// RFC 3339, UTC.
    pub dead_at: String,
    pub event: EventObject,
}

/// Dead letters, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterList {
    /// Always `list`.
    pub object: &'static str,
    pub data: Vec<DeadLetterObject>,
}

/// List dead letters: deliveries that exhausted their attempts (newest first).
#[utoipa::path(
    get, path = "/v1/dead_letters", tag = "events",
    params(("limit" = Option<i64>, Query, description = "1 to 100, default 100")),
    responses((status = 200, body = DeadLetterList), (status = 400, body = ErrorBody)),
    security(("api_key" = []))
)]
async fn list_dead_letters(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<DeadLetterList>, ApiError> {
    let limit = crate::list::limit_param(&query, &["limit"])?;
    let workspace_id = principal.workspace_id.clone();
    let letters = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { relay::dead_letters(tx, &workspace_id, limit).await })
        })
        .await?;
    Ok(principal.json(DeadLetterList {
        object: "list",
        data: letters
            .into_iter()
            .map(|l| DeadLetterObject {
                object: "dead_letter",
                subscriber: l.subscriber,
                attempts: l.attempts,
                last_error: l.last_error,
                dead_at: l.dead_at.to_rfc3339(),
                event: EventObject::new(l.event, principal.livemode()),
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// The dead letter's event id.
    #[schema(value_type = EventId)]
    pub event_id: String,
    /// The subscriber it failed for.
    pub subscriber: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayResponse {
    pub event_id: String,
    pub subscriber: String,
    /// Always `pending`: the relay delivers it again, with its attempts counted afresh.
    pub status: &'static str,
}

/// Replay a dead letter: the relay delivers it again.
#[utoipa::path(
    post, path = "/v1/dead_letters/replay", tag = "events",
    request_body = ReplayRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses(
        (status = 200, body = ReplayResponse),
        (status = 400, body = ErrorBody),
        (status = 404, description = "No such dead letter in this workspace", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn replay_dead_letter(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<ReplayRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let event_id = EventId::parse(&body.event_id, "event_id")?;
    let subscriber = body.subscriber;
    let response = state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                bursar_core::events::replay_dead_letter(&mut cx, &event_id, &subscriber).await?;
                Ok((
                    StatusCode::OK,
                    ReplayResponse {
                        event_id: event_id.to_string(),
                        subscriber,
                        status: "pending",
                    },
                ))
            })
        })
        .await?;
    state.db.notify_events();
    Ok(response)
}

/// An entry of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryObject {
    /// `aud_` followed by a time-sortable ULID.
    pub id: String,
    /// Always `audit_entry`.
    pub object: &'static str,
    /// Order in the workspace's log (pages: `?before=<position>`).
    pub position: i64,
    /// The object's chain, `target_type:target_id`: each audited object has its own.
    pub chain: String,
    /// 1, 2, ... in the object's chain.
    pub index: i64,
    /// What was done, e.g. `webhook_endpoint.secret_rotated`.
    pub action: String,
    /// The API key (`key_…`), `cli`, or `system:<job>` that did it.
    pub actor: Option<String>,
    pub request_id: Option<String>,
    pub target_type: String,
    pub target_id: String,
    /// The object before the action; null when it was created by it.
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// The object after the action; null when the action left none.
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    /// RFC 3339, UTC.
    pub occurred_at: String,
    /// SHA-256 over the entry and the previous entry's hash.
    pub hash: String,
    pub previous_hash: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    /// Always `list`.
    pub object: &'static str,
    /// Whether older entries follow (ask again with `before` = the last position).
    pub has_more: bool,
    pub data: Vec<AuditEntryObject>,
}

/// The audit log, newest first.
#[utoipa::path(
    get, path = "/v1/audit_log", tag = "events",
    params(
        ("before" = Option<i64>, Query, description = "Entries before this position"),
        ("limit" = Option<i64>, Query, description = "1 to 100, default 100"),
    ),
    responses((status = 200, body = AuditList), (status = 400, body = ErrorBody)),
    security(("api_key" = []))
)]
async fn list_audit_log(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<AuditList>, ApiError> {
    let before = query.integer("before")?;
    let limit = crate::list::limit_param(&query, &["before", "limit"])?;
    let workspace_id = principal.workspace_id.clone();
    let mut entries = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { audit::list(tx, &workspace_id, before, limit + 1).await })
        })
        .await?;
    let has_more = entries.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    entries.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let parse = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
    Ok(principal.json(AuditList {
        object: "list",
        has_more,
        data: entries
            .into_iter()
            .map(|e| AuditEntryObject {
                id: e.entry_id,
                object: "audit_entry",
                position: e.position,
                chain: e.chain,
                index: e.chain_index,
                action: e.action,
                actor: e.actor,
                request_id: e.request_id,
                target_type: e.target_type,
                target_id: e.target_id,
                before: parse(e.before),
                after: parse(e.after),
                occurred_at: bursar_domain::time::Timestamp::from_unix_micros(e.occurred_at)
                    .to_rfc3339(),
                hash: e.hash,
                previous_hash: e.previous_hash,
            })
            .collect(),
    }))
}
