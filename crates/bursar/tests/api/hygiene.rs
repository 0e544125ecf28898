//! Inputs every route refuses the same way on both backends: NUL characters anywhere in text,
//! and malformed paths, always answered in the JSON error envelope.

use crate::both_backends;
use crate::helpers::*;

both_backends! {
    /// Goal: a NUL character in a JSON string, a path id or a query is a 400 that names where,
    /// on PostgreSQL (which cannot store it) exactly as on SQLite (which could), and nothing is
    /// written.
    async fn nul_characters_are_refused_naming_the_field(app: TestApp) {
        let refused = app.post("/v1/customers", json!({"name": "Ada\u{0}Lovelace"})).await;
        expect_error(refused, 400, "parameter_invalid", Some("name")).await;
        let nested = app.post("/v1/customers", json!({"name": "Ada", "metadata": {"k\u{0}": "v"}})).await;
        expect_error(nested, 400, "parameter_invalid", Some("metadata")).await;
        let listed = json_body(app.get("/v1/customers").await).await;
        assert_eq!(listed["data"].as_array().unwrap().len(), 0, "nothing written: {listed}");
        let in_path = app.get("/v1/orders/ord_%00x").await;
        expect_error(in_path, 400, "parameter_invalid", Some("path")).await;
        let in_query = app.get("/v1/customers?starting_after=%00").await;
        expect_error(in_query, 400, "parameter_invalid", Some("query")).await;
        let usage = app
            .client
            .post(app.url("/api/v1/events"))
            .bearer_auth(&app.admin_key)
            .header("content-type", "application/cloudevents+json")
            .body(r#"{"specversion":"1.0","id":"e\u0000","source":"s","type":"t","subject":"x"}"#)
            .send()
            .await
            .unwrap();
        expect_error(usage, 400, "parameter_invalid", Some("id")).await;
    }
}

both_backends! {
    /// Goal: a path that does not decode (invalid UTF-8) is a 400 in the JSON error envelope,
    /// not axum's plain-text rejection.
    async fn undecodable_paths_answer_in_the_error_envelope(app: TestApp) {
        let response = app.get("/v1/orders/%FF%FE").await;
        assert_eq!(response.status().as_u16(), 400);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        let body = json_body(response).await;
        assert_eq!(body["error"]["code"], "parameter_invalid", "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("UTF-8"), "{body}");
    }
}

both_backends! {
    /// Goal: a usage event dated far from now (year 9999, year 1) is refused with a 400 naming
    /// `time`, so one bad producer cannot break its meter's queries for everyone.
    async fn usage_events_far_from_now_are_refused(app: TestApp) {
        for time in ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"] {
            let body = format!(r#"{{"specversion":"1.0","id":"e-{time}","source":"s","type":"t","subject":"x","time":"{time}"}}"#);
            let response = app
                .client
                .post(app.url("/api/v1/events"))
                .bearer_auth(&app.admin_key)
                .header("content-type", "application/cloudevents+json")
                .body(body)
                .send()
                .await
                .unwrap();
            let error = expect_error(response, 400, "event_invalid", Some("time")).await;
            assert!(error["error"]["message"].as_str().unwrap().contains("five years ago"), "{error}");
        }
    }
}

both_backends! {
    /// Goal: money is never recorded twice and one huge amount cannot poison a currency:
    /// `POST /v1/payments` needs an Idempotency-Key or a unique reference, refunds and credit
    /// notes (no natural id) an Idempotency-Key; a reference is
    /// recorded once; an amount beyond 10^15 minor units is a 400 naming `amount`, and payments
    /// in that currency keep working afterwards.
    async fn payments_are_recorded_once_and_bounded(app: TestApp) {
        let customer = json_body(app.post("/v1/customers", json!({"name": "Payer"})).await).await["id"].as_str().unwrap().to_owned();
        let payment = |amount: i64, reference: Option<&str>| {
            let mut body = json!({"customer_id": customer, "currency": "EUR", "amount": amount, "method": "bank_transfer"});
            if let Some(reference) = reference {
                body["reference"] = json!(reference);
            }
            app.post("/v1/payments", body)
        };
        expect_error(payment(100, None).await, 400, "idempotency_key_required", Some("Idempotency-Key")).await;
        let refund = app.post("/v1/orders/ord_00000000000000000000000000/refunds", json!({"amount": 100})).await;
        expect_error(refund, 400, "idempotency_key_required", Some("Idempotency-Key")).await;
        let credit = app.post("/v1/credit_notes", json!({"invoice_id": "in_00000000000000000000000000", "amount": 100})).await;
        expect_error(credit, 400, "idempotency_key_required", Some("Idempotency-Key")).await;
        let with_key = app.client.post(app.url("/v1/payments")).bearer_auth(&app.admin_key).header("idempotency-key", "pay-1")
            .json(&json!({"customer_id": customer, "currency": "EUR", "amount": 100, "method": "bank_transfer"})).send().await.unwrap();
        assert_eq!(with_key.status(), 200);
        assert_eq!(payment(250, Some("SEPA-42")).await.status(), 200);
        let twice = expect_error(payment(250, Some("SEPA-42")).await, 409, "payment_reference_taken", Some("reference")).await;
        assert!(twice["error"]["message"].as_str().unwrap().contains("(py_"), "{twice}");
        expect_error(payment(i64::MAX, Some("huge")).await, 400, "parameter_invalid", Some("amount")).await;
        expect_error(payment(1_000_000_000_000_001, Some("huge")).await, 400, "parameter_invalid", Some("amount")).await;
        assert_eq!(payment(1_000_000_000_000_000, Some("largest")).await.status(), 200);
        assert_eq!(payment(300, Some("after")).await.status(), 200, "the currency still takes payments");
        let listed = json_body(app.get("/v1/payments").await).await;
        assert_eq!(listed["data"].as_array().unwrap().len(), 4, "{listed}");
        let line = json!({"customer_id": customer, "currency": "EUR", "lines": [{"description": "Too much", "unit_amount": i64::MAX}]});
        expect_error(app.post("/v1/invoices", line).await, 400, "parameter_invalid", Some("lines[0]")).await;
    }
}

both_backends! {
    /// Goal: concurrent changes to one aggregate that has no row to lock (a customer's usage
    /// subjects) all succeed, each event with its own sequence number — never a 500 from two
    /// transactions taking the same one.
    async fn concurrent_events_of_one_aggregate_get_distinct_sequences(app: TestApp) {
        let customer = json_body(app.post("/v1/customers", json!({"name": "Busy"})).await).await["id"].as_str().unwrap().to_owned();
        let path = format!("/v1/customers/{customer}/usage_subjects");
        let requests = (0..30).map(|i| app.post(&path, json!({"subject": format!("busy-{i}")})));
        let statuses: Vec<u16> = futures::future::join_all(requests).await.iter().map(|r| r.status().as_u16()).collect();
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    }
}

both_backends! {
    /// Goal: an inbound provider webhook is read up to 256 KiB (its signature can only be
    /// checked after reading it): a bigger body is a 413 in the error envelope, unhashed.
    async fn inbound_webhooks_have_a_small_body_limit(app: TestApp) {
        let big = "x".repeat(300 * 1024);
        let response = app.client.post(app.url("/v1/webhooks/test")).header("stripe-signature", "t=1,v1=00").body(big).send().await.unwrap();
        assert_eq!(response.status(), 413);
        let body = json_body(response).await;
        assert_eq!(body["error"]["code"], "body_too_large", "{body}");
    }
}
