//! Originated ACH pay-ins over the API, through the sandbox test bank on a manual clock: a
//! mandate, a debit pending until it settles T+2, and returns taken back once — from AVAILABLE,
//! then COMMITTED, the rest explicitly owed — with the mandate stopped on unauthorized codes.

use bursar_domain::time::ManualClock;

use crate::both_backends;
use crate::helpers::*;

/// A party's USD balance of `role`: (net posted, net pending), credits less debits.
async fn balance(app: &TestApp, party: &str, role: &str) -> (i64, i64) {
    let body = ok(app.get(&format!("/v1/parties/{party}/wallet")).await).await;
    let b = &body["balances"]["USD"][role];
    let get = |k: &str| b[k].as_i64().unwrap_or(0);
    (
        get("credits_posted") - get("debits_posted"),
        get("credits_pending") - get("debits_pending"),
    )
}

async fn advance(app: &TestApp, clock: &ManualClock, seconds: i64) {
    clock.advance_seconds(seconds);
    bursar_core::bank_events::drive_test_banks(app.core())
        .await
        .unwrap();
}

/// A test bank, a buyer whose bank account is `account_number` with a mandate on it.
async fn buyer(app: &TestApp, account_number: &str) -> (String, String) {
    ok(app
        .post("/v1/bank_connections", json!({"kind": "test_bank"}))
        .await)
    .await;
    let buyer = id(&ok(app.post("/v1/customers", json!({"name": "Buyer"})).await).await);
    let account = id(&ok(app.post(&format!("/v1/parties/{buyer}/bank_accounts"), json!({
        "routing_number": "021000021", "account_number": account_number, "account_type": "checking", "holder_name": "Buyer Co",
    })).await).await);
    let refused = app
        .post(
            &format!("/v1/parties/{buyer}/pay_ins"),
            json!({"amount": 100, "currency": "USD"}),
        )
        .await;
    expect_error(refused, 400, "mandate_missing", None).await;
    let mandate = ok(app
        .post(
            &format!("/v1/parties/{buyer}/bank_accounts/{account}/mandate"),
            json!({}),
        )
        .await)
    .await;
    assert_eq!(mandate["status"], "active");
    (buyer, account)
}

async fn pay_in(app: &TestApp, buyer: &str, amount: i64) -> Value {
    ok(app
        .post(
            &format!("/v1/parties/{buyer}/pay_ins"),
            json!({"amount": amount, "currency": "USD"}),
        )
        .await)
    .await
}

both_backends! {
    /// Goal: a pay-in is pending in the buyer's AVAILABLE (not spendable) until the bank
    /// settles it two banking days later, then spendable.
    async fn a_pay_in_settles_two_banking_days_later(
        app: TestApp = crate::helpers::TestApp::spawn_with_clock,
        clock: ManualClock = "2026-05-04T09:00:00Z",
    ) {
        let (buyer, _) = buyer(&app, "123456789").await;
        let created = pay_in(&app, &buyer, 50_000).await;
        assert_eq!(created["status"], "processing", "{created}");
        assert!(created["payment_order_id"].as_str().unwrap().starts_with("tb_po_"));
        assert_eq!(balance(&app, &buyer, "AVAILABLE").await, (0, 50_000), "pending, not spendable");
        let early = app.post(&format!("/v1/parties/{buyer}/wallet/commit"), json!({"id": "c-early", "amount": 1, "currency": "USD"})).await;
        assert_ne!(early.status(), 200, "nothing to commit before settlement");
        advance(&app, &clock, 86_400).await;
        assert_eq!(ok(app.get(&format!("/v1/pay_ins/{}", id(&created))).await).await["status"], "processing", "T+1: not yet");
        advance(&app, &clock, 2 * 86_400).await;
        let settled = ok(app.get(&format!("/v1/pay_ins/{}", id(&created))).await).await;
        assert_eq!(settled["status"], "settled", "{settled}");
        assert_eq!(balance(&app, &buyer, "AVAILABLE").await, (50_000, 0));
        let listed = ok(app.get(&format!("/v1/parties/{buyer}/pay_ins")).await).await;
        assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    }
}

