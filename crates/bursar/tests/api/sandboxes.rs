//! Sandboxes beside a live workspace: created and listed by the live workspace's admin keys,
//! reaching only their own data, and reset (every row of the sandbox's data deleted, its keys
//! kept) without touching any other workspace; never a live workspace.

use std::collections::BTreeMap;

use bursar_domain::auth::Scope;
use bursar_domain::id::WorkspaceId;
use bursar_store::sandbox_reset::{tables_with_workspace_id, KEPT_TABLES, METER_TABLES};
use bursar_store::Tx;

use crate::both_backends;
use crate::helpers::*;

/// Requests with one API key.
struct Caller<'a> {
    app: &'a TestApp,
    key: String,
}

impl Caller<'_> {
    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        let request = self
            .app
            .client
            .post(self.app.url(path))
            .bearer_auth(&self.key)
            // Refunds and credit notes need one; a fresh key changes nothing for the others.
            .header(
                "Idempotency-Key",
                format!("sandbox-{:032x}", rand::random::<u128>()),
            );
        request.json(&body).send().await.unwrap()
    }

    /// POSTs and returns the answer's body, which must be a success.
    async fn ok(&self, path: &str, body: Value) -> Value {
        let response = self.post(path, body).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        let request = self
            .app
            .client
            .get(self.app.url(path))
            .bearer_auth(&self.key);
        request.send().await.unwrap()
    }
}

/// A live workspace with an admin key.
async fn live_workspace(app: &TestApp, name: &str) -> (WorkspaceId, String) {
    let (live, _, secret) = bursar::bootstrap::create_workspace(app.db(), name, Scope::Admin)
        .await
        .unwrap();
    (live.id, secret.expose().to_owned())
}

