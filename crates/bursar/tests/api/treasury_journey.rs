//! The marketplace's money end to end, through the sandbox test bank on a manual clock: a
//! buyer's wire matched to its expected payment funds the buyer → commit → release to the
//! seller's holding (seasoning refused before its day) → seasoned → the seller's schedule pays
//! out → the bank confirms; every wallet balance asserted at every step.

use std::time::{Duration, Instant};

use bursar_domain::time::{Clock, ManualClock};

use crate::both_backends;
use crate::helpers::*;

/// A party's USD balances by role, net (credits less debits), posted and pending.
async fn wallet(app: &TestApp, party: &str) -> Vec<(String, i64, i64)> {
    let body = ok(app.get(&format!("/v1/parties/{party}/wallet")).await).await;
    let mut roles = Vec::new();
    for role in ["AVAILABLE", "COMMITTED", "PAY_IN_HOLDING"] {
        let b = &body["balances"]["USD"][role];
        let get = |k: &str| b[k].as_i64().unwrap_or(0);
        roles.push((
            role.to_owned(),
            get("credits_posted") - get("debits_posted"),
            get("credits_pending") - get("debits_pending"),
        ));
    }
    roles
}

fn expect_wallet(
    available: i64,
    committed: i64,
    holding: i64,
    pending_available: i64,
) -> Vec<(String, i64, i64)> {
    vec![
        ("AVAILABLE".into(), available, pending_available),
        ("COMMITTED".into(), committed, 0),
        ("PAY_IN_HOLDING".into(), holding, 0),
    ]
}

/// Moves the clock and delivers what the test bank has due.
async fn advance(app: &TestApp, clock: &ManualClock, seconds: i64) {
    clock.advance_seconds(seconds);
    bursar_core::bank_events::drive_test_banks(app.core())
        .await
        .unwrap();
}

