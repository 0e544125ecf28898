//! The customer portal (`/portal/{handle}`): magic-link sign-in, a buyer's orders, licenses
//! and downloads, sign-out, and what one customer's session cannot reach.

use bursar_store::Tx;

use crate::both_backends;
use crate::helpers::*;
use crate::storefront::{checkout_one, field, open_shop, wait_for_page, Visitor};

/// A guest's paid checkout of one `product` as `email`; returns the receipt URL.
pub async fn buy(app: &TestApp, product: &str, email: &str) -> String {
    let mut visitor = Visitor::new(app);
    let (status, pay_page) = checkout_one(&mut visitor, product, email).await;
    assert_eq!(status, 303, "{pay_page}");
    let (_, page) = visitor.get(&pay_page).await;
    let (status, receipt) = visitor
        .post(
            &format!("{pay_page}/pay"),
            &[("csrf_token", &form_token(&page))],
        )
        .await;
    assert_eq!(status, 303);
    wait_for_page(&mut visitor, &receipt, "ACME-").await;
    receipt
}

/// The magic link the mailbox's newest sign-in email to `to` carries, as its recipient gets
/// it (the stored message holds a placeholder; the link is derived when it is sent).
pub async fn magic_link(app: &TestApp, to: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let emails = ok(app.get("/v1/emails").await).await;
        let found = emails["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["template"] == "portal_sign_in" && e["to"] == to)
            .cloned();
        if let Some(email) = found {
            let text = email["text"].as_str().unwrap();
            let start = text
                .find("[[sign-in-url:")
                .expect("a placeholder, not a link, is stored")
                + "[[sign-in-url:".len();
            let (handle, id) = text[start..]
                .split("]]")
                .next()
                .unwrap()
                .split_once('/')
                .unwrap();
            assert!(
                !text.contains("/portal/acme/sign-in/"),
                "no usable link is stored: {text}"
            );
            let sealer = app.db().sealer().unwrap();
            return bursar_core::portal::sign_in_url(&app.base_url, handle, sealer, id);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no sign-in email to {to}: {emails}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Signs `visitor` in through the magic link sent to `email`.
pub async fn sign_in(app: &TestApp, visitor: &mut Visitor, email: &str) -> String {
    let (_, page) = visitor.get("/portal/acme").await;
    let token = field(&page, "csrf_token");
    let (status, page) = visitor
        .post(
            "/portal/acme/sign-in",
            &[("csrf_token", &token), ("email", email)],
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("a sign-in link is on its way"), "{page}");
    let link = magic_link(app, email).await;
    let (status, confirm) = visitor.get(&link).await;
    assert_eq!(status, 200, "{confirm}");
    assert!(confirm.contains(&format!("as {email}")), "{confirm}");
    let (status, to) = visitor.post(&link, &[("csrf_token", &token)]).await;
    assert_eq!((status, to.as_str()), (303, "/portal/acme"));
    link
}

both_backends! {
    /// Goal: a buyer signs in by a magic link (the same answer for an unknown address), sees
    /// their orders and licenses, gets fresh download links that work, and signs out; the
    /// link works once; a session reaches only its customer's orders.
    async fn a_buyer_signs_in_by_magic_link(app: TestApp) {
        let (program, _) = open_shop(&app).await;
        let upload = app.client.post(app.url(&format!("/v1/artifacts?product_id={program}&version=1.0.0&platform=linux&file_name=studio-1.0.0.tar.gz")))
            .bearer_auth(&app.admin_key).header("content-type", "application/octet-stream").body(b"studio bytes".to_vec()).send().await.unwrap();
        assert_eq!(upload.status(), 200);
        buy(&app, &program, "grace@example.com").await;
        let others = buy(&app, &program, "ada@example.com").await;
        let other_order = others.split("/orders/").nth(1).unwrap().split('?').next().unwrap().to_owned();

        let mut stranger = Visitor::new(&app);
        let (_, page) = stranger.get("/portal/acme").await;
        let token = field(&page, "csrf_token");
        let (status, unknown) = stranger.post("/portal/acme/sign-in", &[("csrf_token", &token), ("email", "nobody@example.com")]).await;
        assert_eq!(status, 200);
        assert!(unknown.contains("a sign-in link is on its way"), "the same answer for an unknown address: {unknown}");
        let (status, _) = stranger.post("/portal/acme/sign-in", &[("email", "grace@example.com")]).await;
        assert_eq!(status, 403, "no CSRF token");

        let mut grace = Visitor::new(&app);
        let link = sign_in(&app, &mut grace, "grace@example.com").await;
        let (_, home) = grace.get("/portal/acme").await;
        assert!(home.contains("Signed in as grace@example.com") && home.contains("fulfilled"), "{home}");
        assert!(!home.contains(&other_order), "another customer's order is not listed");
        let order = home.split("/portal/acme/orders/").nth(1).unwrap().split('"').next().unwrap().to_owned();
        let (_, page) = grace.get(&format!("/portal/acme/orders/{order}")).await;
        assert!(page.contains("ACME-") && page.contains("0 machines activated of 2"), "{page}");
        let token = field(&page, "csrf_token");
        let (status, page) = grace.post(&format!("/portal/acme/orders/{order}/downloads"), &[("csrf_token", &token)]).await;
        assert_eq!(status, 200, "{page}");
        let url = page.split("href=\"").find(|s| s.contains("/download/")).unwrap().split('"').next().unwrap().to_owned();
        let file = reqwest::get(&url).await.unwrap();
        assert_eq!(file.status(), 200);
        assert_eq!(file.bytes().await.unwrap().as_ref(), b"studio bytes");

        for path in [format!("/portal/acme/orders/{other_order}")] {
            assert_eq!(grace.get(&path).await.0, 404, "{path}");
        }
        let (status, _) = grace.post(&format!("/portal/acme/orders/{other_order}/downloads"), &[("csrf_token", &token)]).await;
        assert_eq!(status, 404, "another customer's downloads");

        let mut replay = Visitor::new(&app);
        let (_, page) = replay.get("/portal/acme").await;
        let replay_token = field(&page, "csrf_token");
        assert_eq!(replay.get(&link).await.0, 404, "a used link shows nothing");
        assert_eq!(replay.post(&link, &[("csrf_token", &replay_token)]).await.0, 404, "a used link signs in no one");

        let session = grace.cookies["bursar_portal_acme"].clone();
        let (status, to) = grace.post("/portal/acme/sign-out", &[("csrf_token", &token)]).await;
        assert_eq!((status, to.as_str()), (303, "/portal/acme"));
        assert!(!grace.cookies.contains_key("bursar_portal_acme"));
        grace.cookies.insert("bursar_portal_acme".into(), session);
        let (_, page) = grace.get("/portal/acme").await;
        assert!(page.contains("Email me a sign-in link"), "a revoked session is signed out: {page}");
        assert_eq!(grace.get(&format!("/portal/acme/orders/{order}")).await.0, 303);
    }
}

both_backends! {
    /// Goal: a magic link past its 15 minutes signs no one in; the receipt link opens the
    /// portal for its order's customer only, without email.
    async fn expired_links_fail_and_a_receipt_opens_the_portal(app: TestApp) {
        let (program, _) = open_shop(&app).await;
        let receipt = buy(&app, &program, "grace@example.com").await;
        let mut grace = Visitor::new(&app);
        let (_, page) = grace.get("/portal/acme").await;
        let token = field(&page, "csrf_token");
        grace.post("/portal/acme/sign-in", &[("csrf_token", &token), ("email", "grace@example.com")]).await;
        let link = magic_link(&app, "grace@example.com").await;
        app.db().write(|tx: &mut Tx| Box::pin(async move { tx.execute("update portal_sign_in set expires_at = 1", &[]).await })).await.unwrap();
        assert_eq!(grace.get(&link).await.0, 404);
        assert_eq!(grace.post(&link, &[("csrf_token", &token)]).await.0, 404);
        assert!(!grace.cookies.contains_key("bursar_portal_acme"));

        let (_, page) = grace.get(&receipt).await;
        let order = field(&page, "order_id");
        let key = field(&page, "key");
        let (status, _) = grace.post("/portal/acme/from-receipt", &[("csrf_token", &token), ("order_id", &order), ("key", "0")]).await;
        assert_eq!(status, 404, "a wrong key opens nothing");
        let (status, to) = grace.post("/portal/acme/from-receipt", &[("csrf_token", &token), ("order_id", &order), ("key", &key)]).await;
        assert_eq!((status, to.clone()), (303, format!("/portal/acme/orders/{order}")));
        let (status, page) = grace.get(&to).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("Get download links"), "{page}");
    }
}

/// Opens a portal session for `email` in the shop `handle` through its pages, reading the
/// magic link's record from the database (for tests that run no relay, so no email).
pub async fn open_portal_session(app: &TestApp, handle: &str, email: &str) {
    let mut visitor = Visitor::new(app);
    let (_, page) = visitor.get(&format!("/portal/{handle}")).await;
    let token = field(&page, "csrf_token");
    let (status, _) = visitor
        .post(
            &format!("/portal/{handle}/sign-in"),
            &[("csrf_token", &token), ("email", email)],
        )
        .await;
    assert_eq!(status, 200);
    let lookup = email.to_owned();
    let id = app
        .db()
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                tx.fetch_one(
                    "select object_id from portal_sign_in where email = $1",
                    &[lookup.as_str().into()],
                )
                .await?
                .text("object_id")
            })
        })
        .await
        .unwrap();
    let link =
        bursar_core::portal::sign_in_url(&app.base_url, handle, app.db().sealer().unwrap(), &id);
    let (status, _) = visitor.post(&link, &[("csrf_token", &token)]).await;
    assert_eq!(status, 303, "signed in");
}

