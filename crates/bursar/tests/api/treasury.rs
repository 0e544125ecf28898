//! Treasury over the API: expected payments, bank statements imported and matched to them, the
//! reconciliation review queue, and the parties credited when their money arrives.

use crate::both_backends;
use crate::helpers::*;

fn day(app: &TestApp, offset_days: i64) -> String {
    let now = app.db().now().plus_seconds(offset_days * 86_400);
    now.to_rfc3339()[..10].to_owned()
}

async fn import(app: &TestApp, csv: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/bank_transactions/import"))
        .bearer_auth(&app.admin_key)
        .header("Content-Type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .unwrap()
}

async fn expect(app: &TestApp, body: Value) -> String {
    id(&ok(app.post("/v1/expected_payments", body).await).await)
}

async fn available(app: &TestApp, party: &str) -> i64 {
    let wallet = ok(app.get(&format!("/v1/parties/{party}/wallet")).await).await;
    let available = &wallet["balances"]["USD"]["AVAILABLE"];
    available["credits_posted"].as_i64().unwrap_or(0)
        - available["debits_posted"].as_i64().unwrap_or(0)
}

async fn items(app: &TestApp, status: &str) -> Vec<Value> {
    let page = ok(app
        .get(&format!("/v1/reconciliation/items?status={status}"))
        .await)
    .await;
    page["data"].as_array().unwrap().clone()
}

both_backends! {
    /// Goal: each matching rule over the API — reference, amount/date/counterparty, parts of a
    /// sum — credits the party once; ties, out-of-window and overpaying arrivals go to review,
    /// never a guess; importing the statement again changes nothing.
    async fn statements_match_expected_payments_by_rule_and_never_guess(app: TestApp) {
        let buyer = id(&ok(app.post("/v1/customers", json!({"name": "Buyer"})).await).await);
        let (from, to) = (day(&app, -3), day(&app, 3));
        let window = |amount: i64| json!({"currency": "USD", "amount_lower": amount, "date_lower": from, "date_upper": to});
        let mut by_reference = window(125_000);
        by_reference["reference"] = json!("INV-1001");
        by_reference["party_id"] = json!(buyer);
        let by_reference = expect(&app, by_reference).await;
        let mut by_party = window(50_000);
        by_party["counterparty"] = json!("Acme Corp");
        let by_party = expect(&app, by_party).await;
        let mut summed = window(30_000);
        summed["counterparty"] = json!("Globex");
        summed["amount_upper"] = json!(30_000);
        let summed = expect(&app, summed).await;
        let mut twin = window(7_000);
        twin["counterparty"] = json!("Initech");
        let (twin_a, twin_b) = (expect(&app, twin.clone()).await, expect(&app, twin).await);
        let mut late = window(9_900);
        late["reference"] = json!("LATE-1");
        let late = expect(&app, late).await;

        let today = day(&app, 0);
        let statement = format!(
            "id,date,amount,direction,currency,reference,counterparty\n\
             b1,{today},1250.00,credit,USD, inv-1001 ,\n\
             b2,{today},500,credit,USD,,Acme Corp\n\
             b3,{today},100.00,credit,USD,,Globex\n\
             b4,{today},200.00,credit,USD,,Globex\n\
             b5,{today},70,credit,USD,,Initech\n\
             b6,{},99.00,credit,USD,LATE-1,\n\
             b7,{today},10.00,credit,USD,,Nobody\n\
             b8,{today},1.00,credit,USD,,Globex\n",
            day(&app, 10)
        );
        let summary = ok(import(&app, &statement).await).await;
        assert_eq!(summary["lines"], 8);
        assert_eq!(summary["matched"], 4, "{summary}");
        assert_eq!(summary["matched_by_rule"], json!({"reference": 1, "amount_date_counterparty": 2, "part_of_sum": 1}));
        assert_eq!(summary["in_review"], 4);
        assert_eq!(summary["expected_payments_reconciled"], 3);

        let status = |id: String| {
            let app = &app;
            async move { ok(app.get(&format!("/v1/expected_payments/{id}")).await).await["status"].clone() }
        };
        assert_eq!(status(by_reference.clone()).await, "reconciled");
        assert_eq!(status(by_party).await, "reconciled");
        assert_eq!(status(summed.clone()).await, "reconciled", "100 + 200 make the 300 expected");
        assert_eq!(status(twin_a.clone()).await, "unreconciled", "a tie is never guessed");
        assert_eq!(status(late.clone()).await, "unreconciled");
        assert_eq!(available(&app, &buyer).await, 125_000, "the party is credited on arrival");

        let open = items(&app, "open").await;
        let reasons: Vec<&str> = open.iter().map(|i| i["reason"].as_str().unwrap()).collect();
        for reason in ["ambiguous", "out_of_window", "unmatched"] {
            assert!(reasons.contains(&reason), "{reasons:?}");
        }
        assert!(reasons.contains(&"unmatched") && open.len() == 4, "b8 would take Globex past its upper bound: {reasons:?}");
        let ambiguous = open.iter().find(|i| i["reason"] == "ambiguous").unwrap();
        let mut candidates: Vec<String> = serde_json::from_value(ambiguous["candidates"].clone()).unwrap();
        candidates.sort();
        let mut twins = vec![twin_a.clone(), twin_b];
        twins.sort();
        assert_eq!(candidates, twins);

        // The same statement again: every line known, nothing changes.
        let again = ok(import(&app, &statement).await).await;
        assert_eq!((again["duplicates"].as_i64(), again["matched"].as_i64(), again["in_review"].as_i64()), (Some(8), Some(0), Some(0)));
        assert_eq!(available(&app, &buyer).await, 125_000);
        assert_eq!(items(&app, "open").await.len(), 4);
        let _ = summed;
    }
}

both_backends! {
    /// Goal: people work the review queue — acknowledge, resolve by linking the expected
    /// payment (crediting its party), accept with a note, snooze to a later day — and illegal
    /// moves are refused with the item's current state.
    async fn the_review_queue_resolves_accepts_and_snoozes(app: TestApp) {
        let seller = id(&ok(app.post("/v1/customers", json!({"name": "Seller"})).await).await);
        let expected = expect(&app, json!({
            "currency": "USD", "amount_lower": 4_000, "amount_upper": 4_000, "date_lower": day(&app, -1),
            "date_upper": day(&app, 1), "reference": "WIRE-9", "party_id": seller,
        })).await;
        let today = day(&app, 0);
        let statement = format!(
            "date,amount,direction,currency,reference,counterparty\n\
             {today},40.00,credit,USD,WIRE9X,Seller LLC\n\
             {today},0.35,debit,USD,FEE,Bank\n\
             {today},12.00,credit,USD,,Stranger\n"
        );
        ok(import(&app, &statement).await).await;
        let open = items(&app, "open").await;
        assert_eq!(open.len(), 3);
        let item_of = |amount: i64| {
            let open = open.clone();
            let app = &app;
            async move {
                for item in open {
                    let btx = item["bank_transaction_id"].as_str().unwrap();
                    let transaction = ok(app.get(&format!("/v1/bank_transactions/{btx}")).await).await;
                    if transaction["amount"] == amount {
                        return id(&item);
                    }
                }
                panic!("no item for {amount}");
            }
        };
        let (wire, fee, stranger) = (item_of(4_000).await, item_of(35).await, item_of(1_200).await);

        let path = |item: &str, action: &str| format!("/v1/reconciliation/items/{item}/{action}");
        let acknowledged = ok(app.post(&path(&wire, "acknowledge"), json!({})).await).await;
        assert_eq!(acknowledged["status"], "acknowledged");
        let again = app.post(&path(&wire, "acknowledge"), json!({})).await;
        assert_eq!(again.status(), 409);
        assert_eq!(json_body(again).await["error"]["current_state"], "acknowledged");

        let resolved = ok(app.post(&path(&wire, "resolve"), json!({"expected_payment_id": expected})).await).await;
        assert_eq!((resolved["status"].as_str(), resolved["expected_payment_id"].as_str()), (Some("resolved"), Some(expected.as_str())));
        assert_eq!(available(&app, &seller).await, 4_000, "resolving credits the party");
        let payment = ok(app.get(&format!("/v1/expected_payments/{expected}")).await).await;
        assert_eq!((payment["status"].as_str(), payment["reconciled_amount"].as_i64()), (Some("reconciled"), Some(4_000)));
        let refused = app.post(&path(&wire, "accept"), json!({"note": "too late"})).await;
        assert_eq!(refused.status(), 409, "a resolved item is closed");

        let no_note = app.post(&path(&fee, "accept"), json!({"note": "   "})).await;
        assert_eq!(no_note.status(), 400);
        assert_eq!(json_body(no_note).await["error"]["param"], "note");
        let accepted = ok(app.post(&path(&fee, "accept"), json!({"note": "monthly bank fee"})).await).await;
        assert_eq!((accepted["status"].as_str(), accepted["note"].as_str()), (Some("accepted"), Some("monthly bank fee")));
        let fee_transaction = ok(app.get(&format!("/v1/bank_transactions/{}", accepted["bank_transaction_id"].as_str().unwrap())).await).await;
        assert_eq!(fee_transaction["status"], "accepted");

        let today_snooze = app.post(&path(&stranger, "snooze"), json!({"until": today})).await;
        assert_eq!(today_snooze.status(), 400);
        assert_eq!(json_body(today_snooze).await["error"]["param"], "until");
        let snoozed = ok(app.post(&path(&stranger, "snooze"), json!({"until": day(&app, 2)})).await).await;
        assert_eq!((snoozed["status"].as_str(), snoozed["snoozed_until"].as_str()), (Some("snoozed"), Some(day(&app, 2).as_str())));
        let wrong = app.post(&path(&stranger, "resolve"), json!({"expected_payment_id": expected})).await;
        assert_eq!(wrong.status(), 409, "that expected payment has fully arrived");

        let timeline = ok(app.get(&format!("/v1/reconciliation/items/{wire}/timeline")).await).await;
        let types: Vec<&str> = timeline["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["reconciliation_item.created", "reconciliation_item.acknowledged", "reconciliation_item.resolved"]);
        let payment_timeline = ok(app.get(&format!("/v1/expected_payments/{expected}/timeline")).await).await;
        let types: Vec<&str> = payment_timeline["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["expected_payment.created", "expected_payment.reconciled"]);
        let audit = ok(app.get("/v1/audit_log").await).await;
        let accepted = audit["data"].as_array().unwrap().iter().find(|e| e["action"] == "reconciliation_item.accepted").expect("the acceptance is audited");
        assert_eq!(accepted["target_id"], fee.as_str());
        assert_eq!(accepted["after"]["note"], "monthly bank fee");
    }
}

both_backends! {
    /// Goal: an expected payment whose window passed without its money is overdue and in
    /// review; its money arriving later (out of window, linked by a person) closes that item.
    async fn overdue_expected_payments_go_to_review(app: TestApp) {
        let expected = expect(&app, json!({
            "currency": "USD", "amount_lower": 2_500, "date_lower": day(&app, -9),
            "date_upper": day(&app, -2), "reference": "PO-77",
        })).await;
        bursar_core::treasury::sweep(app.core()).await.unwrap();
        let payment = ok(app.get(&format!("/v1/expected_payments/{expected}")).await).await;
        assert_eq!(payment["status"], "overdue");
        let overdue = items(&app, "open").await;
        assert_eq!(overdue.len(), 1);
        assert_eq!((overdue[0]["reason"].as_str(), overdue[0]["expected_payment_id"].as_str()), (Some("overdue"), Some(expected.as_str())));
        assert_eq!(bursar_core::treasury::sweep(app.core()).await.unwrap(), 0, "once");

        let statement = format!("date,amount,direction,currency,reference\n{},25.00,credit,USD,PO-77\n", day(&app, 0));
        ok(import(&app, &statement).await).await;
        let late = items(&app, "open").await.into_iter().find(|i| i["reason"] == "out_of_window").expect("late money in review");
        ok(app.post(&format!("/v1/reconciliation/items/{}/resolve", id(&late)), json!({"expected_payment_id": expected})).await).await;
        let overdue_item = ok(app.get(&format!("/v1/reconciliation/items/{}", id(&overdue[0]))).await).await;
        assert_eq!(overdue_item["status"], "resolved", "its money arrived");
        assert!(items(&app, "open").await.is_empty());
    }
}

both_backends! {
    /// Goal: bad statements and bad expected payments are refused naming the field, and write
    /// nothing; one statement sent 20 times at once is recorded once.
    async fn bad_input_is_refused_and_concurrent_imports_count_once(app: TestApp) {
        let cases = [
            ("date,amount,direction\n", "csv"),
            ("date,amount,direction,currency\n2026-02-30,1,credit,USD\n", "lines[1].date"),
            ("date,amount,direction,currency\n2026-02-03,1.001,credit,USD\n", "lines[1].amount"),
        ];
        for (csv, param) in cases {
            let response = import(&app, csv).await;
            assert_eq!(response.status(), 400);
            assert_eq!(json_body(response).await["error"]["param"], param);
        }
        let json_instead = app.post("/v1/bank_transactions/import", json!({"csv": "x"})).await;
        assert_eq!(json_instead.status(), 415);
        let inverted = app.post("/v1/expected_payments", json!({"currency": "USD", "amount_lower": 10, "amount_upper": 5, "date_lower": "2026-01-01", "date_upper": "2026-01-02"})).await;
        assert_eq!(inverted.status(), 400);
        assert_eq!(json_body(inverted).await["error"]["param"], "amount_upper");
        let stranger = app.post("/v1/expected_payments", json!({"currency": "USD", "amount_lower": 10, "date_lower": "2026-01-01", "date_upper": "2026-01-02", "party_id": "cus_01hzzzzzzzzzzzzzzzzzzzzzzz"})).await;
        assert_eq!(stranger.status(), 404);
        let listed = ok(app.get("/v1/bank_transactions").await).await;
        assert!(listed["data"].as_array().unwrap().is_empty(), "nothing written");

        let buyer = id(&ok(app.post("/v1/customers", json!({"name": "Buyer"})).await).await);
        expect(&app, json!({"currency": "USD", "amount_lower": 1_000, "date_lower": day(&app, -1), "date_upper": day(&app, 1), "reference": "R-1", "party_id": buyer})).await;
        let statement = format!("id,date,amount,direction,currency,reference\nwire-1,{},10,credit,USD,R-1\n", day(&app, 0));
        let answers = futures::future::join_all((0..20).map(|_| import(&app, &statement))).await;
        let mut matched = 0;
        for answer in answers {
            matched += ok(answer).await["matched"].as_i64().unwrap();
        }
        assert_eq!(matched, 1, "one import records it; the others find it known");
        assert_eq!(available(&app, &buyer).await, 1_000);
        let listed = ok(app.get("/v1/bank_transactions").await).await;
        assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    }
}
