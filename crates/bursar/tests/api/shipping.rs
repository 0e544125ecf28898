//! Physical fulfillment end to end: a paid order ships in two parcels, courier events arrive
//! late, twice and out of order, the status only moves forward, and the order is fulfilled
//! when the last unit is delivered; returns, cancellations and bad input.

use bursar_domain::auth::Scope;

use crate::both_backends;
use crate::helpers::*;

/// The types of the events recorded about one object, in order.
pub(crate) async fn event_types(app: &TestApp, aggregate_id: &str) -> Vec<String> {
    let aggregate_id = aggregate_id.to_owned();
    app.db()
        .read(move |tx: &mut bursar_store::Tx| {
            Box::pin(async move {
                let rows = tx
                    .fetch_all(
                        "select event_type from domain_event where aggregate_id = $1 order by position",
                        bursar_store::params![aggregate_id.as_str()],
                    )
                    .await?;
                rows.iter().map(|r| r.text("event_type")).collect()
            })
        })
        .await
        .unwrap()
}

/// A paid order of `units` of a physical product (and a digital one when `with_digital`) by a
/// member of a company with a shipping address: (order, physical product).
pub(crate) async fn paid_physical_order(app: &TestApp, units: i64) -> (String, String) {
    paid_order_of(
        app,
        json!({"name": "Soil sensor", "kind": "physical"}),
        units,
    )
    .await
}

/// A paid order of `units` of a new product made from `product` (as for `paid_physical_order`).
pub(crate) async fn paid_order_of(app: &TestApp, product: Value, units: i64) -> (String, String) {
    let sensor = id(&ok(app.post("/v1/products", product).await).await);
    ok(app
        .post(
            "/v1/prices",
            json!({"product_id": sensor, "currency": "USD", "unit_amount": 12_900}),
        )
        .await)
    .await;
    let company = id(&ok(app.post("/v1/companies", json!({"name": "Greenhouse Co", "addresses": [
        {"kind": "billing", "line1": "1 Ledger Way", "city": "Toronto", "country": "CA"},
        {"kind": "shipping", "line1": "42 Field Road", "city": "Ottawa", "state": "ON", "postal_code": "K1A 0B1", "country": "CA"},
    ]})).await).await);
    let buyer = id(&ok(app
        .post(
            "/v1/customers",
            json!({"name": "Gia", "email": "gia@example.com", "company_id": company}),
        )
        .await)
    .await);
    let order = id(&ok(app.post("/v1/orders", json!({"customer_id": buyer, "currency": "USD", "lines": [{"product_id": sensor, "quantity": units}]})).await).await);
    let checkout = ok(app
        .post(&format!("/v1/orders/{order}/checkout"), json!({}))
        .await)
    .await;
    let url = checkout["checkout"]["url"].as_str().unwrap().to_owned();
    assert_eq!(
        submit_form(app, &url, &format!("{url}/pay")).await.status(),
        200
    );
    assert_eq!(
        ok(app.get(&format!("/v1/orders/{order}")).await).await["status"],
        "paid"
    );
    (order, sensor)
}

fn event(code: &str, at: &str) -> Value {
    json!({"code": code, "description": format!("{code} scan"), "occurred_at": at, "location": "Ottawa, ON, CA"})
}

async fn report(app: &TestApp, shipment: &str, events: Vec<Value>) -> Value {
    ok(app
        .post(
            &format!("/v1/shipments/{shipment}/test_events"),
            json!({"events": events}),
        )
        .await)
    .await
}

