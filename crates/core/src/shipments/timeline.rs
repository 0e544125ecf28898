//! The two-lane timelines of a shipment and of an order: business events (the order's, its
//! shipments', their automation runs') beside the couriers' tracking events. (A device's own
//! history is its assignments.)

use bursar_domain::commerce::Order;
use bursar_domain::event::Event;
use bursar_domain::id::WorkspaceId;
use bursar_domain::shipping::{merge, AutomationRun, Shipment, TimelineEntry, TrackingEvent};
use bursar_store::documents::{AUTOMATION_RUN, ORDER, SHIPMENT};
use bursar_store::{StoreError, Tx};

use crate::error::Error;
use crate::App;

/// Events read per object, at most.
pub const EVENTS_PER_OBJECT_MAX: i64 = 1_000;

/// A shipment's timeline: its events and its automation run's, beside its courier events.
pub async fn of_shipment(
    app: &App,
    workspace_id: &WorkspaceId,
    id: String,
) -> Result<Vec<TimelineEntry>, Error> {
    let shipment: Shipment =
        crate::lookup::get(app, workspace_id, SHIPMENT, "shipment", id).await?;
    lanes(app, workspace_id, None, vec![shipment]).await
}

/// An order's timeline: its events and those of its shipments and their automation runs,
/// beside every courier event of its shipments.
pub async fn of_order(
    app: &App,
    workspace_id: &WorkspaceId,
    id: String,
) -> Result<Vec<TimelineEntry>, Error> {
    let order: Order = crate::lookup::get(app, workspace_id, ORDER, "order", id.clone()).await?;
    let shipments = super::list_for_order(app, workspace_id, id).await?;
    lanes(app, workspace_id, Some(order), shipments).await
}

async fn lanes(
    app: &App,
    workspace_id: &WorkspaceId,
    order: Option<Order>,
    shipments: Vec<Shipment>,
) -> Result<Vec<TimelineEntry>, Error> {
    let workspace = workspace_id.clone();
    let (business, courier) = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let mut objects: Vec<(&'static str, String)> = Vec::new();
                if let Some(order) = &order {
                    objects.push(("order", order.id.to_string()));
                }
                let mut courier: Vec<TrackingEvent> = Vec::new();
                for shipment in &shipments {
                    let id = shipment.id.to_string();
                    objects.push(("shipment", id.clone()));
                    let runs: Vec<AutomationRun> = bursar_store::documents::find_in(
                        tx,
                        AUTOMATION_RUN,
                        &workspace,
                        "shipment_id",
                        &[id.as_str()],
                    )
                    .await?;
                    objects.extend(runs.iter().map(|r| ("automation_run", r.id.to_string())));
                    courier
                        .extend(bursar_store::shipping::events_of(tx, &workspace, shipment).await?);
                }
                objects.dedup();
                let mut business: Vec<Event> = Vec::new();
                for (kind, id) in &objects {
                    let events = bursar_store::events::timeline(
                        tx,
                        &workspace,
                        kind,
                        id,
                        0,
                        EVENTS_PER_OBJECT_MAX,
                    )
                    .await?;
                    business.extend(events);
                }
                Ok::<_, StoreError>((business, courier))
            })
        })
        .await?;
    Ok(merge(&business, &courier))
}
