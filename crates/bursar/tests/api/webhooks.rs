//! Outbound webhooks: signed per Standard Webhooks (checked with its official Python library),
//! filtered by event type, logged, retried per endpoint, disabled and re-enabled.

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use bursar::relay::{Relay, RelayConfig};
use bursar::webhook_delivery::{WebhookConfig, WebhookSubscriber};
use bursar_domain::webhook::{signature_header, WebhookSecret};

use crate::both_backends;
use crate::helpers::*;

/// A request as received: headers and body.
type Request = (HashMap<String, String>, String);

/// A webhook receiver on loopback: records every request, answers with `status`.
#[derive(Clone)]
pub(crate) struct Receiver {
    pub(crate) url: String,
    requests: Arc<Mutex<Vec<Request>>>,
    status: Arc<AtomicU16>,
}

impl Receiver {
    pub(crate) async fn start() -> Receiver {
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let status = Arc::new(AtomicU16::new(200));
        let (r, s) = (requests.clone(), status.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let (r, s) = (r.clone(), s.clone());
                async move {
                    let headers = headers
                        .iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                        .collect();
                    r.lock().unwrap().push((headers, body));
                    let code = axum::http::StatusCode::from_u16(s.load(Ordering::SeqCst)).unwrap();
                    (code, "thanks")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            url,
            requests,
            status,
        }
    }

    fn received(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    pub(crate) async fn wait_for(&self, count: usize) -> Vec<Request> {
        let started = Instant::now();
        while self.requests.lock().unwrap().len() < count {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "waited for {count} webhooks, got {:?}",
                self.received()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.received()
    }
}

/// What the official library says of a delivery.
fn verify(secret: &str, headers: &HashMap<String, String>, body: &str) -> String {
    let wanted: HashMap<&str, &str> = ["webhook-id", "webhook-timestamp", "webhook-signature"]
        .iter()
        .map(|k| (*k, headers.get(*k).map(String::as_str).unwrap_or("")))
        .collect();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), body).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/api/py/verify_webhook.py"
    );
    let output = Command::new("python3")
        .env(
            "PYTHONPATH",
            python_path("standardwebhooks", "standardwebhooks==1.1.0"),
        )
        .arg(script)
        .arg(secret)
        .arg(serde_json::to_string(&wanted).unwrap())
        .arg(file.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

both_backends! {
    /// Goal: a webhook Bursar delivers verifies with the official Standard Webhooks library;
    /// a tampered body or an old timestamp does not; only the event types asked for are sent;
    /// each attempt is in the endpoint's log.
    async fn webhooks_verify_with_the_official_library(app: TestApp) {
        let receiver = Receiver::start().await;
        let created = app.post("/v1/webhook_endpoints", json!({"url": receiver.url, "event_types": ["customer.*"], "description": "CRM sync"})).await;
        assert_eq!(created.status(), 200);
        let endpoint = json_body(created).await;
        let secret = endpoint["secret"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("whsec_"));
        let id = endpoint["id"].as_str().unwrap().to_owned();
        // The secret is shown once: not when the endpoint is read back, nor stored in clear.
        let fetched = json_body(app.get(&format!("/v1/webhook_endpoints/{id}")).await).await;
        assert!(fetched.get("secret").is_none(), "{fetched}");
        let customer = json_body(app.post("/v1/customers", json!({"name": "Ada"})).await).await;

        let received = receiver.wait_for(1).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(receiver.received().len(), 1, "webhook_endpoint.created is not a customer.* event");
        let (headers, body) = &received[0];
        let payload: Value = serde_json::from_str(body).unwrap();
        assert_eq!(payload["type"], "customer.created");
        assert_eq!(payload["data"]["object"]["id"], customer["id"]);
        assert_eq!(headers["webhook-id"], payload["id"].as_str().unwrap());
        assert_eq!(verify(&secret, headers, body), "ok");
        assert!(verify(&secret, headers, &body.replace("Ada", "Eve")).starts_with("rejected"));
        let other = WebhookSecret::from_bytes(vec![7; 24]).expose();
        assert!(verify(&other, headers, body).starts_with("rejected"));
        // Correctly signed, but an hour old: refused for its timestamp.
        let old = app.db().now().unix_micros() / 1_000_000 - 3600;
        let mut stale = headers.clone();
        stale.insert("webhook-timestamp".into(), old.to_string());
        let key = WebhookSecret::parse(&secret, "s").unwrap();
        stale.insert("webhook-signature".into(), signature_header(&[&key], &headers["webhook-id"], old, body));
        let verdict = verify(&secret, &stale, body);
        assert!(verdict.starts_with("rejected") && verdict.contains("old"), "{verdict}");

        let attempts = json_body(app.get(&format!("/v1/webhook_endpoints/{id}/attempts")).await).await;
        let attempts = attempts["data"].as_array().unwrap();
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0]["succeeded"], true);
        assert_eq!(attempts[0]["status_code"], 200);
        assert_eq!(attempts[0]["response"], "thanks");
        assert_eq!(attempts[0]["event_type"], "customer.created");

        // Bad input names its field and writes nothing.
        expect_error(app.post("/v1/webhook_endpoints", json!({"url": "ftp://x"})).await, 400, "parameter_invalid", Some("url")).await;
        expect_error(app.post("/v1/webhook_endpoints", json!({"url": receiver.url, "event_types": ["Not A Type"]})).await, 400, "parameter_invalid", Some("event_types")).await;
        let listed = json_body(app.get("/v1/webhook_endpoints").await).await;
        assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    }
}

