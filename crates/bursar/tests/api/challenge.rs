//! The challenge before checkout and card saving (Cloudflare Turnstile): a shop that turns it on
//! draws the widget in its checkout and card forms, and every attempt's token is verified with
//! the provider's Siteverify API (here a local stand-in speaking its JSON) before anything is
//! written. No token, a token the provider refuses, one solved for another form, or no answer
//! from the provider: refused, no order.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::post;
use axum::Json;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;
use crate::portal::sign_in;
use crate::storefront::{field, open_shop, Visitor};

const SECRET: &str = "0x4AAAAAAAtest-secret-0001";

/// Siteverify as Cloudflare answers it: `checkout-…` and `card-…` tokens pass (solved by the
/// `checkout` and `card_setup` widgets), each once; anything else is invalid.
#[derive(Clone, Default)]
struct FakeTurnstile {
    seen: Arc<Mutex<Vec<Value>>>,
}

async fn siteverify(State(fake): State<FakeTurnstile>, Json(body): Json<Value>) -> Json<Value> {
    let token = body["response"].as_str().unwrap_or_default().to_owned();
    let used = fake
        .seen
        .lock()
        .unwrap()
        .iter()
        .any(|b| b["response"] == token.as_str());
    fake.seen.lock().unwrap().push(body.clone());
    if body["secret"] != SECRET {
        return Json(json!({"success": false, "error-codes": ["invalid-input-secret"]}));
    }
    let action = match token.split('-').next() {
        Some("checkout") => "checkout",
        Some("card") => "card_setup",
        _ => return Json(json!({"success": false, "error-codes": ["invalid-input-response"]})),
    };
    if used {
        return Json(json!({"success": false, "error-codes": ["timeout-or-duplicate"]}));
    }
    Json(
        json!({"success": true, "challenge_ts": "2026-12-07T10:00:00.000Z", "hostname": "127.0.0.1",
                "error-codes": [], "action": action, "cdata": "", "metadata": {"ephemeral_id": "x:1"}}),
    )
}

impl FakeTurnstile {
    async fn start() -> (FakeTurnstile, String) {
        let fake = FakeTurnstile::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = axum::Router::new()
            .route("/turnstile/v0/siteverify", post(siteverify))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (fake, base)
    }
}

async fn orders(app: &TestApp) -> usize {
    ok(app.get("/v1/orders").await).await["data"]
        .as_array()
        .unwrap()
        .len()
}

/// Puts `product` in a new visitor's cart and sends the checkout form for `email` with `token`
/// (none: no field). A visitor and an address each, so the velocity limits stay out of it.
async fn checkout(
    app: &TestApp,
    product: &str,
    email: &str,
    token: Option<&str>,
) -> (u16, String, Visitor) {
    let mut visitor = Visitor::new(app);
    let (_, page) = visitor.get(&format!("/shop/acme/products/{product}")).await;
    let csrf = field(&page, "csrf_token");
    visitor
        .post(
            "/shop/acme/cart/add",
            &[("csrf_token", &csrf), ("product_id", product)],
        )
        .await;
    let (_, form) = visitor.get("/shop/acme/checkout").await;
    let form_key = field(&form, "form_key");
    let mut fields = vec![
        ("csrf_token", csrf.as_str()),
        ("form_key", form_key.as_str()),
        ("email", email),
        ("country", "US"),
    ];
    if let Some(token) = token {
        fields.push(("cf-turnstile-response", token));
    }
    let (status, page) = visitor.post("/shop/acme/checkout", &fields).await;
    (status, page, visitor)
}

