//! Shipments: an order's physical lines on their way to the customer, and returns on their way
//! back, tracked by courier events ([`tracking`]).
//!
//! A shipment takes units of the order's physical lines (all that are left, or some):
//! allocation refuses more than was ordered, counting every earlier shipment that is not
//! cancelled. A return takes units of one delivered shipment, never more than it carried less
//! what came back already. The carrier is always given, never guessed from the tracking
//! number; the sandbox test courier exists only in sandbox workspaces.

pub mod automation;
pub mod connections;
pub mod devices;
pub mod poll;
mod returns;
pub mod simulate;
pub mod timeline;
pub mod tracking;

use std::collections::BTreeMap;

use bursar_domain::auth::WorkspaceMode;
use bursar_domain::commerce::{Address, Company, Order, OrderStatus};
use bursar_domain::event_type;
use bursar_domain::id::*;
use bursar_domain::metadata::Metadata;
use bursar_domain::shipping::*;
use bursar_domain::ValidationError;
use bursar_store::documents::{self, COMPANY, ORDER, SHIPMENT};
use bursar_store::{StoreError, Tx, Value};

use crate::error::Error;
use crate::write::Context;
use crate::App;

/// A shipment to create, as asked.
#[derive(Debug, Clone)]
pub struct NewShipment {
    pub order_id: String,
    pub direction: ShipmentDirection,
    /// For a return: the delivered shipment it sends back.
    pub return_of: Option<String>,
    /// For a replacement: the serial numbers of the devices it replaces (held by the order's
    /// customer); it ships one unit of their products for each, beyond what was ordered.
    pub replaces: Vec<String>,
    pub carrier: Carrier,
    pub service: Option<String>,
    pub tracking_number: String,
    /// None: everything still open.
    pub lines: Vec<ShipmentLine>,
    pub packages: Vec<Package>,
    pub ship_from: Option<Address>,
    /// None: the company's shipping address (outbound).
    pub ship_to: Option<Address>,
    pub label_reference: Option<String>,
    /// None: `first_time` outbound, `return` for a return.
    pub automation_scenario: Option<String>,
    pub metadata: Metadata,
}

