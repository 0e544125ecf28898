//! A fake Stripe server on loopback: it answers with Stripe's recorded objects, remembers
//! idempotency keys, and records every request for the tests to assert.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method as HttpMethod, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bursar_payments::executor::{ExecutorConfig, HttpExecutor, REQUEST_ID_HEADER};
use bursar_payments::stripe::{StripeConfig, StripeProvider, API_VERSION};
use bursar_payments::{CheckoutLine, CheckoutRequest, RefundRequest};
use serde_json::{json, Value};

pub const FIXTURES: &str = include_str!("../fixtures/stripe-fixtures3.json");
pub const KEY: &str = "sk_test_fake_key_123";

pub fn fixture(resource: &str) -> Value {
    let all: Value = serde_json::from_str(FIXTURES).unwrap();
    all["resources"][resource].clone()
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Lower-case names.
    pub headers: BTreeMap<String, String>,
    /// The decoded form body, in order.
    pub form: Vec<(String, String)>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// What the fake should do, and what it saw.
#[derive(Default)]
pub struct Fake {
    pub requests: Vec<Recorded>,
    /// Answer the first `fail_first` calls with `fail_status` (500 if 0).
    pub fail_first: usize,
    pub fail_status: u16,
    /// `Stripe-Should-Retry` on those failures.
    pub should_retry: Option<&'static str>,
    /// Sleep this long before answering the first call (a timeout).
    pub delay_first: Option<Duration>,
    /// Answer every call with a 400 Stripe error.
    pub refuse: bool,
    pub refund_status: Option<&'static str>,
    pub payment_status: Option<&'static str>,
    /// The `code` and `decline_code` of the `last_payment_error` a payment answers with (else
    /// the fixture's).
    pub payment_error: Option<(&'static str, &'static str)>,
    /// How `POST /v1/payment_intents` answers.
    pub charge: ChargeAnswer,
    /// The first answer to each idempotency key (customers, setup sessions, charges).
    pub replays: BTreeMap<String, (StatusCode, Value)>,
    /// The setup intents setup sessions created, as Stripe would hold them.
    pub setup_intents: Vec<Value>,
}

/// What an off-session charge comes to.
#[derive(Debug, Clone, Copy, Default)]
pub enum ChargeAnswer {
    #[default]
    Succeeded,
    /// 200, the intent waiting on 3-D Secure.
    RequiresAction,
    /// 402 `card_error` embedding the intent, with this `code` and `decline_code`.
    CardError(&'static str, &'static str),
}

pub type Shared = Arc<Mutex<Fake>>;

pub struct Server {
    pub base: String,
    pub fake: Shared,
}

impl Server {
    pub async fn start(setup: impl FnOnce(&mut Fake)) -> Self {
        let mut fake = Fake::default();
        setup(&mut fake);
        let fake = Arc::new(Mutex::new(fake));
        let app = Router::new()
            .route("/v1/checkout/sessions", post(checkout))
            .route("/v1/refunds", post(refund))
            .route("/v1/payment_intents/{id}", get(payment))
            .route("/v1/payment_intents", post(charge))
            .route("/v1/customers", post(customer))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, fake }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.fake.lock().unwrap().requests.clone()
    }

    pub fn provider(&self, max_attempts: u32) -> StripeProvider {
        StripeProvider::new(
            StripeConfig {
                secret_key: KEY.into(),
                api_base: self.base.clone(),
            },
            executor(max_attempts, Duration::from_secs(5)),
        )
    }
}

pub fn executor(max_attempts: u32, timeout: Duration) -> HttpExecutor {
    HttpExecutor::new(
        ExecutorConfig {
            timeout,
            max_attempts,
            base_backoff: Duration::from_millis(1),
        },
        bursar_outbound::Guard::new(bursar_outbound::Policy {
            allow_loopback: true,
        }),
    )
    .unwrap()
}

/// Records the request; answers with an injected failure if one is due.
pub async fn intercept(
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

pub fn ok(call: usize, object: Value) -> Response {
    let mut response = Json(object).into_response();
    response
        .headers_mut()
        .insert("request-id", format!("req_fake_{call}").parse().unwrap());
    response
}

/// The answer already given to this request's idempotency key, marked as Stripe marks replays.
pub fn replayed(fake: &Shared, headers: &HeaderMap, call: usize) -> Option<Response> {
    let key = headers.get("idempotency-key")?.to_str().unwrap();
    let (status, body) = fake.lock().unwrap().replays.get(key).cloned()?;
    let mut response = answer(call, status, body);
    response
        .headers_mut()
        .insert("idempotent-replayed", "true".parse().unwrap());
    Some(response)
}

/// Answers, remembering the answer under the request's idempotency key.
pub fn remembered(
    fake: &Shared,
    headers: &HeaderMap,
    call: usize,
    status: StatusCode,
    body: Value,
) -> Response {
    if let Some(key) = headers.get("idempotency-key") {
        let key = key.to_str().unwrap().to_owned();
        fake.lock()
            .unwrap()
            .replays
            .insert(key, (status, body.clone()));
    }
    answer(call, status, body)
}

pub fn answer(call: usize, status: StatusCode, body: Value) -> Response {
    let mut response = ok(call, body);
    *response.status_mut() = status;
    response
}

pub fn form_map(fake: &Shared) -> (usize, BTreeMap<String, String>) {
    let fake = fake.lock().unwrap();
    let last = fake.requests.last().unwrap();
    (fake.requests.len(), last.form.iter().cloned().collect())
}

pub fn metadata(form: &BTreeMap<String, String>) -> Value {
    let map: serde_json::Map<String, Value> = form
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix("metadata[")?.strip_suffix(']')?;
            Some((key.to_owned(), Value::String(v.clone())))
        })
        .collect();
    Value::Object(map)
}

