//! The audit log: every commerce-critical action, hash-chained, verified by `bursar audit verify`.

use bursar_store::Tx;

use crate::both_backends;
use crate::helpers::*;

/// Runs `bursar audit verify` against the app's database: (success, output).
fn audit_verify(app: &TestApp) -> (bool, String) {
    cli(app, &["audit", "verify"])
}

async fn sql(app: &TestApp, statement: &'static str) {
    app.db()
        .write(move |tx: &mut Tx| Box::pin(async move { tx.execute(statement, &[]).await }))
        .await
        .unwrap();
}

both_backends! {
    /// Goal: audited actions are logged with who, what, when, the request, and before/after;
    /// secrets never appear; `bursar audit verify` passes on the untouched log and fails,
    /// naming the entry, after a row is altered — and when entries are removed from the end.
    async fn the_audit_log_is_a_verifiable_chain(app: TestApp) {
        let customer = json_body(app.post("/v1/customers", json!({"name": "Ada"})).await).await;
        let id = customer["id"].as_str().unwrap().to_owned();
        app.post(&format!("/v1/customers/{id}"), json!({"name": "Ada L."})).await;
        let endpoint = json_body(app.post("/v1/webhook_endpoints", json!({"url": "http://127.0.0.1:9/hook"})).await).await;
        let endpoint_id = endpoint["id"].as_str().unwrap();
        let rotated = json_body(app.post(&format!("/v1/webhook_endpoints/{endpoint_id}/rotate_secret"), json!({})).await).await;

        let log = json_body(app.get("/v1/audit_log").await).await;
        let text = log.to_string();
        assert!(!text.contains(endpoint["secret"].as_str().unwrap()) && !text.contains(rotated["secret"].as_str().unwrap()), "secrets stay out of the log");
        let entries = log["data"].as_array().unwrap();
        let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["webhook_endpoint.secret_rotated", "webhook_endpoint.created", "customer.updated", "customer.created", "api_key.created"]);
        let update = &entries[2];
        assert_eq!(update["target_type"], "customer");
        assert_eq!(update["target_id"], id.as_str());
        assert_eq!(update["before"], json!({"name": "Ada"}));
        assert_eq!(update["after"]["name"], "Ada L.");
        assert!(update["actor"].as_str().unwrap().starts_with("key_"));
        assert!(update["request_id"].as_str().unwrap().starts_with("req_"));
        assert_eq!(entries[4]["actor"], "system:bootstrap");
        // One chain per object: the customer's update links to its creation.
        assert_eq!(update["chain"], format!("customer:{id}"));
        assert_eq!(update["index"], 2);
        assert_eq!(update["previous_hash"], entries[3]["hash"]);
        assert_eq!(entries[0]["previous_hash"], entries[1]["hash"], "the endpoint's rotation follows its creation");
        let page = json_body(app.get("/v1/audit_log?limit=2").await).await;
        assert_eq!(page["has_more"], true);
        let before = page["data"][1]["position"].as_i64().unwrap();
        let older = json_body(app.get(&format!("/v1/audit_log?before={before}")).await).await;
        assert_eq!(older["data"].as_array().unwrap().len(), 3);

        let (ok, output) = audit_verify(&app);
        assert!(ok, "{output}");
        assert!(output.contains("checked 5 entries in 3 chains"), "{output}");

        // Someone with database access rewrites history.
        let created = entries[3]["id"].as_str().unwrap().to_owned();
        sql(&app, "update audit_entry set after_state = replace(after_state, 'Ada', 'Eve') where action = 'customer.created'").await;
        let (ok, output) = audit_verify(&app);
        assert!(!ok, "{output}");
        assert!(output.contains(&created) && output.contains("altered"), "{output}");

        // ... or removes the latest entries.
        sql(&app, "update audit_entry set after_state = replace(after_state, 'Eve', 'Ada') where action = 'customer.created'").await;
        assert!(audit_verify(&app).0);
        sql(&app, "delete from audit_entry where action = 'webhook_endpoint.secret_rotated'").await;
        let (ok, output) = audit_verify(&app);
        assert!(!ok && output.contains("removed from the end"), "{output}");
    }
}

both_backends! {
    /// Goal: every money movement reaches the audit log: a payment received, its allocation to
    /// an invoice, a credit note, and ledger transfers (one entry per request, naming them);
    /// the chains verify.
    async fn money_movements_are_audited(app: TestApp) {
        let customer = json_body(app.post("/v1/customers", json!({"name": "Audited"})).await).await["id"].as_str().unwrap().to_owned();
        let invoice = json_body(app.post("/v1/invoices", json!({"customer_id": customer, "currency": "EUR", "lines": [{"description": "Work", "unit_amount": 10_000}]})).await).await["id"].as_str().unwrap().to_owned();
        assert_eq!(app.post(&format!("/v1/invoices/{invoice}/issue"), json!({})).await.status(), 200);
        let paid = app.post("/v1/payments", json!({"reference": "audit-1", "customer_id": customer, "currency": "EUR", "amount": 6_000, "method": "bank_transfer"})).await;
        assert_eq!(paid.status(), 200);
        let credited = app.post_once("/v1/credit_notes", json!({"invoice_id": invoice, "amount": 1_000, "reason": "goodwill"})).await;
        assert_eq!(credited.status(), 200, "{}", credited.text().await.unwrap());
        for account in ["a", "b"] {
            assert_eq!(app.post("/v1/ledger/accounts", json!({"id": account, "currency": "EUR"})).await.status(), 200);
        }
        let transfer = app.post("/v1/ledger/transfers", json!({"id": "audited-1", "debit_account_id": "a", "credit_account_id": "b", "amount": 5})).await;
        assert_eq!(transfer.status(), 200);
        let entries = json_body(app.get("/v1/audit_log?limit=100").await).await;
        let actions: Vec<&str> = entries["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        for action in ["payment.received", "invoice.payment_applied", "credit_note.created", "ledger.transfers_applied"] {
            assert!(actions.contains(&action), "{action} missing from {actions:?}");
        }
        let ledger = entries["data"].as_array().unwrap().iter().find(|e| e["action"] == "ledger.transfers_applied").unwrap();
        assert!(ledger["after"].to_string().contains("audited-1"), "the entry names its transfers: {ledger}");
        let (ok, output) = audit_verify(&app);
        assert!(ok, "{output}");
    }
}
