//! Domain events: recorded with the change they describe, shown on timelines.

use crate::both_backends;
use crate::helpers::*;

both_backends! {
    /// Goal: every customer mutation records its event in the same transaction — once, even
    /// when the request is replayed; nothing when the mutation is refused — and the timeline
    /// shows them in order with their cause (request id, API key).
    async fn customer_changes_are_on_its_timeline(app: TestApp) {
        let create = |key: &'static str| {
            app.client
                .post(app.url("/v1/customers"))
                .bearer_auth(&app.admin_key)
                .header("Idempotency-Key", key)
                .json(&json!({"email": "ada@example.com", "name": "Ada"}))
                .send()
        };
        let created = create("create-ada").await.unwrap();
        assert_eq!(created.status(), 200);
        let create_request = created.headers()["x-request-id"].to_str().unwrap().to_owned();
        let customer = json_body(created).await;
        let id = customer["id"].as_str().unwrap().to_owned();
        // A replay answers from the saved response and records nothing more.
        let replayed = create("create-ada").await.unwrap();
        assert_eq!(replayed.headers()["idempotent-replayed"], "true");
        // A refused change records nothing.
        let refused = app.post(&format!("/v1/customers/{id}"), json!({"email": "not-an-email"})).await;
        assert_eq!(refused.status(), 400);
        let updated = app.post(&format!("/v1/customers/{id}"), json!({"name": "Ada L."})).await;
        assert_eq!(updated.status(), 200);

        let timeline = json_body(app.get(&format!("/v1/customers/{id}/timeline")).await).await;
        let events = timeline["data"].as_array().unwrap();
        assert_eq!(events.len(), 2, "{timeline}");
        assert_eq!(timeline["has_more"], false);
        assert_eq!(events[0]["type"], "customer.created");
        assert_eq!(events[0]["sequence"], 1);
        assert_eq!(events[0]["aggregate_type"], "customer");
        assert_eq!(events[0]["aggregate_id"], id.as_str());
        assert_eq!(events[0]["data"]["object"], customer);
        assert_eq!(events[0]["request_id"], create_request.as_str());
        assert!(events[0]["actor"].as_str().unwrap().starts_with("key_"), "{}", events[0]);
        assert!(events[0]["id"].as_str().unwrap().starts_with("evt_"));
        assert_eq!(events[1]["type"], "customer.updated");
        assert_eq!(events[1]["sequence"], 2);
        assert_eq!(events[1]["data"]["object"]["name"], "Ada L.");
        assert_eq!(events[1]["data"]["previous_attributes"], json!({"name": "Ada"}));

        // Pages: `limit`, then `after` the last sequence seen.
        let first = json_body(app.get(&format!("/v1/customers/{id}/timeline?limit=1")).await).await;
        assert_eq!(first["has_more"], true);
        assert_eq!(first["data"][0]["sequence"], 1);
        let rest = json_body(app.get(&format!("/v1/customers/{id}/timeline?after=1")).await).await;
        assert_eq!(rest["data"].as_array().unwrap().len(), 1);
        assert_eq!(rest["data"][0]["sequence"], 2);
        expect_error(app.get(&format!("/v1/customers/{id}/timeline?limit=0")).await, 400, "parameter_invalid", Some("limit")).await;

        // Another workspace's key sees no such customer.
        let (_, other_key) = app.new_workspace("Other").await;
        let theirs = app.client.get(app.url(&format!("/v1/customers/{id}/timeline"))).bearer_auth(&other_key).send().await.unwrap();
        expect_error(theirs, 404, "resource_missing", Some("id")).await;
    }
}