both_backends! {
    /// Goal: a live workspace's admin key creates a sandbox beside it and gets a `sk_test_…`
    /// admin key once (a replay shows the sandbox without it); the sandbox's key reaches only
    /// the sandbox, and cannot create sandboxes (409 naming the mode); a read-only key cannot
    /// create one; the live workspace lists and reads its sandboxes, another workspace cannot.
    async fn a_live_workspace_creates_and_lists_its_sandboxes(app: TestApp) {
        let (live_id, live_key) = live_workspace(&app, "Shop").await;
        let live = Caller { app: &app, key: live_key };
        live.ok("/v1/customers", json!({"name": "Real customer"})).await;

        let request = || app.client.post(app.url("/v1/sandboxes")).bearer_auth(&live.key).header("Idempotency-Key", "sandbox-1").json(&json!({"name": "Staging"}));
        let created = json_body(request().send().await.unwrap()).await;
        assert_eq!((created["object"].as_str(), created["name"].as_str()), (Some("sandbox"), Some("Staging")), "{created}");
        assert_eq!(created["live_workspace_id"], live_id.as_str());
        let secret = created["admin_key"]["secret"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("sk_test_"), "{created}");
        let replay = request().send().await.unwrap();
        assert_eq!(replay.headers()["idempotent-replayed"], "true");
        let replay = json_body(replay).await;
        assert_eq!(replay["id"], created["id"]);
        assert!(replay["admin_key"]["secret"].is_null(), "the secret is shown once: {replay}");
        assert_eq!(replay["admin_key"]["id"], created["admin_key"]["id"]);
        let stored = app.db().read(|tx: &mut Tx| Box::pin(async move {
            tx.fetch_all("select response_body from idempotency_key", &[]).await
        })).await.unwrap();
        assert!(stored.iter().all(|row| !row.text("response_body").unwrap().contains(&secret)), "no secret is stored");

        let sandbox_id = created["id"].as_str().unwrap().to_owned();
        let sandbox = Caller { app: &app, key: secret };
        let customers = json_body(sandbox.get("/v1/customers").await).await;
        assert_eq!(customers["data"].as_array().unwrap().len(), 0, "the sandbox sees none of the live data: {customers}");
        sandbox.ok("/v1/customers", json!({"name": "Test customer"})).await;
        let customers = json_body(live.get("/v1/customers").await).await;
        assert_eq!(customers["data"].as_array().unwrap().len(), 1, "and the live workspace none of the sandbox's");
        let refused = expect_error(sandbox.post("/v1/sandboxes", json!({})).await, 409, "workspace_is_sandbox", None).await;
        assert_eq!(refused["error"]["current_state"], "sandbox", "{refused}");
        expect_error(sandbox.post(&format!("/v1/sandboxes/{sandbox_id}/reset"), json!({})).await, 404, "resource_missing", Some("id")).await;

        let now = app.db().now();
        let reader = live_id.clone();
        let (_, read_only) = app.db().write(move |tx: &mut Tx| Box::pin(async move {
            bursar_store::api_keys::create(tx, &reader, "reader", Scope::ReadOnly, now, &bursar::bootstrap::system_cause("test")).await
        })).await.unwrap();
        let reader = Caller { app: &app, key: read_only.expose().to_owned() };
        expect_error(reader.post("/v1/sandboxes", json!({})).await, 403, "insufficient_scope", None).await;
        expect_error(live.post("/v1/sandboxes", json!({"name": " "})).await, 400, "parameter_invalid", Some("name")).await;

        let unnamed = live.ok("/v1/sandboxes", json!({})).await;
        assert_eq!(unnamed["name"], "Sandbox");
        let list = json_body(reader.get("/v1/sandboxes").await).await;
        let ids: Vec<&str> = list["data"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [sandbox_id.as_str(), unnamed["id"].as_str().unwrap()], "{list}");
        assert!(list["data"][0]["admin_key"].is_null(), "{list}");
        let one = json_body(reader.get(&format!("/v1/sandboxes/{sandbox_id}")).await).await;
        assert_eq!(one["name"], "Staging");
        let (_, other_key) = live_workspace(&app, "Other shop").await;
        let other = Caller { app: &app, key: other_key };
        expect_error(other.get(&format!("/v1/sandboxes/{sandbox_id}")).await, 404, "resource_missing", Some("id")).await;
        expect_error(other.post(&format!("/v1/sandboxes/{sandbox_id}/reset"), json!({})).await, 404, "resource_missing", Some("id")).await;
        assert_eq!(json_body(other.get("/v1/sandboxes").await).await["data"].as_array().unwrap().len(), 0);

        let events = json_body(live.get(&format!("/v1/sandboxes/{sandbox_id}")).await).await;
        assert_eq!(events["id"], sandbox_id.as_str());
        let audit = json_body(live.get("/v1/audit_log").await).await;
        assert!(audit["data"].as_array().unwrap().iter().any(|e| e["action"] == "sandbox.created" && e["target_id"] == sandbox_id.as_str()), "{audit}");
    }
}

