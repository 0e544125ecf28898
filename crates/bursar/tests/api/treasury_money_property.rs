//! A property of the money paths through the bank: for random sequences of ACH pay-ins (some
//! returned), commits, releases, seasoning, payouts (some failing once, some returned) and the
//! days passing at the sandbox test bank, money is conserved (`bursar ledger verify`), no wallet
//! goes below zero, and every pay-in and payout ends where its ledger transfers say: the
//! payout-in-flight account holds exactly the paid payouts not returned, each returned pay-in's
//! split adds up to its amount, and the buyers' OWED accounts hold exactly what returns left
//! owed.

use bursar_domain::time::{Clock, ManualClock};

use crate::both_backends;
use crate::helpers::*;

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// (posted net, pending net) of an account, credits less debits; (0, 0) if it does not exist.
async fn account(app: &TestApp, id: &str) -> (i64, i64) {
    let response = app.get(&format!("/v1/ledger/accounts/{id}")).await;
    if response.status() == 404 {
        return (0, 0);
    }
    let body = ok(response).await;
    let b = &body["balances"];
    let get = |k: &str| b[k].as_i64().unwrap_or(0);
    (
        get("credits_posted") - get("debits_posted"),
        get("credits_pending") - get("debits_pending"),
    )
}

async fn party(app: &TestApp, party: &str, role: &str) -> (i64, i64) {
    account(app, &format!("party:{party}:{role}:USD")).await
}

/// A party with a bank account (`number`) that has a debit mandate.
async fn party_with_account(app: &TestApp, name: &str, number: &str) -> String {
    let party = id(&ok(app.post("/v1/customers", json!({"name": name})).await).await);
    let account = id(&ok(app.post(&format!("/v1/parties/{party}/bank_accounts"), json!({
        "routing_number": "021000021", "account_number": number, "account_type": "checking", "holder_name": name,
    })).await).await);
    ok(app
        .post(
            &format!("/v1/parties/{party}/bank_accounts/{account}/mandate"),
            json!({}),
        )
        .await)
    .await;
    party
}

async fn step(
    app: &TestApp,
    clock: &ManualClock,
    rng: &mut Rng,
    buyers: &[String],
    sellers: &[String],
    n: u64,
) {
    let buyer = &buyers[rng.below(buyers.len() as u64) as usize];
    let seller = &sellers[rng.below(sellers.len() as u64) as usize];
    let amount = 1_000 + rng.below(20) as i64 * 500;
    match rng.below(8) {
        0 | 1 => {
            ok(app
                .post(
                    &format!("/v1/parties/{buyer}/pay_ins"),
                    json!({"amount": amount, "currency": "USD"}),
                )
                .await)
            .await;
        }
        2 => {
            // Commit what is spendable (refused, and harmless, when there is not enough).
            let _ = app
                .post(
                    &format!("/v1/parties/{buyer}/wallet/commit"),
                    json!({"id": format!("c-{n}"), "amount": amount, "currency": "USD"}),
                )
                .await;
        }
        3 | 4 => {
            let not_before = clock
                .now()
                .plus_seconds(rng.below(3) as i64 * 86_400)
                .to_rfc3339();
            let _ = app.post(&format!("/v1/parties/{buyer}/wallet/release"), json!({
                "id": format!("r-{n}"), "amount": amount / 2, "currency": "USD", "seller_id": seller, "not_before": not_before,
            })).await;
        }
        5 => {
            let spendable = party(app, seller, "AVAILABLE").await;
            let available = spendable.0 + spendable.1.min(0);
            if available > 0 {
                let pay = 1 + rng.below(available as u64) as i64;
                // Refused (400) once a return has disabled the seller's account.
                let answer = app
                    .post(
                        &format!("/v1/parties/{seller}/payouts"),
                        json!({"amount": pay, "currency": "USD"}),
                    )
                    .await;
                assert!(
                    matches!(answer.status().as_u16(), 200 | 400),
                    "{}",
                    answer.text().await.unwrap_or_default()
                );
            }
        }
        _ => {
            clock.advance_seconds(3_600 * (1 + rng.below(30) as i64));
            bursar_core::bank_events::drive_test_banks(app.core())
                .await
                .unwrap();
            bursar_worker::scheduler::send_payouts(app.core())
                .await
                .unwrap();
            for seller in sellers {
                // Seasons what is due (409 when nothing is).
                let answer = app
                    .post(&format!("/v1/parties/{seller}/wallet/season"), json!({}))
                    .await;
                assert!(
                    matches!(answer.status().as_u16(), 200 | 409),
                    "{}",
                    answer.text().await.unwrap_or_default()
                );
            }
        }
    }
}

