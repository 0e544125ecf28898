//! Modern Treasury over real HTTP: a connection whose `api_base` is a local fake speaking Modern
//! Treasury's wire format (`fake_mt.rs`). A seller's bank account becomes a counterparty, a
//! payout becomes a payment order — each request checked field by field, under its idempotency
//! key, with HTTP basic auth — and the bank's signed `completed` webhook pays the payout once.

use base64::Engine;

use crate::both_backends;
use crate::fake_mt::FakeModernTreasury;
use crate::helpers::*;

const SECRET: &str = "mt_webhook_key_for_tests";

/// Posts a webhook as Modern Treasury would; answers the status and body.
async fn deliver(
    app: &TestApp,
    connection: &str,
    (headers, body): (Vec<(String, String)>, String),
) -> (u16, Value) {
    let mut request = app
        .client
        .post(app.url(&format!("/v1/bank_webhooks/{connection}")));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.body(body).send().await.unwrap();
    (response.status().as_u16(), json_body(response).await)
}

both_backends! {
    /// Goal: the Modern Treasury adapter's requests over HTTP and the webhook back: counterparty
    /// and payment order checked field by field; `completed` pays the payout once (a replay of
    /// the same `X-Webhook-ID` changes nothing); a forged signature is refused.
    async fn a_payout_through_modern_treasury_over_http(app: TestApp) {
        let fake = FakeModernTreasury::start().await;
        let connection = id(&ok(app.post("/v1/bank_connections", json!({
            "kind": "modern_treasury", "organization_id": "org_1", "api_key": "live-key-1234", "webhook_secrets": [SECRET],
            "internal_account_id": "ia_operating", "api_base": fake.url,
        })).await).await);
        let seller = id(&ok(app.post("/v1/customers", json!({"name": "Seller", "email": "seller@example.com"})).await).await);
        let account = ok(app.post(&format!("/v1/parties/{seller}/bank_accounts"), json!({
            "routing_number": "021000021", "account_number": "123456789", "account_type": "checking", "holder_name": "Seller LLC",
        })).await).await;
        assert_eq!(account["account_number"], "••••6789", "shown masked: {account}");

        // The counterparty: basic auth, an idempotency key, the numbers in the body only.
        let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("org_1:live-key-1234"));
        let counterparties = fake.requests("/api/counterparties");
        assert_eq!(counterparties.len(), 1);
        let request = &counterparties[0];
        assert_eq!(request.authorization.as_deref(), Some(basic.as_str()));
        assert_eq!(request.idempotency_key, Some(format!("bursar-counterparty-{}", id(&account))));
        let sent = &request.body["accounts"][0];
        assert_eq!(request.body["name"], "Seller LLC");
        assert_eq!((sent["account_type"].as_str(), sent["party_name"].as_str()), (Some("checking"), Some("Seller LLC")));
        assert_eq!(sent["account_details"][0], json!({"account_number": "123456789", "account_number_type": "other"}));
        assert_eq!(sent["routing_details"][0], json!({"routing_number": "021000021", "routing_number_type": "aba"}));
        assert_eq!(request.body["metadata"]["bursar_party_id"], seller, "{}", request.body);

        // A payout of money the seller holds: one payment order.
        ok(app.post(&format!("/v1/parties/{seller}/wallet/fund"), json!({"id": "f1", "amount": 50_000, "currency": "USD"})).await).await;
        let payout = id(&ok(app.post(&format!("/v1/parties/{seller}/payouts"), json!({"amount": 30_000, "currency": "USD"})).await).await);
        bursar_worker::scheduler::send_payouts(app.core()).await.unwrap();
        let orders = fake.requests("/api/payment_orders");
        assert_eq!(orders.len(), 1, "{orders:?}");
        let order = &orders[0];
        assert_eq!(order.authorization.as_deref(), Some(basic.as_str()));
        let key = order.idempotency_key.clone().unwrap();
        assert!(key.starts_with("bursar-payment-order-"), "{key}");
        let body = &order.body;
        assert_eq!((body["type"].as_str(), body["direction"].as_str(), body["currency"].as_str()), (Some("ach"), Some("credit"), Some("USD")));
        assert_eq!((body["amount"].as_i64(), body["originating_account_id"].as_str()), (Some(30_000), Some("ia_operating")));
        assert_eq!(body["receiving_account_id"], account["external_account_id"], "{body}");
        assert_eq!(body["counterparty_id"], account["counterparty_id"], "{body}");
        assert_eq!(body["metadata"]["bursar_attempt_id"].as_str(), key.strip_prefix("bursar-payment-order-"), "{body}");
        let in_transit = ok(app.get(&format!("/v1/payouts/{payout}")).await).await;
        assert_eq!(in_transit["status"], "in_transit", "{in_transit}");
        let order_id = in_transit["payment_order_id"].as_str().unwrap().to_owned();

        // A forged signature is refused and changes nothing.
        let (headers, body) = fake.payment_order_webhook(&order_id, "completed", "wh_1", "not-the-key");
        let (status, _) = deliver(&app, &connection, (headers, body)).await;
        assert_eq!(status, 400);
        assert_eq!(ok(app.get(&format!("/v1/payouts/{payout}")).await).await["status"], "in_transit");

        // Completed: paid, once.
        let webhook = fake.payment_order_webhook(&order_id, "completed", "wh_2", SECRET);
        let (status, receipt) = deliver(&app, &connection, webhook.clone()).await;
        assert_eq!((status, receipt["first_delivery"].as_bool(), receipt["outcome"].as_str()), (200, Some(true), Some("applied")), "{receipt}");
        let (status, again) = deliver(&app, &connection, webhook).await;
        assert_eq!((status, again["first_delivery"].as_bool()), (200, Some(false)), "{again}");
        let paid = ok(app.get(&format!("/v1/payouts/{payout}")).await).await;
        assert_eq!(paid["status"], "paid", "{paid}");
        let wallet = ok(app.get(&format!("/v1/parties/{seller}/wallet")).await).await;
        let available = &wallet["balances"]["USD"]["AVAILABLE"];
        assert_eq!(available["credits_posted"].as_i64().unwrap() - available["debits_posted"].as_i64().unwrap(), 20_000, "{wallet}");
    }
}
