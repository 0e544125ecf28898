//! The storefront (`/shop/{handle}`), as a visitor's browser uses it: cookies kept, forms
//! posted with their tokens, redirects followed by hand so each hop is seen.

use std::collections::BTreeMap;

use crate::both_backends;
use crate::helpers::*;

/// A browser without JavaScript: keeps cookies, sends forms as urlencoded bodies.
pub struct Visitor {
    pub client: reqwest::Client,
    base: String,
    pub cookies: BTreeMap<String, String>,
}

impl Visitor {
    pub fn new(app: &TestApp) -> Visitor {
        Self::from_address(app, "127.0.0.1")
    }

    /// A visitor whose connections come from `address` (any of loopback's 127/8).
    pub fn from_address(app: &TestApp, address: &str) -> Visitor {
        Visitor {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .local_address(Some(address.parse().unwrap()))
                .build()
                .unwrap(),
            base: app.base_url.clone(),
            cookies: BTreeMap::new(),
        }
    }

    fn absolute(&self, url: &str) -> String {
        if url.starts_with("http") {
            url.to_owned()
        } else {
            format!("{}{url}", self.base)
        }
    }

    fn keep_cookies(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all("set-cookie") {
            let value = value.to_str().unwrap();
            let pair = value.split(';').next().unwrap();
            let (name, content) = pair.split_once('=').unwrap();
            if value.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), content.to_owned());
            }
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn get(&mut self, url: &str) -> (u16, String) {
        let response = self
            .client
            .get(self.absolute(url))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep_cookies(&response);
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// GETs `url` without following a redirect: the status and the `Location`.
    pub async fn get_location(&mut self, url: &str) -> (u16, String) {
        let response = self
            .client
            .get(self.absolute(url))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep_cookies(&response);
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (response.status().as_u16(), location)
    }

    /// Posts `fields` to `url`; returns the status and the `Location` it sends the browser to.
    pub async fn post(&mut self, url: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let body = serde_urlencoded::to_string(fields).unwrap();
        let response = self
            .client
            .post(self.absolute(url))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", self.base.clone())
            .body(body)
            .send()
            .await
            .unwrap();
        self.keep_cookies(&response);
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        (status, location.unwrap_or(text))
    }
}

/// The value of the hidden field `name` in a page's first form that has it.
pub fn field(page: &str, name: &str) -> String {
    let needle = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&needle)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + needle.len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// A shop `acme` selling a licensed program and a hardware token, with the code SPRING10.
pub async fn open_shop(app: &TestApp) -> (String, String) {
    let license = json!({"prefix": "ACME", "max_activations": 2});
    let program = id(&ok(app.post("/v1/products", json!({"name": "Acme Studio", "kind": "digital", "description": "The studio, for one machine or two.", "license": license})).await).await);
    ok(app
        .post(
            "/v1/prices",
            json!({"product_id": program, "currency": "USD", "unit_amount": 5_000}),
        )
        .await)
    .await;
    let token = id(&ok(app
        .post(
            "/v1/products",
            json!({"name": "Security token", "kind": "physical"}),
        )
        .await)
    .await);
    ok(app.post("/v1/prices", json!({"product_id": token, "currency": "USD", "unit_amount": 2_500, "tax_behavior": "inclusive"})).await).await;
    let coupon = id(&ok(app.post("/v1/coupons", json!({"percent_off": 10})).await).await);
    ok(app
        .post(
            "/v1/promotion_codes",
            json!({"coupon_id": coupon, "code": "spring10"}),
        )
        .await)
    .await;
    let shop = ok(app.post("/v1/storefront", json!({"handle": "acme", "currency": "USD", "name": "Acme Software", "published": true, "support_email": "help@acme.example", "pages": {"terms": "Be nice.\n\nPay on time.", "faq": "Keys? On the receipt."}})).await).await;
    assert_eq!(
        (shop["handle"].as_str(), shop["published"].as_bool()),
        (Some("acme"), Some(true))
    );
    (program, token)
}

