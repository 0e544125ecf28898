//! Digital fulfillment end to end: checkout → signed webhook → paid → license (only its hash
//! stored) → email through a real SMTP server → the emailed link downloads the exact bytes →
//! the license validates; duplicates deliver once; links refuse what they must; a 1 GiB
//! artifact streams through with flat memory.

use std::time::{Duration, Instant};

use bursar::relay::{Relay, RelayConfig};
use bursar_domain::time::{Clock, ManualClock};
use bursar_store::Tx;
use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::both_backends;
use crate::email::SmtpServer;
use crate::helpers::*;

async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body = json_body(response).await;
    assert!(status == 200 || status == 202, "{status}: {body}");
    body
}

/// Deterministic bytes that are not all alike.
fn file_bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[1] ^ seed)
        .collect()
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn upload(
    app: &TestApp,
    product: &str,
    version: &str,
    platform: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    app.client
        .post(app.url(&format!(
            "/v1/artifacts?product_id={product}&version={version}&platform={platform}&file_name=genx-{version}-{platform}.tar.gz&content_type=application/gzip"
        )))
        .bearer_auth(&app.admin_key)
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap()
}

/// A licensed digital product with a price, and a customer with an email address.
async fn licensed_shop(app: &TestApp, license: Value) -> (String, String) {
    let product = id(&ok(app
        .post(
            "/v1/products",
            json!({"name": "GenX Studio", "kind": "digital", "license": license}),
        )
        .await)
    .await);
    ok(app
        .post(
            "/v1/prices",
            json!({"product_id": product, "currency": "USD", "unit_amount": 4900}),
        )
        .await)
    .await;
    let customer = id(&ok(app
        .post(
            "/v1/customers",
            json!({"name": "Ada", "email": "ada@example.com"}),
        )
        .await)
    .await);
    (product, customer)
}

/// An order of `product` paid through the test provider's checkout; returns the order id and
/// the signed provider event (delivered by the test when `deliver` is false).
async fn paid_order(
    app: &TestApp,
    customer: &str,
    product: &str,
    deliver: bool,
) -> (String, Value) {
    let order = ok(app.post("/v1/orders", json!({"customer_id": customer, "currency": "USD", "lines": [{"product_id": product, "quantity": 1}]})).await).await;
    let order_id = id(&order);
    let opened = ok(app
        .post(&format!("/v1/orders/{order_id}/checkout"), json!({}))
        .await)
    .await;
    let session = opened["checkout"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let completed = ok(app
        .post(
            &format!("/v1/test_provider/checkout_sessions/{session}/complete"),
            json!({"outcome": "succeeded", "deliver": deliver}),
        )
        .await)
    .await;
    (order_id, completed)
}

fn unfold(mail: &str) -> String {
    // Quoted-printable soft line breaks, and the encoded '='.
    mail.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

/// The first `prefix…` token of `text` (up to a character outside `allowed`).
fn token_after(text: &str, prefix: &str, allowed: impl Fn(char) -> bool) -> String {
    let start = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} in {text}"));
    text[start..].chars().take_while(|c| allowed(*c)).collect()
}

/// Rows of every table that contain `needle` (PostgreSQL), or the database files' bytes
/// (SQLite, with its write-ahead log).
async fn database_contains(app: &TestApp, needle: &str) -> bool {
    if let Some(dir) = app.sqlite_dir() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    return true;
                }
            }
        }
        return false;
    }
    let needle = needle.to_owned();
    app.db()
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let tables = tx
                    .fetch_all("select table_name from information_schema.tables where table_schema = 'public'", &[])
                    .await?;
                for table in tables {
                    let name = table.text("table_name")?;
                    let sql = format!("select count(*) as n from {name} t where t::text like '%' || $1 || '%'");
                    if tx.fetch_one(&sql, &[needle.as_str().into()]).await?.i64("n")? > 0 {
                        return Ok(true);
                    }
                }
                Ok::<bool, bursar_store::StoreError>(false)
            })
        })
        .await
        .unwrap()
}

