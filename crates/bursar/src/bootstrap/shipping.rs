//! Physical goods: paid orders of a serialisable sensor, for the benches (and the demo's
//! shipments as they land).

use bursar_core::App;
use bursar_domain::commerce::ProductKind;
use bursar_domain::customer::NewCustomer;
use bursar_domain::id::{ProductId, WorkspaceId};
use bursar_domain::payment_provider::TestOutcome;

use super::commerce::{checkout, complete, create_order, create_price, create_product, Seed};

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
