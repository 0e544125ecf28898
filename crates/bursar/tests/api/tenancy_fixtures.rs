//! The objects of [`crate::tenancy`]'s walk: one real object of every kind that has an id
//! route, in the test server's own workspace, and where each route's path ids come from.

use std::collections::BTreeMap;

use crate::helpers::*;

/// The ids of one workspace's objects, by kind (`customer`, `invoice_line`, ...).
pub struct Fixtures {
    pub ids: BTreeMap<&'static str, String>,
}

impl Fixtures {
    /// The id of `kind`; panics when the fixtures have none.
    pub fn id(&self, kind: &str) -> &str {
        self.ids
            .get(kind)
            .unwrap_or_else(|| panic!("no fixture {kind}"))
    }
}

/// The kind of object a path parameter names: by the parameter, else by the collection it
/// follows (`/v1/orders/{id}` → `order`). None for a route the walk does not know yet.
pub fn kind_of(path: &str, param: &str) -> Option<&'static str> {
    match param {
        "line_id" => return Some("invoice_line"),
        "recipe" => return Some("recipe"),
        "meterIdOrSlug" => return Some("meter"),
        _ => {}
    }
    let before = path.split(&format!("/{{{param}}}")).next()?;
    let collection = before.rsplit('/').next()?;
    Some(match collection {
        "artifacts" => "artifact",
        "companies" => "company",
        "contracts" => "contract",
        "coupons" => "coupon",
        "credit_notes" => "credit_note",
        "customers" | "parties" => "customer",
        "download_links" => "download_link",
        "emails" => "email",
        "events" => "event",
        "invoices" => "invoice",
        "accounts" => "ledger_account",
        "transfers" => "transfer",
        "licenses" => "license",
        "orders" => "order",
        "payment_providers" => "payment_provider",
        "payment_methods" => "payment_method",
        "payments" => "payment",
        "price_agreements" => "agreement",
        "price_books" => "price_book",
        "prices" => "price",
        "products" => "product",
        "promotion_codes" => "promotion_code",
        "refunds" => "refund",
        "subscriptions" => "subscription",
        "tax_rates" => "tax_rate",
        "dunning_policies" => "dunning_policy",
        "checkout_sessions" => "checkout_session",
        "setup_sessions" => "setup_session",
        "webhook_endpoints" => "webhook_endpoint",
        "expected_payments" => "expected_payment",
        "bank_transactions" => "bank_transaction",
        "items" => "reconciliation_item",
        "bank_connections" | "test_bank" => "bank_connection",
        "payouts" => "payout",
        "bank_accounts" => "bank_account",
        "pay_ins" => "pay_in",
        "shipments" => "shipment",
        "courier_connections" => "courier_connection",
        "automation_runs" => "automation_run",
        "devices" => "device",
        "job_runs" => "job_run",
        _ => return None,
    })
}

