//! The PayPal adapter against fixtures written for these tests after PayPal's documented formats
//! (`tests/data/paypal/`, see its README): the exact requests it builds, sent through the real
//! executor to a fake PayPal on 127.0.0.1 that answers with those fixtures; the answers and
//! webhook events they parse to; and webhook verification with a throwaway test certificate (not
//! PayPal's). `published` checks the same outcomes against PayPal's own published examples where
//! the steering folder `shared/data/paypal/` holds them.
//!
//! This file is the harness (fixtures, requests, the fake PayPal); the tests are in its
//! submodules, one per topic.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method as HttpMethod, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

use super::*;
use crate::executor::{ExecutorConfig, HttpExecutor, ProviderRequest, ProviderResponse};
use crate::{
    CheckoutLine, CheckoutRequest, CheckoutSession, DeclineClass, Headers, OffSessionCharge,
    PaymentEvent, PaymentEventKind, PaymentProvider, PaymentState, PaymentStatus, ProviderError,
    RefundRequest, RefundResult, RefundStatus, SavedMethod, SetupRequest, SetupSession,
    WebhookError,
};

macro_rules! data {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/paypal/",
            $name
        ))
    };
}

// Declared after `data!`, which they use.
mod auth_and_errors;
mod events;
mod money;
mod orders;
mod payments;
mod published;
mod signatures;
mod vault;

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

const CLIENT_ID: &str = "client-id-1";
const SECRET: &str = "client-secret-1";
const WEBHOOK_ID: &str = "3RW84501UK2297154";
/// The `access_token` of `oauth-token.json`.
const TOKEN: &str =
    "A21AAHbursarTESTonly4Lq9Vx2Nc7Rw5Zt8Km3Pf6Yh1Sd0Gj-Ub4Xe7Ta2Wo9Ir5Cn8Lv3Qm6Bz1Dk0Hs_Fy7Ej2";

/// The fixtures' ids: one checkout (`ord_1`) captured, refunded and disputed; one saved wallet
/// (`cus_7`) charged for `ord_9`.
const ORDER: &str = "7XW31658GE402913M";
const CAPTURE: &str = "2PN95104HA637821T";
const REFUND: &str = "5MK38214PS990127A";
const SETUP_TOKEN: &str = "6TU25180FL3389401";
const VAULT_ID: &str = "r4d1kqz";
const PAYPAL_CUSTOMER: &str = "customer_7310529846";

fn config(api_base: &str) -> PayPalConfig {
    PayPalConfig {
        client_id: CLIENT_ID.into(),
        client_secret: SECRET.into(),
        webhook_id: WEBHOOK_ID.into(),
        api_base: api_base.into(),
    }
}

fn adapter() -> PayPalAdapter {
    PayPalAdapter::new(config("http://fake/"))
}

fn response(status: u16, body: &str) -> ProviderResponse {
    ProviderResponse {
        status,
        headers: BTreeMap::new(),
        body: body.as_bytes().to_vec(),
    }
}

fn body_of(call: &ProviderRequest) -> Value {
    serde_json::from_str(call.json.as_deref().unwrap()).unwrap()
}

