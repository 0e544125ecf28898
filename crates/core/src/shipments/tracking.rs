//! Recording courier events: each kept once (a pushed and a polled copy of one event are one
//! row), the shipment's status refolded from all of them, and the order fulfilled when every
//! unit it ordered has been delivered.

use bursar_couriers::{CarrierEvent, Tracking};
use bursar_domain::commerce::{Order, OrderStatus, ProductKind};
use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::id::TrackingEventId;
use bursar_domain::shipping::*;
use bursar_domain::time::Timestamp;
use bursar_store::documents::{self, ORDER, SHIPMENT};
use serde_json::json;

use crate::error::Error;
use crate::write::Context;

/// The most events one report may carry.
pub const EVENTS_PER_REPORT_MAX: usize = 500;

/// When a new shipment is first polled: never for the test courier (it pushes every event).
pub fn first_poll(carrier: Carrier, now: Timestamp) -> Option<Timestamp> {
    if carrier == Carrier::TestCourier {
        return None;
    }
    next_poll(TrackingStatus::PreTransit, now)
}

/// What recording a report changed.
#[derive(Debug, Clone)]
pub struct Update {
    pub shipment: Shipment,
    /// The events that were new (the rest were known already).
    pub recorded: Vec<TrackingEvent>,
    pub previous_status: TrackingStatus,
}

/// Records a carrier's events of `shipment`, which the caller read in this write with
/// [`crate::lookup::get_in`] (locked on PostgreSQL: two reports of one parcel committing at
/// once would each fold without the other's events, and the later save would win). Events
/// known already change nothing; new ones fold into its status (`shipment.tracking_updated`,
/// and `shipment.delivered`, `shipment.exception`, `shipment.returned_to_sender` or
/// `shipment.cancelled` when it moved there) and may fulfill the order.
pub async fn record(
    cx: &mut Context<'_>,
    mut shipment: Shipment,
    reported: Vec<CarrierEvent>,
    source: TrackingSource,
) -> Result<Update, Error> {
    let previous_status = shipment.status;
    let mut recorded = Vec::new();
    for event in reported.into_iter().take(EVENTS_PER_REPORT_MAX) {
        let row = TrackingEvent {
            id: TrackingEventId::new(),
            object: "tracking_event".into(),
            shipment_id: shipment.id.clone(),
            carrier: shipment.carrier,
            tracking_number: shipment.tracking_number.clone(),
            code: event.code,
            description: event.description,
            status: event.status,
            occurred_at: event.occurred_at,
            utc_offset: event.utc_offset,
            location: event.location,
            source,
            recorded_at: cx.now,
        };
        if bursar_store::shipping::insert_event(cx.tx, cx.workspace_id, &row).await? {
            recorded.push(row);
        }
    }
    if recorded.is_empty() {
        return Ok(Update {
            shipment,
            recorded,
            previous_status,
        });
    }
    refold(cx, &mut shipment, &recorded).await?;
    super::save(cx, &shipment).await?;
    announce(cx, &shipment, &recorded, previous_status).await?;
    if shipment.status != previous_status && shipment.status == TrackingStatus::Delivered {
        super::automation::start(cx, &shipment).await?;
        settle_order(cx, shipment.order_id.as_str()).await?;
    }
    Ok(Update {
        shipment,
        recorded,
        previous_status,
    })
}

