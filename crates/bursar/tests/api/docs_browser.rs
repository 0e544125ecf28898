//! The API reference page (`/docs`) in a real browser: headless Chromium driven over WebDriver
//! (chromedriver on a loopback port, plain JSON calls with reqwest), at a phone's and a
//! desktop's size. Screenshots land in `target/screenshots/`.
//!
//! Skips, saying so, only where no Chromium binary is installed (`apt-get install chromium
//! chromium-driver`; `.ci/run` installs both).

use crate::browser::{browser_binaries, screenshot_dir, Driver, Session};
use crate::helpers::*;

/// Goal: the reference page is usable by a newcomer on a phone and on a desktop.
/// Method: load `/docs` at 390x844 (phone emulation) and 1280x900 (and 1000 px wide, where
/// the old page's sidebar collapsed); check the navigation's width, that nothing scrolls
/// sideways, that `POST /v1/customers` has a request example with `"email"`, that no literal
/// backtick is left in the rendered descriptions, that every in-page link (schemas among
/// them) has its anchor, and that typing `invoices` into the filter box hides customer
/// operations; save screenshots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_page_works_in_a_real_browser() {
    let Some((chromium, driver_binary)) =
        browser_binaries("reference_page_works_in_a_real_browser")
    else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let docs = app.url("/docs");
    let screenshots = screenshot_dir();
    let driver = Driver::start(&driver_binary).await;

    // Desktop.
    let desktop = driver.session(&chromium, None).await;
    desktop.set_viewport(1280, 900).await;
    desktop.open(&docs).await;
    assert_eq!(desktop.js("return innerWidth").await, 1280);
    let sizes = desktop
        .js("var n = performance.getEntriesByType('navigation')[0]; return [n.encodedBodySize, n.decodedBodySize]")
        .await;
    println!(
        "/docs: {} bytes transferred (gzip), {} bytes of HTML",
        sizes[0], sizes[1]
    );
    assert!(
        sizes[0].as_u64().unwrap() * 4 < sizes[1].as_u64().unwrap(),
        "the browser gets the page compressed: {sizes}"
    );
    let nav_width = desktop
        .js("return document.querySelector('nav').getBoundingClientRect().width")
        .await;
    assert!(
        nav_width.as_f64().unwrap() >= 200.0,
        "desktop navigation is {nav_width} px wide"
    );
    assert_no_sideways_scroll(&desktop, "desktop", 1280).await;
    assert_no_backticks(&desktop).await;
    assert_links_resolve(&desktop).await;
    let request = desktop
        .js("return document.querySelector('#post-v1-customers pre.rq').innerText")
        .await;
    let request = request.as_str().unwrap();
    assert!(
        request.contains("\"email\""),
        "request example of POST /v1/customers: {request}"
    );
    assert!(
        request.contains("Authorization: Bearer sk_") && request.contains("Idempotency-Key"),
        "{request}"
    );
    assert!(
        request.contains(&app.base_url),
        "the script puts in the page's origin: {request}"
    );
    let response = desktop
        .js("return document.querySelector('#post-v1-customers pre.rs').innerText")
        .await;
    let response: Value =
        serde_json::from_str(response.as_str().unwrap()).expect("the response example is JSON");
    assert!(
        response["id"].is_string() && response.get("email").is_some(),
        "{response}"
    );
    desktop
        .screenshot(&screenshots.join("docs-desktop-top.png"))
        .await;
    // A schema link in the response example's caption leads to the schema's entry.
    desktop
        .click("#post-v1-customers .ex .cap a[href='#schema-CustomerObject']")
        .await;
    let target = desktop
        .js("var t = document.getElementById('schema-CustomerObject'); \
             return [location.hash, Math.round(t.getBoundingClientRect().top), t.querySelectorAll('tr').length]")
        .await;
    assert_eq!(target[0], "#schema-CustomerObject");
    assert!(
        target[1].as_i64().unwrap().abs() < 40,
        "the schema's entry is scrolled into view: {target}"
    );
    assert!(
        target[2].as_i64().unwrap() > 5,
        "the schema lists its properties: {target}"
    );
    desktop
        .screenshot(&screenshots.join("docs-desktop-schema.png"))
        .await;
    desktop.open(&format!("{docs}#post-v1-customers")).await;
    desktop
        .screenshot(&screenshots.join("docs-desktop-operation.png"))
        .await;
    assert_filter_hides_customers(&desktop).await;
    desktop
        .screenshot(&screenshots.join("docs-desktop-filtered.png"))
        .await;
    // Where the old page's sidebar collapsed to a strip.
    desktop.set_viewport(1000, 800).await;
    desktop.open(&docs).await;
    let nav_width = desktop
        .js("return document.querySelector('nav').getBoundingClientRect().width")
        .await;
    assert!(
        nav_width.as_f64().unwrap() >= 200.0,
        "navigation at 1000 px is {nav_width} px wide"
    );
    assert_no_sideways_scroll(&desktop, "1000 px", 1000).await;
    desktop.open(&format!("{docs}#post-v1-invoices")).await;
    desktop
        .screenshot(&screenshots.join("docs-1000px-operation.png"))
        .await;
    desktop.close().await;

    // Phone.
    let phone = driver.session(&chromium, Some((390, 844))).await;
    phone.open(&docs).await;
    assert_no_sideways_scroll(&phone, "phone", 390).await;
    let nav = phone
        .js("var r = document.querySelector('nav').getBoundingClientRect(); return [r.left, r.right, r.height]")
        .await;
    assert!(
        nav[0].as_f64().unwrap() >= 0.0 && nav[1].as_f64().unwrap() <= 390.0,
        "phone navigation fits: {nav}"
    );
    assert!(
        nav[2].as_f64().unwrap() > 40.0,
        "phone navigation is shown: {nav}"
    );
    let tag_links = phone.js("return [...document.querySelectorAll('nav a.tag')].filter(a => a.offsetWidth > 0).length").await;
    assert!(
        tag_links.as_u64().unwrap() >= 5,
        "phone navigation lists the resources: {tag_links}"
    );
    phone
        .screenshot(&screenshots.join("docs-phone-top.png"))
        .await;
    phone.open(&format!("{docs}#post-v1-customers")).await;
    assert_no_sideways_scroll(&phone, "phone, at an operation", 390).await;
    phone
        .screenshot(&screenshots.join("docs-phone-operation.png"))
        .await;
    phone.js("window.scrollBy(0, 700); return 0").await;
    phone
        .screenshot(&screenshots.join("docs-phone-operation-examples.png"))
        .await;
    phone.open(&format!("{docs}#schema-CustomerObject")).await;
    assert_no_sideways_scroll(&phone, "phone, at a schema", 390).await;
    phone
        .screenshot(&screenshots.join("docs-phone-schema.png"))
        .await;
    phone.open(&docs).await;
    assert_filter_hides_customers(&phone).await;
    phone
        .screenshot(&screenshots.join("docs-phone-filtered.png"))
        .await;
    phone.close().await;
    println!("screenshots in {}", screenshots.display());
}

