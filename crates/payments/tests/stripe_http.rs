//! `StripeProvider` against a fake Stripe on 127.0.0.1: the exact requests it sends, and how the
//! executor retries (same idempotency key), refuses and gives up.
//!
//! The fake answers with Stripe's own fixture objects (see `fixtures/README.md`), overriding the
//! fields a real Stripe would take from the request.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method as HttpMethod, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bursar_payments::executor::{
    ExecutorConfig, HttpExecutor, Method, ProviderRequest, REQUEST_ID_HEADER,
};
use bursar_payments::stripe::{StripeConfig, StripeProvider, API_VERSION};
use bursar_payments::{
    CheckoutLine, CheckoutRequest, CheckoutSession, PaymentProvider, PaymentState, PaymentStatus,
    ProviderError, RefundRequest, RefundResult, RefundStatus,
};
use serde_json::{json, Value};

const FIXTURES: &str = include_str!("fixtures/stripe-fixtures3.json");
const KEY: &str = "sk_test_fake_key_123";

fn fixture(resource: &str) -> Value {
    let all: Value = serde_json::from_str(FIXTURES).unwrap();
    all["resources"][resource].clone()
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    /// Lower-case names.
    headers: BTreeMap<String, String>,
    /// The decoded form body, in order.
    form: Vec<(String, String)>,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// What the fake should do, and what it saw.
#[derive(Default)]
struct Fake {
    requests: Vec<Recorded>,
    /// Answer the first `fail_first` calls with `fail_status` (500 if 0).
    fail_first: usize,
    fail_status: u16,
    /// `Stripe-Should-Retry` on those failures.
    should_retry: Option<&'static str>,
    /// Sleep this long before answering the first call (a timeout).
    delay_first: Option<Duration>,
    /// Answer every call with a 400 Stripe error.
    refuse: bool,
    refund_status: Option<&'static str>,
    payment_status: Option<&'static str>,
}

type Shared = Arc<Mutex<Fake>>;

struct Server {
    base: String,
    fake: Shared,
}

impl Server {
    async fn start(setup: impl FnOnce(&mut Fake)) -> Self {
        let mut fake = Fake::default();
        setup(&mut fake);
        let fake = Arc::new(Mutex::new(fake));
        let app = Router::new()
            .route("/v1/checkout/sessions", post(checkout))
            .route("/v1/refunds", post(refund))
            .route("/v1/payment_intents/{id}", get(payment))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, fake }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.fake.lock().unwrap().requests.clone()
    }

    fn provider(&self, max_attempts: u32) -> StripeProvider {
        StripeProvider::new(
            StripeConfig {
                secret_key: KEY.into(),
                api_base: self.base.clone(),
            },
            executor(max_attempts, Duration::from_secs(5)),
        )
    }
}

fn executor(max_attempts: u32, timeout: Duration) -> HttpExecutor {
    HttpExecutor::new(ExecutorConfig {
        timeout,
        max_attempts,
        base_backoff: Duration::from_millis(1),
    })
    .unwrap()
}

