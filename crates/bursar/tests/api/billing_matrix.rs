//! The invoice scenario matrix: every pricing model at its edges, both fee timings,
//! commitments, group filters, mid-period and back-dated changes, through the real billing
//! path, with canary rows that must fail.

use crate::billing::ingest;
use crate::both_backends;
use crate::helpers::*;

/// One row of the invoice scenario matrix: a contract from 2026-03-01 (its lines, usage in
/// March, changes), and April's invoice total computed by hand: April's fees in advance,
/// March's fees in arrears, March's usage rated, March's changes prorated.
struct Scenario {
    name: &'static str,
    lines: Value,
    /// (tokens, model) on 2026-03-10.
    usage: &'static [(i64, &'static str)],
    /// Operations; `"line": i` names the contract's i-th line.
    changes: Value,
    expected_total: i64,
    /// A deliberately wrong expectation: the harness must find it wrong.
    canary: bool,
    /// The contract's trial ends then.
    trial_ends_at: Option<&'static str>,
}

fn scenarios(p: &std::collections::HashMap<&str, String>) -> Vec<Scenario> {
    let usage = |pricing: Value| json!({"product_id": p["tokens"], "usage": {"meter": "tokens", "pricing": pricing}});
    let row = |name,
               lines: Value,
               usage: &'static [(i64, &'static str)],
               changes: Value,
               expected_total,
               canary| Scenario {
        name,
        lines,
        usage,
        changes,
        expected_total,
        canary,
        trial_ends_at: None,
    };
    let graduated = json!({"model": "graduated", "tiers": [{"up_to": "100", "unit_price": "10"}, {"unit_price": "5"}]});
    vec![
        row(
            "fixed fee in advance",
            json!([{"product_id": p["plan"], "unit_amount": 5_000}]),
            &[],
            json!([]),
            5_000,
            false,
        ),
        row(
            "fixed fee in arrears (March)",
            json!([{"product_id": p["plan"], "unit_amount": 2_000, "timing": "in_arrears"}]),
            &[],
            json!([]),
            2_000,
            false,
        ),
        row(
            "both timings, two seats",
            json!([{"product_id": p["plan"], "unit_amount": 1_500, "quantity": 2},
            {"product_id": p["support"], "unit_amount": 700, "timing": "in_arrears"}]),
            &[],
            json!([]),
            3_700,
            false,
        ),
        row(
            "per unit, zero usage",
            json!([usage(json!({"model": "per_unit", "unit_price": "3"}))]),
            &[],
            json!([]),
            0,
            false,
        ),
        // 333 × 0.5 = 166.5 → 167 (half away from zero).
        row(
            "per unit, half a cent rounds up",
            json!([usage(json!({"model": "per_unit", "unit_price": "0.5"}))]),
            &[(333, "small")],
            json!([]),
            167,
            false,
        ),
        row(
            "graduated, exactly at the tier boundary",
            json!([usage(graduated.clone())]),
            &[(60, "small"), (40, "small")],
            json!([]),
            1_000,
            false,
        ),
        row(
            "graduated, one over the boundary",
            json!([usage(graduated.clone())]),
            &[(101, "small")],
            json!([]),
            1_005,
            false,
        ),
        // 250 falls in the second tier: all at 8.
        row(
            "volume",
            json!([usage(
                json!({"model": "volume", "tiers": [{"up_to": "100", "unit_price": "10"}, {"up_to": "1000", "unit_price": "8"}, {"unit_price": "6"}]})
            )]),
            &[(250, "small")],
            json!([]),
            2_000,
            false,
        ),
        // 201 units: 3 started packages of 100.
        row(
            "package, rounded up",
            json!([usage(
                json!({"model": "package", "package_size": "100", "package_amount": 900})
            )]),
            &[(201, "small")],
            json!([]),
            2_700,
            false,
        ),
        row(
            "package, zero usage",
            json!([usage(
                json!({"model": "package", "package_size": "100", "package_amount": 900})
            )]),
            &[],
            json!([]),
            0,
            false,
        ),
        row(
            "flat usage price",
            json!([usage(json!({"model": "flat", "amount": 4_000}))]),
            &[(5, "small")],
            json!([]),
            4_000,
            false,
        ),
        // 400 used, 1,000 committed: 600 trued up.
        row(
            "usage under its commitment",
            json!([usage(json!({"model": "per_unit", "unit_price": "1"}))]),
            &[(400, "small")],
            json!([{"type": "set_commitment", "line": 0, "minimum_commitment": 1_000}]),
            1_000,
            false,
        ),
        row(
            "usage over its commitment",
            json!([usage(json!({"model": "per_unit", "unit_price": "1"}))]),
            &[(1_500, "small")],
            json!([{"type": "set_commitment", "line": 0, "minimum_commitment": 1_000}]),
            1_500,
            false,
        ),
        // 2 × 1,000 = 2,000 < 5,000 committed.
        row(
            "fixed fee under its commitment",
            json!([{"product_id": p["plan"], "unit_amount": 1_000, "quantity": 2}]),
            &[],
            json!([{"type": "set_commitment", "line": 0, "minimum_commitment": 5_000}]),
            5_000,
            false,
        ),
        row(
            "usage filtered by group",
            json!([{"product_id": p["tokens"], "usage": {"meter": "tokens", "filter_group_by": {"model": "large"}, "pricing": {"model": "per_unit", "unit_price": "2"}}}]),
            &[(100, "small"), (50, "large")],
            json!([]),
            100,
            false,
        ),
        // The same commitment set after March was billed (back-dated to its first instant):
        // March's 2,000 billed falls 3,000 short, prorated over the whole period.
        row(
            "commitment back-dated to a billed period's start",
            json!([{"product_id": p["plan"], "unit_amount": 1_000, "quantity": 2}]),
            &[],
            json!([{"type": "set_commitment", "line": 0, "minimum_commitment": 5_000, "late": true}]),
            5_000 + 3_000,
            false,
        ),
        // A second seat from March 16: 16 of March's 31 days (the day of the change counts) ×
        // 3,100 = 1,600 in arrears; April in advance at 2 × 3,100.
        row(
            "quantity raised mid-period",
            json!([{"product_id": p["plan"], "unit_amount": 3_100}]),
            &[],
            json!([{"type": "change_quantity", "line": 0, "quantity": 2, "effective_at": "2026-03-16T00:00:00Z"}]),
            6_200 + 1_600,
            false,
        ),
        // Price lowered from March 26: 6 of 31 days × (1,550 − 3,100) = −300.
        row(
            "price lowered late in the period",
            json!([{"product_id": p["plan"], "unit_amount": 3_100}]),
            &[],
            json!([{"type": "change_price", "line": 0, "unit_amount": 1_550, "effective_at": "2026-03-26T00:00:00Z"}]),
            1_550 - 300,
            false,
        ),
        row(
            "fixed, usage and a true-up together",
            json!([{"product_id": p["plan"], "unit_amount": 10_000}, usage(graduated.clone())]),
            &[(150, "small"), (30, "large")],
            json!([]),
            10_000 + 1_000 + 400,
            false,
        ),
        // March in trial: no fees in arrears for it, no usage; April's fee in advance.
        Scenario {
            trial_ends_at: Some("2026-04-01T00:00:00Z"),
            ..row(
                "a trial month owes nothing",
                json!([{"product_id": p["plan"], "unit_amount": 1_000},
                    {"product_id": p["support"], "unit_amount": 2_000, "timing": "in_arrears"},
                    usage(json!({"model": "per_unit", "unit_price": "1"}))]),
                &[(300, "small")],
                json!([]),
                1_000,
                false,
            )
        },
        // Canaries: half-even rounding (166) and a tier boundary off by one (1,010) are wrong.
        row(
            "CANARY: half-even rounding",
            json!([usage(json!({"model": "per_unit", "unit_price": "0.5"}))]),
            &[(333, "small")],
            json!([]),
            166,
            true,
        ),
        row(
            "CANARY: boundary unit in the upper tier",
            json!([usage(graduated)]),
            &[(101, "small")],
            json!([]),
            1_010,
            true,
        ),
    ]
}

