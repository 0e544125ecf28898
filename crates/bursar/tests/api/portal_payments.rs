//! The portal's payment history: orders paid at checkout and payments received against
//! invoices, newest first, a page at a time without repeating or skipping one; another
//! customer's payments are not listed.

use crate::both_backends;
use crate::helpers::*;
use crate::portal::{buy, sign_in};
use crate::storefront::{open_shop, Visitor};

/// The rows of a history page: (date, paid for) of each.
fn rows(page: &str) -> Vec<String> {
    page.split("<tr>")
        .skip(2)
        .map(|row| row.split("</tr>").next().unwrap_or_default().to_owned())
        .collect()
}

both_backends! {
    /// Goal: a customer's 28 payments (an order paid at checkout, 26 payments kept as credit,
    /// one applied to an invoice) show over two pages, each once, newest first, the invoice
    /// by its number and refunds noted; Ada's order is not in Grace's history.
    async fn a_customer_sees_their_payment_history(app: TestApp) {
        let (program, _) = open_shop(&app).await;
        let receipt = buy(&app, &program, "grace@example.com").await;
        let order = receipt.split("/orders/").nth(1).unwrap().split('?').next().unwrap().to_owned();
        let grace = ok(app.get(&format!("/v1/orders/{order}")).await).await["customer_id"].as_str().unwrap().to_owned();
        ok(app.post_once(&format!("/v1/orders/{order}/refunds"), json!({"amount": 1_000})).await).await;
        for i in 0..26 {
            ok(app.post("/v1/payments", json!({"customer_id": grace, "currency": "USD", "amount": 100 + i, "method": "bank_transfer", "reference": format!("WIRE-{i}")})).await).await;
        }
        let invoice = ok(app.post("/v1/invoices", json!({"customer_id": grace, "currency": "USD", "lines": [{"description": "Support plan", "unit_amount": 4_000}]})).await).await;
        let issued = ok(app.post(&format!("/v1/invoices/{}/issue", id(&invoice)), json!({})).await).await;
        let number = issued["number"].as_str().unwrap().to_owned();
        ok(app.post("/v1/payments", json!({"customer_id": grace, "currency": "USD", "amount": 4_000, "method": "manual", "reference": "CHEQUE-1", "allocations": [{"invoice_id": id(&invoice), "amount": 4_000}]})).await).await;
        let others = buy(&app, &program, "ada@example.com").await;
        let adas = others.split("/orders/").nth(1).unwrap().split('?').next().unwrap().to_owned();

        let mut visitor = Visitor::new(&app);
        sign_in(&app, &mut visitor, "grace@example.com").await;
        let (_, home) = visitor.get("/portal/acme").await;
        assert!(home.contains("/portal/acme/payments"), "{home}");
        let (status, first) = visitor.get("/portal/acme/payments").await;
        assert_eq!(status, 200, "{first}");
        let first_rows = rows(&first);
        assert_eq!(first_rows.len(), 25, "{first}");
        assert!(first_rows[0].contains(&format!("Invoice {number}")) && first_rows[0].contains("40.00 USD"), "newest first: {}", first_rows[0]);
        let older = first.split("/portal/acme/payments?before=").nth(1).unwrap().split('"').next().unwrap().replace("&#x2c;", ",").replace("&#44;", ",");
        let (status, second) = visitor.get(&format!("/portal/acme/payments?before={older}")).await;
        assert_eq!(status, 200, "{second}");
        let second_rows = rows(&second);
        assert_eq!(second_rows.len(), 3, "{second}");
        assert!(!second.contains("payments?before="), "the last page: {second}");
        let all: Vec<&String> = first_rows.iter().chain(&second_rows).collect();
        for i in 0..26 {
            let amount = format!("{}.{:02} USD", (100 + i) / 100, (100 + i) % 100);
            assert_eq!(all.iter().filter(|r| r.contains(&format!(">{amount}<"))).count(), 1, "{amount} once");
        }
        let order_rows: Vec<&&String> = all.iter().filter(|r| r.contains(&format!("Order {order}"))).collect();
        assert_eq!(order_rows.len(), 1);
        assert!(order_rows[0].contains("10.00 USD refunded"), "{}", order_rows[0]);
        assert!(all.iter().all(|r| !r.contains(&adas)), "another customer's order is not listed");
        assert_eq!(all.iter().filter(|r| r.contains("Account credit")).count(), 26);
    }
}