both_backends! {
    /// Goal: a reset deletes every row of the sandbox's data, in every table the database has
    /// with a workspace_id (from its catalog, so a new table is covered or this fails), and
    /// the rows of its meters; its keys keep working on an empty sandbox where the same ids
    /// (a ledger account, a usage event) can be used again; every other workspace's rows are
    /// untouched; the live workspace's audit log names the reset; `bursar audit verify` and
    /// `bursar ledger verify` pass. A live workspace cannot be reset: the CLI refuses naming
    /// its mode, and nothing of it changes.
    async fn a_reset_empties_the_sandbox_and_nothing_else(app: TestApp = crate::helpers::TestApp::spawn_without_relay) {
        let (live_id, live_key) = live_workspace(&app, "Shop").await;
        let live = Caller { app: &app, key: live_key };
        live.ok("/v1/customers", json!({"name": "Real customer"})).await;
        live.ok("/v1/ledger/accounts", json!({"id": "cash", "currency": "USD"})).await;
        let created = live.ok("/v1/sandboxes", json!({"name": "Staging"})).await;
        let sandbox_id = WorkspaceId::from_trusted(created["id"].as_str().unwrap().to_owned());
        let sandbox = Caller { app: &app, key: created["admin_key"]["secret"].as_str().unwrap().to_owned() };
        populate(&sandbox).await;
        let neighbour = Caller { app: &app, key: app.admin_key.clone() };
        populate(&neighbour).await;
        drain(&app).await;

        let tables = app.db().read(|tx: &mut Tx| Box::pin(tables_with_workspace_id(tx))).await.unwrap();
        let before = counts(&app).await;
        // Every table holds rows of the sandbox, so the reset is seen to empty each: a new
        // table fails here until populate() fills it.
        let empty: Vec<&String> = tables.iter().filter(|t| !before.contains_key(&((*t).clone(), sandbox_id.to_string()))).collect();
        assert!(empty.is_empty(), "tables without rows of the sandbox before its reset: {empty:?}");
        assert!(meter_rows(&app, &sandbox_id).await > 0);
        let neighbour_meter_rows = meter_rows(&app, &app.workspace_id).await;

        let reset = live.ok(&format!("/v1/sandboxes/{sandbox_id}/reset"), json!({})).await;
        assert_eq!((reset["object"].as_str(), reset["id"].as_str()), (Some("sandbox"), Some(sandbox_id.as_str())));

        let after = counts(&app).await;
        for ((table, ws), n) in &after {
            if ws == sandbox_id.as_str() {
                assert!(KEPT_TABLES.contains(&table.as_str()), "{table} keeps {n} rows of the reset sandbox");
            }
        }
        for ((table, ws), n) in &before {
            let now = after.get(&(table.clone(), ws.clone())).copied().unwrap_or(0);
            let kept = ws != sandbox_id.as_str() || KEPT_TABLES.contains(&table.as_str());
            // The reset request itself is recorded in the live workspace (its event, audit entry
            // and Idempotency-Key).
            let live_log = ws == live_id.as_str()
                && ["domain_event", "audit_entry", "audit_head", "idempotency_key"].contains(&table.as_str());
            if kept && !live_log {
                assert_eq!(now, *n, "{table} of {ws} changed");
            }
        }
        assert_eq!(meter_rows(&app, &sandbox_id).await, 0);
        assert_eq!(meter_rows(&app, &app.workspace_id).await, neighbour_meter_rows);
        let orphans = app.db().read(|tx: &mut Tx| Box::pin(async move {
            let mut n = 0;
            for table in METER_TABLES {
                let sql = format!("select count(*) as n from {table} where meter_key not in (select meter_key from meter)");
                n += tx.fetch_one(&sql, &[]).await?.i64("n")?;
            }
            Ok::<_, bursar_store::StoreError>(n)
        })).await.unwrap();
        assert_eq!(orphans, 0, "no rollup outlives its meter");
        let audit = json_body(live.get("/v1/audit_log").await).await;
        assert!(audit["data"].as_array().unwrap().iter().any(|e| e["action"] == "sandbox.reset" && e["target_id"] == sandbox_id.as_str()), "{audit}");

        // The same keys, an empty sandbox, and the same ids free again.
        assert_eq!(json_body(sandbox.get("/v1/customers").await).await["data"].as_array().unwrap().len(), 0);
        // The accounts are gone (none is remembered from before the reset); the same ids can
        // be created again, in another currency.
        let gone = sandbox.post("/v1/ledger/transfers", json!({"id": "t-9", "debit_account_id": "cash", "credit_account_id": "bank", "amount": 1})).await;
        expect_error(gone, 422, "debit_account_not_found", Some("debit_account_id")).await;
        sandbox.ok("/v1/ledger/accounts", json!({"id": "cash", "currency": "EUR"})).await;
        sandbox.ok("/v1/ledger/accounts", json!({"id": "bank", "currency": "EUR"})).await;
        sandbox.ok("/v1/ledger/transfers", json!({"id": "t-1", "debit_account_id": "cash", "credit_account_id": "bank", "amount": 9})).await;
        let bank = json_body(sandbox.get("/v1/ledger/accounts/bank").await).await;
        assert_eq!(bank["balances"]["credits_posted"], 9, "{bank}");
        sandbox.ok("/api/v1/meters", json!({"slug": "tokens", "aggregation": "SUM", "eventType": "prompt", "valueProperty": "$.tokens"})).await;
        sandbox.ok("/api/v1/events", json!({"specversion": "1.0", "id": "u-1", "source": "tests", "type": "prompt", "subject": "anyone", "data": {"tokens": 7}})).await;
        let usage = json_body(sandbox.get("/api/v1/meters/tokens/query").await).await;
        assert_eq!(usage["data"][0]["value"], 7.0, "an event id used before the reset counts again: {usage}");

        for command in [["audit", "verify"], ["ledger", "verify"]] {
            let (ok, output) = cli(&app, &command);
            assert!(ok, "{command:?} after a reset: {output}");
        }
        let live_before = counts(&app).await.into_iter().filter(|((_, ws), _)| ws == live_id.as_str()).collect::<Vec<_>>();
        let (ok, output) = cli(&app, &["workspaces", "reset", live_id.as_str()]);
        assert!(!ok && output.contains("workspace_is_live") && output.contains("is live"), "{output}");
        let live_after = counts(&app).await.into_iter().filter(|((_, ws), _)| ws == live_id.as_str()).collect::<Vec<_>>();
        assert_eq!(live_before, live_after, "nothing of the live workspace changed");
        let refused = bursar_core::sandboxes::reset(app.core(), &live_id, bursar::bootstrap::system_cause("test")).await.unwrap_err();
        assert_eq!((refused.code, refused.current_state.as_deref()), ("workspace_is_live", Some("live")));
        // A sandbox standing alone is reset from the command line; its own log records it.
        let (ok, output) = cli(&app, &["workspaces", "reset", app.workspace_id.as_str()]);
        assert!(ok, "{output}");
        assert_eq!(json_body(app.get("/v1/customers").await).await["data"].as_array().unwrap().len(), 0);
        let events = json_body(app.get(&format!("/v1/sandboxes/{}", app.workspace_id)).await).await;
        assert_eq!(events["error"]["code"], "resource_missing", "a sandbox standing alone is no sandbox of itself");
    }
}

