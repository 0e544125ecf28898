//! Banks over the API: connections, inbound bank webhooks (verified, each applied once), and the
//! sandbox test bank whose payers' wires arrive through the same ingestion and are matched to
//! expected payments.

use std::time::{Duration, Instant};

use bursar_domain::auth::Scope;

use crate::both_backends;
use crate::helpers::*;

const MT_KEY: &str = "whsec_bursar_test_key_not_secret";

fn today(app: &TestApp, offset_days: i64) -> String {
    app.db()
        .now()
        .plus_seconds(offset_days * 86_400)
        .to_rfc3339()[..10]
        .to_owned()
}

async fn available(app: &TestApp, party: &str) -> i64 {
    let wallet = ok(app.get(&format!("/v1/parties/{party}/wallet")).await).await;
    let available = &wallet["balances"]["USD"]["AVAILABLE"];
    available["credits_posted"].as_i64().unwrap_or(0)
        - available["debits_posted"].as_i64().unwrap_or(0)
}

/// A Modern Treasury `incoming_payment_detail.completed` webhook, signed with [`MT_KEY`].
fn mt_incoming(
    id: &str,
    amount: i64,
    reference: &str,
    webhook_id: &str,
) -> (Vec<(String, String)>, String) {
    let body = json!({
        "event": "completed",
        "data": {
            "id": id, "object": "incoming_payment_detail", "type": "wire", "amount": amount,
            "status": "completed", "currency": "USD", "direction": "credit", "live_mode": false,
            "as_of_date": "2026-01-23", "internal_account_id": "ia-1", "metadata": {},
            "originating_account_number_safe": null, "originating_routing_number": null,
            "transaction_id": null, "virtual_account_id": null,
            "vendor_id": "v-1", "remittance_information": reference, "originating_party_name": "Acme Corp"
        }
    })
    .to_string();
    let headers = vec![
        (
            "X-Signature".to_owned(),
            bursar_banks::signature::sign(MT_KEY, body.as_bytes()),
        ),
        ("X-Webhook-ID".to_owned(), webhook_id.to_owned()),
        ("X-Topic".to_owned(), "incoming_payment_detail".to_owned()),
        ("X-Event-ID".to_owned(), format!("evt-{webhook_id}")),
    ];
    (headers, body)
}

async fn deliver(
    app: &TestApp,
    path: &str,
    headers: &[(String, String)],
    body: &str,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(path))
        .header("Content-Type", "application/json");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request.body(body.to_owned()).send().await.unwrap()
}

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    app.db()
        .read(move |tx: &mut bursar_store::Tx| {
            Box::pin(async move { tx.fetch_one(sql, &[]).await?.i64("n") })
        })
        .await
        .unwrap()
}