both_backends! {
    /// Goal: the portal lists a customer's issued invoices (never drafts), serves their PDFs,
    /// and pays one through the provider's page; another customer's invoice is not found.
    async fn a_buyer_pays_an_invoice_from_the_portal(app: TestApp) {
        let (program, _) = open_shop(&app).await;
        buy(&app, &program, "grace@example.com").await;
        buy(&app, &program, "ada@example.com").await;
        let customer_of = |email: &'static str| {
            let app = &app;
            async move {
                let customers = ok(app.get("/v1/customers?limit=100").await).await;
                id(customers["data"].as_array().unwrap().iter().find(|c| c["email"] == email).unwrap())
            }
        };
        let (grace_id, ada_id) = (customer_of("grace@example.com").await, customer_of("ada@example.com").await);
        let invoice_for = |customer: String, issue: bool| {
            let app = &app;
            async move {
                let invoice = ok(app.post("/v1/invoices", json!({"customer_id": customer, "currency": "USD", "lines": [{"description": "Support plan", "unit_amount": 4_000}]})).await).await;
                if issue {
                    return ok(app.post(&format!("/v1/invoices/{}/issue", id(&invoice)), json!({})).await).await;
                }
                invoice
            }
        };
        let issued = invoice_for(grace_id.clone(), true).await;
        let draft = invoice_for(grace_id, false).await;
        let others = invoice_for(ada_id, true).await;
        let number = issued["number"].as_str().unwrap().to_owned();

        let mut grace = Visitor::new(&app);
        sign_in(&app, &mut grace, "grace@example.com").await;
        let (_, home) = grace.get("/portal/acme").await;
        assert!(home.contains(&number) && home.contains("Pay 40.00 USD"), "{home}");
        assert!(!home.contains(&id(&draft)) && !home.contains(others["number"].as_str().unwrap()), "no drafts, no one else's: {home}");
        let pdf = grace.client.get(app.url(&format!("/portal/acme/invoices/{}/pdf", id(&issued)))).header("cookie", grace.cookie_header()).send().await.unwrap();
        assert_eq!(pdf.status(), 200);
        assert_eq!(pdf.headers()["content-type"], "application/pdf");
        assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF"));
        for path in [format!("/portal/acme/invoices/{}/pdf", id(&others)), format!("/portal/acme/invoices/{}/pdf", id(&draft))] {
            assert_eq!(grace.get(&path).await.0, 404, "{path}");
        }
        let token = field(&home, "csrf_token");
        assert_eq!(grace.post(&format!("/portal/acme/invoices/{}/pay", id(&others)), &[("csrf_token", &token)]).await.0, 404);

        let (status, pay_page) = grace.post(&format!("/portal/acme/invoices/{}/pay", id(&issued)), &[("csrf_token", &token)]).await;
        assert_eq!(status, 303, "{pay_page}");
        let (_, page) = grace.get(&pay_page).await;
        assert!(page.contains(&format!("Invoice {number}")), "{page}");
        let (status, back) = grace.post(&format!("{pay_page}/pay"), &[("csrf_token", &form_token(&page))]).await;
        assert_eq!((status, back.clone()), (303, format!("{}/portal/acme?paid={}", app.base_url, id(&issued))));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let invoice = ok(app.get(&format!("/v1/invoices/{}", id(&issued))).await).await;
            if invoice["status"] == "paid" {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{invoice}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let (_, home) = grace.get(&back).await;
        assert!(home.contains("your payment is being confirmed") && !home.contains("Pay 40.00 USD"), "{home}");
    }
}

