//! The portal's subscriptions (`/portal/{handle}/plans/{id}`): a customer sees their contract's
//! lines, next invoice and renewal, previews and applies a seat change with its proration,
//! cancels and resumes the renewal within the notice rules; forms sent twice act once, and
//! another customer's session reaches none of it.

use crate::both_backends;
use crate::helpers::*;
use crate::portal::sign_in;
use crate::storefront::{field, open_shop, Visitor};

/// An active contract of `buyer` for `seats` seats of `product` at 100.00 USD each, started
/// ten days ago and ending `days_left` days from now (30 days' notice, prorated by the day).
pub async fn subscribe(
    app: &TestApp,
    buyer: &str,
    product: &str,
    seats: i64,
    days_left: i64,
) -> String {
    let now = app.db().now();
    let created = ok(app
        .post(
            "/v1/contracts",
            json!({
                "buyer_id": buyer, "currency": "USD",
                "term": {"start": now.plus_seconds(-10 * 86_400).to_rfc3339(),
                         "end": now.plus_seconds(days_left * 86_400).to_rfc3339(),
                         "auto_renew": true, "renewal_months": 12, "notice_days": 30},
                "billing": {"anchor_day": 1, "proration": "day"},
                "lines": [{"product_id": product, "unit_amount": 10_000, "quantity": seats}]
            }),
        )
        .await)
    .await;
    let contract = id(&created);
    ok(app
        .post(
            &format!("/v1/contracts/{contract}/operations"),
            json!({"type": "activate"}),
        )
        .await)
    .await;
    contract
}

async fn contract(app: &TestApp, id: &str) -> Value {
    ok(app.get(&format!("/v1/contracts/{id}")).await).await
}

async fn log_len(app: &TestApp, id: &str) -> usize {
    ok(app.get(&format!("/v1/contracts/{id}/log")).await).await["data"]
        .as_array()
        .unwrap()
        .len()
}