/// A body that passes `method path`'s validation, so that the call reaches its lookup.
/// `{}` unless the route needs more. Ids in it are the fixtures' (of the workspace walked).
pub fn body_for(method: &str, path: &str, fixtures: &Fixtures, past: &str) -> Option<Value> {
    if method != "POST" {
        return None;
    }
    let seller = fixtures.id("seller");
    Some(match path {
        "/v1/customers/{id}" | "/v1/companies/{id}" | "/v1/price_agreements/{id}" => {
            json!({"name": "Intruder"})
        }
        "/v1/dunning_policies/{id}" => {
            json!({"name": "Intruder", "steps": [{"at_days": 1, "actions": [{"type": "write_off"}]}]})
        }
        "/v1/parties/{id}/wallet/{recipe}" => {
            json!({"id": "intruder-1", "amount": 10, "currency": "USD"})
        }
        "/v1/parties/{id}/wallet/release" => {
            json!({"id": "intruder-2", "amount": 10, "currency": "USD", "seller_id": seller, "not_before": past})
        }
        "/v1/orders/{id}/pay" => json!({"payment_method_id": fixtures.id("payment_method")}),
        "/v1/customers/{id}/payment_method_setups" => json!({"currency": "USD"}),
        "/v1/orders/{id}/refunds" => json!({"amount": 100}),
        "/v1/payment_providers/{id}" => json!({"name": "Intruder"}),
        "/v1/test_provider/checkout_sessions/{id}/complete" => json!({"outcome": "succeeded"}),
        "/v1/invoices/{id}" => json!({"memo": "Intruder"}),
        "/v1/invoices/{id}/lines" => json!({"description": "Intruder", "unit_amount": 100}),
        "/v1/customers/{id}/billing_status/close" => json!({"reason": "intruder"}),
        "/v1/customers/{id}/usage_subjects" => json!({"subject": "intruder"}),
        "/v1/licenses/{id}/deactivate" => json!({"machine_id": "intruder"}),
        "/v1/customers/{id}/usage_close" => json!({"until": past}),
        "/v1/contracts/{id}/operations" => json!({"type": "suspend"}),
        "/v1/prices/{id}" => json!({"nickname": "intruder"}),
        "/v1/products/{id}" => json!({"description": "Intruder"}),
        "/v1/promotion_codes/{id}" => json!({"active": false}),
        "/v1/webhook_endpoints/{id}" => json!({"description": "intruder"}),
        "/v1/reconciliation/items/{id}/resolve" => {
            json!({"expected_payment_id": fixtures.id("expected_payment")})
        }
        "/v1/reconciliation/items/{id}/accept" => json!({"note": "intruder"}),
        "/v1/reconciliation/items/{id}/snooze" => json!({"until": "2999-01-01"}),
        "/v1/test_bank/{id}/incoming_payments" => json!({"amount": 1, "currency": "USD"}),
        "/v1/parties/{id}/bank_accounts" => {
            json!({"routing_number": "021000021", "account_number": "123456789", "account_type": "checking", "holder_name": "Intruder"})
        }
        "/v1/parties/{id}/payouts" => json!({"amount": 1, "currency": "USD"}),
        "/v1/parties/{id}/pay_ins" => json!({"amount": 1, "currency": "USD"}),
        "/v1/parties/{id}/payout_schedule" => json!({"interval": "daily"}),
        "/v1/orders/{id}/shipments" => {
            json!({"carrier": "test_courier", "tracking_number": "INTRUDER1"})
        }
        "/v1/shipments/{id}/test_events" => {
            json!({"events": [{"code": "delivered", "occurred_at": past}]})
        }
        "/v1/shipments/{id}/simulate" => json!({"scenario": "delivered"}),
        "/v1/automation_runs/{id}/complete" => json!({"note": "intruder"}),
        "/v1/devices/{id}/asset" => json!({"asset": "Intruder"}),
        _ => json!({}),
    })
}