/// Records the request; answers with an injected failure if one is due.
async fn intercept(
    fake: &Shared,
    method: &HttpMethod,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Response> {
    let (call, delay, failure) = {
        let mut fake = fake.lock().unwrap();
        let recorded = Recorded {
            method: method.to_string(),
            path: uri.path().to_owned(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
                .collect(),
            form: serde_urlencoded::from_bytes(body).unwrap(),
        };
        fake.requests.push(recorded);
        let call = fake.requests.len();
        let failure = if fake.refuse {
            Some((
                StatusCode::BAD_REQUEST,
                None,
                json!({"error": {
                    "type": "invalid_request_error",
                    "code": "parameter_invalid_integer",
                    "message": "Invalid integer: -5",
                    "param": "amount",
                    "request_log_url": "https://dashboard.stripe.com/test/logs/req_x"
                }}),
            ))
        } else if call <= fake.fail_first {
            let status = if fake.fail_status == 0 {
                500
            } else {
                fake.fail_status
            };
            Some((
                StatusCode::from_u16(status).unwrap(),
                fake.should_retry,
                json!({"error": {"type": "api_error", "message": "Something went wrong."}}),
            ))
        } else {
            None
        };
        (
            call,
            (call == 1).then_some(fake.delay_first).flatten(),
            failure,
        )
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let (status, should_retry, body) = failure?;
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert("request-id", format!("req_fake_{call}").parse().unwrap());
    if let Some(value) = should_retry {
        headers.insert("stripe-should-retry", value.parse().unwrap());
    }
    Some(response)
}

fn ok(call: usize, object: Value) -> Response {
    let mut response = Json(object).into_response();
    response
        .headers_mut()
        .insert("request-id", format!("req_fake_{call}").parse().unwrap());
    response
}

fn form_map(fake: &Shared) -> (usize, BTreeMap<String, String>) {
    let fake = fake.lock().unwrap();
    let last = fake.requests.last().unwrap();
    (fake.requests.len(), last.form.iter().cloned().collect())
}

fn metadata(form: &BTreeMap<String, String>) -> Value {
    let map: serde_json::Map<String, Value> = form
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix("metadata[")?.strip_suffix(']')?;
            Some((key.to_owned(), Value::String(v.clone())))
        })
        .collect();
    Value::Object(map)
}

async fn checkout(
    State(fake): State<Shared>,
    method: HttpMethod,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(failure) = intercept(&fake, &method, &uri, &headers, &body).await {
        return failure;
    }
    let (call, form) = form_map(&fake);
    let total: i64 = (0..)
        .map_while(|i| {
            let unit = form.get(&format!("line_items[{i}][price_data][unit_amount]"))?;
            let quantity = form.get(&format!("line_items[{i}][quantity]"))?;
            Some(unit.parse::<i64>().unwrap() * quantity.parse::<i64>().unwrap())
        })
        .sum();
    let id = format!("cs_test_fake{call}");
    let mut session = fixture("checkout.session");
    session["id"] = json!(id);
    session["url"] = json!(format!("https://checkout.stripe.com/c/pay/{id}"));
    session["amount_total"] = json!(total);
    session["currency"] = json!(form["line_items[0][price_data][currency]"]);
    session["client_reference_id"] = json!(form["client_reference_id"]);
    session["expires_at"] = json!(form["expires_at"].parse::<i64>().unwrap());
    session["metadata"] = metadata(&form);
    ok(call, session)
}

async fn refund(
    State(fake): State<Shared>,
    method: HttpMethod,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(failure) = intercept(&fake, &method, &uri, &headers, &body).await {
        return failure;
    }
    let (call, form) = form_map(&fake);
    let status = fake.lock().unwrap().refund_status.unwrap_or("succeeded");
    let mut refund = fixture("refund");
    refund["id"] = json!(format!("re_fake{call}"));
    refund["amount"] = json!(form["amount"].parse::<i64>().unwrap());
    refund["payment_intent"] = json!(form["payment_intent"]);
    refund["status"] = json!(status);
    refund["metadata"] = metadata(&form);
    ok(call, refund)
}

async fn payment(
    State(fake): State<Shared>,
    Path(id): Path<String>,
    method: HttpMethod,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(failure) = intercept(&fake, &method, &uri, &headers, &body).await {
        return failure;
    }
    let call = fake.lock().unwrap().requests.len();
    let status = fake.lock().unwrap().payment_status.unwrap_or("succeeded");
    let mut intent = fixture("payment_intent");
    intent["id"] = json!(id);
    intent["status"] = json!(status);
    intent["amount"] = json!(2500);
    intent["amount_received"] = json!(if status == "succeeded" { 2500 } else { 0 });
    intent["metadata"] = json!({"bursar_order_id": "ord_1"});
    ok(call, intent)
}

fn checkout_request() -> CheckoutRequest {
    CheckoutRequest {
        attempt_id: "att_1".into(),
        order_id: "ord_1".into(),
        currency: "USD".into(),
        amount: 2500,
        lines: vec![
            CheckoutLine {
                name: "Annual plan".into(),
                quantity: 2,
                unit_amount: 1000,
            },
            CheckoutLine {
                name: "Setup & onboarding".into(),
                quantity: 1,
                unit_amount: 500,
            },
        ],
        customer_email: Some("buyer@example.com".into()),
        provider_customer: None,
        success_url: "https://shop.example/paid?order=ord_1".into(),
        cancel_url: "https://shop.example/cancel".into(),
        expires_at: 1_721_003_600,
        metadata: BTreeMap::from([("contract".to_owned(), "ctr_9".to_owned())]),
    }
}

fn refund_request(reason: &str) -> RefundRequest {
    RefundRequest {
        refund_id: "rf_1".into(),
        payment_id: "pi_123".into(),
        amount: 700,
        currency: "USD".into(),
        reason: Some(reason.into()),
        metadata: BTreeMap::new(),
    }
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn assert_stripe_headers(request: &Recorded) {
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(request.header("stripe-version"), Some(API_VERSION));
    let ours = request
        .header(&REQUEST_ID_HEADER.to_ascii_lowercase())
        .unwrap();
    assert!(ours.starts_with("brq_"), "{ours}");
}

#[tokio::test]
async fn checkout_sends_stripes_form_and_reads_the_session() {
    let server = Server::start(|_| {}).await;
    let session = server
        .provider(3)
        .create_checkout(&checkout_request())
        .await
        .unwrap();
    assert_eq!(
        session,
        CheckoutSession {
            id: "cs_test_fake1".into(),
            url: "https://checkout.stripe.com/c/pay/cs_test_fake1".into(),
            payment_id: Some("pi_1PgafyB7WZ01zgkWSjxsAJo3".into()),
            expires_at: 1_721_003_600,
        }
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/checkout/sessions");
    assert_stripe_headers(request);
    assert_eq!(
        request.header("idempotency-key"),
        Some("bursar-checkout-att_1")
    );
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        request.form,
        pairs(&[
            ("mode", "payment"),
            ("line_items[0][price_data][currency]", "usd"),
            (
                "line_items[0][price_data][product_data][name]",
                "Annual plan"
            ),
            ("line_items[0][price_data][unit_amount]", "1000"),
            ("line_items[0][quantity]", "2"),
            ("line_items[1][price_data][currency]", "usd"),
            (
                "line_items[1][price_data][product_data][name]",
                "Setup & onboarding"
            ),
            ("line_items[1][price_data][unit_amount]", "500"),
            ("line_items[1][quantity]", "1"),
            ("success_url", "https://shop.example/paid?order=ord_1"),
            ("cancel_url", "https://shop.example/cancel"),
            ("expires_at", "1721003600"),
            ("client_reference_id", "ord_1"),
            ("customer_email", "buyer@example.com"),
            ("metadata[bursar_order_id]", "ord_1"),
            ("metadata[contract]", "ctr_9"),
            ("payment_intent_data[metadata][bursar_order_id]", "ord_1"),
            ("payment_intent_data[metadata][contract]", "ctr_9"),
        ])
    );
}

#[tokio::test]
async fn a_known_customer_replaces_the_email() {
    let server = Server::start(|_| {}).await;
    let mut request = checkout_request();
    request.provider_customer = Some("cus_42".into());
    server.provider(1).create_checkout(&request).await.unwrap();
    let form: BTreeMap<_, _> = server.requests()[0].form.iter().cloned().collect();
    assert_eq!(form.get("customer").map(String::as_str), Some("cus_42"));
    assert!(!form.contains_key("customer_email"));
}

#[tokio::test]
async fn refund_sends_its_form_and_reads_the_refund() {
    let server = Server::start(|fake| fake.refund_status = Some("pending")).await;
    let provider = server.provider(3);
    let result = provider
        .refund(&refund_request("requested_by_customer"))
        .await
        .unwrap();
    assert_eq!(
        result,
        RefundResult {
            id: "re_fake1".into(),
            status: RefundStatus::Pending,
            amount: 700,
        }
    );
    // Bursar's own reason is not one of Stripe's: it is left out.
    provider.refund(&refund_request("goodwill")).await.unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].path, "/v1/refunds");
    assert_stripe_headers(&requests[0]);
    assert_eq!(
        requests[0].header("idempotency-key"),
        Some("bursar-refund-rf_1")
    );
    assert_eq!(
        requests[0].form,
        pairs(&[
            ("payment_intent", "pi_123"),
            ("amount", "700"),
            ("reason", "requested_by_customer"),
            ("metadata[bursar_refund_id]", "rf_1"),
        ])
    );
    assert_eq!(
        requests[1].form,
        pairs(&[
            ("payment_intent", "pi_123"),
            ("amount", "700"),
            ("metadata[bursar_refund_id]", "rf_1"),
        ])
    );
    // Two logical calls, two request ids.
    assert_ne!(
        requests[0].header("x-bursar-request-id"),
        requests[1].header("x-bursar-request-id")
    );
}

