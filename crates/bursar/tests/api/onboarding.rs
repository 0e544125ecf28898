//! Post-purchase onboarding: a fulfilled order is welcomed at once and sent tips three days
//! later, each email once however often the sweep runs; an order refunded meanwhile gets no
//! tips.

use std::sync::Arc;

use bursar_domain::time::{Clock, ManualClock, SystemClock};

use crate::both_backends;
use crate::collections::{wait_for_template, DAY};
use crate::helpers::*;
use crate::portal::buy;
use crate::storefront::open_shop;

async fn sweep(app: &TestApp) -> usize {
    bursar_core::onboarding::send_due(app.core()).await.unwrap()
}

/// The messages of `template`: (to, text).
async fn mails(app: &TestApp, template: &str) -> Vec<(String, String)> {
    let list = ok(app.get("/v1/emails?limit=100").await).await;
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["template"] == template)
        .map(|m| {
            (
                m["to"].as_str().unwrap().to_owned(),
                m["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn order_of(receipt: &str) -> String {
    receipt
        .split("/orders/")
        .nth(1)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned()
}

both_backends! {
    /// Goal: the welcome goes out once on fulfillment, the tips once three days later; a
    /// refunded order's tips do not.
    async fn a_buyer_is_welcomed_then_sent_tips(backend: Backend) {
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        let app = TestApp::spawn_with_clock(backend, clock.clone()).await;
        let (program, _) = open_shop(&app).await;
        buy(&app, &program, "grace@example.com").await;
        let refunded = order_of(&buy(&app, &program, "ada@example.com").await);

        assert_eq!(sweep(&app).await, 2, "both welcomes are due at once");
        assert_eq!(sweep(&app).await, 0, "each once");
        wait_for_template(&app, "onboarding_welcome").await;
        let welcomes = mails(&app, "onboarding_welcome").await;
        let grace = welcomes.iter().find(|(to, _)| to == "grace@example.com").expect("Grace's welcome");
        assert!(grace.1.contains("thank you for buying Acme Studio from Acme Software") && grace.1.contains("/portal/acme"), "{}", grace.1);

        ok(app.post_once(&format!("/v1/orders/{refunded}/refunds"), json!({})).await).await;
        clock.advance_seconds(2 * DAY);
        assert_eq!(sweep(&app).await, 0, "the tips wait three days");
        clock.advance_seconds(DAY + 60);
        assert_eq!(sweep(&app).await, 1, "Grace's tips; the refunded order's are dropped");
        assert_eq!(sweep(&app).await, 0);
        wait_for_template(&app, "onboarding_tips").await;
        let tips = mails(&app, "onboarding_tips").await;
        assert_eq!(tips.len(), 1, "{tips:?}");
        assert_eq!(tips[0].0, "grace@example.com");
        assert!(tips[0].1.contains("three tips") && tips[0].1.contains("/portal/acme"), "{}", tips[0].1);
        assert_eq!(mails(&app, "onboarding_welcome").await.len(), 2);
    }
}
