//! Collections through the Stripe adapter: the dunning sweep charges cards saved through
//! Stripe against a fake Stripe answering in Stripe's wire format, and the decline class of
//! each answer decides the next retry — a soft decline is retried at every retry step, a hard
//! one never again, an authentication-required one becomes a Checkout Session the customer
//! pays on.

use std::sync::Arc;

use bursar_domain::id::CustomerId;
use bursar_domain::time::{Clock, ManualClock, SystemClock};

use crate::both_backends;
use crate::collections::{
    customer, events_of, overdue_invoice, status, step, sweep, wait_for_template, DAY,
};
use crate::fake_stripe::{self, FakeStripe, Seen};
use crate::helpers::*;

const SECRET: &str = "whsec_fake_stripe_dunning";
const CHARGES: &str = "/v1/payment_intents";
const SESSIONS: &str = "/v1/checkout/sessions";

/// A customer in dunning: its id, its saved Stripe method (`pm_…`) and its overdue invoice.
struct Debtor {
    customer: String,
    method: String,
    invoice: String,
}

fn now_seconds(app: &TestApp) -> i64 {
    app.db().now().unix_micros() / 1_000_000
}

/// Saves Stripe's test card `card` for `customer` as a person on Stripe's setup page would:
/// Bursar opens a setup-mode Checkout Session, Stripe's signed `setup_intent.succeeded`
/// records the method. Returns the method's Stripe id.
async fn save_stripe_card(app: &TestApp, fake: &FakeStripe, customer: &str, card: &str) -> String {
    let path = format!("/v1/customers/{customer}/payment_method_setups");
    let setup = ok(app
        .post(&path, json!({"currency": "USD", "provider": "stripe"}))
        .await)
    .await;
    let session = setup["id"].as_str().unwrap();
    let (method, event) = fake.setup_succeeded(session, card, now_seconds(app));
    let receipt = fake_stripe::deliver(app, SECRET, &event).await;
    assert_eq!(receipt["outcome"], "applied", "{receipt}");
    method
}

/// The off-session charges the fake saw for `method`.
fn charges_of(fake: &FakeStripe, method: &str) -> Vec<Seen> {
    let charges = fake.requests(CHARGES).into_iter();
    charges
        .filter(|s| s.field("payment_method") == Some(method))
        .collect()
}