#[tokio::test]
async fn payment_status_is_a_plain_get() {
    for (stripe, neutral) in [
        ("succeeded", PaymentStatus::Succeeded),
        ("requires_action", PaymentStatus::Open),
        ("requires_capture", PaymentStatus::Processing),
        ("processing", PaymentStatus::Processing),
        ("canceled", PaymentStatus::Canceled),
    ] {
        let server = Server::start(|fake| fake.payment_status = Some(stripe)).await;
        let state = server.provider(3).payment("pi_abc").await.unwrap();
        assert_eq!(
            state,
            PaymentState {
                id: "pi_abc".into(),
                status: neutral,
                amount: 2500,
                amount_received: if stripe == "succeeded" { 2500 } else { 0 },
                currency: "USD".into(),
                order_id: Some("ord_1".into()),
            }
        );
        let requests = server.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].method, "GET");
        assert_eq!(requests[0].path, "/v1/payment_intents/pi_abc");
        assert_stripe_headers(&requests[0]);
        assert_eq!(requests[0].header("idempotency-key"), None);
        assert!(requests[0].form.is_empty());
    }
}

#[tokio::test]
async fn failures_are_retried_with_the_same_idempotency_key_and_request_id() {
    let server = Server::start(|fake| fake.fail_first = 2).await;
    let session = server
        .provider(3)
        .create_checkout(&checkout_request())
        .await
        .unwrap();
    assert_eq!(session.id, "cs_test_fake3");
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    for request in &requests {
        assert_eq!(
            request.header("idempotency-key"),
            Some("bursar-checkout-att_1")
        );
        assert_eq!(
            request.header("x-bursar-request-id"),
            requests[0].header("x-bursar-request-id")
        );
        assert_eq!(request.form, requests[0].form);
        assert_stripe_headers(request);
    }
}

