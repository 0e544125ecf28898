//! Outbound-request safety at registration: URLs a tenant gives (a payment connection's
//! `api_base`, a webhook endpoint) are refused when they point at loopback, private, link-local
//! or metadata addresses, in any spelling. These servers run with the default policy (no
//! loopback); name resolution is exercised with literal addresses and `localhost` only, so no
//! test sends a packet beyond this machine.

use crate::both_backends;
use crate::helpers::*;

/// A test server with the default outbound policy: loopback refused too.
pub(crate) async fn strict(backend: bursar_store::Backend) -> TestApp {
    TestApp::spawn_with(backend, bursar::server::Settings::default()).await
}

const REFUSED: &[(&str, &str)] = &[
    ("http://localhost@169.254.169.254/", "user name or password"),
    (
        "https://169.254.169.254/latest/meta-data/",
        "cloud metadata",
    ),
    ("https://[::ffff:169.254.169.254]/", "cloud metadata"),
    ("https://127.0.0.1:9/", "loopback"),
    ("https://localhost:9/", "loopback"),
    ("https://0x7f.1/", "loopback"),
    ("https://10.1.2.3/", "private"),
    ("https://[fd00:ec2::254]/", "unique-local"),
    ("https://[fe80::1]/", "link-local"),
];

both_backends! {
    /// Goal: a payment connection's `api_base` is refused at registration and at update when
    /// it points anywhere but a public address; nothing is stored.
    async fn provider_api_base_must_be_public(app: TestApp = crate::outbound::strict) {
        for (url, why) in REFUSED {
            let body = json!({"kind": "stripe", "secret_key": "sk_test_x", "webhook_secrets": ["whsec_abcdefghijklmnop"], "api_base": url});
            let error = expect_error(app.post("/v1/payment_providers", body).await, 400, "parameter_invalid", Some("api_base")).await;
            assert!(error["error"]["message"].as_str().unwrap().contains(why), "{url}: {error}");
        }
        let plain = json!({"kind": "stripe", "secret_key": "sk_test_x", "webhook_secrets": ["whsec_abcdefghijklmnop"], "api_base": "http://8.8.8.8/"});
        expect_error(app.post("/v1/payment_providers", plain).await, 400, "parameter_invalid", Some("api_base")).await;
        let listed = json_body(app.get("/v1/payment_providers").await).await;
        assert_eq!(listed["data"].as_array().unwrap().len(), 0, "{listed}");
        let created = json_body(app.post("/v1/payment_providers", json!({"kind": "stripe", "secret_key": "sk_test_x", "webhook_secrets": ["whsec_abcdefghijklmnop"]})).await).await;
        let id = created["id"].as_str().unwrap();
        let update = app.post(&format!("/v1/payment_providers/{id}"), json!({"api_base": "https://192.168.1.1/"})).await;
        expect_error(update, 400, "parameter_invalid", Some("api_base")).await;
    }
}

both_backends! {
    /// Goal: a webhook endpoint URL is refused at registration and at update when it points
    /// anywhere but a public address (so the relay never POSTs to it, and its answer is never
    /// shown back); nothing is stored.
    async fn webhook_endpoint_urls_must_be_public(app: TestApp = crate::outbound::strict) {
        for (url, why) in REFUSED.iter().chain(&[("http://127.0.0.1:8080/hook", "loopback"), ("http://[::1]/", "loopback")]) {
            let error = expect_error(app.post("/v1/webhook_endpoints", json!({"url": url})).await, 400, "parameter_invalid", Some("url")).await;
            assert!(error["error"]["message"].as_str().unwrap().contains(why), "{url}: {error}");
        }
        let listed = json_body(app.get("/v1/webhook_endpoints").await).await;
        assert_eq!(listed["data"].as_array().unwrap().len(), 0, "{listed}");
        // A public address, subscribed to an event this test never causes: nothing is sent.
        let created = json_body(app.post("/v1/webhook_endpoints", json!({"url": "https://93.184.216.34/hook", "event_types": ["invoice.paid"]})).await).await;
        let id = created["id"].as_str().unwrap();
        let update = app.post(&format!("/v1/webhook_endpoints/{id}"), json!({"url": "http://169.254.169.254/"})).await;
        expect_error(update, 400, "parameter_invalid", Some("url")).await;
    }
}
