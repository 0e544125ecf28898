//! A company's contacts in the portal: an address a company lists among its contacts signs in
//! (even without being a customer) and sees the orders and invoices of the company's
//! customers, not their licenses' downloads, and nothing of other customers. Taking the
//! address off the company's contacts takes the access away at once.

use crate::both_backends;
use crate::helpers::*;
use crate::portal::{buy, sign_in};
use crate::storefront::{field, open_shop, Visitor};

fn order_of(receipt: &str) -> String {
    let tail = receipt.split("/orders/").nth(1).unwrap();
    tail.split('?').next().unwrap().to_owned()
}

both_backends! {
    /// Goal: the billing contact of Hopper Labs sees Grace's order and invoice (Grace works
    /// there) with the company named, may open and pay the invoice, may not fetch Grace's
    /// downloads, and never sees Ada's order; once off the contacts list, sees none of it.
    async fn a_company_contact_sees_the_company_orders_and_invoices(app: TestApp) {
        let (program, _) = open_shop(&app).await;
        let grace_order = order_of(&buy(&app, &program, "grace@hopper.example").await);
        let ada_order = order_of(&buy(&app, &program, "ada@example.com").await);
        let grace = ok(app.get(&format!("/v1/orders/{grace_order}")).await).await["customer_id"].as_str().unwrap().to_owned();
        let company = id(&ok(app.post("/v1/companies", json!({"name": "Hopper Labs", "contacts": [
            {"name": "Accounts", "email": "Accounts@Hopper.example", "role": "billing"}]})).await).await);
        ok(app.post(&format!("/v1/customers/{grace}"), json!({"company_id": company})).await).await;
        let invoice = ok(app.post("/v1/invoices", json!({"customer_id": grace, "currency": "USD", "lines": [{"description": "Support plan", "unit_amount": 4_000}]})).await).await;
        let issued = ok(app.post(&format!("/v1/invoices/{}/issue", id(&invoice)), json!({})).await).await;
        let number = issued["number"].as_str().unwrap().to_owned();

        let mut accounts = Visitor::new(&app);
        sign_in(&app, &mut accounts, "accounts@hopper.example").await;
        let (status, home) = accounts.get("/portal/acme").await;
        assert_eq!(status, 200, "{home}");
        assert!(home.contains("orders and invoices of Hopper Labs"), "{home}");
        assert!(home.contains(&grace_order) && home.contains(&number), "{home}");
        assert!(!home.contains(&ada_order), "another customer's order is not listed");

        let (status, order) = accounts.get(&format!("/portal/acme/orders/{grace_order}")).await;
        assert_eq!(status, 200, "{order}");
        assert!(order.contains("Another contact of your company placed this order"), "{order}");
        assert!(!order.contains("/downloads\""), "no download form for a colleague's order: {order}");
        let token = field(&home, "csrf_token");
        let (status, _) = accounts.post(&format!("/portal/acme/orders/{grace_order}/downloads"), &[("csrf_token", &token)]).await;
        assert_eq!(status, 404, "a colleague's downloads stay theirs");
        let (status, _) = accounts.get(&format!("/portal/acme/orders/{ada_order}")).await;
        assert_eq!(status, 404);
        let (status, pdf) = accounts.get(&format!("/portal/acme/invoices/{}/pdf", id(&invoice))).await;
        assert_eq!(status, 200);
        assert!(pdf.starts_with("%PDF"), "the invoice's PDF");
        let (status, to) = accounts.post(&format!("/portal/acme/invoices/{}/pay", id(&invoice)), &[("csrf_token", &token)]).await;
        assert_eq!(status, 303, "the company's invoice can be paid: {to}");

        ok(app.post(&format!("/v1/companies/{company}"), json!({"contacts": [
            {"name": "Grace", "email": "grace@hopper.example"}]})).await).await;
        let (_, home) = accounts.get("/portal/acme").await;
        assert!(!home.contains(&grace_order) && !home.contains("Hopper Labs"), "access ends with the contact: {home}");
        let (status, _) = accounts.get(&format!("/portal/acme/orders/{grace_order}")).await;
        assert_eq!(status, 404);
    }
}
