//! Pages within a statement budget, whatever the data: each storefront and portal page is
//! served in-process with its SQL statements counted (`bursar_store::statements`), before and
//! after the customer's orders, invoices and subscriptions grow tenfold; the count stays the
//! same and under the page's budget. The portal's lists page by id (keyset), newest first.

use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt;

use crate::both_backends;
use crate::helpers::*;
use crate::portal::sign_in;
use crate::portal_plans::subscribe;
use crate::storefront::{open_shop, Visitor};

/// The statements a page sends, and its status, served to `visitor`'s cookies.
async fn statements(app: &TestApp, visitor: &Visitor, path: &str) -> (u16, u64) {
    let router = bursar_web::router(app.core().clone());
    let host = app.base_url.trim_start_matches("http://").to_owned();
    let request = Request::get(path)
        .header("host", host)
        .header("cookie", visitor.cookie_header())
        .body(Body::empty())
        .unwrap();
    let (response, count) = bursar_store::statements::counting(router.oneshot(request)).await;
    (response.unwrap().status().as_u16(), count)
}

/// `count` more orders and issued invoices of `customer`.
async fn grow(app: &TestApp, customer: &str, product: &str, count: usize) {
    for _ in 0..count {
        ok(app.post("/v1/orders", json!({"customer_id": customer, "currency": "USD", "lines": [{"product_id": product}]})).await).await;
        let invoice = ok(app.post("/v1/invoices", json!({"customer_id": customer, "currency": "USD", "lines": [{"description": "Support", "unit_amount": 1_000}]})).await).await;
        ok(app
            .post(&format!("/v1/invoices/{}/issue", id(&invoice)), json!({}))
            .await)
        .await;
    }
}

/// Each page's most statements.
const BUDGETS: [(&str, u64); 8] = [
    ("catalog", 4),
    ("product", 3),
    ("cart", 2),
    ("account", 9),
    ("older orders", 9),
    ("order", 5),
    ("subscription", 6),
    ("payments", 6),
];

async fn measure(app: &TestApp, visitor: &Visitor, paths: &[String]) -> Vec<u64> {
    let mut counts = Vec::new();
    for ((page, budget), path) in BUDGETS.iter().zip(paths) {
        let (status, count) = statements(app, visitor, path).await;
        assert_eq!(status, 200, "{page}: {path}");
        assert!(count > 0, "{page}: the statements are counted");
        assert!(
            count <= *budget,
            "{page} ({path}) sent {count} statements, over its budget of {budget}"
        );
        counts.push(count);
    }
    counts
}

both_backends! {
    /// Goal: every page sends a bounded number of statements — the same with 3 or 30 orders,
    /// invoices and subscriptions — and the account's lists page newest first by id.
    async fn pages_stay_within_their_statement_budget(app: TestApp) {
        let (program, _) = open_shop(&app).await;
        let grace = id(&ok(app.post("/v1/customers", json!({"email": "grace@example.com", "name": "Grace"})).await).await);
        grow(&app, &grace, &program, 3).await;
        let plan = subscribe(&app, &grace, &program, 2, 200).await;
        let mut visitor = Visitor::new(&app);
        sign_in(&app, &mut visitor, "grace@example.com").await;
        let orders = ok(app.get(&format!("/v1/orders?customer_id={grace}&limit=100")).await).await;
        let oldest = orders["data"].as_array().unwrap().last().map(id).unwrap();
        let newest = id(&orders["data"][0]);
        let paths = vec![
            "/shop/acme".to_owned(),
            format!("/shop/acme/products/{program}"),
            "/shop/acme/cart".to_owned(),
            "/portal/acme".to_owned(),
            format!("/portal/acme?orders_before={newest}"),
            format!("/portal/acme/orders/{oldest}"),
            format!("/portal/acme/plans/{plan}"),
            "/portal/acme/payments".to_owned(),
        ];
        let few = measure(&app, &visitor, &paths).await;

        grow(&app, &grace, &program, 27).await;
        for _ in 0..9 {
            subscribe(&app, &grace, &program, 1, 200).await;
        }
        let many = measure(&app, &visitor, &paths).await;
        assert_eq!(few, many, "the statements of each page do not grow with the data");

        // 30 orders: the newest 25, then the older 5 through the link.
        let (_, home) = visitor.get("/portal/acme").await;
        let listed = |page: &str| page.matches("/portal/acme/orders/").count();
        assert_eq!(listed(&home), 25, "{home}");
        let older = home.split("?orders_before=").nth(1).unwrap().split('"').next().unwrap().to_owned();
        let (_, next) = visitor.get(&format!("/portal/acme?orders_before={older}")).await;
        assert_eq!(listed(&next), 5, "{next}");
        assert!(next.contains(&format!("/portal/acme/orders/{oldest}")) && !next.contains("orders_before="), "{next}");
        assert!(home.contains("Older invoices"), "30 invoices: a second page");
    }
}
