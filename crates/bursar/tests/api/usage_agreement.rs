//! One usage aggregation: a meter query and the usage a billing run rates agree for the same
//! customer and period, because both read the rollups through `meter_query::aggregate`.

use crate::both_backends;
use crate::helpers::*;

async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body = json_body(response).await;
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// The value a meter query answers for one customer over `[from, to)` (summed over its
/// subjects, one row each), with extra parameters.
async fn queried(app: &TestApp, customer: &str, extra: &str) -> f64 {
    let path = format!(
        "/api/v1/meters/tokens/query?filterCustomerId={customer}\
         &from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z{extra}"
    );
    let answer = ok(app.get(&path).await).await;
    let rows = answer["data"].as_array().unwrap();
    for row in rows {
        assert_eq!(row["customerId"], customer, "{answer}");
        assert_eq!(
            row["windowStart"], "2026-03-01T00:00:00Z",
            "one window: {answer}"
        );
    }
    rows.iter().map(|row| row["value"].as_f64().unwrap()).sum()
}

both_backends! {
    /// Goal: the invoice's usage quantity and the meter query of the same customer and period
    /// are the same number, for a plain and a group-filtered line. Method: events at the
    /// period's first and last second (in), at its end (out), another customer's (out), over
    /// two subjects of the customer and two models; a billing run after the period; the rated
    /// quantities against the meter query and against the sums by hand (so agreement on zero
    /// cannot pass).
    async fn the_meter_query_and_the_invoice_agree_on_usage(
        app: TestApp = crate::helpers::TestApp::spawn_with_clock,
        clock: ManualClock = "2026-03-01T00:01:00Z",
    ) {
        let meter = app.post("/api/v1/meters", json!({"slug": "tokens", "name": "tokens",
            "aggregation": "SUM", "eventType": "prompt", "valueProperty": "$.tokens",
            "groupBy": {"model": "$.model"}})).await;
        assert_eq!(meter.status(), 201);
        let customer = id(&ok(app.post("/v1/customers", json!({"name": "Ulla"})).await).await);
        let other = id(&ok(app.post("/v1/customers", json!({"name": "Otto"})).await).await);
        ok(app.post(&format!("/v1/customers/{customer}/usage_subjects"), json!({"subject": "ulla-app"})).await).await;
        ok(app.post(&format!("/v1/customers/{other}/usage_subjects"), json!({"subject": "otto-app"})).await).await;
        let tokens = id(&ok(app.post("/v1/products", json!({"name": "Tokens", "kind": "service"})).await).await);
        let large = id(&ok(app.post("/v1/products", json!({"name": "Large", "kind": "service"})).await).await);
        let start = "2026-03-01T00:00:00Z";
        let contract = id(&ok(app.post("/v1/contracts", json!({"buyer_id": customer, "currency": "EUR",
            "effective_at": start, "term": {"start": start}, "billing": {"anchor_day": 1},
            "lines": [
                {"product_id": tokens, "usage": {"meter": "tokens", "pricing": {"model": "per_unit", "unit_price": "1"}}},
                {"product_id": large, "usage": {"meter": "tokens", "filter_group_by": {"model": "large"},
                    "pricing": {"model": "per_unit", "unit_price": "1"}}},
            ]})).await).await);
        ok(app.post(&format!("/v1/contracts/{contract}/operations"), json!({"type": "activate", "effective_at": start})).await).await;
        ok(app.post("/v1/billing_runs", json!({})).await).await;

        clock.advance_seconds(31 * 86_400); // 2026-04-01T00:01:00Z
        let events = [
            ("a", customer.as_str(), "2026-03-01T00:00:00Z", 100, "small"),
            ("b", "ulla-app", "2026-03-15T12:30:00Z", 250, "large"),
            ("c", "ulla-app", "2026-03-31T23:59:59Z", 40, "large"),
            ("d", customer.as_str(), "2026-03-20T08:00:00Z", 7, "small"),
            ("e", "ulla-app", "2026-04-01T00:00:00Z", 1_000, "large"),
            ("f", "otto-app", "2026-03-10T00:00:00Z", 5_000, "large"),
        ];
        let body: Vec<Value> = events.iter().map(|(id, subject, time, tokens, model)| json!({
            "specversion": "1.0", "id": id, "source": "agreement", "type": "prompt",
            "subject": subject, "time": time, "data": {"tokens": tokens, "model": model}})).collect();
        let response = app.client.post(app.url("/api/v1/events")).bearer_auth(&app.admin_key)
            .header("content-type", "application/cloudevents-batch+json")
            .body(Value::Array(body).to_string()).send().await.unwrap();
        assert_eq!(response.status(), 204);

        let (all, large_only) = (
            queried(&app, &customer, "").await,
            queried(&app, &customer, "&filterGroupBy[model]=large").await,
        );
        assert_eq!((all, large_only), (397.0, 290.0), "March by hand: 100+250+40+7, 250+40");

        let april = ok(app.post("/v1/billing_runs", json!({})).await).await;
        let invoice_id = april["invoices_created"][0].as_str().unwrap().to_owned();
        let invoice = ok(app.get(&format!("/v1/invoices/{invoice_id}")).await).await;
        let quantities: Vec<f64> = invoice["lines"].as_array().unwrap().iter()
            .filter(|line| line["kind"] == "usage")
            .map(|line| line["rating"]["rated"]["quantity"].as_str().unwrap().parse().unwrap())
            .collect();
        assert_eq!(quantities, vec![all, large_only], "{invoice}");
        assert_eq!(queried(&app, &customer, "").await, all, "billing changed no stored usage");
    }
}
