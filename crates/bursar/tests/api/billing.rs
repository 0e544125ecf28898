//! Contracts to cash, end to end: usage rated into billing runs' invoices, issued, paid in part
//! and then online through the provider's payment link; the ledger and both billing statuses
//! (customer and contract) checked at every step; the overdue path and its way back.

use crate::both_backends;
use crate::helpers::*;

/// (debits posted, credits posted) of `commerce:<account>:EUR`.
pub(crate) async fn balances(app: &TestApp, account: &str) -> (i64, i64) {
    ledger_balances(app, &format!("commerce:{account}:EUR")).await
}

pub(crate) async fn ingest(app: &TestApp, events: &[(&str, &str, &str, i64, &str)]) {
    let body: Vec<Value> = events
        .iter()
        .map(|(id, subject, time, tokens, model)| {
            json!({"specversion": "1.0", "id": id, "source": "e2e", "type": "prompt",
                   "subject": subject, "time": time, "data": {"tokens": tokens, "model": model}})
        })
        .collect();
    let response = app
        .client
        .post(app.url("/api/v1/events"))
        .bearer_auth(&app.admin_key)
        .header("content-type", "application/cloudevents-batch+json")
        .body(Value::Array(body).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204, "{}", response.text().await.unwrap());
}

pub(crate) async fn statuses(app: &TestApp, customer: &str, contract: &str) -> (String, String) {
    let of = |v: Value| v["status"].as_str().unwrap().to_owned();
    (
        of(ok(app
            .get(&format!("/v1/customers/{customer}/billing_status"))
            .await)
        .await),
        of(ok(app
            .get(&format!("/v1/contracts/{contract}/billing_status"))
            .await)
        .await),
    )
}

