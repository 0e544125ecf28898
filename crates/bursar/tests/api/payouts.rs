//! Payouts over the API, through the sandbox test bank on a manual clock: a seller's AVAILABLE
//! reserved (pending), posted when the bank completes, voided on failure and retried, undone
//! once when it comes back; bank accounts sealed and masked; schedules and their minimum.

use bursar_domain::time::{Clock, ManualClock};

use crate::both_backends;
use crate::helpers::*;

const ROUTING: &str = "021000021";
const IN_FLIGHT: &str = "platform:payout_in_flight:USD";

/// Seconds from the clock's now to `at`.
fn until(clock: &ManualClock, at: &str) -> i64 {
    let at = bursar_domain::time::Timestamp::parse_rfc3339(at).unwrap();
    (at.unix_micros() - clock.now().unix_micros()) / 1_000_000
}

/// Moves the clock on and delivers every webhook the test bank has due.
async fn advance(app: &TestApp, clock: &ManualClock, seconds: i64) {
    clock.advance_seconds(seconds);
    bursar_core::bank_events::drive_test_banks(app.core())
        .await
        .unwrap();
}

/// Runs the job that sends due payouts (delayed, unreachable, retried).
async fn send_due(app: &TestApp) {
    bursar_worker::scheduler::send_payouts(app.core())
        .await
        .unwrap();
}

/// A test bank connection, and a seller funded with `funds` whose bank account is
/// `account_number`; answers (connection, seller, bank account).
async fn seller(app: &TestApp, funds: i64, account_number: &str) -> (String, String, Value) {
    let bank = id(&ok(app
        .post("/v1/bank_connections", json!({"kind": "test_bank"}))
        .await)
    .await);
    let seller = id(&ok(app.post("/v1/customers", json!({"name": "Seller"})).await).await);
    ok(app
        .post(
            &format!("/v1/parties/{seller}/wallet/fund"),
            json!({"id": format!("fund-{seller}"), "amount": funds, "currency": "USD"}),
        )
        .await)
    .await;
    let account = ok(app
        .post(
            &format!("/v1/parties/{seller}/bank_accounts"),
            json!({"routing_number": ROUTING, "account_number": account_number,
                   "account_type": "checking", "holder_name": "Seller LLC"}),
        )
        .await)
    .await;
    (bank, seller, account)
}

async fn pay_out(app: &TestApp, seller: &str, amount: i64) -> reqwest::Response {
    app.post(
        &format!("/v1/parties/{seller}/payouts"),
        json!({"amount": amount, "currency": "USD"}),
    )
    .await
}

async fn payout(app: &TestApp, id: &str) -> Value {
    ok(app.get(&format!("/v1/payouts/{id}")).await).await
}

/// An account's balances: (debits_pending, debits_posted, credits_pending, credits_posted).
async fn balances(app: &TestApp, account: &str) -> (i64, i64, i64, i64) {
    let body = ok(app.get(&format!("/v1/ledger/accounts/{account}")).await).await;
    let b = &body["balances"];
    let get = |k: &str| b[k].as_i64().unwrap_or(0);
    (
        get("debits_pending"),
        get("debits_posted"),
        get("credits_pending"),
        get("credits_posted"),
    )
}

fn available_account(seller: &str) -> String {
    format!("party:{seller}:AVAILABLE:USD")
}

/// Applies a hand-built bank event as the ingestion would; whether it concerned a payout.
async fn apply(app: &TestApp, event: bursar_banks::BankEvent) -> bool {
    let cause = bursar_domain::event::Cause {
        request_id: None,
        actor: Some("test".into()),
    };
    app.core()
        .write(app.workspace_id.clone(), cause, move |mut cx| {
            Box::pin(async move {
                bursar_core::payouts::apply_bank_event(&mut cx, "bkc_test", &event).await
            })
        })
        .await
        .unwrap()
}

/// A bank event saying payment order `order_id` (sent as `attempt_id`) failed.
fn order_failed(order_id: &str, attempt_id: &str) -> bursar_banks::BankEvent {
    use bursar_banks::types::{Direction, FailureReason, PaymentOrder, PaymentOrderStatus, Rail};
    let order = PaymentOrder {
        id: order_id.to_owned(),
        status: PaymentOrderStatus::Failed,
        rail: Rail::Ach,
        direction: Direction::Credit,
        amount: 1,
        currency: "USD".into(),
        originating_account_id: None,
        counterparty_id: None,
        receiving_account_id: None,
        effective_date: None,
        reference: None,
        metadata: [("bursar_attempt_id".to_owned(), attempt_id.to_owned())].into(),
    };
    bursar_banks::BankEvent {
        webhook_id: format!("wh-{order_id}"),
        event_id: None,
        topic: "payment_order".into(),
        event: "failed".into(),
        live_mode: Some(false),
        kind: bursar_banks::BankEventKind::PaymentOrderStatusChanged {
            payment_order_id: order_id.to_owned(),
            status: PaymentOrderStatus::Failed,
            failure: Some(FailureReason {
                code: Some("late".into()),
                message: None,
                parameter: None,
            }),
            order: Some(order),
        },
    }
}