/// Seeds the demo (customers with wallets, catalog, company and agreement, orders paid,
/// refunded and at the checkout, licenses, meters and usage, contracts, invoices paid and
/// credited) into the app's workspace, delivers its events, adds what the demo has not (a
/// Stripe connection, a saved card, an open card setup, a webhook endpoint), and collects one
/// id of every kind through the API. The app must run no relay, so that nothing is delivered
/// (nor changes) after this.
pub async fn seed(app: &TestApp) -> Fixtures {
    assert_eq!(bursar::bootstrap::seed_demo(app.db()).await.unwrap(), 4);
    bursar::bootstrap::seed_commerce(app.core()).await.unwrap();
    let relay = bursar::relay::Relay::new(
        app.db().clone(),
        bursar::relay::builtin_subscribers(app.core(), &Default::default()).unwrap(),
        Default::default(),
    );
    crate::relay::drain(&relay, app.db()).await;

    let mut ids = BTreeMap::new();
    let customers = list(app, "/v1/customers").await;
    let named = |name: &str| {
        let found = customers
            .iter()
            .find(|c| c["name"].as_str().unwrap().starts_with(name));
        id_of(found.unwrap())
    };
    let (ada, grace) = (named("Ada"), named("Grace"));
    ids.insert("customer", ada.clone());
    ids.insert("seller", grace.clone());
    for (kind, path) in [
        ("company", "/v1/companies"),
        ("product", "/v1/products"),
        ("price", "/v1/prices"),
        ("price_book", "/v1/price_books"),
        ("agreement", "/v1/price_agreements"),
        ("coupon", "/v1/coupons"),
        ("promotion_code", "/v1/promotion_codes"),
        ("artifact", "/v1/artifacts"),
        ("license", "/v1/licenses"),
        ("email", "/v1/emails"),
        ("contract", "/v1/contracts"),
        ("subscription", "/v1/subscriptions"),
        ("credit_note", "/v1/credit_notes"),
        ("payment", "/v1/payments"),
        ("tax_rate", "/v1/tax_rates"),
        ("dunning_policy", "/v1/dunning_policies"),
        ("meter", "/api/v1/meters"),
        ("expected_payment", "/v1/expected_payments"),
        ("bank_transaction", "/v1/bank_transactions"),
        ("reconciliation_item", "/v1/reconciliation/items"),
    ] {
        ids.insert(kind, id_of(&list(app, path).await[0]));
    }
    let orders = list(app, "/v1/orders").await;
    let licensed = ok(app.get(&format!("/v1/licenses/{}", ids["license"])).await).await;
    let order = licensed["order_id"].as_str().unwrap().to_owned();
    let links = list(app, &format!("/v1/orders/{order}/download_links")).await;
    ids.insert("download_link", id_of(&links[0]));
    ids.insert("order", order);
    let refunded = orders
        .iter()
        .find(|o| o["amount_refunded"].as_i64() > Some(0))
        .unwrap();
    let refunds = list(app, &format!("/v1/orders/{}/refunds", id_of(refunded))).await;
    ids.insert("refund", id_of(&refunds[0]));
    let open = orders.iter().find(|o| o["status"] == "checkout_open");
    let session = open.unwrap_or_else(|| panic!("an order at its checkout: {orders:?}"))
        ["checkout"]["session_id"]
        .clone();
    ids.insert("checkout_session", session.as_str().unwrap().to_owned());
    let invoices = list(app, "/v1/invoices").await;
    let invoice = ok(app
        .get(&format!("/v1/invoices/{}", id_of(&invoices[0])))
        .await)
    .await;
    ids.insert("invoice_line", id_of(&invoice["lines"][0]));
    ids.insert("invoice", id_of(&invoice));
    let timeline = list(app, &format!("/v1/customers/{ada}/timeline")).await;
    ids.insert("event", id_of(&timeline[0]));
    let fund = ok(app.get("/v1/ledger/transfers/demo-fund").await).await;
    ids.insert("transfer", id_of(&fund));
    ids.insert(
        "ledger_account",
        fund["credit_account_id"].as_str().unwrap().to_owned(),
    );
    ids.extend(add_missing(app, &grace).await);
    Fixtures { ids }
}

/// What the demo does not make: a Stripe connection, a saved test card and an open card setup
/// (of `customer`), and a webhook endpoint; made last, after the relay ran, so that nothing is
/// left to deliver to the endpoint.
async fn add_missing(app: &TestApp, customer: &str) -> Vec<(&'static str, String)> {
    let stripe = json!({"kind": "stripe", "secret_key": "sk_test_tenancy", "webhook_secrets": ["whsec_0123456789abcdef"]});
    let provider = id_of(&ok(app.post("/v1/payment_providers", stripe).await).await);
    let setups = format!("/v1/customers/{customer}/payment_method_setups");
    let setup = ok(app
        .post(&setups, json!({"currency": "USD", "provider": "test"}))
        .await)
    .await;
    let complete = format!(
        "/v1/test_provider/setup_sessions/{}/complete",
        id_of(&setup)
    );
    ok(app.post(&complete, json!({})).await).await;
    let saved = list(app, &format!("/v1/customers/{customer}/payment_methods")).await;
    let open = ok(app
        .post(&setups, json!({"currency": "USD", "provider": "test"}))
        .await)
    .await;
    let hook = json!({"url": "http://127.0.0.1:9/hook"});
    let endpoint = id_of(&ok(app.post("/v1/webhook_endpoints", hook).await).await);
    // The demo's test bank: the workspace's first connection, the one payouts and pay-ins use.
    let banks = list(app, "/v1/bank_connections").await;
    let bank = id_of(&banks[0]);
    let payout = pending_payout(app, customer, &bank).await;
    let (account, pay_in) = failed_pay_in(app, customer, &bank).await;
    let shipment = shipment_in_transit(app, customer).await;
    let run = automation_waiting_on_support(app, customer).await;
    let job = first_id(app, "/v1/job_runs?kind=automation_step").await;
    let device = device_in_stock(app).await;
    let courier = json!({"carrier": "test_courier"});
    let courier = id_of(&ok(app.post("/v1/courier_connections", courier).await).await);
    vec![
        ("courier_connection", courier),
        ("shipment", shipment),
        ("automation_run", run),
        ("device", device),
        ("job_run", job),
        ("payout", payout),
        ("bank_account", account),
        ("pay_in", pay_in),
        ("bank_connection", bank),
        ("payment_provider", provider),
        ("payment_method", id_of(&saved[0])),
        ("setup_session", id_of(&open)),
        ("webhook_endpoint", endpoint),
    ]
}