/// The proration the subscription (projected by the relay) charges for the seat change.
async fn prorated_charge(app: &TestApp, contract: &str) -> i64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let listed = ok(app
            .get(&format!("/v1/subscriptions?contract_id={contract}"))
            .await)
        .await;
        let subscription = &listed["data"][0];
        if subscription["items"][0]["quantity"] == 5 {
            let items = subscription["proration_items"].as_array().unwrap();
            return items.iter().map(|p| p["amount"].as_i64().unwrap()).sum();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the subscription never followed: {listed}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn customer(app: &TestApp, email: &str) -> String {
    id(&ok(app
        .post(
            "/v1/customers",
            json!({"email": email, "name": "Portal buyer"}),
        )
        .await)
    .await)
}

both_backends! {
    /// Goal: a signed-in customer finds their subscription, previews a seat change (what each
    /// invoice changes by and the proration charged now), applies it, cancels and resumes the
    /// renewal; forms sent twice act once; past the notice period the renewal cannot be
    /// canceled; bad fields are 400 naming them; another customer's session gets 404.
    async fn a_customer_manages_a_subscription_in_the_portal(app: TestApp) {
        let (program, _) = open_shop(&app).await;
        let grace = customer(&app, "grace@example.com").await;
        let ada = customer(&app, "ada@example.com").await;
        let plan = subscribe(&app, &grace, &program, 2, 200).await;
        let late_plan = subscribe(&app, &grace, &program, 1, 10).await;
        let adas = subscribe(&app, &ada, &program, 1, 200).await;

        let mut visitor = Visitor::new(&app);
        sign_in(&app, &mut visitor, "grace@example.com").await;
        let (_, home) = visitor.get("/portal/acme").await;
        assert!(home.contains(&format!("/portal/acme/plans/{plan}")) && home.contains("Acme Studio"), "{home}");
        assert!(!home.contains(&adas), "another customer's subscription is not listed");
        let path = format!("/portal/acme/plans/{plan}");
        let (status, page) = visitor.get(&path).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("200.00 USD") && page.contains("You can cancel the renewal until"), "{page}");
        assert!(page.contains("Next invoice") && page.contains("plus usage"), "{page}");

        // A seat change: previewed (nothing changes), then applied once however often it is sent.
        let (status, preview) = visitor.get(&format!("{path}/lines/line_1?quantity=5")).await;
        assert_eq!(status, 200, "{preview}");
        assert!(preview.contains("from 2 to 5 seats") && preview.contains("changes by 300.00 USD"), "{preview}");
        assert!(preview.contains("is charged on the next invoice"), "a prorated charge for the rest of the period: {preview}");
        assert_eq!(contract(&app, &plan).await["lines"][0]["quantity"], 2, "a preview changes nothing");
        let token = field(&preview, "csrf_token");
        let change = format!("{path}/lines/line_1");
        let before = log_len(&app, &plan).await;
        for _ in 0..2 {
            let (status, to) = visitor.post(&change, &[("csrf_token", &token), ("quantity", "5")]).await;
            assert_eq!((status, to.as_str()), (303, format!("{path}?changed=seats").as_str()));
        }
        assert_eq!(contract(&app, &plan).await["lines"][0]["quantity"], 5);
        assert_eq!(log_len(&app, &plan).await, before + 1, "sent twice, changed once");
        let charged = prorated_charge(&app, &plan).await;
        let shown = format!("{}.{:02} USD is charged", charged / 100, charged % 100);
        assert!(charged > 0 && preview.contains(&shown), "billing prorates the change as previewed ({shown}): {preview}");

        // The renewal: canceled (once), then resumed.
        let renewal = format!("{path}/renewal");
        for _ in 0..2 {
            let (status, _) = visitor.post(&renewal, &[("csrf_token", &token), ("renewal", "cancel")]).await;
            assert_eq!(status, 303);
        }
        assert_eq!(contract(&app, &plan).await["renewal_canceled"], true);
        assert_eq!(log_len(&app, &plan).await, before + 2, "canceled twice, recorded once");
        let (_, page) = visitor.get(&format!("{path}?changed=renewal")).await;
        assert!(page.contains("The renewal is canceled.") && page.contains("will not renew") && page.contains("Resume the renewal"), "{page}");
        let (status, _) = visitor.post(&renewal, &[("csrf_token", &token), ("renewal", "resume")]).await;
        assert_eq!(status, 303);
        assert_eq!(contract(&app, &plan).await["renewal_canceled"], false);
        let timeline = ok(app.get(&format!("/v1/contracts/{plan}/timeline")).await).await;
        let resumed = timeline["data"].as_array().unwrap().iter().filter(|e| e["type"] == "contract.renewal_resumed").count();
        assert_eq!(resumed, 1, "{timeline}");

        // Inside the notice period: no cancel button, and the operation is refused.
        let late = format!("/portal/acme/plans/{late_plan}");
        let (_, page) = visitor.get(&late).await;
        assert!(page.contains("the notice period for canceling has passed") && !page.contains("Cancel the renewal"), "{page}");
        let (status, refused) = visitor.post(&format!("{late}/renewal"), &[("csrf_token", &token), ("renewal", "cancel")]).await;
        assert_eq!(status, 409, "{refused}");
        assert!(refused.contains("could be canceled until"), "{refused}");
        // The core's refusal in the visitor's language.
        visitor.get_location("/language/de?back=/portal/acme").await;
        let (status, refused) = visitor.post(&format!("{late}/renewal"), &[("csrf_token", &token), ("renewal", "cancel")]).await;
        assert_eq!(status, 409, "{refused}");
        assert!(refused.contains("Die Kündigungsfrist ist abgelaufen"), "{refused}");
        visitor.get_location("/language/en?back=/portal/acme").await;

        // Bad fields, a missing token, another customer's subscription.
        for quantity in ["0", "abc", "10001", ""] {
            let (status, page) = visitor.get(&format!("{path}/lines/line_1?quantity={quantity}")).await;
            assert_eq!(status, 400, "{quantity}: {page}");
            assert!(page.contains("quantity"), "{page}");
        }
        assert_eq!(visitor.post(&renewal, &[("csrf_token", &token), ("renewal", "pause")]).await.0, 400);
        assert_eq!(visitor.post(&renewal, &[("renewal", "cancel")]).await.0, 403, "no CSRF token");
        assert_eq!(visitor.get(&format!("{path}/lines/line_9?quantity=3")).await.0, 404);
        let theirs = format!("/portal/acme/plans/{adas}");
        assert_eq!(visitor.get(&theirs).await.0, 404);
        assert_eq!(visitor.get(&format!("{theirs}/lines/line_1?quantity=3")).await.0, 404);
        assert_eq!(visitor.post(&format!("{theirs}/renewal"), &[("csrf_token", &token), ("renewal", "cancel")]).await.0, 404);
        assert_eq!(visitor.post(&format!("{theirs}/lines/line_1"), &[("csrf_token", &token), ("quantity", "3")]).await.0, 404);
        assert_eq!(contract(&app, &adas).await["renewal_canceled"], false);
        assert_eq!(contract(&app, &adas).await["lines"][0]["quantity"], 1);
    }
}