async fn pending_status(app: &TestApp, transfer: &str) -> Value {
    ok(app.get(&format!("/v1/ledger/transfers/{transfer}")).await).await["pending_status"].clone()
}

both_backends! {
    /// Goal: a seller-initiated payout goes pending → in_transit → paid through the test bank,
    /// with AVAILABLE, payout-in-flight and the pending transfer asserted at each step; a payout
    /// above AVAILABLE is refused and writes nothing; the bank account shows masked numbers only.
    async fn a_payout_is_reserved_sent_and_posted_when_the_bank_completes(
        app: TestApp = crate::helpers::TestApp::spawn_with_clock,
        clock: ManualClock = "2026-05-04T09:00:00Z",
    ) {
        let (_, seller, account) = seller(&app, 100_000, "123456789").await;
        assert_eq!(account["account_number"], "••••6789");
        assert_eq!(account["routing_number"], "••••0021");
        assert_eq!(account["status"], "active");
        assert!(account["counterparty_id"].as_str().unwrap().starts_with("tb_cp_"), "{account}");
        let listed = ok(app.get(&format!("/v1/parties/{seller}/bank_accounts")).await).await;
        assert!(!listed.to_string().contains("123456789"), "{listed}");
        let bad = app.post(&format!("/v1/parties/{seller}/bank_accounts"), json!({
            "routing_number": "021000022", "account_number": "123456789", "account_type": "checking", "holder_name": "X"})).await;
        expect_error(bad, 400, "parameter_invalid", Some("routing_number")).await;

        let sent = ok(pay_out(&app, &seller, 30_000).await).await;
        let pid = id(&sent);
        assert_eq!(sent["status"], "in_transit", "{sent}");
        assert!(sent["payment_order_id"].as_str().unwrap().starts_with("tb_po_"));
        let transfer = sent["transfer_id"].as_str().unwrap().to_owned();
        assert_eq!(transfer, format!("payout:{pid}:1"));
        assert_eq!(pending_status(&app, &transfer).await, "pending");
        assert_eq!(balances(&app, &available_account(&seller)).await, (30_000, 0, 0, 100_000));
        assert_eq!(balances(&app, IN_FLIGHT).await, (0, 0, 30_000, 0));

        // Above what is left: refused, naming the field; nothing written.
        let refused = pay_out(&app, &seller, 70_001).await;
        expect_error(refused, 400, "parameter_invalid", Some("amount")).await;
        let listed = ok(app.get(&format!("/v1/parties/{seller}/payouts")).await).await;
        assert_eq!(listed["data"].as_array().unwrap().len(), 1);
        // At the bank: no longer cancelable.
        let late = app.post(&format!("/v1/payouts/{pid}/cancel"), json!({})).await;
        expect_error(late, 409, "payout_state", None).await;

        advance(&app, &clock, 3).await;
        assert_eq!(payout(&app, &pid).await["status"], "in_transit");
        let settles = until(&clock, "2026-05-05T14:00:00Z");
        advance(&app, &clock, settles).await;
        let paid = payout(&app, &pid).await;
        assert_eq!(paid["status"], "paid", "{paid}");
        assert_eq!(pending_status(&app, &transfer).await, "posted");
        assert_eq!(balances(&app, &available_account(&seller)).await, (0, 30_000, 0, 100_000));
        assert_eq!(balances(&app, IN_FLIGHT).await, (0, 0, 0, 30_000));
        // Redelivered and late events change nothing.
        advance(&app, &clock, 86_400).await;
        assert_eq!(balances(&app, &available_account(&seller)).await, (0, 30_000, 0, 100_000));
    }
}

