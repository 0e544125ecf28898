//! The sandbox test courier's events: recorded through the API one by one, or replayed as a
//! whole scenario (`bursar couriers simulate`). They take the same path as a real carrier's
//! push: the test courier's wire format, parsed by its adapter, recorded by
//! [`super::tracking::record`].

use bursar_couriers::test_courier::{self, Scenario, WireEvent, WireTracking};
use bursar_domain::shipping::{Carrier, Shipment, TrackingSource};
use bursar_domain::ValidationError;
use bursar_store::documents::SHIPMENT;

use super::tracking::{record, Update, EVENTS_PER_REPORT_MAX};
use crate::error::Error;
use crate::write::Context;

async fn test_courier_shipment(cx: &mut Context<'_>, id: &str) -> Result<Shipment, Error> {
    let shipment: Shipment = crate::lookup::get_in(cx, SHIPMENT, "shipment", id, "id").await?;
    if shipment.carrier != Carrier::TestCourier {
        return Err(Error::invalid(
            "not_test_courier",
            Some("id".into()),
            format!(
                "Only test courier shipments take simulated events; this one ships with {}, \
                 whose events come from the carrier.",
                shipment.carrier.as_str()
            ),
        ));
    }
    Ok(shipment)
}

/// Records events of a test courier shipment, as the test courier would push them.
pub async fn record_test_events(
    cx: &mut Context<'_>,
    id: &str,
    events: Vec<WireEvent>,
) -> Result<Update, Error> {
    if events.is_empty() || events.len() > EVENTS_PER_REPORT_MAX {
        return Err(ValidationError::invalid(
            "events",
            format!("Give 1 to {EVENTS_PER_REPORT_MAX} events."),
        )
        .into());
    }
    let shipment = test_courier_shipment(cx, id).await?;
    let wire = WireTracking {
        tracking_number: shipment.tracking_number.clone(),
        events,
    };
    let body = serde_json::to_vec(&wire).map_err(|_| Error::internal())?;
    let tracking = test_courier::parse_wire(&body).map_err(|message| {
        let param = message.split(' ').next().unwrap_or("events").to_owned();
        Error::from(ValidationError::invalid(param, message))
    })?;
    record(cx, shipment, tracking.events, TrackingSource::Api).await
}

/// Replays `scenario` on a test courier shipment, its last event now.
pub async fn simulate(cx: &mut Context<'_>, id: &str, scenario: Scenario) -> Result<Update, Error> {
    let events = scenario.events(cx.now);
    record_test_events(cx, id, events).await
}
