//! Domain events as the API shows them, and per-object timelines.

use bursar_domain::event::Event;
use bursar_domain::id::WorkspaceId;
use bursar_store::{events, Tx};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::AppState;

/// Most events on one timeline page.
const TIMELINE_LIMIT_MAX: i64 = 100;

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

impl From<Event> for EventObject {
    fn from(e: Event) -> Self {
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
            data: e.payload,
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
    workspace_id: WorkspaceId,
    aggregate_type: &'static str,
    aggregate_id: String,
    query: &QueryParams,
) -> Result<TimelineResponse, ApiError> {
    query.only(&["after", "limit"])?;
    let after = query.integer("after")?.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::invalid(
            "parameter_invalid",
            Some("after".into()),
            "after must be a sequence number (0 or more).",
        ));
    }
    let limit = query.integer("limit")?.unwrap_or(TIMELINE_LIMIT_MAX);
    if !(1..=TIMELINE_LIMIT_MAX).contains(&limit) {
        return Err(ApiError::invalid(
            "parameter_invalid",
            Some("limit".into()),
            format!("limit must be between 1 and {TIMELINE_LIMIT_MAX}."),
        ));
    }
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
        data: found.into_iter().map(EventObject::from).collect(),
    })
}
