//! Invoices: tax rates, drafts edited and previewed, issue with a gapless number per prefix
//! and year, the state machine, and numbering under concurrency.

use crate::both_backends;
use crate::helpers::*;

both_backends! {
    /// Goal: a draft is edited (lines with exclusive and inclusive tax, a discount, memo) with
    /// totals computed by hand; issuing numbers it `PREFIX-YEAR-000001` and freezes it; the
    /// state machine refuses what it must with the current state; bad input names its field.
    async fn a_draft_is_edited_then_issued_with_its_number(app: TestApp) {
        let vat = id(&ok(app.post("/v1/tax_rates", json!({"display_name": "VAT", "jurisdiction": "DE", "percentage": "19"})).await).await);
        let reduced = ok(app.post("/v1/tax_rates", json!({"display_name": "VAT reduced", "jurisdiction": "DE", "percentage": "7", "inclusive": true})).await).await;
        assert_eq!((reduced["percentage_bp"].as_u64(), reduced["inclusive"].as_bool()), (Some(700), Some(true)));
        let reduced = id(&reduced);
        expect_error(app.post("/v1/tax_rates", json!({"display_name": "X", "jurisdiction": "DE", "percentage": "7.255"})).await, 400, "parameter_invalid", Some("percentage")).await;
        expect_error(app.post("/v1/tax_rates", json!({"display_name": "X", "jurisdiction": "Germany", "percentage": "7"})).await, 400, "parameter_invalid", Some("jurisdiction")).await;
        let settings = ok(app.post("/v1/invoice_settings", json!({"number_prefix": "ACME", "payment_terms_days": 14, "issuer_name": "Acme GmbH", "issuer_address": ["Hauptstr. 1", "10115 Berlin"]})).await).await;
        assert_eq!(settings["number_prefix"], "ACME");
        expect_error(app.post("/v1/invoice_settings", json!({"number_prefix": "acme"})).await, 400, "parameter_invalid", Some("number_prefix")).await;
        let customer = id(&ok(app.post("/v1/customers", json!({"name": "Ada", "email": "ada@example.com"})).await).await);

        // 3 × 19.99 at 19 % exclusive: net 59.97, tax 11.3943 → 11.39.
        // 107.00 − 7.00 discount at 7 % inclusive: 100.00 holds net 93.46 and tax 6.54.
        let invoice = ok(app.post("/v1/invoices", json!({"customer_id": customer, "currency": "EUR", "lines": [
            {"description": "Seats", "quantity": 3, "unit_amount": 1999, "tax_rate_id": vat},
            {"description": "Handbook", "unit_amount": 10_700, "discount_amount": 700, "tax_rate_id": reduced},
        ]})).await).await;
        let invoice_id = id(&invoice);
        assert_eq!(invoice["status"], "draft");
        assert_eq!(invoice["number"], Value::Null);
        assert_eq!(invoice["payment_terms_days"], 14, "the settings' terms");
        assert_eq!(invoice["lines"][0]["tax_amount"], 1139);
        assert_eq!((invoice["lines"][1]["net_amount"].as_i64(), invoice["lines"][1]["tax_amount"].as_i64()), (Some(9346), Some(654)));
        assert_eq!((invoice["subtotal"].as_i64(), invoice["tax"].as_i64(), invoice["total"].as_i64()), (Some(15_343), Some(1793), Some(17_136)));
        assert_eq!(invoice["amount_due"], 17_136);
        assert_eq!(invoice["tax_totals"].as_array().unwrap().len(), 2);

        // Edited: a line added and removed, the memo set.
        let added = ok(app.post(&format!("/v1/invoices/{invoice_id}/lines"), json!({"description": "Shipping", "quantity": 2, "unit_amount": 250})).await).await;
        assert_eq!(added["total"], 17_636);
        let line = id(&added["lines"][2]);
        let removed = ok(app.post(&format!("/v1/invoices/{invoice_id}/lines/{line}/remove"), json!({})).await).await;
        assert_eq!(removed["total"], 17_136);
        expect_error(app.post(&format!("/v1/invoices/{invoice_id}/lines/il_nope/remove"), json!({})).await, 404, "resource_missing", Some("line_id")).await;
        ok(app.post(&format!("/v1/invoices/{invoice_id}"), json!({"memo": "Thank you"})).await).await;

        // Issued: numbered, dated, frozen.
        let issued = ok(app.post(&format!("/v1/invoices/{invoice_id}/issue"), json!({})).await).await;
        let year = &issued["issued_at"].as_str().unwrap()[..4];
        assert_eq!(issued["number"], format!("ACME-{year}-000001"));
        let issued_at = bursar_domain::time::Timestamp::parse_rfc3339(issued["issued_at"].as_str().unwrap()).unwrap();
        assert_eq!(issued["due_at"], issued_at.plus_seconds(14 * 86_400).to_rfc3339());
        assert_eq!(issued["memo"], "Thank you");
        let refused = expect_error(app.post(&format!("/v1/invoices/{invoice_id}/lines"), json!({"description": "Late", "unit_amount": 100})).await, 409, "invoice_not_draft", None).await;
        assert_eq!(refused["error"]["current_state"], "issued");
        expect_error(app.post(&format!("/v1/invoices/{invoice_id}/issue"), json!({})).await, 409, "invoice_state_invalid", None).await;

        // The next one is 000002; a failed issue (no lines) takes no number.
        let empty = id(&ok(app.post("/v1/invoices", json!({"customer_id": customer, "currency": "EUR"})).await).await);
        expect_error(app.post(&format!("/v1/invoices/{empty}/issue"), json!({})).await, 400, "invoice_empty", Some("lines")).await;
        let second = id(&ok(app.post("/v1/invoices", json!({"customer_id": customer, "currency": "EUR", "lines": [{"description": "Setup", "unit_amount": 5000}]})).await).await);
        let second = ok(app.post(&format!("/v1/invoices/{second}/issue"), json!({})).await).await;
        assert_eq!(second["number"], format!("ACME-{year}-000002"));

        // Void keeps the number and owes nothing; uncollectible; void is final.
        let voided = ok(app.post(&format!("/v1/invoices/{invoice_id}/void"), json!({})).await).await;
        assert_eq!((voided["status"].as_str(), voided["amount_due"].as_i64()), (Some("void"), Some(0)));
        assert_eq!(voided["number"], format!("ACME-{year}-000001"));
        let again = expect_error(app.post(&format!("/v1/invoices/{invoice_id}/void"), json!({})).await, 409, "invoice_state_invalid", None).await;
        assert_eq!(again["error"]["current_state"], "void");
        let written_off = ok(app.post(&format!("/v1/invoices/{}/mark_uncollectible", id(&second)), json!({})).await).await;
        assert_eq!(written_off["status"], "uncollectible");

        // Bad input names its field and writes nothing.
        let before = ok(app.get("/v1/invoices").await).await["data"].as_array().unwrap().len();
        expect_error(app.post("/v1/invoices", json!({"customer_id": "cus_01jz0000000000000000000000", "currency": "EUR"})).await, 404, "resource_missing", Some("customer_id")).await;
        expect_error(app.post("/v1/invoices", json!({"customer_id": customer, "currency": "EUR", "lines": [{"description": "x", "unit_amount": 100, "tax_rate_id": "txr_01jz0000000000000000000000"}]})).await, 404, "resource_missing", Some("lines[0].tax_rate_id")).await;
        expect_error(app.post("/v1/invoices", json!({"customer_id": customer, "currency": "EUR", "lines": [{"description": "x", "unit_amount": 100, "discount_amount": 101}]})).await, 400, "parameter_invalid", Some("lines[0].discount_amount")).await;
        expect_error(app.post("/v1/invoices", json!({"customer_id": customer, "currency": "EURO"})).await, 400, "parameter_invalid", Some("currency")).await;
        expect_error(app.post("/v1/invoices", json!({"customer_id": customer, "currency": "EUR", "payment_terms_days": 400})).await, 400, "parameter_invalid", Some("payment_terms_days")).await;
        assert_eq!(ok(app.get("/v1/invoices").await).await["data"].as_array().unwrap().len(), before);
        let timeline: Vec<String> = ok(app.get(&format!("/v1/invoices/{invoice_id}")).await).await["lines"].as_array().unwrap().iter().map(|l| l["description"].as_str().unwrap().to_owned()).collect();
        assert_eq!(timeline, ["Seats", "Handbook"]);
    }
}