both_backends! {
    /// Goal: a subscription with a usage line charts the customer's usage of its meter on the
    /// subscription page: this period so far against the last, as a server-rendered SVG with
    /// the same figures in words.
    async fn a_subscription_page_charts_usage_this_period_and_last(
        app: TestApp = crate::helpers::TestApp::spawn_with_clock,
        clock: ManualClock = "2026-03-20T12:00:00Z",
    ) {
        let (program, _) = open_shop(&app).await;
        let meter = app.post("/api/v1/meters", json!({"slug": "tokens", "name": "Tokens", "aggregation": "SUM", "eventType": "prompt", "valueProperty": "$.tokens"})).await;
        assert_eq!(meter.status(), 201);
        let grace = customer(&app, "grace@example.com").await;
        ok(app.post(&format!("/v1/customers/{grace}/usage_subjects"), json!({"subject": "grace-app"})).await).await;
        let created = ok(app.post("/v1/contracts", json!({
            "buyer_id": grace, "currency": "USD", "effective_at": "2026-01-01T00:00:00Z",
            "term": {"start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z", "auto_renew": true, "notice_days": 30},
            "lines": [{"product_id": program, "usage": {"meter": "tokens", "pricing": {"model": "per_unit", "unit_price": "0.01"}}}]
        })).await).await;
        let plan = id(&created);
        ok(app.post(&format!("/v1/contracts/{plan}/operations"), json!({"type": "activate", "effective_at": "2026-01-01T00:00:00Z"})).await).await;
        crate::billing::ingest(&app, &[
            ("e1", "grace-app", "2026-02-15T10:00:00Z", 4_000, "m"),
            ("e2", "grace-app", "2026-03-10T10:00:00Z", 1_200, "m"),
            ("e3", "grace-app", "2026-03-20T11:00:00Z", 300, "m"),
            ("e4", "someone-else", "2026-03-11T10:00:00Z", 9_999, "m"),
        ]).await;

        let mut visitor = Visitor::new(&app);
        sign_in(&app, &mut visitor, "grace@example.com").await;
        let (status, page) = visitor.get(&format!("/portal/acme/plans/{plan}")).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("Tokens: 1500 so far this period (solid line), 4000 last period (dashed line)."), "{page}");
        let chart = page.split("<svg").nth(1).unwrap().split("</svg>").next().unwrap();
        assert_eq!(chart.matches("<polyline").count(), 2, "{chart}");
        assert!(chart.contains("role=\"img\""), "{chart}");
    }
}