both_backends! {
    /// Goal: endpoints are independent: a failing one is retried alone (the healthy one gets
    /// the event once), is disabled after persistent failure with an event saying so, and is
    /// re-enabled by an admin; after a secret rotation both secrets sign for a while.
    async fn failing_endpoints_retry_alone_then_disable(app: TestApp = crate::helpers::TestApp::spawn_without_relay) {
        let db = app.db().clone();
        let subscriber = WebhookSubscriber::new(db.clone(), app.core().outbound.clone(), WebhookConfig { disable_after_failures: 3, ..WebhookConfig::default() }).unwrap();
        let relay = Relay::new(db.clone(), vec![subscriber], RelayConfig {
            max_attempts: 10,
            backoff_base: Duration::from_millis(2),
            backoff_max: Duration::from_millis(10),
            ..RelayConfig::default()
        });
        let (healthy, failing) = (Receiver::start().await, Receiver::start().await);
        failing.status.store(500, Ordering::SeqCst);
        let good = json_body(app.post("/v1/webhook_endpoints", json!({"url": healthy.url, "event_types": ["customer.created"]})).await).await;
        let bad = json_body(app.post("/v1/webhook_endpoints", json!({"url": failing.url, "event_types": ["customer.created"]})).await).await;
        let bad_id = bad["id"].as_str().unwrap().to_owned();
        app.post("/v1/customers", json!({"name": "Ada"})).await;
        let started = Instant::now();
        loop {
            relay.tick().await.unwrap();
            let endpoint = json_body(app.get(&format!("/v1/webhook_endpoints/{bad_id}")).await).await;
            if endpoint["status"] == "disabled" {
                assert!(endpoint["disabled_reason"].as_str().unwrap().contains("3 failed attempts"), "{endpoint}");
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(15), "never disabled");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Drain: with the failing endpoint disabled the event is done.
        for _ in 0..20 {
            relay.tick().await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(healthy.received().len(), 1, "the healthy endpoint got the event once");
        assert_eq!(failing.received().len(), 3);
        let timeline = json_body(app.get("/v1/dead_letters").await).await;
        assert_eq!(timeline["data"].as_array().unwrap().len(), 0);
        let attempts = json_body(app.get(&format!("/v1/webhook_endpoints/{bad_id}/attempts")).await).await;
        assert_eq!(attempts["data"].as_array().unwrap().len(), 3);
        assert_eq!(attempts["data"][0]["status_code"], 500);
        let disabled_event: i64 = db.read(|tx: &mut bursar_store::Tx| Box::pin(async move {
            tx.fetch_one("select count(*) as n from domain_event where event_type = 'webhook_endpoint.disabled' and actor = 'system:webhooks'", &[]).await?.i64("n")
        })).await.unwrap();
        assert_eq!(disabled_event, 1);

        // Re-enabled by an admin; enabling an enabled endpoint is refused with its state.
        let enabled = app.post(&format!("/v1/webhook_endpoints/{bad_id}/enable"), json!({})).await;
        assert_eq!(enabled.status(), 200);
        assert_eq!(json_body(enabled).await["status"], "enabled");
        let again = app.post(&format!("/v1/webhook_endpoints/{bad_id}/enable"), json!({})).await;
        let error = expect_error(again, 409, "endpoint_already_enabled", None).await;
        assert!(error["error"]["message"].as_str().unwrap().contains("enabled"));

        // Rotation: the next delivery carries two signatures, each verifying with its secret.
        let old_secret = good["secret"].as_str().unwrap().to_owned();
        let good_id = good["id"].as_str().unwrap();
        let rotated = json_body(app.post(&format!("/v1/webhook_endpoints/{good_id}/rotate_secret"), json!({})).await).await;
        let new_secret = rotated["secret"].as_str().unwrap().to_owned();
        assert_ne!(new_secret, old_secret);
        failing.status.store(200, Ordering::SeqCst);
        app.post("/v1/customers", json!({"name": "Grace"})).await;
        let started = Instant::now();
        while healthy.received().len() < 2 {
            relay.tick().await.unwrap();
            assert!(started.elapsed() < Duration::from_secs(15));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (headers, body) = healthy.received()[1].clone();
        assert_eq!(headers["webhook-signature"].split(' ').count(), 2);
        assert_eq!(verify(&new_secret, &headers, &body), "ok");
        assert_eq!(verify(&old_secret, &headers, &body), "ok");

        // The failing endpoint's timeline tells its story.
        let timeline = json_body(app.get(&format!("/v1/webhook_endpoints/{bad_id}/timeline")).await).await;
        let types: Vec<&str> = timeline["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["webhook_endpoint.created", "webhook_endpoint.disabled", "webhook_endpoint.enabled"]);
    }
}

both_backends! {
    /// Goal: an endpoint whose address is refused receives nothing at delivery, even if it
    /// was accepted when registered (a server that allowed loopback then, a name re-pointed
    /// since): the attempt is logged as refused, and no answer of anything internal is kept.
    async fn deliveries_to_a_refused_address_send_nothing(app: TestApp = crate::helpers::TestApp::spawn_without_relay) {
        let db = app.db().clone();
        let strict = bursar_outbound::Guard::new(bursar_outbound::Policy::default());
        let subscriber = WebhookSubscriber::new(db.clone(), strict, WebhookConfig::default()).unwrap();
        let relay = Relay::new(db.clone(), vec![subscriber], RelayConfig {
            backoff_base: Duration::from_millis(2),
            backoff_max: Duration::from_millis(10),
            ..RelayConfig::default()
        });
        let receiver = Receiver::start().await;
        let endpoint = json_body(app.post("/v1/webhook_endpoints", json!({"url": receiver.url, "event_types": ["customer.created"]})).await).await;
        let id = endpoint["id"].as_str().unwrap().to_owned();
        app.post("/v1/customers", json!({"name": "Ada"})).await;
        let started = Instant::now();
        let attempts = loop {
            relay.tick().await.unwrap();
            let attempts = json_body(app.get(&format!("/v1/webhook_endpoints/{id}/attempts")).await).await;
            if attempts["data"].as_array().is_some_and(|a| !a.is_empty()) {
                break attempts;
            }
            assert!(started.elapsed() < Duration::from_secs(15), "never attempted");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let attempt = &attempts["data"][0];
        assert_eq!(attempt["succeeded"], false, "{attempt}");
        assert!(attempt["error"].as_str().unwrap().contains("loopback"), "{attempt}");
        assert!(attempt["response"].is_null(), "{attempt}");
        assert!(receiver.received().is_empty(), "the receiver got nothing");
    }
}