/// Sets the shipment's status, instants and next poll after `recorded` (its new events). When
/// they all come after every earlier event — the common case — they fold on from the stored
/// status; otherwise (a late event, or an exception whose rank needs the history) all its
/// events are read and folded again.
async fn refold(
    cx: &mut Context<'_>,
    shipment: &mut Shipment,
    recorded: &[TrackingEvent],
) -> Result<(), Error> {
    let later = |e: &&TrackingEvent| {
        shipment
            .last_event_at
            .is_none_or(|last| e.occurred_at > last)
    };
    let news: Vec<(TrackingStatus, Timestamp)> =
        recorded.iter().map(|e| (e.status, e.occurred_at)).collect();
    let on = if recorded.iter().all(|e| later(&e)) {
        fold_on(shipment.status, &news)
    } else {
        None
    };
    let events = match on {
        Some(status) => {
            shipment.status = status;
            recorded.to_vec()
        }
        None => {
            let all = bursar_store::shipping::events_of(cx.tx, cx.workspace_id, shipment).await?;
            let folded: Vec<(TrackingStatus, Timestamp)> =
                all.iter().map(|e| (e.status, e.occurred_at)).collect();
            shipment.status = fold(&folded);
            shipment.delivered_at = None;
            all
        }
    };
    let newest = events.iter().map(|e| e.occurred_at).max();
    shipment.last_event_at = shipment.last_event_at.max(newest);
    // Delivered once: the first delivery scan is kept (a delivered shipment stays delivered).
    if shipment.status == TrackingStatus::Delivered && shipment.delivered_at.is_none() {
        shipment.delivered_at = events
            .iter()
            .filter(|e| e.status == TrackingStatus::Delivered)
            .map(|e| e.occurred_at)
            .min();
    }
    shipment.next_poll_at = if shipment.carrier == Carrier::TestCourier {
        None
    } else {
        next_poll(shipment.status, cx.now)
    };
    shipment.updated_at = cx.now;
    Ok(())
}

async fn announce(
    cx: &mut Context<'_>,
    shipment: &Shipment,
    recorded: &[TrackingEvent],
    previous_status: TrackingStatus,
) -> Result<(), Error> {
    let id = shipment.id.as_str();
    let mut payload = json!({ "object": shipment, "tracking_events": recorded });
    if shipment.status != previous_status {
        payload["previous_attributes"] = json!({ "status": previous_status });
    }
    cx.emit(NewEvent::new(
        event_type::SHIPMENT_TRACKING_UPDATED,
        "shipment",
        id,
        payload.clone(),
    ))
    .await?;
    if shipment.status == previous_status {
        return Ok(());
    }
    let moved = match shipment.status {
        TrackingStatus::Delivered => event_type::SHIPMENT_DELIVERED,
        TrackingStatus::Exception => event_type::SHIPMENT_EXCEPTION,
        TrackingStatus::ReturnedToSender => event_type::SHIPMENT_RETURNED_TO_SENDER,
        TrackingStatus::Cancelled => event_type::SHIPMENT_CANCELLED,
        _ => return Ok(()),
    };
    cx.emit(NewEvent::new(moved, "shipment", id, payload)).await
}

/// Records a carrier's report about a tracking number: the workspace's live shipment with that
/// carrier and number gets the events; `None` when it has none.
pub async fn record_report(
    cx: &mut Context<'_>,
    carrier: Carrier,
    tracking: Tracking,
    source: TrackingSource,
) -> Result<Option<Update>, Error> {
    let number = parse_tracking_number("tracking_number", &tracking.tracking_number)?;
    let found =
        bursar_store::shipping::live_shipment_id(cx.tx, cx.workspace_id, carrier, &number).await?;
    let Some((id, _)) = found else {
        return Ok(None);
    };
    record_shipment(cx, &id, tracking, source).await.map(Some)
}

