//! Physical goods: paid orders of a sensor for the benches, and the demo's shipments.

use bursar_core::catalog::NewProduct;
use bursar_core::shipments::{self, automation, tracking, NewShipment};
use bursar_core::App;
use bursar_couriers::{CarrierEvent, Tracking};
use bursar_domain::commerce::{Order, ProductKind};
use bursar_domain::customer::NewCustomer;
use bursar_domain::id::{CustomerId, ProductId, WorkspaceId};
use bursar_domain::payment_provider::TestOutcome;
use bursar_domain::shipping::*;
use bursar_domain::time::Timestamp;

use super::commerce::{
    checkout, complete, create_order, create_price, create_product, create_product_as, Buyers, Seed,
};

/// `count` orders of `units` soil sensors each, paid through the test provider by one buyer:
/// (the product, the orders).
pub async fn paid_physical_orders(
    app: &App,
    workspace: &WorkspaceId,
    count: usize,
    units: i64,
) -> anyhow::Result<(ProductId, Vec<String>)> {
    let seed = Seed {
        app: app.clone(),
        workspace: workspace.clone(),
    };
    let sensor = create_product(&seed, "Soil sensor", ProductKind::Physical, None, None).await?;
    create_price(&seed, &sensor, ("USD", 12_900), None, None).await?;
    let buyer = NewCustomer::parse(Some("gia@example.com"), Some("Gia Field"), None)?;
    let buyer = seed
        .write("buyer", move |mut cx| {
            Box::pin(async move { bursar_core::customers::create(&mut cx, buyer).await })
        })
        .await?
        .id;
    let mut orders = Vec::with_capacity(count);
    for _ in 0..count {
        let order = create_order(&seed, &buyer, &sensor, units, None).await?;
        let order = checkout(&seed, &order).await?;
        complete(&seed, &order, TestOutcome::Succeeded).await?;
        orders.push(order.id.to_string());
    }
    Ok((sensor, orders))
}

/// The shipping demo: serialised field sensors bought by four customers and shipped with
/// each carrier — one delivered with its automation done (the devices assigned), one
/// delivered whose provisioning callback fails (a manual task for support once the automation
/// job has tried), one held in customs (an exception), one delivered and on its way back (a
/// return), and one with the test courier in transit for `bursar couriers simulate`.
pub(super) async fn seed_shipping(
    seed: &Seed,
    buyers: &Buyers,
    now: Timestamp,
) -> anyhow::Result<()> {
    let sensor = create_serialized(seed, "Field sensor").await?;
    create_price(seed, &sensor, ("USD", 12_900), None, None).await?;
    let steps = vec![AutomationStep {
        key: "provision".into(),
        action: StepAction::Callback {
            url: "https://fleet.example.invalid/provision".into(),
        },
        max_attempts: 1,
        retry_delay_seconds: 0,
    }];
    let instructions = "Provision the sensors by hand in the fleet console, then complete \
                        the task."
        .to_owned();
    seed.write("automation scenario", move |mut cx| {
        Box::pin(async move {
            automation::put_scenario(&mut cx, "provision_gateway".into(), steps, instructions).await
        })
    })
    .await?;
    // A return that arrives puts its devices back in stock and refunds the customer.
    let steps = vec![AutomationStep {
        key: "refund".into(),
        action: StepAction::Refund,
        max_attempts: 3,
        retry_delay_seconds: 300,
    }];
    let instructions = "Refund the returned sensors from the order's page, then complete \
                        the task."
        .to_owned();
    seed.write("return scenario", move |mut cx| {
        Box::pin(async move {
            automation::put_scenario(&mut cx, "return".into(), steps, instructions).await
        })
    })
    .await?;
    let plan: [(&CustomerId, Carrier, &str, &str, Option<&str>); 5] = [
        (&buyers.ada, Carrier::Dhl, "7777777770", "delivered", None),
        (
            &buyers.grace,
            Carrier::Usps,
            "9400109104250532908587",
            "delivered",
            Some("provision_gateway"),
        ),
        (
            &buyers.katherine,
            Carrier::CanadaPost,
            "1371134583769923",
            "exception",
            None,
        ),
        (
            &buyers.hedy,
            Carrier::ChitChats,
            "CC1234567890",
            "delivered",
            None,
        ),
        (
            &buyers.ada,
            Carrier::TestCourier,
            "DEMO1",
            "in_transit",
            None,
        ),
    ];
    for (i, (buyer, carrier, number, state, scenario)) in plan.into_iter().enumerate() {
        let order = create_order(seed, buyer, &sensor, 1, None).await?;
        let order = checkout(seed, &order).await?;
        complete(seed, &order, TestOutcome::Succeeded).await?;
        let serial = format!("FS-{:04}", i + 1);
        let shipment = ship(seed, &order, &sensor, (carrier, number, &serial), scenario).await?;
        report(seed, carrier, number, state, now).await?;
        if carrier == Carrier::ChitChats {
            let back = NewShipment {
                direction: ShipmentDirection::Return,
                return_of: Some(shipment),
                ..outbound(
                    &order,
                    &sensor,
                    (Carrier::TestCourier, "DEMORETURN1", &serial),
                )
            };
            seed.write("return", move |mut cx| {
                Box::pin(async move { shipments::create(&mut cx, back).await })
            })
            .await?;
        }
    }
    Ok(())
}

