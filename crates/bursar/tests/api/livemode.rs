//! `livemode` on every object: false in a sandbox, true in a live workspace, on objects read,
//! written, listed and replayed, on events and the objects they carry (through the API and to
//! webhooks), and declared in the OpenAPI document for every schema with an `object`.

use bursar_domain::auth::Scope;

use crate::both_backends;
use crate::helpers::*;
use crate::webhooks::Receiver;

/// Requests with one key.
struct Caller<'a> {
    app: &'a TestApp,
    key: String,
}

impl Caller<'_> {
    async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .app
            .client
            .post(self.app.url(path))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = json_body(response).await;
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .app
            .client
            .get(self.app.url(path))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        json_body(response).await
    }
}

/// Checks every object in `value` (anything with an `object` string) says `live`; an event's
/// carried object too (`data.object`), but not what it holds. Returns the kinds seen.
fn check(value: &Value, live: bool, path: &str, seen: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(kind)) = map.get("object") {
                assert_eq!(
                    map.get("livemode"),
                    Some(&Value::Bool(live)),
                    "{path} ({kind}): {value}"
                );
                seen.push(kind.clone());
                if kind == "event" {
                    if let Some(Value::Object(carried)) =
                        map.get("data").and_then(|d| d.get("object"))
                    {
                        if carried.contains_key("object") {
                            assert_eq!(
                                carried.get("livemode"),
                                Some(&Value::Bool(live)),
                                "{path}.data.object: {value}"
                            );
                        }
                    }
                }
            }
            // What the caller gave (metadata) and what is stored as it was (an event's data, an
            // audit entry's before and after) are left as they are.
            let kind = map
                .get("object")
                .and_then(Value::as_str)
                .unwrap_or_default();
            for (key, child) in map {
                let stored = match kind {
                    "event" => key == "data",
                    "audit_entry" => key == "before" || key == "after",
                    _ => false,
                };
                if key != "metadata" && !stored {
                    check(child, live, &format!("{path}.{key}"), seen);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check(item, live, &format!("{path}[{i}]"), seen);
            }
        }
        _ => {}
    }
}

/// Creates and reads objects of many kinds with `c`'s key, checking each answer; returns the
/// kinds of objects seen.
async fn walk(c: &Caller<'_>, live: bool) -> Vec<String> {
    let mut seen = Vec::new();
    let mut answer = |value: Value, path: &str| {
        check(&value, live, path, &mut seen);
        value
    };
    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
    let customer = answer(
        c.post(
            "/v1/customers",
            json!({"name": "Ada", "metadata": {"object": "not an object"}}),
        )
        .await,
        "customer",
    );
    assert!(
        customer["metadata"].get("livemode").is_none(),
        "metadata is the caller's: {customer}"
    );
    let customer_id = id(&customer);
    answer(
        c.get(&format!("/v1/customers/{customer_id}")).await,
        "get customer",
    );
    answer(c.get("/v1/customers").await, "customers");
    answer(
        c.post(
            &format!("/v1/customers/{customer_id}"),
            json!({"name": "Ada L."}),
        )
        .await,
        "update customer",
    );
    let timeline = answer(
        c.get(&format!("/v1/customers/{customer_id}/timeline"))
            .await,
        "timeline",
    );
    let event = timeline["data"][0]["id"].as_str().unwrap().to_owned();
    let one = answer(c.get(&format!("/v1/events/{event}")).await, "event");
    assert_eq!(one["data"]["object"]["livemode"], live, "{one}");
    let product = answer(
        c.post("/v1/products", json!({"name": "Pro", "kind": "digital"}))
            .await,
        "product",
    );
    answer(
        c.post(
            "/v1/prices",
            json!({"product_id": id(&product), "currency": "USD", "unit_amount": 1_000}),
        )
        .await,
        "price",
    );
    answer(c.get("/v1/prices").await, "prices");
    answer(
        c.post("/v1/coupons", json!({"percent_off": 10})).await,
        "coupon",
    );
    answer(
        c.post("/v1/companies", json!({"name": "Acme"})).await,
        "company",
    );
    answer(
        c.post(
            "/v1/ledger/accounts",
            json!({"id": "cash", "currency": "USD"}),
        )
        .await,
        "account",
    );
    answer(
        c.post(
            "/v1/ledger/accounts",
            json!({"id": "bank", "currency": "USD"}),
        )
        .await,
        "account",
    );
    answer(c.post("/v1/ledger/transfers", json!({"id": "t-1", "debit_account_id": "cash", "credit_account_id": "bank", "amount": 5})).await, "transfer");
    answer(c.get("/v1/ledger/transfers/t-1").await, "get transfer");
    answer(
        c.post(
            &format!("/v1/parties/{customer_id}/wallet/fund"),
            json!({"id": "f1", "amount": 100, "currency": "USD"}),
        )
        .await,
        "wallet",
    );
    answer(
        c.post(
            "/v1/tax_rates",
            json!({"display_name": "VAT", "jurisdiction": "DE", "percentage": "19"}),
        )
        .await,
        "tax rate",
    );
    let invoice = answer(c.post("/v1/invoices", json!({"customer_id": customer_id, "currency": "USD", "lines": [{"description": "Setup", "unit_amount": 500}]})).await, "invoice");
    answer(
        c.get(&format!("/v1/invoices/{}", id(&invoice))).await,
        "get invoice",
    );
    answer(c.get("/v1/invoices").await, "invoices");
    answer(
        c.post(
            "/v1/webhook_endpoints",
            json!({"url": "http://127.0.0.1:9/hook"}),
        )
        .await,
        "endpoint",
    );
    answer(c.get("/v1/webhook_endpoints").await, "endpoints");
    answer(c.get("/v1/audit_log").await, "audit log");
    seen
}

