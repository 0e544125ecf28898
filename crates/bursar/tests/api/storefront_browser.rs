//! The storefront in a real browser (headless Chromium over WebDriver), on both databases:
//! a guest buys two products with a promotion code and pays on the test provider's page; the
//! success page waits for the payment and shows the receipt and the license key. Screenshots
//! of each step land in `target/screenshots/shop-{backend}-*.png`.

use std::time::{Duration, Instant};

use crate::both_backends;
use crate::browser::{browser_binaries, screenshot_dir, Driver, Session};
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
        let shots = screenshot_dir();
        let name = format!("{backend:?}").to_lowercase();
        let shot = |step: &str| shots.join(format!("shop-{name}-{step}.png"));
        let driver = Driver::start(&driver_binary).await;
        let browser = driver.session(&chromium, None).await;

        browser.open(&app.url("/shop/acme")).await;
        assert!(text(&browser).await.contains("Acme Studio"));
        browser.screenshot(&shot("1-catalog")).await;
        browser.click(&format!("a[href='/shop/acme/products/{program}']")).await;
        fill(&browser, "#quantity", "2").await;
        browser.screenshot(&shot("2-product")).await;
        browser.click("form.add button").await;
        wait_for_text(&browser, "Your cart").await;
        browser.click("a.brand").await;
        browser.click(&format!("a[href='/shop/acme/products/{token}']")).await;
        browser.click("form.add button").await;
        wait_for_text(&browser, "Security token").await;
        fill(&browser, "#promotion_code", "spring10").await;
        browser.click("form.code button").await;
        let cart = wait_for_text(&browser, "Discount (SPRING10)").await;
        assert!(cart.contains("112.50 USD") && cart.contains("Cart (3)"), "{cart}");
        browser.screenshot(&shot("3-cart")).await;

        browser.click("a.button[href='/shop/acme/checkout']").await;
        fill(&browser, "#email", "grace@example.com").await;
        fill(&browser, "#name", "Grace Hopper").await;
        browser.screenshot(&shot("4-checkout")).await;
        browser.click("form.details button").await;
        let pay_page = wait_for_text(&browser, "Bursar test provider").await;
        assert!(pay_page.contains("Acme Software") && pay_page.contains("112.50 USD"), "{pay_page}");
        browser.screenshot(&shot("5-provider")).await;
        browser.click("form[action$='/pay'] button").await;

        let receipt = wait_for_text(&browser, "Thank you for your order").await;
        let receipt = if receipt.contains("ACME-") { receipt } else { wait_for_text(&browser, "ACME-").await };
        assert!(receipt.contains("112.50 USD") && receipt.contains("grace@example.com"), "{receipt}");
        browser.screenshot(&shot("6-receipt")).await;
        let url = browser.js("return location.pathname").await;
        assert!(url.as_str().unwrap().starts_with("/shop/acme/orders/ord_"), "{url}");
        assert!(text(&browser).await.contains("Cart (0)"), "the bought cart is emptied");
        browser.close().await;
    }
}