pub async fn checkout(
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
    if form.get("mode").map(String::as_str) == Some("setup") {
        if let Some(replay) = replayed(&fake, &headers, call) {
            return replay;
        }
        let session = setup_session(&fake, call, &form);
        return remembered(&fake, &headers, call, StatusCode::OK, session);
    }
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

/// A setup-mode session, and the setup intent it creates with `setup_intent_data[metadata]`.
pub fn setup_session(fake: &Shared, call: usize, form: &BTreeMap<String, String>) -> Value {
    let id = format!("cs_test_fake{call}");
    let setup_id = format!("seti_fake{call}");
    let mut session = fixture("checkout.session");
    session["id"] = json!(id);
    session["mode"] = json!("setup");
    session["url"] = json!(format!("https://checkout.stripe.com/c/pay/{id}"));
    session["customer"] = json!(form["customer"]);
    session["currency"] = json!(form["currency"]);
    session["client_reference_id"] = json!(form["client_reference_id"]);
    session["success_url"] = json!(form["success_url"]);
    session["cancel_url"] = json!(form["cancel_url"]);
    session["amount_total"] = Value::Null;
    session["payment_intent"] = Value::Null;
    session["payment_status"] = json!("no_payment_required");
    session["setup_intent"] = json!(setup_id);
    session["metadata"] = metadata(form);

    let mut setup = fixture("setup_intent");
    setup["id"] = json!(setup_id);
    setup["customer"] = json!(form["customer"]);
    setup["last_setup_error"] = Value::Null;
    setup["metadata"] = Value::Object(
        form.iter()
            .filter_map(|(k, v)| {
                let key = k
                    .strip_prefix("setup_intent_data[metadata][")?
                    .strip_suffix(']')?;
                Some((key.to_owned(), Value::String(v.clone())))
            })
            .collect(),
    );
    fake.lock().unwrap().setup_intents.push(setup);
    session
}

pub async fn customer(
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
    if let Some(replay) = replayed(&fake, &headers, call) {
        return replay;
    }
    let mut customer = fixture("customer");
    customer["id"] = json!(format!("cus_fake{call}"));
    customer["email"] = json!(form.get("email"));
    customer["name"] = json!(form.get("name"));
    customer["metadata"] = metadata(&form);
    remembered(&fake, &headers, call, StatusCode::OK, customer)
}

/// `POST /v1/payment_intents` with `confirm=true`: succeeds, waits on the customer, or is
/// declined with Stripe's 402 `card_error` that embeds the intent.
pub async fn charge(
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
    if let Some(replay) = replayed(&fake, &headers, call) {
        return replay;
    }
    let amount: i64 = form["amount"].parse().unwrap();
    let mut intent = fixture("payment_intent");
    intent["id"] = json!(format!("pi_fake{call}"));
    intent["amount"] = json!(amount);
    intent["currency"] = json!(form["currency"]);
    intent["customer"] = json!(form["customer"]);
    intent["payment_method"] = json!(form["payment_method"]);
    intent["metadata"] = metadata(&form);
    intent["last_payment_error"] = Value::Null;
    intent["next_action"] = Value::Null;
    let answer = fake.lock().unwrap().charge;
    let (status, body) = match answer {
        ChargeAnswer::Succeeded => {
            intent["status"] = json!("succeeded");
            intent["amount_received"] = json!(amount);
            intent["latest_charge"] = json!(format!("ch_fake{call}"));
            (StatusCode::OK, intent)
        }
        ChargeAnswer::RequiresAction => {
            intent["status"] = json!("requires_action");
            intent["next_action"] = json!({"type": "use_stripe_sdk", "use_stripe_sdk": {}});
            (StatusCode::OK, intent)
        }
        ChargeAnswer::CardError(code, decline_code) => {
            let error = json!({
                "type": "card_error",
                "code": code,
                "decline_code": decline_code,
                "message": "Your card was declined.",
                "doc_url": format!("https://stripe.com/docs/error-codes/{code}"),
                "request_log_url": "https://dashboard.stripe.com/test/logs/req_x",
            });
            intent["status"] = json!("requires_payment_method");
            intent["last_payment_error"] = error.clone();
            let mut error = error;
            error["payment_intent"] = intent;
            error["charge"] = json!(format!("ch_fake{call}"));
            (StatusCode::PAYMENT_REQUIRED, json!({ "error": error }))
        }
    };
    remembered(&fake, &headers, call, status, body)
}

pub async fn refund(
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

pub async fn payment(
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
    if let Some((code, decline_code)) = fake.lock().unwrap().payment_error {
        intent["last_payment_error"] = json!({
            "type": "card_error", "code": code, "decline_code": decline_code,
            "message": "Your card was declined.", "charge": "ch_fake",
            "doc_url": format!("https://stripe.com/docs/error-codes/{code}"),
        });
    }
    ok(call, intent)
}

pub fn checkout_request() -> CheckoutRequest {
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

pub fn refund_request(reason: &str) -> RefundRequest {
    RefundRequest {
        refund_id: "rf_1".into(),
        payment_id: "pi_123".into(),
        amount: 700,
        currency: "USD".into(),
        reason: Some(reason.into()),
        metadata: BTreeMap::new(),
    }
}

pub fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub fn assert_stripe_headers(request: &Recorded) {
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