both_backends! {
/// Goal: invoice totals of a matrix of contracts (fixed fees either timing, every pricing model
/// at its edges, commitments, group filters, mid-period changes), billed through the real path
/// — API, meters, billing runs — equal hand-computed totals; the canary rows, deliberately
/// wrong, must be reported wrong, so a harness that passes everything fails here.
async fn the_invoice_scenario_matrix_holds_and_its_canaries_fail(
    app: TestApp = crate::helpers::TestApp::spawn_with_clock,
    clock: ManualClock = "2026-03-01T00:01:00Z",
) {
    let meter = app
        .post(
            "/api/v1/meters",
            json!({"slug": "tokens", "aggregation": "SUM", "eventType": "prompt",
        "valueProperty": "$.tokens", "groupBy": {"model": "$.model"}}),
        )
        .await;
    assert_eq!(meter.status(), 201);
    let mut products = std::collections::HashMap::new();
    for name in ["plan", "support", "tokens"] {
        products.insert(
            name,
            id(&ok(app
                .post("/v1/products", json!({"name": name, "kind": "service"}))
                .await)
            .await),
        );
    }
    let start = "2026-03-01T00:00:00Z";
    let rows = scenarios(&products);
    let mut contracts = Vec::new();
    for (n, row) in rows.iter().enumerate() {
        let customer = id(&ok(app.post("/v1/customers", json!({"name": row.name})).await).await);
        let mut body = json!({"buyer_id": customer, "currency": "EUR", "effective_at": start,
            "term": {"start": start}, "billing": {"anchor_day": 1}, "lines": row.lines});
        if let Some(trial_end) = row.trial_ends_at {
            body["trial_ends_at"] = json!(trial_end);
        }
        let contract = ok(app.post("/v1/contracts", body).await).await;
        let contract_id = id(&contract);
        let operations = format!("/v1/contracts/{contract_id}/operations");
        ok(app
            .post(
                &operations,
                json!({"type": "activate", "effective_at": start}),
            )
            .await)
        .await;
        for change in row
            .changes
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c.get("late").is_none())
        {
            let mut change = change.clone();
            if let Some(line) = change.as_object_mut().unwrap().remove("line") {
                change["line_id"] =
                    contract["lines"][line.as_u64().unwrap() as usize]["id"].clone();
            }
            if change.get("effective_at").is_none() {
                change["effective_at"] = json!(start);
            }
            ok(app.post(&operations, change).await).await;
        }
        let events: Vec<(String, i64, &str)> = row
            .usage
            .iter()
            .enumerate()
            .map(|(i, (tokens, model))| (format!("row{n}-{i}"), *tokens, *model))
            .collect();
        let refs: Vec<(&str, &str, &str, i64, &str)> = events
            .iter()
            .map(|(id, tokens, model)| {
                (
                    id.as_str(),
                    customer.as_str(),
                    "2026-03-10T00:00:00Z",
                    *tokens,
                    *model,
                )
            })
            .collect();
        if !refs.is_empty() {
            ingest(&app, &refs).await;
        }
        contracts.push(contract_id);
    }
    // March is billed at its start; then the changes recorded late; the clock moves to April.
    ok(app.post("/v1/billing_runs", json!({})).await).await;
    for (row, contract_id) in rows.iter().zip(&contracts) {
        for change in row
            .changes
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c.get("late").is_some())
        {
            let contract = ok(app.get(&format!("/v1/contracts/{contract_id}")).await).await;
            let mut change = change.clone();
            let fields = change.as_object_mut().unwrap();
            fields.remove("late");
            let line = fields.remove("line").unwrap();
            change["line_id"] = contract["lines"][line.as_u64().unwrap() as usize]["id"].clone();
            change["effective_at"] = json!(start);
            ok(app
                .post(&format!("/v1/contracts/{contract_id}/operations"), change)
                .await)
            .await;
        }
    }
    clock.advance_seconds(31 * 86_400);
    let run = ok(app.post("/v1/billing_runs", json!({})).await).await;
    assert_eq!(
        run["invoices_created"].as_array().unwrap().len(),
        rows.len(),
        "{run}"
    );

    let mut wrong = Vec::new();
    for (row, contract_id) in rows.iter().zip(&contracts) {
        let invoices = ok(app.get("/v1/invoices?limit=100").await).await;
        let april = invoices["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| {
                i["contract_id"] == json!(contract_id)
                    && i["period_start"] == "2026-04-01T00:00:00Z"
            })
            .unwrap_or_else(|| panic!("{}: no April invoice", row.name))
            .clone();
        let total = april["total"].as_i64().unwrap();
        let holds = total == row.expected_total;
        match (holds, row.canary) {
            (true, false) | (false, true) => {}
            (false, false) => wrong.push(format!(
                "{}: expected {}, invoiced {total}: {april}",
                row.name, row.expected_total
            )),
            (true, true) => wrong.push(format!(
                "{}: a canary held — the harness checks nothing",
                row.name
            )),
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_eq!(rows.iter().filter(|r| r.canary).count(), 2);
}
}
