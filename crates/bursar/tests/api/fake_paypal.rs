//! A local stand-in for api-m.paypal.com, in PayPal's REST shapes (the adapter's fixtures in
//! `crates/payments/tests/data/paypal/` follow the same documented formats): an OAuth token,
//! Orders v2 created with a `payer-action` link, captured (once: a second capture is refused
//! `ORDER_ALREADY_CAPTURED`, as PayPal refuses it) and read back. The buyer approves on the
//! fake's page (`/checkoutnow?token=…`, a button), or through [`FakePayPal::approve`]: the `CHECKOUT.ORDER.APPROVED` webhook, signed as
//! PayPal signs (SHA256withRSA over `transmission id|time|webhook id|CRC32 of the body`) with a
//! throwaway certificate made for the test run (`bursar_testkit::pki`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use bursar_payments::paypal;
use serde_json::{json, Value};

/// The webhook id the connection is configured with; part of every signed message.
pub const WEBHOOK_ID: &str = "8PT597110X687430LKGECATA";

#[derive(Default)]
struct Books {
    /// PayPal order id → the order as PayPal shows it.
    orders: HashMap<String, Value>,
    /// Capture requests received, by order id.
    captures: Vec<String>,
    /// Where approvals are sent (Bursar's webhook URL of the connection).
    webhook_url: Option<String>,
    /// PayPal order id → where the buyer returns after approving (`return_url`).
    return_urls: HashMap<String, String>,
}

#[derive(Clone)]
pub struct FakePayPal {
    pub base_url: String,
    books: Arc<Mutex<Books>>,
}