async fn list(app: &TestApp, path: String) -> Vec<Value> {
    ok(app.get(&path).await).await["data"]
        .as_array()
        .unwrap()
        .clone()
}

async fn check(app: &TestApp, buyers: &[String], sellers: &[String]) {
    for party_id in buyers.iter().chain(sellers) {
        for role in ["AVAILABLE", "COMMITTED", "PAY_IN_HOLDING"] {
            let (posted, pending) = party(app, party_id, role).await;
            assert!(
                posted >= 0 && posted + pending.min(0) >= 0,
                "{party_id} {role}: {posted} {pending}"
            );
        }
    }
    let mut owed_by_returns = 0;
    for buyer in buyers {
        let mut owed = 0;
        for pay_in in list(app, format!("/v1/parties/{buyer}/pay_ins")).await {
            if pay_in["status"] == "returned" {
                let r = &pay_in["returned"];
                let split = r["from_available"].as_i64().unwrap()
                    + r["from_committed"].as_i64().unwrap()
                    + r["owed"].as_i64().unwrap();
                assert_eq!(Some(split), pay_in["amount"].as_i64(), "{pay_in}");
                owed += r["owed"].as_i64().unwrap();
            }
        }
        assert_eq!(
            -account(app, &format!("party:{buyer}:OWED:USD")).await.0,
            owed,
            "what {buyer} owes"
        );
        owed_by_returns += owed;
    }
    let mut paid = 0;
    for seller in sellers {
        for payout in list(app, format!("/v1/parties/{seller}/payouts")).await {
            if payout["status"] == "paid" {
                paid += payout["amount"].as_i64().unwrap();
            }
        }
    }
    assert_eq!(
        account(app, "platform:payout_in_flight:USD").await.0,
        paid,
        "in flight = paid, not returned"
    );
    let _ = owed_by_returns;
}

both_backends! {
    /// Goal: the property above over 80 random steps, checked every 20 and after the last
    /// day has settled everything, with `bursar ledger verify`.
    async fn money_through_the_bank_is_conserved(
        app: TestApp = crate::helpers::TestApp::spawn_with_clock,
        clock: ManualClock = "2026-05-04T09:00:00Z",
    ) {
        ok(app.post("/v1/bank_connections", json!({"kind": "test_bank"})).await).await;
        // Buyers: a good account and one whose debits come back R01.
        let buyers = vec![party_with_account(&app, "Buyer A", "123456789").await, party_with_account(&app, "Buyer B", "10001").await];
        // Sellers: a good account, one that fails once, one whose payouts come back R03.
        let sellers = vec![
            party_with_account(&app, "Seller A", "123456789").await,
            party_with_account(&app, "Seller B", "2222222212").await,
            party_with_account(&app, "Seller C", "10003").await,
        ];
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for n in 0..80 {
            step(&app, &clock, &mut rng, &buyers, &sellers, n).await;
            if n % 20 == 19 {
                check(&app, &buyers, &sellers).await;
            }
        }
        // Every seller pays out what it has left (the first, with a good account, has some for
        // certain), and the days settle everything.
        ok(app.post(&format!("/v1/parties/{}/wallet/fund", sellers[0]), json!({"id": "tail", "amount": 1_000, "currency": "USD"})).await).await;
        for seller in &sellers {
            let (posted, pending) = party(&app, seller, "AVAILABLE").await;
            if posted + pending.min(0) > 0 {
                let _ = app.post(&format!("/v1/parties/{seller}/payouts"), json!({"amount": posted + pending.min(0), "currency": "USD"})).await;
            }
        }
        for _ in 0..6 {
            clock.advance_seconds(86_400);
            bursar_core::bank_events::drive_test_banks(app.core()).await.unwrap();
            bursar_worker::scheduler::send_payouts(app.core()).await.unwrap();
        }
        check(&app, &buyers, &sellers).await;
        let statuses = |path: String| {
            let app = &app;
            async move { list(app, path).await.iter().map(|v| v["status"].as_str().unwrap().to_owned()).collect::<Vec<_>>() }
        };
        let mut seen = Vec::new();
        for buyer in &buyers {
            seen.extend(statuses(format!("/v1/parties/{buyer}/pay_ins")).await);
        }
        for seller in &sellers {
            seen.extend(statuses(format!("/v1/parties/{seller}/payouts")).await);
        }
        for status in ["settled", "returned", "paid"] {
            assert!(seen.iter().any(|s| s == status), "the walk reached no {status}: {seen:?}");
        }
        let (verified, output) = cli(&app, &["ledger", "verify"]);
        assert!(verified, "{output}");
    }
}
