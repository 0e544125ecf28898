//! A local stand-in for Modern Treasury's API, answering in the shapes of its public payloads
//! (`crates/banks/tests/fixtures/`, copied from `../shared/data/banks/`: the payment order of `mt-payment-order-webhook-completed.json`),
//! recording each request's path, headers and JSON body, and replaying the answer given under
//! an `Idempotency-Key` as Modern Treasury does. The webhooks it would send are made by
//! [`FakeModernTreasury::payment_order_webhook`], signed as Modern Treasury signs them
//! (`X-Signature`: hex HMAC-SHA256 of the raw body).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Json;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

const PAYMENT_ORDER_WEBHOOK: &str =
    include_str!("../../../banks/tests/fixtures/mt-payment-order-webhook-completed.json");

#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub authorization: Option<String>,
    pub idempotency_key: Option<String>,
    pub body: Value,
}

#[derive(Clone, Default)]
struct Shared {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Answers by idempotency key.
    answers: Arc<Mutex<HashMap<String, Value>>>,
    /// Payment orders created, by id.
    orders: Arc<Mutex<HashMap<String, Value>>>,
}

pub struct FakeModernTreasury {
    pub url: String,
    shared: Shared,
}

impl FakeModernTreasury {
    pub async fn start() -> FakeModernTreasury {
        let shared = Shared::default();
        let app = axum::Router::new()
            .route("/api/counterparties", post(counterparties))
            .route("/api/payment_orders", post(payment_orders))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeModernTreasury { url, shared }
    }

    /// The requests made to `path`, in order.
    pub fn requests(&self, path: &str) -> Vec<Seen> {
        let seen = self.shared.seen.lock().unwrap();
        seen.iter().filter(|s| s.path == path).cloned().collect()
    }

    /// The webhook Modern Treasury sends when payment order `id` reaches `event`
    /// (`completed`, `failed`, …): the public payload with this order's fields, its headers
    /// signed with `secret` under `webhook_id`.
    pub fn payment_order_webhook(
        &self,
        id: &str,
        event: &str,
        webhook_id: &str,
        secret: &str,
    ) -> (Vec<(String, String)>, String) {
        let order = self.shared.orders.lock().unwrap()[id].clone();
        let mut webhook: Value = serde_json::from_str(PAYMENT_ORDER_WEBHOOK).unwrap();
        webhook["event"] = json!(event);
        webhook["data"] = order;
        webhook["data"]["status"] = json!(event);
        let body = webhook.to_string();
        let headers = vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            ("X-Topic".to_owned(), "payment_order".to_owned()),
            ("X-Webhook-ID".to_owned(), webhook_id.to_owned()),
            ("X-Live-Mode".to_owned(), "false".to_owned()),
            ("X-Signature".to_owned(), sign(secret, &body)),
        ];
        (headers, body)
    }
}

/// Modern Treasury's signature: hex HMAC-SHA256 of the raw body under the webhook key.
pub fn sign(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Records the request; answers what was answered under its idempotency key before, if any.
fn record(shared: &Shared, path: &str, headers: &HeaderMap, body: &Value) -> Option<Value> {
    let key = header(headers, "idempotency-key");
    shared.seen.lock().unwrap().push(Seen {
        path: path.to_owned(),
        authorization: header(headers, "authorization"),
        idempotency_key: key.clone(),
        body: body.clone(),
    });
    key.and_then(|k| shared.answers.lock().unwrap().get(&k).cloned())
}

fn remember(shared: &Shared, headers: &HeaderMap, answer: &Value) {
    if let Some(key) = header(headers, "idempotency-key") {
        shared.answers.lock().unwrap().insert(key, answer.clone());
    }
}

fn new_id(shared: &Shared) -> String {
    let n = shared.seen.lock().unwrap().len();
    format!("00000000-0000-4000-8000-{n:012}")
}

async fn counterparties(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    if let Some(answer) = record(&shared, "/api/counterparties", &headers, &body) {
        return Json(answer);
    }
    let accounts: Vec<Value> = body["accounts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|account| {
            let number = account["account_details"][0]["account_number"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let safe = &number[number.len().saturating_sub(4)..];
            json!({
                "id": new_id(&shared), "object": "external_account",
                "account_type": account["account_type"], "party_name": account["party_name"],
                "account_details": [{"account_number_safe": safe, "account_number_type": "other"}],
                "routing_details": account["routing_details"],
                "verification_status": "unverified",
            })
        })
        .collect();
    let answer = json!({
        "id": new_id(&shared), "object": "counterparty", "name": body["name"],
        "email": body["email"], "accounts": accounts, "metadata": body["metadata"],
        "live_mode": false,
    });
    remember(&shared, &headers, &answer);
    Json(answer)
}

/// A payment order as Modern Treasury answers its creation: the public payload's shape with
/// the request's fields, `approved`.
async fn payment_orders(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    if let Some(answer) = record(&shared, "/api/payment_orders", &headers, &body) {
        return Json(answer);
    }
    let webhook: Value = serde_json::from_str(PAYMENT_ORDER_WEBHOOK).unwrap();
    let mut order = webhook["data"].clone();
    let id = new_id(&shared);
    order["id"] = json!(id);
    order["status"] = json!("approved");
    for key in [
        "type",
        "amount",
        "direction",
        "currency",
        "originating_account_id",
        "receiving_account_id",
        "counterparty_id",
        "metadata",
    ] {
        order[key] = body[key].clone();
    }
    order["remittance_information"] = body["remittance_information"].clone();
    shared
        .orders
        .lock()
        .unwrap()
        .insert(id.clone(), order.clone());
    remember(&shared, &headers, &order);
    Json(order)
}
