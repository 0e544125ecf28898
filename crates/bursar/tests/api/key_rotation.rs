//! `bursar secret-key rotate` through the binary: every sealed secret (webhook signing secrets,
//! payment connections' keys and signing secrets, license keys awaiting delivery) is re-sealed
//! under the new key; license keys keep validating; download links follow the key; the old key
//! is refused at start; a running server blocks the rotation; a rotation interrupted between
//! its commit and the key file's rename is finished by running the command again.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bursar_domain::id::DownloadLinkId;
use bursar_domain::webhook::{signature_header, WebhookSecret};
use bursar_store::seal::Sealer;
use bursar_store::Backend;

use crate::both_backends;
use crate::cli::{start_with_key, terminate, wait_exit, wait_healthy, Running};
use crate::fake_stripe;
use crate::helpers::*;
use crate::webhooks::Receiver;

const STRIPE_KEY: &str = "sk_test_51RotationKey";
const STRIPE_SECRET: &str = "whsec_rotation_stripe_endpoint_secret";

/// `bursar <args>` in `dir` with Bursar's variables cleared but the keys given.
fn bursar(args: &[&str], dir: &Path, key: Option<&str>, new_key: Option<&str>) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bursar"));
    command.args(args).current_dir(dir);
    for name in [
        "BURSAR_DATA_DIR",
        "BURSAR_DATABASE_URL",
        "BURSAR_SECRET_KEY",
        "BURSAR_NEW_SECRET_KEY",
    ] {
        command.env_remove(name);
    }
    if let Some(key) = key {
        command.env("BURSAR_SECRET_KEY", key);
    }
    if let Some(new_key) = new_key {
        command.env("BURSAR_NEW_SECRET_KEY", new_key);
    }
    let output = command.output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

/// Requests to a running server with one API key.
struct Api {
    client: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    async fn send(&self, request: reqwest::RequestBuilder) -> Value {
        let response = request.bearer_auth(&self.key).send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(status == 200 || status == 202, "{status}: {body}");
        body
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        self.send(self.client.post(url).json(&body)).await
    }