both_backends! {
    /// Goal: an ACH pay-in returned R01 after the buyer committed it and released part to a
    /// seller is taken back once: AVAILABLE first, then COMMITTED, and the rest is owed by the
    /// buyer, explicitly; the return is in review; the mandate stays (R01 is not unauthorized);
    /// the ledger verifies.
    async fn a_return_after_commit_is_taken_back_and_the_rest_is_owed(
        app: TestApp = crate::helpers::TestApp::spawn_with_clock,
        clock: ManualClock = "2026-05-04T09:00:00Z",
    ) {
        let (buyer, account) = buyer(&app, "10001").await;
        let seller = id(&ok(app.post("/v1/customers", json!({"name": "Seller"})).await).await);
        let created = pay_in(&app, &buyer, 50_000).await;
        advance(&app, &clock, 2 * 86_400 + 6 * 3_600).await;
        assert_eq!(ok(app.get(&format!("/v1/pay_ins/{}", id(&created))).await).await["status"], "settled");
        ok(app.post(&format!("/v1/parties/{buyer}/wallet/commit"), json!({"id": "c-1", "amount": 40_000, "currency": "USD"})).await).await;
        let later = bursar_domain::time::Timestamp::from_unix_micros(0).plus_seconds(4_000_000_000).to_rfc3339();
        ok(app.post(&format!("/v1/parties/{buyer}/wallet/release"), json!({
            "id": "r-1", "amount": 25_000, "currency": "USD", "seller_id": seller, "not_before": later,
        })).await).await;
        assert_eq!((balance(&app, &buyer, "AVAILABLE").await.0, balance(&app, &buyer, "COMMITTED").await.0), (10_000, 15_000));

        advance(&app, &clock, 86_400).await;
        let returned = ok(app.get(&format!("/v1/pay_ins/{}", id(&created))).await).await;
        assert_eq!((returned["status"].as_str(), returned["return_code"].as_str()), (Some("returned"), Some("R01")), "{returned}");
        assert_eq!(returned["returned"], json!({"from_available": 10_000, "from_committed": 15_000, "owed": 25_000}));
        assert_eq!((balance(&app, &buyer, "AVAILABLE").await.0, balance(&app, &buyer, "COMMITTED").await.0), (0, 0));
        let owed = ok(app.get(&format!("/v1/ledger/accounts/party:{buyer}:OWED:USD")).await).await;
        assert_eq!(owed["balances"]["debits_posted"], 25_000, "what the buyer owes is on its OWED account");
        assert_eq!(balance(&app, &seller, "PAY_IN_HOLDING").await.0, 25_000, "the seller's release stands");

        // Once: the bank's return delivered again changes nothing.
        advance(&app, &clock, 86_400).await;
        let owed = ok(app.get(&format!("/v1/ledger/accounts/party:{buyer}:OWED:USD")).await).await;
        assert_eq!(owed["balances"]["debits_posted"], 25_000);
        let items = ok(app.get("/v1/reconciliation/items?status=open").await).await;
        let item = items["data"].as_array().unwrap().iter().find(|i| i["reason"] == "pay_in_returned").expect("in review").clone();
        assert_eq!(item["candidates"][0], id(&created));
        let again = pay_in(&app, &buyer, 1_000).await;
        assert_eq!(again["status"], "processing", "R01 leaves the mandate on {account}");
        let (verified, output) = cli(&app, &["ledger", "verify"]);
        assert!(verified, "{output}");
    }
}

both_backends! {
    /// Goal: an unauthorized return (R10) stops the mandate: the next pay-in is refused.
    async fn an_unauthorized_return_stops_the_mandate(
        app: TestApp = crate::helpers::TestApp::spawn_with_clock,
        clock: ManualClock = "2026-05-04T09:00:00Z",
    ) {
        let (buyer, _) = buyer(&app, "10010").await;
        let created = pay_in(&app, &buyer, 20_000).await;
        advance(&app, &clock, 2 * 86_400 + 6 * 3_600).await;
        advance(&app, &clock, 86_400).await;
        let returned = ok(app.get(&format!("/v1/pay_ins/{}", id(&created))).await).await;
        assert_eq!((returned["status"].as_str(), returned["return_code"].as_str()), (Some("returned"), Some("R10")), "{returned}");
        assert_eq!(returned["returned"]["from_available"], 20_000);
        let refused = app.post(&format!("/v1/parties/{buyer}/pay_ins"), json!({"amount": 100, "currency": "USD"})).await;
        expect_error(refused, 400, "mandate_missing", None).await;

        // One debit, one unauthorized return: over NACHA's 0.5 % and 15 %, said once.
        let rates = ok(app.get("/v1/treasury/return_rates").await).await;
        assert_eq!((rates["debits"].as_u64(), rates["returns"].as_u64(), rates["unauthorized_bps"].as_u64()), (Some(1), Some(1), Some(10_000)), "{rates}");
        assert_eq!(rates["crossed"], json!(["unauthorized", "overall"]));
        let crossed: i64 = app.db().read(|tx: &mut bursar_store::Tx| Box::pin(async move {
            tx.fetch_one("select count(*) as n from domain_event where event_type = 'ach_return_rate.crossed'", &[]).await?.i64("n")
        })).await.unwrap();
        assert_eq!(crossed, 2, "one event per category crossed");
    }
}
