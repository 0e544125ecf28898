//! The storefront in a real browser (headless Chromium over WebDriver), on both databases:
//! a guest buys two products with a promotion code and pays on the test provider's page; the
//! success page waits for the payment and shows the receipt and the license key. The first
//! product is added with the mouse; the rest is done with the keyboard alone. Then the success
//! page in German, the portal by magic link (the order, its license, a download that works),
//! an invoice paid, a subscription's renewal canceled, a card saved and a purchase in two
//! clicks; and a guest's purchase with PayPal as the shop's provider (the fake PayPal's page).
//! axe-core checks every page for serious and
//! critical accessibility violations. Screenshots
//! of each step land in `target/screenshots/shop-{backend}-*.png`.

use std::time::{Duration, Instant};

use crate::both_backends;
use crate::browser::{axe_script, browser_binaries, screenshot_dir, Driver, Session};
use crate::helpers::*;
use crate::storefront::open_shop;

/// The page's visible text.
async fn text(session: &Session) -> String {
    session
        .js("return document.body.innerText")
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Waits until the page's text contains `wanted` (the success page refreshes itself).
async fn wait_for_text(session: &Session, wanted: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page = text(session).await;
        if page.contains(wanted) {
            return page;
        }
        assert!(Instant::now() < deadline, "no {wanted:?} in {page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Asserts axe-core finds no serious or critical violation on the open page.
async fn assert_accessible(session: &Session, axe: &str, page: &str) {
    let violations = session.accessibility_violations(axe).await;
    assert!(violations.is_empty(), "{page}: {violations:#?}");
}

/// Sets a field's value as a user who selects it and types over it.
async fn fill(session: &Session, css: &str, value: &str) {
    session
        .js(&format!(
            "document.querySelector({css:?}).value = ''; return 0"
        ))
        .await;
    session.type_into(css, value).await;
}

both_backends! {
    /// Goal: the guest's purchase works in a browser, by clicks and typing only, and every
    /// page of it passes through the real HTML forms and redirects.
    async fn a_guest_buys_in_a_real_browser(backend: Backend) {
        let Some((chromium, driver_binary)) = browser_binaries("a_guest_buys_in_a_real_browser") else {
            return;
        };
        let app = TestApp::spawn(backend).await;
        let (program, token) = open_shop(&app).await;
        let upload = app.client.post(app.url(&format!("/v1/artifacts?product_id={program}&version=1.0.0&platform=linux&file_name=studio-1.0.0.tar.gz")))
            .bearer_auth(&app.admin_key).header("content-type", "application/octet-stream").body(b"studio bytes".to_vec()).send().await.unwrap();
        assert_eq!(upload.status(), 200);
        let shots = screenshot_dir();
        let name = format!("{backend:?}").to_lowercase();
        let shot = |step: &str| shots.join(format!("shop-{name}-{step}.png"));
        let axe = axe_script();
        let driver = Driver::start(&driver_binary).await;
        let browser = driver.session(&chromium, None).await;

        // The check itself finds what it should: an unlabelled field and an image without text.
        browser.open("data:text/html,<html lang=en><title>t</title><main><img src=x.png><input></main></html>").await;
        let found = browser.accessibility_violations(&axe).await.join("\n");
        assert!(found.contains("image-alt") && found.contains("label"), "axe found: {found}");

        browser.open(&app.url("/shop/acme")).await;
        assert!(text(&browser).await.contains("Acme Studio"));
        browser.screenshot(&shot("1-catalog")).await;
        assert_accessible(&browser, &axe, "catalog").await;
        browser.click(&format!("a[href='/shop/acme/products/{program}']")).await;
        fill(&browser, "#quantity", "2").await;
        browser.screenshot(&shot("2-product")).await;
        assert_accessible(&browser, &axe, "product").await;
        browser.click("form.add button").await;
        wait_for_text(&browser, "Your cart").await;
        // From here on, the keyboard alone: Tab to a control, Enter to use it.
        const ENTER: &str = "\u{E007}";
        browser.tab_to("a.brand").await;
        browser.press(ENTER).await;
        wait_for_text(&browser, "Security token").await;
        browser.tab_to(&format!("a[href='/shop/acme/products/{token}']")).await;
        browser.press(ENTER).await;
        browser.tab_to("form.add button").await;
        browser.press(ENTER).await;
        wait_for_text(&browser, "Security token").await;
        browser.tab_to("#promotion_code").await;
        browser.type_keys("spring10").await;
        browser.press(ENTER).await;
        let cart = wait_for_text(&browser, "Discount (SPRING10)").await;
        assert!(cart.contains("112.50 USD") && cart.contains("Cart (3)"), "{cart}");
        browser.screenshot(&shot("3-cart")).await;
        assert_accessible(&browser, &axe, "cart").await;

        browser.tab_to("a.button[href='/shop/acme/checkout']").await;
        browser.press(ENTER).await;
        wait_for_text(&browser, "Billing country").await;
        browser.tab_to("#email").await;
        browser.type_keys("grace@example.com").await;
        browser.tab_to("#name").await;
        browser.type_keys("Grace Hopper").await;
        browser.screenshot(&shot("4-checkout")).await;
        assert_accessible(&browser, &axe, "checkout").await;
        browser.tab_to("form.details button").await;
        browser.press(ENTER).await;
        let pay_page = wait_for_text(&browser, "Bursar test provider").await;
        assert!(pay_page.contains("Acme Software") && pay_page.contains("112.50 USD"), "{pay_page}");
        browser.screenshot(&shot("5-provider")).await;
        browser.tab_to("form[action$='/pay'] button").await;
        browser.press(ENTER).await;

        let receipt = wait_for_text(&browser, "Thank you for your order").await;
        let receipt = if receipt.contains("ACME-") { receipt } else { wait_for_text(&browser, "ACME-").await };
        assert!(receipt.contains("112.50 USD") && receipt.contains("grace@example.com"), "{receipt}");
        browser.screenshot(&shot("6-receipt")).await;
        assert_accessible(&browser, &axe, "success page").await;
        let url = browser.js("return location.pathname").await;
        assert!(url.as_str().unwrap().starts_with("/shop/acme/orders/ord_"), "{url}");
        let order_id = url.as_str().unwrap().trim_start_matches("/shop/acme/orders/").to_owned();
        assert!(text(&browser).await.contains("Cart (0)"), "the bought cart is emptied");

        // The same page in the second language, through the switcher.
        browser.tab_to("a[hreflang='de']").await;
        browser.press(ENTER).await;
        let german = wait_for_text(&browser, "Vielen Dank für Ihre Bestellung").await;
        assert!(german.contains("Bezahlt") && german.contains("Warenkorb (0)"), "{german}");
        assert_eq!(browser.js("return document.documentElement.lang").await, "de");
        browser.screenshot(&shot("7-receipt-de")).await;
        assert_accessible(&browser, &axe, "success page in German").await;
        // Back in English: the portal, signed in by the emailed magic link.
        browser.tab_to("a[hreflang='en']").await;
        browser.press(ENTER).await;
        wait_for_text(&browser, "Thank you for your order").await;
        // The buyer also has an issued invoice and a subscription, made through the API.
        let order = ok(app.get(&format!("/v1/orders/{order_id}")).await).await;
        let buyer = order["customer_id"].as_str().unwrap().to_owned();
        let invoice = ok(app.post("/v1/invoices", json!({"customer_id": buyer, "currency": "USD", "lines": [{"description": "Support plan", "unit_amount": 4_000}]})).await).await;
        ok(app.post(&format!("/v1/invoices/{}/issue", id(&invoice)), json!({})).await).await;
        let plan = crate::portal_plans::subscribe(&app, &buyer, &program, 2, 200).await;
        browser.open(&app.url("/portal/acme")).await;
        browser.tab_to("#email").await;
        browser.type_keys("grace@example.com").await;
        browser.press(ENTER).await;
        wait_for_text(&browser, "a sign-in link is on its way").await;
        assert_accessible(&browser, &axe, "portal sign-in").await;
        let link = crate::portal::magic_link(&app, "grace@example.com").await;
        browser.open(&link).await;
        browser.tab_to("form button").await;
        browser.press(ENTER).await;
        let home = wait_for_text(&browser, "Signed in as grace@example.com").await;
        assert!(home.contains("Orders") && home.contains("No saved cards."), "{home}");
        browser.screenshot(&shot("8-portal")).await;
        assert_accessible(&browser, &axe, "portal").await;
        browser.click("a[href^='/portal/acme/orders/']").await;
        wait_for_text(&browser, "Get download links").await;
        browser.tab_to("form[action$='/downloads'] button").await;
        browser.press(ENTER).await;
        let downloads = wait_for_text(&browser, "studio-1.0.0.tar.gz").await;
        assert!(downloads.contains("ACME-"), "{downloads}");
        browser.screenshot(&shot("9-portal-order")).await;
        assert_accessible(&browser, &axe, "portal order").await;
        let url = browser.js("return document.querySelector('ul.downloads a').href").await;
        let file = reqwest::get(url.as_str().unwrap()).await.unwrap();
        assert_eq!(file.status(), 200, "the download works");
        assert_eq!(file.bytes().await.unwrap().as_ref(), b"studio bytes");

        // The invoice paid from the portal, on the provider's page.
        browser.open(&app.url("/portal/acme")).await;
        browser.tab_to(&format!("form[action$='/invoices/{}/pay'] button", id(&invoice))).await;
        browser.press(ENTER).await;
        let pay_page = wait_for_text(&browser, "Bursar test provider").await;
        assert!(pay_page.contains("40.00 USD"), "{pay_page}");
        browser.tab_to("form[action$='/pay'] button").await;
        browser.press(ENTER).await;
        wait_for_text(&browser, "your payment is being confirmed").await;
        let deadline = Instant::now() + Duration::from_secs(20);
        while ok(app.get(&format!("/v1/invoices/{}", id(&invoice))).await).await["status"] != "paid" {
            assert!(Instant::now() < deadline, "the invoice paid in the portal stays unpaid");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // The subscription's renewal canceled.
        browser.open(&app.url("/portal/acme")).await;
        browser.tab_to(&format!("a[href='/portal/acme/plans/{plan}']")).await;
        browser.press(ENTER).await;
        wait_for_text(&browser, "You can cancel the renewal until").await;
        assert_accessible(&browser, &axe, "portal subscription").await;
        browser.tab_to("form[action$='/renewal'] button").await;
        browser.press(ENTER).await;
        let canceled = wait_for_text(&browser, "The renewal is canceled.").await;
        assert!(canceled.contains("will not renew"), "{canceled}");
        browser.screenshot(&shot("10-renewal-canceled")).await;
        assert_eq!(ok(app.get(&format!("/v1/contracts/{plan}")).await).await["renewal_canceled"], true);

        // A card saved from the portal, then a purchase in two clicks.
        browser.open(&app.url("/portal/acme")).await;
        browser.tab_to("form[action$='/payment-methods'] button").await;
        browser.press(ENTER).await;
        wait_for_text(&browser, "Save a card for later payments").await;
        browser.tab_to("form button").await;
        browser.press(ENTER).await;
        wait_for_text(&browser, "Card saved on").await;
        browser.open(&app.url(&format!("/shop/acme/products/{program}"))).await;
        browser.tab_to("form.add button").await;
        browser.press(ENTER).await;
        wait_for_text(&browser, "Your cart").await;
        browser.tab_to("a.button[href='/shop/acme/checkout']").await;
        browser.press(ENTER).await;
        wait_for_text(&browser, "Pay with your saved card").await;
        browser.screenshot(&shot("11-two-click")).await;
        assert_accessible(&browser, &axe, "checkout with a saved card").await;
        browser.tab_to("button.pay-saved").await;
        browser.press(ENTER).await;
        let receipt = wait_for_text(&browser, "Thank you for your order").await;
        assert!(receipt.contains("50.00 USD"), "{receipt}");
        browser.close().await;
    }
}

both_backends! {
    /// Goal: the same purchase with PayPal as the shop's provider, through the same cart and
    /// checkout pages: the buyer approves on (the fake) PayPal's page, Bursar captures, and the
    /// success page shows the receipt and the license key.
    async fn a_guest_pays_with_paypal_in_a_real_browser(backend: Backend) {
        let Some((chromium, driver_binary)) = browser_binaries("a_guest_pays_with_paypal_in_a_real_browser") else {
            return;
        };
        let app = TestApp::spawn(backend).await;
        let (program, _) = open_shop(&app).await;
        let paypal = crate::fake_paypal::FakePayPal::start().await;
        let provider = id(&ok(app.post("/v1/payment_providers", json!({"kind": "paypal", "secret_key": "EFakePayPalClientSecret", "client_id": "AFakePayPalClientId",
            "webhook_id": crate::fake_paypal::WEBHOOK_ID, "webhook_secrets": [bursar_testkit::pki::pki().cert.clone()], "api_base": paypal.base_url})).await).await);
        paypal.send_webhooks_to(&app.url(&format!("/v1/webhooks/{provider}")));
        let shop = ok(app.post("/v1/storefront", json!({"payment_provider": provider})).await).await;
        assert_eq!(shop["payment_provider"].as_str(), Some(provider.as_str()));
        let shots = screenshot_dir();
        let name = format!("{backend:?}").to_lowercase();
        let shot = |step: &str| shots.join(format!("shop-paypal-{name}-{step}.png"));
        let axe = axe_script();
        let driver = Driver::start(&driver_binary).await;
        let browser = driver.session(&chromium, None).await;

        browser.open(&app.url(&format!("/shop/acme/products/{program}"))).await;
        browser.click("form.add button").await;
        wait_for_text(&browser, "Your cart").await;
        browser.click("a.button[href='/shop/acme/checkout']").await;
        wait_for_text(&browser, "Billing country").await;
        fill(&browser, "#email", "grace@example.com").await;
        fill(&browser, "#name", "Grace Hopper").await;
        browser.click("form.details button").await;
        let page = wait_for_text(&browser, "PayPal Checkout").await;
        assert!(page.contains("Pay 50.00 USD"), "{page}");
        browser.screenshot(&shot("1-paypal")).await;
        browser.click("form button").await;
        let receipt = wait_for_text(&browser, "Thank you for your order").await;
        let receipt = if receipt.contains("ACME-") { receipt } else { wait_for_text(&browser, "ACME-").await };
        assert!(receipt.contains("50.00 USD"), "{receipt}");
        browser.screenshot(&shot("2-receipt")).await;
        assert_accessible(&browser, &axe, "success page after PayPal").await;
        assert_eq!(paypal.captures().len(), 1, "Bursar captured the approved order once");
        let orders = ok(app.get("/v1/orders?limit=1").await).await;
        assert_eq!(orders["data"][0]["checkout"]["provider"], "paypal");
        browser.close().await;
    }
}