both_backends! {
    /// Goal: every object says false in a sandbox and true in a live workspace — written,
    /// read, listed, nested, on events and their objects, and on a replay under an
    /// Idempotency-Key; the caller's metadata is left alone.
    async fn every_object_says_whether_it_is_live(app: TestApp) {
        let sandbox = Caller { app: &app, key: app.admin_key.clone() };
        let (_, _, secret) = bursar::bootstrap::create_workspace(app.db(), "Live shop", Scope::Admin).await.unwrap();
        let live = Caller { app: &app, key: secret.expose().to_owned() };
        for (caller, mode) in [(&sandbox, false), (&live, true)] {
            let mut seen = walk(caller, mode).await;
            seen.sort();
            seen.dedup();
            for kind in ["customer", "event", "list", "product", "price", "coupon", "company", "ledger_account", "ledger_transfer", "tax_rate", "invoice", "webhook_endpoint", "audit_entry"] {
                assert!(seen.iter().any(|s| s == kind), "{kind} was not walked (live: {mode}): {seen:?}");
            }
            let request = || app.client.post(app.url("/v1/customers")).bearer_auth(&caller.key).header("Idempotency-Key", "replayed").json(&json!({"name": "Twice"}));
            let first = json_body(request().send().await.unwrap()).await;
            let replay = request().send().await.unwrap();
            assert_eq!(replay.headers()["idempotent-replayed"], "true");
            let replay = json_body(replay).await;
            assert_eq!((&first["livemode"], &replay["livemode"]), (&json!(mode), &json!(mode)), "{replay}");
        }
        // Only a sandbox has the test provider: an order paid through it.
        let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
        let mut seen = Vec::new();
        let customer = id(&sandbox.post("/v1/customers", json!({"name": "Buyer"})).await);
        let product = id(&sandbox.post("/v1/products", json!({"name": "Kit", "kind": "digital"})).await);
        sandbox.post("/v1/prices", json!({"product_id": product, "currency": "USD", "unit_amount": 900})).await;
        let order = id(&sandbox.post("/v1/orders", json!({"customer_id": customer, "currency": "USD", "lines": [{"product_id": product}]})).await);
        let checkout = sandbox.post(&format!("/v1/orders/{order}/checkout"), json!({})).await;
        check(&checkout, false, "checkout", &mut seen);
        let session = checkout["checkout"]["session_id"].as_str().unwrap();
        let paid = sandbox.post(&format!("/v1/test_provider/checkout_sessions/{session}/complete"), json!({"outcome": "succeeded"})).await;
        check(&paid, false, "complete", &mut seen);
        check(&sandbox.get(&format!("/v1/orders/{order}")).await, false, "order", &mut seen);
        check(&sandbox.get("/v1/payment_providers").await, false, "providers", &mut seen);
        check(&live.get("/v1/sandboxes").await, true, "sandboxes", &mut seen);
        assert!(seen.iter().any(|s| s == "order") && seen.iter().any(|s| s == "payment_provider"), "{seen:?}");
    }
}

both_backends! {
    /// Goal: a webhook delivery says whether its workspace is live, as does the object it
    /// carries.
    async fn webhook_deliveries_say_whether_they_are_live(app: TestApp) {
        let (_, _, secret) = bursar::bootstrap::create_workspace(app.db(), "Live shop", Scope::Admin).await.unwrap();
        let live = Caller { app: &app, key: secret.expose().to_owned() };
        let sandbox = Caller { app: &app, key: app.admin_key.clone() };
        for (caller, mode) in [(&sandbox, false), (&live, true)] {
            let receiver = Receiver::start().await;
            caller.post("/v1/webhook_endpoints", json!({"url": receiver.url, "event_types": ["customer.created"]})).await;
            let customer = caller.post("/v1/customers", json!({"name": "Ada"})).await;
            let received = receiver.wait_for(1).await;
            let payload: Value = serde_json::from_str(&received[0].1).unwrap();
            assert_eq!(payload["data"]["object"]["id"], customer["id"]);
            assert_eq!((&payload["livemode"], &payload["data"]["object"]["livemode"]), (&json!(mode), &json!(mode)), "{payload}");
        }
    }
}

/// Goal: the document declares `livemode`, a required boolean, on every schema with an
/// `object` property (the objects of every answer), and on no other.
#[test]
fn the_document_declares_livemode_on_every_object() {
    let spec = serde_json::to_value(bursar_http::openapi()).unwrap();
    let mut objects = Vec::new();
    let mut others = Vec::new();
    for (name, schema) in spec["components"]["schemas"].as_object().unwrap() {
        let Some(properties) = schema["properties"].as_object() else {
            continue;
        };
        if !properties.contains_key("object") {
            assert!(
                !properties.contains_key("livemode"),
                "{name} has livemode but no object"
            );
            others.push(name.clone());
            continue;
        }
        assert_eq!(properties["livemode"]["type"], "boolean", "{name}");
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        assert!(
            required.contains(&"livemode"),
            "{name} does not require livemode"
        );
        objects.push(name.clone());
    }
    assert!(objects.len() >= 40, "{objects:?}");
    for request in ["CreateCustomerRequest", "CreateSandboxRequest"] {
        assert!(
            others.iter().any(|o| o == request),
            "{request} is not an object: {others:?}"
        );
    }
}