both_backends! {
    /// Goal: a guest buys two products with a promotion code: catalog → product → cart →
    /// code → checkout → the test provider's page → Pay → the success page waits for the
    /// payment, then shows the receipt and the license key once. The form sent twice places
    /// one order.
    async fn a_guest_buys_two_products_with_a_code(app: TestApp) {
        let (program, token) = open_shop(&app).await;
        let mut visitor = Visitor::new(&app);
        let (status, catalog) = visitor.get("/shop/acme").await;
        assert_eq!(status, 200);
        assert!(catalog.contains("Acme Studio") && catalog.contains("Security token"), "{catalog}");
        assert!(catalog.contains("50.00 USD") && catalog.contains("tax included"), "{catalog}");
        assert!(catalog.contains("/shop/acme/pages/terms") && catalog.contains("help@acme.example"));

        let (_, product) = visitor.get(&format!("/shop/acme/products/{program}")).await;
        assert!(product.contains("license key for up to 2 machines"), "{product}");
        let token_field = field(&product, "csrf_token");
        let (status, to) = visitor.post("/shop/acme/cart/add", &[("csrf_token", &token_field), ("product_id", &program), ("quantity", "2")]).await;
        assert_eq!((status, to.as_str()), (303, "/shop/acme/cart"));
        visitor.post("/shop/acme/cart/add", &[("csrf_token", &token_field), ("product_id", &token)]).await;
        let (status, _) = visitor.post("/shop/acme/cart/code", &[("csrf_token", &token_field), ("promotion_code", "spring10")]).await;
        assert_eq!(status, 303);
        let (_, cart) = visitor.get("/shop/acme/cart").await;
        // 2 × 50.00 + 25.00 = 125.00, 10% off: 12.50.
        for expected in ["125.00 USD", "Discount (SPRING10)", "12.50 USD", "112.50 USD", "Cart <span class=\"count\">(3)</span>"] {
            assert!(cart.contains(expected), "{expected} in {cart}");
        }

        let (_, checkout) = visitor.get("/shop/acme/checkout").await;
        let form_key = field(&checkout, "form_key");
        let details = [("csrf_token", token_field.as_str()), ("form_key", &form_key), ("email", "grace@example.com"), ("name", "Grace Hopper"), ("company", "Navy"), ("vat_id", "US-1"), ("country", "US")];
        let (status, pay_page) = visitor.post("/shop/acme/checkout", &details).await;
        assert_eq!(status, 303, "{pay_page}");
        assert!(pay_page.contains("/test-provider/checkout/"), "{pay_page}");
        let (status, again) = visitor.post("/shop/acme/checkout", &details).await;
        assert_eq!((status, again.as_str()), (303, pay_page.as_str()), "the same form places one order");
        let orders = ok(app.get("/v1/orders").await).await;
        assert_eq!(orders["data"].as_array().unwrap().len(), 1, "{orders}");
        let order = &orders["data"][0];
        assert_eq!(order["status"], "checkout_open");
        assert_eq!(order["totals"]["total"], 11_250);
        assert_eq!(order["promotion_code"], "SPRING10");

        let (_, provider_page) = visitor.get(&pay_page).await;
        assert!(provider_page.contains("Acme Studio") && provider_page.contains("112.50 USD"), "{provider_page}");
        let provider_token = form_token(&provider_page);
        let (status, back) = visitor.post(&format!("{pay_page}/pay"), &[("csrf_token", &provider_token)]).await;
        assert_eq!(status, 303);
        assert!(back.starts_with(&format!("{}/shop/acme/orders/{}?key=", app.base_url, id(order))), "{back}");

        let receipt = wait_for_page(&mut visitor, &back, "ACME-").await;
        for expected in ["Thank you for your order", "112.50 USD", "grace@example.com", "class=\"key\""] {
            assert!(receipt.contains(expected), "{expected} in {receipt}");
        }
        assert!(!visitor.cookies.contains_key("bursar_cart"), "the bought cart is emptied");
        let (_, again) = visitor.get(&back).await;
        assert!(!again.contains("class=\"key\"") && again.contains("shown once already"), "{again}");
        let customer = ok(app.get(&format!("/v1/customers/{}", order["customer_id"].as_str().unwrap())).await).await;
        assert_eq!((customer["email"].as_str(), customer["metadata"]["company"].as_str(), customer["metadata"]["billing_country"].as_str()), (Some("grace@example.com"), Some("Navy"), Some("US")));

        let (status, _) = visitor.get(&back.replace("?key=", "?key=0")).await;
        assert_eq!(status, 404, "a receipt link with a wrong key shows nothing");
    }
}

