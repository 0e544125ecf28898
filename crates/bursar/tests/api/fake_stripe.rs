//! A local stand-in for api.stripe.com serving Stripe's own fixture shapes
//! (`crates/payments/tests/fixtures/stripe-fixtures3.json`) and Stripe's documented error shape,
//! recording each request's path, headers and form.
//!
//! It answers what Bursar's Stripe adapter calls: customers, Checkout Sessions (`payment` and
//! `setup` mode), off-session PaymentIntents charged as Stripe's test cards would be, refunds.
//! An answer given under an `Idempotency-Key` is replayed for that key, as Stripe does. The
//! events Stripe would send when a person completes a hosted page come from
//! [`FakeStripe::setup_succeeded`] and [`FakeStripe::checkout_completed`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{json, Map, Value};

const FIXTURES: &str = include_str!("../../../payments/tests/fixtures/stripe-fixtures3.json");

/// Stripe's test payment methods the fake charges: succeeds.
pub const VISA: &str = "pm_card_visa";
/// Declined, `insufficient_funds` (soft).
pub const INSUFFICIENT_FUNDS: &str = "pm_card_chargeDeclinedInsufficientFunds";
/// Declined, `stolen_card` (hard).
pub const STOLEN: &str = "pm_card_chargeDeclinedStolenCard";
/// Off-session charges need the customer to authenticate (`authentication_required`).
pub const AUTHENTICATION_REQUIRED: &str = "pm_card_authenticationRequired";

#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub idempotency_key: Option<String>,
    pub authorization: Option<String>,
    pub form: Vec<(String, String)>,
    /// Answered with the answer an earlier request under the same idempotency key got.
    pub replayed: bool,
}

impl Seen {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `metadata[…]` fields under `prefix` (`metadata`, `setup_intent_data[metadata]`).
    fn metadata(&self, prefix: &str) -> Value {
        let open = format!("{prefix}[");
        let map: Map<String, Value> = self
            .form
            .iter()
            .filter_map(|(k, v)| {
                let key = k.strip_prefix(&open)?.strip_suffix(']')?;
                (!key.contains('[')).then(|| (key.to_owned(), json!(v)))
            })
            .collect();
        Value::Object(map)
    }
}

pub type Log = Arc<Mutex<Vec<Seen>>>;

/// An answer given: the form asked, the status and body answered.
type Answer = (Vec<(String, String)>, StatusCode, Value);

/// What the fake remembers besides its log.
#[derive(Default)]
struct Memory {
    /// Answers by idempotency key, with the form they answered.
    answers: HashMap<String, Answer>,
    /// Saved payment methods (`pm_fake…`) and the test card each is charged as.
    cards: HashMap<String, String>,
    /// Checkout Sessions and PaymentIntents created, by id.
    objects: HashMap<String, Value>,
}

#[derive(Clone)]
struct Shared {
    log: Log,
    memory: Arc<Mutex<Memory>>,
}

/// A running fake Stripe: its base URL and what it saw.
#[derive(Clone)]
pub struct FakeStripe {
    pub url: String,
    pub seen: Log,
    memory: Arc<Mutex<Memory>>,
}

fn fixture(name: &str) -> Value {
    let all: Value = serde_json::from_str(FIXTURES).unwrap();
    all["resources"][name].clone()
}

/// Stripe's error body: `{"error": {type, code, message, …}}`.
fn error(kind: &str, code: &str, message: &str, extra: Value) -> Value {
    let mut error = json!({
        "type": kind, "code": code, "message": message,
        "doc_url": format!("https://stripe.com/docs/error-codes/{}", code.replace('_', "-")),
        "request_log_url": "https://dashboard.stripe.com/test/logs/req_fake",
    });
    for (k, v) in extra.as_object().unwrap() {
        error[k] = v.clone();
    }
    json!({ "error": error })
}

