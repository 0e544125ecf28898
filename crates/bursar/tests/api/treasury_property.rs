//! A property of treasury: for random sequences of expected payments, statement imports (lines
//! that fit, parts of sums, strangers, re-imports), and people's decisions in the review queue,
//! every bank transaction is matched or in review (never dropped), every expected payment holds
//! exactly what was matched to it, every party's wallet holds exactly what arrived for it, and
//! the ledger verifies.

use std::collections::BTreeMap;

use bursar_store::Tx;

use crate::both_backends;
use crate::helpers::*;

/// A xorshift generator: the same sequence on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn day(app: &TestApp, offset: i64) -> String {
    app.db().now().plus_seconds(offset * 86_400).to_rfc3339()[..10].to_owned()
}

async fn import(app: &TestApp, csv: String) -> Value {
    let response = app
        .client
        .post(app.url("/v1/bank_transactions/import"))
        .bearer_auth(&app.admin_key)
        .header("Content-Type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    ok(response).await
}

async fn all(app: &TestApp, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let cursor = after
            .as_ref()
            .map(|a| format!("&starting_after={a}"))
            .unwrap_or_default();
        let page = ok(app.get(&format!("{path}?limit=100{cursor}")).await).await;
        let data = page["data"].as_array().unwrap().clone();
        after = data.last().map(id);
        items.extend(data);
        if page["has_more"] != true {
            return items;
        }
    }
}

async fn available(app: &TestApp, party: &str) -> i64 {
    let wallet = ok(app.get(&format!("/v1/parties/{party}/wallet")).await).await;
    let available = &wallet["balances"]["USD"]["AVAILABLE"];
    available["credits_posted"].as_i64().unwrap_or(0)
        - available["debits_posted"].as_i64().unwrap_or(0)
}

/// One random step.
async fn step(
    app: &TestApp,
    rng: &mut Rng,
    parties: &[String],
    statements: &mut Vec<String>,
    n: usize,
) {
    let today = day(app, 0);
    match rng.below(6) {
        0 | 1 => {
            let amount = 1_000 + rng.below(50) as i64 * 100;
            let party = (rng.below(3) > 0)
                .then(|| parties[rng.below(parties.len() as u64) as usize].clone());
            let mut body = json!({
                "currency": "USD", "amount_lower": amount, "amount_upper": amount + rng.below(3) as i64 * 100,
                "date_lower": day(app, -3), "date_upper": day(app, 3 - rng.below(2) as i64 * 5),
                "counterparty": format!("payer-{}", rng.below(4)),
            });
            if rng.below(2) == 0 {
                body["reference"] = json!(format!("REF-{n}"));
            }
            if let Some(party) = party {
                body["party_id"] = json!(party);
            }
            ok(app.post("/v1/expected_payments", body).await).await;
        }
        2 | 3 => {
            let mut csv = String::from("date,amount,direction,currency,reference,counterparty\n");
            for line in 0..1 + rng.below(4) {
                let reference = match rng.below(3) {
                    0 => format!("ref-{}", rng.below(n as u64 + 1)),
                    _ => String::new(),
                };
                let amount = match rng.below(3) {
                    0 => format!("{}.00", 5 + rng.below(30)),
                    _ => format!("{}.00", 10 + rng.below(50)),
                };
                let direction = if rng.below(10) == 0 {
                    "debit"
                } else {
                    "credit"
                };
                let date = if rng.below(8) == 0 {
                    day(app, 9)
                } else {
                    today.clone()
                };
                csv.push_str(&format!(
                    "{date},{amount},{direction},USD,{reference},payer-{}\n",
                    (line + rng.below(4)) % 4
                ));
            }
            statements.push(csv.clone());
            import(app, csv).await;
        }
        4 if !statements.is_empty() => {
            // A statement again: nothing new.
            let again = statements[rng.below(statements.len() as u64) as usize].clone();
            let summary = import(app, again).await;
            assert_eq!(
                (summary["matched"].as_i64(), summary["in_review"].as_i64()),
                (Some(0), Some(0)),
                "{summary}"
            );
        }
        _ => decide(app, rng).await,
    }
}

