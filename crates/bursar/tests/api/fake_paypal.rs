//! A local stand-in for api-m.paypal.com, in PayPal's REST shapes (the adapter's fixtures in
//! `crates/payments/tests/data/paypal/` follow the same documented formats): an OAuth token,
//! Orders v2 created with a `payer-action` link, captured (once: a second capture is refused
//! `ORDER_ALREADY_CAPTURED`, as PayPal refuses it) and read back. The buyer approves on the
//! fake's page (`/checkoutnow?token=…`, a button), or through [`FakePayPal::approve`]: the `CHECKOUT.ORDER.APPROVED` webhook, signed as
//! PayPal signs (SHA256withRSA over `transmission id|time|webhook id|CRC32 of the body`) with a
//! throwaway certificate made for the test run (`bursar_testkit::pki`). Its vault saves a
//! payer's wallet: a setup token the payer approves on the fake's page (back to the return URL
//! with `approval_token_id`), a payment token made from it (once per setup token), and orders
//! paid with that token (`payment_source.paypal.vault_id`) captured at once.

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
    /// Setup token id → the setup token as PayPal shows it, its return URL and whether the
    /// payer approved it.
    setups: HashMap<String, (Value, String, bool)>,
    /// Setup token id → the payment token made from it.
    payment_tokens: HashMap<String, Value>,
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
            .route("/v3/vault/setup-tokens", post(create_setup_token))
            .route("/v3/vault/payment-tokens", post(create_payment_token))
            .route("/agreements/approve", get(vault_page))
            .route("/agreements/approve/{id}", post(approve_vault))
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
    if let Some(vault_id) = body
        .pointer("/payment_source/paypal/vault_id")
        .and_then(Value::as_str)
    {
        return charge_vaulted(&fake, vault_id, &body);
    }
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

/// An order paid with a saved wallet: PayPal captures it at once (201, `COMPLETED`).
fn charge_vaulted(fake: &Fake, vault_id: &str, body: &Value) -> Response {
    let mut books = fake.books.lock().unwrap();
    let Some(token) = books
        .payment_tokens
        .values()
        .find(|t| t["id"] == vault_id)
        .cloned()
    else {
        let body = json!({"name": "UNPROCESSABLE_ENTITY", "message": "The requested action could not be performed, semantically incorrect, or failed business validation.",
            "debug_id": "a1b2c3d4e5f60", "details": [{"issue": "INVALID_VAULT_ID", "description": "The vault id is invalid."}]});
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
    };
    let id = format!("1SE0477{:010}", books.orders.len() + 1);
    let unit = &body["purchase_units"][0];
    let order = json!({
        "id": id,
        "intent": "CAPTURE",
        "status": "COMPLETED",
        "payment_source": {"paypal": {"email_address": "payer@example.com", "account_id": "QH7B2E9TLZ4RN",
            "attributes": {"vault": {"id": vault_id, "status": "VAULTED", "customer": {"id": token["customer"]["id"]}}}}},
        "purchase_units": [{
            "reference_id": unit["reference_id"],
            "payments": {"captures": [{
                "id": format!("47A1{}", &id[7..]),
                "status": "COMPLETED",
                "amount": unit["amount"],
                "custom_id": unit["custom_id"],
                "invoice_id": unit["invoice_id"],
                "final_capture": true,
            }]},
        }],
        "links": [{"href": format!("https://api-m.paypal.com/v2/checkout/orders/{id}"), "rel": "self", "method": "GET"}],
    });
    books.orders.insert(id, order.clone());
    (StatusCode::CREATED, Json(order)).into_response()
}