both_backends! {
    /// Goal: a paid order → two shipments (allocation refuses a third unit) → courier events
    /// out of order and duplicated → the status only moves forward → the first parcel
    /// delivered leaves the order paid → the second delivered fulfills it, once.
    async fn a_paid_order_ships_and_is_fulfilled_when_every_unit_arrives(app: TestApp) {
        let (order, sensor) = paid_physical_order(&app, 3).await;
        let first = ok(app.post(&format!("/v1/orders/{order}/shipments"), json!({
            "carrier": "test_courier", "service": "ground", "tracking_number": "tc 0001 ca",
            "lines": [{"product_id": sensor, "quantity": 2, "serial_numbers": ["SN-0001", "SN-0002"]}],
            "packages": [{"weight_grams": 850, "length_mm": 300, "width_mm": 200, "height_mm": 100}],
        })).await).await;
        let a = id(&first);
        assert_eq!((first["status"].as_str(), first["tracking_number"].as_str()), (Some("pre_transit"), Some("TC0001CA")));
        assert_eq!(first["ship_to"]["line1"], "42 Field Road", "the company's shipping address: {first}");
        assert_eq!(first["next_poll_at"], Value::Null, "the test courier pushes; nobody polls it");

        // Two units are taken: a shipment of two more is refused, naming the line.
        let over = app.post(&format!("/v1/orders/{order}/shipments"), json!({
            "carrier": "test_courier", "tracking_number": "TC0002CA", "lines": [{"product_id": sensor, "quantity": 2}],
        })).await;
        let body = expect_error(over, 400, "parameter_invalid", Some("lines[0].quantity")).await;
        assert!(body["error"]["message"].as_str().unwrap().contains("Only 1 unit"), "{body}");
        // The same tracking number twice would receive the first parcel's events.
        let reused = app.post(&format!("/v1/orders/{order}/shipments"), json!({"carrier": "test_courier", "tracking_number": "TC0001CA"})).await;
        expect_error(reused, 409, "tracking_number_in_use", Some("tracking_number")).await;
        // No lines: what is left.
        let second = ok(app.post(&format!("/v1/orders/{order}/shipments"), json!({"carrier": "test_courier", "tracking_number": "TC0002CA"})).await).await;
        let b = id(&second);
        assert_eq!(second["lines"], json!([{"product_id": sensor, "quantity": 1, "serial_numbers": []}]));
        let nothing = app.post(&format!("/v1/orders/{order}/shipments"), json!({"carrier": "test_courier", "tracking_number": "TC0003CA"})).await;
        expect_error(nothing, 400, "parameter_invalid", Some("lines")).await;

        // Events arrive out of order: out for delivery first, then the older in-transit scan.
        let update = report(&app, &a, vec![event("out_for_delivery", "2026-12-02T08:10:00-05:00")]).await;
        assert_eq!((update["previous_status"].as_str(), update["shipment"]["status"].as_str()), (Some("pre_transit"), Some("out_for_delivery")));
        let update = report(&app, &a, vec![event("in_transit", "2026-12-01T16:00:00-05:00")]).await;
        assert_eq!(update["shipment"]["status"], "out_for_delivery", "a late scan never moves it back: {update}");
        assert_eq!(update["recorded"].as_array().unwrap().len(), 1);
        // The same event again, twice in one report and once more: recorded once.
        let again = report(&app, &a, vec![
            event("in_transit", "2026-12-01T16:00:00-05:00"),
            event("in_transit", "2026-12-01T16:00:00-05:00"),
        ]).await;
        assert_eq!(again["recorded"], json!([]), "{again}");
        // An unknown code is kept and changes nothing.
        let odd = report(&app, &a, vec![event("sorted_by_robot", "2026-12-02T07:00:00-05:00")]).await;
        assert_eq!((odd["recorded"][0]["status"].as_str(), odd["shipment"]["status"].as_str()), (Some("unknown"), Some("out_for_delivery")));

        let delivered = report(&app, &a, vec![event("delivered", "2026-12-02T13:58:00-05:00")]).await;
        assert_eq!(delivered["shipment"]["status"], "delivered");
        assert_eq!(delivered["shipment"]["delivered_at"], "2026-12-02T18:58:00Z");
        let late = report(&app, &a, vec![event("exception", "2026-12-03T09:00:00-05:00")]).await;
        assert_eq!(late["shipment"]["status"], "delivered", "delivered is final: {late}");
        assert_eq!(ok(app.get(&format!("/v1/orders/{order}")).await).await["status"], "paid", "one unit is still on its way");

        let events = ok(app.get(&format!("/v1/shipments/{a}/tracking_events")).await).await;
        let rows: Vec<(String, String, String, String)> = events["data"].as_array().unwrap().iter().map(|e| (
            e["code"].as_str().unwrap().to_owned(), e["status"].as_str().unwrap().to_owned(),
            e["occurred_at"].as_str().unwrap().to_owned(), e["utc_offset"].as_str().unwrap().to_owned(),
        )).collect();
        let row = |code: &str, status: &str, at: &str| (code.to_owned(), status.to_owned(), at.to_owned(), "-05:00".to_owned());
        assert_eq!(rows, vec![
            row("in_transit", "in_transit", "2026-12-01T21:00:00Z"),
            row("sorted_by_robot", "unknown", "2026-12-02T12:00:00Z"),
            row("out_for_delivery", "out_for_delivery", "2026-12-02T13:10:00Z"),
            row("delivered", "delivered", "2026-12-02T18:58:00Z"),
            row("exception", "exception", "2026-12-03T14:00:00Z"),
        ]);

        // The simulator delivers the second parcel: the order is fulfilled, once.
        let simulated = ok(app.post(&format!("/v1/shipments/{b}/simulate"), json!({"scenario": "delivered"})).await).await;
        assert_eq!(simulated["shipment"]["status"], "delivered");
        assert_eq!(simulated["recorded"].as_array().unwrap().len(), 6);
        let fulfilled = ok(app.get(&format!("/v1/orders/{order}")).await).await;
        assert_eq!(fulfilled["status"], "fulfilled", "{fulfilled}");
        // A second run (at later instants) changes nothing that is final.
        let replay = ok(app.post(&format!("/v1/shipments/{b}/simulate"), json!({"scenario": "exception"})).await).await;
        assert_eq!((replay["previous_status"].as_str(), replay["shipment"]["status"].as_str()), (Some("delivered"), Some("delivered")));
        let order_events = event_types(&app, &order).await;
        assert_eq!(order_events.iter().filter(|t| *t == "order.fulfilled").count(), 1, "{order_events:?}");
        let shipment_events = event_types(&app, &a).await;
        assert_eq!(shipment_events.first().map(String::as_str), Some("shipment.created"));
        assert_eq!(shipment_events.iter().filter(|t| *t == "shipment.delivered").count(), 1, "{shipment_events:?}");
        let listed = ok(app.get(&format!("/v1/orders/{order}/shipments")).await).await;
        assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    }
}

