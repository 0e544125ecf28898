//! Velocity per card: one stolen card tried again and again, from ever new addresses,
//! sessions and emails (so no other limit sees it), is stopped by its own count. Declines on
//! the provider's page count against the card's fingerprint, and a card with too many this
//! window is no longer tried; declines of a saved card charged in two clicks count against the
//! saved method, which is then refused before the provider is asked.

use bursar_core::velocity::PER_CARD;

use crate::both_backends;
use crate::helpers::*;
use crate::portal::{buy, save_card_in_portal, sign_in};
use crate::storefront::{checkout_one, field, open_shop, Visitor};

/// The newest order's failure reason.
async fn newest_failure(app: &TestApp) -> String {
    let orders = ok(app.get("/v1/orders?limit=1").await).await;
    orders["data"][0]["last_payment_error"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

both_backends! {
    /// Goal: a bot declines one card (the test provider's `declined`, one fingerprint) from a
    /// new address, session and email each time: the first PER_CARD attempts reach the issuer
    /// (`generic_decline`), the next ones are not tried (`card_velocity_exceeded`); a good card
    /// still pays.
    async fn one_card_tried_everywhere_is_stopped_by_its_fingerprint(app: TestApp) {
        let (program, _) = open_shop(&app).await;
        for n in 0..PER_CARD + 2 {
            let mut bot = Visitor::from_address(&app, &format!("127.0.0.{}", 20 + n));
            let (status, pay_page) = checkout_one(&mut bot, &program, &format!("mule{n}@example.net")).await;
            assert_eq!(status, 303, "checkout {n}: {pay_page}");
            let (_, page) = bot.get(&pay_page).await;
            let (status, _) = bot.post(&format!("{pay_page}/decline"), &[("csrf_token", &form_token(&page))]).await;
            assert_eq!(status, 303);
            let expected = if n < PER_CARD { "generic_decline" } else { "card_velocity_exceeded" };
            let failure = newest_failure(&app).await;
            assert!(failure.starts_with(expected), "attempt {n}: {failure}");
        }
        let receipt = buy(&app, &program, "ada@example.com").await;
        assert!(receipt.contains("/orders/"), "another card pays: {receipt}");
    }
}

both_backends! {
    /// Goal: a saved card declined PER_CARD times in two clicks is refused on the next try with
    /// 429 before an order is written or the provider is asked.
    async fn a_saved_card_declined_too_often_is_not_charged_again(app: TestApp) {
        let (program, _) = open_shop(&app).await;
        buy(&app, &program, "grace@example.com").await;
        let mut grace = Visitor::new(&app);
        sign_in(&app, &mut grace, "grace@example.com").await;
        save_card_in_portal(&app, &mut grace, "declined", 1).await;
        let (_, page) = grace.get(&format!("/shop/acme/products/{program}")).await;
        let token = field(&page, "csrf_token");
        grace.post("/shop/acme/cart/add", &[("csrf_token", &token), ("product_id", &program)]).await;
        for n in 0..PER_CARD {
            let (_, checkout) = grace.get("/shop/acme/checkout").await;
            let form_key = field(&checkout, "form_key");
            let (status, page) = grace.post("/shop/acme/checkout/saved", &[("csrf_token", &token), ("form_key", &form_key)]).await;
            assert_eq!(status, 402, "attempt {n}: {page}");
        }
        let before = ok(app.get("/v1/orders?limit=100").await).await["data"].as_array().unwrap().len();
        let (_, checkout) = grace.get("/shop/acme/checkout").await;
        let form_key = field(&checkout, "form_key");
        let (status, page) = grace.post("/shop/acme/checkout/saved", &[("csrf_token", &token), ("form_key", &form_key)]).await;
        assert_eq!(status, 429, "{page}");
        assert!(page.contains("declined too often"), "{page}");
        let after = ok(app.get("/v1/orders?limit=100").await).await["data"].as_array().unwrap().len();
        assert_eq!(after, before, "no order for a refused card");
    }
}
