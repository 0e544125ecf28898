//! PayPal as a connected provider, end to end against the fake PayPal: an order's checkout
//! opens a PayPal order (the buyer is sent to its `payer-action` link); the buyer's approval
//! arrives as a signed `CHECKOUT.ORDER.APPROVED` webhook; Bursar captures the order and records
//! the payment once, however often the approval is delivered; a forged webhook is refused.

use crate::both_backends;
use crate::fake_paypal::{deliver, FakePayPal, WEBHOOK_ID};
use crate::helpers::*;

both_backends! {
    /// Goal: adding PayPal is one connection: the same order and checkout code, PayPal's
    /// approval captured by Bursar, the order paid exactly once; the connection's settings are
    /// checked (client and webhook ids required, certificates as signing secrets).
    async fn an_order_is_paid_through_paypal(app: TestApp) {
        let paypal = FakePayPal::start().await;
        let cert = bursar_testkit::pki::pki().cert.clone();
        let connection = json!({"kind": "paypal", "name": "PayPal", "secret_key": "EFakePayPalClientSecret", "client_id": "AFakePayPalClientId",
            "webhook_id": WEBHOOK_ID, "webhook_secrets": [cert], "api_base": paypal.base_url});
        let mut missing = connection.clone();
        missing.as_object_mut().unwrap().remove("webhook_id");
        expect_error(app.post("/v1/payment_providers", missing).await, 400, "parameter_missing", Some("webhook_id")).await;
        let mut not_a_certificate = connection.clone();
        not_a_certificate["webhook_secrets"] = json!(["whsec_0123456789abcdef"]);
        expect_error(app.post("/v1/payment_providers", not_a_certificate).await, 400, "parameter_invalid", Some("webhook_secrets[0]")).await;
        let provider = ok(app.post("/v1/payment_providers", connection).await).await;
        assert_eq!((provider["kind"].as_str(), provider["client_id"].as_str(), provider["webhook_id"].as_str()), (Some("paypal"), Some("AFakePayPalClientId"), Some(WEBHOOK_ID)));
        assert!(!provider.to_string().contains("EFakePayPalClientSecret"), "the secret is never shown");
        let provider_id = id(&provider);
        // A shop pays through a connection of its own workspace only; "" returns to the test provider.
        let nowhere = bursar_domain::id::ProviderId::new().to_string();
        expect_error(app.post("/v1/storefront", json!({"handle": "acme", "currency": "USD", "payment_provider": nowhere})).await, 404, "resource_missing", Some("payment_provider")).await;
        let shop = ok(app.post("/v1/storefront", json!({"handle": "acme", "currency": "USD", "payment_provider": provider_id})).await).await;
        assert_eq!(shop["payment_provider"].as_str(), Some(provider_id.as_str()));
        let shop = ok(app.post("/v1/storefront", json!({"payment_provider": ""})).await).await;
        assert!(shop.get("payment_provider").is_none(), "{shop}");

        let product = id(&ok(app.post("/v1/products", json!({"name": "Studio", "kind": "digital"})).await).await);
        ok(app.post("/v1/prices", json!({"product_id": product, "currency": "USD", "unit_amount": 2_500})).await).await;
        let customer = id(&ok(app.post("/v1/customers", json!({"name": "Grace", "email": "grace@example.com"})).await).await);
        let order = id(&ok(app.post("/v1/orders", json!({"customer_id": customer, "currency": "USD", "lines": [{"product_id": product, "quantity": 2}]})).await).await);
        let opened = ok(app.post(&format!("/v1/orders/{order}/checkout"), json!({"provider": provider_id})).await).await;
        let checkout = &opened["checkout"];
        assert_eq!(checkout["provider"], "paypal");
        let paypal_order = checkout["session_id"].as_str().unwrap().to_owned();
        assert_eq!(checkout["url"].as_str().unwrap(), format!("{}/checkoutnow?token={paypal_order}", paypal.base_url));

        let webhook = app.url(&format!("/v1/webhooks/{provider_id}"));
        let (status, receipt, approval) = paypal.approve(&paypal_order, &webhook).await;
        assert_eq!(status, 200, "{receipt}");
        let paid = ok(app.get(&format!("/v1/orders/{order}")).await).await;
        assert!(["paid", "fulfilled"].contains(&paid["status"].as_str().unwrap()), "captured within the approval's delivery: {paid}");
        assert_eq!(paid["payment"]["amount"], 5_000);
        assert!(paid["payment"]["payment_id"].as_str().unwrap().starts_with("3C67"), "{paid}");
        assert_eq!(paypal.captures(), vec![paypal_order.clone()]);

        // PayPal delivers the approval again: captured already; still one payment.
        let (status, again) = deliver(&webhook, &approval, &format!("tx-{paypal_order}-2")).await;
        assert_eq!((status, again["outcome"].as_str()), (200, Some("duplicate")), "{again}");
        assert_eq!(paypal.captures().len(), 2, "asked again, and PayPal said it was captured");
        let after = ok(app.get(&format!("/v1/orders/{order}")).await).await;
        assert_eq!(after["payment"], paid["payment"]);

        // A changed body under the genuine signature's headers is refused, and nothing is read.
        let forged = approval.replace("50.00", "5.00");
        assert_ne!(forged, approval);
        let response = app.client.post(&webhook).header("content-type", "application/json")
            .header(bursar_payments::paypal::TRANSMISSION_ID, "tx-forged").header(bursar_payments::paypal::TRANSMISSION_TIME, "2026-12-07T10:00:00Z")
            .header(bursar_payments::paypal::TRANSMISSION_SIG, "AAAA").header(bursar_payments::paypal::CERT_URL, "https://api-m.paypal.com/v1/notifications/certs/CERT-1")
            .header(bursar_payments::paypal::AUTH_ALGO_HEADER, bursar_payments::paypal::AUTH_ALGO).body(forged).send().await.unwrap();
        assert_eq!(response.status(), 400);
    }
}

