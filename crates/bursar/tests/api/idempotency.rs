//! Idempotency-Key semantics.

use crate::both_backends;
use crate::helpers::*;

async fn post_with_key(app: &TestApp, key: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/customers"))
        .bearer_auth(&app.admin_key)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

both_backends! {
    /// Goal: a repeat with the same key and body replays the stored response and does no work.
    async fn a_replay_returns_the_first_response_and_creates_one_customer(app: TestApp) {
        let body = json!({"email": "once@example.com", "name": "Once"});
        let first = post_with_key(&app, "create-once", body.clone()).await;
        assert_eq!(first.status(), 200);
        assert!(first.headers().get("idempotent-replayed").is_none());
        let first = json_body(first).await;
        for _ in 0..3 {
            let again = post_with_key(&app, "create-once", body.clone()).await;
            assert_eq!(again.status(), 200);
            assert_eq!(again.headers()["idempotent-replayed"], "true");
            assert_eq!(json_body(again).await, first);
        }
        assert_eq!(all_customer_ids(&app, &app.admin_key).await, vec![first["id"].as_str().unwrap().to_owned()]);

        // Updates honour keys too: a replay does not bump updated_at or re-apply.
        let id = first["id"].as_str().unwrap();
        let update = |name: &'static str| {
            app.client.post(app.url(&format!("/v1/customers/{id}"))).bearer_auth(&app.admin_key)
                .header("Idempotency-Key", "rename").json(&json!({"name": name})).send()
        };
        let renamed = json_body(update("Twice").await.unwrap()).await;
        let replayed = json_body(update("Twice").await.unwrap()).await;
        assert_eq!(renamed, replayed);
    }
}

both_backends! {
    /// Goal: the same key with a different body (or another route) is refused and does nothing.
    async fn a_key_reused_with_a_different_request_is_refused(app: TestApp) {
        let first = json_body(post_with_key(&app, "k1", json!({"name": "First"})).await).await;
        let reused = post_with_key(&app, "k1", json!({"name": "Second"})).await;
        let body = expect_error(reused, 400, "idempotency_key_reused", Some("Idempotency-Key")).await;
        assert_eq!(body["error"]["type"], "idempotency_error");
        let id = first["id"].as_str().unwrap();
        let other_route = app.client.post(app.url(&format!("/v1/customers/{id}"))).bearer_auth(&app.admin_key)
            .header("Idempotency-Key", "k1").json(&json!({"name": "First"})).send().await.unwrap();
        expect_error(other_route, 400, "idempotency_key_reused", Some("Idempotency-Key")).await;
        assert_eq!(all_customer_ids(&app, &app.admin_key).await.len(), 1);
        assert_eq!(json_body(app.get(&format!("/v1/customers/{id}")).await).await["name"], "First");
    }
}

both_backends! {
    /// Goal: concurrent requests with one key execute once; all get the same response.
    /// Method: fire 24 identical requests at once and count the customers afterwards.
    async fn concurrent_requests_with_one_key_execute_once(app: TestApp) {
        let body = json!({"name": "Racer"});
        let requests = (0..24).map(|_| post_with_key(&app, "race", body.clone()));
        let responses = futures::future::join_all(requests).await;
        let mut ids = std::collections::BTreeSet::new();
        for response in responses {
            assert_eq!(response.status(), 200);
            ids.insert(json_body(response).await["id"].as_str().unwrap().to_owned());
        }
        assert_eq!(ids.len(), 1, "every response names the one customer");
        assert_eq!(all_customer_ids(&app, &app.admin_key).await.len(), 1);
    }
}

both_backends! {
    /// Goal: keys are scoped to a workspace, and a failed request does not burn its key.
    async fn keys_are_per_workspace_and_failures_are_not_saved(app: TestApp) {
        let (_, other_key) = app.new_workspace("Other").await;
        let mine = json_body(post_with_key(&app, "shared", json!({"name": "Mine"})).await).await;
        let theirs = app.client.post(app.url("/v1/customers")).bearer_auth(&other_key)
            .header("Idempotency-Key", "shared").json(&json!({"name": "Theirs"})).send().await.unwrap();
        let theirs = json_body(theirs).await;
        assert_ne!(mine["id"], theirs["id"]);
        assert_eq!(theirs["name"], "Theirs");

        // Invalid input is refused before the key is claimed: fixing the body and retrying works.
        let bad = post_with_key(&app, "fixable", json!({"email": "broken"})).await;
        expect_error(bad, 400, "parameter_invalid", Some("email")).await;
        let fixed = post_with_key(&app, "fixable", json!({"email": "fixed@example.com"})).await;
        assert_eq!(fixed.status(), 200);
        // A failure inside the transaction (unknown customer) rolls back the claim as well.
        let missing = app.client.post(app.url("/v1/customers/cus_01jdx2k3m4n5p6q7r8s9t0v1w2")).bearer_auth(&app.admin_key)
            .header("Idempotency-Key", "missing").json(&json!({"name": "X"})).send().await.unwrap();
        expect_error(missing, 404, "resource_missing", Some("id")).await;
        let id = mine["id"].as_str().unwrap();
        let reused_after_failure = app.client.post(app.url(&format!("/v1/customers/{id}"))).bearer_auth(&app.admin_key)
            .header("Idempotency-Key", "missing").json(&json!({"name": "X"})).send().await.unwrap();
        // A different path: had the 404 been saved, this would be a fingerprint mismatch.
        assert_eq!(reused_after_failure.status(), 200);
    }
}

both_backends! {
    /// Goal: saved responses are kept 24 hours; an expired key is replaced, not replayed.
    async fn expired_keys_are_swept(app: TestApp) {
        let first = json_body(post_with_key(&app, "old", json!({"name": "Old"})).await).await;
        let db = app.db().clone();
        let workspace = app.workspace_id.clone();
        let later = db.now().plus_seconds(bursar_store::idempotency::IDEMPOTENCY_KEY_TTL_SECONDS - 60);
        let claim = db.write(move |conn: &mut bursar_store::Tx| Box::pin(async move {
            bursar_store::idempotency::claim(conn, &workspace, "old", "other-fingerprint", later).await
        })).await.unwrap();
        // Still within 24 hours: the key is held.
        assert_eq!(claim, bursar_store::idempotency::Claim::Mismatch);
        let after_ttl = db.now().plus_seconds(bursar_store::idempotency::IDEMPOTENCY_KEY_TTL_SECONDS + 1);
        let swept = db.write(move |conn: &mut bursar_store::Tx| Box::pin(async move {
            bursar_store::idempotency::sweep_expired(conn, after_ttl, 100).await
        })).await.unwrap();
        assert_eq!(swept, 1);
        let again = json_body(post_with_key(&app, "old", json!({"name": "Old"})).await).await;
        assert_ne!(again["id"], first["id"], "an expired key executes afresh");
    }
}