both_backends! {
    /// Goal: invoices issued at once from many requests get consecutive numbers, each once.
    async fn concurrent_issues_number_without_gaps(app: TestApp) {
        let customer = id(&ok(app.post("/v1/customers", json!({"name": "Bo"})).await).await);
        let mut drafts = Vec::new();
        for n in 0..24 {
            drafts.push(id(&ok(app.post("/v1/invoices", json!({"customer_id": customer, "currency": "USD", "lines": [{"description": format!("Item {n}"), "unit_amount": 100 + n}]})).await).await));
        }
        let paths: Vec<String> = drafts.iter().map(|d| format!("/v1/invoices/{d}/issue")).collect();
        let issued = futures::future::join_all(paths.iter().map(|p| app.post(p, json!({})))).await;
        let mut numbers = Vec::new();
        for response in issued {
            numbers.push(ok(response).await["number"].as_str().unwrap().to_owned());
        }
        numbers.sort();
        let year = &numbers[0][4..8];
        let expected: Vec<String> = (1..=24).map(|n| format!("INV-{year}-{n:06}")).collect();
        assert_eq!(numbers, expected);
    }
}

/// Posted balances of an invoicing ledger account: (debits, credits).
async fn balances(app: &TestApp, account: &str) -> (i64, i64) {
    ledger_balances(app, &format!("commerce:{account}:EUR")).await
}

