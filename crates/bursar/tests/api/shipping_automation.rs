//! Post-delivery automation end to end: a delivered parcel's scenario calls the workspace's
//! system; the order is fulfilled only once it succeeds. When the callback keeps failing, the
//! attempts are spent (with their delay), a manual task waits for support, and support's
//! completion fulfills the order.

use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use crate::both_backends;
use crate::helpers::*;
use crate::shipping::paid_physical_order;

/// The workspace's system: counts callbacks and answers `status`.
pub(crate) struct Callback {
    pub(crate) url: String,
    pub(crate) calls: Arc<AtomicUsize>,
    pub(crate) status: Arc<AtomicU16>,
}

pub(crate) async fn start_callback() -> Callback {
    let calls = Arc::new(AtomicUsize::new(0));
    let status = Arc::new(AtomicU16::new(200));
    let (count, answer) = (calls.clone(), status.clone());
    let app = axum::Router::new().route(
        "/provision",
        axum::routing::post(move |body: String| {
            let (count, answer) = (count.clone(), answer.clone());
            async move {
                assert!(
                    body.contains("\"object\":\"automation_callback\""),
                    "{body}"
                );
                count.fetch_add(1, Ordering::SeqCst);
                StatusCode::from_u16(answer.load(Ordering::SeqCst)).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/provision", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Callback { url, calls, status }
}

/// The order's automation run of which `done` holds, once there is one (the server's
/// automation job runs every few seconds).
pub(crate) async fn run_when(app: &TestApp, order: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let runs = ok(app
            .get(&format!("/v1/automation_runs?order_id={order}"))
            .await)
        .await;
        if let Some(run) = runs["data"]
            .as_array()
            .and_then(|d| d.iter().find(|r| done(r)))
        {
            return run.clone();
        }
        assert!(Instant::now() < deadline, "the run never got there: {runs}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(crate) async fn deliver(app: &TestApp, order: &str, tracking: &str) {
    let shipment = id(&ok(app
        .post(
            &format!("/v1/orders/{order}/shipments"),
            json!({"carrier": "test_courier", "tracking_number": tracking}),
        )
        .await)
    .await);
    let delivered = ok(app
        .post(
            &format!("/v1/shipments/{shipment}/simulate"),
            json!({"scenario": "delivered"}),
        )
        .await)
    .await;
    assert_eq!(delivered["shipment"]["status"], "delivered");
}

both_backends! {
    /// Goal: delivered → automation succeeds → fulfilled; delivered → two failed attempts a
    /// minute apart → manual task with the fallback instructions → completed by support →
    /// fulfilled. The order is never fulfilled while its automation is unfinished.
    async fn fulfillment_waits_for_automation_and_falls_back_to_support(
        app: TestApp = crate::helpers::TestApp::spawn_with_clock,
        clock: ManualClock = "2026-12-01T09:00:00Z",
    ) {
        let callback = start_callback().await;
        let bad = app.post("/v1/automation_scenarios", json!({"key": "first_time", "fallback_instructions": "x",
            "steps": [{"key": "provision", "action": {"type": "callback", "url": callback.url}, "max_attempts": 0, "retry_delay_seconds": 60}]})).await;
        expect_error(bad, 400, "parameter_invalid", Some("steps[0].max_attempts")).await;
        let scenario = ok(app.post("/v1/automation_scenarios", json!({"key": "first_time",
            "fallback_instructions": "Provision the sensor by hand in the fleet console, then complete the task.",
            "steps": [{"key": "provision", "action": {"type": "callback", "url": callback.url}, "max_attempts": 2, "retry_delay_seconds": 60}]})).await).await;
        assert_eq!(scenario["steps"][0]["key"], "provision");

        // Success: the order waits for the automation, then is fulfilled.
        let (order, _) = paid_physical_order(&app, 1).await;
        deliver(&app, &order, "AUTO1").await;
        let run = run_when(&app, &order, |r| r["status"] == "succeeded").await;
        assert_eq!(run["steps"][0]["attempts"][0]["succeeded"], true, "{run}");
        assert_eq!(ok(app.get(&format!("/v1/orders/{order}")).await).await["status"], "fulfilled");
        assert_eq!(callback.calls.load(Ordering::SeqCst), 1);

        // Failure: each attempt fails; the second waits for the step's delay.
        callback.status.store(503, Ordering::SeqCst);
        let (order, _) = paid_physical_order(&app, 1).await;
        deliver(&app, &order, "AUTO2").await;
        let run = run_when(&app, &order, |r| r["steps"][0]["attempts"].as_array().is_some_and(|a| !a.is_empty())).await;
        assert_eq!((run["status"].as_str(), run["steps"][0]["attempts"][0]["http_status"].as_u64()), (Some("running"), Some(503)), "{run}");
        assert_eq!(run["next_attempt_at"], "2026-12-01T09:01:00Z", "{run}");
        assert_eq!(ok(app.get(&format!("/v1/orders/{order}")).await).await["status"], "paid", "delivered, but its automation is unfinished");
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(callback.calls.load(Ordering::SeqCst), 2, "no second attempt before the delay");
        clock.advance_seconds(60);
        let run = run_when(&app, &order, |r| r["status"] == "manual_task").await;
        assert_eq!(callback.calls.load(Ordering::SeqCst), 3);
        assert_eq!(run["manual_task"]["failed_step"], "provision");
        assert!(run["manual_task"]["instructions"].as_str().unwrap().starts_with("Provision the sensor by hand"));
        let queue = ok(app.get("/v1/automation_runs?status=manual_task").await).await;
        assert_eq!(queue["data"].as_array().unwrap().len(), 1, "{queue}");
        assert_eq!(ok(app.get(&format!("/v1/orders/{order}")).await).await["status"], "paid");

        let done = ok(app.post(&format!("/v1/automation_runs/{}/complete", id(&run)), json!({"note": "Provisioned in the fleet console."})).await).await;
        assert_eq!(done["status"], "completed_manually");
        assert_eq!(ok(app.get(&format!("/v1/orders/{order}")).await).await["status"], "fulfilled");
        let again = app.post(&format!("/v1/automation_runs/{}/complete", id(&run)), json!({"note": "again"})).await;
        let body = expect_error(again, 409, "automation_run_state_invalid", None).await;
        assert_eq!(body["error"]["current_state"], "completed_manually");
    }
}