/// The page at `url` once it contains `text` (the success page refreshes itself meanwhile).
pub async fn wait_for_page(visitor: &mut Visitor, url: &str, text: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, page) = visitor.get(url).await;
        assert_eq!(status, 200, "{page}");
        if page.contains(text) {
            return page;
        }
        assert!(std::time::Instant::now() < deadline, "no {text} in {page}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

both_backends! {
    /// Goal: forms without their page's token, with another's, or sent from another site are
    /// refused and change nothing; every page carries the security headers; what merchants
    /// and buyers typed is escaped; a closed shop is not found.
    async fn the_shop_refuses_forged_forms_and_escapes_what_people_typed(app: TestApp) {
        let hostile = r#"<script>alert(1)</script>"#;
        let product = id(&ok(app.post("/v1/products", json!({"name": hostile, "kind": "digital", "description": "<img src=x onerror=alert(2)>"})).await).await);
        ok(app.post("/v1/prices", json!({"product_id": product, "currency": "USD", "unit_amount": 700})).await).await;
        ok(app.post("/v1/storefront", json!({"handle": "hostile", "currency": "USD"})).await).await;
        let mut visitor = Visitor::new(&app);
        assert_eq!(visitor.get("/shop/hostile").await.0, 404, "a shop is closed until published");
        ok(app.post("/v1/storefront", json!({"published": true, "name": "<b>Evil</b> & Co"})).await).await;

        for path in ["/shop/hostile".to_owned(), format!("/shop/hostile/products/{product}"), "/shop/hostile/cart".to_owned(), "/shop/nowhere".to_owned()] {
            let response = reqwest::get(format!("{}{path}", app.base_url)).await.unwrap();
            let headers = response.headers().clone();
            let csp = headers["content-security-policy"].to_str().unwrap();
            assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"), "{path}: {csp}");
            assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
            let page = response.text().await.unwrap();
            for raw in ["<script>", "<img", "<b>Evil"] {
                assert!(!page.contains(raw), "{raw} in {path}: {page}");
            }
        }
        let (_, page) = visitor.get(&format!("/shop/hostile/products/{product}")).await;
        assert!(page.contains("&#60;script&#62;alert(1)&#60;/script&#62;") && page.contains("&#60;b&#62;Evil&#60;/b&#62; &#38; Co"), "{page}");
        let token = field(&page, "csrf_token");

        let add = |token: &str| vec![("csrf_token".to_owned(), token.to_owned()), ("product_id".to_owned(), product.clone())];
        let post = |visitor: &Visitor, fields: Vec<(String, String)>, origin: &str| {
            visitor.client.post(format!("{}/shop/hostile/cart/add", app.base_url))
                .header("cookie", visitor.cookie_header())
                .header("origin", origin.to_owned())
                .header("content-type", "application/x-www-form-urlencoded")
                .body(serde_urlencoded::to_string(fields).unwrap())
                .send()
        };
        let base = app.base_url.clone();
        assert_eq!(post(&visitor, vec![("product_id".into(), product.clone())], &base).await.unwrap().status(), 403, "no token");
        assert_eq!(post(&visitor, add(&"0".repeat(32)), &base).await.unwrap().status(), 403, "a wrong token");
        assert_eq!(post(&visitor, add(&token), "https://evil.example").await.unwrap().status(), 403, "another site");
        let mut stranger = Visitor::new(&app);
        stranger.get("/shop/hostile").await;
        assert_eq!(post(&stranger, add(&token), &base).await.unwrap().status(), 403, "another browser's token");
        let (_, cart) = visitor.get("/shop/hostile/cart").await;
        assert!(cart.contains("Your cart is empty"), "nothing was added: {cart}");

        let (status, _) = visitor.post("/shop/hostile/cart/add", &[("csrf_token", &token), ("product_id", &product), ("quantity", "100")]).await;
        assert_eq!(status, 400, "a quantity past the limit");
        let (status, to) = visitor.post("/shop/hostile/cart/add", &[("csrf_token", &token), ("product_id", &product)]).await;
        assert_eq!((status, to.as_str()), (303, "/shop/hostile/cart"));
        let (_, checkout) = visitor.get("/shop/hostile/checkout").await;
        let form_key = field(&checkout, "form_key");
        let (status, page) = visitor.post("/shop/hostile/checkout", &[("csrf_token", &token), ("form_key", &form_key), ("email", "not-an-email"), ("country", "US")]).await;
        assert_eq!(status, 400);
        assert!(page.contains("role=\"alert\"") && page.contains("value=\"not-an-email\""), "{page}");
        let (status, page) = visitor.post("/shop/hostile/checkout", &[("csrf_token", &token), ("form_key", &form_key), ("email", "eve@example.com"), ("name", "<i>Eve</i>"), ("country", "XX")]).await;
        assert_eq!(status, 400);
        assert!(page.contains("Choose the country") && page.contains("&#60;i&#62;Eve&#60;/i&#62;"), "{page}");
        assert_eq!(ok(app.get("/v1/orders").await).await["data"].as_array().unwrap().len(), 0, "no order was placed");
    }
}

both_backends! {
    /// Goal: the storefront's settings are checked and a handle belongs to one shop.
    async fn storefront_settings_are_checked(app: TestApp) {
        expect_error(app.get("/v1/storefront").await, 404, "resource_missing", None).await;
        expect_error(app.post("/v1/storefront", json!({"currency": "USD"})).await, 400, "parameter_missing", Some("handle")).await;
        expect_error(app.post("/v1/storefront", json!({"handle": "Bad Handle", "currency": "USD"})).await, 400, "parameter_invalid", Some("handle")).await;
        expect_error(app.post("/v1/storefront", json!({"handle": "fine", "currency": "USD", "brand_color": "red"})).await, 400, "parameter_invalid", Some("brand_color")).await;
        let long = "x".repeat(20_001);
        expect_error(app.post("/v1/storefront", json!({"handle": "fine", "currency": "USD", "pages": {"terms": long}})).await, 400, "parameter_invalid", Some("pages[terms]")).await;
        expect_error(app.get("/v1/storefront").await, 404, "resource_missing", None).await;
        let shop = ok(app.post("/v1/storefront", json!({"handle": "fine", "currency": "eur"})).await).await;
        assert_eq!((shop["currency"].as_str(), shop["published"].as_bool(), shop["name"].as_str()), (Some("EUR"), Some(false), Some("fine")));
        assert_eq!(ok(app.get("/v1/storefront").await).await, shop);

        let (_, _, secret) = bursar::bootstrap::create_workspace(app.db(), "Other", bursar_domain::auth::Scope::Admin).await.unwrap();
        let taken = app.client.post(app.url("/v1/storefront")).bearer_auth(secret.expose())
            .json(&json!({"handle": "fine", "currency": "USD"})).send().await.unwrap();
        expect_error(taken, 409, "handle_taken", Some("handle")).await;
    }
}

/// A visitor's checkout of one unit of `product` as `email`: the status and where it sends
/// the browser (or the page).
pub async fn checkout_one(visitor: &mut Visitor, product: &str, email: &str) -> (u16, String) {
    let (_, page) = visitor.get(&format!("/shop/acme/products/{product}")).await;
    let token = field(&page, "csrf_token");
    visitor
        .post(
            "/shop/acme/cart/add",
            &[("csrf_token", &token), ("product_id", product)],
        )
        .await;
    let (_, checkout) = visitor.get("/shop/acme/checkout").await;
    let form_key = field(&checkout, "form_key");
    visitor
        .post(
            "/shop/acme/checkout",
            &[
                ("csrf_token", &token),
                ("form_key", &form_key),
                ("email", email),
                ("country", "US"),
            ],
        )
        .await
}

both_backends! {
    /// Goal: a card-testing burst — a bot placing checkout after checkout from one address,
    /// each with a fresh session and email, each declined at the provider — is stopped by the
    /// velocity limits after 10 checkouts in ten minutes: the 11th is refused with 429 before
    /// any order is written, while a buyer from another address checks out as usual.
    async fn a_card_testing_burst_is_stopped(app: TestApp) {
        let (program, _) = open_shop(&app).await;
        let limit = bursar_core::velocity::PER_ADDRESS;
        for n in 0..limit {
            let mut bot = Visitor::new(&app);
            let (status, pay_page) = checkout_one(&mut bot, &program, &format!("card{n}@example.net")).await;
            assert_eq!(status, 303, "checkout {n}: {pay_page}");
            let (_, page) = bot.get(&pay_page).await;
            let (status, _) = bot.post(&format!("{pay_page}/decline"), &[("csrf_token", &form_token(&page))]).await;
            assert_eq!(status, 303, "the card of checkout {n} is declined");
        }
        let mut bot = Visitor::new(&app);
        let (status, page) = checkout_one(&mut bot, &program, "card-next@example.net").await;
        assert_eq!(status, 429, "{page}");
        assert!(page.contains("Too many checkouts"), "{page}");
        let orders = ok(app.get("/v1/orders?limit=100").await).await;
        let orders = orders["data"].as_array().unwrap();
        assert_eq!(orders.len(), limit as usize, "the refused checkout wrote nothing");
        assert!(orders.iter().all(|o| o["status"] == "payment_failed"), "{orders:?}");

        let mut buyer = Visitor::from_address(&app, "127.0.0.2");
        let (status, pay_page) = checkout_one(&mut buyer, &program, "ada@example.com").await;
        assert_eq!(status, 303, "another address checks out: {pay_page}");
    }
}

both_backends! {
    /// Goal: pages speak the browser's preferred language (German here), say so in
    /// `<html lang>` and `Content-Language`, and the switcher's choice, kept in a cookie, wins
    /// over the browser's preference and returns to the same page; the switcher goes back only
    /// to this server's shop and portal pages.
    async fn the_shop_speaks_the_visitors_language(app: TestApp) {
        let (program, _) = open_shop(&app).await;
        let german = |path: String| app.client.get(app.url(&path)).header("accept-language", "de-CH, de;q=0.9, en;q=0.5").send();
        let response = german(format!("/shop/acme/products/{program}")).await.unwrap();
        assert_eq!(response.headers()["content-language"], "de");
        let page = response.text().await.unwrap();
        for expected in ["<html lang=\"de\">", "In den Warenkorb", "Mit einem Lizenzschlüssel für bis zu 2 Rechner", "Alle Produkte", "Warenkorb <span class=\"count\">(0)</span>"] {
            assert!(page.contains(expected), "{expected} in {page}");
        }
        let english = app.client.get(app.url("/shop/acme/cart")).header("accept-language", "fr, en;q=0.8").send().await.unwrap().text().await.unwrap();
        assert!(english.contains("<html lang=\"en\">") && english.contains("Your cart is empty"), "{english}");

        let mut visitor = Visitor::new(&app);
        let (_, cart) = visitor.get("/shop/acme/cart").await;
        let switch = cart.split("href=\"").find(|s| s.starts_with("/language/de")).unwrap().split('"').next().unwrap().replace("&amp;", "&");
        let (status, back) = visitor.get_location(&switch).await;
        assert_eq!((status, back.as_str()), (303, "/shop/acme/cart"));
        let (_, cart) = visitor.get("/shop/acme/cart").await;
        assert!(cart.contains("Ihr Warenkorb ist leer") && cart.contains("<html lang=\"de\">"), "{cart}");
        let (_, product) = visitor.get(&format!("/shop/acme/products/{program}")).await;
        let token = field(&product, "csrf_token");
        let (status, refused) = visitor.post("/shop/acme/cart/code", &[("csrf_token", &token), ("promotion_code", "no way!")]).await;
        assert_eq!(status, 400, "{refused}");
        assert!(refused.contains("promotion_code ist ungültig"), "a refusal in German: {refused}");
        let (status, back) = visitor.get_location("/language/en?back=https://evil.example/").await;
        assert_eq!((status, back.as_str()), (303, "/"), "never to another site");
        assert_eq!(visitor.get("/language/xx").await.0, 404);
    }
}
