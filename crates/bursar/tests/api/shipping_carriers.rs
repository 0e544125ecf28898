//! Real carriers' formats over HTTP: DHL's Unified Tracking answers (its public payload, from a
//! local fake) polled by the tracking worker, within DHL's limit and never before the
//! `Retry-After` of a 429; USPS's pushed notifications verified by their HMAC.

use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use base64::Engine;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::both_backends;
use crate::helpers::*;
use crate::shipping::paid_physical_order;

const DHL_ANSWER: &str =
    include_str!("../../../couriers/tests/fixtures/dhl-unified-tracking-response.json");
const USPS_DETAIL: &str =
    include_str!("../../../couriers/tests/fixtures/usps-tracking-v3-detail.json");

/// A stand-in for DHL's tracking API: counts requests, checks the key, and answers the public
/// payload, or 429 with `Retry-After: 30` while `throttled` is set.
pub(crate) struct FakeDhl {
    pub(crate) url: String,
    pub(crate) requests: Arc<AtomicUsize>,
    /// 0: answer; otherwise the status to answer with.
    pub(crate) failing: Arc<AtomicU16>,
}

pub(crate) async fn start_fake_dhl() -> FakeDhl {
    let requests = Arc::new(AtomicUsize::new(0));
    let failing = Arc::new(AtomicU16::new(0));
    let (count, status) = (requests.clone(), failing.clone());
    let app = axum::Router::new().route(
        "/track/shipments",
        axum::routing::get(move |headers: HeaderMap| {
            let (count, status) = (count.clone(), status.clone());
            async move {
                count.fetch_add(1, Ordering::SeqCst);
                if headers.get("dhl-api-key").and_then(|v| v.to_str().ok()) != Some("dhl-key-0001")
                {
                    return (StatusCode::UNAUTHORIZED, HeaderMap::new(), String::new());
                }
                match status.load(Ordering::SeqCst) {
                    0 => (StatusCode::OK, HeaderMap::new(), DHL_ANSWER.to_owned()),
                    code => {
                        let mut headers = HeaderMap::new();
                        headers.insert("retry-after", "30".parse().unwrap());
                        (
                            StatusCode::from_u16(code).unwrap(),
                            headers,
                            "{\"title\":\"Too many requests\"}".to_owned(),
                        )
                    }
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    FakeDhl {
        url,
        requests,
        failing,
    }
}

async fn poll(app: &TestApp) -> bursar_core::shipments::poll::PollReport {
    bursar_core::shipments::poll::poll_due(app.core(), 100)
        .await
        .unwrap()
}

both_backends! {
    /// Goal: a DHL shipment is polled when due and its events (DHL's public payload) are
    /// recorded with DHL's codes and the normalised statuses; a second poll records nothing
    /// new; a 429 with `Retry-After: 30` stops every request to DHL for this account until 30
    /// seconds have passed, then polling resumes.
    async fn dhl_is_polled_within_its_limits(
        app: TestApp = crate::helpers::TestApp::spawn_with_clock,
        clock: ManualClock = "2026-12-01T09:00:00Z",
    ) {
        let dhl = start_fake_dhl().await;
        let connection = ok(app.post("/v1/courier_connections", json!({"carrier": "dhl", "api_base": dhl.url, "key": "dhl-key-0001"})).await).await;
        assert_eq!(connection["key_last4"], "0001");
        assert!(!connection.to_string().contains("dhl-key-0001"), "the key is never shown: {connection}");
        let again = app.post("/v1/courier_connections", json!({"carrier": "dhl", "key": "other"})).await;
        expect_error(again, 409, "connection_exists", Some("carrier")).await;
        expect_error(app.post("/v1/courier_connections", json!({"carrier": "usps", "key": "id"})).await, 400, "parameter_invalid", Some("secret")).await;

        let mut shipments = Vec::new();
        for number in ["7777777770", "7777777771", "7777777772"] {
            let (order, _) = paid_physical_order(&app, 1).await;
            let shipment = ok(app.post(&format!("/v1/orders/{order}/shipments"), json!({"carrier": "dhl", "tracking_number": number})).await).await;
            assert!(shipment["next_poll_at"].is_string(), "{shipment}");
            shipments.push(id(&shipment));
        }
        assert_eq!(poll(&app).await.asked, 0, "nothing is due yet");
        assert_eq!(dhl.requests.load(Ordering::SeqCst), 0);

        clock.advance_seconds(6 * 3600 + 1);
        let report = poll(&app).await;
        assert_eq!((report.asked, report.failed), (3, 0), "{report:?}");
        let expected = bursar_couriers::adapter(bursar_couriers::Carrier::Dhl)
            .parse_tracking("7777777770", &bursar_couriers::ProviderResponse { status: 200, headers: Default::default(), body: DHL_ANSWER.as_bytes().to_vec() })
            .unwrap();
        let events = ok(app.get(&format!("/v1/shipments/{}/tracking_events", shipments[0])).await).await;
        let recorded = events["data"].as_array().unwrap();
        assert_eq!(recorded.len(), expected.events.len());
        for event in &expected.events {
            let found = recorded.iter().find(|r| r["code"] == event.code.as_str() && r["occurred_at"] == event.occurred_at.to_rfc3339().as_str());
            let found = found.unwrap_or_else(|| panic!("{event:?} not recorded: {events}"));
            assert_eq!((found["status"].as_str(), found["source"].as_str()), (Some(event.status.as_str()), Some("poll")));
        }
        let folded: Vec<_> = expected.events.iter().map(|e| (e.status, e.occurred_at)).collect();
        let shipment = ok(app.get(&format!("/v1/shipments/{}", shipments[0])).await).await;
        assert_eq!(shipment["status"], bursar_domain::shipping::fold(&folded).as_str());

        // DHL throttles: one request learns it, and nothing more goes out for 30 seconds.
        clock.advance_seconds(24 * 3600);
        dhl.failing.store(429, Ordering::SeqCst);
        let before = dhl.requests.load(Ordering::SeqCst);
        let report = poll(&app).await;
        assert_eq!(dhl.requests.load(Ordering::SeqCst) - before, 1, "{report:?}");
        assert_eq!(report.deferred, 3, "{report:?}");
        clock.advance_seconds(29);
        let report = poll(&app).await;
        assert_eq!(dhl.requests.load(Ordering::SeqCst) - before, 1, "no request before Retry-After: {report:?}");
        assert_eq!((report.asked, report.deferred), (0, 0), "every parcel waits for Retry-After: {report:?}");
        let waiting = ok(app.get(&format!("/v1/shipments/{}", shipments[2])).await).await;
        assert_eq!(waiting["next_poll_at"], "2026-12-02T15:00:31Z", "{waiting}");
        dhl.failing.store(0, Ordering::SeqCst);
        clock.advance_seconds(2);
        let report = poll(&app).await;
        assert_eq!(report.asked, 3, "{report:?}");
        assert_eq!(report.recorded, 0, "the same events again are known");
        assert_eq!(dhl.requests.load(Ordering::SeqCst) - before, 4);
    }
}

fn usps_push(secret: &str, timestamp: &str) -> (String, Vec<u8>) {
    let payload = USPS_DETAIL.to_owned();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(payload.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let body = json!({"subscriptionId": "sub-1", "subscriptionType": "TRACKING", "timestamp": timestamp, "payload": payload});
    (signature, body.to_string().into_bytes())
}

both_backends! {
    /// Goal: USPS's pushed notification, signed with the connection's key, records the
    /// tracking events of its shipment once however often it comes; a forged, tampered or
    /// unsigned push answers 400 and records nothing.
    async fn usps_pushes_are_verified(app: TestApp) {
        let usps = ok(app.post("/v1/courier_connections", json!({
            "carrier": "usps", "key": "usps-client", "secret": "usps-secret", "push_secrets": ["usps-push-key-000000000001"],
        })).await).await;
        let path = usps["push_url_path"].as_str().unwrap().to_owned();
        let (order, _) = paid_physical_order(&app, 1).await;
        let shipment = id(&ok(app.post(&format!("/v1/orders/{order}/shipments"), json!({"carrier": "usps", "tracking_number": "9400109104250532908587"})).await).await);
        let push = |signature: String, body: Vec<u8>| {
            let request = app.client.post(app.url(&path)).header("x-hmac", signature).header("content-type", "application/json").body(body);
            async move { request.send().await.unwrap() }
        };
        let count = || async { ok(app.get(&format!("/v1/shipments/{shipment}/tracking_events")).await).await["data"].as_array().unwrap().len() };

        let (forged, body) = usps_push("guessed-key", "2024-11-22T19:00:00Z");
        expect_error(push(forged, body.clone()).await, 400, "signature_invalid", None).await;
        let (good, body) = usps_push("usps-push-key-000000000001", "2024-11-22T19:00:00Z");
        let mut tampered = body.clone();
        let at = tampered.iter().position(|b| *b == b'H').unwrap();
        tampered[at] = b'J';
        expect_error(push(good.clone(), tampered).await, 400, "signature_invalid", None).await;
        let unsigned = app.client.post(app.url(&path)).body(body.clone()).send().await.unwrap();
        expect_error(unsigned, 400, "signature_invalid", None).await;
        assert_eq!(count().await, 0, "refused pushes record nothing");

        let receipt = ok(push(good.clone(), body.clone()).await).await;
        assert_eq!(receipt["recorded"], 7, "{receipt}");
        let repeat = ok(push(good, body).await).await;
        assert_eq!(repeat["recorded"], 0, "{repeat}");
        assert_eq!(count().await, 7);
        let delivered = ok(app.get(&format!("/v1/shipments/{shipment}")).await).await;
        assert_eq!(delivered["status"], "delivered", "{delivered}");
        assert_eq!(ok(app.get(&format!("/v1/orders/{order}")).await).await["status"], "fulfilled");
        let missing = app.client.post(app.url("/v1/courier_webhooks/ccn_01hzzzzzzzzzzzzzzzzzzzzzzz")).body("{}").send().await.unwrap();
        assert_eq!(missing.status(), 404);
    }
}