both_backends! {
    /// Goal: payments are ledger transfers (cash → customer credit → receivable), split across
    /// invoices by hand or oldest first, partial payments leave amounts due, an overpayment stays
    /// as credit and is applied later, a write-off and a late payment balance out; the books
    /// balance at every step.
    async fn payments_allocate_across_invoices_through_the_ledger(app: TestApp) {
        let customer = id(&ok(app.post("/v1/customers", json!({"name": "Cy"})).await).await);
        let vat = id(&ok(app.post("/v1/tax_rates", json!({"display_name": "VAT", "jurisdiction": "FR", "percentage": "20"})).await).await);
        let invoice = |amount: i64, tax: bool| {
            let mut line = json!({"description": "Service", "unit_amount": amount});
            if tax {
                line["tax_rate_id"] = json!(vat);
            }
            app.post("/v1/invoices", json!({"customer_id": customer, "currency": "EUR", "lines": [line]}))
        };
        let first = id(&ok(invoice(10_000, true).await).await);
        let second = id(&ok(invoice(5_000, false).await).await);
        ok(app.post(&format!("/v1/invoices/{first}/issue"), json!({})).await).await;
        ok(app.post(&format!("/v1/invoices/{second}/issue"), json!({})).await).await;
        let receivable = format!("receivable:{customer}");
        let credit = format!("customer_credit:{customer}");
        assert_eq!(balances(&app, &receivable).await, (17_000, 0), "12,000 + 5,000 owed");
        assert_eq!(balances(&app, "revenue").await, (0, 15_000));
        assert_eq!(balances(&app, "tax_payable").await, (0, 2_000));

        // A partial payment, allocated by hand.
        let paid = ok(app.post("/v1/payments", json!({"customer_id": customer, "currency": "EUR", "amount": 6_000, "method": "bank_transfer", "reference": "SEPA-1", "allocations": [{"invoice_id": first, "amount": 6_000}]})).await).await;
        assert_eq!(paid["unallocated"], 0);
        let after = ok(app.get(&format!("/v1/invoices/{first}")).await).await;
        assert_eq!((after["status"].as_str(), after["amount_paid"].as_i64(), after["amount_due"].as_i64()), (Some("issued"), Some(6_000), Some(6_000)));
        assert_eq!(balances(&app, &receivable).await, (17_000, 6_000));

        // An overpayment without allocations: the oldest invoice first, then the next, the rest
        // kept as credit.
        let over = ok(app.post("/v1/payments", json!({"reference": "ref-invoices-159", "customer_id": customer, "currency": "EUR", "amount": 12_000, "method": "bank_transfer"})).await).await;
        assert_eq!(over["allocations"].as_array().unwrap().len(), 2);
        assert_eq!(over["unallocated"], 1_000);
        for invoice in [&first, &second] {
            let paid = ok(app.get(&format!("/v1/invoices/{invoice}")).await).await;
            assert_eq!((paid["status"].as_str(), paid["amount_due"].as_i64()), (Some("paid"), Some(0)), "{paid}");
        }
        assert_eq!(balances(&app, &receivable).await, (17_000, 17_000));
        assert_eq!(balances(&app, &credit).await, (17_000, 18_000), "1,000 of credit left");
        assert_eq!(balances(&app, "cash:bank_transfer").await, (18_000, 0));

        // The credit pays part of the next invoice; the rest is written off, then paid late.
        let third = id(&ok(invoice(2_500, false).await).await);
        ok(app.post(&format!("/v1/invoices/{third}/issue"), json!({})).await).await;
        let credited = ok(app.post(&format!("/v1/invoices/{third}/apply_credit"), json!({})).await).await;
        assert_eq!((credited["amount_paid"].as_i64(), credited["amount_due"].as_i64()), (Some(1_000), Some(1_500)));
        expect_error(app.post(&format!("/v1/invoices/{third}/void"), json!({})).await, 409, "invoice_partially_paid", None).await;
        ok(app.post(&format!("/v1/invoices/{third}/mark_uncollectible"), json!({})).await).await;
        assert_eq!(balances(&app, "bad_debt").await, (1_500, 0));
        ok(app.post("/v1/payments", json!({"reference": "ref-invoices-178", "customer_id": customer, "currency": "EUR", "amount": 1_500, "method": "manual", "allocations": [{"invoice_id": third, "amount": 1_500}]})).await).await;
        assert_eq!(ok(app.get(&format!("/v1/invoices/{third}")).await).await["status"], "paid");
        assert_eq!(balances(&app, "bad_debt").await, (1_500, 1_500), "the write-off reversed");
        assert_eq!(balances(&app, &receivable).await, (19_500 + 1_500, 21_000));

        // Refusals: more than owed, a draft, another customer's invoice; nothing written.
        let draft = id(&ok(invoice(700, false).await).await);
        let payments_before = ok(app.get("/v1/payments").await).await["data"].as_array().unwrap().len();
        expect_error(app.post("/v1/payments", json!({"reference": "ref-invoices-186", "customer_id": customer, "currency": "EUR", "amount": 800, "method": "manual", "allocations": [{"invoice_id": draft, "amount": 700}]})).await, 409, "invoice_not_payable", None).await;
        ok(app.post(&format!("/v1/invoices/{draft}/issue"), json!({})).await).await;
        expect_error(app.post("/v1/payments", json!({"reference": "ref-invoices-188", "customer_id": customer, "currency": "EUR", "amount": 800, "method": "manual", "allocations": [{"invoice_id": draft, "amount": 800}]})).await, 400, "parameter_invalid", Some("allocations[0].amount")).await;
        expect_error(app.post("/v1/payments", json!({"reference": "ref-invoices-189", "customer_id": customer, "currency": "EUR", "amount": 0, "method": "manual"})).await, 400, "parameter_invalid", Some("amount")).await;
        assert_eq!(ok(app.get("/v1/payments").await).await["data"].as_array().unwrap().len(), payments_before);
        assert_eq!(balances(&app, "cash:manual").await, (1_500, 0), "refused payments post nothing");

        // Written off, then voided: the write-off folds into the issue's reversal.
        ok(app.post(&format!("/v1/invoices/{draft}/mark_uncollectible"), json!({})).await).await;
        ok(app.post(&format!("/v1/invoices/{draft}/void"), json!({})).await).await;
        assert_eq!(balances(&app, "bad_debt").await, (2_200, 2_200));
        assert_eq!(balances(&app, "revenue").await, (700, 15_000 + 2_500 + 700));
    }
}