both_backends! {
    /// Goal: a payout the bank could not take stays pending (reserved) and is canceled: the
    /// reservation is voided, AVAILABLE whole again; a second cancel answers 409 `canceled`.
    async fn a_pending_payout_is_canceled_and_its_reservation_voided(
        app: TestApp = crate::helpers::TestApp::spawn_with_clock,
        clock: ManualClock = "2026-05-04T09:00:00Z",
    ) {
        let (bank, seller, _) = seller(&app, 50_000, "123456789").await;
        // The clock starts Monday 2026-05-04, 09:00 UTC in every test here.
        let test_bank = bursar_core::bank_events::sandbox_test_bank(app.core(), &app.workspace_id, &bank).await.unwrap();
        test_bank.fail_next_requests(1);
        let pending = ok(pay_out(&app, &seller, 20_000).await).await;
        assert_eq!(pending["status"], "pending", "{pending}");
        assert!(pending["next_attempt_at"].is_string());
        assert_eq!(balances(&app, &available_account(&seller)).await, (20_000, 0, 0, 50_000));

        let canceled = ok(app.post(&format!("/v1/payouts/{}/cancel", id(&pending)), json!({})).await).await;
        assert_eq!(canceled["status"], "canceled");
        assert_eq!(pending_status(&app, pending["transfer_id"].as_str().unwrap()).await, "voided");
        assert_eq!(balances(&app, &available_account(&seller)).await, (0, 0, 0, 50_000));
        assert_eq!(balances(&app, IN_FLIGHT).await, (0, 0, 0, 0));
        let again = app.post(&format!("/v1/payouts/{}/cancel", id(&pending)), json!({})).await;
        let body = expect_error(again, 409, "payout_state", None).await;
        assert!(body.to_string().contains("canceled"), "{body}");
        // The retry job leaves a canceled payout alone.
        clock.advance_seconds(120);
        send_due(&app).await;
        assert_eq!(payout(&app, &id(&pending)).await["status"], "canceled");
    }
}

both_backends! {
    /// Goal: a payout to the test bank's fail-once account fails (voided, AVAILABLE whole),
    /// is retried after its backoff as a second attempt with a new pending transfer, and is paid.
    async fn a_failed_payout_is_retried_with_backoff_and_succeeds(
        app: TestApp = crate::helpers::TestApp::spawn_with_clock,
        clock: ManualClock = "2026-05-04T09:00:00Z",
    ) {
        let (_, seller, _) = seller(&app, 40_000, "222222220").await;
        let sent = ok(pay_out(&app, &seller, 25_000).await).await;
        let pid = id(&sent);
        advance(&app, &clock, 3).await;
        let failed = payout(&app, &pid).await;
        assert_eq!(failed["status"], "failed", "{failed}");
        assert_eq!(failed["failure_code"], "receiving_account_rejected");
        assert!(failed["next_attempt_at"].is_string(), "retryable: {failed}");
        assert_eq!(pending_status(&app, &format!("payout:{pid}:1")).await, "voided");
        assert_eq!(balances(&app, &available_account(&seller)).await, (0, 0, 0, 40_000));
        assert_eq!(balances(&app, IN_FLIGHT).await, (0, 0, 0, 0));

        // Not before its backoff.
        clock.advance_seconds(30);
        send_due(&app).await;
        assert_eq!(payout(&app, &pid).await["status"], "failed");
        clock.advance_seconds(31);
        send_due(&app).await;
        let retried = payout(&app, &pid).await;
        assert_eq!((retried["status"].as_str(), retried["attempts"].as_i64()), (Some("in_transit"), Some(2)), "{retried}");
        assert_eq!(retried["transfer_id"], format!("payout:{pid}:2"));
        assert_ne!(retried["payment_order_id"], failed["payment_order_id"]);
        assert_eq!(balances(&app, &available_account(&seller)).await, (25_000, 0, 0, 40_000));
        // A late event about the first attempt changes nothing of the second; one about an
        // order no payout sent is not a payout's.
        let first_order = failed["payment_order_id"].as_str().unwrap().to_owned();
        assert!(apply(&app, order_failed(&first_order, &format!("{pid}-1"))).await, "the payout's, but stale");
        assert!(!apply(&app, order_failed("tb_po_unknown", "pout_unknown-1")).await);
        let current = retried["payment_order_id"].as_str().unwrap().to_owned();
        assert_eq!(payout(&app, &pid).await["status"], "in_transit");
        assert_eq!(payout(&app, &pid).await["payment_order_id"], current.as_str());
        assert_eq!(balances(&app, &available_account(&seller)).await, (25_000, 0, 0, 40_000));

        let settles = until(&clock, "2026-05-05T14:00:00Z");
        advance(&app, &clock, settles).await;
        let paid = payout(&app, &pid).await;
        assert_eq!(paid["status"], "paid", "{paid}");
        assert_eq!(balances(&app, &available_account(&seller)).await, (0, 25_000, 0, 40_000));
        assert_eq!(balances(&app, IN_FLIGHT).await, (0, 0, 0, 25_000));
    }
}