/// Each of the customer's retries: (result, class or reason, Stripe's code).
async fn retries(app: &TestApp, customer: &str) -> Vec<(String, String, String)> {
    let status = status(app, customer).await;
    let field = |r: &Value, name: &str| r[name].as_str().unwrap_or_default().to_owned();
    let retries = status["dunning"]["retries"]
        .as_array()
        .unwrap_or_else(|| panic!("{status}"));
    let detail = |r: &Value| {
        r["class"]
            .as_str()
            .or(r["reason"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    retries
        .iter()
        .map(|r| (field(r, "result"), detail(r), field(r, "code")))
        .collect()
}

fn triple(result: &str, detail: &str, code: &str) -> (String, String, String) {
    (result.to_owned(), detail.to_owned(), code.to_owned())
}

/// The `data` of the customer's events of `kind`, oldest first.
async fn events_data(app: &TestApp, customer: &str, kind: &str) -> Vec<Value> {
    events_of(app, customer)
        .await
        .into_iter()
        .filter(|e| e["type"] == kind)
        .map(|e| e["data"].clone())
        .collect()
}

/// Three customers, each with an overdue invoice and a card saved through Stripe that
/// declines soft, declines hard, or wants the customer to authenticate.
async fn debtors(app: &TestApp, fake: &FakeStripe) -> [Debtor; 3] {
    let cards = [
        ("Soft", fake_stripe::INSUFFICIENT_FUNDS, 4_000),
        ("Hard", fake_stripe::STOLEN, 5_000),
        ("Auth", fake_stripe::AUTHENTICATION_REQUIRED, 6_000),
    ];
    let mut debtors = Vec::new();
    for (name, card, amount) in cards {
        let customer = customer(app, name).await;
        let method = save_stripe_card(app, fake, &customer, card).await;
        let saved = ok(app
            .get(&format!("/v1/customers/{customer}/payment_methods"))
            .await)
        .await;
        assert_eq!(
            (
                saved["data"][0]["provider"].as_str(),
                saved["data"][0]["provider_method_id"].as_str()
            ),
            (Some("stripe"), Some(method.as_str())),
            "{saved}"
        );
        let invoice = overdue_invoice(app, &customer, amount).await;
        debtors.push(Debtor {
            customer,
            method,
            invoice,
        });
    }
    // Saved through Stripe: a Stripe customer each, and a setup-mode Checkout Session naming it.
    let setups = fake.requests(SESSIONS);
    assert_eq!((fake.requests("/v1/customers").len(), setups.len()), (3, 3));
    for (setup, debtor) in setups.iter().zip(&debtors) {
        assert_eq!(
            (
                setup.field("mode"),
                setup.field("setup_intent_data[metadata][bursar_customer_id]")
            ),
            (Some("setup"), Some(debtor.customer.as_str())),
            "{setup:?}"
        );
        assert!(
            setup.field("customer").unwrap().starts_with("cus_fake"),
            "{setup:?}"
        );
    }
    debtors.try_into().ok().unwrap()
}

/// Day 5's sweep, after a sweep that charged `debtor` and died before recording the outcome:
/// it charges under the same idempotency key with the same form, Stripe replays its answer,
/// and the retry is recorded once.
async fn sweep_replaying_a_charge(app: &TestApp, fake: &FakeStripe, debtor: &Debtor) {
    let customer = CustomerId::from_trusted(debtor.customer.clone());
    let core = app.core();
    let charged = bursar_core::collections::charge_due_retry(core, &app.workspace_id, &customer)
        .await
        .unwrap();
    let state = charged.unwrap().outcome.unwrap();
    assert_eq!(
        state.decline_code.as_deref(),
        Some("insufficient_funds"),
        "{state:?}"
    );
    sweep(app).await;
    let charges = charges_of(fake, &debtor.method);
    let [.., first, replay] = &charges[..] else {
        panic!("{charges:?}")
    };
    assert!(!first.replayed && replay.replayed, "{charges:?}");
    assert_eq!(
        (&replay.idempotency_key, &replay.form),
        (&first.idempotency_key, &first.form)
    );
    let recorded = status(app, &debtor.customer).await;
    assert_eq!(
        recorded["dunning"]["retries"].as_array().unwrap().len(),
        3,
        "recorded once: {recorded}"
    );
}

both_backends! {
/// Goal: a dunning policy retries cards saved through Stripe. The soft decline
/// (`insufficient_funds`) is charged at every retry step — one PaymentIntent per step, under a
/// key of its own that a replayed sweep reuses — until its funds arrive and the charge pays the
/// invoice; the hard decline (`stolen_card`) is charged once, never again, and the customer is
/// asked for a new method; the authentication-required card is charged once, and a Stripe
/// Checkout Session opened as the invoice's payment link is where the customer pays.
async fn stripe_declines_decide_what_a_dunning_retry_does(backend: Backend) {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let app = TestApp::spawn_with_clock(backend, clock.clone()).await;
    let fake = FakeStripe::start().await;
    ok(app.post("/v1/payment_providers", json!({"kind": "stripe", "secret_key": "sk_test_51Dunning", "webhook_secrets": [SECRET], "api_base": fake.url})).await).await;
    let retry = || json!([{"type": "retry_payment"}]);
    ok(app.post("/v1/dunning_policies", json!({"name": "Stripe retries", "steps": [step(1, retry()), step(3, retry()), step(5, retry()), step(8, retry())]})).await).await;
    let [soft, hard, auth] = debtors(&app, &fake).await;

    // Day 1: every card is charged once.
    clock.advance_seconds(DAY + 60);
    sweep(&app).await;
    for debtor in [&soft, &hard, &auth] {
        assert_eq!(charges_of(&fake, &debtor.method).len(), 1, "{}", debtor.customer);
    }
    let link = payment_link_opened(&app, &fake, &auth).await;
    wait_for_template(&app, "dunning_update_payment_method").await;

    // Days 2–7: the soft decline is charged again at days 3 and 5 (day 5's sweep replayed);
    // the customer who must authenticate pays on the link at day 6.
    for day in 2..=7 {
        clock.advance_seconds(DAY);
        if day == 6 {
            pay_the_link(&app, &fake, &auth, &link).await;
        }
        if day == 5 {
            sweep_replaying_a_charge(&app, &fake, &soft).await;
            continue;
        }
        sweep(&app).await;
    }
    let decline = |code: &str| triple("declined", "soft", code);
    assert_eq!(retries(&app, &soft.customer).await, vec![decline("insufficient_funds"); 3]);
    let skipped = triple("skipped", "hard_decline", "");
    assert_eq!(retries(&app, &hard.customer).await, vec![triple("declined", "hard", "stolen_card"), skipped.clone(), skipped]);
    assert_eq!(charges_of(&fake, &hard.method).len(), 1, "a hard decline is never retried");
    assert_eq!(charges_of(&fake, &auth.method).len(), 1, "no off-session charge after authentication_required");

    // The funds arrive: day 8's retry pays, and the account recovers.
    fake.charge_as(&soft.method, fake_stripe::VISA);
    clock.advance_seconds(DAY);
    sweep(&app).await;
    soft_recovered(&app, &fake, &soft).await;
    retry_events_carry_the_decline(&app, [&soft, &hard, &auth]).await;
    let hard_status = status(&app, &hard.customer).await;
    assert_eq!(hard_status["status"], "past_due", "{hard_status}");
    assert_eq!(retries(&app, &hard.customer).await.len(), 4);
    assert_eq!(charges_of(&fake, &hard.method).len(), 1);
    assert_eq!(charges_of(&fake, &auth.method).len(), 1);
    assert_eq!(ledger_balances(&app, "commerce:clearing:stripe:USD").await, (4_000 + 6_000, 0));
}
}

/// Every declined charge opened a Stripe Checkout Session for its anchor invoice — one each
/// on day 1 — which is its payment link; the customer who must authenticate is emailed the
/// link. Returns that customer's session.
async fn payment_link_opened(app: &TestApp, fake: &FakeStripe, auth: &Debtor) -> Seen {
    let sessions: Vec<Seen> = fake
        .requests(SESSIONS)
        .into_iter()
        .filter(|s| s.field("mode") == Some("payment"))
        .collect();
    assert_eq!(sessions.len(), 3, "one per declined invoice: {sessions:?}");
    let session = sessions
        .iter()
        .find(|s| s.field("client_reference_id") == Some(auth.invoice.as_str()))
        .unwrap_or_else(|| panic!("no session for {}: {sessions:?}", auth.invoice))
        .clone();
    assert_eq!(
        session.idempotency_key,
        Some(format!("bursar-checkout-{}-1", auth.invoice))
    );
    assert_eq!(
        (
            session.field("metadata[bursar_order_id]"),
            session.field("line_items[0][price_data][unit_amount]")
        ),
        (Some(auth.invoice.as_str()), Some("6000")),
        "{session:?}"
    );
    let invoice = ok(app.get(&format!("/v1/invoices/{}", auth.invoice)).await).await;
    let url = invoice["payment_link"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("no payment link: {invoice}"));
    assert!(
        url.starts_with("https://checkout.stripe.com/c/pay/cs_test_fake"),
        "{invoice}"
    );
    assert_eq!(invoice["payment_link"]["provider"], "stripe", "{invoice}");
    wait_for_template(app, "dunning_authentication_required").await;
    let mails = ok(app.get("/v1/emails?limit=100").await).await;
    let mail = mails["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["template"] == "dunning_authentication_required")
        .unwrap();
    assert!(mail["text"].as_str().unwrap().contains(url), "{mail}");
    let auth_retries = retries(app, &auth.customer).await;
    assert_eq!(
        auth_retries,
        vec![triple(
            "declined",
            "authentication_required",
            "authentication_required"
        )]
    );
    session
}

/// The customer authenticates and pays on the Checkout Session: Stripe's signed
/// `checkout.session.completed` pays the invoice and the account recovers.
async fn pay_the_link(app: &TestApp, fake: &FakeStripe, auth: &Debtor, link: &Seen) {
    let waiting = triple("skipped", "authentication_required", "");
    let declined = triple(
        "declined",
        "authentication_required",
        "authentication_required",
    );
    assert_eq!(
        retries(app, &auth.customer).await,
        vec![declined, waiting.clone(), waiting],
        "not charged again off-session"
    );
    let invoice = ok(app.get(&format!("/v1/invoices/{}", auth.invoice)).await).await;
    let session = invoice["payment_link"]["session_id"].as_str().unwrap();
    assert_eq!(
        link.field("client_reference_id"),
        Some(auth.invoice.as_str())
    );
    let (_, event) = fake.checkout_completed(session, now_seconds(app));
    let receipt = fake_stripe::deliver(app, SECRET, &event).await;
    assert_eq!(receipt["outcome"], "applied", "{receipt}");
    let paid = ok(app.get(&format!("/v1/invoices/{}", auth.invoice)).await).await;
    assert_eq!(
        (paid["status"].as_str(), paid["amount_due"].as_i64()),
        (Some("paid"), Some(0)),
        "{paid}"
    );
    let recovered = status(app, &auth.customer).await;
    assert_eq!(recovered["status"], "active", "{recovered}");
    assert_eq!(
        events_data(app, &auth.customer, "dunning.recovered")
            .await
            .len(),
        1
    );
}

/// The soft-declined customer was charged once per retry step — a PaymentIntent each, with
/// Stripe's off-session form and a key per step — and the last charge paid: the invoice is
/// paid once, the account active, `dunning.recovered` emitted; Stripe's signed
/// `payment_intent.succeeded` for that charge, arriving after, records nothing more.
async fn soft_recovered(app: &TestApp, fake: &FakeStripe, soft: &Debtor) {
    let charges = charges_of(fake, &soft.method);
    let keys: Vec<String> = charges
        .iter()
        .map(|c| c.idempotency_key.clone().unwrap())
        .collect();
    let key = |step: u16| {
        format!(
            "bursar-charge-dun-{}-{}-{step}",
            soft.customer, soft.invoice
        )
    };
    assert_eq!(
        keys,
        vec![key(0), key(1), key(2), key(2), key(3)],
        "one key per step, the replay reusing its step's"
    );
    for charge in &charges {
        for (field, value) in [
            ("amount", "4000"),
            ("currency", "usd"),
            ("off_session", "true"),
            ("confirm", "true"),
            ("metadata[bursar_order_id]", soft.invoice.as_str()),
        ] {
            assert_eq!(charge.field(field), Some(value), "{field} in {charge:?}");
        }
        assert_eq!(
            charge.authorization.as_deref(),
            Some("Bearer sk_test_51Dunning")
        );
    }
    let recovered = status(app, &soft.customer).await;
    assert_eq!(
        (recovered["status"].as_str(), recovered["reason"].as_str()),
        (Some("active"), Some("overdue_invoices_paid")),
        "{recovered}"
    );
    let paid = ok(app.get(&format!("/v1/invoices/{}", soft.invoice)).await).await;
    assert_eq!(
        (paid["status"].as_str(), paid["amount_due"].as_i64()),
        (Some("paid"), Some(0)),
        "{paid}"
    );
    let recoveries = events_data(app, &soft.customer, "dunning.recovered").await;
    assert_eq!(recoveries.len(), 1, "{recoveries:?}");
    let attempts = events_data(app, &soft.customer, "dunning.retry_attempted").await;
    let last = &attempts.last().unwrap()["retry"];
    assert_eq!(last["result"], "succeeded", "{last}");
    let payment = last["payment_id"].as_str().unwrap();
    let receipt = fake_stripe::deliver(
        app,
        SECRET,
        &fake.payment_succeeded(payment, now_seconds(app)),
    )
    .await;
    assert_eq!(
        (receipt["outcome"].as_str(), receipt["detail"].as_str()),
        (Some("ignored"), Some("payment recorded already")),
        "{receipt}"
    );
    let still = ok(app.get(&format!("/v1/invoices/{}", soft.invoice)).await).await;
    assert_eq!(still["amount_paid"], paid["amount_paid"], "{still}");
}

/// Every charged retry's `dunning.retry_attempted` and `dunning.step_executed` events carry
/// the decline class and Stripe's decline code; the hard decline's step asks for a new method.
async fn retry_events_carry_the_decline(app: &TestApp, [soft, hard, auth]: [&Debtor; 3]) {
    for (debtor, class, code, notice) in [
        (soft, "soft", "insufficient_funds", "payment_failed"),
        (hard, "hard", "stolen_card", "update_payment_method"),
        (
            auth,
            "authentication_required",
            "authentication_required",
            "authentication_required",
        ),
    ] {
        let attempts = events_data(app, &debtor.customer, "dunning.retry_attempted").await;
        let first = &attempts[0]["retry"];
        assert_eq!(
            (first["class"].as_str(), first["code"].as_str()),
            (Some(class), Some(code)),
            "{first}"
        );
        let steps = events_data(app, &debtor.customer, "dunning.step_executed").await;
        let step = &steps[0];
        assert_eq!(
            (
                step["retry"]["class"].as_str(),
                step["retry"]["code"].as_str()
            ),
            (Some(class), Some(code)),
            "{step}"
        );
        assert!(
            step["notices"].as_array().unwrap().contains(&json!(notice)),
            "{step}"
        );
    }
    let soft_attempts = events_data(app, &soft.customer, "dunning.retry_attempted").await;
    assert_eq!(
        soft_attempts.len(),
        4,
        "one per retry step: {soft_attempts:?}"
    );
    let hard_steps = events_data(app, &hard.customer, "dunning.step_executed").await;
    let later: Vec<&Value> = hard_steps[1..]
        .iter()
        .map(|s| &s["retry"]["reason"])
        .collect();
    assert_eq!(later, vec![&json!("hard_decline"); 3], "{hard_steps:?}");
}