#[tokio::test]
async fn rate_limits_and_should_retry_true_are_retried() {
    let server = Server::start(|fake| {
        fake.fail_first = 1;
        fake.fail_status = 429;
    })
    .await;
    server
        .provider(3)
        .refund(&refund_request("duplicate"))
        .await
        .unwrap();
    assert_eq!(server.requests().len(), 2);

    // A 409 is normally final, but Stripe says this one is worth repeating.
    let server = Server::start(|fake| {
        fake.fail_first = 1;
        fake.fail_status = 409;
        fake.should_retry = Some("true");
    })
    .await;
    server
        .provider(3)
        .refund(&refund_request("duplicate"))
        .await
        .unwrap();
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn should_retry_false_is_never_retried() {
    let server = Server::start(|fake| {
        fake.fail_first = 5;
        fake.should_retry = Some("false");
    })
    .await;
    let error = server
        .provider(3)
        .refund(&refund_request("duplicate"))
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Unavailable(_)), "{error:?}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_stripe_error_is_a_refusal_and_is_not_retried() {
    let server = Server::start(|fake| fake.refuse = true).await;
    let error = server
        .provider(3)
        .refund(&refund_request("duplicate"))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        ProviderError::Refused {
            status: 400,
            code: "parameter_invalid_integer".into(),
            message: "Invalid integer: -5 (param: amount)".into(),
        }
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn exhausted_retries_are_unavailable() {
    let server = Server::start(|fake| fake.fail_first = 100).await;
    let error = server
        .provider(3)
        .create_checkout(&checkout_request())
        .await
        .unwrap_err();
    let ProviderError::Unavailable(message) = error else {
        panic!("expected Unavailable, got {error:?}");
    };
    assert!(message.contains("3 attempt"), "{message}");
    assert!(message.contains("HTTP 500"), "{message}");
    assert!(message.contains("req_fake_3"), "{message}");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_timeout_is_retried_with_the_same_key() {
    let server = Server::start(|fake| fake.delay_first = Some(Duration::from_secs(2))).await;
    let provider = StripeProvider::new(
        StripeConfig {
            secret_key: KEY.into(),
            api_base: server.base.clone(),
        },
        executor(3, Duration::from_millis(300)),
    );
    let result = provider.refund(&refund_request("duplicate")).await.unwrap();
    assert_eq!(result.id, "re_fake2");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].header("idempotency-key"),
        requests[1].header("idempotency-key")
    );
}

#[tokio::test]
async fn an_unreachable_provider_is_unavailable() {
    // A port that was just free: nothing listens there.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let provider = StripeProvider::new(
        StripeConfig {
            secret_key: KEY.into(),
            api_base: base,
        },
        executor(2, Duration::from_secs(2)),
    );
    let error = provider.payment("pi_1").await.unwrap_err();
    let ProviderError::Unavailable(message) = error else {
        panic!("expected Unavailable, got {error:?}");
    };
    assert!(message.contains("2 attempt"), "{message}");
    assert!(!message.contains("fake_key"), "{message}");
}

/// Without an idempotency key a POST that reached the provider is not repeated (it might have
/// taken effect): the 500 goes back to the caller. A GET is repeated.
#[tokio::test]
async fn only_safe_requests_are_repeated_after_a_5xx() {
    let server = Server::start(|fake| fake.fail_first = 1).await;
    let executor = executor(3, Duration::from_secs(5));
    let post = ProviderRequest {
        operation: "refund.create",
        method: Method::POST,
        url: format!("{}/v1/refunds", server.base),
        headers: vec![],
        form: Some(pairs(&[("payment_intent", "pi_1"), ("amount", "1")])),
        idempotency_key: None,
    };
    let response = executor.execute("stripe", &post).await.unwrap();
    assert_eq!(response.status, 500);
    assert_eq!(response.header("request-id"), Some("req_fake_1"));
    assert_eq!(server.requests().len(), 1);
    assert_eq!(server.requests()[0].header("idempotency-key"), None);

    let server = Server::start(|fake| fake.fail_first = 1).await;
    let get = ProviderRequest {
        operation: "payment.retrieve",
        method: Method::GET,
        url: format!("{}/v1/payment_intents/pi_1", server.base),
        headers: vec![],
        form: None,
        idempotency_key: None,
    };
    let response = executor.execute("stripe", &get).await.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(server.requests().len(), 2);
}
