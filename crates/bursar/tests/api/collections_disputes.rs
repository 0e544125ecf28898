//! Disputes of invoice payments as facts of an account's health: a card payment a retry made
//! is disputed (the provider's signed `charge.dispute.*` events through the test provider),
//! retries stop while it is open, a lost dispute reopens the invoice it paid (due again from
//! the day it was lost) and the books follow; a won one changes nothing owed.

use std::sync::Arc;

use bursar_domain::time::{Clock, ManualClock, SystemClock};

use crate::both_backends;
use crate::collections::{customer, overdue_invoice, status as billing_status, sweep, DAY};
use crate::helpers::*;

/// A customer with a saved test card that pays.
async fn card_customer(app: &TestApp, name: &str) -> String {
    let customer = customer(app, name).await;
    save_card(app, &customer, "visa").await;
    customer
}

/// The customer's only card payment.
async fn card_payment(app: &TestApp, customer: &str) -> Value {
    let payments = ok(app
        .get(&format!("/v1/payments?customer_id={customer}"))
        .await)
    .await;
    let cards: Vec<&Value> = payments["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["method"] == "card")
        .collect();
    assert_eq!(cards.len(), 1, "{payments}");
    cards[0].clone()
}

/// Scripts the dispute's next stage at the test provider for a payment an off-session retry
/// made; its signed events are delivered to Bursar's webhook.
async fn dispute(app: &TestApp, payment: &Value, outcome: &str) {
    let reference = payment["reference"].as_str().unwrap();
    let session = format!(
        "cs_test_offsession_{}",
        reference.strip_prefix("pi_test_").unwrap()
    );
    let path = format!("/v1/test_provider/checkout_sessions/{session}/complete");
    let receipt = ok(app.post(&path, json!({"outcome": outcome})).await).await;
    assert_eq!(receipt["receipts"][0]["outcome"], "applied", "{receipt}");
}

/// The types of the events recorded about one object, in order.
async fn event_types(app: &TestApp, aggregate_id: &str) -> Vec<String> {
    let aggregate_id = aggregate_id.to_owned();
    app.db()
        .read(move |tx: &mut bursar_store::Tx| {
            Box::pin(async move {
                let rows = tx
                    .fetch_all(
                        "select event_type from domain_event where aggregate_id = $1 order by position",
                        bursar_store::params![aggregate_id.as_str()],
                    )
                    .await?;
                rows.iter().map(|r| r.text("event_type")).collect()
            })
        })
        .await
        .unwrap()
}

fn reason_codes(status: &Value) -> Vec<String> {
    status["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_owned())
        .collect()
}

both_backends! {
/// Goal: a disputed card payment is a fact of the account's health: retries stop while the
/// dispute is open; the lost dispute reopens the invoice it paid, due again from that day (no
/// step of a months-old due date runs at once), and the receivable, the disputes account and
/// the customer's timeline say so; paying it again recovers the account. A won dispute of
/// another customer's payment gives the money back and leaves the invoice paid.
async fn a_lost_dispute_reopens_the_invoice_and_a_won_one_changes_nothing_owed(backend: Backend) {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let app = TestApp::spawn_with_clock(backend, clock.clone()).await;
    ok(app.post("/v1/dunning_policies", json!({"name": "Cards", "steps": [
        {"at_days": 1, "actions": [{"type": "retry_payment"}]},
        {"at_days": 5, "actions": [{"type": "retry_payment"}]},
        {"at_days": 20, "actions": [{"type": "suspend_entitlements"}]},
    ]})).await).await;
    let (loser, winner) = (card_customer(&app, "Mallory").await, card_customer(&app, "Wendy").await);
    let first = overdue_invoice(&app, &loser, 5_000).await;
    let kept = overdue_invoice(&app, &winner, 3_000).await;
    clock.advance_seconds(DAY + 60);
    sweep(&app).await;
    for (customer, invoice) in [(&loser, &first), (&winner, &kept)] {
        let paid = ok(app.get(&format!("/v1/invoices/{invoice}")).await).await;
        assert_eq!(paid["status"], "paid", "the day-1 retry paid it: {paid}");
        assert_eq!(billing_status(&app, customer).await["status"], "active");
    }

    // Both customers' banks contest the payments: the provider withholds the money.
    let (lost_payment, won_payment) = (card_payment(&app, &loser).await, card_payment(&app, &winner).await);
    dispute(&app, &lost_payment, "disputed").await;
    dispute(&app, &won_payment, "disputed").await;
    assert_eq!(ledger_balances(&app, "commerce:disputes:USD").await.0, 8_000);
    let payment = ok(app.get(&format!("/v1/payments/{}", id(&lost_payment))).await).await;
    assert_eq!((payment["dispute"]["status"].as_str(), payment["dispute"]["amount"].as_i64()), (Some("open"), Some(5_000)), "{payment}");
    let invoice = ok(app.get(&format!("/v1/invoices/{first}")).await).await;
    assert_eq!((invoice["status"].as_str(), invoice["disputes"][0]["status"].as_str()), (Some("paid"), Some("open")), "{invoice}");
    let status = billing_status(&app, &loser).await;
    assert_eq!(status["status"], "active", "an open dispute owes nothing yet: {status}");
    assert!(reason_codes(&status).contains(&"payment_disputed".to_owned()), "{status}");

    // The next invoice falls behind: its retry does not charge a customer contesting a charge.
    let second = overdue_invoice(&app, &loser, 2_000).await;
    clock.advance_seconds(DAY + 60);
    sweep(&app).await;
    let status = billing_status(&app, &loser).await;
    let retry = &status["dunning"]["retries"][0];
    assert_eq!((retry["result"].as_str(), retry["reason"].as_str()), (Some("skipped"), Some("payment_disputed")), "{status}");

    // Lost: the payment's invoice is owed again, due from today; the receivable holds it again.
    let receivable = format!("commerce:receivable:{loser}:USD");
    let owed_before = ledger_balances(&app, &receivable).await;
    clock.advance_seconds(30 * DAY);
    dispute(&app, &lost_payment, "dispute_lost").await;
    let reopened = ok(app.get(&format!("/v1/invoices/{first}")).await).await;
    assert_eq!((reopened["status"].as_str(), reopened["amount_due"].as_i64(), reopened["amount_paid"].as_i64()), (Some("issued"), Some(5_000), Some(0)), "{reopened}");
    assert_eq!((reopened["disputes"][0]["status"].as_str(), reopened["disputes"][0]["reinstated"].as_i64()), (Some("lost"), Some(5_000)), "{reopened}");
    let owed_after = ledger_balances(&app, &receivable).await;
    assert_eq!((owed_after.0 - owed_after.1) - (owed_before.0 - owed_before.1), 5_000, "{owed_before:?} → {owed_after:?}");
    let kinds = [event_types(&app, &id(&lost_payment)).await, event_types(&app, &first).await].concat();
    for kind in ["payment.disputed", "payment.dispute_lost", "invoice.reopened"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} missing: {kinds:?}");
    }
    // The second invoice (31 days late) anchors the schedule and ran its suspension; the
    // reopened one counts from today, not from its old due date.
    let status = billing_status(&app, &loser).await;
    assert_eq!(status["position"]["anchor_invoice_id"], second.as_str(), "{status}");
    assert!(reason_codes(&status).contains(&"dispute_lost".to_owned()), "{status}");
    sweep(&app).await;
    let status = billing_status(&app, &loser).await;
    assert_eq!((status["status"].as_str(), status["access"].as_str()), (Some("past_due"), Some("none")), "{status}");

    // The customer pays what is owed by transfer: the account recovers.
    ok(app.post("/v1/payments", json!({"customer_id": loser, "currency": "USD", "amount": 7_000, "method": "bank_transfer", "reference": "wire-7000"})).await).await;
    let status = billing_status(&app, &loser).await;
    assert_eq!((status["status"].as_str(), status["access"].as_str()), (Some("active"), Some("full")), "{status}");
    assert!(!reason_codes(&status).iter().any(|c| c.starts_with("dispute") || c == "payment_disputed"), "{status}");

    // Won: the money comes back; the invoice stays paid and nothing is owed.
    dispute(&app, &won_payment, "dispute_won").await;
    let kept_invoice = ok(app.get(&format!("/v1/invoices/{kept}")).await).await;
    assert_eq!((kept_invoice["status"].as_str(), kept_invoice["disputes"][0]["status"].as_str()), (Some("paid"), Some("won")), "{kept_invoice}");
    let status = billing_status(&app, &winner).await;
    assert_eq!(status["status"], "active");
    assert!(!reason_codes(&status).contains(&"payment_disputed".to_owned()), "{status}");
    assert_eq!(ledger_balances(&app, "commerce:disputes:USD").await.0 - ledger_balances(&app, "commerce:disputes:USD").await.1, 0);
    assert_eq!(ledger_balances(&app, "commerce:fees:USD").await.0, 2 * bursar_core::test_provider::TEST_DISPUTE_FEE);
    // A dispute event delivered again changes nothing.
    let receipt = ok(app.post(&format!("/v1/test_provider/checkout_sessions/cs_test_offsession_{}/complete", won_payment["reference"].as_str().unwrap().strip_prefix("pi_test_").unwrap()), json!({"outcome": "disputed"})).await).await;
    assert_eq!(receipt["receipts"][0]["outcome"], "ignored", "{receipt}");
    let report = bursar_core::collections::check(app.core(), None).await.unwrap();
    assert!(report.disagreements.is_empty(), "{:?}", report.disagreements);
    let ledger = app.db().read(|tx: &mut bursar_store::Tx| Box::pin(bursar_store::ledger::verify(tx))).await.unwrap();
    assert!(ledger.problems.is_empty(), "{:?}", ledger.problems);
}
}