both_backends! {
    /// Goal: a paid payout returned R03 is undone exactly once (funds back in AVAILABLE, the
    /// in-flight account empty), the bank account is disabled, and an item waits in review.
    async fn a_returned_payout_comes_back_once_and_disables_the_account(
        app: TestApp = crate::helpers::TestApp::spawn_with_clock,
        clock: ManualClock = "2026-05-04T09:00:00Z",
    ) {
        let (_, seller, account) = seller(&app, 60_000, "10003").await;
        let pid = id(&ok(pay_out(&app, &seller, 60_000).await).await);
        let settles = until(&clock, "2026-05-05T14:00:00Z");
        advance(&app, &clock, settles).await;
        assert_eq!(payout(&app, &pid).await["status"], "paid");
        assert_eq!(balances(&app, &available_account(&seller)).await, (0, 60_000, 0, 60_000));

        advance(&app, &clock, 86_400).await;
        let returned = payout(&app, &pid).await;
        assert_eq!((returned["status"].as_str(), returned["return_code"].as_str()), (Some("returned"), Some("R03")), "{returned}");
        assert_eq!(balances(&app, &available_account(&seller)).await, (0, 60_000, 0, 120_000));
        assert_eq!(balances(&app, IN_FLIGHT).await, (0, 60_000, 0, 60_000));
        let reversal = ok(app.get(&format!("/v1/ledger/transfers/payout:{pid}:return")).await).await;
        assert_eq!((reversal["debit_account_id"].as_str(), reversal["amount"].as_i64()), (Some(IN_FLIGHT), Some(60_000)));

        let accounts = ok(app.get(&format!("/v1/parties/{seller}/bank_accounts")).await).await;
        let disabled = &accounts["data"][0];
        assert_eq!((disabled["id"].clone(), disabled["status"].as_str()), (account["id"].clone(), Some("disabled")));
        assert!(disabled["disabled_reason"].as_str().unwrap().contains("R03"), "{disabled}");
        let items = ok(app.get("/v1/reconciliation/items?status=open").await).await;
        let item = &items["data"][0];
        assert_eq!((item["reason"].as_str(), item["candidates"][0].as_str()), (Some("payout_returned"), Some(pid.as_str())));

        // Once: later deliveries change nothing, and no new payout goes to the bad account.
        advance(&app, &clock, 86_400).await;
        assert_eq!(balances(&app, &available_account(&seller)).await, (0, 60_000, 0, 120_000));
        let refused = pay_out(&app, &seller, 1_000).await;
        expect_error(refused, 400, "bank_account_missing", None).await;
    }
}

both_backends! {
    /// Goal: a daily schedule pays out all of AVAILABLE at midnight once it reaches the
    /// minimum, and not below it; a schedule's fields are checked.
    async fn a_schedule_pays_out_when_due_and_not_below_the_minimum(
        app: TestApp = crate::helpers::TestApp::spawn_with_clock,
        clock: ManualClock = "2026-05-04T09:00:00Z",
    ) {
        let (_, seller, _) = seller(&app, 30_000, "123456789").await;
        let bad = app.post(&format!("/v1/parties/{seller}/payout_schedule"), json!({"interval": "weekly"})).await;
        expect_error(bad, 400, "parameter_missing", Some("weekday")).await;
        let schedule = ok(app.post(&format!("/v1/parties/{seller}/payout_schedule"),
            json!({"interval": "daily", "minimum_amount": {"USD": 50_000}})).await).await;
        assert_eq!(schedule["next_run_at"], "2026-05-05T00:00:00Z");

        clock.advance_seconds(until(&clock, "2026-05-05T00:00:30Z"));
        assert_eq!(bursar_core::payouts::run_schedules(app.core()).await.unwrap(), 0, "below the minimum");
        let again = ok(app.get(&format!("/v1/parties/{seller}/payout_schedule")).await).await;
        assert_eq!(again["next_run_at"], "2026-05-06T00:00:00Z");

        ok(app.post(&format!("/v1/parties/{seller}/wallet/fund"), json!({"id": "more", "amount": 25_000, "currency": "USD"})).await).await;
        assert_eq!(bursar_core::payouts::run_schedules(app.core()).await.unwrap(), 0, "not due yet");
        clock.advance_seconds(until(&clock, "2026-05-06T00:00:30Z"));
        assert_eq!(bursar_core::payouts::run_schedules(app.core()).await.unwrap(), 1);
        let listed = ok(app.get(&format!("/v1/parties/{seller}/payouts")).await).await;
        let scheduled = listed["data"][0].clone();
        assert_eq!((scheduled["amount"].as_i64(), scheduled["origin"].as_str()), (Some(55_000), Some("schedule")), "{scheduled}");
        send_due(&app).await;
        let sent = payout(&app, &id(&scheduled)).await;
        assert_eq!(sent["status"], "in_transit", "{sent}");
        assert_eq!(balances(&app, &available_account(&seller)).await, (55_000, 0, 0, 55_000));
    }
}
