//! Every mutation route records its domain event.
//!
//! The routes come from the OpenAPI document, which is generated from the routers themselves:
//! a new POST route fails this test until it is exercised here, and it fails again if that
//! route changes state without recording an event.

use bursar_store::Tx;

use crate::both_backends;
use crate::helpers::*;

async fn event_count(app: &TestApp) -> i64 {
    app.db()
        .read(|tx: &mut Tx| {
            Box::pin(async move {
                tx.fetch_one("select count(*) as n from domain_event", &[])
                    .await?
                    .i64("n")
            })
        })
        .await
        .unwrap()
}

async fn sql(app: &TestApp, statement: String) {
    app.db()
        .write(move |tx: &mut Tx| Box::pin(async move { tx.execute(&statement, &[]).await }))
        .await
        .unwrap();
}

both_backends! {
    /// Goal: each POST route of the API, called successfully, records at least one event.
    async fn every_mutation_route_records_its_event(app: TestApp = crate::helpers::TestApp::spawn_without_relay) {
        let mut post_routes: Vec<String> = bursar_http::openapi()
            .paths
            .paths
            .iter()
            .filter(|(_, item)| item.post.is_some())
            .map(|(path, _)| path.clone())
            .collect();
        post_routes.sort();

        // Objects the routes act on.
        let buyer = json_body(app.post("/v1/customers", json!({"name": "Buyer"})).await).await["id"].as_str().unwrap().to_owned();
        let seller = json_body(app.post("/v1/customers", json!({"name": "Seller"})).await).await["id"].as_str().unwrap().to_owned();
        app.post("/v1/ledger/accounts", json!({"id": "acc-b", "currency": "USD"})).await;
        app.post(&format!("/v1/parties/{buyer}/wallet/fund"), json!({"id": "f0", "amount": 100, "currency": "USD"})).await;
        app.post(&format!("/v1/parties/{buyer}/wallet/commit"), json!({"id": "c0", "amount": 50, "currency": "USD"})).await;
        // Payouts go to the workspace's first bank connection: the test bank.
        let payout_bank = json_body(app.post("/v1/bank_connections", json!({"kind": "test_bank"})).await).await["id"].as_str().unwrap().to_owned();
        app.post(&format!("/v1/parties/{seller}/wallet/fund"), json!({"id": "fs", "amount": 1_000, "currency": "USD"})).await;
        let past = bursar_domain::time::Timestamp::from_unix_micros(app.db().now().unix_micros() - 1).to_rfc3339();
        let endpoint = json_body(app.post("/v1/webhook_endpoints", json!({"url": "http://127.0.0.1:9/hook"})).await).await["id"].as_str().unwrap().to_owned();
        let id_of = |v: Value| v["id"].as_str().unwrap().to_owned();
        let product = id_of(json_body(app.post("/v1/products", json!({"name": "Widget", "kind": "digital"})).await).await);
        let price = id_of(json_body(app.post("/v1/prices", json!({"product_id": product, "currency": "USD", "unit_amount": 1000})).await).await);
        let company = id_of(json_body(app.post("/v1/companies", json!({"name": "Acme"})).await).await);
        let agreement = id_of(json_body(app.post("/v1/price_agreements", json!({"company_id": company, "name": "Deal", "currency": "USD", "effective_from": past, "lines": [{"product_id": product, "unit_amount": 800}]})).await).await);
        let coupon = id_of(json_body(app.post("/v1/coupons", json!({"percent_off": 10})).await).await);
        let promotion = id_of(json_body(app.post("/v1/promotion_codes", json!({"coupon_id": coupon, "code": "TENOFF"})).await).await);
        let customer_for = |name: &str| json!({"name": name});
        let shopper = id_of(json_body(app.post("/v1/customers", customer_for("Shopper")).await).await);
        let new_order = || app.post("/v1/orders", json!({"customer_id": shopper, "currency": "USD", "lines": [{"product_id": product}]}));
        let to_cancel = id_of(json_body(new_order().await).await);
        let to_checkout = id_of(json_body(new_order().await).await);
        let paid = id_of(json_body(new_order().await).await);
        let session_of = |order: Value| order["checkout"]["session_id"].as_str().unwrap().to_owned();
        let paid_session = session_of(json_body(app.post(&format!("/v1/orders/{paid}/checkout"), json!({})).await).await);
        app.post(&format!("/v1/test_provider/checkout_sessions/{paid_session}/complete"), json!({"outcome": "succeeded"})).await;
        // A paid order of four physical units, for shipments.
        let gadget = id_of(json_body(app.post("/v1/products", json!({"name": "Gadget", "kind": "physical"})).await).await);
        app.post("/v1/prices", json!({"product_id": gadget, "currency": "USD", "unit_amount": 300})).await;
        let shippable = id_of(json_body(app.post("/v1/orders", json!({"customer_id": shopper, "currency": "USD", "lines": [{"product_id": gadget, "quantity": 6}]})).await).await);
        let shippable_session = session_of(json_body(app.post(&format!("/v1/orders/{shippable}/checkout"), json!({})).await).await);
        app.post(&format!("/v1/test_provider/checkout_sessions/{shippable_session}/complete"), json!({"outcome": "succeeded"})).await;
        let mut parcels = Vec::new();
        for tracking in ["MUT2", "MUT3", "MUT4"] {
            let body = json!({"carrier": "test_courier", "tracking_number": tracking, "lines": [{"product_id": gadget, "quantity": 1}]});
            parcels.push(id_of(json_body(app.post(&format!("/v1/orders/{shippable}/shipments"), body).await).await));
        }
        // A serialised tracker delivered to the shopper: a device they hold.
        let tracker = id_of(json_body(app.post("/v1/products", json!({"name": "Tracker", "kind": "physical", "serialized": true})).await).await);
        app.post("/v1/prices", json!({"product_id": tracker, "currency": "USD", "unit_amount": 300})).await;
        let tracked = id_of(json_body(app.post("/v1/orders", json!({"customer_id": shopper, "currency": "USD", "lines": [{"product_id": tracker}]})).await).await);
        let tracked_session = session_of(json_body(app.post(&format!("/v1/orders/{tracked}/checkout"), json!({})).await).await);
        app.post(&format!("/v1/test_provider/checkout_sessions/{tracked_session}/complete"), json!({"outcome": "succeeded"})).await;
        let parcel = id_of(json_body(app.post(&format!("/v1/orders/{tracked}/shipments"), json!({"carrier": "test_courier", "tracking_number": "MUT6",
            "lines": [{"product_id": tracker, "quantity": 1, "serial_numbers": ["MUT-D1"]}]})).await).await);
        app.post(&format!("/v1/shipments/{parcel}/simulate"), json!({"scenario": "delivered"})).await;
        let held_device = id_of(json_body(app.get("/v1/devices?serial_number=MUT-D1").await).await["data"][0].clone());
        // A delivered parcel whose automation's only step failed: a manual task for support.
        app.post("/v1/automation_scenarios", json!({"key": "mutations_flaky", "fallback_instructions": "By hand.",
            "steps": [{"key": "call", "action": {"type": "callback", "url": "http://127.0.0.1:9/unreachable"}, "max_attempts": 1, "retry_delay_seconds": 0}]})).await;
        // Two of them: one for support's completion, one for the job monitor's routes.
        for tracking in ["MUT5", "MUT7"] {
            let flaky = id_of(json_body(app.post(&format!("/v1/orders/{shippable}/shipments"), json!({"carrier": "test_courier", "tracking_number": tracking, "automation_scenario": "mutations_flaky", "lines": [{"product_id": gadget, "quantity": 1}]})).await).await);
            app.post(&format!("/v1/shipments/{flaky}/simulate"), json!({"scenario": "delivered"})).await;
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let (stuck_run, monitored_run) = loop {
            let runs = json_body(app.get("/v1/automation_runs?status=manual_task").await).await;
            if let Some([first, second]) = runs["data"].as_array().map(|d| d.as_slice()) {
                break (id_of(first.clone()), id_of(second.clone()));
            }
            assert!(std::time::Instant::now() < deadline, "no manual tasks: {runs}");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        };
        let jobs = json_body(app.get("/v1/job_runs?kind=automation_step").await).await;
        let dead_job = jobs["data"].as_array().unwrap().iter().find(|j| j["subject"] == monitored_run.as_str()).map(|j| id_of(j.clone())).expect("a job run for the failed step");
        let unsent = id_of(json_body(new_order().await).await);
        let unsent_session = session_of(json_body(app.post(&format!("/v1/orders/{unsent}/checkout"), json!({})).await).await);
        let signed = json_body(app.post(&format!("/v1/test_provider/checkout_sessions/{unsent_session}/complete"), json!({"outcome": "succeeded", "deliver": false})).await).await;
        let stripe = id_of(json_body(app.post("/v1/payment_providers", json!({"kind": "stripe", "secret_key": "sk_test_x", "webhook_secrets": ["whsec_0123456789abcdef"]})).await).await);
        let setup = json_body(app.post(&format!("/v1/customers/{shopper}/payment_method_setups"), json!({"currency": "USD"})).await).await;
        app.post(&format!("/v1/test_provider/setup_sessions/{}/complete", setup["id"].as_str().unwrap()), json!({})).await;
        let saved = id_of(json_body(app.get(&format!("/v1/customers/{shopper}/payment_methods")).await).await["data"][0].clone());
        // A licensed product with a release, bought and fulfilled (by the fulfillment
        // subscriber, run here since this server runs no relay).
        let licensed = id_of(json_body(app.post("/v1/products", json!({"name": "Licensed", "kind": "digital", "license": {"prefix": "MUT"}})).await).await);
        app.post("/v1/prices", json!({"product_id": licensed, "currency": "USD", "unit_amount": 100})).await;
        let upload = |product: String, version: &'static str| app.client.post(app.url(&format!("/v1/artifacts?product_id={product}&version={version}&platform=any&file_name=licensed-{version}.zip")))
            .bearer_auth(&app.admin_key).body(vec![7_u8; 1000]).send();
        assert_eq!(upload(licensed.clone(), "1.0.0").await.unwrap().status(), 200);
        let licensee = id_of(json_body(app.post("/v1/customers", json!({"name": "Lic", "email": "licensee@example.com"})).await).await);
        let licensed_order = id_of(json_body(app.post("/v1/orders", json!({"customer_id": licensee, "currency": "USD", "lines": [{"product_id": licensed}]})).await).await);
        let licensed_session = session_of(json_body(app.post(&format!("/v1/orders/{licensed_order}/checkout"), json!({})).await).await);
        app.post(&format!("/v1/test_provider/checkout_sessions/{licensed_session}/complete"), json!({"outcome": "succeeded"})).await;
        let relay = bursar::relay::Relay::new(
            app.db().clone(),
            bursar::relay::builtin_subscribers(app.core(), &Default::default()).unwrap(),
            Default::default(),
        );
        crate::relay::drain(&relay, app.db()).await;
        let revealed = json_body(app.get(&format!("/v1/orders/{licensed_order}/licenses")).await).await;
        let license_key = revealed["data"][0]["key"].as_str().expect("a license for the paid order").to_owned();
        let license = id_of(revealed["data"][0].clone());
        let link = id_of(json_body(app.get(&format!("/v1/orders/{licensed_order}/download_links")).await).await["data"][0].clone());
        let mut uploaded = String::new();
        // Invoices: one draft to edit and void, one to issue and write off.
        let editable = json_body(app.post("/v1/invoices", json!({"customer_id": shopper, "currency": "USD", "lines": [{"description": "Setup", "unit_amount": 500}]})).await).await;
        let (editable, editable_line) = (id_of(editable.clone()), id_of(editable["lines"][0].clone()));
        let issuable = id_of(json_body(app.post("/v1/invoices", json!({"customer_id": shopper, "currency": "USD", "lines": [{"description": "Fee", "unit_amount": 900}]})).await).await);
        // A live workspace, whose admin key alone creates and resets sandboxes.
        let (live, _, live_secret) = bursar::bootstrap::create_workspace(app.db(), "Live", bursar_domain::auth::Scope::Admin).await.unwrap();
        let as_live = |path: String| app.client.post(app.url(&path)).bearer_auth(live_secret.expose()).json(&json!({})).send();
        let beside = id_of(json_body(as_live("/v1/sandboxes".into()).await.unwrap()).await);
        let live_events = || {
            let live = live.id.clone();
            app.db().read(move |tx: &mut Tx| Box::pin(async move {
                tx.fetch_one("select count(*) as n from domain_event where workspace_id = $1", &[live.as_str().into()]).await?.i64("n")
            }))
        };
        // Routes that answer without changing anything: no event.
        // Simulated payers change nothing until their bank's webhooks arrive.
        let read_only = ["/v1/quotes", "/v1/test_bank/{id}/incoming_payments"];

        let mut covered = Vec::new();
        for route in &post_routes {
            // What a successful call of this route looks like.
            let (path, body) = match route.as_str() {
                "/v1/customers" => (route.clone(), json!({"name": "Ada"})),
                "/v1/customers/{id}" => (format!("/v1/customers/{buyer}"), json!({"name": "Buyer Two"})),
                "/v1/ledger/accounts" => (route.clone(), json!({"id": "acc-a", "currency": "USD"})),
                "/v1/ledger/transfers" => (route.clone(), json!({"id": "t-1", "debit_account_id": "acc-a", "credit_account_id": "acc-b", "amount": 5})),
                "/v1/parties/{id}/wallet/{recipe}" => (format!("/v1/parties/{buyer}/wallet/fund"), json!({"id": "f1", "amount": 10, "currency": "USD"})),
                "/v1/parties/{id}/wallet/release" => (format!("/v1/parties/{buyer}/wallet/release"), json!({"id": "r1", "amount": 20, "currency": "USD", "seller_id": seller, "not_before": past})),
                "/v1/parties/{id}/wallet/season" => (format!("/v1/parties/{seller}/wallet/season"), json!({})),
                "/v1/companies" => (route.clone(), json!({"name": "Initech", "contacts": [{"name": "Bill", "email": "bill@initech.example"}]})),
                "/v1/companies/{id}" => (format!("/v1/companies/{company}"), json!({"addresses": [{"kind": "billing", "line1": "1 Main St", "city": "Austin", "country": "US"}]})),
                "/v1/coupons" => (route.clone(), json!({"amount_off": 500, "currency": "USD"})),
                "/v1/orders" => (route.clone(), json!({"customer_id": shopper, "currency": "USD", "lines": [{"product_id": product, "quantity": 3}]})),
                "/v1/orders/{id}/cancel" => (format!("/v1/orders/{to_cancel}/cancel"), json!({})),
                "/v1/orders/{id}/checkout" => (format!("/v1/orders/{to_checkout}/checkout"), json!({})),
                "/v1/orders/{id}/fulfill" => (format!("/v1/orders/{paid}/fulfill"), json!({})),
                "/v1/orders/{id}/shipments" => (format!("/v1/orders/{shippable}/shipments"), json!({"carrier": "test_courier", "tracking_number": "MUT1", "lines": [{"product_id": gadget, "quantity": 1}]})),
                "/v1/shipments/{id}/cancel" => (format!("/v1/shipments/{}/cancel", parcels[0]), json!({})),
                "/v1/shipments/{id}/test_events" => (format!("/v1/shipments/{}/test_events", parcels[1]), json!({"events": [{"code": "in_transit", "occurred_at": past}]})),
                "/v1/shipments/{id}/simulate" => (format!("/v1/shipments/{}/simulate", parcels[2]), json!({"scenario": "delivered"})),
                "/v1/orders/{id}/pay" => {
                    let order = id_of(json_body(new_order().await).await);
                    (format!("/v1/orders/{order}/pay"), json!({"payment_method_id": saved}))
                }
                "/v1/customers/{id}/payment_method_setups" => (format!("/v1/customers/{shopper}/payment_method_setups"), json!({"currency": "USD"})),
                "/v1/customers/{id}/payment_methods/{method}/default" => (format!("/v1/customers/{shopper}/payment_methods/{saved}/default"), json!({})),
                "/v1/customers/{id}/payment_methods/{method}/detach" => {
                    let setup = json_body(app.post(&format!("/v1/customers/{shopper}/payment_method_setups"), json!({"currency": "USD"})).await).await;
                    app.post(&format!("/v1/test_provider/setup_sessions/{}/complete", setup["id"].as_str().unwrap()), json!({})).await;
                    let newest = id_of(json_body(app.get(&format!("/v1/customers/{shopper}/payment_methods")).await).await["data"][0].clone());
                    assert_ne!(newest, saved, "a second method to remove");
                    (format!("/v1/customers/{shopper}/payment_methods/{newest}/detach"), json!({}))
                }
                "/v1/test_provider/setup_sessions/{id}/complete" => {
                    let setup = json_body(app.post(&format!("/v1/customers/{shopper}/payment_method_setups"), json!({"currency": "USD"})).await).await;
                    (format!("/v1/test_provider/setup_sessions/{}/complete", setup["id"].as_str().unwrap()), json!({}))
                }
                "/v1/orders/{id}/refunds" => (format!("/v1/orders/{paid}/refunds"), json!({"amount": 100})),
                "/v1/payment_providers" => (route.clone(), json!({"kind": "stripe", "secret_key": "sk_test_y", "webhook_secrets": ["whsec_fedcba9876543210"]})),
                "/v1/payment_providers/{id}" => (format!("/v1/payment_providers/{stripe}"), json!({"name": "Stripe EU"})),
                "/v1/test_provider/checkout_sessions/{id}/complete" => {
                    let order: Value = json_body(app.get(&format!("/v1/orders/{to_checkout}")).await).await;
                    (format!("/v1/test_provider/checkout_sessions/{}/complete", session_of(order)), json!({"outcome": "declined"}))
                }
                "/v1/webhooks/{provider}" => {
                    // Not an API-key route: the provider's signature authenticates it.
                    let event = &signed["events"][1];
                    let before = event_count(&app).await;
                    let response = app.client.post(app.url(event["webhook_path"].as_str().unwrap()))
                        .header("Stripe-Signature", event["signature"].as_str().unwrap())
                        .body(event["payload"].as_str().unwrap().to_owned())
                        .send().await.unwrap();
                    assert_eq!(response.status(), 200, "{route}: {}", response.text().await.unwrap_or_default());
                    assert!(event_count(&app).await > before, "{route} changed state without recording an event");
                    covered.push(route.clone());
                    continue;
                }
                "/v1/artifacts" => {
                    // The body is the file, not JSON.
                    let before = event_count(&app).await;
                    let response = upload(licensed.clone(), "1.1.0").await.unwrap();
                    assert_eq!(response.status(), 200);
                    uploaded = id_of(json_body(response).await);
                    assert!(event_count(&app).await > before, "{route} changed state without recording an event");
                    covered.push(route.clone());
                    continue;
                }
                "/v1/bank_transactions/import" => {
                    // The body is a CSV statement: four lines no expectation fits, for the
                    // review routes below.
                    let before = event_count(&app).await;
                    let response = app.client.post(app.url(route)).bearer_auth(&app.admin_key)
                        .header("Content-Type", "text/csv")
                        .body("date,amount,direction,currency\n2026-03-02,1,credit,USD\n2026-03-02,2,credit,USD\n2026-03-02,3,credit,USD\n2026-03-02,4,credit,USD\n")
                        .send().await.unwrap();
                    assert_eq!(response.status(), 200, "{route}: {}", response.text().await.unwrap_or_default());
                    assert!(event_count(&app).await > before, "{route} changed state without recording an event");
                    covered.push(route.clone());
                    continue;
                }
                "/v1/bank_connections" => (route.clone(), json!({"kind": "modern_treasury", "organization_id": "org-1", "api_key": "mt-key-1", "webhook_secrets": ["whsec_mutations_route_key"], "internal_account_id": "ia-1"})),
                "/v1/bank_webhooks/{id}" => {
                    // Not an API-key route: the bank's signature authenticates it.
                    let connections = json_body(app.get("/v1/bank_connections").await).await;
                    let mt = connections["data"].as_array().unwrap().iter().find(|c| c["kind"] == "modern_treasury").unwrap().clone();
                    let body = json!({"event": "completed", "data": {"id": "ipd-m", "object": "incoming_payment_detail", "type": "wire", "amount": 7, "status": "completed", "currency": "USD", "direction": "credit"}}).to_string();
                    let before = event_count(&app).await;
                    let response = app.client.post(app.url(mt["webhook_path"].as_str().unwrap()))
                        .header("X-Signature", bursar_banks::signature::sign("whsec_mutations_route_key", body.as_bytes()))
                        .header("X-Webhook-ID", "wh-mutations").header("X-Topic", "incoming_payment_detail")
                        .body(body).send().await.unwrap();
                    assert_eq!(response.status(), 200, "{route}: {}", response.text().await.unwrap_or_default());
                    assert!(event_count(&app).await > before, "{route} changed state without recording an event");
                    covered.push(route.clone());
                    continue;
                }
                "/v1/automation_scenarios" => (route.clone(), json!({"key": "first_time", "fallback_instructions": "By hand.", "steps": [{"key": "call", "action": {"type": "callback", "url": "http://127.0.0.1:9/x"}, "max_attempts": 3, "retry_delay_seconds": 60}]})),
                "/v1/automation_runs/{id}/complete" => (format!("/v1/automation_runs/{stuck_run}/complete"), json!({"note": "Done by hand."})),
                // Dead, then cancelled or queued: each allows the other.
                "/v1/job_runs/{id}/retry" | "/v1/job_runs/{id}/cancel" => (route.replace("{id}", &dead_job), json!({})),
                "/v1/devices" => (route.clone(), json!({"serial_number": "MUT-D2", "product_id": tracker})),
                "/v1/devices/{id}/asset" => (format!("/v1/devices/{held_device}/asset"), json!({"asset": "Truck 1"})),
                "/v1/courier_connections" => (route.clone(), json!({"carrier": "dhl", "key": "dhl-mutations-key"})),
                "/v1/courier_webhooks/{id}" => {
                    // Not an API-key route: the carrier's signature authenticates it.
                    let courier = json_body(app.post("/v1/courier_connections", json!({"carrier": "test_courier"})).await).await;
                    let secret = courier["push_secrets"][0].as_str().unwrap();
                    let body = json!({"tracking_number": "MUT3", "events": [{"code": "out_for_delivery", "occurred_at": past}]}).to_string();
                    let before = event_count(&app).await;
                    let response = app.client.post(app.url(courier["push_url_path"].as_str().unwrap()))
                        .header("Test-Courier-Signature", bursar_couriers::test_courier::sign(secret, body.as_bytes()))
                        .body(body).send().await.unwrap();
                    assert_eq!(response.status(), 200, "{route}: {}", response.text().await.unwrap_or_default());
                    assert!(event_count(&app).await > before, "{route} changed state without recording an event");
                    covered.push(route.clone());
                    continue;
                }
                "/v1/test_bank/{id}/incoming_payments" => {
                    let bank = id_of(json_body(app.post("/v1/bank_connections", json!({"kind": "test_bank"})).await).await);
                    (format!("/v1/test_bank/{bank}/incoming_payments"), json!({"amount": 100, "currency": "USD", "reference": "nothing expected"}))
                }
                "/v1/parties/{id}/bank_accounts" => (format!("/v1/parties/{seller}/bank_accounts"), json!({"routing_number": "021000021", "account_number": "123456789", "account_type": "checking", "holder_name": "Seller"})),
                "/v1/parties/{id}/payouts" => (format!("/v1/parties/{seller}/payouts"), json!({"amount": 100, "currency": "USD"})),
                "/v1/parties/{id}/bank_accounts/{account_id}/mandate" => {
                    let accounts = json_body(app.get(&format!("/v1/parties/{seller}/bank_accounts")).await).await;
                    let account = id_of(accounts["data"][0].clone());
                    (format!("/v1/parties/{seller}/bank_accounts/{account}/mandate"), json!({}))
                }
                "/v1/parties/{id}/pay_ins" => (format!("/v1/parties/{seller}/pay_ins"), json!({"amount": 100, "currency": "USD"})),
                "/v1/parties/{id}/payout_schedule" => (format!("/v1/parties/{seller}/payout_schedule"), json!({"interval": "weekly", "weekday": "friday", "minimum_amount": 500})),
                "/v1/payouts/{id}/cancel" => {
                    // A payout the bank could not take yet stays pending, and cancelable.
                    let bank = bursar_core::bank_events::sandbox_test_bank(app.core(), &app.workspace_id, &payout_bank).await.unwrap();
                    bank.fail_next_requests(1);
                    let pending = id_of(json_body(app.post(&format!("/v1/parties/{seller}/payouts"), json!({"amount": 100, "currency": "USD"})).await).await);
                    (format!("/v1/payouts/{pending}/cancel"), json!({}))
                }
                "/v1/expected_payments" => (route.clone(), json!({"currency": "USD", "amount_lower": 100, "date_lower": "2026-03-01", "date_upper": "2026-03-09"})),
                "/v1/reconciliation/items/{id}/acknowledge" | "/v1/reconciliation/items/{id}/accept"
                | "/v1/reconciliation/items/{id}/resolve" | "/v1/reconciliation/items/{id}/snooze" => {
                    let open = json_body(app.get("/v1/reconciliation/items?status=open").await).await;
                    let item = id_of(open["data"][0].clone());
                    let body = match route.rsplit('/').next().unwrap() {
                        "accept" => json!({"note": "a test deposit"}),
                        "resolve" => {
                            let expected = id_of(json_body(app.post("/v1/expected_payments", json!({"currency": "USD", "amount_lower": 500, "date_lower": "2026-03-01", "date_upper": "2026-03-09"})).await).await);
                            json!({"expected_payment_id": expected})
                        }
                        "snooze" => json!({"until": "2999-01-01"}),
                        _ => json!({}),
                    };
                    (route.replace("{id}", &item), body)
                }
                "/v1/sandboxes" | "/v1/sandboxes/{id}/reset" => {
                    // The live workspace records them (a reset empties the sandbox's own log).
                    let before = live_events().await.unwrap();
                    let response = as_live(route.replace("{id}", &beside)).await.unwrap();
                    assert_eq!(response.status(), 200, "{route}: {}", response.text().await.unwrap_or_default());
                    assert!(live_events().await.unwrap() > before, "{route} changed state without recording an event");
                    covered.push(route.clone());
                    continue;
                }
                "/v1/artifacts/{id}/retire" => (format!("/v1/artifacts/{uploaded}/retire"), json!({})),
                "/v1/licenses/validate" => (route.clone(), json!({"key": license_key, "machine_id": "m1"})),
                "/v1/licenses/{id}/reissue" => (format!("/v1/licenses/{license}/reissue"), json!({})),
                "/v1/licenses/{id}/deactivate" => {
                    let activated = app.post("/v1/licenses/validate", json!({"key": license_key, "machine_id": "m-spare"})).await;
                    assert_eq!(activated.status(), 200);
                    (format!("/v1/licenses/{license}/deactivate"), json!({"machine_id": "m-spare"}))
                }
                "/v1/licenses/{id}/revoke" => {
                    let active = json_body(app.get("/v1/licenses").await).await["data"].as_array().unwrap().iter().find(|l| l["status"] == "active").cloned().unwrap();
                    (format!("/v1/licenses/{}/revoke", id_of(active)), json!({}))
                }
                "/v1/download_links/{id}/unlock" => {
                    sql(&app, format!("update download_link set body = replace(body, '\"locked\":false', '\"locked\":true') where object_id = '{link}'")).await;
                    (format!("/v1/download_links/{link}/unlock"), json!({}))
                }
                "/v1/downloads/resend" => (route.clone(), json!({"email": "licensee@example.com"})),
                "/v1/tax_rates" => (route.clone(), json!({"display_name": "Sales tax", "jurisdiction": "US-CA", "percentage": "7.25"})),
                "/v1/invoice_settings" => (route.clone(), json!({"number_prefix": "MUT"})),
                "/v1/storefront" => (route.clone(), json!({"handle": "mutations", "currency": "USD"})),
                "/v1/invoices" => (route.clone(), json!({"customer_id": shopper, "currency": "USD"})),
                "/v1/invoices/{id}" => (format!("/v1/invoices/{editable}"), json!({"memo": "Thanks"})),
                "/v1/invoices/{id}/issue" => (format!("/v1/invoices/{issuable}/issue"), json!({})),
                "/v1/invoices/{id}/lines" => (format!("/v1/invoices/{editable}/lines"), json!({"description": "Extra", "unit_amount": 100})),
                "/v1/invoices/{id}/lines/{line_id}/remove" => (format!("/v1/invoices/{editable}/lines/{editable_line}/remove"), json!({})),
                "/v1/invoices/{id}/mark_uncollectible" => (format!("/v1/invoices/{issuable}/mark_uncollectible"), json!({})),
                "/v1/invoices/{id}/apply_credit" => {
                    let owed = id_of(json_body(app.post("/v1/invoices", json!({"customer_id": shopper, "currency": "USD", "lines": [{"description": "Later", "unit_amount": 300}]})).await).await);
                    app.post(&format!("/v1/invoices/{owed}/issue"), json!({})).await;
                    app.post("/v1/payments", json!({"reference": "ref-mutations-184", "customer_id": shopper, "currency": "USD", "amount": 5_000, "method": "manual", "allocations": []})).await;
                    (format!("/v1/invoices/{owed}/apply_credit"), json!({}))
                }
                "/v1/customers/{id}/billing_status/close" => (format!("/v1/customers/{buyer}/billing_status/close"), json!({"reason": "test"})),
                "/v1/billing_runs" => (route.clone(), json!({})),
                "/v1/dunning_policies" => (route.clone(), json!({"name": "Std", "steps": [{"at_days": 1, "actions": [{"type": "notify", "template": "reminder"}]}]})),
                "/v1/dunning_policies/{id}" => {
                    let policy = id_of(json_body(app.post("/v1/dunning_policies", json!({"name": "Edited", "steps": [{"at_days": 2, "actions": [{"type": "retry_payment"}]}]})).await).await);
                    (format!("/v1/dunning_policies/{policy}"), json!({"name": "Edited", "steps": [{"at_days": 3, "actions": [{"type": "retry_payment"}]}]}))
                }
                "/v1/customers/{id}/dunning_policy" => (format!("/v1/customers/{shopper}/dunning_policy"), json!({"excluded": true})),
                "/v1/invoices/{id}/payment_link" => {
                    let owed = id_of(json_body(app.post("/v1/invoices", json!({"customer_id": shopper, "currency": "USD", "lines": [{"description": "Online", "unit_amount": 700}]})).await).await);
                    app.post(&format!("/v1/invoices/{owed}/issue"), json!({})).await;
                    (format!("/v1/invoices/{owed}/payment_link"), json!({}))
                }
                "/v1/credit_notes" => {
                    let billed = id_of(json_body(app.post("/v1/invoices", json!({"customer_id": shopper, "currency": "USD", "lines": [{"description": "Credited", "unit_amount": 400}]})).await).await);
                    app.post(&format!("/v1/invoices/{billed}/issue"), json!({})).await;
                    (route.clone(), json!({"invoice_id": billed, "amount": 100}))
                }
                "/v1/payments" => (route.clone(), json!({"reference": "ref-mutations-199", "customer_id": shopper, "currency": "USD", "amount": 100, "method": "bank_transfer"})),
                "/v1/invoices/{id}/void" => (format!("/v1/invoices/{editable}/void"), json!({})),
                "/api/v1/events" => (route.clone(), json!({"specversion": "1.0", "id": "e1", "source": "tests", "type": "prompt", "subject": shopper, "data": {"tokens": 3}})),
                "/api/v1/meters" => (route.clone(), json!({"slug": "tokens", "aggregation": "SUM", "eventType": "prompt", "valueProperty": "$.tokens"})),
                "/v1/customers/{id}/usage_subjects" => (format!("/v1/customers/{shopper}/usage_subjects"), json!({"subject": "shopper-prod"})),
                "/v1/customers/{id}/usage_close" => (format!("/v1/customers/{shopper}/usage_close"), json!({"until": past})),
                "/v1/contracts" => (route.clone(), json!({"buyer_id": shopper, "currency": "USD", "term": {"start": past}, "lines": [{"product_id": product, "unit_amount": 500}]})),
                "/v1/contracts/{id}/operations" => {
                    let contract = id_of(json_body(app.post("/v1/contracts", json!({"buyer_id": shopper, "currency": "USD", "term": {"start": past}, "lines": [{"product_id": product, "unit_amount": 500}]})).await).await);
                    (format!("/v1/contracts/{contract}/operations"), json!({"type": "activate"}))
                }
                "/v1/price_agreements" => (route.clone(), json!({"company_id": company, "name": "Deal 2", "currency": "USD", "effective_from": past, "lines": [{"product_id": product, "unit_amount": 700}]})),
                "/v1/price_agreements/{id}" => (format!("/v1/price_agreements/{agreement}"), json!({"name": "Deal one"})),
                "/v1/price_agreements/{id}/activate" => (format!("/v1/price_agreements/{agreement}/activate"), json!({})),
                "/v1/price_agreements/{id}/expire" => (format!("/v1/price_agreements/{agreement}/expire"), json!({})),
                "/v1/price_books" => (route.clone(), json!({"name": "EU"})),
                "/v1/prices" => (route.clone(), json!({"product_id": product, "currency": "EUR", "unit_amount": 900})),
                "/v1/prices/{id}" => (format!("/v1/prices/{price}"), json!({"nickname": "standard"})),
                "/v1/products" => (route.clone(), json!({"name": "Gadget", "kind": "physical"})),
                "/v1/products/{id}" => (format!("/v1/products/{product}"), json!({"description": "A widget"})),
                "/v1/promotion_codes" => (route.clone(), json!({"coupon_id": coupon, "code": "SAVE5"})),
                "/v1/promotion_codes/{id}" => (format!("/v1/promotion_codes/{promotion}"), json!({"active": true})),
                "/v1/quotes" => (route.clone(), json!({"currency": "USD", "lines": [{"product_id": product}]})),
                "/v1/webhook_endpoints" => (route.clone(), json!({"url": "http://127.0.0.1:9/hook"})),
                "/v1/webhook_endpoints/{id}" => (format!("/v1/webhook_endpoints/{endpoint}"), json!({"description": "renamed"})),
                "/v1/webhook_endpoints/{id}/rotate_secret" => (format!("/v1/webhook_endpoints/{endpoint}/rotate_secret"), json!({})),
                "/v1/webhook_endpoints/{id}/enable" => {
                    sql(&app, format!("update webhook_endpoint set status = 'disabled' where endpoint_id = '{endpoint}'")).await;
                    (format!("/v1/webhook_endpoints/{endpoint}/enable"), json!({}))
                }
                "/v1/dead_letters/replay" => {
                    let event: String = app.db().read(|tx: &mut Tx| Box::pin(async move {
                        tx.fetch_one("select event_id from domain_event order by position limit 1", &[]).await?.text("event_id")
                    })).await.unwrap();
                    sql(&app, format!("delete from event_delivery where event_id = '{event}' and subscriber = 'webhooks'")).await;
                    sql(&app, format!("insert into event_delivery (event_id, subscriber, workspace_id, position, aggregate_key, sequence, status, attempts, next_attempt_at, claimed_until, updated_at) values ('{event}', 'webhooks', '{}', 1, 'k', 1, 'dead', 3, 0, 0, 0)", app.workspace_id)).await;
                    (route.clone(), json!({"event_id": event, "subscriber": "webhooks"}))
                }
                other => panic!("a new mutation route, {other}: call it here (and make it record its event)"),
            };
            let before = event_count(&app).await;
            let response = app.post_once(&path, body).await;
            // 200, or 201 for an OpenMeter create, 204 for OpenMeter ingestion.
            assert!(response.status().is_success(), "{route}: {}", response.text().await.unwrap_or_default());
            if read_only.contains(&route.as_str()) {
                assert_eq!(event_count(&app).await, before, "{route} changes nothing, so records nothing");
            } else {
                assert!(event_count(&app).await > before, "{route} changed state without recording an event");
            }
            covered.push(route.clone());
        }
        assert_eq!(covered, post_routes);
        // A ledger request's event lists what it created; a request the ledger refuses
        // without recording anything (a reused id) records no event either.
        let payload: String = app.db().read(|tx: &mut Tx| Box::pin(async move {
            tx.fetch_one("select payload from domain_event where event_type = 'ledger.transfers_applied'", &[]).await?.text("payload")
        })).await.unwrap();
        let payload: Value = serde_json::from_str(&payload).unwrap();
        assert_eq!(payload["created"][0]["id"], "t-1");
        assert_eq!(payload["created"][0]["amount"], 5);
        let before = event_count(&app).await;
        let reused = app.post("/v1/ledger/transfers", json!({"id": "t-1", "debit_account_id": "acc-a", "credit_account_id": "acc-b", "amount": 6})).await;
        assert_eq!(reused.status(), 409);
        assert_eq!(event_count(&app).await, before);

        // What a route recorded shows on its object's timeline.
        let timeline = json_body(app.get("/v1/ledger/accounts/acc-a/timeline").await).await;
        assert_eq!(timeline["data"][0]["type"], "ledger_account.created", "{timeline}");
        assert!(covered.len() >= 12, "{covered:?}");
    }
}
