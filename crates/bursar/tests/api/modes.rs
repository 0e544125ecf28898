//! Live and sandbox workspaces: test keys and live keys say which they are, and nothing of the
//! test provider can be reached from a live workspace.

use bursar_domain::auth::Scope;
use bursar_domain::id::WorkspaceId;

use crate::both_backends;
use crate::helpers::*;

both_backends! {
    /// Goal: the free "Pay" button is gone from live workspaces: a checkout without a real
    /// connection is refused naming what to configure, a test connection cannot be created, and
    /// a test session stored for a live workspace answers 404 on every test-provider route
    /// (the hosted page, its Pay button, the API's complete) while the order stays unpaid. The
    /// sandbox's keys are `sk_test_…`, a live workspace's `sk_live_…`.
    async fn live_workspaces_cannot_reach_the_test_provider(app: TestApp) {
        assert!(app.admin_key.starts_with("sk_test_"), "the test server's workspace is a sandbox");
        let (live, _, secret) = bursar::bootstrap::create_workspace(app.db(), "Live shop", Scope::Admin).await.unwrap();
        let key = secret.expose().to_owned();
        assert!(key.starts_with("sk_live_"), "{key}");
        let post = |path: String, body: serde_json::Value| {
            let request = app.client.post(app.url(&path)).bearer_auth(&key).json(&body);
            async move { request.send().await.unwrap() }
        };
        let product = json_body(post("/v1/products".into(), json!({"name": "Pro", "kind": "digital"})).await).await["id"].as_str().unwrap().to_owned();
        assert_eq!(post("/v1/prices".into(), json!({"product_id": product, "currency": "USD", "unit_amount": 1_000})).await.status(), 200);
        let customer = json_body(post("/v1/customers".into(), json!({"name": "Buyer", "email": "buyer@example.com"})).await).await["id"].as_str().unwrap().to_owned();
        let order = json_body(post("/v1/orders".into(), json!({"customer_id": customer, "currency": "USD", "lines": [{"product_id": product, "quantity": 1}]})).await).await["id"].as_str().unwrap().to_owned();

        let refused = expect_error(post(format!("/v1/orders/{order}/checkout"), json!({})).await, 400, "sandbox_only", Some("provider")).await;
        assert!(refused["error"]["message"].as_str().unwrap().contains("POST /v1/payment_providers"), "{refused}");
        expect_error(post(format!("/v1/orders/{order}/checkout"), json!({"provider": "test"})).await, 400, "sandbox_only", Some("provider")).await;
        expect_error(post("/v1/payment_providers".into(), json!({"kind": "test"})).await, 400, "sandbox_only", Some("kind")).await;

        let session = stored_session(&app, &live.id, &order).await;
        let page = app.client.get(app.url(&format!("/test-provider/checkout/{session}"))).send().await.unwrap();
        assert_eq!(page.status(), 404);
        let pay = app.client.post(app.url(&format!("/test-provider/checkout/{session}/pay"))).send().await.unwrap();
        assert_eq!(pay.status(), 404);
        let complete = post(format!("/v1/test_provider/checkout_sessions/{session}/complete"), json!({"outcome": "succeeded"})).await;
        assert_eq!(complete.status(), 404);
        let order = json_body(app.client.get(app.url(&format!("/v1/orders/{order}"))).bearer_auth(&key).send().await.unwrap()).await;
        assert_ne!(order["status"], "paid", "{order}");
    }
}

/// A test checkout session stored for `workspace`, as one from before workspaces had modes.
async fn stored_session(app: &TestApp, workspace: &WorkspaceId, order: &str) -> String {
    let session = bursar_store::payment_providers::TestSession {
        session_id: "cs_test_from_before".into(),
        workspace_id: workspace.clone(),
        provider_id: "pp_test_from_before".into(),
        order_id: order.to_owned(),
        payment_id: "pi_test_from_before".into(),
        amount: 1_000,
        currency: "USD".into(),
        customer_email: None,
        success_url: "https://shop.example/ok".into(),
        cancel_url: "https://shop.example/cancel".into(),
        status: "open".into(),
        expires_at: i64::MAX,
        created_at: 0,
    };
    let id = session.session_id.clone();
    app.db()
        .write(move |tx: &mut bursar_store::Tx| {
            Box::pin(async move {
                bursar_store::payment_providers::insert_test_session(tx, &session).await
            })
        })
        .await
        .unwrap();
    id
}