/// The fake PayPal connected and made the shop's provider; returns the connection's id.
async fn shop_pays_with_paypal(app: &TestApp, paypal: &FakePayPal) -> String {
    let cert = bursar_testkit::pki::pki().cert.clone();
    let provider = id(&ok(app.post("/v1/payment_providers", json!({"kind": "paypal", "secret_key": "EFakePayPalClientSecret", "client_id": "AFakePayPalClientId",
        "webhook_id": WEBHOOK_ID, "webhook_secrets": [cert], "api_base": paypal.base_url})).await).await);
    ok(app
        .post("/v1/storefront", json!({"payment_provider": provider}))
        .await)
    .await;
    provider
}

both_backends! {
    /// Goal: a signed-in customer saves their PayPal wallet from the portal (PayPal's page,
    /// back with the approved setup token, a payment token made once), then buys in two
    /// clicks: the order is charged with the vaulted wallet and paid. Coming back twice saves
    /// one method; another customer's session cannot claim the approval.
    async fn a_customer_saves_paypal_and_buys_in_two_clicks(app: TestApp) {
        let (program, _) = crate::storefront::open_shop(&app).await;
        let paypal = FakePayPal::start().await;
        shop_pays_with_paypal(&app, &paypal).await;
        let grace = id(&ok(app.post("/v1/customers", json!({"email": "grace@example.com"})).await).await);
        ok(app.post("/v1/customers", json!({"email": "ada@example.com"})).await).await;
        let mut visitor = crate::storefront::Visitor::new(&app);
        crate::portal::sign_in(&app, &mut visitor, "grace@example.com").await;
        let (_, home) = visitor.get("/portal/acme").await;
        let csrf = crate::storefront::field(&home, "csrf_token");
        let (status, approve) = visitor.post("/portal/acme/payment-methods", &[("csrf_token", &csrf)]).await;
        assert_eq!(status, 303, "{approve}");
        assert!(approve.starts_with(&format!("{}/agreements/approve?approval_session_id=", paypal.base_url)), "{approve}");
        let (status, page) = visitor.get(&approve).await;
        assert!(status == 200 && page.contains("Agree and continue"), "{page}");
        let setup = approve.split("approval_session_id=").nth(1).unwrap().to_owned();
        let (status, back) = visitor.post(&format!("{}/agreements/approve/{setup}", paypal.base_url), &[]).await;
        assert_eq!(status, 303);
        assert!(back.starts_with(&app.url("/portal/acme/payment-methods/return?approval_token_id=")), "{back}");

        // Ada comes back with Grace's approval: not hers.
        let mut ada = crate::storefront::Visitor::new(&app);
        crate::portal::sign_in(&app, &mut ada, "ada@example.com").await;
        assert_eq!(ada.get(&back).await.0, 404);
        for _ in 0..2 {
            let (status, to) = visitor.get_location(&back).await;
            assert_eq!((status, to.as_str()), (303, "/portal/acme#payment-methods"));
        }
        let (_, home) = visitor.get("/portal/acme").await;
        assert!(home.contains("PayPal account saved on"), "{home}");
        let methods = ok(app.get(&format!("/v1/customers/{grace}/payment_methods")).await).await;
        let methods = methods["data"].as_array().unwrap().clone();
        assert_eq!(methods.len(), 1, "saved once: {methods:?}");
        assert_eq!((methods[0]["provider"].as_str(), methods[0]["provider_method_id"].as_str()), (Some("paypal"), Some("r4d1k001")));

        let (status, receipt, _) = crate::portal::two_clicks(&mut visitor, &program).await;
        assert_eq!(status, 303, "{receipt}");
        assert!(receipt.contains("/shop/acme/orders/ord_"), "charged with the wallet, to the receipt: {receipt}");
        let order = receipt.split("/orders/").nth(1).unwrap().split('?').next().unwrap().to_owned();
        let paid = ok(app.get(&format!("/v1/orders/{order}")).await).await;
        assert!(["paid", "fulfilled"].contains(&paid["status"].as_str().unwrap()), "{paid}");
        assert_eq!((paid["payment"]["amount"].as_i64(), paid["customer_id"].as_str()), (Some(5_000), Some(grace.as_str())));
        assert!(paid["payment"]["payment_id"].as_str().unwrap().starts_with("47A1"), "PayPal's capture: {paid}");
    }
}