async fn create_serialized(seed: &Seed, name: &str) -> anyhow::Result<ProductId> {
    let new = NewProduct {
        name: name.to_owned(),
        kind: ProductKind::Physical,
        description: Some("Soil moisture and temperature, LoRaWAN.".into()),
        license: None,
        serialized: true,
        metadata: Default::default(),
    };
    create_product_as(seed, new).await
}

fn outbound(
    order: &Order,
    product: &ProductId,
    (carrier, number, serial): (Carrier, &str, &str),
) -> NewShipment {
    NewShipment {
        order_id: order.id.to_string(),
        direction: ShipmentDirection::Outbound,
        return_of: None,
        replaces: Vec::new(),
        carrier,
        service: None,
        tracking_number: number.to_owned(),
        lines: vec![ShipmentLine {
            product_id: product.clone(),
            quantity: 1,
            serial_numbers: vec![serial.to_owned()],
        }],
        packages: vec![Package {
            weight_grams: 450,
            length_mm: Some(200),
            width_mm: Some(120),
            height_mm: Some(80),
        }],
        ship_from: None,
        ship_to: None,
        label_reference: None,
        automation_scenario: None,
        metadata: Default::default(),
    }
}

/// Ships the order's sensor: the shipment's id.
async fn ship(
    seed: &Seed,
    order: &Order,
    product: &ProductId,
    parcel: (Carrier, &str, &str),
    scenario: Option<&str>,
) -> anyhow::Result<String> {
    let new = NewShipment {
        automation_scenario: scenario.map(str::to_owned),
        ..outbound(order, product, parcel)
    };
    let shipment = seed
        .write("shipment", move |mut cx| {
            Box::pin(async move { shipments::create(&mut cx, new).await })
        })
        .await?;
    Ok(shipment.id.to_string())
}

/// Records the carrier's events of a parcel that got as far as `state`, a few hours apart and
/// the last one an hour ago, as a push would.
async fn report(
    seed: &Seed,
    carrier: Carrier,
    number: &str,
    state: &str,
    now: Timestamp,
) -> anyhow::Result<()> {
    use TrackingStatus::*;
    let life: &[(TrackingStatus, &str)] = match state {
        "delivered" => &[
            (PreTransit, "Label created"),
            (InTransit, "Departed facility"),
            (OutForDelivery, "Out for delivery"),
            (Delivered, "Delivered, front door"),
        ],
        "exception" => &[
            (PreTransit, "Label created"),
            (InTransit, "Arrived at customs"),
            (Exception, "Held by customs: documents required"),
        ],
        _ => &[
            (PreTransit, "Label created"),
            (InTransit, "Departed facility"),
        ],
    };
    let last = life.len() as i64;
    let events: Vec<CarrierEvent> = life
        .iter()
        .enumerate()
        .map(|(i, (status, words))| CarrierEvent {
            code: status.as_str().to_owned(),
            description: (*words).to_owned(),
            occurred_at: now.plus_seconds(-3_600 * (1 + 6 * (last - 1 - i as i64))),
            utc_offset: None,
            location: Some("Ottawa, ON, CA".into()),
            status: *status,
        })
        .collect();
    let tracking = Tracking {
        tracking_number: number.to_owned(),
        events,
        estimated_delivery: None,
    };
    seed.write("tracking", move |mut cx| {
        Box::pin(async move {
            tracking::record_report(&mut cx, carrier, tracking, TrackingSource::Api).await
        })
    })
    .await?;
    Ok(())
}