/// Drives the relay until nothing is due, so the counts below stand still.
async fn drain(app: &TestApp) {
    let relay = bursar::relay::Relay::new(
        app.db().clone(),
        bursar::relay::builtin_subscribers(app.core(), &Default::default()).unwrap(),
        Default::default(),
    );
    crate::relay::drain(&relay, app.db()).await;
}

/// Rows per (table, workspace) of every table with a workspace_id, from the database's catalog.
async fn counts(app: &TestApp) -> BTreeMap<(String, String), i64> {
    app.db()
        .read(|tx: &mut Tx| {
            Box::pin(async move {
                let mut counts = BTreeMap::new();
                for table in tables_with_workspace_id(tx).await? {
                    let sql = format!(
                        "select workspace_id, count(*) as n from {table} group by workspace_id"
                    );
                    for row in tx.fetch_all(&sql, &[]).await? {
                        counts.insert((table.clone(), row.text("workspace_id")?), row.i64("n")?);
                    }
                }
                Ok::<_, bursar_store::StoreError>(counts)
            })
        })
        .await
        .unwrap()
}

/// Rows of the workspace's meters in the tables keyed by meter.
async fn meter_rows(app: &TestApp, workspace: &WorkspaceId) -> i64 {
    let workspace = workspace.clone();
    app.db().read(move |tx: &mut Tx| Box::pin(async move {
        let mut n = 0;
        for table in METER_TABLES {
            let sql = format!("select count(*) as n from {table} where meter_key in (select meter_key from meter where workspace_id = $1)");
            n += tx.fetch_one(&sql, &[workspace.as_str().into()]).await?.i64("n")?;
        }
        Ok::<_, bursar_store::StoreError>(n)
    })).await.unwrap()
}

