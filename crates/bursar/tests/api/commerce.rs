//! Commerce end to end: catalog → quote → order → checkout (test provider) → signed webhook →
//! paid → refunds, with the ledger's balances at each step; signatures checked with Stripe's own
//! library; duplicate, concurrent and out-of-order provider events; promotion-code limits under
//! concurrency.

use std::process::Command;

use crate::both_backends;
use crate::fake_stripe;
use crate::helpers::*;

async fn event_types(app: &TestApp, order: &str) -> Vec<String> {
    let timeline = ok(app.get(&format!("/v1/orders/{order}/timeline")).await).await;
    timeline["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

/// A product with a default price, and a customer.
async fn shop(app: &TestApp, unit_amount: i64) -> (String, String) {
    let product = id(&ok(app
        .post(
            "/v1/products",
            json!({"name": "Plugin licence", "kind": "digital"}),
        )
        .await)
    .await);
    ok(app
        .post(
            "/v1/prices",
            json!({"product_id": product, "currency": "USD", "unit_amount": unit_amount}),
        )
        .await)
    .await;
    let customer = id(&ok(app
        .post(
            "/v1/customers",
            json!({"name": "Bo", "email": "bo@example.com"}),
        )
        .await)
    .await);
    (product, customer)
}

both_backends! {
    /// Goal: what a merchant typed reaches the hosted checkout page escaped: a product named
    /// like markup shows as text.
    async fn the_checkout_page_escapes_what_merchants_typed(app: TestApp) {
        let hostile = r#"<script>alert("x")</script> & <b>bold</b>"#;
        let product = id(&ok(app.post("/v1/products", json!({"name": hostile, "kind": "digital"})).await).await);
        ok(app.post("/v1/prices", json!({"product_id": product, "currency": "USD", "unit_amount": 700})).await).await;
        let customer = id(&ok(app.post("/v1/customers", json!({"name": "<i>Eve</i>", "email": "eve@example.com"})).await).await);
        let order = open_order(&app, &customer, &product, 2).await;
        let url = order["checkout"]["url"].as_str().unwrap();
        let html = page_text(&app, url).await;
        let escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;";
        assert!(html.contains(&format!("<td>{escaped}</td>")), "{html}");
        for raw in ["<script>", "<b>", "<i>"] {
            assert!(!html.contains(raw), "{raw} in {html}");
        }
    }
}

async fn open_order(app: &TestApp, customer: &str, product: &str, quantity: i64) -> Value {
    let order = ok(app.post("/v1/orders", json!({"customer_id": customer, "currency": "USD", "lines": [{"product_id": product, "quantity": quantity}]})).await).await;
    ok(app
        .post(&format!("/v1/orders/{}/checkout", id(&order)), json!({}))
        .await)
    .await
}

async fn complete(app: &TestApp, session: String, outcome: &str) -> Value {
    ok(app
        .post(
            &format!("/v1/test_provider/checkout_sessions/{session}/complete"),
            json!({"outcome": outcome}),
        )
        .await)
    .await
}

fn session_of(order: &Value) -> String {
    order["checkout"]["session_id"].as_str().unwrap().to_owned()
}

async fn deliver(app: &TestApp, event: &Value) -> reqwest::Response {
    app.client
        .post(app.url(event["webhook_path"].as_str().unwrap()))
        .header("Stripe-Signature", event["signature"].as_str().unwrap())
        .header("Content-Type", "application/json")
        .body(event["payload"].as_str().unwrap().to_owned())
        .send()
        .await
        .unwrap()
}

both_backends! {
    /// Goal: catalog → quote → order → checkout → signed webhook → paid → refunds, asserting
    /// states, events and ledger balances; nothing is posted before the payment is confirmed.
    async fn an_order_is_paid_through_checkout_and_refunded(app: TestApp) {
        // Catalog: a default price, a price book, a company with an agreement.
        let product = id(&ok(app.post("/v1/products", json!({"name": "Plugin licence", "kind": "digital"})).await).await);
        ok(app.post("/v1/prices", json!({"product_id": product, "currency": "USD", "unit_amount": 2500})).await).await;
        let book = id(&ok(app.post("/v1/price_books", json!({"name": "Partners"})).await).await);
        ok(app.post("/v1/prices", json!({"product_id": product, "currency": "USD", "unit_amount": 2000, "price_book_id": book})).await).await;
        let company = id(&ok(app.post("/v1/companies", json!({"name": "Acme", "price_book_id": book})).await).await);
        let past = bursar_domain::time::Timestamp::from_unix_micros(app.db().now().unix_micros() - 60_000_000).to_rfc3339();
        let deal = id(&ok(app.post("/v1/price_agreements", json!({"company_id": company, "name": "2026", "currency": "USD", "effective_from": past, "lines": [{"product_id": product, "unit_amount": 1800}]})).await).await);
        let member = id(&ok(app.post("/v1/customers", json!({"name": "Ann", "company_id": company})).await).await);
        let quote = |customer: String| json!({"customer_id": customer, "currency": "USD", "lines": [{"product_id": product, "quantity": 2}]});

        // A draft agreement does not apply; the company's price book does.
        let q = ok(app.post("/v1/quotes", quote(member.clone())).await).await;
        assert_eq!((q["lines"][0]["rule"].as_str(), q["lines"][0]["unit_amount"].as_i64()), (Some("price_book"), Some(2000)), "{q}");
        ok(app.post(&format!("/v1/price_agreements/{deal}/activate"), json!({})).await).await;
        let q = ok(app.post("/v1/quotes", quote(member.clone())).await).await;
        assert_eq!(q["lines"][0]["rule"], "agreement");
        assert_eq!(q["lines"][0]["source_id"], deal.as_str());
        assert_eq!(q["totals"]["total"], 3600);

        // A customer without a company pays the default price.
        let buyer = id(&ok(app.post("/v1/customers", json!({"name": "Bo", "email": "bo@example.com"})).await).await);
        let q = ok(app.post("/v1/quotes", quote(buyer.clone())).await).await;
        assert_eq!((q["lines"][0]["rule"].as_str(), q["totals"]["total"].as_i64()), (Some("default"), Some(5000)));

        // Order → checkout: still nothing in the ledger.
        let order = ok(app.post("/v1/orders", quote(buyer.clone())).await).await;
        let order_id = id(&order);
        assert_eq!(order["status"], "draft");
        let order = ok(app.post(&format!("/v1/orders/{order_id}/checkout"), json!({})).await).await;
        assert_eq!(order["status"], "checkout_open");
        let url = order["checkout"]["url"].as_str().unwrap().to_owned();
        assert!(url.contains("/test-provider/checkout/cs_test_"), "{url}");
        assert_eq!(ledger_balances(&app, "commerce:revenue:USD").await, (0, 0), "pay before commit");
        // The hosted page a person would use.
        let page = app.client.get(&url).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        // It says whose page it is, what is paid and its lines.
        let merchant = workspace_name(&app).await;
        let total = bursar_domain::money::Currency::from_code("USD").unwrap().format(5000);
        let shown = [format!("<p class=merchant>{merchant}</p>"), format!("<h1>Order {order_id}</h1>"), "<td>Plugin licence</td>".into(), format!("Total {total}"), "<button>Pay</button>".into()];
        for text in shown {
            assert!(html.contains(&text), "{text} in {html}");
        }
        // Opening a checkout again is an illegal transition, refused with the state.
        let again = app.post(&format!("/v1/orders/{order_id}/checkout"), json!({})).await;
        let body = expect_error(again, 409, "order_state_invalid", None).await;
        assert_eq!(body["error"]["current_state"], "checkout_open");

        // A Pay form posted without the page's token, or from another site, is refused.
        let forged = app.client.post(format!("{url}/pay")).send().await.unwrap();
        assert_eq!(forged.status(), 403);
        let token = form_token(&page_text(&app, &url).await);
        let cross_site = app.client.post(format!("{url}/pay")).header("origin", "https://evil.example")
            .header("content-type", "application/x-www-form-urlencoded").body(format!("csrf_token={token}")).send().await.unwrap();
        assert_eq!(cross_site.status(), 403);
        assert_eq!(ok(app.get(&format!("/v1/orders/{order_id}")).await).await["status"], "checkout_open");
        // The person clicks Pay: the test provider delivers signed Stripe-format events.
        let pay = submit_form(&app, &url, &format!("{url}/pay")).await;
        assert_eq!(pay.status(), 200, "redirected to the success page: {} {:?}", pay.url(), pay.headers());
        let order = ok(app.get(&format!("/v1/orders/{order_id}")).await).await;
        assert_eq!(order["status"], "paid", "{order}");
        let fee = bursar_core::test_provider::test_fee(5000);
        assert_eq!(order["payment"]["amount"], 5000);
        assert_eq!(order["payment"]["fee"], fee);
        assert_eq!(ledger_balances(&app, "commerce:clearing:test:USD").await, (5000, fee));
        assert_eq!(ledger_balances(&app, "commerce:revenue:USD").await, (0, 5000));
        assert_eq!(ledger_balances(&app, "commerce:fees:USD").await, (fee, 0));
        let audit = ok(app.get(&format!("/v1/orders/{order_id}/payment_events")).await).await;
        let outcomes: Vec<&str> = audit["data"].as_array().unwrap().iter().map(|e| e["outcome"].as_str().unwrap()).collect();
        assert_eq!(outcomes, ["applied", "applied"], "{audit}");

        // Partial refund, then the rest.
        let refund = ok(app.post_once(&format!("/v1/orders/{order_id}/refunds"), json!({"amount": 1000, "reason": "requested_by_customer"})).await).await;
        assert_eq!((refund["status"].as_str(), refund["amount"].as_i64()), (Some("succeeded"), Some(1000)), "{refund}");
        let order = ok(app.get(&format!("/v1/orders/{order_id}")).await).await;
        assert_eq!(order["status"], "partially_refunded");
        let too_much = app.post_once(&format!("/v1/orders/{order_id}/refunds"), json!({"amount": 4001})).await;
        expect_error(too_much, 400, "amount_too_large", Some("amount")).await;
        let rest = ok(app.post_once(&format!("/v1/orders/{order_id}/refunds"), json!({})).await).await;
        assert_eq!(rest["amount"], 4000);
        let order = ok(app.get(&format!("/v1/orders/{order_id}")).await).await;
        assert_eq!((order["status"].as_str(), order["amount_refunded"].as_i64()), (Some("refunded"), Some(5000)));
        assert_eq!(ledger_balances(&app, "commerce:refunds:USD").await, (5000, 0));
        assert_eq!(ledger_balances(&app, "commerce:clearing:test:USD").await, (5000, fee + 5000));
        let refunded = app.post_once(&format!("/v1/orders/{order_id}/refunds"), json!({})).await;
        assert_eq!(expect_error(refunded, 409, "order_state_invalid", None).await["error"]["current_state"], "refunded");
        let cancel = app.post(&format!("/v1/orders/{order_id}/cancel"), json!({})).await;
        assert_eq!(expect_error(cancel, 409, "order_state_invalid", None).await["error"]["current_state"], "refunded");
        assert_eq!(
            event_types(&app, &order_id).await,
            ["order.created", "order.checkout_opened", "order.paid", "order.refund_requested", "order.partially_refunded", "order.refund_requested", "order.refunded"]
        );

        // A declined payment leaves no trace to reverse.
        let declined = open_order(&app, &buyer, &product, 1).await;
        let declined_id = id(&declined);
        let outcome = ok(app.post(&format!("/v1/test_provider/checkout_sessions/{}/complete", session_of(&declined)), json!({"outcome": "declined"})).await).await;
        assert_eq!(outcome["receipts"][0]["outcome"], "applied");
        let declined = ok(app.get(&format!("/v1/orders/{declined_id}")).await).await;
        assert_eq!(declined["status"], "payment_failed");
        // Stripe's shape: `card_declined` with the issuer's reason, which the order shows.
        assert!(declined["last_payment_error"].as_str().unwrap().starts_with("generic_decline"), "{declined}");
        assert_eq!(declined["last_decline_class"], "soft");
        assert_eq!(app.get(&format!("/v1/ledger/transfers/pay:{declined_id}")).await.status(), 404);
        assert_eq!(ledger_balances(&app, "commerce:revenue:USD").await, (0, 5000));
        // The customer retries with another card in the same session and succeeds.
        ok(app.post(&format!("/v1/test_provider/checkout_sessions/{}/complete", session_of(&declined)), json!({"outcome": "succeeded"})).await).await;
        assert_eq!(ok(app.get(&format!("/v1/orders/{declined_id}")).await).await["status"], "paid");
        assert_eq!(ledger_balances(&app, "commerce:revenue:USD").await, (0, 7500));
        ok(app.post(&format!("/v1/orders/{declined_id}/fulfill"), json!({})).await).await;
        assert_eq!(ok(app.get(&format!("/v1/orders/{declined_id}")).await).await["status"], "fulfilled");
    }
}

both_backends! {
    /// Goal: the same provider event 20 times at once has one effect; events out of order (a
    /// success before its session's completion, a stale failure after the success) end in the
    /// right state.
    async fn provider_events_take_effect_once_in_any_order(app: TestApp) {
        let (product, customer) = shop(&app, 1500).await;
        let order = open_order(&app, &customer, &product, 2).await;
        let order_id = id(&order);
        let events = ok(app.post(&format!("/v1/test_provider/checkout_sessions/{}/complete", session_of(&order)), json!({"outcome": "succeeded", "deliver": false})).await).await;
        let events = events["events"].as_array().unwrap().clone();
        assert_eq!(events[0]["type"], "checkout.session.completed");
        assert_eq!(events[1]["type"], "payment_intent.succeeded");
        assert_eq!(ok(app.get(&format!("/v1/orders/{order_id}")).await).await["status"], "checkout_open", "not delivered yet");

        // payment_intent.succeeded first, 20 times concurrently.
        let deliveries = (0..20).map(|_| deliver(&app, &events[1]));
        let mut receipts = Vec::new();
        for response in futures::future::join_all(deliveries).await {
            receipts.push(ok(response).await);
        }
        assert_eq!(receipts.iter().filter(|r| r["first_delivery"] == true).count(), 1, "{receipts:?}");
        assert!(receipts.iter().all(|r| r["received"] == true));
        let fee = bursar_core::test_provider::test_fee(3000);
        assert_eq!(ledger_balances(&app, "commerce:revenue:USD").await, (0, 3000));
        assert_eq!(ledger_balances(&app, "commerce:clearing:test:USD").await, (3000, fee));
        // Then the session's completion, late: the order is already paid.
        let late = ok(deliver(&app, &events[0]).await).await;
        assert_eq!((late["outcome"].as_str(), late["detail"].as_str()), (Some("ignored"), Some("already paid")));
        assert_eq!(event_types(&app, &order_id).await, ["order.created", "order.checkout_opened", "order.paid"]);

        // A failure that arrives after the success does not regress the order.
        let second = open_order(&app, &customer, &product, 1).await;
        let second_id = id(&second);
        let failed = ok(app.post(&format!("/v1/test_provider/checkout_sessions/{}/complete", session_of(&second)), json!({"outcome": "declined", "deliver": false})).await).await;
        ok(app.post(&format!("/v1/test_provider/checkout_sessions/{}/complete", session_of(&second)), json!({"outcome": "succeeded"})).await).await;
        let stale = ok(deliver(&app, &failed["events"][0]).await).await;
        assert_eq!(stale["outcome"], "ignored");
        assert!(stale["detail"].as_str().unwrap().contains("paid"), "{stale}");
        assert_eq!(ok(app.get(&format!("/v1/orders/{second_id}")).await).await["status"], "paid");
        assert_eq!(ledger_balances(&app, "commerce:revenue:USD").await, (0, 4500));

        // An expired session gives the order back for another checkout.
        let third = open_order(&app, &customer, &product, 1).await;
        let third_id = id(&third);
        // With an Idempotency-Key, a retry replays the first answer instead of acting again.
        let expire = || {
            app.client
                .post(app.url(&format!("/v1/test_provider/checkout_sessions/{}/complete", session_of(&third))))
                .bearer_auth(&app.admin_key)
                .header("Idempotency-Key", "expire-third")
                .json(&json!({"outcome": "expired"}))
                .send()
        };
        let first = ok(expire().await.unwrap()).await;
        let again = expire().await.unwrap();
        assert_eq!(again.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
        assert_eq!(ok(again).await, first);
        assert_eq!(ok(app.get(&format!("/v1/orders/{third_id}")).await).await["status"], "checkout_expired");
        let reopened = ok(app.post(&format!("/v1/orders/{third_id}/checkout"), json!({})).await).await;
        assert_eq!((reopened["status"].as_str(), reopened["checkout"]["attempt"].as_i64()), (Some("checkout_open"), Some(2)));
    }
}

both_backends! {
    /// Goal: a promotion code limited to N redemptions, raced by 4N checkouts, is redeemed
    /// exactly N times; an expired checkout gives its redemption back.
    async fn a_promotion_code_is_redeemed_at_most_its_limit(app: TestApp) {
        const N: usize = 5;
        let (product, customer) = shop(&app, 1000).await;
        let coupon = id(&ok(app.post("/v1/coupons", json!({"percent_off": 25})).await).await);
        let promo = id(&ok(app.post("/v1/promotion_codes", json!({"coupon_id": coupon, "code": "launch25", "max_redemptions": N})).await).await);
        let mut orders = Vec::new();
        for _ in 0..4 * N {
            let order = ok(app.post("/v1/orders", json!({"customer_id": customer, "currency": "USD", "promotion_code": "LAUNCH25", "lines": [{"product_id": product}]})).await).await;
            assert_eq!(order["totals"], json!({"subtotal": 1000, "discount": 250, "total": 750}));
            orders.push(id(&order));
        }
        let paths: Vec<String> = orders.iter().map(|o| format!("/v1/orders/{o}/checkout")).collect();
        let checkouts = paths.iter().map(|path| app.post(path, json!({})));
        let responses = futures::future::join_all(checkouts).await;
        let mut opened = Vec::new();
        for response in responses {
            let status = response.status();
            let body = json_body(response).await;
            match status.as_u16() {
                200 => opened.push(body),
                409 => assert_eq!(body["error"]["code"], "promotion_code_exhausted", "{body}"),
                other => panic!("unexpected {other}: {body}"),
            }
        }
        assert_eq!(opened.len(), N);
        let code = ok(app.get(&format!("/v1/promotion_codes/{promo}")).await).await;
        assert_eq!(code["times_redeemed"], N as i64);
        let coupon = ok(app.get(&format!("/v1/coupons/{coupon}")).await).await;
        assert_eq!(coupon["times_redeemed"], N as i64);
        let listed = ok(app.get("/v1/promotion_codes").await).await;
        assert_eq!(listed["data"][0]["times_redeemed"], N as i64, "lists show the counts too");
        // New orders with the code are refused now.
        let refused = app.post("/v1/orders", json!({"customer_id": customer, "currency": "USD", "promotion_code": "launch25", "lines": [{"product_id": product}]})).await;
        expect_error(refused, 400, "promotion_code_exhausted", Some("promotion_code")).await;
        // An expired checkout releases its redemption.
        ok(app.post(&format!("/v1/test_provider/checkout_sessions/{}/complete", session_of(&opened[0])), json!({"outcome": "expired"})).await).await;
        assert_eq!(ok(app.get(&format!("/v1/promotion_codes/{promo}")).await).await["times_redeemed"], N as i64 - 1);
    }
}

/// Signs `body` with the official Stripe library.
fn stripe_sign(secret: &str, timestamp: i64, body: &str) -> String {
    stripe_script("sign", secret, &timestamp.to_string(), body)
}

fn stripe_script(mode: &str, secret: &str, arg: &str, body: &str) -> String {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), body).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/api/py/stripe_webhook.py"
    );
    let output = Command::new("python3")
        .env("PYTHONPATH", python_path("stripe", "stripe==16.1.0"))
        .args([script, mode, secret, arg])
        .arg(file.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

both_backends! {
    /// Goal: webhooks signed by Stripe's official library are accepted; tampered bodies, wrong
    /// secrets, expired timestamps and missing headers are refused and change nothing; and the
    /// test provider's own signatures verify with Stripe's library.
    async fn stripe_signed_webhooks_are_verified(app: TestApp) {
        const SECRET: &str = "whsec_bursar_conformance_secret";
        let connection = ok(app.post("/v1/payment_providers", json!({"kind": "stripe", "secret_key": "sk_test_51Conformance", "webhook_secrets": ["whsec_old_rotated_secret_value", SECRET], "api_base": "http://127.0.0.1:9"})).await).await;
        assert_eq!(connection["secret_key_last4"], "ance");
        assert!(!connection.to_string().contains("sk_test_51Conformance"), "secrets never leave Bursar");
        let path = connection["webhook_path"].as_str().unwrap().to_owned();

        let (product, customer) = shop(&app, 1200).await;
        let order = open_order(&app, &customer, &product, 1).await;
        let order_id = id(&order);
        let now = app.db().now().unix_micros() / 1_000_000;
        let event = json!({
            "id": "evt_3PconformanceA", "object": "event", "api_version": "2024-06-20", "created": now, "livemode": false,
            "pending_webhooks": 1, "request": {"id": null, "idempotency_key": null}, "type": "payment_intent.succeeded",
            "data": {"object": {"id": "pi_3Pconformance", "object": "payment_intent", "amount": 1200, "amount_received": 1200,
                "currency": "usd", "status": "succeeded", "metadata": {"bursar_order_id": order_id}, "payment_method": "pm_1X", "customer": null}}
        }).to_string();
        let post = |body: String, signature: Option<String>| {
            let mut request = app.client.post(app.url(&path)).header("Content-Type", "application/json").body(body);
            if let Some(signature) = signature {
                request = request.header("Stripe-Signature", signature);
            }
            request.send()
        };
        let refused = [
            (event.replace("1200", "1"), Some(stripe_sign(SECRET, now, &event)), "signature_invalid"),
            (event.clone(), Some(stripe_sign("whsec_not_the_endpoint_secret", now, &event)), "signature_invalid"),
            (event.clone(), Some(stripe_sign(SECRET, now - 301, &event)), "signature_expired"),
            (event.clone(), None, "signature_missing"),
        ];
        for (body, signature, code) in refused {
            expect_error(post(body, signature).await.unwrap(), 400, code, None).await;
        }
        assert_eq!(ok(app.get(&format!("/v1/orders/{order_id}")).await).await["status"], "checkout_open", "refused webhooks change nothing");
        assert_eq!(ok(app.get(&format!("/v1/orders/{order_id}/payment_events")).await).await["data"], json!([]));

        let receipt = ok(post(event.clone(), Some(stripe_sign(SECRET, now, &event))).await.unwrap()).await;
        assert_eq!((receipt["outcome"].as_str(), receipt["first_delivery"].as_bool()), (Some("applied"), Some(true)), "{receipt}");
        let order = ok(app.get(&format!("/v1/orders/{order_id}")).await).await;
        assert_eq!((order["status"].as_str(), order["payment"]["payment_id"].as_str()), (Some("paid"), Some("pi_3Pconformance")));
        assert_eq!(ledger_balances(&app, "commerce:clearing:stripe:USD").await, (1200, 0));
        // The old secret still verifies during rotation.
        let old = event.replace("evt_3PconformanceA", "evt_3PconformanceB");
        let receipt = ok(post(old.clone(), Some(stripe_sign("whsec_old_rotated_secret_value", now, &old))).await.unwrap()).await;
        assert_eq!(receipt["detail"], "already paid");

        // The test provider signs exactly as Stripe does: Stripe's verifier accepts its events.
        let other = open_order(&app, &customer, &product, 1).await;
        let signed = ok(app.post(&format!("/v1/test_provider/checkout_sessions/{}/complete", session_of(&other)), json!({"outcome": "succeeded", "deliver": false})).await).await;
        let test_connection = ok(app.get("/v1/payment_providers?limit=10").await).await;
        assert!(test_connection["data"].as_array().unwrap().iter().any(|c| c["kind"] == "test"));
        let secret: String = {
            let db = app.db();
            let sealed: String = db.read(|tx: &mut bursar_store::Tx| Box::pin(async move {
                tx.fetch_one("select webhook_secrets_sealed from payment_provider where kind = 'test'", &[]).await?.text("webhook_secrets_sealed")
            })).await.unwrap();
            let secrets: Vec<String> = serde_json::from_str(&db.sealer().unwrap().open(&sealed).unwrap()).unwrap();
            secrets[0].clone()
        };
        for event in signed["events"].as_array().unwrap() {
            let verified = stripe_script("verify", &secret, event["signature"].as_str().unwrap(), event["payload"].as_str().unwrap());
            assert_eq!(verified, event["id"].as_str().unwrap());
        }
    }
}

both_backends! {
    /// Goal: a dispute holds the disputed amount in the ledger (and books the provider's fee);
    /// won, the amount returns and the order is back where it was; lost, it is written off.
    async fn disputes_hold_then_release_or_write_off(app: TestApp) {
        let (product, customer) = shop(&app, 2000).await;
        let won = open_order(&app, &customer, &product, 1).await;
        let lost = open_order(&app, &customer, &product, 1).await;
        for order in [&won, &lost] {
            complete(&app, session_of(order), "succeeded").await;
        }
        let fees = bursar_core::test_provider::test_fee(2000) * 2;
        let dispute_fee = bursar_core::test_provider::TEST_DISPUTE_FEE;

        let receipt = complete(&app, session_of(&won), "disputed").await;
        assert_eq!(receipt["receipts"][0]["outcome"], "applied", "{receipt}");
        let order = ok(app.get(&format!("/v1/orders/{}", id(&won))).await).await;
        assert_eq!((order["status"].as_str(), order["dispute"]["status"].as_str()), (Some("disputed"), Some("open")));
        assert_eq!(ledger_balances(&app, "commerce:disputes:USD").await, (2000, 0));
        assert_eq!(ledger_balances(&app, "commerce:fees:USD").await, (fees + dispute_fee, 0));
        // A disputed order cannot be refunded meanwhile.
        let refund = app.post_once(&format!("/v1/orders/{}/refunds", id(&won)), json!({})).await;
        assert_eq!(expect_error(refund, 409, "order_state_invalid", None).await["error"]["current_state"], "disputed");
        complete(&app, session_of(&won), "dispute_won").await;
        let order = ok(app.get(&format!("/v1/orders/{}", id(&won))).await).await;
        assert_eq!((order["status"].as_str(), order["dispute"]["status"].as_str()), (Some("paid"), Some("won")));
        assert_eq!(ledger_balances(&app, "commerce:disputes:USD").await, (2000, 2000));

        complete(&app, session_of(&lost), "disputed").await;
        complete(&app, session_of(&lost), "dispute_lost").await;
        let order = ok(app.get(&format!("/v1/orders/{}", id(&lost))).await).await;
        assert_eq!((order["status"].as_str(), order["dispute"]["status"].as_str()), (Some("disputed"), Some("lost")));
        assert_eq!(ledger_balances(&app, "commerce:dispute_losses:USD").await, (2000, 0));
        assert_eq!(ledger_balances(&app, "commerce:disputes:USD").await, (4000, 4000));
        // Clearing: two payments in; fees, one dispute lost and two dispute fees out.
        assert_eq!(ledger_balances(&app, "commerce:clearing:test:USD").await, (4000 + 2000, fees + 4000 + 2 * dispute_fee));
        let events = event_types(&app, &id(&won)).await;
        assert!(events.ends_with(&["order.disputed".to_owned(), "order.dispute_won".to_owned()]), "{events:?}");
    }
}

both_backends! {
    /// Goal: a customer saves a card through the provider; later orders are charged to it
    /// off-session, committed only when the provider confirms; declines and required
    /// authentication leave nothing in the ledger.
    async fn saved_cards_are_charged_off_session_confirm_before_commit(app: TestApp) {
        let (product, customer) = shop(&app, 3000).await;
        let setup = ok(app.post(&format!("/v1/customers/{customer}/payment_method_setups"), json!({"currency": "USD"})).await).await;
        let url = setup["url"].as_str().unwrap();
        assert!(url.contains("/test-provider/setup/"), "{url}");
        assert_eq!(app.client.get(url).send().await.unwrap().status(), 200);
        assert_eq!(app.client.post(format!("{url}/save")).send().await.unwrap().status(), 403, "no form token");
        let signed = ok(app.post(&format!("/v1/test_provider/setup_sessions/{}/complete", setup["id"].as_str().unwrap()), json!({"deliver": false})).await).await;
        let event = &signed["events"][0];
        assert_eq!(event["type"], "setup_intent.succeeded");
        assert_eq!(ok(deliver(&app, event).await).await["outcome"], "applied");
        assert_eq!(ok(deliver(&app, event).await).await["first_delivery"], false);
        let methods = ok(app.get(&format!("/v1/customers/{customer}/payment_methods")).await).await;
        assert_eq!(methods["data"].as_array().unwrap().len(), 1, "{methods}");
        let visa = id(&methods["data"][0]);
        assert!(methods["data"][0]["provider_method_id"].as_str().unwrap().starts_with("pm_test_visa_"));

        let draft = |quantity: i64| app.post("/v1/orders", json!({"customer_id": customer, "currency": "USD", "lines": [{"product_id": product, "quantity": quantity}]}));
        let order = id(&ok(draft(1).await).await);
        let paid = ok(app.post(&format!("/v1/orders/{order}/pay"), json!({"payment_method_id": visa})).await).await;
        assert_eq!((paid["status"].as_str(), paid["payment"]["amount"].as_i64()), (Some("paid"), Some(3000)), "{paid}");
        assert_eq!(ledger_balances(&app, "commerce:revenue:USD").await, (0, 3000));
        let again = app.post(&format!("/v1/orders/{order}/pay"), json!({"payment_method_id": visa})).await;
        assert_eq!(expect_error(again, 409, "order_state_invalid", None).await["error"]["current_state"], "paid");
        // Paid off-session, refunded like any other payment.
        let refund = ok(app.post_once(&format!("/v1/orders/{order}/refunds"), json!({"amount": 500})).await).await;
        assert_eq!(refund["status"], "succeeded");

        // Each test card declines as Stripe would; the order shows the issuer's reason and
        // whether retrying the card may help.
        for (card, error, class) in [
            ("declined", "generic_decline", "soft"),
            ("insufficient_funds", "insufficient_funds", "soft"),
            ("stolen", "stolen_card", "hard"),
            ("authentication_required", "authentication_required", "authentication_required"),
        ] {
            let method = save_card(&app, &customer, card).await;
            let order = id(&ok(draft(2).await).await);
            let failed = ok(app.post(&format!("/v1/orders/{order}/pay"), json!({"payment_method_id": method})).await).await;
            assert_eq!((failed["status"].as_str(), failed["last_payment_error"].as_str()), (Some("payment_failed"), Some(error)));
            assert_eq!(failed["last_decline_class"], class, "{failed}");
            assert_eq!(app.get(&format!("/v1/ledger/transfers/pay:{order}")).await.status(), 404, "nothing committed");
            // The customer can still pay on-session.
            let checkout = ok(app.post(&format!("/v1/orders/{order}/checkout"), json!({})).await).await;
            assert_eq!(checkout["status"], "checkout_open");
        }
        assert_eq!(ledger_balances(&app, "commerce:revenue:USD").await, (0, 3000));

        // Another customer's method cannot pay this customer's order.
        let other = id(&ok(app.post("/v1/customers", json!({"name": "Cy"})).await).await);
        let theirs = save_card(&app, &other, "visa").await;
        let order = id(&ok(draft(1).await).await);
        let refused = app.post(&format!("/v1/orders/{order}/pay"), json!({"payment_method_id": theirs})).await;
        expect_error(refused, 400, "payment_method_invalid", Some("payment_method_id")).await;

        // A person picks a test card on the setup page; an unknown card is refused and saves
        // nothing.
        let setup = ok(app.post(&format!("/v1/customers/{other}/payment_method_setups"), json!({"currency": "USD"})).await).await;
        let url = setup["url"].as_str().unwrap();
        let page = app.client.get(url).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("<option value=stolen>"), "{page}");
        let post = |card: &'static str| app.client.post(format!("{url}/save")).header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf_token={}&card={card}", form_token(&page))).send();
        assert_eq!(post("amex").await.unwrap().status(), 400);
        assert_eq!(post("insufficient_funds").await.unwrap().status(), 200, "redirected to the success URL");
        let methods = ok(app.get(&format!("/v1/customers/{other}/payment_methods")).await).await;
        let saved: Vec<&str> = methods["data"].as_array().unwrap().iter().map(|m| m["provider_method_id"].as_str().unwrap()).collect();
        assert_eq!(saved.iter().filter(|m| m.starts_with("pm_test_nofunds_")).count(), 1, "{saved:?}");
    }
}

both_backends! {
    /// Goal: the Stripe adapter end to end through Bursar: a checkout opens a Checkout Session
    /// with the form Stripe expects, Stripe's signed webhook pays the order, and a refund goes to
    /// Stripe's Refunds API with an idempotency key derived from the refund.
    async fn an_order_is_paid_and_refunded_through_stripe(app: TestApp) {
        const SECRET: &str = "whsec_fake_stripe_endpoint_secret";
        let (api_base, seen) = fake_stripe::start().await;
        ok(app.post("/v1/payment_providers", json!({"kind": "stripe", "secret_key": "sk_test_51FakeKey", "webhook_secrets": [SECRET], "api_base": api_base})).await).await;
        let (product, customer) = shop(&app, 2500).await;
        let order = ok(app.post("/v1/orders", json!({"customer_id": customer, "currency": "USD", "lines": [{"product_id": product, "quantity": 2}]})).await).await;
        let order_id = id(&order);
        let order = ok(app.post(&format!("/v1/orders/{order_id}/checkout"), json!({"provider": "stripe", "success_url": "https://shop.example/thanks", "cancel_url": "https://shop.example/cart"})).await).await;
        assert_eq!(order["status"], "checkout_open");
        assert!(order["checkout"]["url"].as_str().unwrap().starts_with("https://checkout.stripe.com/c/pay/cs_test_fake"));
        let request = seen.lock().unwrap()[0].clone();
        assert_eq!(request.authorization.as_deref(), Some("Bearer sk_test_51FakeKey"));
        assert_eq!(request.idempotency_key, Some(format!("bursar-checkout-{order_id}-1")));
        for (field, value) in [
            ("mode", "payment"),
            ("line_items[0][price_data][currency]", "usd"),
            ("line_items[0][price_data][unit_amount]", "5000"),
            ("line_items[0][quantity]", "1"),
            ("client_reference_id", order_id.as_str()),
            ("metadata[bursar_order_id]", order_id.as_str()),
            ("payment_intent_data[metadata][bursar_order_id]", order_id.as_str()),
            ("success_url", "https://shop.example/thanks"),
            ("customer_email", "bo@example.com"),
        ] {
            assert_eq!(request.field(field), Some(value), "{field} in {:?}", request.form);
        }

        // Stripe's webhook, signed with the endpoint secret: the order is paid.
        let now = app.db().now().unix_micros() / 1_000_000;
        let session = order["checkout"]["session_id"].as_str().unwrap();
        let completed = fake_stripe::event("evt_fake_completed", "checkout.session.completed", "checkout.session", json!({
            "id": session, "payment_status": "paid", "status": "complete", "amount_total": 5000, "currency": "usd",
            "payment_intent": "pi_fake_1", "client_reference_id": order_id, "metadata": {"bursar_order_id": order_id},
        }), now);
        let signature = bursar_payments::signature::header(&[SECRET], now, completed.as_bytes());
        let receipt = app.client.post(app.url("/v1/webhooks/stripe")).header("Stripe-Signature", signature).body(completed).send().await.unwrap();
        assert_eq!(ok(receipt).await["outcome"], "applied");
        let order = ok(app.get(&format!("/v1/orders/{order_id}")).await).await;
        assert_eq!((order["status"].as_str(), order["payment"]["payment_id"].as_str()), (Some("paid"), Some("pi_fake_1")));
        assert_eq!(ledger_balances(&app, "commerce:clearing:stripe:USD").await, (5000, 0));

        // Refund through Stripe's API.
        let refund = ok(app.post_once(&format!("/v1/orders/{order_id}/refunds"), json!({"amount": 1200, "reason": "requested_by_customer"})).await).await;
        assert_eq!((refund["status"].as_str(), refund["provider_refund_id"].as_str()), (Some("succeeded"), Some("re_fake_1")));
        let request = seen.lock().unwrap()[1].clone();
        assert_eq!(request.path, "/v1/refunds");
        assert_eq!(request.idempotency_key, Some(format!("bursar-refund-{}", id(&refund))));
        assert_eq!((request.field("payment_intent"), request.field("amount"), request.field("reason")), (Some("pi_fake_1"), Some("1200"), Some("requested_by_customer")));
        assert_eq!(ok(app.get(&format!("/v1/orders/{order_id}")).await).await["status"], "partially_refunded");
        assert_eq!(ledger_balances(&app, "commerce:clearing:stripe:USD").await, (5000, 1200));
        // Stripe's later refund webhook changes nothing: the refund is settled.
        let updated = fake_stripe::event("evt_fake_refund", "refund.updated", "refund", json!({
            "id": "re_fake_1", "status": "succeeded", "amount": 1200, "currency": "usd", "payment_intent": "pi_fake_1",
            "metadata": {"bursar_refund_id": id(&refund)},
        }), now);
        let signature = bursar_payments::signature::header(&[SECRET], now, updated.as_bytes());
        let receipt = ok(app.client.post(app.url("/v1/webhooks/stripe")).header("Stripe-Signature", signature).body(updated).send().await.unwrap()).await;
        assert_eq!(receipt["outcome"], "ignored", "{receipt}");
        assert_eq!(ledger_balances(&app, "commerce:clearing:stripe:USD").await, (5000, 1200));
    }
}

both_backends! {
    /// Goal: the test provider expires an unpaid checkout when its time is up, as Stripe does:
    /// `checkout.session.expired` arrives and the order becomes `checkout_expired`.
    async fn unpaid_test_checkouts_expire_on_their_own(app: TestApp) {
        let (product, customer) = shop(&app, 800).await;
        let order = open_order(&app, &customer, &product, 1).await;
        let session = session_of(&order);
        // The session's 24 hours have passed.
        app.db()
            .write(move |tx: &mut bursar_store::Tx| Box::pin(async move {
                tx.execute("update test_checkout_session set expires_at = 1 where session_id = $1", &[session.as_str().into()]).await
            }))
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let status = ok(app.get(&format!("/v1/orders/{}", id(&order))).await).await["status"].clone();
            if status == "checkout_expired" {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "still {status}");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        let events = event_types(&app, &id(&order)).await;
        assert_eq!(events.last().map(String::as_str), Some("order.checkout_expired"));
    }
}

/// The name of the test app's first workspace, as the store has it.
pub(crate) async fn workspace_name(app: &TestApp) -> String {
    let workspace = app.workspace_id.clone();
    app.db()
        .read(move |tx: &mut bursar_store::Tx| {
            Box::pin(async move { bursar_store::workspaces::get(tx, &workspace).await })
        })
        .await
        .unwrap()
        .expect("the first workspace exists")
        .name
}
