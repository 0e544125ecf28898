//! Collections: the account-health engine driven by the clock, dunning policies and their
//! versions, off-session retries through the test provider, the disagreement detector.

use std::sync::Arc;

use bursar_domain::time::{Clock, ManualClock, SystemClock};

use crate::both_backends;
use crate::helpers::*;

pub(crate) const DAY: i64 = 86_400;

pub(crate) async fn sweep(app: &TestApp) {
    bursar_core::collections::sweep(app.core()).await.unwrap();
}

pub(crate) async fn customer(app: &TestApp, name: &str) -> String {
    let email = format!("{}@example.com", name.to_lowercase());
    id(&ok(app
        .post("/v1/customers", json!({"name": name, "email": email}))
        .await)
    .await)
}

/// An invoice of `amount` USD due on issue; returns its id.
pub(crate) async fn overdue_invoice(app: &TestApp, customer: &str, amount: i64) -> String {
    let invoice = id(&ok(app.post("/v1/invoices", json!({"customer_id": customer, "currency": "USD", "payment_terms_days": 0, "lines": [{"description": "Service", "unit_amount": amount}]})).await).await);
    ok(app
        .post(&format!("/v1/invoices/{invoice}/issue"), json!({}))
        .await)
    .await;
    invoice
}

pub(crate) async fn status(app: &TestApp, customer: &str) -> Value {
    ok(app
        .get(&format!("/v1/customers/{customer}/billing_status"))
        .await)
    .await
}

pub(crate) async fn events_of(app: &TestApp, customer: &str) -> Vec<Value> {
    let timeline = ok(app
        .get(&format!("/v1/customers/{customer}/timeline?limit=100"))
        .await)
    .await;
    timeline["data"].as_array().unwrap().clone()
}