fn checkout() -> CheckoutRequest {
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

fn refund_request() -> RefundRequest {
    RefundRequest {
        refund_id: "rf_1".into(),
        payment_id: CAPTURE.into(),
        amount: 700,
        currency: "USD".into(),
        reason: Some("goodwill".into()),
        metadata: BTreeMap::new(),
    }
}

fn setup_request() -> SetupRequest {
    SetupRequest {
        attempt_id: "att_s".into(),
        customer_id: "cus_7".into(),
        provider_customer: None,
        email: Some("payer@example.com".into()),
        name: None,
        currency: "USD".into(),
        success_url: "https://shop.example/saved".into(),
        cancel_url: "https://shop.example/cancel".into(),
    }
}

fn charge() -> OffSessionCharge {
    OffSessionCharge {
        attempt_id: "att_9".into(),
        order_id: "ord_9".into(),
        provider_customer: PAYPAL_CUSTOMER.into(),
        payment_method: VAULT_ID.into(),
        amount: 10000,
        currency: "USD".into(),
        metadata: BTreeMap::new(),
    }
}

/// A payment state without a failure; `amount_received` is the amount once it succeeded.
fn payment_state(
    id: &str,
    status: PaymentStatus,
    amount: i64,
    currency: &str,
    order_id: Option<&str>,
) -> PaymentState {
    PaymentState {
        id: id.into(),
        status,
        amount,
        amount_received: if status == PaymentStatus::Succeeded {
            amount
        } else {
            0
        },
        currency: currency.into(),
        order_id: order_id.map(str::to_owned),
        last_error: None,
        decline_code: None,
        decline_class: None,
    }
}

/// `state` with its last error, decline code and class.
fn with_decline(
    state: PaymentState,
    last_error: &str,
    decline_code: Option<&str>,
    class: DeclineClass,
) -> PaymentState {
    PaymentState {
        last_error: Some(last_error.into()),
        decline_code: decline_code.map(str::to_owned),
        decline_class: Some(class),
        ..state
    }
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
    body: String,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// What the fake saw, and scripted answers (`"METHOD /path"`, status, body), each used once
/// before the default answer of its route.
#[derive(Default)]
struct Fake {
    requests: Vec<Recorded>,
    script: Vec<(String, u16, String)>,
}

type Shared = Arc<Mutex<Fake>>;

struct Server {
    base: String,
    fake: Shared,
}

impl Server {
    async fn start(script: &[(&str, u16, &str)]) -> Self {
        let fake = Arc::new(Mutex::new(Fake {
            requests: Vec::new(),
            script: script
                .iter()
                .map(|(route, status, body)| ((*route).to_owned(), *status, (*body).to_owned()))
                .collect(),
        }));
        let app = Router::new().fallback(answer).with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, fake }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.fake.lock().unwrap().requests.clone()
    }

    fn provider(&self) -> PayPalProvider {
        let executor = HttpExecutor::new(
            ExecutorConfig {
                timeout: Duration::from_secs(5),
                max_attempts: 2,
                base_backoff: Duration::from_millis(1),
            },
            bursar_outbound::Guard::new(bursar_outbound::Policy {
                allow_loopback: true,
            }),
        )
        .unwrap();
        PayPalProvider::new(config(&self.base), executor)
    }
}

async fn answer(
    State(fake): State<Shared>,
    method: HttpMethod,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let recorded = Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
            .collect(),
        body: String::from_utf8(body.to_vec()).unwrap(),
    };
    let route = format!("{} {}", recorded.method, recorded.path);
    let (status, text) = {
        let mut fake = fake.lock().unwrap();
        fake.requests.push(recorded.clone());
        match fake.script.iter().position(|(r, _, _)| *r == route) {
            Some(i) => {
                let (_, status, body) = fake.script.remove(i);
                (status, body)
            }
            None => default_answer(&recorded),
        }
    };
    let mut response = (StatusCode::from_u16(status).unwrap(), text).into_response();
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
}

/// The fixtures, by route.
fn default_answer(request: &Recorded) -> (u16, String) {
    let path = request.path.as_str();
    let body = match (request.method.as_str(), path) {
        ("POST", "/v1/oauth2/token") => return (200, data!("oauth-token.json").into()),
        ("POST", "/v2/checkout/orders") if request.body.contains("vault_id") => {
            return (201, data!("order-vault-charge.json").into())
        }
        ("POST", "/v2/checkout/orders") => data!("order-create-payer-action.json").into(),
        ("POST", p) if p.ends_with("/capture") => data!("order-capture.json").into(),
        ("GET", p) if p.starts_with("/v2/checkout/orders/") => data!("order-capture.json").into(),
        ("GET", p) if p.starts_with("/v2/payments/captures/") => {
            fixture(data!("event-payment-capture-completed.json"))["resource"].to_string()
        }
        ("POST", p) if p.ends_with("/refund") => data!("refund.json").into(),
        ("POST", "/v3/vault/setup-tokens") => data!("setup-token.json").into(),
        ("POST", "/v3/vault/payment-tokens") => data!("payment-token.json").into(),
        _ => return (404, r#"{"name":"RESOURCE_NOT_FOUND"}"#.into()),
    };
    (if request.method == "GET" { 200 } else { 201 }, body)
}

/// The token request, then the call; checks the token request and the call's common headers.
fn token_then_call(requests: &[Recorded], key: Option<&str>) -> Recorded {
    assert_eq!(requests.len(), 2, "{requests:#?}");
    let token = &requests[0];
    assert_eq!(
        (token.method.as_str(), token.path.as_str()),
        ("POST", "/v1/oauth2/token")
    );
    assert_eq!(
        token.header("authorization"),
        Some("Basic Y2xpZW50LWlkLTE6Y2xpZW50LXNlY3JldC0x")
    );
    assert_eq!(token.body, "grant_type=client_credentials");
    let call = requests[1].clone();
    assert_eq!(
        call.header("authorization").map(str::to_owned),
        Some(format!("Bearer {TOKEN}"))
    );
    assert_eq!(call.header("prefer"), Some("return=representation"));
    assert_eq!(call.header("paypal-request-id"), key);
    assert_eq!(call.header("idempotency-key"), key);
    if call.method == "POST" {
        assert_eq!(call.header("content-type"), Some("application/json"));
    }
    call
}

/// A 422 declining the payer's funding source.
const DECLINED: &str = r#"{"name": "UNPROCESSABLE_ENTITY", "message": "The requested action could not be performed.", "debug_id": "3a81f0c29d4e7", "details": [{"issue": "INSTRUMENT_DECLINED", "description": "The payer's funding source was declined."}]}"#;