both_backends! {
/// Goal: contract → usage events → cycle close → draft (fixed fees in advance and in arrears,
/// usage rated by graduated tiers and by a filtered per-unit price) → issue (number) → partial
/// payment → online payment through the payment link (webhook, delivered twice) → paid, with
/// the ledger and the customer's and the contract's billing status asserted at each step; then
/// the overdue path active → past_due → collections → active on payment, usage arriving after
/// its period was invoiced counted in the next one, and the contract closed when it ends.
async fn a_contract_is_billed_from_usage_to_cash(
    app: TestApp = crate::helpers::TestApp::spawn_with_clock,
    clock: ManualClock = "2026-03-01T00:01:00Z",
) {
    let state = app.core().clone();

    let meter = app
        .post(
            "/api/v1/meters",
            json!({"slug": "tokens", "name": "tokens", "aggregation": "SUM", "eventType": "prompt",
        "valueProperty": "$.tokens", "groupBy": {"model": "$.model"}}),
        )
        .await;
    assert_eq!(meter.status(), 201);
    let customer = id(&ok(app
        .post(
            "/v1/customers",
            json!({"name": "Ulla", "email": "ulla@example.com"}),
        )
        .await)
    .await);
    ok(app
        .post(
            &format!("/v1/customers/{customer}/usage_subjects"),
            json!({"subject": "ulla-app"}),
        )
        .await)
    .await;
    let product = |name: &'static str| {
        let app = &app;
        async move {
            id(&ok(app
                .post("/v1/products", json!({"name": name, "kind": "service"}))
                .await)
            .await)
        }
    };
    let (platform, support, tokens, premium) = (
        product("Platform").await,
        product("Support").await,
        product("API tokens").await,
        product("Large model").await,
    );

    // Bad usage lines are refused, naming the field, and write nothing.
    let start = "2026-03-01T00:00:00Z";
    let contract_body = |lines: Value| {
        json!({"buyer_id": customer, "currency": "EUR", "effective_at": start,
        "term": {"start": start}, "billing": {"anchor_day": 1, "payment_terms_days": 14}, "lines": lines})
    };
    expect_error(app.post("/v1/contracts", contract_body(json!([{"product_id": tokens, "usage": {"meter": "nope", "pricing": {"model": "per_unit", "unit_price": "1"}}}]))).await,
        404, "resource_missing", Some("lines[0].usage.meter")).await;
    expect_error(app.post("/v1/contracts", contract_body(json!([{"product_id": tokens, "unit_amount": 5, "usage": {"meter": "tokens", "pricing": {"model": "per_unit", "unit_price": "1"}}}]))).await,
        400, "usage_line_invalid", Some("lines[0].usage")).await;
    expect_error(app.post("/v1/contracts", contract_body(json!([{"product_id": tokens, "usage": {"meter": "tokens", "pricing": {"model": "graduated", "tiers": [{"up_to": "10", "unit_price": "1"}]}}}]))).await,
        400, "pricing_invalid", Some("usage.pricing")).await;
    expect_error(app.post("/v1/contracts", contract_body(json!([{"product_id": tokens, "usage": {"meter": "tokens", "filter_group_by": {"region": "eu"}, "pricing": {"model": "per_unit", "unit_price": "1"}}}]))).await,
        400, "parameter_invalid", Some("lines[0].usage.filter_group_by")).await;
    assert_eq!(
        ok(app.get("/v1/contracts").await).await["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    let contract = ok(app.post("/v1/contracts", contract_body(json!([
        {"product_id": platform, "unit_amount": 10_000},
        {"product_id": support, "unit_amount": 3_000, "timing": "in_arrears"},
        {"product_id": tokens, "usage": {"meter": "tokens", "pricing": {"model": "graduated", "tiers": [
            {"up_to": "1000", "unit_price": "2"}, {"unit_price": "0.5"}]}}},
        {"product_id": premium, "usage": {"meter": "tokens", "filter_group_by": {"model": "large"}, "pricing": {"model": "per_unit", "unit_price": "1"}}},
    ]))).await).await;
    let contract_id = id(&contract);
    assert_eq!(
        contract["lines"][2]["timing"], "in_arrears",
        "usage lines bill in arrears"
    );
    let operations = format!("/v1/contracts/{contract_id}/operations");
    expect_error(app.post(&operations, json!({"type": "change_quantity", "line_id": contract["lines"][2]["id"], "quantity": 2})).await, 400, "usage_line", Some("line_id")).await;
    // A usage line added by an operation (to another contract, left a draft: never billed).
    let other = id(&ok(app.post("/v1/contracts", contract_body(json!([]))).await).await);
    let added = ok(app.post(&format!("/v1/contracts/{other}/operations"), json!({"type": "add_line", "product_id": tokens,
        "usage": {"meter": "tokens", "pricing": {"model": "package", "package_size": "1000", "package_amount": 500}}})).await).await;
    let line = &added["contract"]["lines"][0];
    assert_eq!(
        (
            line["timing"].as_str(),
            line["usage"]["pricing"]["package_size"].as_str()
        ),
        (Some("in_arrears"), Some("1000")),
        "{added}"
    );
    expect_error(
        app.post(
            &format!("/v1/contracts/{other}/operations"),
            json!({"type": "add_line", "product_id": tokens,
        "usage": {"meter": "nope", "pricing": {"model": "flat", "amount": 1}}}),
        )
        .await,
        404,
        "resource_missing",
        Some("usage.meter"),
    )
    .await;
    ok(app
        .post(
            &operations,
            json!({"type": "activate", "effective_at": start}),
        )
        .await)
    .await;
    assert_eq!(
        statuses(&app, &customer, &contract_id).await,
        ("pending".into(), "pending".into())
    );

    // March starts: its fees in advance; nothing before it to bill in arrears.
    let march = ok(app.post("/v1/billing_runs", json!({})).await).await;
    assert_eq!(
        march["invoices_created"].as_array().unwrap().len(),
        1,
        "{march}"
    );
    let march_invoice = march["invoices_created"][0].as_str().unwrap().to_owned();
    let invoice = ok(app.get(&format!("/v1/invoices/{march_invoice}")).await).await;
    assert_eq!(
        (
            invoice["total"].as_i64(),
            invoice["lines"].as_array().unwrap().len()
        ),
        (Some(10_000), 1),
        "{invoice}"
    );

    // March's usage: 700 small + 600 large tokens are Ulla's; another subject's and April's
    // events are not.
    ingest(
        &app,
        &[
            ("e1", "ulla-app", "2026-03-03T10:00:00Z", 700, "small"),
            ("e2", "ulla-app", "2026-03-10T10:00:00Z", 600, "large"),
            ("e3", "someone-else", "2026-03-10T10:00:00Z", 5_000, "small"),
        ],
    )
    .await;
    clock.advance_seconds(31 * 86_400); // 2026-04-01T00:01:00Z
    ingest(
        &app,
        &[("e4", "ulla-app", "2026-04-01T00:00:10Z", 200, "small")],
    )
    .await;

    // April starts: the cycle closes.
    let april = ok(app.post("/v1/billing_runs", json!({})).await).await;
    assert_eq!(
        april["invoices_created"].as_array().unwrap().len(),
        1,
        "{april}"
    );
    let april_invoice = april["invoices_created"][0].as_str().unwrap().to_owned();
    let invoice = ok(app.get(&format!("/v1/invoices/{april_invoice}")).await).await;
    assert_eq!(invoice["status"], "draft");
    let lines = invoice["lines"].as_array().unwrap();
    let amounts: Vec<(&str, i64)> = lines
        .iter()
        .map(|l| (l["kind"].as_str().unwrap(), l["amount"].as_i64().unwrap()))
        .collect();
    // Platform for April in advance; Support for March in arrears; 1,300 tokens graduated
    // (1,000 × 2 + 300 × 0.5 = 2,150); 600 large-model tokens × 1 = 600.
    assert_eq!(
        amounts,
        vec![
            ("fixed", 10_000),
            ("fixed", 3_000),
            ("usage", 2_150),
            ("usage", 600)
        ],
        "{invoice}"
    );
    assert_eq!(invoice["total"], 15_750);
    assert_eq!(lines[1]["period_start"], "2026-03-01T00:00:00Z");
    assert_eq!(lines[0]["period_start"], "2026-04-01T00:00:00Z");
    let rated = &lines[2]["rating"]["rated"];
    assert_eq!(
        (rated["model"].as_str(), rated["quantity"].as_str()),
        (Some("graduated"), Some("1300"))
    );
    assert_eq!(rated["tiers"][0]["quantity"], "1000");
    assert_eq!(
        (
            rated["tiers"][1]["quantity"].as_str(),
            rated["tiers"][1]["amount"].as_i64()
        ),
        (Some("300"), Some(150))
    );
    assert!(
        lines[2]["description"]
            .as_str()
            .unwrap()
            .contains("1300 tokens"),
        "{invoice}"
    );
    // The invoiced usage is closed: a late event for March counts in April.
    let subjects = ok(app
        .get(&format!("/v1/customers/{customer}/usage_subjects"))
        .await)
    .await;
    assert_eq!(subjects["closed_until"], "2026-04-01T00:00:00Z");
    ingest(
        &app,
        &[("e5", "ulla-app", "2026-03-20T10:00:00Z", 100, "small")],
    )
    .await;
    // A second run bills nothing again.
    let again = ok(app.post("/v1/billing_runs", json!({})).await).await;
    assert_eq!(
        (
            again["invoices_created"].as_array().unwrap().len(),
            again["already_billed"].as_u64()
        ),
        (0, Some(1))
    );
    assert_eq!(
        statuses(&app, &customer, &contract_id).await,
        ("pending".into(), "pending".into()),
        "drafts change nothing"
    );
    assert_eq!(
        balances(&app, &format!("receivable:{customer}")).await,
        (0, 0)
    );

    // Issued: numbered; the receivable and revenue posted.
    let issued = ok(app
        .post(&format!("/v1/invoices/{april_invoice}/issue"), json!({}))
        .await)
    .await;
    assert_eq!(issued["number"], "INV-2026-000001");
    assert_eq!(issued["due_at"], "2026-04-15T00:01:00Z");
    assert_eq!(
        balances(&app, &format!("receivable:{customer}")).await,
        (15_750, 0)
    );
    assert_eq!(balances(&app, "revenue").await, (0, 15_750));
    assert_eq!(
        statuses(&app, &customer, &contract_id).await,
        ("active".into(), "active".into())
    );

    // A partial payment by bank transfer.
    let partial = ok(app.post("/v1/payments", json!({"reference": "ref-billing-316", "customer_id": customer, "currency": "EUR", "amount": 5_750, "method": "bank_transfer",
        "allocations": [{"invoice_id": april_invoice, "amount": 5_750}]})).await).await;
    assert_eq!(partial["unallocated"], 0);
    let invoice = ok(app.get(&format!("/v1/invoices/{april_invoice}")).await).await;
    assert_eq!(
        (invoice["status"].as_str(), invoice["amount_due"].as_i64()),
        (Some("issued"), Some(10_000))
    );
    assert_eq!(
        balances(&app, &format!("receivable:{customer}")).await,
        (15_750, 5_750)
    );
    assert_eq!(balances(&app, "cash:bank_transfer").await, (5_750, 0));
    assert_eq!(
        statuses(&app, &customer, &contract_id).await,
        ("active".into(), "active".into())
    );

    // The rest online: a payment link; returning from the page proves nothing, the provider's
    // signed webhook does.
    let linked = ok(app
        .post(
            &format!("/v1/invoices/{april_invoice}/payment_link"),
            json!({}),
        )
        .await)
    .await;
    let link = &linked["payment_link"];
    assert_eq!(
        (link["amount"].as_i64(), link["provider"].as_str()),
        (Some(10_000), Some("test"))
    );
    assert!(
        link["url"].as_str().unwrap().starts_with("http"),
        "{linked}"
    );
    // The page names the invoice by its number and shows its lines.
    let html = page_text(&app, link["url"].as_str().unwrap()).await;
    let number = linked["number"].as_str().expect("an issued invoice has a number");
    assert!(html.contains(&format!("<h1>Invoice {number}</h1>")), "{html}");
    let first_line = linked["lines"][0]["description"].as_str().unwrap();
    assert!(html.contains(&format!("<td>{first_line}</td>")), "{first_line} in {html}");
    let same = ok(app
        .post(
            &format!("/v1/invoices/{april_invoice}/payment_link"),
            json!({}),
        )
        .await)
    .await;
    assert_eq!(
        same["payment_link"]["session_id"], link["session_id"],
        "an open link is reused"
    );
    assert_eq!(
        ok(app.get(&format!("/v1/invoices/{april_invoice}")).await).await["status"],
        "issued"
    );
    let session = link["session_id"].as_str().unwrap();
    let completed = ok(app
        .post(
            &format!("/v1/test_provider/checkout_sessions/{session}/complete"),
            json!({"outcome": "succeeded", "deliver": false}),
        )
        .await)
    .await;
    let events = completed["events"].as_array().unwrap();
    assert!(!events.is_empty());
    for event in events.iter().chain(events.iter()) {
        ok(post_signed(&app, event).await).await;
    }
    let invoice = ok(app.get(&format!("/v1/invoices/{april_invoice}")).await).await;
    assert_eq!(
        (invoice["status"].as_str(), invoice["amount_due"].as_i64()),
        (Some("paid"), Some(0)),
        "{invoice}"
    );
    let payments = ok(app
        .get(&format!("/v1/payments?customer_id={customer}"))
        .await)
    .await;
    let payments = payments["data"].as_array().unwrap();
    assert_eq!(
        payments.len(),
        2,
        "the card payment recorded once: {payments:?}"
    );
    assert_eq!(
        (
            payments[0]["method"].as_str(),
            payments[0]["amount"].as_i64()
        ),
        (Some("card"), Some(10_000))
    );
    assert_eq!(
        balances(&app, &format!("receivable:{customer}")).await,
        (15_750, 15_750)
    );
    assert_eq!(balances(&app, "clearing:test").await, (10_000, 0));
    assert_eq!(
        balances(&app, &format!("customer_credit:{customer}")).await,
        (15_750, 15_750)
    );
    assert_eq!(
        statuses(&app, &customer, &contract_id).await,
        ("active".into(), "active".into())
    );
    expect_error(
        app.post(
            &format!("/v1/invoices/{april_invoice}/payment_link"),
            json!({}),
        )
        .await,
        409,
        "invoice_not_payable",
        None,
    )
    .await;

    // The overdue path: March's invoice issued now, due in 14 days, not paid.
    let march_issued = ok(app
        .post(&format!("/v1/invoices/{march_invoice}/issue"), json!({}))
        .await)
    .await;
    assert_eq!(march_issued["number"], "INV-2026-000002");
    clock.advance_seconds(15 * 86_400); // 2026-04-16
    bursar_core::collections::sweep(&state)
        .await
        .unwrap();
    assert_eq!(
        statuses(&app, &customer, &contract_id).await,
        ("past_due".into(), "past_due".into())
    );
    clock.advance_seconds(30 * 86_400); // 2026-05-16: 31 days late
    bursar_core::collections::sweep(&state)
        .await
        .unwrap();
    assert_eq!(
        statuses(&app, &customer, &contract_id).await,
        ("collections".into(), "collections".into())
    );
    assert_eq!(
        ok(app
            .get(&format!("/v1/customers/{customer}/entitlements"))
            .await)
        .await["access"],
        "limited"
    );
    ok(app.post("/v1/payments", json!({"reference": "ref-billing-457", "customer_id": customer, "currency": "EUR", "amount": 10_000, "method": "bank_transfer"})).await).await;
    assert_eq!(
        statuses(&app, &customer, &contract_id).await,
        ("active".into(), "active".into())
    );
    let history = ok(app
        .get(&format!("/v1/contracts/{contract_id}/billing_status"))
        .await)
    .await;
    let reasons: Vec<&str> = history["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        vec![
            "first_invoice_issued",
            "invoice_overdue",
            "invoice_overdue_over_30_days",
            "overdue_invoices_paid"
        ]
    );
    assert_eq!(
        balances(&app, &format!("receivable:{customer}")).await,
        (25_750, 25_750)
    );

    // May, billed by the server's billing loop: April's usage, with the late March event.
    let billed = bursar_core::billing::run_due_billing(&state).await.unwrap();
    assert_eq!(billed, 1);
    assert_eq!(
        bursar_core::billing::run_due_billing(&state).await.unwrap(),
        0,
        "not due again before June"
    );
    let may = ok(app
        .get(&format!("/v1/invoices?customer_id={customer}"))
        .await)
    .await;
    let may = may["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["period_start"] == "2026-05-01T00:00:00Z")
        .unwrap()
        .clone();
    let usage: Vec<i64> = may["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] == "usage")
        .map(|l| l["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(
        usage,
        vec![600, 0],
        "200 + 100 small tokens at 2; no large ones: {may}"
    );

    // The contract ends on May 16: a final invoice bills May's arrears up to then — Support's
    // share (15 days and a minute of 31: 3,000 × 1,296,060 / 2,678,400 = 1,451.7 → 1,452) and
    // the usage since May 1 (a large-model event on May 10) — once.
    ingest(
        &app,
        &[("e6", "ulla-app", "2026-05-10T00:00:00Z", 40, "large")],
    )
    .await;
    ok(app.post(&operations, json!({"type": "terminate"})).await).await;
    assert_eq!(
        bursar_core::billing::run_due_billing(&state).await.unwrap(),
        1
    );
    assert_eq!(
        bursar_core::billing::run_due_billing(&state).await.unwrap(),
        0
    );
    let invoices = ok(app
        .get(&format!("/v1/invoices?customer_id={customer}"))
        .await)
    .await;
    let last = invoices["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["period_end"] == "2026-05-16T00:01:00Z")
        .unwrap()
        .clone();
    let amounts: Vec<(&str, i64)> = last["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["kind"].as_str().unwrap(), l["amount"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        amounts,
        vec![("fixed", 1_452), ("usage", 80), ("usage", 40)],
        "{last}"
    );
    assert_eq!(
        ok(app
            .get(&format!("/v1/customers/{customer}/usage_subjects"))
            .await)
        .await["closed_until"],
        "2026-05-16T00:01:00Z"
    );

    // The contract ended with nothing owed (its last invoices are drafts): its status closes.
    bursar_core::collections::sweep(&state)
        .await
        .unwrap();
    let closed = ok(app
        .get(&format!("/v1/contracts/{contract_id}/billing_status"))
        .await)
    .await;
    assert_eq!(
        (closed["status"].as_str(), closed["reason"].as_str()),
        (Some("closed"), Some("contract_ended"))
    );
    assert_eq!(
        statuses(&app, &customer, &contract_id).await.0,
        "active",
        "the customer stays active"
    );
}
}

both_backends! {
/// Goal: the server's billing loop bills a contract once per period with the settings' tax
/// rate on its lines, and issues the draft once it is `auto_issue_after_hours` old (never
/// when unset); bad settings are refused naming the field.
async fn billed_drafts_are_taxed_and_issued_automatically(
    app: TestApp = crate::helpers::TestApp::spawn_with_clock,
    clock: ManualClock = "2026-03-01T00:01:00Z",
) {
    let state = app.core().clone();
    let vat = id(&ok(app
        .post(
            "/v1/tax_rates",
            json!({"display_name": "VAT", "jurisdiction": "DE", "percentage": "19"}),
        )
        .await)
    .await);
    expect_error(
        app.post(
            "/v1/invoice_settings",
            json!({"default_tax_rate_id": "txr_nope"}),
        )
        .await,
        404,
        "resource_missing",
        Some("default_tax_rate_id"),
    )
    .await;
    expect_error(
        app.post(
            "/v1/invoice_settings",
            json!({"auto_issue_after_hours": 100_000}),
        )
        .await,
        400,
        "parameter_invalid",
        Some("auto_issue_after_hours"),
    )
    .await;
    let settings = ok(app
        .post(
            "/v1/invoice_settings",
            json!({"default_tax_rate_id": vat, "auto_issue_after_hours": 1}),
        )
        .await)
    .await;
    assert_eq!(
        (
            settings["default_tax_rate_id"].as_str(),
            settings["auto_issue_after_hours"].as_u64()
        ),
        (Some(vat.as_str()), Some(1))
    );

    let customer = id(&ok(app.post("/v1/customers", json!({"name": "Vic"})).await).await);
    let plan = id(&ok(app
        .post("/v1/products", json!({"name": "Plan", "kind": "service"}))
        .await)
    .await);
    let start = "2026-03-01T00:00:00Z";
    let contract = id(&ok(app.post("/v1/contracts", json!({"buyer_id": customer, "currency": "EUR", "effective_at": start, "term": {"start": start},
        "lines": [{"product_id": plan, "unit_amount": 10_000}]})).await).await);
    ok(app
        .post(
            &format!("/v1/contracts/{contract}/operations"),
            json!({"type": "activate", "effective_at": start}),
        )
        .await)
    .await;

    assert_eq!(
        bursar_core::billing::run_due_billing(&state).await.unwrap(),
        1
    );
    assert_eq!(
        bursar_core::billing::run_due_billing(&state).await.unwrap(),
        0,
        "billed until April"
    );
    let invoices = ok(app
        .get(&format!("/v1/invoices?customer_id={customer}"))
        .await)
    .await;
    let draft = invoices["data"][0].clone();
    assert_eq!(
        (
            draft["status"].as_str(),
            draft["tax"].as_i64(),
            draft["total"].as_i64()
        ),
        (Some("draft"), Some(1_900), Some(11_900)),
        "{draft}"
    );
    assert_eq!(draft["lines"][0]["tax_rate_id"], json!(vat));
    assert_eq!(
        bursar_core::billing::issue_due_drafts(&state)
            .await
            .unwrap(),
        0,
        "not an hour old"
    );
    clock.advance_seconds(3_600);
    assert_eq!(
        bursar_core::billing::issue_due_drafts(&state)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        bursar_core::billing::issue_due_drafts(&state)
            .await
            .unwrap(),
        0
    );
    let issued = ok(app.get(&format!("/v1/invoices/{}", id(&draft))).await).await;
    assert_eq!(
        (issued["status"].as_str(), issued["number"].as_str()),
        (Some("issued"), Some("INV-2026-000001"))
    );
    assert_eq!(issued["amount_due"], 11_900);

    // Prepaid credit (a payment kept as credit) is consumed when the next billed invoice is
    // issued: April's 11,900 less 5,000.
    ok(app.post("/v1/payments", json!({"reference": "ref-billing-707", "customer_id": customer, "currency": "EUR", "amount": 5_000, "method": "bank_transfer", "allocations": []})).await).await;
    clock.advance_seconds(31 * 86_400);
    assert_eq!(
        bursar_core::billing::run_due_billing(&state).await.unwrap(),
        1
    );
    clock.advance_seconds(3_600);
    assert_eq!(
        bursar_core::billing::issue_due_drafts(&state)
            .await
            .unwrap(),
        1
    );
    let april = ok(app
        .get(&format!("/v1/invoices?customer_id={customer}"))
        .await)
    .await;
    let april = april["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["period_start"] == "2026-04-01T00:00:00Z")
        .unwrap()
        .clone();
    assert_eq!(
        (
            april["status"].as_str(),
            april["amount_paid"].as_i64(),
            april["amount_due"].as_i64()
        ),
        (Some("issued"), Some(5_000), Some(6_900)),
        "{april}"
    );

    // Off again: May's draft waits for a person.
    ok(app
        .post(
            "/v1/invoice_settings",
            json!({"auto_issue_after_hours": -1}),
        )
        .await)
    .await;
    clock.advance_seconds(30 * 86_400 - 3_600);
    assert_eq!(
        bursar_core::billing::run_due_billing(&state).await.unwrap(),
        1
    );
    clock.advance_seconds(10 * 86_400);
    assert_eq!(
        bursar_core::billing::issue_due_drafts(&state)
            .await
            .unwrap(),
        0
    );
}
}

both_backends! {
/// Goal: usage ingested while its period is being billed is counted exactly once — on the
/// invoice being made, or (counted at the close) on the next one — never lost, never twice.
async fn usage_ingested_while_billing_is_counted_once(
    app: TestApp = crate::helpers::TestApp::spawn_with_clock,
    clock: ManualClock = "2026-04-01T00:01:00Z",
) {
    let meter = app.post("/api/v1/meters", json!({"slug": "tokens", "aggregation": "SUM", "eventType": "prompt", "valueProperty": "$.tokens"})).await;
    assert_eq!(meter.status(), 201);
    let tokens = id(&ok(app
        .post("/v1/products", json!({"name": "tokens", "kind": "service"}))
        .await)
    .await);
    let start = "2026-03-01T00:00:00Z";
    let mut customers = Vec::new();
    for n in 0..24 {
        let customer = id(&ok(app
            .post("/v1/customers", json!({"name": format!("Racer {n}")}))
            .await)
        .await);
        let contract = id(&ok(app.post("/v1/contracts", json!({"buyer_id": customer, "currency": "EUR", "effective_at": start, "term": {"start": start},
            "lines": [{"product_id": tokens, "usage": {"meter": "tokens", "pricing": {"model": "per_unit", "unit_price": "1"}}}]})).await).await);
        ok(app
            .post(
                &format!("/v1/contracts/{contract}/operations"),
                json!({"type": "activate", "effective_at": start}),
            )
            .await)
        .await;
        customers.push(customer);
    }
    // 40 batches of one March event per customer, while April's billing run closes March.
    let batches = 40;
    let ingesting = {
        let (app, customers) = (&app, customers.clone());
        async move {
            for b in 0..batches {
                let events: Vec<(String, String)> = customers
                    .iter()
                    .map(|c| (format!("{c}-{b}"), c.clone()))
                    .collect();
                let refs: Vec<(&str, &str, &str, i64, &str)> = events
                    .iter()
                    .map(|(id, c)| (id.as_str(), c.as_str(), "2026-03-31T12:00:00Z", 1, "small"))
                    .collect();
                ingest(app, &refs).await;
            }
        }
    };
    let billing = async {
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        ok(app.post("/v1/billing_runs", json!({})).await).await
    };
    let ((), april) = tokio::join!(ingesting, billing);
    assert_eq!(
        april["invoices_created"].as_array().unwrap().len(),
        customers.len(),
        "{april}"
    );
    clock.advance_seconds(30 * 86_400);
    ok(app.post("/v1/billing_runs", json!({})).await).await;
    for customer in &customers {
        let invoices = ok(app
            .get(&format!("/v1/invoices?customer_id={customer}"))
            .await)
        .await;
        let usage: i64 = invoices["data"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|i| i["lines"].as_array().unwrap().iter())
            .filter(|l| l["kind"] == "usage")
            .map(|l| l["amount"].as_i64().unwrap())
            .sum();
        assert_eq!(usage, batches, "{customer}: {invoices}");
    }
}
}