/// Saves the test card `card` through the portal's "Save a card" button and the provider's
/// setup page; waits until the account page lists `cards` saved cards.
pub async fn save_card_in_portal(app: &TestApp, grace: &mut Visitor, card: &str, cards: usize) {
    let (_, home) = grace.get("/portal/acme").await;
    let token = field(&home, "csrf_token");
    let (status, setup) = grace
        .post("/portal/acme/payment-methods", &[("csrf_token", &token)])
        .await;
    assert_eq!(status, 303, "{setup}");
    assert!(setup.contains("/test-provider/setup/"), "{setup}");
    let (_, page) = grace.get(&setup).await;
    let (status, back) = grace
        .post(
            &format!("{setup}/save"),
            &[("csrf_token", &form_token(&page)), ("card", card)],
        )
        .await;
    assert_eq!(
        (status, back.as_str()),
        (
            303,
            format!("{}/portal/acme/payment-methods/return", app.base_url).as_str()
        )
    );
    let (status, account) = grace.get_location(&back).await;
    assert_eq!(
        (status, account.as_str()),
        (303, "/portal/acme#payment-methods")
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, home) = grace.get("/portal/acme").await;
        // One Remove form per saved card.
        if home.matches("/remove\"").count() == cards {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{cards} cards in {home}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Puts one `product` in the cart and sends the checkout page's saved-card form: the status,
/// where it leads, and the form's fields (to send it again).
pub async fn two_clicks(
    grace: &mut Visitor,
    product: &str,
) -> (u16, String, [(&'static str, String); 2]) {
    let (_, page) = grace.get(&format!("/shop/acme/products/{product}")).await;
    let token = field(&page, "csrf_token");
    grace
        .post(
            "/shop/acme/cart/add",
            &[("csrf_token", &token), ("product_id", product)],
        )
        .await;
    let (_, checkout) = grace.get("/shop/acme/checkout").await;
    assert!(
        checkout.contains("Pay with your saved card") && checkout.contains("Pay 50.00 USD now"),
        "{checkout}"
    );
    let form_key = field(&checkout, "form_key");
    let (status, to) = grace
        .post(
            "/shop/acme/checkout/saved",
            &[("csrf_token", &token), ("form_key", &form_key)],
        )
        .await;
    (status, to, [("csrf_token", token), ("form_key", form_key)])
}

both_backends! {
    /// Goal: a returning customer saves a card in the portal and then buys in two clicks
    /// (checkout, Pay now): the order is theirs and paid only when the charge succeeded, the
    /// form sent twice charges once; a card that asks for authentication falls back to the
    /// provider's page for the same order; a declined card says so and charges nothing; a
    /// visitor who is not signed in is not offered a saved card.
    async fn a_returning_customer_pays_in_two_clicks(app: TestApp) {
        let (program, _) = open_shop(&app).await;
        buy(&app, &program, "grace@example.com").await;
        let mut grace = Visitor::new(&app);
        sign_in(&app, &mut grace, "grace@example.com").await;
        assert!(grace.get("/portal/acme").await.1.contains("No saved cards."));
        save_card_in_portal(&app, &mut grace, "visa", 1).await;

        let (status, receipt, fields) = two_clicks(&mut grace, &program).await;
        assert_eq!(status, 303, "{receipt}");
        let fields = fields.each_ref().map(|(k, v)| (*k, v.as_str()));
        let (status, again) = grace.post("/shop/acme/checkout/saved", &fields).await;
        assert_eq!((status, again.as_str()), (303, receipt.as_str()), "the form sent twice leads to the same order");
        assert!(receipt.contains("/shop/acme/orders/ord_") && receipt.contains("?key="), "{receipt}");
        let page = wait_for_page(&mut grace, &receipt, "Thank you for your order").await;
        assert!(page.contains("50.00 USD"), "{page}");
        let orders = ok(app.get("/v1/orders?limit=100").await).await;
        let orders = orders["data"].as_array().unwrap().clone();
        assert_eq!(orders.len(), 2, "{orders:?}");
        assert_eq!(orders[0]["customer_id"], orders[1]["customer_id"], "the returning customer's own order");
        assert!(["paid", "fulfilled"].contains(&orders[0]["status"].as_str().unwrap()), "{}", orders[0]);

        save_card_in_portal(&app, &mut grace, "authentication_required", 2).await;
        let (status, hosted, _) = two_clicks(&mut grace, &program).await;
        assert_eq!(status, 303);
        assert!(hosted.contains("/test-provider/checkout/"), "falls back to the hosted page: {hosted}");

        save_card_in_portal(&app, &mut grace, "declined", 3).await;
        let (_, cart) = grace.get("/shop/acme/cart").await;
        let token = field(&cart, "csrf_token");
        grace.post("/shop/acme/cart/update", &[("csrf_token", &token), ("product_id", &program), ("quantity", "0")]).await;
        let (status, page, _) = two_clicks(&mut grace, &program).await;
        assert_eq!(status, 402, "{page}");
        assert!(page.contains("Your saved card was declined (generic_decline)"), "{page}");
        let orders = ok(app.get("/v1/orders?limit=100").await).await;
        assert_eq!(orders["data"][0]["status"], "payment_failed");

        let mut stranger = Visitor::new(&app);
        let (_, page) = stranger.get(&format!("/shop/acme/products/{program}")).await;
        let token = field(&page, "csrf_token");
        stranger.post("/shop/acme/cart/add", &[("csrf_token", &token), ("product_id", &program)]).await;
        let (_, checkout) = stranger.get("/shop/acme/checkout").await;
        assert!(!checkout.contains("Pay with your saved card"), "{checkout}");
        let form_key = field(&checkout, "form_key");
        let (status, to) = stranger.post("/shop/acme/checkout/saved", &[("csrf_token", &token), ("form_key", &form_key)]).await;
        assert_eq!((status, to.as_str()), (303, "/shop/acme/checkout"));
    }
}

/// The saved methods of `customer`, newest first, through the API.
async fn saved_of(app: &TestApp, customer: &str) -> Vec<Value> {
    let listed = ok(app
        .get(&format!("/v1/customers/{customer}/payment_methods"))
        .await)
    .await;
    listed["data"].as_array().unwrap().clone()
}

both_backends! {
    /// Goal: a customer keeps their saved cards in order from the portal — one made the
    /// default (two-click checkouts charge it instead of the newest), one removed (detached,
    /// forgotten, recorded) — and through the API the same operations, retried safely; another
    /// customer's card is not reachable.
    async fn a_customer_makes_a_card_default_and_removes_one(app: TestApp) {
        let (program, _) = open_shop(&app).await;
        buy(&app, &program, "grace@example.com").await;
        let mut grace = Visitor::new(&app);
        sign_in(&app, &mut grace, "grace@example.com").await;
        save_card_in_portal(&app, &mut grace, "visa", 1).await;
        save_card_in_portal(&app, &mut grace, "declined", 2).await;
        let customer = ok(app.get("/v1/orders?limit=1").await).await["data"][0]["customer_id"].as_str().unwrap().to_owned();

        let methods = saved_of(&app, &customer).await;
        let (declined, visa) = (id(&methods[0]), id(&methods[1]));
        assert!(methods.iter().all(|m| m["is_default"] == false), "{methods:?}");

        // The newest card (declined) is charged until the older one is made the default.
        let (status, page, _) = two_clicks(&mut grace, &program).await;
        assert_eq!(status, 402, "{page}");
        let (_, home) = grace.get("/portal/acme").await;
        let token = field(&home, "csrf_token");
        assert!(home.contains(&format!("/portal/acme/payment-methods/{visa}/default")), "{home}");
        assert_eq!(grace.post(&format!("/portal/acme/payment-methods/{visa}/default"), &[]).await.0, 403, "no CSRF token");
        for _ in 0..2 {
            let (status, to) = grace.post(&format!("/portal/acme/payment-methods/{visa}/default"), &[("csrf_token", &token)]).await;
            assert_eq!((status, to.as_str()), (303, "/portal/acme#payment-methods"));
        }
        let methods = saved_of(&app, &customer).await;
        assert_eq!((methods[0]["is_default"].as_bool(), methods[1]["is_default"].as_bool()), (Some(false), Some(true)));
        let (_, home) = grace.get("/portal/acme").await;
        assert!(home.contains("(default)"), "{home}");
        let (_, cart) = grace.get("/shop/acme/cart").await;
        let cart_token = field(&cart, "csrf_token");
        grace.post("/shop/acme/cart/update", &[("csrf_token", &cart_token), ("product_id", &program), ("quantity", "0")]).await;
        let (status, receipt, _) = two_clicks(&mut grace, &program).await;
        assert_eq!(status, 303, "the default card is charged: {receipt}");

        // Removing the declined card from the portal: gone, and recorded.
        let (status, _) = grace.post(&format!("/portal/acme/payment-methods/{declined}/remove"), &[("csrf_token", &token)]).await;
        assert_eq!(status, 303);
        assert_eq!(saved_of(&app, &customer).await.len(), 1);
        assert_eq!(grace.post(&format!("/portal/acme/payment-methods/{declined}/remove"), &[("csrf_token", &token)]).await.0, 404, "removed already");
        let events = app.db().read(|tx: &mut Tx| Box::pin(async move {
            tx.fetch_one("select count(*) as n from domain_event where event_type in ('customer.payment_method_removed', 'customer.payment_method_default_set')", &[]).await?.i64("n")
        })).await.unwrap();
        assert_eq!(events, 2, "one default set (the second form changed nothing), one removal");

        // Another customer's card: not reachable from Grace's session, nor through their id.
        buy(&app, &program, "ada@example.com").await;
        let mut ada = Visitor::new(&app);
        sign_in(&app, &mut ada, "ada@example.com").await;
        save_card_in_portal(&app, &mut ada, "visa", 1).await;
        let adas_customer = ok(app.get("/v1/orders?limit=1").await).await["data"][0]["customer_id"].as_str().unwrap().to_owned();
        let adas = id(&ok(app.get(&format!("/v1/customers/{adas_customer}/payment_methods")).await).await["data"][0]);
        assert_eq!(grace.post(&format!("/portal/acme/payment-methods/{adas}/remove"), &[("csrf_token", &token)]).await.0, 404);
        expect_error(app.post(&format!("/v1/customers/{customer}/payment_methods/{adas}/default"), json!({})).await, 404, "resource_missing", Some("method")).await;

        // Through the API, retried with the same key: one removal, the same answer.
        let path = format!("/v1/customers/{customer}/payment_methods/{visa}/detach");
        let send = || app.client.post(app.url(&path)).bearer_auth(&app.admin_key).header("Idempotency-Key", "remove-visa").json(&json!({})).send();
        let first = ok(send().await.unwrap()).await;
        let again = ok(send().await.unwrap()).await;
        assert_eq!((first["id"].as_str(), again["id"].as_str()), (Some(visa.as_str()), Some(visa.as_str())));
        assert!(saved_of(&app, &customer).await.is_empty());
        assert!(grace.get("/portal/acme").await.1.contains("No saved cards."));
    }
}
