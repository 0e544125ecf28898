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
