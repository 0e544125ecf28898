//! Authentication (401) and scopes (403).

use bursar_domain::auth::Scope;

use crate::both_backends;
use crate::helpers::*;

both_backends! {
    /// Goal: requests without a valid key are refused with 401, before anything else happens.
    async fn missing_or_invalid_keys_get_401(app: TestApp) {
        let none = app.client.get(app.url("/v1/customers")).send().await.unwrap();
        expect_error(none, 401, "api_key_missing", None).await;
        let wrong = app.client.get(app.url("/v1/customers")).bearer_auth("sk_0000000000000000000000000000000000000000").send().await.unwrap();
        expect_error(wrong, 401, "api_key_invalid", None).await;
        let basic = app.client.get(app.url("/v1/customers")).header("authorization", "Basic Zm9vOmJhcg==").send().await.unwrap();
        expect_error(basic, 401, "api_key_invalid", None).await;
        let post = app.client.post(app.url("/v1/customers")).json(&json!({"name": "X"})).send().await.unwrap();
        let body = expect_error(post, 401, "api_key_missing", None).await;
        assert_eq!(body["error"]["type"], "authentication_error");
        assert!(all_customer_ids(&app, &app.admin_key).await.is_empty());
    }
}

both_backends! {
    /// Goal: a read_only key reads but cannot write (403, nothing written).
    async fn read_only_keys_get_403_on_writes(app: TestApp) {
        let reader = app.key_with_scope(Scope::ReadOnly).await;
        let existing = json_body(app.post("/v1/customers", json!({"name": "Existing"})).await).await;
        let id = existing["id"].as_str().unwrap();

        let list = app.client.get(app.url("/v1/customers")).bearer_auth(&reader).send().await.unwrap();
        assert_eq!(list.status(), 200);
        let get = app.client.get(app.url(&format!("/v1/customers/{id}"))).bearer_auth(&reader).send().await.unwrap();
        assert_eq!(get.status(), 200);

        let create = app.client.post(app.url("/v1/customers")).bearer_auth(&reader).json(&json!({"name": "No"})).send().await.unwrap();
        let body = expect_error(create, 403, "insufficient_scope", None).await;
        assert_eq!(body["error"]["type"], "permission_error");
        let update = app.client.post(app.url(&format!("/v1/customers/{id}"))).bearer_auth(&reader).json(&json!({"name": "No"})).send().await.unwrap();
        expect_error(update, 403, "insufficient_scope", None).await;

        assert_eq!(all_customer_ids(&app, &app.admin_key).await, vec![id.to_owned()]);
        assert_eq!(json_body(app.get(&format!("/v1/customers/{id}")).await).await["name"], "Existing");
    }
}

