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