    async fn get(&self, path: &str) -> Value {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    async fn validate(&self, key: &str) -> String {
        let body = self
            .post("/v1/licenses/validate", json!({ "key": key }))
            .await;
        body["code"].as_str().unwrap().to_owned()
    }

    /// An order of `product` paid through the test provider, once fulfilled.
    async fn paid_order(&self, customer: &str, product: &str) -> String {
        let order = self.post("/v1/orders", json!({"customer_id": customer, "currency": "USD", "lines": [{"product_id": product, "quantity": 1}]})).await;
        let order_id = order["id"].as_str().unwrap().to_owned();
        let opened = self
            .post(&format!("/v1/orders/{order_id}/checkout"), json!({}))
            .await;
        let session = opened["checkout"]["session_id"].as_str().unwrap();
        let path = format!("/v1/test_provider/checkout_sessions/{session}/complete");
        self.post(&path, json!({"outcome": "succeeded"})).await;
        self.wait_fulfilled(&order_id).await;
        order_id
    }

    async fn wait_fulfilled(&self, order_id: &str) {
        let started = Instant::now();
        while self.get(&format!("/v1/orders/{order_id}")).await["status"] != "fulfilled" {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{order_id} unfulfilled"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The order's license key, while it is still shown.
    async fn license_key(&self, order_id: &str) -> String {
        let licenses = self.get(&format!("/v1/orders/{order_id}/licenses")).await;
        licenses["data"][0]["key"].as_str().unwrap().to_owned()
    }

    async fn download_status(&self, sealer: &Sealer, link: &DownloadLinkId) -> u16 {
        let url = bursar_core::fulfillment::link_url(&self.base, sealer, link);
        let response = self.client.get(url).send().await.unwrap();
        response.status().as_u16()
    }
}

/// Every delivery the receiver got is signed by exactly these secrets, newest first.
fn assert_signed_by(deliveries: &[crate::webhooks::Request], secrets: &[&WebhookSecret]) {
    for (headers, body) in deliveries {
        let id = &headers["webhook-id"];
        let timestamp: i64 = headers["webhook-timestamp"].parse().unwrap();
        let expected = signature_header(secrets, id, timestamp, body);
        assert_eq!(headers["webhook-signature"], expected, "{body}");
    }
}

/// Where a test's data lives and which keys open it.
struct Setup {
    db_args: Vec<String>,
    /// `BURSAR_SECRET_KEY` for commands and servers (PostgreSQL); SQLite uses its key file.
    env_key: Option<String>,
}

impl Setup {
    async fn new(backend: Backend) -> Setup {
        match backend {
            Backend::Sqlite => Setup {
                db_args: Vec::new(),
                env_key: None,
            },
            Backend::Postgres => {
                let url = bursar_testkit::fresh_postgres_database().await.unwrap();
                Setup {
                    env_key: Some(test_secret_key(&url)),
                    db_args: vec!["--database-url".into(), url],
                }
            }
        }
    }

    fn args<'a>(&'a self, command: &[&'a str]) -> Vec<&'a str> {
        let mut args = command.to_vec();
        args.extend(self.db_args.iter().map(String::as_str));
        args
    }

    fn serve(&self, dir: &Path, key: Option<&str>) -> Running {
        start_with_key(&self.args(&["--allow-loopback-outbound"]), dir, key)
    }
}

both_backends! {
/// Goal: after `bursar secret-key rotate`, a server with the new key signs webhooks with the
/// same secrets (current and previous), pays through Stripe with the same API key and signing
/// secret, reveals a license key sealed before the rotation, validates license keys issued
/// before it, and serves download links by tokens of the new key only; a server with the old
/// key refuses to start, naming the fingerprints; a rotation is refused while a server runs.
async fn a_key_rotation_keeps_every_sealed_secret_working(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup::new(backend).await;
    let key_file = dir.path().join("bursar-data/secret.key");
    let create = setup.args(&["workspaces", "create", "--name", "rotation", "--sandbox"]);
    let (ok, out) = bursar(&create, dir.path(), setup.env_key.as_deref(), None);
    assert!(ok, "{out}");
    let api_key = out.split_whitespace().find(|w| w.starts_with("sk_test_")).unwrap().to_owned();
    let old_key = match &setup.env_key {
        Some(key) => key.clone(),
        None => std::fs::read_to_string(&key_file).unwrap(),
    };
    let old = Sealer::from_env_value(&old_key).unwrap();

    let mut running = setup.serve(dir.path(), setup.env_key.as_deref());
    wait_healthy(&mut running).await;
    let api = Api { client: reqwest::Client::new(), base: running.base.clone(), key: api_key };
    // A webhook endpoint whose secret was rotated: both its secrets sign for now.
    let receiver = Receiver::start().await;
    let endpoint = api.post("/v1/webhook_endpoints", json!({"url": receiver.url, "event_types": ["customer.*"]})).await;
    let first = WebhookSecret::parse(endpoint["secret"].as_str().unwrap(), "secret").unwrap();
    let second = WebhookSecret::from_bytes(vec![7; 32]);
    let rotate_path = format!("/v1/webhook_endpoints/{}/rotate_secret", endpoint["id"].as_str().unwrap());
    api.post(&rotate_path, json!({"secret": second.expose()})).await;
    // A Stripe connection on a local stand-in.
    let (stripe_base, stripe_seen) = fake_stripe::start().await;
    api.post("/v1/payment_providers", json!({"kind": "stripe", "secret_key": STRIPE_KEY, "webhook_secrets": [STRIPE_SECRET], "api_base": stripe_base})).await;
    // A licensed product with a file; two paid orders, the second's key not yet shown.
    let product = api.post("/v1/products", json!({"name": "Rotor", "kind": "digital", "license": {"prefix": "ROTR"}})).await;
    let product = product["id"].as_str().unwrap().to_owned();
    api.post("/v1/prices", json!({"product_id": product, "currency": "USD", "unit_amount": 900})).await;
    let upload = format!("{}/v1/artifacts?product_id={product}&version=1.0.0&platform=any&file_name=rotor.zip&content_type=application/zip", api.base);
    api.send(api.client.post(upload).header("content-type", "application/octet-stream").body(vec![42_u8; 4096])).await;
    let customer = api.post("/v1/customers", json!({"name": "Ada", "email": "ada@example.com"})).await;
    let customer = customer["id"].as_str().unwrap().to_owned();
    let shown = api.paid_order(&customer, &product).await;
    let unshown = api.paid_order(&customer, &product).await;
    let license = api.license_key(&shown).await;
    assert_eq!(api.validate(&license).await, "valid");
    let links = api.get(&format!("/v1/orders/{shown}/download_links")).await;
    let link = DownloadLinkId::from_trusted(links["data"][0]["id"].as_str().unwrap().to_owned());
    assert_eq!(api.download_status(&old, &link).await, 200);
    assert_signed_by(&receiver.wait_for(1).await, &[&second, &first]);

    // Refused while the server runs; done once it has stopped.
    let new_key = setup.env_key.as_ref().map(|_| test_secret_key("the rotated key"));
    let rotate = setup.args(&["secret-key", "rotate"]);
    let (ok, out) = bursar(&rotate, dir.path(), setup.env_key.as_deref(), new_key.as_deref());
    assert!(!ok && out.contains("running"), "{out}");
    let (status, out) = terminate(running);
    assert!(status.success(), "{out}");
    let (ok, out) = bursar(&rotate, dir.path(), setup.env_key.as_deref(), new_key.as_deref());
    assert!(ok, "{out}");
    assert!(out.contains("re-sealed 2 webhook signing secrets, 3 payment provider secrets"), "{out}");
    let new_key = new_key.unwrap_or_else(|| std::fs::read_to_string(&key_file).unwrap());
    assert_ne!(new_key.trim(), old_key.trim());
    let new = Sealer::from_env_value(&new_key).unwrap();
    assert!(out.contains(&new.fingerprint()), "{out}");

    // The old key is refused, with both fingerprints named.
    let (status, out) = wait_exit(setup.serve(dir.path(), Some(&old_key)));
    assert!(!status.success());
    assert!(out.contains("sealed with another key") && out.contains(&new.fingerprint()) && out.contains(&old.fingerprint()), "{out}");

    let mut running = setup.serve(dir.path(), setup.env_key.as_ref().map(|_| new_key.as_str()));
    wait_healthy(&mut running).await;
    let api = Api { base: running.base.clone(), ..api };
    // License keys issued before keep validating; the one sealed before is shown, and valid.
    assert_eq!(api.validate(&license).await, "valid");
    assert_eq!(api.validate(&api.license_key(&unshown).await).await, "valid");
    // Download links: the old key's tokens are refused, the new key's work.
    assert_eq!(api.download_status(&old, &link).await, 404);
    assert_eq!(api.download_status(&new, &link).await, 200);
    // Webhooks are signed by the same two secrets.
    api.post("/v1/customers", json!({"name": "Bo", "email": "bo@example.com"})).await;
    let started = Instant::now();
    while !receiver.received().iter().any(|(_, body)| body.contains("bo@example.com")) {
        assert!(started.elapsed() < Duration::from_secs(15), "no webhook after the rotation");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_signed_by(&receiver.received(), &[&second, &first]);
    // The test provider still signs and verifies its events.
    api.paid_order(&customer, &product).await;
    // Stripe: the same API key reaches it, and its signing secret still verifies.
    let order = api.post("/v1/orders", json!({"customer_id": customer, "currency": "USD", "lines": [{"product_id": product, "quantity": 1}]})).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    let order = api.post(&format!("/v1/orders/{order_id}/checkout"), json!({"provider": "stripe", "success_url": "https://shop.example/thanks", "cancel_url": "https://shop.example/cart"})).await;
    let seen = stripe_seen.lock().unwrap()[0].clone();
    assert_eq!(seen.authorization.as_deref(), Some(format!("Bearer {STRIPE_KEY}").as_str()));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let completed = fake_stripe::event("evt_rotation_completed", "checkout.session.completed", "checkout.session", json!({
        "id": order["checkout"]["session_id"], "payment_status": "paid", "status": "complete", "amount_total": 900, "currency": "usd",
        "payment_intent": "pi_rotation", "client_reference_id": order_id, "metadata": {"bursar_order_id": order_id},
    }), now);
    let signature = bursar_payments::signature::header(&[STRIPE_SECRET], now, completed.as_bytes());
    let receipt = api.client.post(format!("{}/v1/webhooks/stripe", api.base)).header("Stripe-Signature", signature).body(completed).send().await.unwrap();
    assert_eq!(json_body(receipt).await["outcome"], "applied");
    api.wait_fulfilled(&order_id).await;
    let (status, out) = terminate(running);
    assert!(status.success(), "{out}");

    // Run again: nothing to do (PostgreSQL, same variables); on SQLite, a crash between the
    // commit and the key file's rename (simulated) is finished.
    match backend {
        Backend::Postgres => {
            let (ok, out) = bursar(&rotate, dir.path(), setup.env_key.as_deref(), Some(&new_key));
            assert!(ok && out.contains("on the new key already"), "{out}");
        }
        Backend::Sqlite => {
            let staged = dir.path().join("bursar-data/secret.key.new");
            std::fs::rename(&key_file, &staged).unwrap();
            std::fs::write(&key_file, &old_key).unwrap();
            let (ok, out) = bursar(&rotate, dir.path(), None, None);
            assert!(ok && out.contains("finished an interrupted rotation"), "{out}");
            assert_eq!(std::fs::read_to_string(&key_file).unwrap(), new_key);
            assert!(!staged.exists());
            let mut running = setup.serve(dir.path(), None);
            wait_healthy(&mut running).await;
            terminate(running);
        }
    }
}
}