both_backends! {
/// Goal: the billing status follows the invoices through one state machine — pending → active
/// on the first invoice, past_due when it is late, collections after 30 days, back to active
/// when paid, closed by hand — each change an event with its reason; entitlements follow.
async fn billing_status_follows_the_invoices(backend: Backend) {
    use bursar_domain::time::{Clock, ManualClock, SystemClock};
    let clock = std::sync::Arc::new(ManualClock::new(SystemClock.now()));
    let app = TestApp::spawn_with_clock(backend, clock.clone()).await;
    let state = app.core().clone();
    let customer = id(&ok(app
        .post(
            "/v1/customers",
            json!({"name": "Dee", "email": "dee@example.com"}),
        )
        .await)
    .await);
    let status_path = format!("/v1/customers/{customer}/billing_status");
    let entitlements_path = format!("/v1/customers/{customer}/entitlements");
    assert_eq!(ok(app.get(&status_path).await).await["status"], "pending");

    // Entitlements name the products of active contracts.
    let product = id(&ok(app
        .post(
            "/v1/products",
            json!({"name": "Platform", "kind": "service"}),
        )
        .await)
    .await);
    let start = bursar_domain::time::Timestamp::from_unix_micros(
        clock.now().unix_micros() - 86_400_000_000,
    )
    .to_rfc3339();
    let contract = id(&ok(app.post("/v1/contracts", json!({"buyer_id": customer, "currency": "EUR", "term": {"start": start}, "lines": [{"product_id": product, "unit_amount": 5000}]})).await).await);
    ok(app
        .post(
            &format!("/v1/contracts/{contract}/operations"),
            json!({"type": "activate"}),
        )
        .await)
    .await;
    let granted = ok(app.get(&entitlements_path).await).await;
    assert_eq!(
        (granted["access"].as_str(), granted["features"][0].as_str()),
        (Some("full"), Some(product.as_str()))
    );

    let invoice = id(&ok(app.post("/v1/invoices", json!({"customer_id": customer, "currency": "EUR", "payment_terms_days": 14, "lines": [{"description": "Platform", "unit_amount": 5000}]})).await).await);
    ok(app
        .post(&format!("/v1/invoices/{invoice}/issue"), json!({}))
        .await)
    .await;
    let active = ok(app.get(&status_path).await).await;
    assert_eq!(
        (active["status"].as_str(), active["reason"].as_str()),
        (Some("active"), Some("first_invoice_issued"))
    );
    let issued_mail = wait_for_email(&app, "invoice_issued").await;
    assert!(
        issued_mail["subject"]
            .as_str()
            .unwrap()
            .starts_with("Invoice INV-"),
        "{issued_mail}"
    );
    assert!(
        issued_mail["text"].as_str().unwrap().contains("50.00 EUR"),
        "{issued_mail}"
    );

    // Late: past due after the due date (still entitled: a grace period), collections after 30
    // days (limited).
    clock.advance_seconds(13 * 86_400);
    bursar_core::collections::sweep(&state).await.unwrap();
    assert_eq!(
        ok(app.get(&status_path).await).await["status"],
        "active",
        "not due yet"
    );
    wait_for_email(&app, "invoice_due_soon").await;
    clock.advance_seconds(2 * 86_400);
    assert_eq!(
        bursar_core::collections::sweep(&state)
            .await
            .unwrap(),
        1
    );
    let late = ok(app.get(&status_path).await).await;
    assert_eq!(
        (late["status"].as_str(), late["reason"].as_str()),
        (Some("past_due"), Some("invoice_overdue"))
    );
    let overdue_mail = wait_for_email(&app, "invoice_overdue").await;
    assert!(
        overdue_mail["subject"]
            .as_str()
            .unwrap()
            .ends_with("is overdue"),
        "{overdue_mail}"
    );
    bursar_core::collections::sweep(&state)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let reminders = ok(app.get("/v1/emails").await).await["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["template"] == "invoice_overdue")
        .count();
    assert_eq!(reminders, 1, "each reminder once");
    assert_eq!(
        ok(app.get(&entitlements_path).await).await["access"],
        "full"
    );
    clock.advance_seconds(30 * 86_400);
    bursar_core::collections::sweep(&state)
        .await
        .unwrap();
    let collections = ok(app.get(&status_path).await).await;
    assert_eq!(
        (
            collections["status"].as_str(),
            collections["reason"].as_str()
        ),
        (Some("collections"), Some("handed_to_collections"))
    );
    let limited = ok(app.get(&entitlements_path).await).await;
    assert_eq!(
        (
            limited["access"].as_str(),
            limited["features"].as_array().unwrap().len()
        ),
        (Some("limited"), 0)
    );

    // Paid (in two parts): active again.
    ok(app.post("/v1/payments", json!({"reference": "ref-invoices-338", "customer_id": customer, "currency": "EUR", "amount": 2000, "method": "bank_transfer"})).await).await;
    assert_eq!(
        ok(app.get(&status_path).await).await["status"],
        "collections",
        "still owing"
    );
    ok(app.post("/v1/payments", json!({"reference": "ref-invoices-344", "customer_id": customer, "currency": "EUR", "amount": 3000, "method": "bank_transfer"})).await).await;
    let back = ok(app.get(&status_path).await).await;
    assert_eq!(
        (back["status"].as_str(), back["reason"].as_str()),
        (Some("active"), Some("overdue_invoices_paid"))
    );
    let path: Vec<&str> = back["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["to"].as_str().unwrap())
        .collect();
    assert_eq!(path, ["active", "past_due", "collections", "active"]);

    // Each change is an event with its reason, on the customer's timeline.
    let timeline = ok(app.get(&format!("/v1/customers/{customer}/timeline")).await).await;
    let reasons: Vec<&str> = timeline["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "billing_status.changed")
        .map(|e| e["payload"]["reason"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(reasons.len(), 4, "{timeline}");

    // Closed by hand: final, no access.
    ok(app
        .post(
            &format!("/v1/customers/{customer}/billing_status/close"),
            json!({"reason": "churned"}),
        )
        .await)
    .await;
    assert_eq!(
        ok(app.get(&entitlements_path).await).await["access"],
        "none"
    );
    expect_error(
        app.post(
            &format!("/v1/customers/{customer}/billing_status/close"),
            json!({}),
        )
        .await,
        409,
        "billing_status_closed",
        None,
    )
    .await;
}
}

both_backends! {
    /// Goal: an issued invoice's PDF is a real PDF that poppler renders to a page (`pdftoppm`)
    /// and whose text (`pdftotext`) shows the issuer, number, lines, tax, total, amount due and
    /// payment instructions, bills the customer's company at its billing address, and wraps a
    /// long description instead of cutting it.
    async fn an_invoice_renders_as_a_legible_pdf(app: TestApp) {
        ok(app.post("/v1/invoice_settings", json!({"issuer_name": "Analytical Engines Ltd", "issuer_address": ["12 St James's Square", "London SW1Y 4JH"], "issuer_tax_id": "GB123456789", "payment_instructions": "Bank transfer to IBAN GB33 BUKB 2020 1555 5555 55, reference: the invoice number."})).await).await;
        let vat = id(&ok(app.post("/v1/tax_rates", json!({"display_name": "VAT", "jurisdiction": "GB", "percentage": "20"})).await).await);
        let company = id(&ok(app.post("/v1/companies", json!({"name": "Hopper & Partners", "addresses": [
            {"kind": "shipping", "line1": "9 Dock Road", "city": "Leeds", "country": "GB"},
            {"kind": "billing", "line1": "1 Harbour Way", "line2": "Suite 4", "city": "Arlington", "state": "VA", "postal_code": "22201", "country": "US"},
        ]})).await).await);
        let customer = id(&ok(app.post("/v1/customers", json!({"name": "Grace Hopper", "email": "grace@example.com", "company_id": company})).await).await);
        let invoice = id(&ok(app.post("/v1/invoices", json!({"customer_id": customer, "currency": "GBP", "memo": "Thank you for your business.", "lines": [
            {"description": "Platform seats (November)", "quantity": 3, "unit_amount": 1999, "tax_rate_id": vat},
            {"description": "Onboarding workshop", "unit_amount": 150_000, "discount_amount": 15_000, "tax_rate_id": vat},
            {"description": LONG_DESCRIPTION, "unit_amount": 0},
        ]})).await).await);
        let issued = ok(app.post(&format!("/v1/invoices/{invoice}/issue"), json!({})).await).await;
        let number = issued["number"].as_str().unwrap().to_owned();
        ok(app.post("/v1/payments", json!({"reference": "ref-invoices-409", "customer_id": customer, "currency": "GBP", "amount": 10_000, "method": "bank_transfer"})).await).await;

        let response = app.get(&format!("/v1/invoices/{invoice}/pdf")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/pdf");
        let bytes = response.bytes().await.unwrap();
        assert!(bytes.starts_with(b"%PDF-"));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("invoice.pdf");
        std::fs::write(&file, &bytes).unwrap();
        let rendered = std::process::Command::new("pdftoppm")
            .args(["-png", "-r", "60"])
            .arg(&file)
            .arg(dir.path().join("page"))
            .output()
            .expect("pdftoppm (poppler-utils) is needed for this test");
        assert!(rendered.status.success(), "{}", String::from_utf8_lossy(&rendered.stderr));
        let png = std::fs::read(dir.path().join("page-1.png")).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 5_000, "a rendered page");
        let text = std::process::Command::new("pdftotext")
            .args(["-layout"])
            .arg(&file)
            .arg("-")
            .output()
            .expect("pdftotext (poppler-utils) is needed for this test");
        assert!(text.status.success());
        let text = String::from_utf8_lossy(&text.stdout);
        // 3 × 19.99 = 59.97 + 20 % (11.99); 1,500.00 − 150.00 = 1,350.00 + 20 % (270.00).
        for expected in [
            "Analytical Engines Ltd", "INVOICE", number.as_str(), "Grace Hopper", "grace@example.com",
            "Platform seats (November)", "Onboarding workshop", "59.97 GBP", "1350.00 GBP",
            "Subtotal (net)", "1409.97 GBP", "Tax 20.00% on 1409.97 GBP", "281.99 GBP",
            "Total", "1691.96 GBP", "Paid", "Amount due", "1591.96 GBP", "IBAN GB33",
            "Thank you for your business.", "GB123456789",
            // Billed to the customer's company at its billing address, the customer as contact.
            "Hopper & Partners", "Attn: Grace Hopper", "1 Harbour Way", "Suite 4", "22201 Arlington VA",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        assert!(!text.contains("9 Dock Road"), "the shipping address is not the billing one:\n{text}");
        // A long description wraps onto rows of its own: nothing is cut.
        assert!(!text.contains('…'), "{text}");
        let rows: Vec<&str> = text.lines().filter(|l| LONG_DESCRIPTION.split(' ').any(|w| w.len() > 6 && l.contains(w))).collect();
        assert!(rows.len() > 1, "wrapped: {rows:?}");
        let words: Vec<&str> = rows.iter().flat_map(|r| r.split_whitespace()).collect();
        for word in LONG_DESCRIPTION.split(' ') {
            assert!(words.contains(&word), "{word:?} in {rows:?}");
        }
    }
}

/// A line description too long for one row of the PDF's description column.
const LONG_DESCRIPTION: &str =
    "Included: data warehouse migration, phase two of three, with the reporting layer, \
    its dashboards and two training sessions for the finance team";

both_backends! {
    /// Goal: credit notes, numbered in their own sequence, take part or all of an issued invoice
    /// back — off the amount due first, refunding what was paid beyond it — with the tax split
    /// in the invoice's proportion and every step a balanced ledger transfer.
    async fn credit_notes_reduce_what_is_owed_or_refund(app: TestApp) {
        let customer = id(&ok(app.post("/v1/customers", json!({"name": "Eve"})).await).await);
        let vat = id(&ok(app.post("/v1/tax_rates", json!({"display_name": "VAT", "jurisdiction": "FR", "percentage": "20"})).await).await);
        let invoice = id(&ok(app.post("/v1/invoices", json!({"customer_id": customer, "currency": "EUR", "lines": [{"description": "Licence", "unit_amount": 10_000, "tax_rate_id": vat}]})).await).await);
        expect_error(app.post_once("/v1/credit_notes", json!({"invoice_id": invoice, "amount": 100})).await, 409, "invoice_not_creditable", None).await;
        ok(app.post(&format!("/v1/invoices/{invoice}/issue"), json!({})).await).await;

        // Part of it, off the amount due: 2,400 = 2,000 net + 400 tax.
        let note = ok(app.post_once("/v1/credit_notes", json!({"invoice_id": invoice, "amount": 2_400, "reason": "one seat returned"})).await).await;
        let year = &note["created_at"].as_str().unwrap()[..4];
        assert_eq!(note["number"], format!("INV-CN-{year}-000001"));
        assert_eq!((note["net_amount"].as_i64(), note["tax_amount"].as_i64(), note["refunded"].as_i64()), (Some(2_000), Some(400), Some(0)));
        let credited = ok(app.get(&format!("/v1/invoices/{invoice}")).await).await;
        assert_eq!((credited["status"].as_str(), credited["amount_credited"].as_i64(), credited["amount_due"].as_i64()), (Some("issued"), Some(2_400), Some(9_600)));
        expect_error(app.post(&format!("/v1/invoices/{invoice}/void"), json!({})).await, 409, "invoice_partially_paid", None).await;

        // Paid; then credited again: paid already, so refunded.
        ok(app.post("/v1/payments", json!({"reference": "ref-invoices-470", "customer_id": customer, "currency": "EUR", "amount": 9_600, "method": "bank_transfer"})).await).await;
        assert_eq!(ok(app.get(&format!("/v1/invoices/{invoice}")).await).await["status"], "paid");
        expect_error(app.post_once("/v1/credit_notes", json!({"invoice_id": invoice, "amount": 1_200})).await, 400, "parameter_missing", Some("refund_method")).await;
        let refund = ok(app.post_once("/v1/credit_notes", json!({"invoice_id": invoice, "amount": 1_200, "refund_method": "bank_transfer"})).await).await;
        assert_eq!(refund["number"], format!("INV-CN-{year}-000002"));
        assert_eq!((refund["reduced_due"].as_i64(), refund["refunded"].as_i64()), (Some(0), Some(1_200)));
        expect_error(app.post_once("/v1/credit_notes", json!({"invoice_id": invoice, "amount": 9_000, "refund_method": "manual"})).await, 400, "parameter_invalid", Some("amount")).await;

        // The books: revenue and tax reduced by the credits, the receivable settled, cash
        // received minus refunded.
        assert_eq!(balances(&app, "revenue").await, (3_000, 10_000));
        assert_eq!(balances(&app, "tax_payable").await, (600, 2_000));
        assert_eq!(balances(&app, &format!("receivable:{customer}")).await, (13_200, 13_200));
        assert_eq!(balances(&app, "cash:bank_transfer").await, (9_600, 1_200));
        let notes = ok(app.get(&format!("/v1/credit_notes?invoice_id={invoice}")).await).await;
        assert_eq!(notes["data"].as_array().unwrap().len(), 2);
    }
}

/// The first email of `template` in the mailbox, waiting for the relay to make it.
async fn wait_for_email(app: &TestApp, template: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let emails = ok(app.get("/v1/emails").await).await;
        if let Some(email) = emails["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["template"] == template)
        {
            return email.clone();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(15),
            "no {template} email: {emails}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

both_backends! {
    /// Goal: a billing run makes one draft invoice per active contract and period — fixed fees
    /// in advance, a minimum commitment trued up — marks the contract billed (back-dated changes
    /// into the billed period are refused), and runs again, or at once from two requests, make
    /// nothing twice; the invoice then issues and is paid like any other.
    async fn billing_runs_bill_each_contract_period_once(app: TestApp) {
        let customer = id(&ok(app.post("/v1/customers", json!({"name": "Fay"})).await).await);
        let seats = id(&ok(app.post("/v1/products", json!({"name": "Seats", "kind": "service"})).await).await);
        let support = id(&ok(app.post("/v1/products", json!({"name": "Support", "kind": "service"})).await).await);
        let start = bursar_domain::time::Timestamp::from_unix_micros(app.db().now().unix_micros() - 40 * 86_400_000_000);
        let new_contract = |buyer: String| {
            app.post("/v1/contracts", json!({"buyer_id": buyer, "currency": "EUR", "term": {"start": start.to_rfc3339()}, "billing": {"payment_terms_days": 10},
                "lines": [{"product_id": seats, "unit_amount": 5_000, "quantity": 2}, {"product_id": support, "unit_amount": 1_000, "quantity": 1}]}))
        };
        let contract = ok(new_contract(customer.clone()).await).await;
        let contract_id = id(&contract);
        let support_line = contract["lines"][1]["id"].as_str().unwrap().to_owned();
        let operations = format!("/v1/contracts/{contract_id}/operations");
        ok(app.post(&operations, json!({"type": "set_commitment", "line_id": support_line, "minimum_commitment": 3_000})).await).await;
        ok(app.post(&operations, json!({"type": "activate"})).await).await;

        let run = ok(app.post("/v1/billing_runs", json!({})).await).await;
        assert_eq!(run["invoices_created"].as_array().unwrap().len(), 1, "{run}");
        let invoice = ok(app.get(&format!("/v1/invoices/{}", run["invoices_created"][0].as_str().unwrap())).await).await;
        assert_eq!((invoice["status"].as_str(), invoice["contract_id"].as_str()), (Some("draft"), Some(contract_id.as_str())));
        assert_eq!(invoice["lines"][0]["amount"], 10_000);
        assert_eq!(invoice["lines"][0]["kind"], "fixed");
        assert!(invoice["lines"][1]["description"].as_str().unwrap().contains("minimum commitment"), "{invoice}");
        assert_eq!(invoice["lines"][1]["amount"], 3_000);
        assert_eq!(invoice["total"], 13_000);
        assert_eq!(invoice["payment_terms_days"], 10);
        let period_start = invoice["period_start"].as_str().unwrap().to_owned();

        // The contract is billed through the period's start: nothing may take effect before it.
        let billed = ok(app.get(&format!("/v1/contracts/{contract_id}")).await).await;
        assert_eq!(billed["billed_through"].as_str(), Some(period_start.as_str()));
        let backdated = bursar_domain::time::Timestamp::parse_rfc3339(&period_start).unwrap().plus_seconds(-3600).to_rfc3339();
        expect_error(app.post(&operations, json!({"type": "change_quantity", "line_id": contract["lines"][0]["id"], "quantity": 3, "effective_at": backdated})).await, 409, "period_invoiced", None).await;

        expect_error(app.post("/v1/billing_runs", json!({"as_of": "yesterday"})).await, 400, "parameter_invalid", Some("as_of")).await;
        // Again: nothing new.
        let again = ok(app.post("/v1/billing_runs", json!({})).await).await;
        assert_eq!((again["invoices_created"].as_array().unwrap().len(), again["already_billed"].as_u64()), (0, Some(1)));

        // Two runs at once, with a new contract to bill: one invoice for it.
        let other = id(&ok(app.post("/v1/customers", json!({"name": "Gus"})).await).await);
        let second = id(&ok(new_contract(other.clone()).await).await);
        ok(app.post(&format!("/v1/contracts/{second}/operations"), json!({"type": "activate"})).await).await;
        let (a, b) = tokio::join!(app.post("/v1/billing_runs", json!({})), app.post("/v1/billing_runs", json!({})));
        let (a, b) = (ok(a).await, ok(b).await);
        let made = a["invoices_created"].as_array().unwrap().len() + b["invoices_created"].as_array().unwrap().len();
        assert_eq!(made, 1, "{a} {b}");
        let theirs = ok(app.get(&format!("/v1/invoices?customer_id={other}")).await).await;
        assert_eq!(theirs["data"].as_array().unwrap().len(), 1);

        // Issued and paid like any other invoice.
        let issued = ok(app.post(&format!("/v1/invoices/{}/issue", id(&invoice)), json!({})).await).await;
        assert!(issued["number"].as_str().unwrap().starts_with("INV-"));
        ok(app.post("/v1/payments", json!({"reference": "ref-invoices-568", "customer_id": customer, "currency": "EUR", "amount": 13_000, "method": "bank_transfer"})).await).await;
        assert_eq!(ok(app.get(&format!("/v1/invoices/{}", id(&invoice))).await).await["status"], "paid");
        assert_eq!(ok(app.get(&format!("/v1/customers/{customer}/billing_status")).await).await["status"], "active");
    }
}

both_backends! {
    /// Goal: a change inside the previous period reaches the next run's invoice as a proration
    /// line (in arrears), next to the current period's fees (in advance).
    async fn a_billing_run_charges_last_periods_changes_in_arrears(app: TestApp) {
        use bursar_domain::subscription::period_of;
        use bursar_domain::time::Timestamp;
        let customer = id(&ok(app.post("/v1/customers", json!({"name": "Hal"})).await).await);
        let seats = id(&ok(app.post("/v1/products", json!({"name": "Seats", "kind": "service"})).await).await);
        let now = app.db().now();
        let (current, _) = period_of(1, now);
        let (previous, _) = period_of(1, Timestamp::from_unix_micros(current.unix_micros() - 1));
        let start = previous.plus_seconds(-5 * 86_400);
        let change = Timestamp::from_unix_micros((previous.unix_micros() + current.unix_micros()) / 2);
        let contract = ok(app.post("/v1/contracts", json!({"buyer_id": customer, "currency": "EUR", "effective_at": start.to_rfc3339(), "term": {"start": start.to_rfc3339()},
            "lines": [{"product_id": seats, "unit_amount": 3_000, "quantity": 1}]})).await).await;
        let contract_id = id(&contract);
        let operations = format!("/v1/contracts/{contract_id}/operations");
        ok(app.post(&operations, json!({"type": "activate", "effective_at": start.to_rfc3339()})).await).await;
        ok(app.post(&operations, json!({"type": "change_quantity", "line_id": contract["lines"][0]["id"], "quantity": 3, "effective_at": change.to_rfc3339()})).await).await;

        let run = ok(app.post("/v1/billing_runs", json!({})).await).await;
        let invoice = ok(app.get(&format!("/v1/invoices/{}", run["invoices_created"][0].as_str().unwrap())).await).await;
        let lines = invoice["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 2, "{invoice}");
        assert_eq!((lines[0]["kind"].as_str(), lines[0]["amount"].as_i64()), (Some("fixed"), Some(9_000)), "three seats now");
        assert_eq!(lines[1]["kind"], "proration");
        let proration = lines[1]["amount"].as_i64().unwrap();
        // Two more seats (6,000 a period) for about half of the previous period.
        assert!((2_000..=4_000).contains(&proration), "{invoice}");
        assert!(lines[1]["description"].as_str().unwrap().contains(&change.to_rfc3339()[..10]), "{invoice}");
        assert_eq!(invoice["total"], 9_000 + proration);
    }
}

both_backends! {
    /// Goal: two `bursar billing run` processes at once bill each contract once; a run killed
    /// part-way and started again leaves exactly one invoice per contract and period.
    async fn billing_runs_from_several_processes_and_after_a_kill_bill_once(app: TestApp) {
        let product = id(&ok(app.post("/v1/products", json!({"name": "Plan", "kind": "service"})).await).await);
        let start = bursar_domain::time::Timestamp::from_unix_micros(app.db().now().unix_micros() - 86_400_000_000).to_rfc3339();
        let add_contracts = |n: usize| {
            let (app, product, start) = (&app, product.clone(), start.clone());
            async move {
                for i in 0..n {
                    let customer = id(&ok(app.post("/v1/customers", json!({"name": format!("Buyer {i}")})).await).await);
                    let contract = id(&ok(app.post("/v1/contracts", json!({"buyer_id": customer, "currency": "USD", "term": {"start": start}, "lines": [{"product_id": product, "unit_amount": 1_000 + i as i64}]})).await).await);
                    ok(app.post(&format!("/v1/contracts/{contract}/operations"), json!({"type": "activate"})).await).await;
                }
            }
        };
        let billing_run = || {
            let (mut command, data) = bursar_command(&app.location, &["billing", "run"]);
            command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
            (command.spawn().unwrap(), data)
        };
        let created = |output: &std::process::Output| -> usize {
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()["run"]["invoices_created"].as_array().unwrap().len())
                .sum()
        };
        let invoices_per_contract = || async {
            let mut per: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
            let mut after = String::new();
            loop {
                let page = ok(app.get(&format!("/v1/invoices?limit=100{after}")).await).await;
                for invoice in page["data"].as_array().unwrap() {
                    *per.entry(invoice["contract_id"].as_str().unwrap().to_owned()).or_default() += 1;
                }
                if page["has_more"] != true {
                    return per;
                }
                after = format!("&starting_after={}", page["data"].as_array().unwrap().last().unwrap()["id"].as_str().unwrap());
            }
        };

        add_contracts(30).await;
        let ((first, _first_data), (second, _second_data)) = (billing_run(), billing_run());
        let (first, second) = (first.wait_with_output().unwrap(), second.wait_with_output().unwrap());
        assert_eq!(created(&first) + created(&second), 30);
        let per = invoices_per_contract().await;
        assert_eq!((per.len(), per.values().all(|n| *n == 1)), (30, true), "{per:?}");

        // Killed part-way (or before it started: either way), then run again.
        add_contracts(30).await;
        let (mut killed, _killed_data) = billing_run();
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        let _ = killed.kill();
        let _ = killed.wait();
        let (rerun, _rerun_data) = billing_run();
        let rerun = rerun.wait_with_output().unwrap();
        created(&rerun);
        let per = invoices_per_contract().await;
        assert_eq!((per.len(), per.values().all(|n| *n == 1)), (60, true), "{per:?}");
    }
}