impl FakePayPal {
    pub async fn start() -> FakePayPal {
        let books = Arc::new(Mutex::new(Books::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/v1/oauth2/token", post(token))
            .route("/v2/checkout/orders", post(create_order))
            .route("/v2/checkout/orders/{id}", get(show_order))
            .route("/v2/checkout/orders/{id}/capture", post(capture))
            .route("/checkoutnow", get(approval_page))
            .route("/checkoutnow/{id}/approve", post(approve_on_page))
            .with_state(Fake {
                books: books.clone(),
                base_url: base_url.clone(),
            });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakePayPal { base_url, books }
    }

    /// Where the buyer's approvals on the fake's page are sent: Bursar's webhook URL of the
    /// connection.
    pub fn send_webhooks_to(&self, url: &str) {
        self.books.lock().unwrap().webhook_url = Some(url.to_owned());
    }

    /// The capture requests the fake received, by PayPal order id.
    pub fn captures(&self) -> Vec<String> {
        self.books.lock().unwrap().captures.clone()
    }

    /// The buyer approves order `id` on PayPal's page: PayPal sends `CHECKOUT.ORDER.APPROVED`
    /// to `webhook_url`, signed. Returns the webhook's answer (status, body) and its body.
    pub async fn approve(&self, id: &str, webhook_url: &str) -> (u16, Value, String) {
        approve(&self.books, id, webhook_url).await
    }
}

/// Sends order `id`'s approval to `webhook_url`, signed.
async fn approve(books: &Mutex<Books>, id: &str, webhook_url: &str) -> (u16, Value, String) {
    let order = books.lock().unwrap().orders[id].clone();
    let mut resource = order.clone();
    resource["status"] = json!("APPROVED");
    let event = json!({
        "id": format!("WH-APPROVED-{id}"),
        "event_version": "1.0",
        "create_time": now_rfc3339(),
        "resource_type": "checkout-order",
        "resource_version": "2.0",
        "event_type": "CHECKOUT.ORDER.APPROVED",
        "summary": "An order has been approved by buyer",
        "resource": resource,
    })
    .to_string();
    let (status, answer) = deliver(webhook_url, &event, &format!("tx-{id}")).await;
    (status, answer, event)
}

#[derive(Clone)]
struct Fake {
    books: Arc<Mutex<Books>>,
    base_url: String,
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    token: String,
}

/// PayPal's page where the buyer approves the payment: the amount and one button.
async fn approval_page(State(fake): State<Fake>, Query(query): Query<TokenQuery>) -> Response {
    let Some(order) = fake.books.lock().unwrap().orders.get(&query.token).cloned() else {
        return not_found();
    };
    let amount = &order["purchase_units"][0]["amount"];
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>PayPal Checkout</title></head>\
         <body><main><h1>PayPal Checkout (test double)</h1><p>Pay {} {}</p>\
         <form method=\"post\" action=\"/checkoutnow/{}/approve\"><button type=\"submit\">Pay with PayPal</button></form>\
         </main></body></html>",
        amount["value"].as_str().unwrap_or_default(),
        amount["currency_code"].as_str().unwrap_or_default(),
        query.token
    );
    axum::response::Html(page).into_response()
}

/// The buyer pressed Pay: the approval goes to Bursar, then the buyer back to the shop.
async fn approve_on_page(State(fake): State<Fake>, Path(id): Path<String>) -> Response {
    let (webhook_url, back) = {
        let books = fake.books.lock().unwrap();
        (
            books.webhook_url.clone(),
            books.return_urls.get(&id).cloned(),
        )
    };
    let (Some(webhook_url), Some(back)) = (webhook_url, back) else {
        return not_found();
    };
    let (status, answer, _) = approve(&fake.books, &id, &webhook_url).await;
    assert_eq!(status, 200, "Bursar took the approval: {answer}");
    (
        StatusCode::SEE_OTHER,
        [(axum::http::header::LOCATION, back)],
    )
        .into_response()
}

/// POSTs `body` to `url` with PayPal's transmission headers, signed with the test key.
pub async fn deliver(url: &str, body: &str, transmission: &str) -> (u16, Value) {
    let sent = now_rfc3339();
    let message = paypal::signed_message(transmission, &sent, WEBHOOK_ID, body.as_bytes());
    let signature = bursar_testkit::pki::pki().openssl_signature(&message);
    let response = reqwest::Client::new()
        .post(url)
        .header(paypal::TRANSMISSION_ID, transmission)
        .header(paypal::TRANSMISSION_TIME, &sent)
        .header(paypal::TRANSMISSION_SIG, signature)
        .header(
            paypal::CERT_URL,
            "https://api-m.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77",
        )
        .header(paypal::AUTH_ALGO_HEADER, paypal::AUTH_ALGO)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn now_rfc3339() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    bursar_domain::time::Timestamp::from_unix_micros(i64::try_from(seconds).unwrap() * 1_000_000)
        .to_rfc3339()
}

async fn token() -> Json<Value> {
    Json(json!({
        "scope": "https://uri.paypal.com/services/payments/payment",
        "access_token": "A21AAFakePayPalTokenForTestsOnly",
        "token_type": "Bearer",
        "app_id": "APP-80W284485P519543T",
        "expires_in": 32400,
        "nonce": "2026-12-07T10:00:00ZfakeNonce"
    }))
}

async fn create_order(State(fake): State<Fake>, Json(body): Json<Value>) -> Response {
    let mut books = fake.books.lock().unwrap();
    let id = format!("5O190127TN{:07}", books.orders.len() + 1);
    let unit = &body["purchase_units"][0];
    let order = json!({
        "id": id,
        "intent": "CAPTURE",
        "status": "PAYER_ACTION_REQUIRED",
        "payment_source": {"paypal": {}},
        "purchase_units": [{
            "reference_id": unit["reference_id"],
            "custom_id": unit["custom_id"],
            "invoice_id": unit["invoice_id"],
            "amount": unit["amount"],
        }],
        "links": [
            {"href": format!("https://api-m.paypal.com/v2/checkout/orders/{id}"), "rel": "self", "method": "GET"},
            {"href": format!("{}/checkoutnow?token={id}", fake.base_url), "rel": "payer-action", "method": "GET"},
        ],
    });
    if let Some(back) = body
        .pointer("/payment_source/paypal/experience_context/return_url")
        .and_then(Value::as_str)
    {
        books.return_urls.insert(id.clone(), back.to_owned());
    }
    books.orders.insert(id, order.clone());
    (StatusCode::OK, Json(order)).into_response()
}

async fn show_order(State(fake): State<Fake>, Path(id): Path<String>) -> Response {
    match fake.books.lock().unwrap().orders.get(&id) {
        Some(order) => Json(order.clone()).into_response(),
        None => not_found(),
    }
}

async fn capture(State(fake): State<Fake>, Path(id): Path<String>) -> Response {
    let mut books = fake.books.lock().unwrap();
    books.captures.push(id.clone());
    let Some(order) = books.orders.get_mut(&id) else {
        return not_found();
    };
    if order["status"] == "COMPLETED" {
        let body = json!({"name": "UNPROCESSABLE_ENTITY", "message": "The requested action could not be performed, semantically incorrect, or failed business validation.",
            "debug_id": "f1a2b3c4d5e6f", "details": [{"issue": "ORDER_ALREADY_CAPTURED", "description": "Order already captured."}]});
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
    }
    let unit = order["purchase_units"][0].clone();
    order["status"] = json!("COMPLETED");
    order["purchase_units"][0]["payments"] = json!({"captures": [{
        "id": format!("3C67{}", &id[4..]),
        "status": "COMPLETED",
        "amount": unit["amount"],
        "custom_id": unit["custom_id"],
        "invoice_id": unit["invoice_id"],
        "final_capture": true,
        "seller_protection": {"status": "ELIGIBLE"},
    }]});
    (StatusCode::CREATED, Json(order.clone())).into_response()
}

fn not_found() -> Response {
    let body = json!({"name": "RESOURCE_NOT_FOUND", "message": "The specified resource does not exist.", "debug_id": "0a1b2c3d4e5f6", "details": [{"issue": "INVALID_RESOURCE_ID"}]});
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}