/// Nothing sticks out to the right: the page does not scroll sideways (and, on a phone, the
/// browser need not widen its layout viewport past the screen's width).
async fn assert_no_sideways_scroll(session: &Session, what: &str, width: u64) {
    let widths = session
        .js("return [document.documentElement.scrollWidth, innerWidth]")
        .await;
    let wider = session
        .js(&format!(
            "return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > {width} + 0.5 \
                 || (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX == 'visible' && e.clientWidth > 0)) \
             .slice(-5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right) + ': ' + e.textContent.slice(0, 60))"
        ))
        .await;
    assert!(
        widths[0].as_u64().unwrap() <= width && widths[1].as_u64().unwrap() == width,
        "{what}: the page is wider than {width} px: {widths}; widest: {wider}"
    );
}

/// Descriptions are rendered: no backtick of their markdown is left in the text (code
/// examples aside).
async fn assert_no_backticks(session: &Session) {
    let found = session
        .js("var m = document.querySelector('main').cloneNode(true); \
             m.querySelectorAll('pre').forEach(function (e) { e.remove(); }); \
             var t = m.textContent, i = t.indexOf('`'); \
             return i < 0 ? null : t.slice(Math.max(0, i - 80), i + 80)")
        .await;
    assert!(
        found.is_null(),
        "a literal backtick in the rendered text: {found}"
    );
    let code = session
        .js("return document.querySelectorAll('main p code, main td code, main li code').length")
        .await;
    assert!(
        code.as_u64().unwrap() > 100,
        "inline code is rendered as <code>: {code}"
    );
}

/// Every `href="#…"` on the page names an element that exists, and schema links are many.
async fn assert_links_resolve(session: &Session) {
    let result = session
        .js("var links = [...document.querySelectorAll('a[href^=\"#\"]')]; \
             var dangling = links.map(a => a.getAttribute('href').slice(1)) \
                 .filter(id => !document.getElementById(decodeURIComponent(id))); \
             var schemas = links.filter(a => a.getAttribute('href').startsWith('#schema-')).length; \
             return [dangling.slice(0, 10), schemas]")
        .await;
    assert_eq!(result[0], json!([]), "links without an anchor");
    assert!(
        result[1].as_u64().unwrap() > 100,
        "schema links: {}",
        result[1]
    );
}

/// Typing `invoices` into the filter box hides the customer operations and keeps invoice
/// operations; clearing it shows everything again.
async fn assert_filter_hides_customers(session: &Session) {
    let visible = "function v(s) { var e = document.querySelector(s); return !!e && e.getClientRects().length > 0; }";
    session.click("#q").await;
    session.type_into("#q", "invoices").await;
    let state = session
        .js(&format!(
            "{visible} return [v('#post-v1-customers'), v('#get-v1-customers'), v('#tag-customers'), \
             [...document.querySelectorAll('.op')].filter(e => e.getClientRects().length && e.id.indexOf('invoices') >= 0).length, \
             [...document.querySelectorAll('.op')].filter(e => e.getClientRects().length && e.id.indexOf('invoices') < 0 && (e.querySelector('.sig').textContent + e.querySelector('h3').textContent).toLowerCase().indexOf('invoices') < 0).length]"
        ))
        .await;
    assert_eq!(
        state[0], false,
        "POST /v1/customers is hidden by the filter: {state}"
    );
    assert_eq!(
        state[1], false,
        "GET /v1/customers is hidden by the filter: {state}"
    );
    assert!(
        state[3].as_u64().unwrap() > 3,
        "invoice operations stay: {state}"
    );
    assert_eq!(state[4], 0, "only matching operations stay: {state}");
    session.js("var q = document.getElementById('q'); q.value = ''; q.dispatchEvent(new Event('input')); return 0").await;
    let back = session
        .js(&format!("{visible} return v('#post-v1-customers')"))
        .await;
    assert_eq!(back, true, "clearing the filter shows everything again");
    session.type_into("#q", "invoices").await;
}
