//! The portal's account page says what collections know: a past-due account whose card a
//! retry declined is told "your card was declined — update it", with the overdue balance; an
//! account in good standing is told nothing.

use std::sync::Arc;

use bursar_domain::time::{Clock, ManualClock, SystemClock};

use crate::both_backends;
use crate::collections::{overdue_invoice, status, step, sweep, DAY};
use crate::helpers::*;
use crate::portal::sign_in;
use crate::storefront::{open_shop, Visitor};

both_backends! {
    /// Goal: a customer whose dunning retry was declined sees the decline and the overdue
    /// balance on the account page, in both languages; once paid (in good standing), the page
    /// says nothing of it.
    async fn a_declined_card_is_announced_in_the_portal(backend: Backend) {
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        let app = TestApp::spawn_with_clock(backend, clock.clone()).await;
        open_shop(&app).await;
        ok(app.post("/v1/dunning_policies", json!({"name": "Cards", "default": true, "steps": [
            step(1, json!([{"type": "retry_payment"}])),
        ]})).await).await;
        let grace = id(&ok(app.post("/v1/customers", json!({"name": "Grace", "email": "grace@example.com"})).await).await);
        save_card(&app, &grace, "insufficient_funds").await;
        let invoice = overdue_invoice(&app, &grace, 2_500).await;

        clock.advance_seconds(DAY + 60);
        sweep(&app).await;
        let late = status(&app, &grace).await;
        assert_eq!(late["status"], "past_due", "{late}");
        let mut visitor = Visitor::new(&app);
        sign_in(&app, &mut visitor, "grace@example.com").await;
        let (_, home) = visitor.get("/portal/acme").await;
        assert!(home.contains("Your card was declined (insufficient_funds), and 25.00 USD is overdue."), "{home}");
        let (_, german) = visitor.client.get(app.url("/portal/acme")).header("cookie", visitor.cookie_header()).header("accept-language", "de").send().await.unwrap().text().await.map(|t| ((), t)).unwrap();
        assert!(german.contains("Ihre Karte wurde abgelehnt (insufficient_funds)"), "{german}");

        ok(app.post("/v1/payments", json!({"customer_id": grace, "currency": "USD", "amount": 2_500, "method": "bank_transfer", "reference": "WIRE-1", "allocations": [{"invoice_id": invoice, "amount": 2_500}]})).await).await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while status(&app, &grace).await["status"] != "active" {
            assert!(std::time::Instant::now() < deadline, "the account never recovered");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let (_, home) = visitor.get("/portal/acme").await;
        assert!(!home.contains("notice warning"), "paid: the notice is gone: {home}");
    }
}
