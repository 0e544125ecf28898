//! Timelines with two lanes: what the business did (an order paid, a parcel shipped, its
//! automation run) beside what the couriers saw (each scan), so support reads one beside the
//! other instead of interleaved.

use serde::Serialize;
use utoipa::ToSchema;

use crate::event::Event;
use crate::time::Timestamp;

use super::{Carrier, TrackingEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Lane {
    /// Domain events: state changes of orders, shipments, automation runs and devices.
    Business,
    /// The couriers' tracking events.
    Courier,
}

/// One entry of a two-lane timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TimelineEntry {
    pub lane: Lane,
    /// When it happened (a courier event: when the carrier says it did).
    pub occurred_at: Timestamp,
    /// The event type (`shipment.delivered`), or the normalised tracking status (`delivered`).
    #[serde(rename = "type")]
    pub entry_type: String,
    /// What it is about: `order`, `shipment`, `automation_run`, `device`, or `tracking_event`.
    pub object: String,
    pub object_id: String,
    /// Courier entries: the carrier, its own code, its words and the place.
    pub carrier: Option<Carrier>,
    pub code: Option<String>,
    pub description: Option<String>,
    pub location: Option<String>,
}

impl TimelineEntry {
    pub fn business(event: &Event) -> Self {
        TimelineEntry {
            lane: Lane::Business,
            occurred_at: event.occurred_at,
            entry_type: event.event_type.clone(),
            object: event.aggregate_type.clone(),
            object_id: event.aggregate_id.clone(),
            carrier: None,
            code: None,
            description: None,
            location: None,
        }
    }

    pub fn courier(event: &TrackingEvent) -> Self {
        TimelineEntry {
            lane: Lane::Courier,
            occurred_at: event.occurred_at,
            entry_type: event.status.as_str().to_owned(),
            object: "tracking_event".into(),
            object_id: event.id.to_string(),
            carrier: Some(event.carrier),
            code: Some(event.code.clone()),
            description: Some(event.description.clone()),
            location: event.location.clone(),
        }
    }
}

/// Both lanes in one list, oldest first (business first at the same instant); each lane keeps
/// its own order.
pub fn merge(business: &[Event], courier: &[TrackingEvent]) -> Vec<TimelineEntry> {
    let mut entries: Vec<TimelineEntry> = business
        .iter()
        .map(TimelineEntry::business)
        .chain(courier.iter().map(TimelineEntry::courier))
        .collect();
    entries.sort_by_key(|e| (e.occurred_at, e.lane));
    entries
}