both_backends! {
    /// Goal: in a shop that takes PayPal, an invoice's "Pay now" in the portal opens a PayPal
    /// order for its amount due (the same one when pressed twice); the payer's approval is
    /// captured and the invoice is paid.
    async fn a_customer_pays_an_invoice_from_the_portal_with_paypal(app: TestApp) {
        crate::storefront::open_shop(&app).await;
        let paypal = FakePayPal::start().await;
        let provider = shop_pays_with_paypal(&app, &paypal).await;
        paypal.send_webhooks_to(&app.url(&format!("/v1/webhooks/{provider}")));
        let grace = id(&ok(app.post("/v1/customers", json!({"email": "grace@example.com"})).await).await);
        let invoice = id(&ok(app.post("/v1/invoices", json!({"customer_id": grace, "currency": "USD", "lines": [{"description": "Support plan", "unit_amount": 4_000}]})).await).await);
        ok(app.post(&format!("/v1/invoices/{invoice}/issue"), json!({})).await).await;

        let mut visitor = crate::storefront::Visitor::new(&app);
        crate::portal::sign_in(&app, &mut visitor, "grace@example.com").await;
        let (_, home) = visitor.get("/portal/acme").await;
        let csrf = crate::storefront::field(&home, "csrf_token");
        let pay = format!("/portal/acme/invoices/{invoice}/pay");
        let (status, checkout) = visitor.post(&pay, &[("csrf_token", &csrf)]).await;
        assert_eq!(status, 303, "{checkout}");
        assert!(checkout.starts_with(&format!("{}/checkoutnow?token=", paypal.base_url)), "PayPal's page: {checkout}");
        let (_, again) = visitor.post(&pay, &[("csrf_token", &csrf)]).await;
        assert_eq!(again, checkout, "pressed twice: the same PayPal order");
        let token = checkout.split("token=").nth(1).unwrap().to_owned();
        let (status, back) = visitor.post(&format!("{}/checkoutnow/{token}/approve", paypal.base_url), &[]).await;
        assert_eq!(status, 303);
        assert!(back.starts_with(&app.url("/portal/acme?paid=")), "{back}");
        let paid = ok(app.get(&format!("/v1/invoices/{invoice}")).await).await;
        assert_eq!((paid["status"].as_str(), paid["amount_due"].as_i64()), (Some("paid"), Some(0)), "{paid}");
        assert_eq!(paypal.captures(), vec![token]);
    }
}
