//! Domain events: what happened to a business object, as consumers and timelines see it.
//!
//! Every state change of a business object records one event in the same transaction as the
//! change (the outbox). An event names its aggregate (the object it is about), carries a
//! per-aggregate sequence number (1, 2, ... in the order the changes committed) and a payload
//! with what a consumer needs to act without reading the object back.

use crate::id::EventId;
use crate::time::Timestamp;

/// The payload schema version events are written with; it grows when a payload changes
/// incompatibly, so consumers can tell old events from new ones.
pub const EVENT_VERSION: i64 = 1;

/// An event to record: its type (`customer.created`), its aggregate, and its payload.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event_type: &'static str,
    pub aggregate_type: &'static str,
    pub aggregate_id: String,
    pub payload: serde_json::Value,
}

impl NewEvent {
    pub fn new(
        event_type: &'static str,
        aggregate_type: &'static str,
        aggregate_id: impl Into<String>,
        payload: serde_json::Value,
    ) -> Self {
        NewEvent {
            event_type,
            aggregate_type,
            aggregate_id: aggregate_id.into(),
            payload,
        }
    }
}

/// Who and which request caused an event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cause {
    /// The request id (`X-Request-Id`), when an HTTP request caused it.
    pub request_id: Option<String>,
    /// The actor: an API key id, or `system:<job>` for background jobs.
    pub actor: Option<String>,
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: EventId,
    pub event_type: String,
    pub version: i64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub payload: serde_json::Value,
    pub occurred_at: Timestamp,
    pub cause: Cause,
}
