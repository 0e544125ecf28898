//! Serialised devices: a delivery assigns them to the customer's company, a replacement hands
//! a device's asset over to its successor, a return closes what is left; the assignment
//! history after each is exact.

use crate::both_backends;
use crate::helpers::*;
use crate::shipping::paid_order_of;

/// Ships `body` for `order` and has the test courier deliver it: the delivered shipment.
pub(crate) async fn ship_and_deliver(app: &TestApp, order: &str, body: Value) -> Value {
    let shipment = ok(app
        .post(&format!("/v1/orders/{order}/shipments"), body)
        .await)
    .await;
    let simulated = ok(app
        .post(
            &format!("/v1/shipments/{}/simulate", id(&shipment)),
            json!({"scenario": "delivered"}),
        )
        .await)
    .await;
    assert_eq!(simulated["shipment"]["status"], "delivered", "{simulated}");
    simulated["shipment"].clone()
}

async fn device(app: &TestApp, serial: &str) -> Value {
    let found = ok(app
        .get(&format!("/v1/devices?serial_number={serial}"))
        .await)
    .await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1, "{found}");
    found["data"][0].clone()
}

/// A device's history, each window as (kind, asset, from, to, opened by, closed by).
async fn history(app: &TestApp, serial: &str) -> Vec<Value> {
    let device = device(app, serial).await;
    let windows = ok(app
        .get(&format!("/v1/devices/{}/assignments", id(&device)))
        .await)
    .await;
    windows["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            json!([
                w["kind"],
                w["asset"],
                w["from"],
                w["to"],
                w["opened_by"]["reason"],
                w["closed_by"]["reason"]
            ])
        })
        .collect()
}