both_backends! {
    /// Goal: a revoked key stops working (within the key cache's lifetime), and keys are
    /// stored only as hashes.
    async fn revoked_keys_stop_working_and_secrets_are_not_stored(app: TestApp) {
        let key = app.key_with_scope(Scope::Admin).await;
        let ok = app.client.get(app.url("/v1/customers")).bearer_auth(&key).send().await.unwrap();
        assert_eq!(ok.status(), 200);

        let db = app.db().clone();
        let keys: Vec<bursar_store::api_keys::ApiKey> = db
            .read(|tx: &mut bursar_store::Tx| Box::pin(bursar_store::api_keys::list(tx)))
            .await
            .unwrap();
        let target = keys.iter().find(|k| key.ends_with(&k.secret_hint) && k.scope == Scope::Admin && k.name == "test").unwrap().id.clone();
        // No column of api_key holds the secret.
        let rows: Vec<bursar_store::Row> = db
            .read(|tx: &mut bursar_store::Tx| Box::pin(async move {
                tx.fetch_all("select api_key_id, workspace_id, name, scope, secret_hash, secret_hint from api_key", &[]).await
            }))
            .await
            .unwrap();
        for row in rows {
            for column in ["api_key_id", "workspace_id", "name", "scope", "secret_hash", "secret_hint"] {
                let value = row.text(column).unwrap();
                assert!(!value.contains(&key[3..]), "secret stored in clear in {column}");
            }
        }
        let now = db.now();
        let revoked = db.write(move |conn: &mut bursar_store::Tx| Box::pin(async move {
            bursar_store::api_keys::revoke(conn, &target, now, &bursar::bootstrap::system_cause("test")).await
        })).await.unwrap();
        assert!(revoked);

        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let response = app.client.get(app.url("/v1/customers")).bearer_auth(&key).send().await.unwrap();
            if response.status() == 401 {
                expect_error(response, 401, "api_key_invalid", None).await;
                break;
            }
            assert!(std::time::Instant::now() < deadline, "revoked key still accepted after 10 s");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
}

/// The routes anyone may call, without an API key: inbound provider webhooks, license
/// validation and update checks (the license key is the credential), download links (the
/// link's token), health, metrics and the documentation. (The test provider's hosted pages are
/// HTML, outside the API document.)
/// A new public route must be added here deliberately.
pub(crate) const PUBLIC_OPERATIONS: &[&str] = &[
    "GET /docs",
    "GET /download/{token}",
    "GET /healthz",
    "GET /metrics",
    "GET /openapi.json",
    "GET /readyz",
    "GET /v1/updates",
    "POST /v1/bank_webhooks/{id}",
    "POST /v1/courier_webhooks/{id}",
    "POST /v1/downloads/resend",
    "POST /v1/licenses/validate",
    "POST /v1/webhooks/{provider}",
];

both_backends! {
    /// Goal: every operation of the API document is guarded: without a key it answers 401,
    /// and every write answers 403 to a read-only key, before any work; the operations open to
    /// anyone are exactly the pinned list.
    /// Method: read `/openapi.json`, and call every operation with its path's ids filled in.
    async fn every_operation_is_guarded_by_its_key(app: TestApp) {
        let spec = json_body(app.get("/openapi.json").await).await;
        let reader = app.key_with_scope(Scope::ReadOnly).await;
        let mut public = Vec::new();
        let mut checked = 0;
        for (path, item) in spec["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let method = method.to_uppercase();
                let secured = operation["security"].as_array().is_some_and(|s| !s.is_empty());
                if !secured {
                    public.push(format!("{method} {path}"));
                    continue;
                }
                let concrete = path.replace('{', "x").replace('}', "");
                let request = |key: Option<&str>| {
                    let mut request = app.client.request(method.parse().unwrap(), app.url(&concrete));
                    if let Some(key) = key {
                        request = request.bearer_auth(key);
                    }
                    if method == "POST" { request.json(&json!({})) } else { request }
                };
                let anonymous = request(None).send().await.unwrap();
                assert_eq!(anonymous.status(), 401, "{method} {path} without a key");
                let declared = operation["responses"].as_object().unwrap();
                assert!(declared.contains_key("401"), "{method} {path} does not declare its 401");
                assert!(declared.contains_key("429"), "{method} {path} does not declare its 429 (rate limits)");
                if method != "GET" {
                    let read_only = request(Some(&reader)).send().await.unwrap();
                    assert_eq!(read_only.status(), 403, "{method} {path} with a read-only key");
                    assert!(declared.contains_key("403"), "{method} {path} does not declare its 403");
                }
                checked += 1;
            }
        }
        public.sort();
        assert_eq!(public, PUBLIC_OPERATIONS, "the public operations");
        assert!(checked > 100, "{checked} operations checked");
    }
}

both_backends! {
    /// Goal: API keys and addresses are rate limited: past a key's requests per minute, and
    /// past an address's failed authentications per minute, requests are answered 429 with a
    /// `Retry-After` of at most a minute, before any work; other keys are not affected.
    async fn rate_limits_answer_429_with_retry_after(backend: Backend) {
        let mut settings = TestApp::settings();
        settings.http.key_requests_per_minute = 5;
        settings.http.failed_auth_per_minute = 3;
        let app = TestApp::spawn_with(backend, settings).await;
        let other = app.key_with_scope(Scope::ReadOnly).await;
        let mut statuses = Vec::new();
        for _ in 0..7 {
            statuses.push(app.get("/v1/customers").await.status().as_u16());
        }
        // A minute boundary may fall inside the loop and start a fresh window.
        assert!(statuses.iter().filter(|s| **s == 200).count() >= 5, "{statuses:?}");
        assert!(statuses.contains(&429), "{statuses:?}");
        let limited = app.get("/v1/customers").await;
        if limited.status() == 429 {
            let retry: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=60).contains(&retry), "{retry}");
            expect_error(limited, 429, "rate_limited", None).await;
        }
        let own = app.client.get(app.url("/v1/customers")).bearer_auth(&other).send().await.unwrap();
        assert_eq!(own.status(), 200, "another key has its own window");

        let mut failed = Vec::new();
        for _ in 0..5 {
            let response = app.client.get(app.url("/v1/customers")).bearer_auth("sk_test_wrong").send().await.unwrap();
            failed.push(response.status().as_u16());
        }
        assert!(failed.contains(&429), "{failed:?}");
        assert_eq!(&failed[..2], &[401, 401], "{failed:?}");
    }
}
