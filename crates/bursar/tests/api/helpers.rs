//! Shared test helpers.

pub use crate::app::TestApp;
pub use bursar_store::Backend;
pub use serde_json::{json, Value};

/// Declares a test that runs once per backend: `name::sqlite` and `name::postgres`
/// (`bursar_testkit::both_backends!`, whose forms take a backend, a spawned app, or an app on a
/// manual clock). The short form `async fn name(app: TestApp)` spawns with [`TestApp::spawn`].
#[macro_export]
macro_rules! both_backends {
    ($(#[$meta:meta])* async fn $name:ident($app:ident: TestApp) $body:block) => {
        bursar_testkit::both_backends! {
            $(#[$meta])* async fn $name($app: TestApp = $crate::helpers::TestApp::spawn) $body
        }
    };
    ($($rest:tt)*) => {
        bursar_testkit::both_backends! { $($rest)* }
    };
}

/// Reads a JSON body after checking the response is JSON.
pub async fn json_body(response: reqwest::Response) -> Value {
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "content-type was {content_type:?}"
    );
    response.json().await.unwrap()
}

/// Asserts an error response: status, code and param.
pub async fn expect_error(
    response: reqwest::Response,
    status: u16,
    code: &str,
    param: Option<&str>,
) -> Value {
    assert_eq!(response.status().as_u16(), status, "unexpected status");
    let body = json_body(response).await;
    let error = &body["error"];
    assert_eq!(error["code"], code, "body: {body}");
    assert_eq!(error["param"].as_str(), param, "body: {body}");
    assert!(
        error["type"].is_string() && error["message"].is_string(),
        "body: {body}"
    );
    body
}

/// Every customer id of the app's first workspace, by walking the list.
pub async fn all_customer_ids(app: &TestApp, key: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut url = app.url("/v1/customers?limit=100");
        if let Some(after) = &after {
            url.push_str(&format!("&starting_after={after}"));
        }
        let response = app.client.get(url).bearer_auth(key).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let page = json_body(response).await;
        let data = page["data"].as_array().unwrap();
        ids.extend(data.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        if !page["has_more"].as_bool().unwrap() {
            return ids;
        }
        after = ids.last().cloned();
    }
}

/// A Python path where `module` is importable, installing `requirement` from PyPI under the
/// target directory on first use, so the README's one test command needs nothing but python3
/// and pip.
pub fn python_path(module: &str, requirement: &str) -> String {
    use std::process::{Command, Stdio};
    static PATHS: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());
    let mut paths = PATHS.lock().unwrap();
    if let Some((_, path)) = paths.iter().find(|(m, _)| m == module) {
        return path.clone();
    }
    let present = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let dir =
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("python-{module}"));
    if !present && !dir.join(module).exists() {
        let install = |extra: &[&str]| {
            Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--target",
                ])
                .arg(&dir)
                .args(extra)
                .arg(requirement)
                .status()
                .expect("python3 and pip are needed for the conformance tests")
                .success()
        };
        // Some distributions mark their Python "externally managed"; a --target directory of
        // our own is not theirs.
        assert!(
            install(&[]) || install(&["--break-system-packages"]),
            "pip could not install {requirement}"
        );
    }
    let path = dir.display().to_string();
    paths.push((module.to_owned(), path.clone()));
    path
}

/// Posted balances of a ledger account (`commerce:revenue:USD`): (debits, credits); (0, 0)
/// while it does not exist. Asserts nothing is pending.
pub async fn ledger_balances(app: &TestApp, account: &str) -> (i64, i64) {
    let response = app.get(&format!("/v1/ledger/accounts/{account}")).await;
    if response.status() == 404 {
        return (0, 0);
    }
    assert_eq!(response.status(), 200);
    let body = json_body(response).await;
    let b = &body["balances"];
    assert_eq!(b["debits_pending"], 0);
    (
        b["debits_posted"].as_i64().unwrap(),
        b["credits_posted"].as_i64().unwrap(),
    )
}

/// Delivers a signed provider event as the test provider returned it (`webhook_path`,
/// `signature`, `payload`).
pub async fn post_signed(app: &TestApp, event: &Value) -> reqwest::Response {
    app.client
        .post(app.url(event["webhook_path"].as_str().unwrap()))
        .header("Stripe-Signature", event["signature"].as_str().unwrap())
        .header("Content-Type", "application/json")
        .body(event["payload"].as_str().unwrap().to_owned())
        .send()
        .await
        .unwrap()
}

/// The sealing key of a test's PostgreSQL database (`BURSAR_SECRET_KEY`'s form): derived from
/// its URL, so the test server and the commands a test runs against it share it.
pub fn test_secret_key(url: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(url.as_bytes()))
}

/// `bursar <args>` as a command against the app's database, with its environment cleared of
/// Bursar's variables but the database's sealing key. It gets a temporary data directory of
/// its own, so no test writes `./bursar-data` in the crate; keep the directory alive until the
/// command has run.
pub fn bursar_command(
    location: &bursar_store::Location,
    args: &[&str],
) -> (std::process::Command, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_bursar"));
    command
        .args(args)
        .env_remove("BURSAR_DATA_DIR")
        .env_remove("BURSAR_DATABASE_URL")
        .env_remove("BURSAR_SECRET_KEY");
    match location {
        bursar_store::Location::SqliteDir(dir) => command.arg("--data-dir").arg(dir),
        bursar_store::Location::Postgres(url) => command
            .args(["--database-url", url])
            .env("BURSAR_SECRET_KEY", test_secret_key(url))
            .arg("--data-dir")
            .arg(data.path()),
    };
    (command, data)
}

/// The token field of a hosted page's form (`csrf_token`), as a browser would submit it.
pub fn form_token(page: &str) -> String {
    let needle = "name=csrf_token value=\"";
    let start = page.find(needle).expect("the page has a form token") + needle.len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// The body of the page at `url` (a full URL), as a browser would fetch it.
pub async fn page_text(app: &TestApp, url: &str) -> String {
    app.client
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Submits a hosted page's form to `action` as the browser would: with the page's token.
pub async fn submit_form(app: &TestApp, page_url: &str, action: &str) -> reqwest::Response {
    let page = page_text(app, page_url).await;
    app.client
        .post(action)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf_token={}", form_token(&page)))
        .send()
        .await
        .unwrap()
}

/// The `id` of an API object.
pub fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// The JSON body of a response that must be a 200.
pub async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body = json_body(response).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Saves a test-provider card (`visa`, `declined`, `insufficient_funds`, `stolen`,
/// `authentication_required`…) for `customer` through its hosted setup; returns the saved
/// method's id.
pub async fn save_card(app: &TestApp, customer: &str, card: &str) -> String {
    let setup = ok(app
        .post(
            &format!("/v1/customers/{customer}/payment_method_setups"),
            json!({"currency": "USD"}),
        )
        .await)
    .await;
    let path = format!(
        "/v1/test_provider/setup_sessions/{}/complete",
        setup["id"].as_str().unwrap()
    );
    let receipt = ok(app.post(&path, json!({"card": card})).await).await;
    assert_eq!(receipt["receipts"][0]["outcome"], "applied", "{receipt}");
    let methods = ok(app
        .get(&format!("/v1/customers/{customer}/payment_methods"))
        .await)
    .await;
    id(&methods["data"][0])
}

/// Runs `bursar <args>` against the app's database: (success, stdout and stderr).
pub fn cli(app: &TestApp, args: &[&str]) -> (bool, String) {
    let (mut command, _data) = bursar_command(&app.location, args);
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}