both_backends! {
    /// Goal: fund → commit → release → season → payout → paid, as above.
    async fn fund_commit_release_season_and_pay_out(
        app: TestApp = crate::helpers::TestApp::spawn_with_clock,
        clock: ManualClock = "2026-05-04T09:00:00Z",
    ) {
        let bank = id(&ok(app.post("/v1/bank_connections", json!({"kind": "test_bank"})).await).await);
        let buyer = id(&ok(app.post("/v1/customers", json!({"name": "Buyer"})).await).await);
        let seller = id(&ok(app.post("/v1/customers", json!({"name": "Seller"})).await).await);
        ok(app.post(&format!("/v1/parties/{seller}/bank_accounts"), json!({
            "routing_number": "021000021", "account_number": "123456789", "account_type": "checking", "holder_name": "Seller LLC",
        })).await).await;

        // Fund: the buyer wires what it was asked to, quoting the reference.
        let expected = id(&ok(app.post("/v1/expected_payments", json!({
            "currency": "USD", "amount_lower": 100_000, "date_lower": "2026-05-04", "date_upper": "2026-05-08",
            "reference": "ORDER-7", "party_id": buyer,
        })).await).await);
        ok(app.post(&format!("/v1/test_bank/{bank}/incoming_payments"), json!({
            "amount": 100_000, "currency": "USD", "rail": "wire", "originator_name": "Buyer Inc", "reference": "ORDER-7",
        })).await).await;
        assert_eq!(wallet(&app, &buyer).await, expect_wallet(0, 0, 0, 0), "nothing before the wire arrives");
        advance(&app, &clock, 5).await;
        assert_eq!(ok(app.get(&format!("/v1/expected_payments/{expected}")).await).await["status"], "reconciled");
        assert_eq!(wallet(&app, &buyer).await, expect_wallet(100_000, 0, 0, 0));

        // Commit what the buyer owes for its order.
        ok(app.post(&format!("/v1/parties/{buyer}/wallet/commit"), json!({"id": "commit-7", "amount": 60_000, "currency": "USD"})).await).await;
        assert_eq!(wallet(&app, &buyer).await, expect_wallet(40_000, 60_000, 0, 0));

        // Release to the seller, seasoning for seven days.
        let not_before = clock.now().plus_seconds(7 * 86_400).to_rfc3339();
        ok(app.post(&format!("/v1/parties/{buyer}/wallet/release"), json!({
            "id": "release-7", "amount": 60_000, "currency": "USD", "seller_id": seller, "not_before": not_before,
        })).await).await;
        assert_eq!(wallet(&app, &buyer).await, expect_wallet(40_000, 0, 0, 0));
        assert_eq!(wallet(&app, &seller).await, expect_wallet(0, 0, 60_000, 0));
        let early = app.post(&format!("/v1/parties/{seller}/wallet/season"), json!({})).await;
        assert_eq!(early.status(), 409, "seasoning is refused before not_before");
        assert_eq!(wallet(&app, &seller).await, expect_wallet(0, 0, 60_000, 0));

        // Seasoned on its day, by the server's own job.
        advance(&app, &clock, 7 * 86_400 + 60).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        while wallet(&app, &seller).await != expect_wallet(60_000, 0, 0, 0) {
            assert!(Instant::now() < deadline, "never seasoned: {:?}", wallet(&app, &seller).await);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // The seller's daily schedule pays AVAILABLE out at midnight; the bank confirms T+1.
        ok(app.post(&format!("/v1/parties/{seller}/payout_schedule"), json!({"interval": "daily", "minimum_amount": 10_000})).await).await;
        let midnight = bursar_domain::time::Timestamp::parse_rfc3339("2026-05-12T00:00:30Z").unwrap();
        clock.advance_seconds((midnight.unix_micros() - clock.now().unix_micros()) / 1_000_000);
        // (The server's own jobs may run the schedule and send the payout first: one payout either way.)
        bursar_core::payouts::run_schedules(app.core()).await.unwrap();
        bursar_worker::scheduler::send_payouts(app.core()).await.unwrap();
        let payouts = ok(app.get(&format!("/v1/parties/{seller}/payouts")).await).await;
        assert_eq!(payouts["data"].as_array().unwrap().len(), 1, "{payouts}");
        let payout = id(&payouts["data"][0]);
        assert_eq!(payouts["data"][0]["status"], "in_transit", "{payouts}");
        assert_eq!(wallet(&app, &seller).await, expect_wallet(60_000, 0, 0, -60_000), "reserved, not yet gone");
        advance(&app, &clock, 2 * 86_400).await;
        let paid = ok(app.get(&format!("/v1/payouts/{payout}")).await).await;
        assert_eq!(paid["status"], "paid", "{paid}");
        assert_eq!(wallet(&app, &seller).await, expect_wallet(0, 0, 0, 0));
        assert_eq!(wallet(&app, &buyer).await, expect_wallet(40_000, 0, 0, 0));
        let (verified, output) = cli(&app, &["ledger", "verify"]);
        assert!(verified, "{output}");
    }
}

/// Polls `path` until `field` reads `want` (the relay and the server's jobs run on their own).
async fn until_field(app: &TestApp, path: &str, field: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let body = ok(app.get(path).await).await;
        if body[field] == want {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never reached {field} = {want}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn until_wallet(app: &TestApp, party: &str, want: Vec<(String, i64, i64)>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while wallet(app, party).await != want {
        assert!(
            Instant::now() < deadline,
            "{party}: {:?}, not {want:?}",
            wallet(app, party).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A marketplace contract's monthly invoice, billed and issued: its id.
async fn bill_and_issue(app: &TestApp) -> String {
    let run = ok(app.post("/v1/billing_runs", json!({})).await).await;
    let created = run["invoices_created"].as_array().unwrap();
    assert_eq!(created.len(), 1, "{run}");
    let invoice = created[0].as_str().unwrap().to_owned();
    ok(app
        .post(&format!("/v1/invoices/{invoice}/issue"), json!({}))
        .await)
    .await;
    invoice
}

both_backends! {
    /// Goal: a marketplace invoice settles by events alone. Issued while the buyer's wallet is
    /// empty, it waits; the buyer's wire arrives (fund) → the wallet commits and pays it →
    /// `invoice.paid` releases the seller's part less the platform's 10% into PAY_IN_HOLDING for
    /// the contract's 3 days (seasoning refused before), the referring partner's 20% of that fee
    /// into its own, the rest to the platform's fees → the server seasons them → the seller's
    /// schedule pays it out → the bank confirms. The next month's invoice is paid from the
    /// wallet as it is issued. Every balance asserted at every step; `ledger verify` passes.
    async fn marketplace_invoices_settle_by_events(
        app: TestApp = crate::helpers::TestApp::spawn_with_clock,
        clock: ManualClock = "2026-05-04T09:00:00Z",
    ) {
        ok(app.post("/v1/invoice_settings", json!({"platform_fee_bps": 1_000, "payment_terms_days": 14})).await).await;
        let bank = id(&ok(app.post("/v1/bank_connections", json!({"kind": "test_bank"})).await).await);
        let buyer = id(&ok(app.post("/v1/customers", json!({"name": "Buyer"})).await).await);
        let seller = id(&ok(app.post("/v1/customers", json!({"name": "Seller"})).await).await);
        let partner = id(&ok(app.post("/v1/customers", json!({"name": "Referring partner"})).await).await);
        ok(app.post(&format!("/v1/parties/{seller}/bank_accounts"), json!({
            "routing_number": "021000021", "account_number": "123456789", "account_type": "checking", "holder_name": "Seller LLC",
        })).await).await;
        let product = id(&ok(app.post("/v1/products", json!({"name": "Consulting", "kind": "service"})).await).await);
        let start = "2026-05-04T09:00:00Z";
        let contract = ok(app.post("/v1/contracts", json!({
            "buyer_id": buyer, "seller_id": seller, "seasoning_days": 3, "currency": "USD", "effective_at": start,
            "referrer_id": partner, "referral_share_bps": 2_000,
            "term": {"start": start}, "billing": {"anchor_day": 4, "payment_terms_days": 14},
            "lines": [{"product_id": product, "unit_amount": 60_000, "quantity": 1}],
        })).await).await;
        let contract = id(&contract);
        ok(app.post(&format!("/v1/contracts/{contract}/operations"), json!({"type": "activate"})).await).await;

        // Issued with nothing in the wallet: it stays open.
        let may = bill_and_issue(&app).await;
        let invoice = ok(app.get(&format!("/v1/invoices/{may}")).await).await;
        assert_eq!((invoice["status"].as_str(), invoice["total"].as_i64()), (Some("issued"), Some(60_000)), "{invoice}");

        // Fund: the buyer wires what it was asked to, quoting the reference.
        ok(app.post("/v1/expected_payments", json!({
            "currency": "USD", "amount_lower": 130_000, "date_lower": "2026-05-04", "date_upper": "2026-05-08",
            "reference": "ORDER-7", "party_id": buyer,
        })).await).await;
        ok(app.post(&format!("/v1/test_bank/{bank}/incoming_payments"), json!({
            "amount": 130_000, "currency": "USD", "rail": "wire", "originator_name": "Buyer Inc", "reference": "ORDER-7",
        })).await).await;
        advance(&app, &clock, 5).await;

        // Commit → paid from the wallet → the seller's 54,000 held; of the platform's 6,000,
        // the partner's 20% (1,200) is held for it too and 4,800 goes to the platform's fees.
        let paid = until_field(&app, &format!("/v1/invoices/{may}"), "status", "paid").await;
        assert_eq!(paid["amount_paid"], 60_000, "{paid}");
        let commit = ok(app.get(&format!("/v1/ledger/transfers/{may}:commit")).await).await;
        assert_eq!(commit["amount"], 60_000, "{commit}");
        assert_eq!(wallet(&app, &buyer).await, expect_wallet(70_000, 0, 0, 0));
        until_wallet(&app, &seller, expect_wallet(0, 0, 54_000, 0)).await;
        assert_eq!(wallet(&app, &partner).await, expect_wallet(0, 0, 1_200, 0));
        let fees = ok(app.get("/v1/ledger/accounts/platform:fees:USD").await).await;
        assert_eq!(fees["balances"]["credits_posted"], 4_800, "{fees}");
        let held = ok(app.get(&format!("/v1/parties/{seller}/wallet")).await).await;
        let seasoned = clock.now().plus_seconds(3 * 86_400).to_rfc3339();
        assert_eq!(held["holdings"][0]["not_before"], seasoned, "{held}");

        // Seasoning is refused before the contract's three days are over.
        let early = app.post(&format!("/v1/parties/{seller}/wallet/season"), json!({})).await;
        assert_eq!(early.status(), 409, "seasoning is refused before not_before");
        advance(&app, &clock, 3 * 86_400).await;
        until_wallet(&app, &seller, expect_wallet(54_000, 0, 0, 0)).await;
        until_wallet(&app, &partner, expect_wallet(1_200, 0, 0, 0)).await;

        // The seller's daily schedule pays AVAILABLE out at midnight; the bank confirms T+1.
        ok(app.post(&format!("/v1/parties/{seller}/payout_schedule"), json!({"interval": "daily", "minimum_amount": 10_000})).await).await;
        let midnight = bursar_domain::time::Timestamp::parse_rfc3339("2026-05-08T00:00:30Z").unwrap();
        clock.advance_seconds((midnight.unix_micros() - clock.now().unix_micros()) / 1_000_000);
        bursar_core::payouts::run_schedules(app.core()).await.unwrap();
        bursar_worker::scheduler::send_payouts(app.core()).await.unwrap();
        let payouts = ok(app.get(&format!("/v1/parties/{seller}/payouts")).await).await;
        assert_eq!(payouts["data"].as_array().unwrap().len(), 1, "{payouts}");
        assert_eq!(payouts["data"][0]["amount"], 54_000, "{payouts}");
        let payout = id(&payouts["data"][0]);
        // Sent on a Friday: ACH settles the next banking day, Monday.
        advance(&app, &clock, 4 * 86_400).await;
        until_field(&app, &format!("/v1/payouts/{payout}"), "status", "paid").await;
        assert_eq!(wallet(&app, &seller).await, expect_wallet(0, 0, 0, 0));

        // June's invoice is paid from the wallet as it is issued.
        let june = bursar_domain::time::Timestamp::parse_rfc3339("2026-06-04T09:00:00Z").unwrap();
        clock.advance_seconds((june.unix_micros() - clock.now().unix_micros()) / 1_000_000);
        let june = bill_and_issue(&app).await;
        until_field(&app, &format!("/v1/invoices/{june}"), "status", "paid").await;
        assert_eq!(wallet(&app, &buyer).await, expect_wallet(10_000, 0, 0, 0));
        until_wallet(&app, &seller, expect_wallet(0, 0, 54_000, 0)).await;
        until_wallet(&app, &partner, expect_wallet(1_200, 0, 1_200, 0)).await;
        let (verified, output) = cli(&app, &["ledger", "verify"]);
        assert!(verified, "{output}");
    }
}

both_backends! {
    /// Goal: marketplace settings out of bounds, seasoning without a seller, and `wallet`
    /// payments recorded by hand are refused naming the field, and change nothing.
    async fn marketplace_settings_refuse_bad_input(app: TestApp = crate::helpers::TestApp::spawn) {
        let settings = ok(app.get("/v1/invoice_settings").await).await;
        assert_eq!((settings["seller_seasoning_days"].as_i64(), settings["platform_fee_bps"].as_i64()), (Some(7), Some(0)), "{settings}");
        expect_error(app.post("/v1/invoice_settings", json!({"platform_fee_bps": 10_001})).await, 400, "parameter_invalid", Some("platform_fee_bps")).await;
        expect_error(app.post("/v1/invoice_settings", json!({"seller_seasoning_days": 366})).await, 400, "parameter_invalid", Some("seller_seasoning_days")).await;
        expect_error(app.post("/v1/invoice_settings", json!({"platform_fee_fixed": -1})).await, 400, "parameter_invalid", Some("platform_fee_fixed")).await;
        assert_eq!(ok(app.get("/v1/invoice_settings").await).await, settings, "nothing changed");

        let buyer = id(&ok(app.post("/v1/customers", json!({"name": "Buyer"})).await).await);
        let seller = id(&ok(app.post("/v1/customers", json!({"name": "Seller"})).await).await);
        let start = "2026-05-04T09:00:00Z";
        let contract = |extra: Value| {
            let mut body = json!({"buyer_id": buyer, "currency": "USD", "effective_at": start, "term": {"start": start}});
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            body
        };
        expect_error(app.post("/v1/contracts", contract(json!({"seasoning_days": 3}))).await, 400, "parameter_invalid", Some("seasoning_days")).await;
        expect_error(app.post("/v1/contracts", contract(json!({"seller_id": seller, "seasoning_days": 366}))).await, 400, "parameter_invalid", Some("seasoning_days")).await;
        expect_error(app.post("/v1/contracts", contract(json!({"referrer_id": seller, "referral_share_bps": 100}))).await, 400, "parameter_invalid", Some("referrer_id")).await;
        expect_error(app.post("/v1/contracts", contract(json!({"seller_id": seller, "referrer_id": buyer}))).await, 400, "parameter_invalid", Some("referral_share_bps")).await;
        expect_error(app.post("/v1/contracts", contract(json!({"seller_id": seller, "referrer_id": buyer, "referral_share_bps": 10_001}))).await, 400, "parameter_invalid", Some("referral_share_bps")).await;
        expect_error(app.post("/v1/contracts", contract(json!({"seller_id": seller, "referrer_id": "cus_0000000000000000000000000", "referral_share_bps": 100}))).await, 404, "resource_missing", Some("referrer_id")).await;
        let made = ok(app.post("/v1/contracts", contract(json!({"seller_id": seller, "seasoning_days": 0}))).await).await;
        assert_eq!(made["seasoning_days"], 0, "{made}");
        let listed = ok(app.get("/v1/contracts").await).await;
        assert_eq!(listed["data"].as_array().unwrap().len(), 1, "the refused ones wrote nothing: {listed}");

        let wallet = app.post("/v1/payments", json!({"customer_id": buyer, "currency": "USD", "amount": 100, "method": "wallet", "reference": "by-hand"})).await;
        assert_eq!(wallet.status(), 400, "wallet payments are settlement's only");
    }
}