/// Records several carriers' reports in one write (a push naming many parcels, a batch),
/// each as [`record_report`] does. On PostgreSQL every write that records several locks all
/// their shipments first, in the order of their orders, carriers and tracking numbers, then
/// the orders their deliveries settle, in order: two such writes (or one and a single report,
/// which locks its shipment, then its order) never wait for each other in a cycle.
/// Each report's update, `None` for a tracking number with no live shipment.
pub async fn record_reports(
    cx: &mut Context<'_>,
    reports: Vec<(Carrier, Tracking)>,
    source: TrackingSource,
) -> Result<Vec<(String, Option<Update>)>, Error> {
    let mut keyed = Vec::with_capacity(reports.len());
    for (carrier, tracking) in reports {
        let number = parse_tracking_number("tracking_number", &tracking.tracking_number)?;
        let found =
            bursar_store::shipping::live_shipment_id(cx.tx, cx.workspace_id, carrier, &number)
                .await?;
        let (id, order) = found.unwrap_or_default();
        keyed.push(((order, carrier.as_str(), number, id), (carrier, tracking)));
    }
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    // Every shipment first, then (as deliveries settle them) the orders. One report locks only
    // its own shipment, as it is read below.
    if keyed.len() > 1 {
        for ((_, _, _, id), _) in keyed.iter().filter(|(key, _)| !key.3.is_empty()) {
            bursar_store::shipping::lock_shipment(cx.tx, cx.workspace_id, id).await?;
        }
    }
    let mut updates = Vec::with_capacity(keyed.len());
    for ((_, _, _, id), (_, tracking)) in keyed {
        let number = tracking.tracking_number.clone();
        let update = if id.is_empty() {
            None
        } else {
            Some(record_shipment(cx, &id, tracking, source).await?)
        };
        updates.push((number, update));
    }
    Ok(updates)
}

/// Records a report about the shipment `id` (read and locked here).
async fn record_shipment(
    cx: &mut Context<'_>,
    id: &str,
    tracking: Tracking,
    source: TrackingSource,
) -> Result<Update, Error> {
    let shipment: Shipment = crate::lookup::get_in(cx, SHIPMENT, "shipment", id, "id").await?;
    record(cx, shipment, tracking.events, source).await
}

/// Fulfills a paid order once every physical unit it ordered is in a delivered shipment and
/// every delivered shipment's automation is done (succeeded, or finished by hand)
/// (`order.fulfilled`). An order with service lines is left to the merchant, who fulfills it
/// by hand.
pub async fn settle_order(cx: &mut Context<'_>, order_id: &str) -> Result<(), Error> {
    let Some(mut order) =
        documents::get::<Order>(cx.tx, ORDER, cx.workspace_id, order_id, true).await?
    else {
        return Ok(());
    };
    let open = matches!(
        order.status,
        OrderStatus::Paid | OrderStatus::PartiallyRefunded
    );
    if !open
        || order
            .lines
            .iter()
            .any(|l| l.product_kind == ProductKind::Service)
    {
        return Ok(());
    }
    let shipments = super::of_order(cx.tx, cx.workspace_id, order_id).await?;
    let delivered: Vec<Shipment> = shipments
        .into_iter()
        .filter(|s| s.status == TrackingStatus::Delivered)
        .collect();
    let arrived = shipped_quantities(&delivered, ShipmentDirection::Outbound);
    let complete = physical_quantities(&order.lines)
        .iter()
        .all(|(product, units)| arrived.get(product).copied().unwrap_or(0) >= *units);
    if !complete {
        return Ok(());
    }
    let runs = super::automation::runs_of_order(cx.tx, cx.workspace_id, order_id).await?;
    if runs.iter().any(|run| !run.status.is_done()) {
        return Ok(());
    }
    let previous = crate::orders::move_to(&mut order, OrderStatus::Fulfilled)?;
    order.updated_at = cx.now;
    crate::orders::save(cx, &order).await?;
    let shipment_ids: Vec<&str> = delivered
        .iter()
        .filter(|s| s.direction == ShipmentDirection::Outbound)
        .map(|s| s.id.as_str())
        .collect();
    crate::orders::emit(
        cx,
        event_type::ORDER_FULFILLED,
        &order,
        Some(previous),
        json!({ "shipments": shipment_ids }),
    )
    .await
}

/// Sets when the shipment is next polled (a poll that found nothing new, or failed); nothing
/// is announced. A final shipment is never polled again.
pub async fn reschedule(
    cx: &mut Context<'_>,
    mut shipment: Shipment,
    at: Option<Timestamp>,
) -> Result<(), Error> {
    shipment.next_poll_at = if shipment.status.is_terminal() {
        None
    } else {
        at
    };
    super::save(cx, &shipment).await
}
