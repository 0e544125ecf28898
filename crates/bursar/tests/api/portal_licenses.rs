//! Licenses in the portal: a buyer frees a machine's activation (another machine then takes
//! its place) and replaces a lost key (the old one revoked, a new one emailed), each once
//! however often the form is sent; another customer's session reaches neither.

use crate::both_backends;
use crate::helpers::*;
use crate::portal::{buy, sign_in};
use crate::storefront::{checkout_one, field, open_shop, Visitor};

both_backends! {
    /// Goal: Grace's license has its two machines activated; she deactivates the laptop from
    /// the order's page, so a server activates in its place; she then asks for a new key: the
    /// old one is revoked and a new one is emailed; forms sent twice act once; Ada gets 404.
    async fn a_buyer_deactivates_a_machine_and_replaces_a_key(app: TestApp) {
        let (program, _) = open_shop(&app).await;
        // Paid without opening the receipt, so the key is still to be shown (here, once).
        let mut buyer = Visitor::new(&app);
        let (_, pay_page) = checkout_one(&mut buyer, &program, "grace@example.com").await;
        let (_, page) = buyer.get(&pay_page).await;
        let (_, receipt) = buyer.post(&format!("{pay_page}/pay"), &[("csrf_token", &form_token(&page))]).await;
        let order = receipt.split("/orders/").nth(1).unwrap().split('?').next().unwrap().to_owned();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let revealed = loop {
            let revealed = ok(app.get(&format!("/v1/orders/{order}/licenses")).await).await;
            if !revealed["data"].as_array().unwrap().is_empty() {
                break revealed;
            }
            assert!(std::time::Instant::now() < deadline, "no license for {order}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        let license = id(&revealed["data"][0]);
        let licenses = ok(app.get(&format!("/v1/licenses?customer_id={}", revealed["data"][0]["customer_id"].as_str().unwrap())).await).await;
        assert_eq!(licenses["data"].as_array().unwrap().len(), 1);
        let key = match revealed["data"][0]["key"].as_str() {
            Some(key) => key.to_owned(),
            None => panic!("the key is shown to the first reader: {revealed}"),
        };
        let validate = |machine: &str| app.client.post(app.url("/v1/licenses/validate")).json(&json!({"key": key, "machine_id": machine})).send();
        for machine in ["laptop", "desktop"] {
            assert_eq!(ok(validate(machine).await.unwrap()).await["code"], "valid");
        }
        assert_eq!(ok(validate("server").await.unwrap()).await["code"], "activation_limit_reached");

        let mut grace = Visitor::new(&app);
        sign_in(&app, &mut grace, "grace@example.com").await;
        let page_path = format!("/portal/acme/orders/{order}");
        let (_, page) = grace.get(&page_path).await;
        assert!(page.contains("Deactivate laptop") && page.contains("Deactivate desktop"), "{page}");
        let token = field(&page, "csrf_token");
        let deactivate = format!("/portal/acme/licenses/{license}/deactivate");
        for _ in 0..2 {
            let (status, to) = grace.post(&deactivate, &[("csrf_token", &token), ("machine_id", "laptop")]).await;
            assert_eq!((status, to.as_str()), (303, format!("{page_path}?license=deactivated").as_str()));
        }
        let (_, page) = grace.get(&format!("{page_path}?license=deactivated")).await;
        assert!(page.contains("The machine is deactivated") && !page.contains("Deactivate laptop"), "{page}");
        assert_eq!(ok(validate("server").await.unwrap()).await["code"], "valid", "the freed place is taken");
        let machines = ok(app.get(&format!("/v1/licenses/{license}")).await).await["activations"].clone();
        let machines: Vec<&str> = machines.as_array().unwrap().iter().map(|a| a["machine_id"].as_str().unwrap()).collect();
        assert_eq!(machines, ["desktop", "server"]);
        assert_eq!(grace.post(&deactivate, &[("machine_id", "desktop")]).await.0, 403, "no CSRF token");
        assert_eq!(grace.post(&deactivate, &[("csrf_token", &token)]).await.0, 400, "no machine");

        let mut ada = Visitor::new(&app);
        buy(&app, &program, "ada@example.com").await;
        sign_in(&app, &mut ada, "ada@example.com").await;
        let (_, adas) = ada.get("/portal/acme").await;
        let ada_token = field(&adas, "csrf_token");
        assert_eq!(ada.post(&deactivate, &[("csrf_token", &ada_token), ("machine_id", "desktop")]).await.0, 404);
        let replace = format!("/portal/acme/licenses/{license}/replace");
        assert_eq!(ada.post(&replace, &[("csrf_token", &ada_token)]).await.0, 404);

        for _ in 0..2 {
            let (status, to) = grace.post(&replace, &[("csrf_token", &token)]).await;
            assert_eq!((status, to.as_str()), (303, format!("{page_path}?license=replaced").as_str()));
        }
        let old = ok(app.get(&format!("/v1/licenses/{license}")).await).await;
        assert_eq!(old["status"], "revoked");
        let new = old["replaced_by"].as_str().unwrap().to_owned();
        assert_eq!(ok(app.get(&format!("/v1/licenses/{new}")).await).await["status"], "active");
        let customer = old["customer_id"].as_str().unwrap();
        let licenses = ok(app.get(&format!("/v1/licenses?customer_id={customer}")).await).await;
        assert_eq!(licenses["data"].as_array().unwrap().len(), 2, "replaced once: {licenses}");
        assert_eq!(ok(validate("desktop").await.unwrap()).await["code"], "revoked", "the old key stops working");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let emails = ok(app.get("/v1/emails").await).await;
            let sent = emails["data"].as_array().unwrap().iter().any(|e| e["to"] == "grace@example.com" && e["subject"] == "Your new license key");
            if sent {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "no new key emailed: {emails}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}