async fn email_templates(app: &TestApp) -> Vec<String> {
    let list = ok(app.get("/v1/emails?limit=100").await).await;
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["template"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The text of the mailbox's message of `template`.
async fn mail_text(app: &TestApp, template: &str) -> String {
    let list = ok(app.get("/v1/emails?limit=100").await).await;
    let mail = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["template"] == template);
    mail.unwrap_or_else(|| panic!("no {template} email: {list}"))["text"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Waits until the mailbox holds a message of `template`.
pub(crate) async fn wait_for_template(app: &TestApp, template: &str) {
    let started = std::time::Instant::now();
    while !email_templates(app).await.iter().any(|t| t == template) {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(15),
            "no {template} email: {:?}",
            email_templates(app).await
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

pub(crate) fn step(at_days: u16, actions: Value) -> Value {
    json!({"at_days": at_days, "actions": actions})
}

both_backends! {
/// Goal: a customer falls behind, gets a reminder the day after, a soft decline on the first
/// retry (an email saying so), fixes the card, and the next retry pays the invoice: the
/// account is active again in the transaction that records the payment, every step an event
/// carrying the policy version.
async fn a_dunning_cycle_retries_notifies_and_recovers(backend: Backend) {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let app = TestApp::spawn_with_clock(backend, clock.clone()).await;
    let policy = ok(app.post("/v1/dunning_policies", json!({"name": "Cards", "default": true, "steps": [
        step(1, json!([{"type": "notify", "template": "reminder"}])),
        step(3, json!([{"type": "retry_payment"}])),
        step(7, json!([{"type": "retry_payment"}])),
        step(15, json!([{"type": "limit_entitlements"}, {"type": "block_changes"}])),
    ]})).await).await;
    assert_eq!((policy["version"].as_u64(), policy["default"].as_bool()), (Some(1), Some(true)));
    let ada = customer(&app, "Ada").await;
    save_card(&app, &ada, "declined").await;
    let invoice = overdue_invoice(&app, &ada, 2_500).await;

    clock.advance_seconds(DAY + 60);
    sweep(&app).await;
    let late = status(&app, &ada).await;
    assert_eq!((late["status"].as_str(), late["position"]["applied"].as_u64()), (Some("past_due"), Some(0)), "{late}");
    assert_eq!(late["position"]["anchor_invoice_id"], invoice.as_str());
    wait_for_template(&app, "dunning_reminder").await;
    let reminder = mail_text(&app, "dunning_reminder").await;
    assert!(reminder.contains("Collections policy Cards, version 1, step 1 (day 1)."), "{reminder}");

    clock.advance_seconds(2 * DAY);
    sweep(&app).await;
    let declined = status(&app, &ada).await;
    let retry = &declined["dunning"]["retries"][0];
    assert_eq!((retry["result"].as_str(), retry["class"].as_str()), (Some("declined"), Some("soft")), "{declined}");
    assert_eq!(declined["status"], "past_due");
    wait_for_template(&app, "dunning_payment_failed").await;
    let failed = mail_text(&app, "dunning_payment_failed").await;
    assert!(failed.contains("Collections policy Cards, version 1, step 2 (day 3)."), "{failed}");

    save_card(&app, &ada, "visa").await;
    clock.advance_seconds(4 * DAY);
    sweep(&app).await;
    let recovered = status(&app, &ada).await;
    assert_eq!((recovered["status"].as_str(), recovered["reason"].as_str()), (Some("active"), Some("overdue_invoices_paid")), "{recovered}");
    assert!(recovered["position"].is_null() && recovered["dunning"].is_null(), "{recovered}");
    let paid = ok(app.get(&format!("/v1/invoices/{invoice}")).await).await;
    assert_eq!((paid["status"].as_str(), paid["amount_due"].as_i64()), (Some("paid"), Some(0)));
    let entitlements = ok(app.get(&format!("/v1/customers/{ada}/entitlements")).await).await;
    assert_eq!(entitlements["access"], "full");

    let events = events_of(&app, &ada).await;
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).filter(|t| t.starts_with("dunning.")).collect();
    // The reminder and the declined retry ran as steps; the second retry paid, so the account
    // left dunning before its step was recorded.
    assert_eq!(kinds.iter().filter(|k| **k == "dunning.step_executed").count(), 2, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "dunning.retry_attempted").count(), 2, "{kinds:?}");
    for kind in ["dunning.started", "dunning.retry_attempted", "dunning.recovered"] {
        assert!(kinds.contains(&kind), "{kind} missing: {kinds:?}");
    }
    for event in events.iter().filter(|e| e["type"] == "dunning.step_executed") {
        assert_eq!(event["data"]["policy_version"], 1, "{event}");
    }
    let summary = ok(app.get("/v1/collections/summary").await).await;
    assert_eq!((summary["statuses"]["active"].as_u64(), summary["recoveries"][0]["started"].as_u64(), summary["recoveries"][0]["recovered"].as_u64()), (Some(1), Some(1), Some(1)), "{summary}");
    assert_eq!(summary["recoveries"][0]["recovered_by_retries"]["USD"], 2_500, "{summary}");
    assert_eq!((summary["retries"]["soft"].as_u64(), summary["retries"]["succeeded"].as_u64()), (Some(1), Some(1)), "{summary}");
    // Nothing runs twice: another sweep at the same instant changes nothing.
    sweep(&app).await;
    assert_eq!(events_of(&app, &ada).await.len(), events.len());
}
}

both_backends! {
/// Goal: editing a policy makes a new version; an account already in dunning keeps the
/// version it entered with until it recovers, a new one takes the new version, and the
/// events say which.
async fn a_policy_edit_keeps_accounts_in_dunning_on_their_version(backend: Backend) {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let app = TestApp::spawn_with_clock(backend, clock.clone()).await;
    let policy = id(&ok(app.post("/v1/dunning_policies", json!({"name": "Gentle", "steps": [
        step(1, json!([{"type": "notify", "template": "reminder"}])),
        step(20, json!([{"type": "suspend_entitlements"}])),
    ]})).await).await);
    let early = customer(&app, "Early").await;
    overdue_invoice(&app, &early, 1_000).await;
    clock.advance_seconds(DAY + 60);
    sweep(&app).await;
    assert_eq!(status(&app, &early).await["position"]["policy_version"], 1);

    let edited = ok(app.post(&format!("/v1/dunning_policies/{policy}"), json!({"name": "Strict", "steps": [
        step(1, json!([{"type": "notify", "template": "final_notice"}])),
        step(2, json!([{"type": "suspend_entitlements"}, {"type": "block_changes"}])),
    ]})).await).await;
    assert_eq!((edited["version"].as_u64(), edited["default"].as_bool()), (Some(2), Some(true)), "the first policy is the default");
    let late = customer(&app, "Late").await;
    let product = id(&ok(app.post("/v1/products", json!({"name": "API", "kind": "service"})).await).await);
    let start = bursar_domain::time::Timestamp::from_unix_micros(clock.now().unix_micros() - DAY * 1_000_000).to_rfc3339();
    let contract = ok(app.post("/v1/contracts", json!({"buyer_id": late, "currency": "USD", "term": {"start": start}, "lines": [{"product_id": product, "unit_amount": 900}]})).await).await;
    let operations = format!("/v1/contracts/{}/operations", id(&contract));
    ok(app.post(&operations, json!({"type": "activate"})).await).await;
    overdue_invoice(&app, &late, 1_000).await;
    clock.advance_seconds(3 * DAY);
    sweep(&app).await;
    let (early_status, late_status) = (status(&app, &early).await, status(&app, &late).await);
    assert_eq!(early_status["position"]["policy_version"], 1, "{early_status}");
    assert_eq!(late_status["position"]["policy_version"], 2, "{late_status}");
    assert_eq!((early_status["access"].as_str(), late_status["access"].as_str()), (Some("full"), Some("none")));
    let suspended = ok(app.get(&format!("/v1/customers/{late}/entitlements")).await).await;
    assert_eq!((suspended["access"].as_str(), suspended["changes_blocked"].as_bool()), (Some("none"), Some(true)), "{suspended}");
    assert_eq!(suspended["features"], json!([]), "{suspended}");
    let change = json!({"type": "change_quantity", "line_id": contract["lines"][0]["id"], "quantity": 2});
    let refused = expect_error(app.post(&operations, change).await, 409, "account_changes_blocked", None).await;
    assert_eq!(refused["error"]["current_state"], "past_due", "{refused}");
    let steps: Vec<Value> = events_of(&app, &late).await.into_iter().filter(|e| e["type"] == "dunning.step_executed").collect();
    assert_eq!(steps.len(), 2);
    assert!(steps.iter().all(|e| e["data"]["policy_version"] == 2));
    let listed = ok(app.get("/v1/dunning_policies").await).await;
    assert_eq!(listed["data"][0]["version"], 2, "the list shows the latest version");

    // A bad policy is refused naming the field, and writes nothing.
    expect_error(app.post("/v1/dunning_policies", json!({"name": "Bad", "steps": [step(5, json!([{"type": "write_off"}])), step(5, json!([{"type": "write_off"}]))]})).await, 400, "parameter_invalid", Some("steps[1].at_days")).await;
    expect_error(app.post("/v1/dunning_policies", json!({"name": "Bad", "steps": [step(5, json!([{"type": "write_off"}]))], "minimum_balances": {"XYZ": 5}})).await, 400, "parameter_invalid", Some("minimum_balances.XYZ")).await;
    assert_eq!(ok(app.get("/v1/dunning_policies").await).await["data"].as_array().unwrap().len(), 1);
}
}

both_backends! {
/// Goal: a stored status edited in the database disagrees with what the facts say; `bursar
/// collections check` names the account and both answers and fails; `--repair` stores the
/// answer of the facts, and the check passes again.
async fn the_disagreement_detector_finds_and_repairs_a_corrupted_status(backend: Backend) {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let app = TestApp::spawn_with_clock(backend, clock.clone()).await;
    let grace = customer(&app, "Grace").await;
    overdue_invoice(&app, &grace, 3_000).await;
    clock.advance_seconds(DAY);
    sweep(&app).await;
    assert_eq!(status(&app, &grace).await["status"], "past_due");
    let (passed, output) = cli(&app, &["collections", "check"]);
    assert!(passed, "{output}");

    let corrupt = format!(
        "update billing_status set status = 'active', body = replace(body, '\"status\":\"past_due\"', '\"status\":\"active\"') where object_id = '{grace}'"
    );
    app.db()
        .write(move |tx| Box::pin(async move { tx.execute(&corrupt, &[]).await }))
        .await
        .unwrap();
    assert_eq!(status(&app, &grace).await["status"], "active");
    let (passed, output) = cli(&app, &["collections", "check"]);
    assert!(!passed, "{output}");
    let line = output.lines().find(|l| l.contains(&grace)).unwrap_or_else(|| panic!("{output}"));
    let found: Value = serde_json::from_str(line).unwrap();
    assert_eq!((found["stored"]["status"].as_str(), found["recomputed"]["status"].as_str()), (Some("active"), Some("past_due")), "{line}");

    let (passed, output) = cli(&app, &["collections", "check", "--repair"]);
    assert!(passed, "{output}");
    assert!(output.contains("repaired 1 accounts; 0 still disagree"), "{output}");
    assert_eq!(status(&app, &grace).await["status"], "past_due");
    let (passed, output) = cli(&app, &["collections", "check"]);
    assert!(passed, "{output}");
}
}

both_backends! {
/// Goal: the decline class decides the next retry — a soft decline (insufficient funds) is
/// retried on schedule, a hard one (stolen card) never again (the customer is asked for a new
/// method), an authentication-required one is not retried off-session — and every declined
/// retry opens a fresh hosted payment link that the email about it carries, with the amount.
async fn decline_classes_decide_what_a_retry_does(backend: Backend) {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let app = TestApp::spawn_with_clock(backend, clock.clone()).await;
    ok(app.post("/v1/dunning_policies", json!({"name": "Retries", "steps": [
        step(1, json!([{"type": "retry_payment"}])),
        step(2, json!([{"type": "retry_payment"}])),
    ]})).await).await;
    let mut customers = Vec::new();
    for (name, card) in [("Soft", "insufficient_funds"), ("Hard", "stolen"), ("Auth", "authentication_required")] {
        let customer = customer(&app, name).await;
        save_card(&app, &customer, card).await;
        let invoice = overdue_invoice(&app, &customer, 4_000).await;
        customers.push((customer, invoice));
    }
    clock.advance_seconds(DAY + 60);
    sweep(&app).await;
    clock.advance_seconds(DAY);
    sweep(&app).await;
    let outcomes = |status: &Value| -> Vec<(String, String)> {
        status["dunning"]["retries"].as_array().unwrap().iter().map(|r| {
            let detail = r["class"].as_str().or(r["reason"].as_str()).unwrap_or_default();
            (r["result"].as_str().unwrap().to_owned(), detail.to_owned())
        }).collect()
    };
    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    let soft = status(&app, &customers[0].0).await;
    assert_eq!(outcomes(&soft), vec![pair("declined", "soft"), pair("declined", "soft")], "{soft}");
    let hard = status(&app, &customers[1].0).await;
    assert_eq!(outcomes(&hard), vec![pair("declined", "hard"), pair("skipped", "hard_decline")], "{hard}");
    let auth = status(&app, &customers[2].0).await;
    assert_eq!(outcomes(&auth), vec![pair("declined", "authentication_required"), pair("skipped", "authentication_required")], "{auth}");
    for (customer, charges) in [(&customers[0].0, 2), (&customers[1].0, 1), (&customers[2].0, 1)] {
        let attempts = events_of(&app, customer).await.iter().filter(|e| e["type"] == "dunning.retry_attempted").count();
        assert_eq!(attempts, charges, "{customer}: charges at the provider");
    }
    let summary = ok(app.get("/v1/collections/summary").await).await;
    assert_eq!(summary["retries"], json!({"soft": 2, "hard": 1, "authentication_required": 1, "skipped": 2}), "{summary}");
    assert_eq!(summary["steps"][0]["accounts"], 3, "{summary}");
    // Every declined retry opened a fresh hosted payment link for the anchor invoice, and the
    // email about it carries the link with its amount (the soft decline's second email, the
    // latest link).
    let templates = ["dunning_payment_failed", "dunning_update_payment_method", "dunning_authentication_required"];
    for ((_, invoice), template) in customers.iter().zip(templates) {
        let linked = ok(app.get(&format!("/v1/invoices/{invoice}")).await).await;
        let url = linked["payment_link"]["url"].as_str().unwrap_or_else(|| panic!("no payment link: {linked}")).to_owned();
        assert_eq!(linked["payment_link"]["amount"], 4_000, "{linked}");
        let started = std::time::Instant::now();
        loop {
            let mails = ok(app.get("/v1/emails?limit=100").await).await;
            let texts: Vec<&str> = mails["data"].as_array().unwrap().iter()
                .filter(|m| m["template"] == template).filter_map(|m| m["text"].as_str()).collect();
            let paying = format!("(40.00 USD) online: {url}");
            if texts.iter().any(|t| t.contains(&paying)) {
                assert!(texts.iter().all(|t| t.contains("(40.00 USD) online: http")), "{texts:?}");
                break;
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(15), "{template} without {url}: {texts:?}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    let soft_links = ok(app.get(&format!("/v1/invoices/{}", customers[0].1)).await).await;
    assert_eq!(soft_links["payment_link"]["attempt"], 2, "a link per declined retry: {soft_links}");
}
}

/// The metrics registry is one per process: the tests that refresh the collections gauges and
/// read them back take turns.
static GAUGES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The value of the series `name` with exactly `labels` in a `/metrics` scrape.
async fn scrape(app: &TestApp) -> impl Fn(&str, &[(&str, &str)]) -> Option<f64> {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let samples = crate::ops::parse_prometheus_text(&text);
    move |name: &str, labels: &[(&str, &str)]| {
        samples
            .iter()
            .find(|(metric, found, _)| {
                metric == name
                    && found.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| found.iter().any(|(fk, fv)| fk == k && fv == v))
            })
            .map(|(_, _, value)| *value)
    }
}

both_backends! {
/// Goal: the collections summary, added up over workspaces, is in `/metrics` once the hourly
/// job refreshes it — accounts per status and step, recovery rate, amount recovered and time
/// to recovery per policy version, retries by outcome, bad debt written off against still
/// collectible — and a series with nothing left to count reads 0.
async fn the_collections_summary_is_in_metrics(backend: Backend) {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let app = TestApp::spawn_with_clock(backend, clock.clone()).await;
    ok(app.post("/v1/dunning_policies", json!({"name": "Metered", "steps": [
        step(1, json!([{"type": "notify", "template": "reminder"}])),
        step(2, json!([{"type": "retry_payment"}])),
        step(5, json!([{"type": "write_off"}])),
    ]})).await).await;
    let payer = customer(&app, "Payer").await;
    save_card(&app, &payer, "visa").await;
    overdue_invoice(&app, &payer, 2_500).await;
    let soft = customer(&app, "Soft").await;
    save_card(&app, &soft, "insufficient_funds").await;
    overdue_invoice(&app, &soft, 4_000).await;
    let _gauges = GAUGES.lock().await;
    clock.advance_seconds(DAY + 60);
    sweep(&app).await;
    bursar_core::collections::refresh_gauges(app.core()).await.unwrap();
    let metric = scrape(&app).await;
    assert_eq!(metric("bursar_dunning_accounts", &[("step", "0")]), Some(2.0));
    assert_eq!(metric("bursar_billing_accounts", &[("status", "past_due")]), Some(2.0));

    // The payer's retry pays; the soft decline stays, and is written off at day 5; a third
    // customer falls behind without a card.
    clock.advance_seconds(DAY);
    sweep(&app).await;
    let late = customer(&app, "Late").await;
    overdue_invoice(&app, &late, 1_000).await;
    clock.advance_seconds(3 * DAY);
    sweep(&app).await;
    bursar_core::collections::refresh_gauges(app.core()).await.unwrap();
    let summary = ok(app.get("/v1/collections/summary").await).await;
    let metric = scrape(&app).await;
    let v1 = ("policy_version", "1");
    assert_eq!(metric("bursar_dunning_accounts", &[("step", "0")]), Some(0.0), "{summary}");
    assert_eq!(metric("bursar_dunning_accounts", &[("step", "1")]), Some(1.0), "{summary}");
    assert_eq!(metric("bursar_dunning_accounts", &[("step", "2")]), Some(1.0), "{summary}");
    assert_eq!(metric("bursar_billing_accounts", &[("status", "active")]), Some(1.0), "{summary}");
    assert_eq!(metric("bursar_billing_accounts", &[("status", "collections")]), Some(1.0), "{summary}");
    assert_eq!(metric("bursar_billing_accounts", &[("status", "past_due")]), Some(1.0), "{summary}");
    let rate = metric("bursar_dunning_recovery_rate", &[v1]).unwrap();
    assert!((rate - 1.0 / 3.0).abs() < 1e-9, "{rate}: {summary}");
    assert_eq!(metric("bursar_dunning_recovered_amount", &[v1, ("currency", "USD")]), Some(2_500.0));
    assert_eq!(metric("bursar_dunning_time_to_recovery_seconds", &[v1]), Some(DAY as f64));
    for (outcome, count) in [("succeeded", 1.0), ("soft", 1.0), ("skipped", 1.0)] {
        assert_eq!(metric("bursar_dunning_retry_outcomes", &[("outcome", outcome)]), Some(count), "{outcome}: {summary}");
    }
    assert_eq!(metric("bursar_bad_debt_written_off", &[("currency", "USD")]), Some(4_000.0), "{summary}");
    assert_eq!(metric("bursar_bad_debt_collectible", &[("currency", "USD")]), Some(1_000.0), "{summary}");
}
}