both_backends! {
    /// Goal (issue #20, point 3): the assignment history after a delivery, a replacement and
    /// a return is exact.
    async fn assignment_history_follows_delivery_replacement_and_return(
        app: TestApp = crate::helpers::TestApp::spawn_with_clock,
        clock: ManualClock = "2026-12-01T09:00:00Z",
    ) {
        let refused = app.post("/v1/products", json!({"name": "Licence", "kind": "digital", "serialized": true})).await;
        expect_error(refused, 400, "parameter_invalid", Some("serialized")).await;
        let (order, tracker) = paid_order_of(&app, json!({"name": "GPS tracker", "kind": "physical", "serialized": true}), 2).await;
        let stocked = ok(app.post("/v1/devices", json!({"serial_number": "SN-A1", "product_id": tracker})).await).await;
        assert_eq!(stocked["status"], "in_stock");
        let again = app.post("/v1/devices", json!({"serial_number": "SN-A1", "product_id": tracker})).await;
        expect_error(again, 409, "serial_number_in_use", Some("serial_number")).await;

        // A serialised product ships with one serial number per unit.
        let unnamed = app.post(&format!("/v1/orders/{order}/shipments"), json!({"carrier": "test_courier", "tracking_number": "DEV0"})).await;
        expect_error(unnamed, 400, "parameter_invalid", Some("lines[0].serial_numbers")).await;

        // Delivery: both devices assigned to the company (SN-A2 registered as it shipped).
        let first = ship_and_deliver(&app, &order, json!({"carrier": "test_courier", "tracking_number": "DEV1",
            "lines": [{"product_id": tracker, "quantity": 2, "serial_numbers": ["SN-A1", "SN-A2"]}]})).await;
        let delivered_at = first["delivered_at"].clone();
        assert_eq!(first["devices"].as_array().unwrap().len(), 2, "{first}");
        let a1 = device(&app, "SN-A1").await;
        assert_eq!((a1["status"].as_str(), a1["holder"]["company_id"].is_string()), (Some("assigned"), true), "{a1}");
        assert_eq!(ok(app.get(&format!("/v1/orders/{order}")).await).await["status"], "fulfilled",
            "the built-in devices step ran at delivery");
        let shipped_twice = app.post(&format!("/v1/orders/{order}/shipments"), json!({"carrier": "test_courier", "tracking_number": "DEV9",
            "replaces": ["SN-A2"], "lines": [{"product_id": tracker, "quantity": 1, "serial_numbers": ["SN-A1"]}]})).await;
        let body = expect_error(shipped_twice, 409, "device_unavailable", Some("lines[0].serial_numbers[0]")).await;
        assert_eq!(body["error"]["current_state"], "assigned");

        // SN-A1 is installed in a truck.
        clock.advance_seconds(3600);
        let installed = ok(app.post(&format!("/v1/devices/{}/asset", id(&a1)), json!({"asset": "Truck 17"})).await).await;
        assert_eq!(installed["asset"], "Truck 17");
        let installed_at = "2026-12-01T10:00:00Z";

        // Replacement: SN-B1 takes SN-A1's place, and its truck.
        clock.advance_seconds(3600);
        let replacement = ship_and_deliver(&app, &order, json!({"carrier": "test_courier", "tracking_number": "DEV2",
            "replaces": ["SN-A1"], "lines": [{"product_id": tracker, "quantity": 1, "serial_numbers": ["SN-B1"]}]})).await;
        assert_eq!(replacement["automation_scenario"], "replacement");
        let replaced_at = replacement["delivered_at"].clone();
        let again = app.post(&format!("/v1/orders/{order}/shipments"), json!({"carrier": "test_courier", "tracking_number": "DEV3",
            "replaces": ["SN-A1"], "lines": [{"product_id": tracker, "quantity": 1, "serial_numbers": ["SN-C1"]}]})).await;
        let body = expect_error(again, 409, "device_unavailable", Some("replaces[0]")).await;
        assert_eq!(body["error"]["current_state"], "replaced");

        // Return: both original devices come back.
        clock.advance_seconds(3600);
        let returned = ship_and_deliver(&app, &order, json!({"carrier": "test_courier", "tracking_number": "DEV4",
            "direction": "return", "return_of": id(&first),
            "lines": [{"product_id": tracker, "quantity": 2, "serial_numbers": ["SN-A1", "SN-A2"]}]})).await;
        let returned_at = returned["delivered_at"].clone();

        assert_eq!(history(&app, "SN-A1").await, vec![
            json!(["company", null, delivered_at, replaced_at, "delivered", "replacement"]),
            json!(["asset", "Truck 17", installed_at, replaced_at, "installed", "replacement"]),
        ]);
        assert_eq!(history(&app, "SN-B1").await, vec![
            json!(["company", null, replaced_at, null, "replacement", null]),
            json!(["asset", "Truck 17", replaced_at, null, "replacement", null]),
        ]);
        assert_eq!(history(&app, "SN-A2").await, vec![
            json!(["company", null, delivered_at, returned_at, "delivered", "returned"]),
        ]);
        for (serial, status) in [("SN-A1", "in_stock"), ("SN-A2", "in_stock"), ("SN-B1", "assigned")] {
            assert_eq!(device(&app, serial).await["status"], status, "{serial}");
        }
        let b1 = device(&app, "SN-B1").await;
        assert_eq!(b1["asset"], "Truck 17");
        let windows = ok(app.get(&format!("/v1/devices/{}/assignments", id(&b1))).await).await;
        assert_eq!(windows["data"][0]["opened_by"]["other_device_id"], id(&a1).as_str(), "{windows}");
        let held = ok(app.get(&format!("/v1/devices?company_id={}", b1["holder"]["company_id"].as_str().unwrap())).await).await;
        assert_eq!(held["data"].as_array().unwrap().len(), 1, "only SN-B1 is still with the company: {held}");

        // The timelines, in two lanes: the business lane has the shipment's and its automation
        // run's events; the courier lane each scan, in the order they happened.
        let timeline = ok(app.get(&format!("/v1/shipments/{}/timeline", id(&first))).await).await;
        let lane = |timeline: &Value, lane: &str| -> Vec<String> {
            timeline["data"].as_array().unwrap().iter().filter(|e| e["lane"] == lane)
                .map(|e| e["type"].as_str().unwrap().to_owned()).collect()
        };
        let business = lane(&timeline, "business");
        for expected in ["shipment.created", "shipment.tracking_updated", "shipment.delivered", "automation_run.started", "automation_run.succeeded"] {
            assert!(business.contains(&expected.to_owned()), "{expected} missing: {business:?}");
        }
        let tracked = ok(app.get(&format!("/v1/shipments/{}/tracking_events", id(&first))).await).await;
        let mut scans: Vec<(String, String)> = tracked["data"].as_array().unwrap().iter()
            .map(|e| (e["occurred_at"].as_str().unwrap().to_owned(), e["status"].as_str().unwrap().to_owned())).collect();
        scans.sort();
        assert_eq!(lane(&timeline, "courier"), scans.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>());
        assert_eq!(scans.last().unwrap().1, "delivered");
        let instants: Vec<&str> = timeline["data"].as_array().unwrap().iter().map(|e| e["occurred_at"].as_str().unwrap()).collect();
        assert!(instants.windows(2).all(|w| w[0] <= w[1]), "oldest first: {instants:?}");
        let order_lanes = ok(app.get(&format!("/v1/orders/{order}/shipping_timeline")).await).await;
        let order_business = lane(&order_lanes, "business");
        assert!(order_business.contains(&"order.paid".to_owned()) && order_business.contains(&"order.fulfilled".to_owned()), "{order_business:?}");
        assert_eq!(order_business.iter().filter(|t| *t == "shipment.created").count(), 3, "three parcels: {order_business:?}");
        assert_eq!(lane(&order_lanes, "courier").iter().filter(|t| *t == "delivered").count(), 3, "each parcel's delivery scan");
    }
}