/// A person takes an open item: resolves it with a fitting expected payment, accepts it, or
/// snoozes it.
async fn decide(app: &TestApp, rng: &mut Rng) {
    let open = all(app, "/v1/reconciliation/items").await;
    let Some(item) = open
        .iter()
        .find(|i| i["status"] == "open" && i["bank_transaction_id"].is_string())
    else {
        return;
    };
    let path = |action: &str| format!("/v1/reconciliation/items/{}/{action}", id(item));
    match rng.below(3) {
        0 => {
            let transaction = ok(app
                .get(&format!(
                    "/v1/bank_transactions/{}",
                    item["bank_transaction_id"].as_str().unwrap()
                ))
                .await)
            .await;
            let payments = all(app, "/v1/expected_payments").await;
            let fitting = payments.iter().find(|p| {
                p["status"] != "reconciled" && p["direction"] == transaction["direction"]
            });
            if let Some(payment) = fitting {
                ok(app
                    .post(
                        &path("resolve"),
                        json!({"expected_payment_id": id(payment)}),
                    )
                    .await)
                .await;
            }
        }
        1 => {
            ok(app
                .post(&path("accept"), json!({"note": "checked by finance"}))
                .await)
            .await;
        }
        _ => {
            ok(app
                .post(&path("snooze"), json!({"until": day(app, 2)}))
                .await)
            .await;
        }
    }
}

async fn check(app: &TestApp, parties: &[String]) {
    let transactions = all(app, "/v1/bank_transactions").await;
    let items = all(app, "/v1/reconciliation/items").await;
    let payments = all(app, "/v1/expected_payments").await;
    let mut matched_to: BTreeMap<String, i64> = BTreeMap::new();
    for transaction in &transactions {
        let in_review = items
            .iter()
            .any(|i| i["bank_transaction_id"] == transaction["id"]);
        match transaction["status"].as_str().unwrap() {
            "matched" => {
                let payment = transaction["expected_payment_id"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                *matched_to.entry(payment).or_default() += transaction["amount"].as_i64().unwrap();
            }
            "in_review" | "accepted" => assert!(
                in_review,
                "a transaction neither matched nor in review: {transaction}"
            ),
            other => panic!("status {other}"),
        }
    }
    let mut owed: BTreeMap<String, i64> = BTreeMap::new();
    for payment in &payments {
        let matched = matched_to.get(id(payment).as_str()).copied().unwrap_or(0);
        assert_eq!(
            payment["reconciled_amount"].as_i64(),
            Some(matched),
            "{payment}"
        );
        if let (Some(party), "credit") = (
            payment["party_id"].as_str(),
            payment["direction"].as_str().unwrap(),
        ) {
            *owed.entry(party.to_owned()).or_default() += matched;
        }
    }
    for party in parties {
        assert_eq!(
            available(app, party).await,
            owed.get(party).copied().unwrap_or(0),
            "wallet of {party}"
        );
    }
}

both_backends! {
    /// Goal: the property above, over 60 random steps, checked every 15 steps and at the end
    /// with `bursar ledger verify`.
    async fn treasury_never_drops_or_miscounts_money(app: TestApp) {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut parties = Vec::new();
        for name in ["Buyer A", "Buyer B", "Buyer C"] {
            parties.push(id(&ok(app.post("/v1/customers", json!({"name": name})).await).await));
        }
        let mut statements = Vec::new();
        for n in 0..60 {
            step(&app, &mut rng, &parties, &mut statements, n).await;
            if n % 15 == 14 {
                check(&app, &parties).await;
            }
        }
        bursar_core::treasury::sweep(app.core()).await.unwrap();
        check(&app, &parties).await;
        let unreviewed: i64 = app.db().read(|tx: &mut Tx| Box::pin(async move {
            tx.fetch_one("select count(*) as n from expected_payment p where p.status = 'overdue' \
                and not exists (select 1 from reconciliation_item i where i.workspace_id = p.workspace_id \
                and i.expected_payment_id = p.id and i.reason = 'overdue')", &[]).await?.i64("n")
        })).await.unwrap();
        assert_eq!(unreviewed, 0, "every overdue expected payment is in review");
        // The walk reached every outcome, so the checks above checked something.
        let transactions = all(&app, "/v1/bank_transactions").await;
        let items = all(&app, "/v1/reconciliation/items").await;
        let payments = all(&app, "/v1/expected_payments").await;
        let has = |list: &[Value], field: &str, value: &str| list.iter().any(|v| v[field] == value);
        for status in ["matched", "in_review", "accepted"] {
            assert!(has(&transactions, "status", status), "no transaction {status}");
        }
        for status in ["resolved", "snoozed", "open"] {
            assert!(has(&items, "status", status), "no item {status}");
        }
        for status in ["reconciled", "overdue"] {
            assert!(has(&payments, "status", status), "no expected payment {status}");
        }
        assert!(parties.iter().any(|p| payments.iter().any(|e| e["party_id"] == p.as_str() && e["status"] == "reconciled")));
        let (verified, output) = cli(&app, &["ledger", "verify"]);
        assert!(verified, "{output}");
    }
}