/// The first listed object's id.
async fn first_id(app: &TestApp, path: &str) -> String {
    let listed = ok(app.get(path).await).await;
    id_of(&listed["data"][0])
}

/// A device of a serialised product, in stock.
async fn device_in_stock(app: &TestApp) -> String {
    let product = json!({"name": "Tenancy tracker", "kind": "physical", "serialized": true});
    let product = id_of(&ok(app.post("/v1/products", product).await).await);
    let device = json!({"serial_number": "TENANCY-1", "product_id": product});
    id_of(&ok(app.post("/v1/devices", device).await).await)
}

/// A payout of `seller` to a bank account at the test bank `bank`, left pending (the bank was
/// unreachable), so that no bank event moves it while the walk runs.
async fn pending_payout(app: &TestApp, seller: &str, bank: &str) -> String {
    let fund = json!({"id": "tenancy-payout-funds", "amount": 1_000, "currency": "USD"});
    ok(app
        .post(&format!("/v1/parties/{seller}/wallet/fund"), fund)
        .await)
    .await;
    let account = json!({"routing_number": "021000021", "account_number": "123456789", "account_type": "checking", "holder_name": "Grace"});
    ok(app
        .post(&format!("/v1/parties/{seller}/bank_accounts"), account)
        .await)
    .await;
    let test_bank =
        bursar_core::bank_events::sandbox_test_bank(app.core(), &app.workspace_id, bank)
            .await
            .unwrap();
    test_bank.fail_next_requests(1);
    let payout = json!({"amount": 100, "currency": "USD"});
    let payout = ok(app
        .post(&format!("/v1/parties/{seller}/payouts"), payout)
        .await)
    .await;
    assert_eq!(payout["status"], "pending", "{payout}");
    id_of(&payout)
}

/// A mandate on `party`'s bank account and a pay-in from it that failed at once (the bank was
/// unreachable), so that no bank event moves it while the walk runs; answers (account, pay-in).
async fn failed_pay_in(app: &TestApp, party: &str, bank: &str) -> (String, String) {
    let accounts = list(app, &format!("/v1/parties/{party}/bank_accounts")).await;
    let account = id_of(&accounts[0]);
    let mandate = format!("/v1/parties/{party}/bank_accounts/{account}/mandate");
    ok(app.post(&mandate, json!({})).await).await;
    let test_bank =
        bursar_core::bank_events::sandbox_test_bank(app.core(), &app.workspace_id, bank)
            .await
            .unwrap();
    test_bank.fail_next_requests(1);
    let pay_in = json!({"amount": 100, "currency": "USD"});
    let pay_in = ok(app
        .post(&format!("/v1/parties/{party}/pay_ins"), pay_in)
        .await)
    .await;
    assert_eq!(pay_in["status"], "failed", "{pay_in}");
    (account, id_of(&pay_in))
}

/// The first page of a list route (a page's `data`, or an OpenMeter array), asserted not empty.
async fn list(app: &TestApp, path: &str) -> Vec<Value> {
    let page = ok(app.get(path).await).await;
    let data = page
        .as_array()
        .or(page["data"].as_array())
        .cloned()
        .unwrap_or_default();
    assert!(!data.is_empty(), "{path} lists nothing: {page}");
    data
}

