//! `bursar couriers simulate`: the sandbox test courier replays a realistic run of events for
//! one of its shipments — for local development and demos — through the same path as a
//! courier's push (what `POST /v1/shipments/{id}/simulate` does).

use anyhow::Context as _;
use bursar_couriers::test_courier::Scenario;
use bursar_store::{Db, Tx};

/// Replays `scenario` on `shipment` (a test courier shipment of a sandbox workspace) in `db`
/// and prints the shipment and its new events as JSON.
pub async fn simulate(db: Db, shipment: String, scenario: &str) -> anyhow::Result<()> {
    let scenario = Scenario::parse(scenario).with_context(|| {
        let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.as_str()).collect();
        format!("--scenario '{scenario}': one of {}", names.join(", "))
    })?;
    let id = shipment.clone();
    let workspace = db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { bursar_store::shipping::workspace_of_shipment(tx, &id).await })
        })
        .await?
        .with_context(|| format!("no shipment {shipment}"))?;
    let app = bursar_core::App::new(db.clone(), bursar_core::Config::default());
    let cause = crate::bootstrap::system_cause("couriers-simulate");
    let update = app
        .write(workspace, cause, move |mut cx| {
            Box::pin(async move {
                bursar_core::shipments::simulate::simulate(&mut cx, &shipment, scenario).await
            })
        })
        .await
        .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
    println!(
        "{}",
        serde_json::json!({"shipment": update.shipment, "recorded": update.recorded})
    );
    db.close().await;
    Ok(())
}