both_backends! {
    /// Goal: with Turnstile on, the checkout and card forms carry the widget (and the pages'
    /// policy allows its script); a checkout without a token, with a forged one, with one
    /// solved for the card form, or while Siteverify cannot be reached is refused before an
    /// order is written; a genuine token passes once, sent with the visitor's address; the
    /// secret is never shown. Turned off, the forms are as before.
    async fn checkouts_and_card_saving_pass_the_shops_challenge(app: TestApp) {
        let (program, _) = open_shop(&app).await;
        let (fake, base) = FakeTurnstile::start().await;
        let refused = app.post("/v1/storefront", json!({"challenge": {"provider": "hcaptcha", "site_key": "k", "secret_key": "s"}})).await;
        assert_eq!(refused.status(), 400);
        assert_eq!(json_body(refused).await["error"]["param"], "challenge.provider");
        let shop = ok(app.post("/v1/storefront", json!({"challenge": {"provider": "turnstile", "site_key": "1x00000000000000000000AA", "secret_key": SECRET, "api_base": base}})).await).await;
        assert_eq!(shop["challenge"]["secret_key_last4"], "0001");
        let shown = ok(app.get("/v1/storefront").await).await.to_string();
        assert!(!shown.contains(SECRET) && shown.contains("1x00000000000000000000AA"), "{shown}");

        let response = reqwest::get(format!("{}/shop/acme", app.base_url)).await.unwrap();
        let csp = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
        assert!(csp.contains("script-src https://challenges.cloudflare.com") && csp.contains("frame-ancestors 'none'"), "{csp}");
        let (status, refused, _) = checkout(&app, &program, "bot-1@example.com", None).await;
        assert_eq!(status, 400, "{refused}");
        assert!(refused.contains("not a robot") && refused.contains("data-sitekey=\"1x00000000000000000000AA\" data-action=\"checkout\""), "{refused}");
        assert!(refused.contains("src=\"https://challenges.cloudflare.com/turnstile/v0/api.js\""), "{refused}");
        for (token, email) in [("forged", "bot-2@example.com"), ("card-1", "bot-3@example.com")] {
            let (status, page, _) = checkout(&app, &program, email, Some(token)).await;
            assert_eq!(status, 400, "{token}: {page}");
        }
        assert_eq!(orders(&app).await, 0, "no order without a passed challenge");
        let (status, to, mut visitor) = checkout(&app, &program, "grace@example.com", Some("checkout-1")).await;
        assert_eq!(status, 303, "{to}");
        assert_eq!(orders(&app).await, 1);
        let (status, replayed, _) = checkout(&app, &program, "bot-4@example.com", Some("checkout-1")).await;
        assert!(status == 400 && replayed.contains("timeout-or-duplicate"), "a token passes once: {replayed}");
        let seen = fake.seen.lock().unwrap().clone();
        let passed = seen.iter().find(|b| b["response"] == "checkout-1").unwrap();
        assert_eq!((passed["secret"].as_str(), passed["remoteip"].as_str()), (Some(SECRET), Some("127.0.0.1")));
        assert!(passed["idempotency_key"].as_str().is_some_and(|k| k.len() == 32), "{passed}");
        assert!(!seen.iter().any(|b| b["response"].is_null()), "an empty token is refused without asking");

        // Saving a card in the portal: the widget of the card form, its own action.
        sign_in(&app, &mut visitor, "grace@example.com").await;
        let (_, home) = visitor.get("/portal/acme").await;
        assert!(home.contains("data-action=\"card_setup\""), "{home}");
        let csrf = field(&home, "csrf_token");
        let (status, _) = visitor.post("/portal/acme/payment-methods", &[("csrf_token", &csrf)]).await;
        assert_eq!(status, 400, "no token, no card page");
        let (status, setup) = visitor.post("/portal/acme/payment-methods", &[("csrf_token", &csrf), ("cf-turnstile-response", "card-2")]).await;
        assert_eq!(status, 303, "{setup}");

        // Siteverify unreachable: refused (fails closed), nothing written.
        ok(app.post("/v1/storefront", json!({"challenge": {"provider": "turnstile", "site_key": "1x00000000000000000000AA", "secret_key": SECRET, "api_base": "http://127.0.0.1:9"}})).await).await;
        let (status, page, _) = checkout(&app, &program, "ada@example.com", Some("checkout-2")).await;
        assert_eq!(status, 503, "{page}");
        assert_eq!(orders(&app).await, 1);

        ok(app.post("/v1/storefront", json!({"challenge": null})).await).await;
        let response = reqwest::get(format!("{}/shop/acme", app.base_url)).await.unwrap();
        assert!(!response.headers()["content-security-policy"].to_str().unwrap().contains("script-src"));
        let (status, _, _) = checkout(&app, &program, "alan@example.com", None).await;
        assert_eq!(status, 303, "no challenge: the checkout goes on");
    }
}
