//! The job monitor: failing background work is visible with its error, retried and cancelled
//! through the API, and the queues' depth and age are measured.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::both_backends;
use crate::helpers::*;
use crate::shipping::paid_physical_order;
use crate::shipping_automation::{deliver, start_callback};
use crate::shipping_carriers::start_fake_dhl;

async fn poll(app: &TestApp) -> bursar_core::shipments::poll::PollReport {
    bursar_core::shipments::poll::poll_due(app.core(), 100)
        .await
        .unwrap()
}

/// The workspace's job runs of `kind`.
async fn runs_of(app: &TestApp, kind: &str) -> Vec<Value> {
    let runs = ok(app.get(&format!("/v1/job_runs?kind={kind}")).await).await;
    runs["data"].as_array().unwrap().clone()
}

/// The one job run of `kind`, once `done` holds of it (the server's jobs run on their own).
async fn run_when(app: &TestApp, kind: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let runs = runs_of(app, kind).await;
        if let Some(run) = runs.first().filter(|r| done(r)) {
            return run.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the job run never got there: {runs:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn event_kinds(run: &Value) -> Vec<String> {
    run["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

fn tracking_queue(health: &[bursar_core::jobs::QueueHealth]) -> (i64, f64) {
    let queue = health
        .iter()
        .find(|q| q.kind == bursar_domain::jobs::JobKind::TrackingPoll)
        .unwrap();
    (queue.depth, queue.oldest_age_seconds)
}

both_backends! {
    /// Goal (issue #20, point 4): a failing tracking poll is a job run with its error; the
    /// queue's depth and the age of its oldest item show in the metrics; a retry through the
    /// API polls again at once and the run succeeds.
    async fn a_failing_poll_is_visible_and_retried(
        app: TestApp = crate::helpers::TestApp::spawn_with_clock,
        clock: ManualClock = "2026-12-01T09:00:00Z",
    ) {
        let dhl = start_fake_dhl().await;
        ok(app.post("/v1/courier_connections", json!({"carrier": "dhl", "api_base": dhl.url, "key": "dhl-key-0001"})).await).await;
        let (order, _) = paid_physical_order(&app, 1).await;
        let shipment = id(&ok(app.post(&format!("/v1/orders/{order}/shipments"), json!({"carrier": "dhl", "tracking_number": "7777777770"})).await).await);

        dhl.failing.store(500, Ordering::SeqCst);
        clock.advance_seconds(6 * 3600);
        assert_eq!(poll(&app).await.failed, 1);
        let runs = runs_of(&app, "tracking_poll").await;
        assert_eq!(runs.len(), 1, "{runs:?}");
        let failed = &runs[0];
        assert_eq!((failed["subject"].as_str(), failed["status"].as_str(), failed["attempts"].as_u64()),
            (Some(shipment.as_str()), Some("failed"), Some(1)), "{failed}");
        assert!(failed["last_error"].as_str().is_some_and(|e| e.contains("500")), "{failed}");
        assert_eq!(failed["next_attempt_at"], "2026-12-01T15:30:00Z", "retried after the backoff: {failed}");
        let listed = ok(app.get("/v1/job_runs?status=failed").await).await;
        assert_eq!(listed["data"][0]["id"], failed["id"]);

        // Nothing is due until the backoff ends; 15 minutes after, the parcel has waited 900 s.
        assert_eq!(tracking_queue(&bursar_core::jobs::queue_health(app.core()).await.unwrap()), (0, 0.0));
        clock.advance_seconds(45 * 60);
        assert_eq!(tracking_queue(&bursar_core::jobs::queue_health(app.core()).await.unwrap()), (1, 900.0));
        let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        for series in ["bursar_job_queue_depth{kind=\"tracking_poll\"}", "bursar_job_queue_oldest_age_seconds{kind=\"tracking_poll\"}",
            "bursar_job_runs{kind=\"tracking_poll\",status=\"failed\"}", "bursar_job_attempts_total{kind=\"tracking_poll\",outcome=\"failed\"}",
            "bursar_job_duration_seconds_count{kind=\"tracking_poll\"}"] {
            assert!(metrics.contains(series), "{series} missing from /metrics");
        }

        // Retried through the API: due at once, polled, succeeded.
        dhl.failing.store(0, Ordering::SeqCst);
        let job = id(failed);
        let queued = ok(app.post(&format!("/v1/job_runs/{job}/retry"), json!({})).await).await;
        assert_eq!((queued["status"].as_str(), queued["attempts"].as_u64()), (Some("queued"), Some(0)), "{queued}");
        assert_eq!(ok(app.get(&format!("/v1/shipments/{shipment}")).await).await["next_poll_at"], "2026-12-01T15:45:00Z");
        let report = poll(&app).await;
        assert_eq!((report.asked, report.failed), (1, 0), "{report:?}");
        let done = ok(app.get(&format!("/v1/job_runs/{job}")).await).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_eq!(event_kinds(&done), ["attempt_failed", "retry_requested", "attempt_succeeded"]);
        let again = app.post(&format!("/v1/job_runs/{job}/retry"), json!({})).await;
        let body = expect_error(again, 409, "job_run_state_invalid", None).await;
        assert_eq!(body["error"]["current_state"], "succeeded");
        expect_error(app.post("/v1/job_runs/job_01hzzzzzzzzzzzzzzzzzzzzzzz/cancel", json!({})).await, 404, "resource_missing", Some("id")).await;
    }
}

both_backends! {
    /// Goal (issue #20, point 4): a failing automation step is a job run; cancelling it hands
    /// the run to support as a manual task; retrying it attempts the step again, which
    /// succeeds and fulfills the order.
    async fn a_failing_automation_step_is_cancelled_then_retried(
        app: TestApp = crate::helpers::TestApp::spawn_with_clock,
        clock: ManualClock = "2026-12-01T09:00:00Z",
    ) {
        let callback = start_callback().await;
        callback.status.store(503, Ordering::SeqCst);
        ok(app.post("/v1/automation_scenarios", json!({"key": "first_time", "fallback_instructions": "Provision by hand.",
            "steps": [{"key": "provision", "action": {"type": "callback", "url": callback.url}, "max_attempts": 3, "retry_delay_seconds": 60}]})).await).await;
        let (order, _) = paid_physical_order(&app, 1).await;
        deliver(&app, &order, "JOBS1").await;

        let failed = run_when(&app, "automation_step", |r| r["status"] == "failed").await;
        assert_eq!(failed["last_error"], "the callback answered HTTP 503", "{failed}");
        assert_eq!(failed["next_attempt_at"], "2026-12-01T09:01:00Z", "{failed}");
        let job = id(&failed);
        let automation = failed["subject"].as_str().unwrap().to_owned();

        let cancelled = ok(app.post(&format!("/v1/job_runs/{job}/cancel"), json!({})).await).await;
        assert_eq!(cancelled["status"], "cancelled");
        let handed = ok(app.get(&format!("/v1/automation_runs/{automation}")).await).await;
        assert_eq!(handed["status"], "manual_task", "{handed}");
        assert!(handed["manual_task"]["instructions"].as_str().unwrap().starts_with("Cancelled from the job monitor"));
        clock.advance_seconds(120);
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(callback.calls.load(Ordering::SeqCst), 1, "a cancelled step is not attempted");
        let again = app.post(&format!("/v1/job_runs/{job}/cancel"), json!({})).await;
        let body = expect_error(again, 409, "job_run_state_invalid", None).await;
        assert_eq!(body["error"]["current_state"], "cancelled");

        callback.status.store(200, Ordering::SeqCst);
        let queued = ok(app.post(&format!("/v1/job_runs/{job}/retry"), json!({})).await).await;
        assert_eq!(queued["status"], "queued");
        let done = run_when(&app, "automation_step", |r| r["status"] == "succeeded").await;
        assert_eq!(event_kinds(&done), ["attempt_failed", "cancelled", "retry_requested", "attempt_succeeded"]);
        assert_eq!(callback.calls.load(Ordering::SeqCst), 2);
        assert_eq!(ok(app.get(&format!("/v1/automation_runs/{automation}")).await).await["status"], "succeeded");
        assert_eq!(ok(app.get(&format!("/v1/orders/{order}")).await).await["status"], "fulfilled");
    }
}

both_backends! {
    /// Goal (issue #20, point 4, periodic work): a bank balance check the bank cannot answer
    /// is a `reconciliation` job run with the bank's error; cancelled, the job skips it;
    /// retried, it waits in the queue and the job's next pass checks it, which succeeds.
    async fn a_failing_bank_check_is_cancelled_then_retried(app: TestApp = crate::helpers::TestApp::spawn) {
        use bursar_core::treasury::drift;
        let bank = id(&ok(app.post("/v1/bank_connections", json!({"kind": "test_bank"})).await).await);
        let test_bank = bursar_core::bank_events::sandbox_test_bank(app.core(), &app.workspace_id, &bank).await.unwrap();
        test_bank.fail_next_requests(1);
        drift::check_all(app.core()).await.unwrap();
        let runs = runs_of(&app, "reconciliation").await;
        assert_eq!(runs.len(), 1, "{runs:?}");
        let failed = &runs[0];
        assert_eq!((failed["subject"].as_str(), failed["status"].as_str(), failed["attempts"].as_u64()),
            (Some("bank_balances"), Some("failed"), Some(1)), "{failed}");
        assert!(failed["last_error"].as_str().is_some_and(|e| !e.is_empty()), "{failed}");
        assert!(failed["next_attempt_at"].is_string(), "tried again the next day: {failed}");
        let job = id(failed);

        let cancelled = ok(app.post(&format!("/v1/job_runs/{job}/cancel"), json!({})).await).await;
        assert_eq!(cancelled["status"], "cancelled");
        drift::check_all(app.core()).await.unwrap();
        let skipped = ok(app.get(&format!("/v1/job_runs/{job}")).await).await;
        assert_eq!(skipped["total_attempts"], 1, "a cancelled check is not attempted: {skipped}");

        let queued = ok(app.post(&format!("/v1/job_runs/{job}/retry"), json!({})).await).await;
        assert_eq!(queued["status"], "queued");
        let health = bursar_core::jobs::queue_health(app.core()).await.unwrap();
        let waiting = health.iter().find(|q| q.kind == bursar_domain::jobs::JobKind::Reconciliation).unwrap();
        assert_eq!(waiting.depth, 1, "{health:?}");
        drift::check_queued(app.core()).await.unwrap();
        let done = ok(app.get(&format!("/v1/job_runs/{job}")).await).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_eq!(event_kinds(&done), ["attempt_failed", "cancelled", "retry_requested", "attempt_succeeded"]);
        drift::check_queued(app.core()).await.unwrap();
        let again = ok(app.get(&format!("/v1/job_runs/{job}")).await).await;
        assert_eq!(again["total_attempts"], 2, "nothing is queued any more: {again}");
    }
}

both_backends! {
    /// Goal (issue #20, point 4, periodic work): the monitor's controls over billing. A
    /// contract whose billing failed (its job run as the billing loop records a failure) is
    /// skipped by the loop while cancelled; retried, it is due at once, the next pass bills
    /// it, and its run succeeds.
    async fn a_cancelled_contract_is_not_billed_until_retried(
        app: TestApp = crate::helpers::TestApp::spawn_with_clock,
        clock: ManualClock = "2026-03-01T00:01:00Z",
    ) {
        use bursar_core::billing::run_due_billing;
        use bursar_domain::jobs::{Attempt, JobKind};
        let customer = id(&ok(app.post("/v1/customers", json!({"name": "Vic"})).await).await);
        let plan = id(&ok(app.post("/v1/products", json!({"name": "Plan", "kind": "service"})).await).await);
        let start = "2026-03-01T00:00:00Z";
        let contract = id(&ok(app.post("/v1/contracts", json!({"buyer_id": customer, "currency": "EUR", "effective_at": start, "term": {"start": start},
            "lines": [{"product_id": plan, "unit_amount": 10_000}]})).await).await);
        ok(app.post(&format!("/v1/contracts/{contract}/operations"), json!({"type": "activate", "effective_at": start})).await).await;

        let cause = bursar_domain::event::Cause { request_id: None, actor: Some("system:billing".into()) };
        let subject = contract.clone();
        let now = app.core().now();
        app.core().write(app.workspace_id.clone(), cause, move |mut cx| Box::pin(async move {
            let failed = Attempt { at: now, duration_ms: 40, error: Some("the tax service timed out".into()), next_attempt_at: Some(now.plus_seconds(60)) };
            bursar_core::job_attempts::record(&mut cx, JobKind::Billing, &subject, failed).await
        })).await.unwrap();
        let runs = runs_of(&app, "billing").await;
        assert_eq!((runs.len(), runs[0]["subject"].as_str()), (1, Some(contract.as_str())), "{runs:?}");
        let job = id(&runs[0]);

        ok(app.post(&format!("/v1/job_runs/{job}/cancel"), json!({})).await).await;
        assert_eq!(run_due_billing(app.core()).await.unwrap(), 0, "a cancelled contract is skipped");
        let invoices = ok(app.get(&format!("/v1/invoices?customer_id={customer}")).await).await;
        assert_eq!(invoices["data"].as_array().unwrap().len(), 0, "{invoices}");

        ok(app.post(&format!("/v1/job_runs/{job}/retry"), json!({})).await).await;
        assert_eq!(run_due_billing(app.core()).await.unwrap(), 1);
        let done = ok(app.get(&format!("/v1/job_runs/{job}")).await).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_eq!(event_kinds(&done), ["attempt_failed", "cancelled", "retry_requested", "attempt_succeeded"]);
        assert_eq!(run_due_billing(app.core()).await.unwrap(), 0, "billed until April");
    }
}