async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body = json_body(response).await;
    assert!(status.is_success(), "{status}: {body}");
    body
}

fn id_of(object: &Value) -> String {
    object["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id: {object}"))
        .to_owned()
}

/// A shipment of a paid order of a physical product (`customer`'s), in transit with the test
/// courier.
async fn shipment_in_transit(app: &TestApp, customer: &str) -> String {
    let product = json!({"name": "Tenancy sensor", "kind": "physical"});
    let product = id_of(&ok(app.post("/v1/products", product).await).await);
    let price = json!({"product_id": product, "currency": "USD", "unit_amount": 500});
    ok(app.post("/v1/prices", price).await).await;
    let order = json!({"customer_id": customer, "currency": "USD", "lines": [{"product_id": product, "quantity": 2}]});
    let order = id_of(&ok(app.post("/v1/orders", order).await).await);
    let checkout = ok(app
        .post(
            &format!("/v1/orders/{order}/checkout"),
            json!({"provider": "test"}),
        )
        .await)
    .await;
    let session = checkout["checkout"]["session_id"].as_str().unwrap();
    let complete = format!("/v1/test_provider/checkout_sessions/{session}/complete");
    ok(app.post(&complete, json!({"outcome": "succeeded"})).await).await;
    let shipment = json!({"carrier": "test_courier", "tracking_number": "TENANCY1", "lines": [{"product_id": product, "quantity": 1}]});
    let shipment = id_of(
        &ok(app
            .post(&format!("/v1/orders/{order}/shipments"), shipment)
            .await)
        .await,
    );
    let events = json!({"events": [{"code": "in_transit", "occurred_at": "2026-01-01T10:00:00Z"}]});
    ok(app
        .post(&format!("/v1/shipments/{shipment}/test_events"), events)
        .await)
    .await;
    shipment
}

/// An automation run whose only step failed (its callback is unreachable): a manual task,
/// settled before the walk so that the automation job changes nothing during it.
async fn automation_waiting_on_support(app: &TestApp, customer: &str) -> String {
    let scenario = json!({"key": "tenancy_flaky", "fallback_instructions": "By hand.",
        "steps": [{"key": "call", "action": {"type": "callback", "url": "http://127.0.0.1:9/unreachable"}, "max_attempts": 1, "retry_delay_seconds": 0}]});
    ok(app.post("/v1/automation_scenarios", scenario).await).await;
    let product = json!({"name": "Tenancy gateway", "kind": "physical"});
    let product = id_of(&ok(app.post("/v1/products", product).await).await);
    let price = json!({"product_id": product, "currency": "USD", "unit_amount": 900});
    ok(app.post("/v1/prices", price).await).await;
    let order =
        json!({"customer_id": customer, "currency": "USD", "lines": [{"product_id": product}]});
    let order = id_of(&ok(app.post("/v1/orders", order).await).await);
    let checkout = ok(app
        .post(
            &format!("/v1/orders/{order}/checkout"),
            json!({"provider": "test"}),
        )
        .await)
    .await;
    let session = checkout["checkout"]["session_id"].as_str().unwrap();
    let complete = format!("/v1/test_provider/checkout_sessions/{session}/complete");
    ok(app.post(&complete, json!({"outcome": "succeeded"})).await).await;
    let shipment = json!({"carrier": "test_courier", "tracking_number": "TENANCY2", "automation_scenario": "tenancy_flaky"});
    let shipment = id_of(
        &ok(app
            .post(&format!("/v1/orders/{order}/shipments"), shipment)
            .await)
        .await,
    );
    let simulate = format!("/v1/shipments/{shipment}/simulate");
    ok(app.post(&simulate, json!({"scenario": "delivered"})).await).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let runs = ok(app
            .get(&format!("/v1/automation_runs?order_id={order}"))
            .await)
        .await;
        if runs["data"][0]["status"] == "manual_task" {
            return id_of(&runs["data"][0]);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no manual task: {runs}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