both_backends! {
    /// Goal: a sandbox's test bank — a buyer's wire quoting an expected payment's reference is
    /// sent, arrives as the bank's signed webhooks through the inbound path, is matched, and
    /// credits the buyer's AVAILABLE once; a live workspace cannot connect the test bank.
    async fn a_wire_to_the_test_bank_is_matched_and_funds_the_buyer(app: TestApp) {
        let bank = ok(app.post("/v1/bank_connections", json!({"kind": "test_bank"})).await).await;
        assert_eq!((bank["object"].as_str(), bank["kind"].as_str()), (Some("bank_connection"), Some("test_bank")));
        assert_eq!(bank["webhook_path"], format!("/v1/bank_webhooks/{}", id(&bank)));
        let buyer = id(&ok(app.post("/v1/customers", json!({"name": "Buyer"})).await).await);
        let expected = id(&ok(app.post("/v1/expected_payments", json!({
            "currency": "USD", "amount_lower": 250_000, "date_lower": today(&app, -1), "date_upper": today(&app, 5),
            "reference": "ORDER-42", "party_id": buyer,
        })).await).await);

        let sent = ok(app.post(&format!("/v1/test_bank/{}/incoming_payments", id(&bank)), json!({
            "amount": 250_000, "currency": "USD", "rail": "wire", "originator_name": "Buyer Inc", "reference": "order-42",
        })).await).await;
        assert_eq!(sent["object"], "test_bank_incoming_payment");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let payment = ok(app.get(&format!("/v1/expected_payments/{expected}")).await).await;
            if payment["status"] == "reconciled" {
                break;
            }
            assert!(Instant::now() < deadline, "the wire never arrived: {payment}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(available(&app, &buyer).await, 250_000);
        let transactions = ok(app.get("/v1/bank_transactions").await).await;
        let wire = &transactions["data"][0];
        assert_eq!((wire["source"].as_str(), wire["status"].as_str(), wire["rule"].as_str()), (Some("webhook"), Some("matched"), Some("reference")));
        assert_eq!(wire["counterparty"], "Buyer Inc");

        let (_live, _, secret) = bursar::bootstrap::create_workspace(app.db(), "Shop", Scope::Admin).await.unwrap();
        let live_key = secret.expose().to_owned();
        let refused = app.client.post(app.url("/v1/bank_connections")).bearer_auth(&live_key).json(&json!({"kind": "test_bank"})).send().await.unwrap();
        assert_eq!(refused.status(), 400);
        assert_eq!(json_body(refused).await["error"]["code"], "sandbox_only");
    }
}

both_backends! {
    /// Goal: a Modern Treasury webhook delivered twenty times at once records one bank
    /// transaction and credits once; a forged or unsigned one is refused and stores nothing.
    async fn bank_webhooks_are_verified_and_applied_once(app: TestApp) {
        let bank = ok(app.post("/v1/bank_connections", json!({
            "kind": "modern_treasury", "organization_id": "org-1", "api_key": "live-key-123456",
            "webhook_secrets": [MT_KEY], "internal_account_id": "ia-1",
        })).await).await;
        assert_eq!(bank["api_key_last4"], "3456");
        assert!(!bank.to_string().contains("live-key"), "{bank}");
        let path = bank["webhook_path"].as_str().unwrap().to_owned();
        let buyer = id(&ok(app.post("/v1/customers", json!({"name": "Buyer"})).await).await);
        ok(app.post("/v1/expected_payments", json!({
            "currency": "USD", "amount_lower": 523, "date_lower": "2026-01-20", "date_upper": "2026-01-30",
            "reference": "INV-523", "party_id": buyer,
        })).await).await;

        let (headers, body) = mt_incoming("ipd-1", 523, "INV-523", "wh-1");
        let mut forged = headers.clone();
        forged[0].1 = bursar_banks::signature::sign("whsec_someone_else", body.as_bytes());
        let refused = deliver(&app, &path, &forged, &body).await;
        assert_eq!(refused.status(), 400);
        assert_eq!(json_body(refused).await["error"]["code"], "signature_invalid");
        let unsigned: Vec<_> = headers[1..].to_vec();
        assert_eq!(json_body(deliver(&app, &path, &unsigned, &body).await).await["error"]["code"], "signature_missing");
        assert_eq!(count(&app, "select count(*) as n from bank_webhook").await, 0, "nothing stored");
        assert_eq!(deliver(&app, "/v1/bank_webhooks/bkc_01hzzzzzzzzzzzzzzzzzzzzzzz", &headers, &body).await.status(), 404);

        let answers = futures::future::join_all((0..20).map(|_| deliver(&app, &path, &headers, &body))).await;
        let mut first = 0;
        for answer in answers {
            let receipt = ok(answer).await;
            if receipt["first_delivery"] == true {
                first += 1;
                assert_eq!(receipt["outcome"], "applied", "{receipt}");
            }
        }
        assert_eq!(first, 1);
        assert_eq!(count(&app, "select count(*) as n from bank_transaction").await, 1);
        assert_eq!(available(&app, &buyer).await, 523);
        let transactions = ok(app.get("/v1/bank_transactions").await).await;
        assert_eq!(transactions["data"][0]["external_id"], "ipd:ipd-1");
    }
}

both_backends! {
    /// Goal: a buyer is told where to send a wire ("send … to …, quoting …") from the receiving
    /// account of the workspace's bank connection in the expected payment's currency; a wire
    /// sent as told is matched. Without such an account the instructions are refused (409),
    /// and bad receiving accounts are refused naming the field.
    async fn buyers_are_told_where_to_send_their_wire(app: TestApp) {
        let buyer = id(&ok(app.post("/v1/customers", json!({"name": "Buyer"})).await).await);
        let euro = id(&ok(app.post("/v1/expected_payments", json!({
            "currency": "EUR", "amount_lower": 1_000, "date_lower": today(&app, -1), "date_upper": today(&app, 5), "party_id": buyer,
        })).await).await);
        expect_error(app.get(&format!("/v1/expected_payments/{euro}/payment_instructions")).await, 409, "no_receiving_account", None).await;

        let bad = |account: Value| json!({"kind": "test_bank", "receiving_accounts": [account]});
        let good = json!({"currency": "USD", "bank_name": "First Bank", "account_holder": "Shop Ltd",
            "routing_number": "021000021", "account_number": "987654321", "swift_code": "FIRSUS33"});
        let mut wrong_routing = good.clone();
        wrong_routing["routing_number"] = json!("021000022");
        expect_error(app.post("/v1/bank_connections", bad(wrong_routing)).await, 400, "parameter_invalid", Some("receiving_accounts[0].routing_number")).await;
        let mut wrong_swift = good.clone();
        wrong_swift["swift_code"] = json!("FIRS");
        expect_error(app.post("/v1/bank_connections", bad(wrong_swift)).await, 400, "parameter_invalid", Some("receiving_accounts[0].swift_code")).await;
        let twice = json!({"kind": "test_bank", "receiving_accounts": [good.clone(), good.clone()]});
        expect_error(app.post("/v1/bank_connections", twice).await, 400, "parameter_invalid", Some("receiving_accounts[1].currency")).await;
        assert_eq!(ok(app.get("/v1/bank_connections").await).await["data"].as_array().unwrap().len(), 0, "nothing written");

        let bank = ok(app.post("/v1/bank_connections", json!({"kind": "test_bank", "name": "Demo Marketplace"})).await).await;
        assert_eq!(bank["receiving_accounts"][0]["routing_number"], "110000000", "{bank}");
        let expected = id(&ok(app.post("/v1/expected_payments", json!({
            "currency": "USD", "amount_lower": 250_000, "date_lower": today(&app, -1), "date_upper": today(&app, 5),
            "reference": "ORDER-43", "party_id": buyer,
        })).await).await);
        let told = ok(app.get(&format!("/v1/expected_payments/{expected}/payment_instructions")).await).await;
        assert_eq!((told["amount"].as_i64(), told["reference"].as_str()), (Some(250_000), Some("ORDER-43")), "{told}");
        assert_eq!(told["pay_to"]["account_number"], "000123456789", "{told}");
        assert_eq!(
            told["text"],
            "Send 2500.00 USD by wire or RTP to Bursar Test Bank, routing number 110000000, account number \
             000123456789, in the name of Demo Marketplace (SWIFT BTSTUS00), quoting the reference ORDER-43."
        );

        // Sent as told: matched to the expectation.
        ok(app.post(&format!("/v1/test_bank/{}/incoming_payments", id(&bank)), json!({
            "amount": told["amount"], "currency": "USD", "rail": "rtp", "originator_name": "Buyer Inc", "reference": told["reference"],
        })).await).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        while ok(app.get(&format!("/v1/expected_payments/{expected}")).await).await["status"] != "reconciled" {
            assert!(Instant::now() < deadline, "the payment never arrived");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(available(&app, &buyer).await, 250_000);
    }
}

both_backends! {
    /// Goal: the drift check compares what the test bank reports its account holds with the
    /// ledger's cash at the bank: equal after a matched wire (no item); a wire nobody expected
    /// (in review, not in the ledger) makes them differ → one `balance_drift` item naming both
    /// figures, not a second while it is open.
    async fn the_drift_check_finds_money_the_ledger_does_not_know(app: TestApp) {
        let bank = id(&ok(app.post("/v1/bank_connections", json!({"kind": "test_bank"})).await).await);
        let buyer = id(&ok(app.post("/v1/customers", json!({"name": "Buyer"})).await).await);
        ok(app.post("/v1/expected_payments", json!({
            "currency": "USD", "amount_lower": 250_000, "date_lower": today(&app, -1), "date_upper": today(&app, 5),
            "reference": "ORDER-44", "party_id": buyer,
        })).await).await;
        let wire = |amount: i64, reference: &str| json!({"amount": amount, "currency": "USD", "rail": "wire", "originator_name": "Payer", "reference": reference});
        let arrived = |count: usize| {
            let app = &app;
            async move {
                let deadline = Instant::now() + Duration::from_secs(20);
                while ok(app.get("/v1/bank_transactions").await).await["data"].as_array().unwrap().len() < count {
                    assert!(Instant::now() < deadline, "the wires never arrived");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        ok(app.post(&format!("/v1/test_bank/{bank}/incoming_payments"), wire(250_000, "ORDER-44")).await).await;
        arrived(1).await;
        let check = || bursar_core::treasury::drift::check_workspace(app.core(), &app.workspace_id);
        let compared = check().await.unwrap();
        assert_eq!(compared.iter().map(|c| (c.bank, c.ledger, c.item_opened.is_some())).collect::<Vec<_>>(), [(250_000, 250_000, false)]);

        ok(app.post(&format!("/v1/test_bank/{bank}/incoming_payments"), wire(10_000, "NOBODY-KNOWS")).await).await;
        arrived(2).await;
        let compared = check().await.unwrap();
        assert_eq!((compared[0].bank, compared[0].ledger), (260_000, 250_000));
        let opened = compared[0].item_opened.clone().expect("an item for the difference");
        let item = ok(app.get(&format!("/v1/reconciliation/items/{opened}")).await).await;
        assert_eq!((item["reason"].as_str(), item["status"].as_str()), (Some("balance_drift"), Some("open")), "{item}");
        assert_eq!(item["candidates"], json!(["USD"]));
        let note = item["note"].as_str().unwrap();
        assert!(note.starts_with("The bank reports 2600.00 USD; the ledger holds 2500.00 USD (difference 100.00 USD)"), "{note}");
        assert!(check().await.unwrap()[0].item_opened.is_none(), "one item while it is open");
    }
}