/// Fills a sandbox through the API: catalog, orders paid and refunded with the test provider,
/// a saved card, licenses and downloads, the ledger and wallets, metering, invoices, payments,
/// credit notes, contracts, webhooks, under Idempotency-Keys.
async fn populate(s: &Caller<'_>) {
    let id = |v: Value| v["id"].as_str().unwrap().to_owned();
    let past = bursar_domain::time::Timestamp::from_unix_micros(
        s.app.db().now().unix_micros() - 1_000_000,
    )
    .to_rfc3339();
    let product = id(s
        .ok(
            "/v1/products",
            json!({"name": "Pro", "kind": "digital", "license": {"prefix": "RST"}}),
        )
        .await);
    s.ok(
        "/v1/prices",
        json!({"product_id": product, "currency": "USD", "unit_amount": 1_000}),
    )
    .await;
    s.ok("/v1/price_books", json!({"name": "EU"})).await;
    let company = id(s.ok("/v1/companies", json!({"name": "Acme", "contacts": [{"name": "Accounts", "email": "accounts@acme.example"}]})).await);
    s.ok("/v1/price_agreements", json!({"company_id": company, "name": "Deal", "currency": "USD", "effective_from": past, "lines": [{"product_id": product, "unit_amount": 800}]})).await;
    let coupon = id(s.ok("/v1/coupons", json!({"percent_off": 10})).await);
    s.ok(
        "/v1/promotion_codes",
        json!({"coupon_id": coupon, "code": "TEN"}),
    )
    .await;
    let upload = s
        .app
        .client
        .post(s.app.url(&format!(
            "/v1/artifacts?product_id={product}&version=1.0.0&platform=any&file_name=pro.zip"
        )))
        .bearer_auth(&s.key)
        .body(vec![7_u8; 100])
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 200);
    let customer = id(s
        .ok(
            "/v1/customers",
            json!({"name": "Buyer", "email": "buyer@example.com"}),
        )
        .await);
    let policy = id(s.ok("/v1/dunning_policies", json!({"name": "Standard", "steps": [{"at_days": 1, "actions": [{"type": "notify", "template": "reminder"}]}]})).await);
    s.ok(
        &format!("/v1/customers/{customer}/dunning_policy"),
        json!({"policy_id": policy}),
    )
    .await;
    let keyed = s
        .app
        .client
        .post(s.app.url("/v1/customers"))
        .bearer_auth(&s.key)
        .header("Idempotency-Key", "populate-1");
    assert_eq!(
        keyed
            .json(&json!({"name": "Keyed"}))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    paid_order(s, &customer, &product).await;
    // Another product's order, paid and partly refunded.
    let kit = id(s
        .ok("/v1/products", json!({"name": "Kit", "kind": "digital"}))
        .await);
    s.ok(
        "/v1/prices",
        json!({"product_id": kit, "currency": "USD", "unit_amount": 500}),
    )
    .await;
    let refunded = paid_order(s, &customer, &kit).await;
    s.ok(
        &format!("/v1/orders/{refunded}/refunds"),
        json!({"amount": 100}),
    )
    .await;
    let setup = s
        .ok(
            &format!("/v1/customers/{customer}/payment_method_setups"),
            json!({"currency": "USD"}),
        )
        .await;
    s.ok(
        &format!("/v1/test_provider/setup_sessions/{}/complete", id(setup)),
        json!({}),
    )
    .await;
    s.ok(
        "/v1/ledger/accounts",
        json!({"id": "cash", "currency": "USD"}),
    )
    .await;
    s.ok(
        "/v1/ledger/accounts",
        json!({"id": "bank", "currency": "USD", "flags": {"history": true}}),
    )
    .await;
    s.ok(
        "/v1/ledger/transfers",
        json!({"id": "t-1", "debit_account_id": "cash", "credit_account_id": "bank", "amount": 5}),
    )
    .await;
    s.ok("/v1/ledger/transfers", json!({"id": "t-2", "debit_account_id": "cash", "credit_account_id": "bank", "amount": 5, "kind": "pending", "timeout_seconds": 3600})).await;
    s.ok("/v1/ledger/accounts", json!({"id": "wallet", "currency": "USD", "flags": {"debits_must_not_exceed_credits": true}})).await;
    assert_eq!(s.post("/v1/ledger/transfers", json!({"id": "t-3", "debit_account_id": "wallet", "credit_account_id": "bank", "amount": 5})).await.status(), 422);
    s.ok(
        &format!("/v1/parties/{customer}/wallet/fund"),
        json!({"id": "f1", "amount": 100, "currency": "USD"}),
    )
    .await;
    let seller = id(s.ok("/v1/customers", json!({"name": "Seller"})).await);
    let wallet = format!("/v1/parties/{customer}/wallet");
    s.ok(
        &format!("{wallet}/commit"),
        json!({"id": "c1", "amount": 50, "currency": "USD"}),
    )
    .await;
    s.ok(&format!("{wallet}/release"), json!({"id": "r1", "amount": 20, "currency": "USD", "seller_id": seller, "not_before": past})).await;
    s.ok("/api/v1/meters", json!({"slug": "tokens", "aggregation": "SUM", "eventType": "prompt", "valueProperty": "$.tokens"})).await;
    s.ok("/api/v1/meters", json!({"slug": "users", "aggregation": "UNIQUE_COUNT", "eventType": "prompt", "valueProperty": "$.user"})).await;
    s.ok(
        &format!("/v1/customers/{customer}/usage_subjects"),
        json!({"subject": "buyer-prod"}),
    )
    .await;
    s.ok("/api/v1/events", json!({"specversion": "1.0", "id": "u-1", "source": "tests", "type": "prompt", "subject": "buyer-prod", "data": {"tokens": 3, "user": "ada"}})).await;
    s.ok(
        &format!("/v1/customers/{customer}/usage_close"),
        json!({"until": past}),
    )
    .await;
    s.ok(
        "/v1/tax_rates",
        json!({"display_name": "Sales tax", "jurisdiction": "US-CA", "percentage": "7.25"}),
    )
    .await;
    s.ok("/v1/invoice_settings", json!({"number_prefix": "RST"}))
        .await;
    // Handles are unique among all shops: each workspace populated here takes its own.
    let handle = format!("shop-{:08x}", rand::random::<u32>());
    s.ok(
        "/v1/storefront",
        json!({"handle": handle, "currency": "USD", "published": true}),
    )
    .await;
    // The portal's sign-in and session, through its pages.
    let email = format!("{handle}@example.com");
    s.ok(
        "/v1/customers",
        json!({"name": "Portal user", "email": email}),
    )
    .await;
    crate::portal::open_portal_session(s.app, &handle, &email).await;
    let invoice = id(s.ok("/v1/invoices", json!({"customer_id": customer, "currency": "USD", "lines": [{"description": "Setup", "unit_amount": 500}]})).await);
    s.ok(&format!("/v1/invoices/{invoice}/issue"), json!({}))
        .await;
    s.ok("/v1/payments", json!({"reference": "ref-1", "customer_id": customer, "currency": "USD", "amount": 200, "method": "bank_transfer"})).await;
    s.ok(
        "/v1/credit_notes",
        json!({"invoice_id": invoice, "amount": 100}),
    )
    .await;
    s.ok(
        &format!("/v1/customers/{customer}/billing_status/close"),
        json!({"reason": "test"}),
    )
    .await;
    let contract = id(s.ok("/v1/contracts", json!({"buyer_id": customer, "currency": "USD", "term": {"start": past}, "lines": [{"product_id": product, "unit_amount": 500}]})).await);
    s.ok(
        &format!("/v1/contracts/{contract}/operations"),
        json!({"type": "activate"}),
    )
    .await;
    s.ok(
        "/v1/webhook_endpoints",
        json!({"url": "http://127.0.0.1:9/hook"}),
    )
    .await;
    populate_treasury(s).await;
    populate_shipping(s).await;
}