both_backends! {
    /// Goal: a delivered parcel can come back (no more than it carried); a shipment is
    /// cancelled only before the carrier has it, freeing its units; bad input is refused
    /// naming the field and writes nothing; a live workspace cannot use the test courier.
    async fn returns_cancellations_and_refusals(app: TestApp) {
        let (order, sensor) = paid_physical_order(&app, 2).await;
        let path = format!("/v1/orders/{order}/shipments");
        let bad = |body: Value| app.post(&path, body);
        expect_error(bad(json!({"carrier": "fedex", "tracking_number": "1"})).await, 400, "parameter_invalid", Some("carrier")).await;
        expect_error(bad(json!({"carrier": "test_courier", "tracking_number": "12-34"})).await, 400, "parameter_invalid", Some("tracking_number")).await;
        expect_error(bad(json!({"carrier": "test_courier", "tracking_number": "T1", "packages": [{"weight_grams": 0}]})).await, 400, "parameter_invalid", Some("packages[0].weight_grams")).await;
        expect_error(bad(json!({"carrier": "test_courier", "tracking_number": "T1", "lines": [{"product_id": sensor, "quantity": 2, "serial_numbers": ["A"]}]})).await, 400, "parameter_invalid", Some("lines[0].serial_numbers")).await;
        expect_error(bad(json!({"carrier": "test_courier", "tracking_number": "T1", "direction": "return"})).await, 400, "parameter_missing", Some("return_of")).await;
        assert_eq!(ok(app.get("/v1/shipments").await).await["data"], json!([]), "refused input writes nothing");

        // Cancelled before pickup: the units are open again.
        let first = id(&ok(bad(json!({"carrier": "test_courier", "tracking_number": "T1"})).await).await);
        let cancelled = ok(app.post(&format!("/v1/shipments/{first}/cancel"), json!({})).await).await;
        assert_eq!(cancelled["status"], "cancelled");
        let shipped = id(&ok(bad(json!({"carrier": "test_courier", "tracking_number": "T1"})).await).await);
        report(&app, &shipped, vec![event("in_transit", "2026-12-01T10:00:00Z")]).await;
        let late = app.post(&format!("/v1/shipments/{shipped}/cancel"), json!({})).await;
        let body = expect_error(late, 409, "shipment_state_invalid", None).await;
        assert_eq!(body["error"]["current_state"], "in_transit");
        // A return before delivery is refused; after delivery it takes at most what came.
        let early = bad(json!({"carrier": "test_courier", "tracking_number": "R1", "direction": "return", "return_of": shipped})).await;
        expect_error(early, 409, "shipment_state_invalid", None).await;
        ok(app.post(&format!("/v1/shipments/{shipped}/simulate"), json!({"scenario": "delivered"})).await).await;
        assert_eq!(ok(app.get(&format!("/v1/orders/{order}")).await).await["status"], "fulfilled");
        let too_many = bad(json!({"carrier": "test_courier", "tracking_number": "R1", "direction": "return", "return_of": shipped, "lines": [{"product_id": sensor, "quantity": 3}]})).await;
        expect_error(too_many, 400, "parameter_invalid", Some("lines[0].quantity")).await;
        let back = ok(bad(json!({"carrier": "test_courier", "tracking_number": "R1", "direction": "return", "return_of": shipped, "lines": [{"product_id": sensor, "quantity": 1}]})).await).await;
        assert_eq!((back["direction"].as_str(), back["return_of"].as_str()), (Some("return"), Some(shipped.as_str())));
        assert_eq!(back["ship_from"]["line1"], "42 Field Road", "a return comes from the customer: {back}");
        let returned = ok(app.post(&format!("/v1/shipments/{}/simulate", id(&back)), json!({"scenario": "return"})).await).await;
        assert_eq!(returned["shipment"]["status"], "returned_to_sender");
        expect_error(app.post(&format!("/v1/shipments/{}/simulate", id(&back)), json!({"scenario": "teleport"})).await, 400, "parameter_invalid", Some("scenario")).await;
        expect_error(report_raw(&app, &shipped, vec![event("in_transit", "yesterday")]).await, 400, "parameter_invalid", Some("events[0].occurred_at")).await;

        // Only paid orders ship, and only their physical lines.
        let draft = id(&ok(app.post("/v1/orders", json!({"customer_id": ok(app.get(&format!("/v1/orders/{order}")).await).await["customer_id"], "currency": "USD", "lines": [{"product_id": sensor, "quantity": 1}]})).await).await);
        let unpaid = app.post(&format!("/v1/orders/{draft}/shipments"), json!({"carrier": "test_courier", "tracking_number": "T9"})).await;
        let body = expect_error(unpaid, 409, "order_state_invalid", None).await;
        assert_eq!(body["error"]["current_state"], "draft");

        let (_live, _, secret) = bursar::bootstrap::create_workspace(app.db(), "Live shop", Scope::Admin).await.unwrap();
        let refused = app.client.post(app.url(&format!("/v1/orders/{order}/shipments"))).bearer_auth(secret.expose())
            .json(&json!({"carrier": "test_courier", "tracking_number": "T1"})).send().await.unwrap();
        expect_error(refused, 400, "sandbox_only", Some("carrier")).await;
    }
}