/// The extra columns a shipment is found by.
fn columns(shipment: &Shipment) -> [(&'static str, Value); 6] {
    let [status, next_poll_at] = moving_columns(shipment);
    [
        ("direction", shipment.direction.as_str().into()),
        ("order_id", shipment.order_id.as_str().into()),
        ("carrier", shipment.carrier.as_str().into()),
        ("tracking_number", shipment.tracking_number.as_str().into()),
        status,
        next_poll_at,
    ]
}

/// The columns that change after a shipment is created. A save sets only these: SQLite
/// rewrites the entry of every index a set column is in, changed or not, and the others
/// (direction, order, carrier, tracking number) are fixed at creation.
fn moving_columns(shipment: &Shipment) -> [(&'static str, Value); 2] {
    [
        ("status", shipment.status.as_str().into()),
        (
            "next_poll_at",
            shipment.next_poll_at.map(|t| t.unix_micros()).into(),
        ),
    ]
}

pub(crate) async fn save(cx: &mut Context<'_>, shipment: &Shipment) -> Result<(), Error> {
    let id = shipment.id.as_str();
    documents::save(
        cx.tx,
        SHIPMENT,
        cx.workspace_id,
        id,
        shipment,
        &moving_columns(shipment),
    )
    .await?;
    Ok(())
}

/// The shipments of an order, oldest first.
pub async fn of_order(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    order_id: &str,
) -> Result<Vec<Shipment>, StoreError> {
    let mut shipments: Vec<Shipment> =
        documents::find_in(tx, SHIPMENT, workspace_id, "order_id", &[order_id]).await?;
    shipments.sort_by_key(|s| s.created_at);
    Ok(shipments)
}

/// Creates a shipment of a paid order (`shipment.created`).
pub async fn create(cx: &mut Context<'_>, new: NewShipment) -> Result<Shipment, Error> {
    if new.carrier.sandbox_only()
        && bursar_store::workspaces::mode_of(cx.tx, cx.workspace_id).await?
            != WorkspaceMode::Sandbox
    {
        return Err(Error::invalid(
            "sandbox_only",
            Some("carrier".into()),
            "The test courier exists only in sandbox workspaces; this workspace is live. Ship \
             with dhl, usps, canada_post or chit_chats.",
        ));
    }
    let tracking_number = parse_tracking_number("tracking_number", &new.tracking_number)?;
    let order: Order = crate::lookup::get_in(cx, ORDER, "order", &new.order_id, "order_id").await?;
    let existing = of_order(cx.tx, cx.workspace_id, order.id.as_str()).await?;
    let (return_of, available) = match new.direction {
        ShipmentDirection::Outbound if !new.replaces.is_empty() => {
            check_replaceable(&order)?;
            (None, devices::replaceable(cx, &order, &new.replaces).await?)
        }
        ShipmentDirection::Outbound => (None, open_to_ship(&order, &existing)?),
        ShipmentDirection::Return if !new.replaces.is_empty() => {
            return Err(Error::invalid(
                "parameter_invalid",
                Some("replaces".into()),
                "A return replaces nothing; a replacement is an outbound shipment.",
            ))
        }
        ShipmentDirection::Return => {
            let (origin, open) = open_to_return(&order, &existing, new.return_of.as_deref())?;
            (Some(origin), open)
        }
    };
    let lines = allocate(new.lines, &available)?;
    for (i, package) in new.packages.iter().enumerate() {
        check_package(i, package)?;
    }
    check_address("ship_from", new.ship_from.as_ref())?;
    check_address("ship_to", new.ship_to.as_ref())?;
    refuse_reused_tracking(cx, new.carrier, &tracking_number).await?;
    let automation_scenario = match new.automation_scenario {
        Some(key) => Some(automation::check_named(cx, &key).await?),
        None if !new.replaces.is_empty() => Some("replacement".to_owned()),
        None => Some(automation::default_key(new.direction).to_owned()),
    };
    let company_address = company_shipping_address(cx, &order).await?;
    let (ship_from, ship_to) = match new.direction {
        ShipmentDirection::Outbound => (new.ship_from, new.ship_to.or(company_address)),
        ShipmentDirection::Return => (new.ship_from.or(company_address), new.ship_to),
    };
    let mut shipment = Shipment {
        id: ShipmentId::new(),
        object: "shipment".into(),
        order_id: order.id.clone(),
        customer_id: order.customer_id.clone(),
        company_id: order.company_id.clone(),
        direction: new.direction,
        return_of,
        replaces: new.replaces,
        carrier: new.carrier,
        service: new.service,
        tracking_number,
        status: TrackingStatus::PreTransit,
        lines,
        devices: Vec::new(),
        packages: new.packages,
        ship_from,
        ship_to,
        label_reference: new.label_reference,
        automation_scenario,
        last_event_at: None,
        delivered_at: None,
        next_poll_at: tracking::first_poll(new.carrier, cx.now),
        metadata: new.metadata,
        created_at: cx.now,
        updated_at: cx.now,
    };
    let origin = existing
        .iter()
        .find(|s| Some(&s.id) == shipment.return_of.as_ref());
    shipment.devices = devices::load(cx, &shipment, origin).await?;
    let id = shipment.id.as_str();
    documents::insert(
        cx.tx,
        SHIPMENT,
        cx.workspace_id,
        id,
        &shipment,
        &columns(&shipment),
    )
    .await?;
    cx.emit_object(event_type::SHIPMENT_CREATED, "shipment", id, &shipment)
        .await?;
    Ok(shipment)
}

/// A replacement ships for an order that was paid (and may be fulfilled since).
fn check_replaceable(order: &Order) -> Result<(), Error> {
    if matches!(
        order.status,
        OrderStatus::Paid | OrderStatus::PartiallyRefunded | OrderStatus::Fulfilled
    ) {
        return Ok(());
    }
    Err(Error::state(
        "order_state_invalid",
        order.status.as_str(),
        "Only a paid or fulfilled order's devices are replaced.",
    ))
}

/// Units per product an outbound shipment may still take.
fn open_to_ship(order: &Order, existing: &[Shipment]) -> Result<BTreeMap<ProductId, i64>, Error> {
    if !matches!(
        order.status,
        OrderStatus::Paid | OrderStatus::PartiallyRefunded
    ) {
        return Err(Error::state(
            "order_state_invalid",
            order.status.as_str(),
            format!(
                "An order that is {} cannot be shipped; it ships once paid.",
                order.status.as_str()
            ),
        ));
    }
    let ordered = physical_quantities(&order.lines);
    if ordered.is_empty() {
        return Err(Error::invalid(
            "nothing_to_ship",
            Some("order_id".into()),
            "This order has no physical lines to ship.",
        ));
    }
    let shipped = shipped_quantities(existing, ShipmentDirection::Outbound);
    Ok(ordered
        .into_iter()
        .map(|(product, units)| {
            let open = units - shipped.get(&product).copied().unwrap_or(0);
            (product, open)
        })
        .collect())
}

/// The delivered shipment a return sends back, and the units per product it may still take.
fn open_to_return(
    order: &Order,
    existing: &[Shipment],
    return_of: Option<&str>,
) -> Result<(ShipmentId, BTreeMap<ProductId, i64>), Error> {
    let Some(return_of) = return_of else {
        return Err(ValidationError::missing("return_of").into());
    };
    let Some(origin) = existing
        .iter()
        .find(|s| s.id.as_str() == return_of && s.direction == ShipmentDirection::Outbound)
    else {
        return Err(Error::not_found("shipment", return_of).with_param("return_of"));
    };
    if origin.status != TrackingStatus::Delivered {
        return Err(Error::state(
            "shipment_state_invalid",
            origin.status.as_str(),
            "Only a delivered shipment can be returned.",
        ));
    }
    if matches!(order.status, OrderStatus::Refunded | OrderStatus::Canceled) {
        return Err(Error::state(
            "order_state_invalid",
            order.status.as_str(),
            "A refunded or canceled order takes no returns.",
        ));
    }
    let mut open: BTreeMap<ProductId, i64> = BTreeMap::new();
    for line in &origin.lines {
        *open.entry(line.product_id.clone()).or_insert(0) += line.quantity;
    }
    let returns: Vec<Shipment> = existing
        .iter()
        .filter(|s| s.return_of.as_ref() == Some(&origin.id))
        .cloned()
        .collect();
    for (product, units) in shipped_quantities(&returns, ShipmentDirection::Return) {
        if let Some(open) = open.get_mut(&product) {
            *open -= units;
        }
    }
    Ok((origin.id.clone(), open))
}

fn check_address(param: &str, address: Option<&Address>) -> Result<(), ValidationError> {
    let Some(address) = address else {
        return Ok(());
    };
    crate::companies::check_addresses(std::slice::from_ref(address)).map_err(|mut e| {
        e.param = e.param.replacen("addresses[0]", param, 1);
        e
    })
}

/// A carrier's tracking number names one parcel: a second live shipment with it would receive
/// the first one's events.
async fn refuse_reused_tracking(
    cx: &mut Context<'_>,
    carrier: Carrier,
    tracking_number: &str,
) -> Result<(), Error> {
    let same: Vec<Shipment> = documents::find_in(
        cx.tx,
        SHIPMENT,
        cx.workspace_id,
        "tracking_number",
        &[tracking_number],
    )
    .await?;
    if let Some(other) = same
        .iter()
        .find(|s| s.carrier == carrier && s.status != TrackingStatus::Cancelled)
    {
        return Err(Error::state(
            "tracking_number_in_use",
            other.status.as_str(),
            format!(
                "{} tracking number {tracking_number} belongs to shipment {} already.",
                carrier.as_str(),
                other.id
            ),
        )
        .with_param("tracking_number"));
    }
    Ok(())
}

async fn company_shipping_address(
    cx: &mut Context<'_>,
    order: &Order,
) -> Result<Option<Address>, Error> {
    let Some(company_id) = &order.company_id else {
        return Ok(None);
    };
    let company: Option<Company> =
        documents::get(cx.tx, COMPANY, cx.workspace_id, company_id.as_str(), false).await?;
    Ok(company.and_then(|c| {
        let shipping = c.addresses.iter().find(|a| a.kind == "shipping");
        shipping.or(c.addresses.first()).cloned()
    }))
}

/// Cancels a shipment the carrier has not picked up (`shipment.cancelled`): its units are open
/// to ship again. Recorded as an event of the shipment, like every change of its status.
pub async fn cancel(cx: &mut Context<'_>, id: &str) -> Result<Shipment, Error> {
    let shipment: Shipment = crate::lookup::get_in(cx, SHIPMENT, "shipment", id, "id").await?;
    if shipment.status != TrackingStatus::PreTransit {
        return Err(Error::state(
            "shipment_state_invalid",
            shipment.status.as_str(),
            format!(
                "A shipment that is {} cannot be cancelled: the carrier has it.",
                shipment.status.as_str()
            ),
        ));
    }
    let cancelled = bursar_couriers::CarrierEvent {
        code: "bursar.cancelled".into(),
        description: "Cancelled before the carrier picked it up".into(),
        occurred_at: cx.now,
        utc_offset: None,
        location: None,
        status: TrackingStatus::Cancelled,
    };
    let update = tracking::record(cx, shipment, vec![cancelled], TrackingSource::Api).await?;
    devices::unload(cx, &update.shipment).await?;
    Ok(update.shipment)
}

/// A shipment and its tracking events, oldest first.
pub async fn with_events(
    app: &App,
    workspace_id: &WorkspaceId,
    id: String,
) -> Result<(Shipment, Vec<TrackingEvent>), Error> {
    let shipment: Shipment =
        crate::lookup::get(app, workspace_id, SHIPMENT, "shipment", id.clone()).await?;
    let (workspace, of) = (workspace_id.clone(), shipment.clone());
    let events = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { bursar_store::shipping::events_of(tx, &workspace, &of).await })
        })
        .await?;
    Ok((shipment, events))
}

/// The workspace's KPI figures about orders and their fulfillment.
pub async fn order_metrics(app: &App, workspace_id: &WorkspaceId) -> Result<OrderMetrics, Error> {
    let workspace = workspace_id.clone();
    let counts = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { bursar_store::shipping::order_counts(tx, &workspace).await })
        })
        .await?;
    Ok(OrderMetrics::from_counts(
        &counts.orders,
        &counts.shipments,
        counts.manual_tasks,
        app.now(),
    ))
}

/// An order's shipments, oldest first.
pub async fn list_for_order(
    app: &App,
    workspace_id: &WorkspaceId,
    order_id: String,
) -> Result<Vec<Shipment>, Error> {
    let _: Order = crate::lookup::get(app, workspace_id, ORDER, "order", order_id.clone()).await?;
    let workspace = workspace_id.clone();
    app.db
        .read(move |tx: &mut Tx| Box::pin(async move { of_order(tx, &workspace, &order_id).await }))
        .await
        .map_err(Error::from)
}