/// A paid order of a physical product, shipped with the test courier, with a tracking event.
async fn populate_shipping(s: &Caller<'_>) {
    let id = |v: Value| v["id"].as_str().unwrap().to_owned();
    let sensor = id(s
        .ok(
            "/v1/products",
            json!({"name": "Sensor", "kind": "physical", "serialized": true}),
        )
        .await);
    s.ok(
        "/v1/prices",
        json!({"product_id": sensor, "currency": "USD", "unit_amount": 700}),
    )
    .await;
    let buyer = id(s.ok("/v1/customers", json!({"name": "Shipper"})).await);
    let order = id(s
        .ok(
            "/v1/orders",
            json!({"customer_id": buyer, "currency": "USD", "lines": [{"product_id": sensor}]}),
        )
        .await);
    let checkout = s
        .ok(&format!("/v1/orders/{order}/checkout"), json!({}))
        .await;
    let session = checkout["checkout"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.ok(
        &format!("/v1/test_provider/checkout_sessions/{session}/complete"),
        json!({"outcome": "succeeded"}),
    )
    .await;
    s.ok("/v1/automation_scenarios", json!({"key": "first_time", "fallback_instructions": "By hand.",
        "steps": [{"key": "call", "action": {"type": "callback", "url": "http://127.0.0.1:9/x"}, "max_attempts": 1, "retry_delay_seconds": 0}]})).await;
    s.ok(
        "/v1/courier_connections",
        json!({"carrier": "test_courier"}),
    )
    .await;
    let shipment = id(s
        .ok(
            &format!("/v1/orders/{order}/shipments"),
            json!({"carrier": "test_courier", "tracking_number": "SBX1",
                "lines": [{"product_id": sensor, "quantity": 1, "serial_numbers": ["SBX-D1"]}]}),
        )
        .await);
    s.ok(
        &format!("/v1/shipments/{shipment}/simulate"),
        json!({"scenario": "delivered"}),
    )
    .await;
    // The device is assigned at once (its devices step runs first, before the callback).
    let devices = s
        .app
        .client
        .get(s.app.url("/v1/devices?serial_number=SBX-D1"));
    let devices = devices.bearer_auth(&s.key).send().await.unwrap();
    let device = json_body(devices).await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.ok(
        &format!("/v1/devices/{device}/asset"),
        json!({"asset": "Greenhouse 2"}),
    )
    .await;
}

/// An expected payment, a statement line matched to it and one in review.
async fn populate_treasury(s: &Caller<'_>) {
    s.ok("/v1/expected_payments", json!({"currency": "USD", "amount_lower": 500, "date_lower": "2026-03-01", "date_upper": "2026-03-09", "reference": "SBX-1"})).await;
    let statement = "date,amount,direction,currency,reference\n\
                     2026-03-02,5.00,credit,USD,SBX-1\n2026-03-02,1.00,credit,USD,NOPE\n";
    let response = s
        .app
        .client
        .post(s.app.url("/v1/bank_transactions/import"))
        .bearer_auth(&s.key)
        .header("Content-Type", "text/csv")
        .body(statement)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // A bank connection and a bank webhook it received.
    let bank = s
        .ok("/v1/bank_connections", json!({"kind": "test_bank"}))
        .await;
    let bank_id = bank["id"].as_str().unwrap().to_owned();
    // A seller with a bank account, a payout to it and a payout schedule.
    let payee = s.ok("/v1/customers", json!({"name": "Payee"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.ok(
        &format!("/v1/parties/{payee}/wallet/fund"),
        json!({"id": "payee-funds", "amount": 1_000, "currency": "USD"}),
    )
    .await;
    let account = s.ok(&format!("/v1/parties/{payee}/bank_accounts"), json!({"routing_number": "021000021", "account_number": "123456789", "account_type": "checking", "holder_name": "Payee"})).await;
    // A mandate on it and a pay-in (an ACH debit) from it.
    let account = account["id"].as_str().unwrap().to_owned();
    s.ok(
        &format!("/v1/parties/{payee}/bank_accounts/{account}/mandate"),
        json!({}),
    )
    .await;
    s.ok(
        &format!("/v1/parties/{payee}/pay_ins"),
        json!({"amount": 100, "currency": "USD"}),
    )
    .await;
    s.ok(
        &format!("/v1/parties/{payee}/payouts"),
        json!({"amount": 100, "currency": "USD"}),
    )
    .await;
    s.ok(
        &format!("/v1/parties/{payee}/payout_schedule"),
        json!({"interval": "daily"}),
    )
    .await;
    s.ok(
        &format!("/v1/test_bank/{bank_id}/incoming_payments"),
        json!({"amount": 100, "currency": "USD", "rail": "rtp"}),
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let transactions = s
            .get("/v1/bank_transactions")
            .await
            .json::<Value>()
            .await
            .unwrap();
        if transactions["data"]
            .as_array()
            .is_some_and(|d| d.iter().any(|t| t["source"] == "webhook"))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the test bank's payment never arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// An order of one `product` for `customer`, paid through the test provider.
async fn paid_order(s: &Caller<'_>, customer: &str, product: &str) -> String {
    let order = s
        .ok(
            "/v1/orders",
            json!({"customer_id": customer, "currency": "USD", "lines": [{"product_id": product}]}),
        )
        .await;
    let order = order["id"].as_str().unwrap().to_owned();
    let checkout = s
        .ok(&format!("/v1/orders/{order}/checkout"), json!({}))
        .await;
    let session = checkout["checkout"]["session_id"].as_str().unwrap();
    s.ok(
        &format!("/v1/test_provider/checkout_sessions/{session}/complete"),
        json!({"outcome": "succeeded"}),
    )
    .await;
    order
}