both_backends! {
    /// Goal: checkout → signed webhook → order paid → license (only its hash stored) → email at
    /// a real SMTP server → the emailed link downloads the exact bytes → the license validates;
    /// and duplicate `order.paid` deliveries give one license and one email.
    async fn a_paid_order_delivers_its_license_and_downloads_by_email(app: TestApp = crate::helpers::TestApp::spawn_without_relay) {
        let smtp = SmtpServer::start().await;
        let mail = bursar::email::MailConfig {
            smtp_url: Some(format!("smtp://127.0.0.1:{}", smtp.port)),
            from: "GenX <sales@example.com>".into(),
            public_url: app.base_url.clone(),
        };
        let subscribers = bursar::relay::builtin_subscribers(app.core(), &mail).unwrap();
        let relay = Relay::new(app.db().clone(), subscribers.clone(), RelayConfig::default());

        let (product, customer) = licensed_shop(&app, json!({"prefix": "GENX", "max_activations": 2})).await;
        let old = file_bytes(300_000, 1);
        let new = file_bytes(2_500_000, 2);
        let v1 = ok(upload(&app, &product, "1.0.0", "linux-x86_64", old.clone()).await).await;
        assert_eq!(v1["sha256"], sha(&old));
        assert_eq!(v1["size"], old.len());
        ok(upload(&app, &product, "1.1.0", "linux-x86_64", new.clone()).await).await;
        let duplicate = upload(&app, &product, "1.1.0", "linux-x86_64", new.clone()).await;
        expect_error(duplicate, 409, "artifact_exists", Some("version")).await;

        // Paid through the test provider; the signed webhook is delivered twice.
        let (order_id, signed) = paid_order(&app, &customer, &product, false).await;
        let event = &signed["events"][0];
        assert_eq!(post_signed(&app, event).await.status(), 200);
        assert_eq!(post_signed(&app, event).await.status(), 200);
        assert_eq!(ok(app.get(&format!("/v1/orders/{order_id}")).await).await["status"], "paid");
        crate::relay::drain(&relay, app.db()).await;

        let order = ok(app.get(&format!("/v1/orders/{order_id}")).await).await;
        assert_eq!(order["status"], "fulfilled");
        let started = Instant::now();
        while smtp.messages().is_empty() {
            assert!(started.elapsed() < Duration::from_secs(15), "no email arrived");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let messages = smtp.messages();
        assert_eq!(messages.len(), 1, "{messages:?}");
        let mail = unfold(&messages[0]);
        assert!(mail.contains("To: ada@example.com"), "{mail}");
        assert!(mail.contains(&format!("Receipt for order {order_id}")), "{mail}");
        assert!(mail.contains("Total paid: 49.00 USD"), "{mail}");
        assert!(mail.contains("genx-1.1.0-linux-x86_64.tar.gz"), "{mail}");
        assert!(mail.contains(&sha(&new)), "{mail}");
        assert!(mail.contains("text/html"), "{mail}");
        let key = token_after(&mail, "GENX-", |c| c.is_ascii_alphanumeric() || c == '-');
        assert_eq!(key.len(), "GENX-XXXX-XXXX-XXXX".len(), "{key}");
        let link = token_after(&mail, &format!("{}/download/", app.base_url), |c| !c.is_whitespace() && c != '"' && c != '<');

        // Shown once to the order's owner, then only its hint.
        let licenses = ok(app.get(&format!("/v1/orders/{order_id}/licenses")).await).await;
        assert_eq!(licenses["data"].as_array().unwrap().len(), 1, "one license");
        assert_eq!(licenses["data"][0]["key"], key.as_str());
        assert_eq!(licenses["data"][0]["key_hint"], format!("GENX-…-{}", &key[15..]));
        let again = ok(app.get(&format!("/v1/orders/{order_id}/licenses")).await).await;
        assert_eq!(again["data"][0]["key"], Value::Null);

        // Only a keyed hash is stored: the key appears nowhere in the database.
        assert!(!database_contains(&app, &key).await, "the plaintext key is stored");
        assert!(!database_contains(&app, &key.replace('-', "")).await);
        assert!(database_contains(&app, &id(&licenses["data"][0])).await, "the search works");
        let token = link.rsplit('/').next().unwrap().to_owned();
        assert!(!database_contains(&app, &token).await, "the download token is stored");

        // The emailed link downloads the exact bytes.
        let response = app.client.get(&link).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-length"], new.len().to_string().as_str());
        assert_eq!(response.headers()["x-checksum-sha256"], sha(&new).as_str());
        assert!(response.headers()["content-disposition"].to_str().unwrap().contains("genx-1.1.0-linux-x86_64.tar.gz"));
        let body = response.bytes().await.unwrap();
        assert_eq!(sha(&body), sha(&new));

        // The license validates (and activates machines up to its limit).
        let validate = |body: Value| app.client.post(app.url("/v1/licenses/validate")).json(&body).send();
        let valid = ok(validate(json!({"key": key.to_lowercase(), "product_id": product, "machine_id": "m-1"})).await.unwrap()).await;
        assert_eq!((valid["valid"].as_bool(), valid["code"].as_str()), (Some(true), Some("valid")), "{valid}");
        assert_eq!(valid["license"]["activations_used"], 1);
        ok(validate(json!({"key": key, "machine_id": "m-2"})).await.unwrap()).await;
        let third = ok(validate(json!({"key": key, "machine_id": "m-3"})).await.unwrap()).await;
        assert_eq!(third["code"], "activation_limit_reached");
        let other = ok(app.post("/v1/products", json!({"name": "Other", "kind": "digital"})).await).await;
        let mismatch = ok(validate(json!({"key": key, "product_id": id(&other)})).await.unwrap()).await;
        assert_eq!(mismatch["code"], "product_mismatch");
        let mut typo = key.clone().into_bytes();
        typo[6] = if typo[6] == b'7' { b'8' } else { b'7' };
        let typo = String::from_utf8(typo).unwrap();
        expect_error(validate(json!({"key": typo})).await.unwrap(), 400, "license_key_mistyped", Some("key")).await;
        let unknown = bursar_domain::fulfillment::LicenseKey::generate("GENX", &[7; 11]);
        let unknown = ok(validate(json!({"key": unknown.expose()})).await.unwrap()).await;
        assert_eq!((unknown["valid"].as_bool(), unknown["code"].as_str()), (Some(false), Some("not_found")));

        // Updates: from 1.0.0 the license sees 1.1.0 with a fresh link; from 1.1.0, nothing.
        let check = |version: &str| app.client.get(app.url(&format!("/v1/updates?product={product}&version={version}&platform=linux-x86_64"))).header("License-Key", key.as_str()).send();
        let update = ok(check("1.0.0").await.unwrap()).await;
        assert_eq!(update["update_available"], true);
        assert_eq!(update["version"], "1.1.0");
        assert_eq!(update["sha256"], sha(&new).as_str());
        let fetched = app.client.get(update["download_url"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap();
        assert_eq!(sha(&fetched), sha(&new));
        assert_eq!(ok(check("1.1.0").await.unwrap()).await["update_available"], false);

        // order.paid delivered again to every subscriber (as after a crash): nothing more.
        let mut paid_event = events_of_type(&app, "order.paid").await;
        paid_event.extend(events_of_type(&app, "order.fulfilled").await);
        assert_eq!(paid_event.len(), 2);
        for subscriber in &subscribers {
            for event in &paid_event {
                subscriber.deliver(&app.workspace_id, event).await.unwrap();
            }
        }
        crate::relay::drain(&relay, app.db()).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(smtp.messages().len(), 1, "one email");
        let all = ok(app.get("/v1/licenses").await).await;
        assert_eq!(all["data"].as_array().unwrap().len(), 1, "one license");

        // Re-issued: a new key by email (once), the old one revoked.
        let license_id = id(&licenses["data"][0]);
        let reissued = ok(app.post(&format!("/v1/licenses/{license_id}/reissue"), json!({})).await).await;
        assert!(reissued.get("key").is_none(), "the response never carries the key");
        assert_eq!(ok(validate(json!({"key": key})).await.unwrap()).await["code"], "revoked");
        crate::relay::drain(&relay, app.db()).await;
        let started = Instant::now();
        while smtp.messages().len() < 2 {
            assert!(started.elapsed() < Duration::from_secs(15), "no email with the new key");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let reissue_mail = unfold(smtp.messages().into_iter().find(|m| m.contains("Subject: Your new license key")).unwrap().as_str());
        let new_key = token_after(&reissue_mail, "GENX-", |c| c.is_ascii_alphanumeric() || c == '-');
        assert_ne!(new_key, key);
        assert_eq!(ok(validate(json!({"key": new_key})).await.unwrap()).await["code"], "valid");
        assert!(!database_contains(&app, &new_key).await);

        // Refunded in full: the order's licenses are revoked.
        let refunded = ok(app.post_once(&format!("/v1/orders/{order_id}/refunds"), json!({"amount": 4900})).await).await;
        assert_eq!(refunded["status"], "succeeded", "{refunded}");
        crate::relay::drain(&relay, app.db()).await;
        assert_eq!(ok(app.get(&format!("/v1/orders/{order_id}")).await).await["status"], "refunded");
        let revoked = ok(validate(json!({"key": new_key})).await.unwrap()).await;
        assert_eq!(revoked["code"], "revoked");
        expect_error(app.post(&format!("/v1/licenses/{license_id}/revoke"), json!({})).await, 409, "license_revoked", None).await;
    }
}

both_backends! {
    /// Goal: a fulfillment email that cannot be sent shows as `failing` with its error, while the
    /// order is fulfilled all the same; the relay retries it, and once the mail server is up the
    /// customer gets it, with a key that validates.
    async fn a_failed_fulfillment_email_is_visible_and_retried(app: TestApp = crate::helpers::TestApp::spawn_without_relay) {
        let port = crate::cli::free_port();
        let mail = bursar::email::MailConfig {
            smtp_url: Some(format!("smtp://127.0.0.1:{port}")),
            from: "GenX <sales@example.com>".into(),
            public_url: app.base_url.clone(),
        };
        let subscribers = bursar::relay::builtin_subscribers(app.core(), &mail).unwrap();
        let config = RelayConfig { backoff_base: Duration::from_millis(50), backoff_max: Duration::from_millis(200), ..RelayConfig::default() };
        let relay = Relay::new(app.db().clone(), subscribers, config);
        let (product, customer) = licensed_shop(&app, json!({"prefix": "GENX"})).await;
        let (order_id, _) = paid_order(&app, &customer, &product, true).await;
        let started = Instant::now();
        let failing = loop {
            relay.tick().await.unwrap();
            let emails = ok(app.get("/v1/emails").await).await;
            if let Some(email) = emails["data"].as_array().unwrap().iter().find(|e| e["template"] == "fulfillment" && e["status"] == "failing") {
                break email.clone();
            }
            assert!(started.elapsed() < Duration::from_secs(15), "no failing email: {emails}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(failing["attempts"].as_i64().unwrap() >= 1);
        assert!(failing["last_error"].as_str().unwrap().contains("SMTP"), "{failing}");
        assert_eq!(ok(app.get(&format!("/v1/orders/{order_id}")).await).await["status"], "fulfilled");

        let smtp = SmtpServer::start_on(port).await;
        let started = Instant::now();
        while smtp.messages().is_empty() {
            relay.tick().await.unwrap();
            assert!(started.elapsed() < Duration::from_secs(20), "the email was not retried");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let email = ok(app.get(&format!("/v1/emails/{}", id(&failing))).await).await;
        assert_eq!(email["status"], "sent", "{email}");
        let mail = unfold(&smtp.messages()[0]);
        let key = token_after(&mail, "GENX-", |c| c.is_ascii_alphanumeric() || c == '-');
        let valid = ok(app.client.post(app.url("/v1/licenses/validate")).json(&json!({"key": key})).send().await.unwrap()).await;
        assert_eq!(valid["code"], "valid");
    }
}

both_backends! {
/// Goal: download links refuse what they must — tampered tokens, too many addresses (the link
/// locks and is flagged), exhausted counts, expiry, resumes from elsewhere, the rate limit —
/// with a page, and resume by byte range.
async fn download_links_refuse_what_they_must(backend: Backend) {
    let clock = std::sync::Arc::new(ManualClock::new(bursar_domain::time::SystemClock.now()));
    let app = TestApp::spawn_with_clock(backend, clock.clone()).await;
    let (product, customer) = licensed_shop(&app, json!({"prefix": "DLT"})).await;
    let bytes = file_bytes(100_000, 3);
    ok(upload(&app, &product, "2.0.0", "any", bytes.clone()).await).await;
    let (order_id, _) = paid_order(&app, &customer, &product, true).await;
    let started = Instant::now();
    while ok(app.get(&format!("/v1/orders/{order_id}")).await).await["status"] != "fulfilled" {
        assert!(started.elapsed() < Duration::from_secs(15), "not fulfilled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let key = ok(app.get(&format!("/v1/orders/{order_id}/licenses")).await).await["data"][0]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let fresh_link = || async {
        let update = ok(app
            .client
            .get(app.url(&format!(
                "/v1/updates?product={product}&version=1.0.0&platform=linux-arm64"
            )))
            .header("License-Key", key.as_str())
            .send()
            .await
            .unwrap())
        .await;
        update["download_url"].as_str().unwrap().to_owned()
    };
    let from = |ip: [u8; 4]| {
        reqwest::Client::builder()
            .local_address(std::net::IpAddr::from(ip))
            .build()
            .unwrap()
    };
    let page_of = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        (status, response.text().await.unwrap())
    };

    // Tampered: one character changed, or garbage.
    let link = fresh_link().await;
    let mut tampered = link.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let (status, text) = page_of(
        app.client
            .get(String::from_utf8(tampered).unwrap())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    assert!(text.contains("not valid"), "{text}");
    assert_eq!(
        page_of(
            app.client
                .get(app.url("/download/nonsense"))
                .send()
                .await
                .unwrap()
        )
        .await
        .0,
        404
    );

    // Resume: a range after a started download, from the same address; not from another.
    let whole = from([127, 0, 0, 1]).get(&link).send().await.unwrap();
    assert_eq!(whole.status(), 200);
    let ranged = from([127, 0, 0, 1])
        .get(&link)
        .header("Range", "bytes=40000-")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(
        ranged.headers()["content-range"],
        "bytes 40000-99999/100000"
    );
    assert_eq!(ranged.headers()["content-length"], "60000");
    assert_eq!(ranged.bytes().await.unwrap().as_ref(), &bytes[40_000..]);
    let (status, _) = page_of(
        from([127, 0, 0, 9])
            .get(&link)
            .header("Range", "bytes=10-")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 403);
    let unsatisfiable = from([127, 0, 0, 1])
        .get(&link)
        .header("Range", "bytes=100000-")
        .send()
        .await
        .unwrap();
    assert_eq!(unsatisfiable.status(), 416);

    // Many addresses: three are allowed, the fourth locks the link for everyone.
    for ip in [[127, 0, 0, 2], [127, 0, 0, 3]] {
        assert_eq!(from(ip).get(&link).send().await.unwrap().status(), 200);
    }
    let (status, text) = page_of(from([127, 0, 0, 4]).get(&link).send().await.unwrap()).await;
    assert_eq!(status, 403);
    assert!(text.contains("locked"), "{text}");
    assert_eq!(
        from([127, 0, 0, 1])
            .get(&link)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let links = ok(app
        .get(&format!("/v1/orders/{order_id}/download_links"))
        .await)
    .await;
    let locked = links["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["locked"] == true)
        .expect("a locked link")
        .clone();
    assert_eq!(
        events_of_type(&app, "download_link.locked").await.len(),
        1,
        "flagged"
    );
    ok(app
        .post(
            &format!("/v1/download_links/{}/unlock", id(&locked)),
            json!({}),
        )
        .await)
    .await;
    assert_eq!(
        from([127, 0, 0, 4])
            .get(&link)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Exhausted: five downloads (default), then a page saying so.
    let counted = fresh_link().await;
    for _ in 0..5 {
        assert_eq!(app.client.get(&counted).send().await.unwrap().status(), 200);
    }
    let (status, text) = page_of(app.client.get(&counted).send().await.unwrap()).await;
    assert_eq!(status, 410);
    assert!(text.contains("used up"), "{text}");

    // Expired after 24 hours.
    let expiring = fresh_link().await;
    clock.advance_seconds(24 * 3600 + 1);
    let (status, text) = page_of(app.client.get(&expiring).send().await.unwrap()).await;
    assert_eq!(status, 410);
    assert!(text.contains("expired"), "{text}");

    // The rate limit: per link (30 a minute), then per address (120 a minute).
    let limited = fresh_link().await;
    let mut statuses = Vec::new();
    for _ in 0..31 {
        statuses.push(
            from([127, 0, 0, 5])
                .head(&limited)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert!(statuses[..30].iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(statuses[30], 429);

    // A `same_major` license sees updates within the major version it was bought in.
    let pinned = id(&ok(app.post("/v1/products", json!({"name": "Pinned", "kind": "digital", "license": {"prefix": "PIN", "updates": "same_major"}})).await).await);
    ok(app
        .post(
            "/v1/prices",
            json!({"product_id": pinned, "currency": "USD", "unit_amount": 900}),
        )
        .await)
    .await;
    ok(upload(&app, &pinned, "1.0.0", "any", file_bytes(1000, 4)).await).await;
    let (pinned_order, _) = paid_order(&app, &customer, &pinned, true).await;
    let started = Instant::now();
    let pinned_key = loop {
        let licenses = ok(app
            .get(&format!("/v1/orders/{pinned_order}/licenses"))
            .await)
        .await;
        if let Some(key) = licenses["data"][0]["key"].as_str() {
            assert_eq!(licenses["data"][0]["major_version"], 1);
            break key.to_owned();
        }
        assert!(started.elapsed() < Duration::from_secs(15), "not fulfilled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    ok(upload(&app, &pinned, "2.0.0", "any", file_bytes(1000, 5)).await).await;
    let check = || {
        app.client
            .get(app.url(&format!(
                "/v1/updates?product={pinned}&version=1.0.0&platform=linux-x86_64"
            )))
            .header("License-Key", pinned_key.as_str())
            .send()
    };
    assert_eq!(
        ok(check().await.unwrap()).await["update_available"],
        false,
        "2.0.0 is another major"
    );
    ok(upload(&app, &pinned, "1.1.0", "any", file_bytes(1000, 6)).await).await;
    assert_eq!(ok(check().await.unwrap()).await["version"], "1.1.0");
    expect_error(
        app.client
            .get(app.url(&format!(
                "/v1/updates?product={product}&version=1.0.0&platform=any"
            )))
            .header("License-Key", pinned_key.as_str())
            .send()
            .await
            .unwrap(),
        403,
        "license_product_mismatch",
        Some("License-Key"),
    )
    .await;

    // Fresh links by email: the same answer whether or not the address has orders.
    let known = app
        .client
        .post(app.url("/v1/downloads/resend"))
        .json(&json!({"email": "ada@example.com"}))
        .send()
        .await
        .unwrap();
    let unknown = app
        .client
        .post(app.url("/v1/downloads/resend"))
        .json(&json!({"email": "nobody@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (known.status(), unknown.status()),
        (reqwest::StatusCode::ACCEPTED, reqwest::StatusCode::ACCEPTED)
    );
    assert_eq!(known.text().await.unwrap(), unknown.text().await.unwrap());
    assert_eq!(events_of_type(&app, "downloads.resent").await.len(), 1);
    expect_error(
        app.client
            .post(app.url("/v1/downloads/resend"))
            .json(&json!({"email": "not-an-address"}))
            .send()
            .await
            .unwrap(),
        400,
        "parameter_invalid",
        Some("email"),
    )
    .await;
}
}

/// Events of one type, oldest first.
async fn events_of_type(app: &TestApp, event_type: &str) -> Vec<bursar_domain::event::Event> {
    let (ws, event_type) = (app.workspace_id.clone(), event_type.to_owned());
    app.db()
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let rows = tx
                    .fetch_all(
                        "select event_id from domain_event where event_type = $1 order by position",
                        &[event_type.as_str().into()],
                    )
                    .await?;
                let mut events = Vec::new();
                for row in rows {
                    events
                        .extend(bursar_store::events::get(tx, &ws, &row.text("event_id")?).await?);
                }
                Ok::<_, bursar_store::StoreError>(events)
            })
        })
        .await
        .unwrap()
}

/// One mebibyte of the large test file: different for each index, cheap to make.
fn mebibyte(index: u64) -> Vec<u8> {
    let mut chunk = Vec::with_capacity(1 << 20);
    let mut x = index.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while chunk.len() < 1 << 20 {
        // xorshift64
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.extend_from_slice(&x.to_le_bytes());
    }
    chunk
}

/// The peak resident memory of a process, in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The server's peak memory while it receives and serves a 1 GiB file stays under this.
const PEAK_RSS_BOUND_MIB: u64 = 128;

both_backends! {
/// Goal: a 1 GiB artifact uploads and downloads through the real binary with flat memory
/// (the server's peak RSS stays under [`PEAK_RSS_BOUND_MIB`]), and a download interrupted
/// part-way resumes from a byte range to the exact bytes.
async fn a_gigabyte_artifact_streams_with_flat_memory(backend: Backend) {
    const MIB: u64 = 1 << 20;
    const SIZE_MIB: u64 = 1024;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let mut args = vec!["--data-dir".to_owned(), data.clone()];
    let mut secret_key = None;
    if backend == Backend::Postgres {
        let url = bursar_testkit::fresh_postgres_database().await.unwrap();
        secret_key = Some(crate::helpers::test_secret_key(&url));
        args.push("--database-url".into());
        args.push(url);
    }
    let mut create = std::process::Command::new(env!("CARGO_BIN_EXE_bursar"));
    create
        .args(["workspaces", "create", "--name", "big", "--sandbox"])
        .args(&args)
        .env_remove("BURSAR_DATA_DIR")
        .env_remove("BURSAR_DATABASE_URL")
        .env_remove("BURSAR_SECRET_KEY");
    if let Some(secret_key) = &secret_key {
        create.env("BURSAR_SECRET_KEY", secret_key);
    }
    let created = create.output().unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let stdout = String::from_utf8_lossy(&created.stdout).into_owned();
    let key = stdout
        .split_whitespace()
        .find(|w| w.starts_with("sk_"))
        .unwrap()
        .to_owned();
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut running = crate::cli::start(&arg_refs, dir.path());
    crate::cli::wait_healthy(&mut running).await;
    let base = running.base.clone();
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };
    let get = |path: &str| client.get(format!("{base}{path}")).bearer_auth(&key).send();

    let product = id(&ok(post(
        "/v1/products",
        json!({"name": "Big", "kind": "digital", "license": {"prefix": "BIG"}}),
    )
    .await
    .unwrap())
    .await);
    ok(post(
        "/v1/prices",
        json!({"product_id": product, "currency": "USD", "unit_amount": 100}),
    )
    .await
    .unwrap())
    .await;

    // Upload 1 GiB, generated as it is sent.
    let mut expected = Sha256::new();
    for i in 0..SIZE_MIB {
        expected.update(mebibyte(i));
    }
    let expected = hex::encode(expected.finalize());
    let body = futures::stream::iter(0..SIZE_MIB).map(|i| Ok::<_, std::io::Error>(mebibyte(i)));
    let uploaded = client
        .post(format!("{base}/v1/artifacts?product_id={product}&version=1.0.0&platform=any&file_name=big-1.0.0-any.bin"))
        .bearer_auth(&key)
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    let artifact = ok(uploaded).await;
    assert_eq!(artifact["size"].as_u64(), Some(SIZE_MIB * MIB));
    assert_eq!(artifact["sha256"], expected.as_str());

    // Bought: a license, and a link by the update check.
    let customer = id(&ok(post("/v1/customers", json!({"name": "Big Buyer"}))
        .await
        .unwrap())
    .await);
    let order = id(&ok(post(
        "/v1/orders",
        json!({"customer_id": customer, "currency": "USD", "lines": [{"product_id": product}]}),
    )
    .await
    .unwrap())
    .await);
    let opened = ok(post(&format!("/v1/orders/{order}/checkout"), json!({}))
        .await
        .unwrap())
    .await;
    let session = opened["checkout"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(post(
        &format!("/v1/test_provider/checkout_sessions/{session}/complete"),
        json!({"outcome": "succeeded"}),
    )
    .await
    .unwrap())
    .await;
    let started = Instant::now();
    let license_key = loop {
        let licenses = ok(get(&format!("/v1/orders/{order}/licenses")).await.unwrap()).await;
        if let Some(key) = licenses["data"][0]["key"].as_str() {
            break key.to_owned();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no license");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let update = ok(client
        .get(format!(
            "{base}/v1/updates?product={product}&version=0.9.0&platform=linux-x86_64"
        ))
        .header("License-Key", &license_key)
        .send()
        .await
        .unwrap())
    .await;
    let url = update["download_url"].as_str().unwrap().to_owned();

    // Download about 300 MiB, drop the connection, resume from there.
    let mut hasher = Sha256::new();
    let mut received: u64 = 0;
    let mut first = client.get(&url).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(
        first.headers()["content-length"],
        (SIZE_MIB * MIB).to_string().as_str()
    );
    while received < 300 * MIB {
        let chunk = first.chunk().await.unwrap().expect("the file ended early");
        received += chunk.len() as u64;
        hasher.update(&chunk);
    }
    drop(first);
    let mut rest = client
        .get(&url)
        .header("Range", format!("bytes={received}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 206);
    assert_eq!(
        rest.headers()["content-range"],
        format!("bytes {received}-{}/{}", SIZE_MIB * MIB - 1, SIZE_MIB * MIB).as_str()
    );
    while let Some(chunk) = rest.chunk().await.unwrap() {
        received += chunk.len() as u64;
        hasher.update(&chunk);
    }
    assert_eq!(received, SIZE_MIB * MIB);
    assert_eq!(hex::encode(hasher.finalize()), expected);

    let peak_mib = peak_rss_kib(running.child.id()) / 1024;
    println!("server peak RSS over a 1 GiB upload and download: {peak_mib} MiB");
    assert!(peak_mib < PEAK_RSS_BOUND_MIB, "peak RSS {peak_mib} MiB");
    let (status, output) = crate::cli::terminate(running);
    assert!(status.success(), "{output}");
}
}

/// An S3-compatible server (moto, started by the test) with one bucket.
struct S3Server {
    child: std::process::Child,
    port: u16,
}

impl S3Server {
    async fn start(bucket: &str) -> S3Server {
        let port = crate::cli::free_port();
        let child = std::process::Command::new("python3")
            .env("PYTHONPATH", python_path("moto", "moto[server]==5.1.4"))
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let server = S3Server { child, port };
        let started = Instant::now();
        loop {
            let created = reqwest::Client::new().put(server.url(bucket)).send().await;
            if created.is_ok_and(|r| r.status().is_success()) {
                return server;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "moto did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    /// The keys of a bucket's objects.
    async fn keys(&self, bucket: &str) -> Vec<String> {
        let listing = reqwest::get(self.url(&format!("{bucket}?list-type=2")))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        listing
            .split("<Key>")
            .skip(1)
            .map(|part| part.split("</Key>").next().unwrap().to_owned())
            .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

both_backends! {
/// Goal: with `artifacts_url` naming an S3 bucket (a real S3 wire protocol: moto's server), a
/// file larger than one part uploads as a multipart upload under its SHA-256 and downloads,
/// whole and by range, to the exact bytes.
async fn artifacts_live_in_an_s3_compatible_store(backend: Backend) {
    let s3 = S3Server::start("releases").await;
    let core = bursar_core::Config {
        artifacts_url: Some("s3://releases/bursar".into()),
        artifacts_options: bursar_core::StoreOptions(
            [
                ("aws_endpoint", format!("http://127.0.0.1:{}", s3.port)),
                ("aws_access_key_id", "test".into()),
                ("aws_secret_access_key", "test".into()),
                ("aws_region", "us-east-1".into()),
                ("aws_allow_http", "true".into()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        ),
        ..Default::default()
    };
    let settings = bursar::server::Settings {
        core,
        ..Default::default()
    };
    let app = TestApp::spawn_with(backend, settings).await;
    let (product, customer) = licensed_shop(&app, json!({"prefix": "S3X"})).await;
    let bytes = file_bytes(20 << 20, 9);
    let artifact = ok(upload(&app, &product, "3.0.0", "any", bytes.clone()).await).await;
    assert_eq!(artifact["sha256"], sha(&bytes).as_str());
    let keys = s3.keys("releases").await;
    assert_eq!(
        keys,
        [format!(
            "bursar/sha256/{}/{}",
            &sha(&bytes)[..2],
            sha(&bytes)
        )],
        "only the finished file"
    );

    let (order_id, _) = paid_order(&app, &customer, &product, true).await;
    let started = Instant::now();
    let key = loop {
        let licenses = ok(app.get(&format!("/v1/orders/{order_id}/licenses")).await).await;
        if let Some(key) = licenses["data"][0]["key"].as_str() {
            break key.to_owned();
        }
        assert!(started.elapsed() < Duration::from_secs(15), "not fulfilled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let update = ok(app
        .client
        .get(app.url(&format!(
            "/v1/updates?product={product}&version=2.0.0&platform=linux-x86_64"
        )))
        .header("License-Key", key.as_str())
        .send()
        .await
        .unwrap())
    .await;
    let link = update["download_url"].as_str().unwrap().to_owned();
    let whole = app.client.get(&link).send().await.unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(sha(&whole.bytes().await.unwrap()), sha(&bytes));
    let part = app
        .client
        .get(&link)
        .header("Range", "bytes=9000000-9000099")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.bytes().await.unwrap().as_ref(),
        &bytes[9_000_000..9_000_100]
    );
}
}