async fn report_raw(app: &TestApp, shipment: &str, events: Vec<Value>) -> reqwest::Response {
    app.post(
        &format!("/v1/shipments/{shipment}/test_events"),
        json!({"events": events}),
    )
    .await
}

both_backends! {
    /// Goal: parcels' events reported at once by many concurrent writers (each event twice,
    /// as a push and a poll would) are each recorded once and fold to the same status as one
    /// report of all of them: no report's refold loses another's events.
    /// Method: 20 parcels × 6 events × 2 copies (and all of them again shuffled), each a
    /// report of its own, recorded eight per write from 24 tasks through the core (HTTP would
    /// space them out).
    async fn concurrent_reports_of_one_parcel_fold_completely(app: TestApp) {
        let (order, sensor) = paid_physical_order(&app, 20).await;
        let mut parcels = Vec::new();
        for n in 0..20 {
            let body = json!({"carrier": "test_courier", "tracking_number": format!("RACE{n}"), "lines": [{"product_id": sensor, "quantity": 1}]});
            parcels.push(id(&ok(app.post(&format!("/v1/orders/{order}/shipments"), body).await).await));
        }
        let steps = [
            ("pre_transit", "2026-12-01T08:00:00Z"), ("in_transit", "2026-12-01T10:00:00Z"),
            ("in_transit", "2026-12-01T16:00:00Z"), ("in_transit", "2026-12-02T02:00:00Z"),
            ("out_for_delivery", "2026-12-02T08:00:00Z"), ("delivered", "2026-12-02T13:00:00Z"),
        ];
        // One parcel's reports next to each other, so that the tasks work on it at once.
        let mut reports = Vec::new();
        for n in 0..20 {
            for copy in 0..2 {
                for (code, at) in steps {
                    let event = bursar_couriers::CarrierEvent {
                        code: code.to_owned(),
                        description: format!("copy {copy}"),
                        occurred_at: bursar_domain::time::Timestamp::parse_rfc3339(at).unwrap(),
                        utc_offset: None,
                        location: None,
                        status: bursar_domain::shipping::TrackingStatus::parse(code).unwrap(),
                    };
                    reports.push(bursar_couriers::Tracking {
                        tracking_number: format!("RACE{n}"),
                        events: vec![event],
                        estimated_delivery: None,
                    });
                }
            }
        }
        // And, as the bench sends them, every parcel's reports shuffled together.
        let mut shuffled = reports.clone();
        rand::seq::SliceRandom::shuffle(shuffled.as_mut_slice(), &mut <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7));
        reports.extend(shuffled);
        let queue = std::sync::Arc::new(std::sync::Mutex::new(reports));
        let mut tasks = Vec::new();
        for _ in 0..24 {
            let (core, workspace, queue) = (app.core().clone(), app.workspace_id.clone(), queue.clone());
            tasks.push(tokio::spawn(async move {
                // Up to eight reports per write, as a push naming many parcels: writes that lock
                // several shipments (and the order) at once must not deadlock.
                loop {
                    let batch: Vec<_> = { let mut queue = queue.lock().unwrap(); let at = queue.len().saturating_sub(8); queue.split_off(at) };
                    if batch.is_empty() { break }
                    let cause = bursar_domain::event::Cause { request_id: None, actor: Some("test".into()) };
                    let reports = batch.into_iter().map(|r| (bursar_domain::shipping::Carrier::TestCourier, r)).collect();
                    let updates = core.write(workspace.clone(), cause, move |mut cx| Box::pin(async move {
                        bursar_core::shipments::tracking::record_reports(&mut cx, reports, bursar_domain::shipping::TrackingSource::Push).await
                    })).await.unwrap();
                    assert!(updates.iter().all(|(_, u)| u.is_some()), "a live shipment each");
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        for parcel in &parcels {
            let events = ok(app.get(&format!("/v1/shipments/{parcel}/tracking_events")).await).await;
            assert_eq!(events["data"].as_array().unwrap().len(), steps.len(), "{events}");
            let shipment = ok(app.get(&format!("/v1/shipments/{parcel}")).await).await;
            assert_eq!(shipment["status"], "delivered", "{shipment}");
        }
        assert_eq!(ok(app.get(&format!("/v1/orders/{order}")).await).await["status"], "fulfilled");
        let types = event_types(&app, &order).await;
        assert_eq!(types.iter().filter(|t| *t == "order.fulfilled").count(), 1, "{types:?}");
    }
}
