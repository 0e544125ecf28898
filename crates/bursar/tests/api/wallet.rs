//! Wallet journey: fund → commit → release → (season refused) → season → cash out.

use crate::both_backends;
use crate::helpers::*;

async fn balances(app: &TestApp, party: &str) -> Value {
    let wallet = json_body(app.get(&format!("/v1/parties/{party}/wallet")).await).await;
    wallet["balances"]["USD"].clone()
}

fn credit_balance(balances: &Value, role: &str) -> i64 {
    let b = &balances[role];
    b["credits_posted"].as_i64().unwrap() - b["debits_posted"].as_i64().unwrap()
}

both_backends! {
    /// Goal: a buyer and a seller walk the whole funds flow, with every balance asserted at
    /// every step, seasoning refused before `not_before`, and the ledger verified at the end.
    async fn the_wallet_journey_moves_money_step_by_step(app: TestApp) {
        let buyer = json_body(app.post("/v1/customers", json!({"name": "Buyer"})).await).await["id"].as_str().unwrap().to_owned();
        let seller = json_body(app.post("/v1/customers", json!({"name": "Seller"})).await).await["id"].as_str().unwrap().to_owned();
        let op = |recipe: &str| format!("/v1/parties/{buyer}/wallet/{recipe}");

        // fund: 10,000 into AVAILABLE.
        let funded = app.post(&op("fund"), json!({"id": "fund-1", "amount": 10_000, "currency": "USD"})).await;
        assert_eq!(funded.status(), 200);
        let funded = json_body(funded).await;
        assert_eq!(funded["result"], "ok");
        let b = balances(&app, &buyer).await;
        assert_eq!(credit_balance(&b, "AVAILABLE"), 10_000);

        // The same operation again moves nothing.
        let again = json_body(app.post(&op("fund"), json!({"id": "fund-1", "amount": 10_000, "currency": "USD"})).await).await;
        assert_eq!(again["result"], "exists");
        assert_eq!(credit_balance(&balances(&app, &buyer).await, "AVAILABLE"), 10_000);

        // commit 6,000 and a downpayment of 1,000.
        assert_eq!(app.post(&op("commit"), json!({"id": "commit-1", "amount": 6_000, "currency": "USD"})).await.status(), 200);
        assert_eq!(app.post(&op("commit_downpayment"), json!({"id": "dp-1", "amount": 1_000, "currency": "USD"})).await.status(), 200);
        let b = balances(&app, &buyer).await;
        assert_eq!(credit_balance(&b, "AVAILABLE"), 3_000);
        assert_eq!(credit_balance(&b, "COMMITTED"), 6_000);
        assert_eq!(credit_balance(&b, "COMMITTED_DOWNPAYMENT"), 1_000);

        // Overcommitting is refused and changes nothing.
        let over = app.post(&op("commit"), json!({"id": "commit-2", "amount": 3_001, "currency": "USD"})).await;
        expect_error(over, 422, "exceeds_credits", None).await;
        assert_eq!(credit_balance(&balances(&app, &buyer).await, "AVAILABLE"), 3_000);

        // release 5,000 to the seller, seasoning for an hour.
        let not_before = bursar_domain::time::Timestamp::from_unix_micros(app.db().now().unix_micros() + 3_600_000_000).to_rfc3339();
        let released = app.post(&op("release"), json!({"id": "release-1", "amount": 5_000, "currency": "USD", "seller_id": seller, "not_before": not_before})).await;
        assert_eq!(released.status(), 200);
        let b = balances(&app, &buyer).await;
        assert_eq!(credit_balance(&b, "COMMITTED"), 1_000);
        let s = balances(&app, &seller).await;
        assert_eq!(credit_balance(&s, "PAY_IN_HOLDING"), 5_000);
        assert_eq!(credit_balance(&s, "AVAILABLE"), 0);

        // Seasoning before not_before is refused.
        let early = app.post(&format!("/v1/parties/{seller}/wallet/season"), json!({"holding_id": "release-1"})).await;
        let body = expect_error(early, 409, "not_seasoned", Some("holding_id")).await;
        assert!(body["error"]["message"].as_str().unwrap().contains(&not_before[..16]));
        assert_eq!(credit_balance(&balances(&app, &seller).await, "PAY_IN_HOLDING"), 5_000);

        // A release whose not_before has passed seasons.
        let past = bursar_domain::time::Timestamp::from_unix_micros(app.db().now().unix_micros() - 1).to_rfc3339();
        assert_eq!(app.post(&op("release"), json!({"id": "release-2", "amount": 1_000, "currency": "USD", "seller_id": seller, "not_before": past, "from": "COMMITTED_DOWNPAYMENT"})).await.status(), 200);
        let seasoned = app.post(&format!("/v1/parties/{seller}/wallet/season"), json!({})).await;
        assert_eq!(seasoned.status(), 200);
        let wallet = json_body(seasoned).await;
        let s = &wallet["balances"]["USD"];
        assert_eq!(credit_balance(s, "PAY_IN_HOLDING"), 5_000);
        assert_eq!(credit_balance(s, "AVAILABLE"), 1_000);
        let statuses: Vec<(&str, &str)> = wallet["holdings"].as_array().unwrap().iter().map(|h| (h["id"].as_str().unwrap(), h["status"].as_str().unwrap())).collect();
        assert!(statuses.contains(&("release-1", "holding")) && statuses.contains(&("release-2", "seasoned")), "{statuses:?}");

        // cash out what is available; more is refused.
        let cash = app.post(&format!("/v1/parties/{seller}/wallet/cash_out"), json!({"id": "payout-1", "amount": 1_000, "currency": "USD"})).await;
        assert_eq!(cash.status(), 200);
        let too_much = app.post(&format!("/v1/parties/{seller}/wallet/cash_out"), json!({"id": "payout-2", "amount": 1, "currency": "USD"})).await;
        expect_error(too_much, 422, "exceeds_credits", None).await;
        let s = balances(&app, &seller).await;
        assert_eq!(credit_balance(&s, "AVAILABLE"), 0);
        assert_eq!(credit_balance(&s, "PAY_IN_HOLDING"), 5_000);
        let b = balances(&app, &buyer).await;
        assert_eq!((credit_balance(&b, "AVAILABLE"), credit_balance(&b, "COMMITTED"), credit_balance(&b, "COMMITTED_DOWNPAYMENT")), (3_000, 1_000, 0));

        // Each party's timeline tells the story, once per applied operation (the replayed
        // fund and the refused operations recorded nothing).
        let types = |party: String| {
            let app = &app;
            async move {
                let page = json_body(app.get(&format!("/v1/parties/{party}/timeline")).await).await;
                page["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
            }
        };
        assert_eq!(types(buyer.clone()).await, ["wallet.funded", "wallet.committed", "wallet.downpayment_committed", "wallet.released", "wallet.released"]);
        assert_eq!(types(seller.clone()).await, ["wallet.pay_in_held", "wallet.pay_in_held", "wallet.seasoned", "wallet.cashed_out"]);
        let seller_events = json_body(app.get(&format!("/v1/parties/{seller}/timeline")).await).await;
        assert_eq!(seller_events["data"][2]["data"]["holding_id"], "release-2");
        assert_eq!(seller_events["data"][2]["data"]["amount"], 1_000);

        // The platform's side balances: bank clearing owes what was funded, payout clearing what was cashed out.
        let bank = json_body(app.get("/v1/ledger/accounts/platform:bank_clearing:USD").await).await;
        assert_eq!(bank["balances"]["debits_posted"], 10_000);
        let payout = json_body(app.get("/v1/ledger/accounts/platform:payout_clearing:USD").await).await;
        assert_eq!(payout["balances"]["credits_posted"], 1_000);

        // Bad input names the field; another workspace's party is a 404.
        expect_error(app.post(&op("fund"), json!({"id": "x", "amount": 0, "currency": "USD"})).await, 400, "parameter_invalid", Some("amount")).await;
        expect_error(app.post(&op("fund"), json!({"id": "x", "amount": 5, "currency": "ZZZ"})).await, 400, "parameter_invalid", Some("currency")).await;
        expect_error(app.post(&op("teleport"), json!({"id": "x", "amount": 5, "currency": "USD"})).await, 404, "route_missing", None).await;
        let (_, other_key) = app.new_workspace("Other").await;
        let foreign = app.client.get(app.url(&format!("/v1/parties/{buyer}/wallet"))).bearer_auth(&other_key).send().await.unwrap();
        expect_error(foreign, 404, "resource_missing", Some("id")).await;

        let report: bursar_store::ledger::VerifyReport = app.db().read(|tx: &mut bursar_store::Tx| Box::pin(bursar_store::ledger::verify(tx))).await.unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }
}