/// `POST /v3/vault/setup-tokens`: waits for the payer at its `approve` link.
async fn create_setup_token(State(fake): State<Fake>, Json(body): Json<Value>) -> Response {
    let mut books = fake.books.lock().unwrap();
    let n = books.setups.len() + 1;
    let id = format!("6TU2518{n:010}");
    let customer_id = body
        .pointer("/customer/id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("customer_73105{n:05}"));
    let back = body
        .pointer("/payment_source/paypal/experience_context/return_url")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let setup = json!({
        "id": id,
        "customer": {"id": customer_id, "merchant_customer_id": body["customer"]["merchant_customer_id"]},
        "status": "PAYER_ACTION_REQUIRED",
        "payment_source": {"paypal": {"usage_type": "MERCHANT", "customer_type": "CONSUMER", "permit_multiple_payment_tokens": false}},
        "links": [
            {"href": format!("https://api-m.paypal.com/v3/vault/setup-tokens/{id}"), "rel": "self", "method": "GET", "encType": "application/json"},
            {"href": format!("{}/agreements/approve?approval_session_id={id}", fake.base_url), "rel": "approve", "method": "GET", "encType": "application/json"},
        ],
    });
    books.setups.insert(id, (setup.clone(), back, false));
    (StatusCode::OK, Json(setup)).into_response()
}

#[derive(serde::Deserialize)]
struct VaultQuery {
    approval_session_id: String,
}

/// PayPal's page where the payer agrees to save their wallet with the merchant.
async fn vault_page(State(fake): State<Fake>, Query(query): Query<VaultQuery>) -> Response {
    let id = query.approval_session_id;
    if !fake.books.lock().unwrap().setups.contains_key(&id) {
        return not_found();
    }
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>PayPal</title></head>\
         <body><main><h1>Save PayPal with the merchant (test double)</h1>\
         <form method=\"post\" action=\"/agreements/approve/{id}\"><button type=\"submit\">Agree and continue</button></form>\
         </main></body></html>"
    );
    axum::response::Html(page).into_response()
}

/// The payer agreed: back to the merchant's return URL with the approved setup token.
async fn approve_vault(State(fake): State<Fake>, Path(id): Path<String>) -> Response {
    let mut books = fake.books.lock().unwrap();
    let Some((_, back, approved)) = books.setups.get_mut(&id) else {
        return not_found();
    };
    *approved = true;
    let separator = if back.contains('?') { '&' } else { '?' };
    let location = format!("{back}{separator}approval_token_id={id}&approval_session_id={id}");
    (
        StatusCode::SEE_OTHER,
        [(axum::http::header::LOCATION, location)],
    )
        .into_response()
}

/// `POST /v3/vault/payment-tokens` from an approved setup token (the same token again for the
/// same setup token, as PayPal replays a request with the same `PayPal-Request-Id`).
async fn create_payment_token(State(fake): State<Fake>, Json(body): Json<Value>) -> Response {
    let mut books = fake.books.lock().unwrap();
    let setup_id = body
        .pointer("/payment_source/token/id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if let Some(token) = books.payment_tokens.get(&setup_id) {
        return (StatusCode::OK, Json(token.clone())).into_response();
    }
    let Some((setup, _, approved)) = books.setups.get(&setup_id).cloned() else {
        return not_found();
    };
    if !approved {
        let body = json!({"name": "UNPROCESSABLE_ENTITY", "message": "The requested action could not be performed, semantically incorrect, or failed business validation.",
            "debug_id": "b2c3d4e5f6a70", "details": [{"issue": "SETUP_TOKEN_NOT_APPROVED", "description": "The setup token has not been approved by the payer."}]});
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
    }
    let vault_id = format!("r4d1k{:03}", books.payment_tokens.len() + 1);
    let token = json!({
        "id": vault_id,
        "customer": setup["customer"],
        "payment_source": {"paypal": {"usage_type": "MERCHANT", "customer_type": "CONSUMER", "permit_multiple_payment_tokens": false,
            "email_address": "payer@example.com", "payer_id": "QH7B2E9TLZ4RN"}},
        "links": [{"href": format!("https://api-m.paypal.com/v3/vault/payment-tokens/{vault_id}"), "rel": "self", "method": "GET", "encType": "application/json"}],
    });
    books.payment_tokens.insert(setup_id, token.clone());
    (StatusCode::OK, Json(token)).into_response()
}