impl FakeStripe {
    /// Starts the fake on a loopback port.
    pub async fn start() -> FakeStripe {
        let shared = Shared {
            log: Arc::default(),
            memory: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/v1/customers", post(customers))
            .route("/v1/checkout/sessions", post(sessions))
            .route("/v1/payment_intents", post(payment_intents))
            .route("/v1/refunds", post(refunds))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeStripe {
            url,
            seen: shared.log,
            memory: shared.memory,
        }
    }

    /// The requests made to `path`, in order.
    pub fn requests(&self, path: &str) -> Vec<Seen> {
        let log = self.seen.lock().unwrap();
        log.iter().filter(|s| s.path == path).cloned().collect()
    }

    /// From now on the saved `method` is charged as Stripe's test card `card` (the funds arrived).
    pub fn charge_as(&self, method: &str, card: &str) {
        let mut memory = self.memory.lock().unwrap();
        memory.cards.insert(method.to_owned(), card.to_owned());
    }

    /// The customer completes the setup session `session_id` with Stripe's test card `card`:
    /// a new PaymentMethod is attached to the session's customer and Stripe's
    /// `setup_intent.succeeded` event is returned (unsigned), with the method's id.
    pub fn setup_succeeded(&self, session_id: &str, card: &str, created: i64) -> (String, String) {
        let mut memory = self.memory.lock().unwrap();
        let method = format!("pm_fake{}", memory.cards.len() + 1);
        memory.cards.insert(method.clone(), card.to_owned());
        let session = memory.objects[session_id].clone();
        let mut intent = fixture("setup_intent");
        for (k, v) in [
            ("id", session["setup_intent"].clone()),
            ("status", json!("succeeded")),
            ("customer", session["customer"].clone()),
            ("payment_method", json!(method)),
            ("metadata", session["setup_intent_metadata"].clone()),
            ("last_setup_error", Value::Null),
            ("next_action", Value::Null),
        ] {
            intent[k] = v;
        }
        let id = format!("evt_fake_setup_{method}");
        let body =
            bursar_payments::stripe::event_json(&id, "setup_intent.succeeded", created, intent);
        (method, body.to_string())
    }

    /// The customer pays the payment-mode session `session_id`: Stripe's
    /// `checkout.session.completed` event (unsigned) and the payment's id.
    pub fn checkout_completed(&self, session_id: &str, created: i64) -> (String, String) {
        let mut session = self.memory.lock().unwrap().objects[session_id].clone();
        let payment = format!("pi_fake_{session_id}");
        session["status"] = json!("complete");
        session["payment_status"] = json!("paid");
        session["payment_intent"] = json!(payment);
        session
            .as_object_mut()
            .unwrap()
            .remove("setup_intent_metadata");
        let id = format!("evt_fake_completed_{session_id}");
        let body = bursar_payments::stripe::event_json(
            &id,
            "checkout.session.completed",
            created,
            session,
        );
        (payment, body.to_string())
    }

    /// Stripe's `payment_intent.succeeded` event (unsigned) for an intent the fake created.
    pub fn payment_succeeded(&self, payment_id: &str, created: i64) -> String {
        let intent = self.memory.lock().unwrap().objects[payment_id].clone();
        assert_eq!(intent["status"], "succeeded", "{intent}");
        let id = format!("evt_fake_succeeded_{payment_id}");
        bursar_payments::stripe::event_json(&id, "payment_intent.succeeded", created, intent)
            .to_string()
    }
}

/// Starts the fake; returns its base URL and what it saw.
pub async fn start() -> (String, Log) {
    let fake = FakeStripe::start().await;
    (fake.url, fake.seen)
}

/// Records the request and answers it with `answer` (given the request and its number), or
/// with the answer an earlier request under the same idempotency key got, as Stripe does:
/// replayed with `Idempotent-Replayed: true`, or refused when the parameters differ.
fn handle(
    shared: &Shared,
    path: &str,
    headers: &HeaderMap,
    body: &str,
    answer: impl FnOnce(&mut Memory, &Seen, usize) -> (StatusCode, Value),
) -> Response {
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    let mut seen = Seen {
        path: path.to_owned(),
        idempotency_key: header("idempotency-key"),
        authorization: header("authorization"),
        form: serde_urlencoded::from_str(body).unwrap(),
        replayed: false,
    };
    let mut memory = shared.memory.lock().unwrap();
    let earlier = (seen.idempotency_key.as_ref()).and_then(|key| memory.answers.get(key).cloned());
    seen.replayed = earlier.is_some();
    let n = {
        let mut log = shared.log.lock().unwrap();
        log.push(seen.clone());
        log.len()
    };
    if let Some((form, status, answer)) = earlier {
        if form != seen.form {
            let message = "Keys for idempotent requests can only be used with the same parameters they were first used with.";
            let refused = error(
                "idempotency_error",
                "idempotency_key_in_use",
                message,
                json!({}),
            );
            return (StatusCode::BAD_REQUEST, axum::Json(refused)).into_response();
        }
        let replayed = [("idempotent-replayed", "true")];
        return (status, replayed, axum::Json(answer)).into_response();
    }
    let (status, answer) = answer(&mut memory, &seen, n);
    if let Some(key) = seen.idempotency_key.clone() {
        let remembered = (seen.form.clone(), status, answer.clone());
        memory.answers.insert(key, remembered);
    }
    (status, axum::Json(answer)).into_response()
}

async fn customers(State(shared): State<Shared>, headers: HeaderMap, body: String) -> Response {
    handle(&shared, "/v1/customers", &headers, &body, |_, seen, n| {
        let mut customer = fixture("customer");
        customer["id"] = json!(format!("cus_fake{n}"));
        customer["email"] = json!(seen.field("email"));
        customer["name"] = json!(seen.field("name"));
        customer["metadata"] = seen.metadata("metadata");
        (StatusCode::OK, customer)
    })
}

/// A Checkout Session in `payment` mode (a price-data line per item) or `setup` mode (with
/// its SetupIntent), open at `https://checkout.stripe.com/c/pay/<id>`.
async fn sessions(State(shared): State<Shared>, headers: HeaderMap, body: String) -> Response {
    handle(
        &shared,
        "/v1/checkout/sessions",
        &headers,
        &body,
        |memory, seen, n| {
            let mut session = fixture("checkout.session");
            let id = format!("cs_test_fake{n}");
            let mode = seen.field("mode").unwrap();
            session["id"] = json!(id);
            session["url"] = json!(format!("https://checkout.stripe.com/c/pay/{id}"));
            session["status"] = json!("open");
            session["mode"] = json!(mode);
            session["payment_status"] = json!("unpaid");
            session["payment_intent"] = Value::Null;
            session["customer"] = json!(seen.field("customer"));
            session["client_reference_id"] = json!(seen.field("client_reference_id"));
            session["metadata"] = seen.metadata("metadata");
            let created = session["created"].as_i64().unwrap();
            let expires_at = seen.field("expires_at").map(|e| e.parse::<i64>().unwrap());
            session["expires_at"] = json!(expires_at.unwrap_or(created + 86_400));
            if mode == "setup" {
                session["setup_intent"] = json!(format!("seti_fake{n}"));
                session["currency"] = json!(seen.field("currency"));
            } else {
                let total: i64 = (0..)
                    .map_while(|i| {
                        let field = |name: &str| seen.field(&format!("line_items[{i}]{name}"));
                        let unit: i64 = field("[price_data][unit_amount]")?.parse().unwrap();
                        Some(unit * field("[quantity]")?.parse::<i64>().unwrap())
                    })
                    .sum();
                session["amount_total"] = json!(total);
                session["amount_subtotal"] = json!(total);
                session["currency"] = json!(seen.field("line_items[0][price_data][currency]"));
            }
            let mut remembered = session.clone();
            remembered["setup_intent_metadata"] = seen.metadata("setup_intent_data[metadata]");
            memory.objects.insert(id, remembered);
            (StatusCode::OK, session)
        },
    )
}

/// `POST /v1/payment_intents` with `confirm=true`: charged as the method's test card would be —
/// succeeded, or Stripe's 402 `card_error` embedding the intent (`card_declined` with its
/// `decline_code`, or `authentication_required`); an unknown method is a 400
/// `resource_missing`.
async fn payment_intents(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: String,
) -> Response {
    handle(
        &shared,
        "/v1/payment_intents",
        &headers,
        &body,
        |memory, seen, n| {
            let method = seen.field("payment_method").unwrap_or_default();
            let card = memory
                .cards
                .get(method)
                .map_or(method, String::as_str)
                .to_owned();
            let amount: i64 = seen.field("amount").unwrap().parse().unwrap();
            let mut intent = fixture("payment_intent");
            let id = format!("pi_fake{n}");
            for (k, v) in [
                ("id", json!(id)),
                ("amount", json!(amount)),
                ("currency", json!(seen.field("currency"))),
                ("customer", json!(seen.field("customer"))),
                ("payment_method", json!(method)),
                ("metadata", seen.metadata("metadata")),
                ("status", json!("requires_payment_method")),
                ("last_payment_error", Value::Null),
                ("next_action", Value::Null),
                ("latest_charge", json!(format!("ch_fake{n}"))),
                ("canceled_at", Value::Null),
            ] {
                intent[k] = v;
            }
            let declined = |code: &str, decline_code: &str, message: &str, intent: &mut Value| {
                let last = json!({"type": "card_error", "code": code, "decline_code": decline_code, "message": message,
                "charge": format!("ch_fake{n}"), "payment_method": {"id": method, "object": "payment_method"}});
                intent["last_payment_error"] = last;
                let extra = json!({"decline_code": decline_code, "charge": format!("ch_fake{n}"), "payment_intent": intent.clone()});
                (
                    StatusCode::PAYMENT_REQUIRED,
                    error("card_error", code, message, extra),
                )
            };
            let answer = match card.as_str() {
                VISA => {
                    intent["status"] = json!("succeeded");
                    intent["amount_received"] = json!(amount);
                    (StatusCode::OK, intent.clone())
                }
                INSUFFICIENT_FUNDS => declined(
                    "card_declined",
                    "insufficient_funds",
                    "Your card has insufficient funds.",
                    &mut intent,
                ),
                STOLEN => declined(
                    "card_declined",
                    "stolen_card",
                    "Your card was declined.",
                    &mut intent,
                ),
                AUTHENTICATION_REQUIRED => declined(
                    "authentication_required",
                    "authentication_required",
                    "Your card was declined. This transaction requires authentication.",
                    &mut intent,
                ),
                _ => {
                    let message = format!("No such PaymentMethod: '{method}'");
                    let missing = error(
                        "invalid_request_error",
                        "resource_missing",
                        &message,
                        json!({"param": "payment_method"}),
                    );
                    return (StatusCode::BAD_REQUEST, missing);
                }
            };
            memory.objects.insert(id, intent);
            answer
        },
    )
}

async fn refunds(State(shared): State<Shared>, headers: HeaderMap, body: String) -> Response {
    handle(&shared, "/v1/refunds", &headers, &body, |_, seen, _| {
        let mut refund = fixture("refund");
        refund["id"] = json!("re_fake_1");
        refund["status"] = json!("succeeded");
        refund["amount"] = json!(seen.field("amount").unwrap().parse::<i64>().unwrap());
        refund["payment_intent"] = json!(seen.field("payment_intent").unwrap());
        refund["metadata"] = seen.metadata("metadata");
        (StatusCode::OK, refund)
    })
}

/// A Stripe event wrapping a fixture object with `changes` applied.
pub fn event(id: &str, event_type: &str, object: &str, changes: Value, created: i64) -> String {
    let mut object = fixture(object);
    for (k, v) in changes.as_object().unwrap() {
        object[k] = v.clone();
    }
    bursar_payments::stripe::event_json(id, event_type, created, object).to_string()
}

/// Delivers a Stripe event to the app's Stripe webhook, signed with `secret` at the app's
/// clock; returns the receipt.
pub async fn deliver(app: &crate::helpers::TestApp, secret: &str, body: &str) -> Value {
    let now = app.db().now().unix_micros() / 1_000_000;
    let signature = bursar_payments::signature::header(&[secret], now, body.as_bytes());
    let response = app
        .client
        .post(app.url("/v1/webhooks/stripe"))
        .header("Stripe-Signature", signature)
        .header("Content-Type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    crate::helpers::ok(response).await
}
