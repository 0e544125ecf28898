//! Switching plans in the portal: a subscription line selling one of the shop's plans offers
//! the others at their monthly price; the preview shows what each invoice changes by and the
//! proration, the switch keeps the seats, and a form sent twice switches once.

use crate::both_backends;
use crate::helpers::*;
use crate::portal::sign_in;
use crate::portal_plans::subscribe;
use crate::storefront::{field, open_shop, Visitor};

async fn product_with_price(app: &TestApp, name: &str, amount: i64, interval: &str) -> String {
    let product = id(&ok(app
        .post("/v1/products", json!({"name": name, "kind": "service"}))
        .await)
    .await);
    ok(app
        .post(
            "/v1/prices",
            json!({"product_id": product, "currency": "USD", "unit_amount": amount,
        "type": "recurring", "recurring": {"interval": interval}}),
        )
        .await)
    .await;
    product
}

async fn log_len(app: &TestApp, contract: &str) -> usize {
    let log = ok(app.get(&format!("/v1/contracts/{contract}/log")).await).await;
    log["data"].as_array().unwrap().len()
}

/// The proration the subscription (projected by the relay) charges once it sells `product`.
async fn prorated_after_switch(app: &TestApp, contract: &str, product: &str) -> i64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let listed = ok(app
            .get(&format!("/v1/subscriptions?contract_id={contract}"))
            .await)
        .await;
        let subscription = &listed["data"][0];
        if subscription["items"][0]["product_id"] == product {
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

both_backends! {
    /// Goal: Grace's 2 seats of Acme Studio (100.00 USD each) switch to Studio Team at
    /// 150.00 USD: the plan page offers Team (not the yearly plan, not a product outside the
    /// plans), the preview says each invoice changes by 100.00 USD and what is charged now,
    /// the switch keeps 2 seats and appends two operations once; a plan not offered is 400
    /// naming `product_id`; another customer's subscription is 404. The storefront refuses
    /// unknown and repeated plans, naming the entry.
    async fn a_customer_switches_plans_with_a_proration_preview(app: TestApp) {
        let (program, _) = open_shop(&app).await;
        ok(app.post("/v1/prices", json!({"product_id": program, "currency": "USD", "unit_amount": 10_000,
            "type": "recurring", "recurring": {"interval": "month"}})).await).await;
        let team = product_with_price(&app, "Studio Team", 15_000, "month").await;
        let yearly = product_with_price(&app, "Studio Yearly", 100_000, "year").await;
        let outside = product_with_price(&app, "Render farm", 9_000, "month").await;
        let refused = app.post("/v1/storefront", json!({"plans": [program, "prod_01J00000000000000000000000"]})).await;
        assert_eq!(refused.status(), 404);
        assert_eq!(json_body(refused).await["error"]["param"], "plans[1]");
        let refused = app.post("/v1/storefront", json!({"plans": [program, program]})).await;
        assert_eq!(refused.status(), 400);
        assert_eq!(json_body(refused).await["error"]["param"], "plans[1]");
        let shop = ok(app.post("/v1/storefront", json!({"plans": [program, team, yearly]})).await).await;
        assert_eq!(shop["plans"].as_array().unwrap().len(), 3);

        let grace = id(&ok(app.post("/v1/customers", json!({"email": "grace@example.com"})).await).await);
        let ada = id(&ok(app.post("/v1/customers", json!({"email": "ada@example.com"})).await).await);
        let plan = subscribe(&app, &grace, &program, 2, 200).await;
        let adas = subscribe(&app, &ada, &program, 1, 200).await;
        let mut visitor = Visitor::new(&app);
        sign_in(&app, &mut visitor, "grace@example.com").await;
        let path = format!("/portal/acme/plans/{plan}");
        let (status, page) = visitor.get(&path).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains(&format!("value=\"{team}\"")) && page.contains("Studio Team: 150.00 USD a month per seat"), "{page}");
        assert!(!page.contains(&yearly) && !page.contains(&outside), "only monthly plans of the shop: {page}");

        let switch = format!("{path}/lines/line_1/switch");
        let (status, preview) = visitor.get(&format!("{switch}?product_id={team}")).await;
        assert_eq!(status, 200, "{preview}");
        assert!(preview.contains("From Acme Studio to Studio Team (2 seats)."), "{preview}");
        assert!(preview.contains("changes by 100.00 USD") && preview.contains("is charged on the next invoice"), "{preview}");
        assert_eq!(ok(app.get(&format!("/v1/contracts/{plan}")).await).await["lines"][0]["product_id"], program.as_str(), "a preview changes nothing");

        let token = field(&preview, "csrf_token");
        let before = log_len(&app, &plan).await;
        for _ in 0..2 {
            let (status, to) = visitor.post(&switch, &[("csrf_token", &token), ("product_id", &team)]).await;
            assert_eq!((status, to.as_str()), (303, format!("{path}?changed=plan").as_str()));
        }
        assert_eq!(log_len(&app, &plan).await, before + 2, "removed and added, once");
        let switched = ok(app.get(&format!("/v1/contracts/{plan}")).await).await;
        let lines = switched["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 1, "{switched}");
        assert_eq!((lines[0]["product_id"].as_str(), lines[0]["quantity"].as_i64(), lines[0]["unit_amount"].as_i64()), (Some(team.as_str()), Some(2), Some(15_000)));
        let charged = prorated_after_switch(&app, &plan, &team).await;
        let shown = format!("{}.{:02} USD is charged", charged / 100, charged % 100);
        assert!(charged > 0 && preview.contains(&shown), "billing prorates the switch as previewed ({shown}): {preview}");
        let (_, page) = visitor.get(&format!("{path}?changed=plan")).await;
        assert!(page.contains("The plan is switched.") && page.contains(&format!("value=\"{program}\"")), "back to Acme Studio is offered: {page}");

        let new_line = lines[0]["id"].as_str().unwrap();
        let (status, refused) = visitor.get(&format!("{path}/lines/{new_line}/switch?product_id={outside}")).await;
        assert_eq!(status, 400, "{refused}");
        assert!(refused.contains("product_id"), "{refused}");
        assert_eq!(visitor.get(&format!("{path}/lines/{new_line}/switch")).await.0, 400);
        assert_eq!(visitor.post(&format!("{path}/lines/{new_line}/switch"), &[("product_id", &program)]).await.0, 403, "no CSRF token");
        let theirs = format!("/portal/acme/plans/{adas}/lines/line_1/switch");
        assert_eq!(visitor.get(&format!("{theirs}?product_id={team}")).await.0, 404);
        assert_eq!(visitor.post(&theirs, &[("csrf_token", &token), ("product_id", &team)]).await.0, 404);
        assert_eq!(ok(app.get(&format!("/v1/contracts/{adas}")).await).await["lines"][0]["product_id"], program.as_str());
    }
}
