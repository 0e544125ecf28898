//! `GET /v1/orders/metrics`: the support team's KPI bar counts what it says.

use std::time::{Duration, Instant};

use crate::both_backends;
use crate::helpers::*;
use crate::shipping::paid_physical_order;

async fn metrics(app: &TestApp) -> Value {
    ok(app.get("/v1/orders/metrics").await).await
}

fn figures(m: &Value) -> [i64; 7] {
    [
        "outstanding_orders",
        "payment_failures",
        "active_fulfillments",
        "shipments_in_flight",
        "shipment_exceptions",
        "returns_pending",
        "manual_tasks",
    ]
    .map(|figure| {
        m[figure]
            .as_i64()
            .unwrap_or_else(|| panic!("{figure} missing: {m}"))
    })
}

both_backends! {
    /// Goal: each figure counts the orders, parcels, returns and tasks it names.
    async fn the_kpi_bar_counts_orders_parcels_returns_and_tasks(app: TestApp) {
        assert_eq!(figures(&metrics(&app).await), [0; 7]);

        // Three units paid: one parcel in transit, one held in an exception, one not shipped.
        let (order, sensor) = paid_physical_order(&app, 3).await;
        let mut parcels = Vec::new();
        for number in ["KPI1", "KPI2"] {
            let body = json!({"carrier": "test_courier", "tracking_number": number, "lines": [{"product_id": sensor, "quantity": 1}]});
            parcels.push(id(&ok(app.post(&format!("/v1/orders/{order}/shipments"), body).await).await));
        }
        ok(app.post(&format!("/v1/shipments/{}/test_events", parcels[0]), json!({"events": [{"code": "in_transit", "occurred_at": "2026-01-02T10:00:00Z"}]})).await).await;
        ok(app.post(&format!("/v1/shipments/{}/simulate", parcels[1]), json!({"scenario": "exception"})).await).await;

        // Another order delivered, whose automation fails to a manual task; a return on its way.
        ok(app.post("/v1/automation_scenarios", json!({"key": "kpi_flaky", "fallback_instructions": "By hand.",
            "steps": [{"key": "call", "action": {"type": "callback", "url": "http://127.0.0.1:9/unreachable"}, "max_attempts": 1, "retry_delay_seconds": 0}]})).await).await;
        let (other, _) = paid_physical_order(&app, 1).await;
        let sent = id(&ok(app.post(&format!("/v1/orders/{other}/shipments"), json!({"carrier": "test_courier", "tracking_number": "KPI3", "automation_scenario": "kpi_flaky"})).await).await);
        ok(app.post(&format!("/v1/shipments/{sent}/simulate"), json!({"scenario": "delivered"})).await).await;
        ok(app.post(&format!("/v1/orders/{other}/shipments"), json!({"carrier": "test_courier", "tracking_number": "KPI4", "direction": "return", "return_of": sent})).await).await;

        // One order at the checkout, one whose payment was declined.
        let buyer = id(&ok(app.post("/v1/customers", json!({"name": "Kpi"})).await).await);
        let new_order = || app.post("/v1/orders", json!({"customer_id": buyer, "currency": "USD", "lines": [{"product_id": sensor}]}));
        let waiting = id(&ok(new_order().await).await);
        ok(app.post(&format!("/v1/orders/{waiting}/checkout"), json!({})).await).await;
        let declined = id(&ok(new_order().await).await);
        let checkout = ok(app.post(&format!("/v1/orders/{declined}/checkout"), json!({})).await).await;
        let session = checkout["checkout"]["session_id"].as_str().unwrap();
        ok(app.post(&format!("/v1/test_provider/checkout_sessions/{session}/complete"), json!({"outcome": "declined"})).await).await;

        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let m = metrics(&app).await;
            if m["manual_tasks"] == 1 {
                assert_eq!(figures(&m), [1, 1, 2, 2, 1, 1, 1], "{m}");
                break;
            }
            assert!(Instant::now() < deadline, "the manual task never came: {m}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
