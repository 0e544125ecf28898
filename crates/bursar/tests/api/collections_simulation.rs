//! A year of collections on the manual clock: customers with a contract, invoices every month and a
//! payment behaviour each (pays early, pays late, pays in parts, cards declined soft or hard,
//! a card fixed mid-cycle, cards that need the customer, cards that just work, card payments
//! the customer's bank disputes — won or lost, a lost one paid again). After every
//! simulated day the stored health of every account equals the recomputation; at the end no
//! account skipped a step or ran one twice, every retry came before the consequences it could
//! prevent, every notice was mailed once, settled accounts are active with full access, and
//! the ledger and the audit chain verify.
//!
//! `BURSAR_SIMULATION_CUSTOMERS` (default 1,000) and `BURSAR_SIMULATION_DAYS` (default 365)
//! size it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bursar_core::collections;
use bursar_core::invoice_drafts::{self, NewInvoice, NewInvoiceLine};
use bursar_core::invoices::{self, ReceivedPayment};
use bursar_domain::event::Cause;
use bursar_domain::id::CustomerId;
use bursar_domain::invoice::PaymentMethodKind;
use bursar_domain::money::Currency;
use bursar_domain::time::{Clock, ManualClock, SystemClock};
use bursar_store::Tx;

use crate::both_backends;
use crate::helpers::*;

const DAY: i64 = 86_400;
/// Days from issue to due date.
const TERMS: i64 = 14;
/// A new invoice for every customer every this many days.
const MONTH: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    PaysEarly,
    PaysLate,
    PaysInParts,
    SoftDeclinesThenTransfer,
    HardDeclineNeverPays,
    CardFixedMidCycle,
    CardThatWorks,
    NeedsAuthenticationThenTransfer,
    /// Pays by card through the retries; every other month the bank disputes the payment.
    CardThenDisputes,
}

const BEHAVIOURS: [Behaviour; 9] = [
    Behaviour::PaysEarly,
    Behaviour::PaysLate,
    Behaviour::PaysInParts,
    Behaviour::SoftDeclinesThenTransfer,
    Behaviour::HardDeclineNeverPays,
    Behaviour::CardFixedMidCycle,
    Behaviour::CardThatWorks,
    Behaviour::NeedsAuthenticationThenTransfer,
    Behaviour::CardThenDisputes,
];

/// A dispute's stages at the test provider: opened this many days after the invoice falls due
/// (the day-3 retry paid it), closed this many days later, and a lost one's amount paid again
/// by transfer this many days after that.
const DISPUTE_OPENS: i64 = 5;
const DISPUTE_CLOSES: i64 = 10;
const DISPUTE_REPAID: i64 = 15;

impl Behaviour {
    fn card(self) -> Option<&'static str> {
        match self {
            Behaviour::SoftDeclinesThenTransfer => Some("insufficient_funds"),
            Behaviour::HardDeclineNeverPays => Some("stolen"),
            Behaviour::CardFixedMidCycle => Some("declined"),
            Behaviour::CardThatWorks | Behaviour::CardThenDisputes => Some("visa"),
            Behaviour::NeedsAuthenticationThenTransfer => Some("authentication_required"),
            _ => None,
        }
    }

    /// The transfers it makes for an invoice of `amount` due on day `due`: (day, amount).
    fn payments(self, due: i64, amount: i64, late: i64) -> Vec<(i64, i64)> {
        match self {
            Behaviour::PaysEarly => vec![(due - 2, amount)],
            Behaviour::PaysLate => vec![(due + late, amount)],
            Behaviour::PaysInParts => vec![(due + 2, amount / 2), (due + 20, amount - amount / 2)],
            Behaviour::SoftDeclinesThenTransfer => vec![(due + 25, amount)],
            Behaviour::NeedsAuthenticationThenTransfer => vec![(due + 10, amount)],
            _ => Vec::new(),
        }
    }
}

struct Customer {
    id: CustomerId,
    behaviour: Behaviour,
    late: i64,
    card_fixed: bool,
}

fn size(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn write<T: Send + 'static>(
    app: &TestApp,
    work: impl for<'c> FnOnce(
            bursar_core::write::Context<'c>,
        ) -> futures::future::BoxFuture<'c, Result<T, bursar_core::Error>>
        + Send
        + 'static,
) -> T {
    let cause = Cause {
        request_id: None,
        actor: Some("simulation".into()),
    };
    app.core()
        .write(app.workspace_id.clone(), cause, work)
        .await
        .unwrap()
}

both_backends! {
/// Goal: see the module's documentation.
async fn a_year_of_collections_never_disagrees_skips_or_repeats(backend: Backend) {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let app = TestApp::spawn_with_clock(backend, clock.clone()).await;
    let (count, days) = (size("BURSAR_SIMULATION_CUSTOMERS", 1_000), size("BURSAR_SIMULATION_DAYS", 365));
    ok(app.post("/v1/dunning_policies", serde_json::from_str(DEMO_POLICY).unwrap()).await).await;
    let product = ok(app.post("/v1/products", json!({"name": "Platform", "kind": "service"})).await).await["id"].as_str().unwrap().to_owned();
    let start = clock.now().plus_seconds(-DAY).to_rfc3339();
    let mut customers = Vec::new();
    for i in 0..count {
        let behaviour = BEHAVIOURS[(i as usize) % BEHAVIOURS.len()];
        let email = (i % 10 == 0).then(|| format!("c{i}@example.com"));
        let created = ok(app.post("/v1/customers", json!({"name": format!("Customer {i}"), "email": email})).await).await;
        let id = CustomerId::from_trusted(created["id"].as_str().unwrap().to_owned());
        if let Some(card) = behaviour.card() {
            save_card(&app, id.as_str(), card).await;
        }
        // A contract for the service its invoices pay for: its entitlements follow the account.
        let contract = ok(app.post("/v1/contracts", json!({"buyer_id": id.as_str(), "currency": "USD", "term": {"start": start}, "lines": [{"product_id": product, "unit_amount": 1_000}]})).await).await;
        ok(app.post(&format!("/v1/contracts/{}/operations", contract["id"].as_str().unwrap()), json!({"type": "activate"})).await).await;
        customers.push(Customer { id, behaviour, late: 5 + (i * 7) % 40, card_fixed: false });
    }
    // (day, customer index) → amounts to transfer that day.
    let mut transfers: BTreeMap<(i64, usize), i64> = BTreeMap::new();
    // day → disputes to script that day: (customer index, the provider's payment id, outcome).
    let mut disputes: BTreeMap<i64, Vec<(usize, String, &'static str)>> = BTreeMap::new();
    let state = app.core().clone();
    for day in 0..days {
        // The last invoices fall due early enough for a retry 3 days later to pay them.
        if day % MONTH == 0 && day + TERMS + 5 < days {
            issue_month(&app, &customers, day, &mut transfers).await;
        }
        let today: Vec<((i64, usize), i64)> = transfers.range((day, 0)..(day + 1, 0)).map(|(k, v)| (*k, *v)).collect();
        for ((_, index), amount) in today {
            pay(&app, &customers[index].id, amount).await;
        }
        fix_cards(&app, &mut customers).await;
        if day % MONTH == (TERMS + DISPUTE_OPENS) % MONTH && day >= TERMS + DISPUTE_OPENS {
            plan_disputes(&app, &customers, day, &mut disputes).await;
        }
        for (index, payment, outcome) in disputes.remove(&day).unwrap_or_default() {
            if let Some(repaid) = dispute(&app, &payment, outcome).await {
                *transfers.entry((day + DISPUTE_REPAID, index)).or_insert(0) += repaid;
            }
        }
        collections::sweep(&state).await.unwrap();
        let report = collections::check(&state, None).await.unwrap();
        assert!(report.disagreements.is_empty(), "day {day}: {:?}", report.disagreements);
        clock.advance_seconds(DAY);
    }
    collections::sweep(&state).await.unwrap();
    verify_steps(&app).await;
    verify_disputes(&app).await;
    verify_emails(&app).await;
    verify_settled_accounts(&app, &customers).await;
    verify_books(&app).await;
}
}

/// The demo's policy.
const DEMO_POLICY: &str = r#"{"name": "Standard", "steps": [
    {"at_days": 1, "actions": [{"type": "notify", "template": "reminder"}]},
    {"at_days": 3, "actions": [{"type": "retry_payment"}]},
    {"at_days": 7, "actions": [{"type": "retry_payment"}]},
    {"at_days": 14, "actions": [{"type": "retry_payment"}, {"type": "notify", "template": "final_notice"}]},
    {"at_days": 15, "actions": [{"type": "limit_entitlements"}, {"type": "block_changes"}]},
    {"at_days": 30, "actions": [{"type": "suspend_entitlements"}, {"type": "notify", "template": "suspension"}]},
    {"at_days": 60, "actions": [{"type": "cancel_contracts"}, {"type": "write_off"}, {"type": "hand_to_collections"}]}]}"#;

/// Issues every customer's invoice of the month (due in [`TERMS`] days), 100 customers per
/// write, and plans the transfers their behaviours make.
async fn issue_month(
    app: &TestApp,
    customers: &[Customer],
    day: i64,
    transfers: &mut BTreeMap<(i64, usize), i64>,
) {
    for (chunk_index, chunk) in customers.chunks(100).enumerate() {
        let ids: Vec<CustomerId> = chunk.iter().map(|c| c.id.clone()).collect();
        let amounts: Vec<i64> = (0..chunk.len())
            .map(|i| 1_000 + ((chunk_index * 100 + i) as i64 * 37) % 9_000)
            .collect();
        let issued = amounts.clone();
        write(app, move |mut cx| {
            Box::pin(async move {
                let usd = Currency::from_code("USD").unwrap();
                for (customer_id, amount) in ids.into_iter().zip(issued) {
                    let draft = NewInvoice {
                        customer_id,
                        currency: usd,
                        lines: vec![NewInvoiceLine {
                            description: "Subscription".into(),
                            quantity: Some(1),
                            unit_amount: amount,
                            discount_amount: None,
                            tax_rate_id: None,
                        }],
                        payment_terms_days: Some(TERMS as u32),
                        memo: None,
                    };
                    let invoice = invoice_drafts::create(&mut cx, draft).await?;
                    invoices::issue(&mut cx, invoice.id.as_str()).await?;
                }
                Ok(())
            })
        })
        .await;
        for (i, customer) in chunk.iter().enumerate() {
            for (pay_day, amount) in
                customer
                    .behaviour
                    .payments(day + TERMS, amounts[i], customer.late)
            {
                *transfers
                    .entry((pay_day, chunk_index * 100 + i))
                    .or_insert(0) += amount;
            }
        }
    }
}

async fn pay(app: &TestApp, customer: &CustomerId, amount: i64) {
    let received = ReceivedPayment {
        customer_id: customer.clone(),
        currency: Currency::from_code("USD").unwrap(),
        amount,
        method: PaymentMethodKind::BankTransfer,
        reference: None,
        allocations: None,
    };
    write(app, move |mut cx| {
        Box::pin(async move { invoices::record_payment(&mut cx, received).await })
    })
    .await;
}

/// Every other month, the banks of the disputing customers contest the card payment a retry
/// just made: opened today, won or lost [`DISPUTE_CLOSES`] days later (alternating by
/// customer), early enough in the year for a lost one to be paid again.
async fn plan_disputes(
    app: &TestApp,
    customers: &[Customer],
    day: i64,
    plan: &mut BTreeMap<i64, Vec<(usize, String, &'static str)>>,
) {
    let month = day / MONTH;
    let days = size("BURSAR_SIMULATION_DAYS", 365);
    if month % 2 == 1 || day + DISPUTE_CLOSES + DISPUTE_REPAID + TERMS >= days {
        return;
    }
    for (index, customer) in customers
        .iter()
        .enumerate()
        .filter(|(_, c)| c.behaviour == Behaviour::CardThenDisputes)
    {
        let payments = ok(app
            .get(&format!("/v1/payments?customer_id={}&limit=1", customer.id))
            .await)
        .await;
        let Some(payment) = payments["data"][0]["reference"].as_str() else {
            continue;
        };
        if payments["data"][0]["dispute"].is_object() {
            continue;
        }
        let outcome = if index % 2 == 0 {
            "dispute_won"
        } else {
            "dispute_lost"
        };
        plan.entry(day)
            .or_default()
            .push((index, payment.to_owned(), "disputed"));
        plan.entry(day + DISPUTE_CLOSES)
            .or_default()
            .push((index, payment.to_owned(), outcome));
    }
}

/// Scripts a dispute's stage at the test provider (its signed events reach Bursar's webhook);
/// for a lost one, the amount the customer owes again.
async fn dispute(app: &TestApp, payment: &str, outcome: &str) -> Option<i64> {
    let session = format!(
        "cs_test_offsession_{}",
        payment.strip_prefix("pi_test_").unwrap()
    );
    let path = format!("/v1/test_provider/checkout_sessions/{session}/complete");
    let receipt = ok(app.post(&path, json!({"outcome": outcome})).await).await;
    assert_eq!(receipt["receipts"][0]["outcome"], "applied", "{receipt}");
    let events = receipt["events"].as_array().unwrap();
    let object = serde_json::from_str::<Value>(events[0]["payload"].as_str().unwrap()).unwrap();
    (outcome == "dispute_lost").then(|| object["data"]["object"]["amount"].as_i64().unwrap())
}

/// A customer whose declined card has been in dunning for 5 days saves a working one.
async fn fix_cards(app: &TestApp, customers: &mut [Customer]) {
    for customer in customers
        .iter_mut()
        .filter(|c| c.behaviour == Behaviour::CardFixedMidCycle && !c.card_fixed)
    {
        let status = json_body(
            app.get(&format!("/v1/customers/{}/billing_status", customer.id))
                .await,
        )
        .await;
        if status["position"]["days_overdue"]
            .as_i64()
            .is_some_and(|d| d >= 5)
        {
            save_card(app, customer.id.as_str(), "visa").await;
            customer.card_fixed = true;
        }
    }
}

/// Payloads of every event of `event_type`, in order.
async fn payloads(app: &TestApp, event_type: &'static str) -> Vec<Value> {
    app.db()
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let rows = tx
                    .fetch_all(
                        "select payload from domain_event where event_type = $1 order by position",
                        bursar_store::params![event_type],
                    )
                    .await?;
                rows.iter()
                    .map(|r| Ok(serde_json::from_str(r.str("payload")?).unwrap()))
                    .collect::<Result<Vec<Value>, bursar_store::StoreError>>()
            })
        })
        .await
        .unwrap()
}

/// Per dunning cycle and anchor invoice, the steps ran 0, 1, 2, … in order, each once; a step
/// with a retry carries the retry's outcome.
async fn verify_steps(app: &TestApp) {
    let steps = payloads(app, "dunning.step_executed").await;
    assert!(
        steps.len() > 100,
        "the simulation ran steps: {}",
        steps.len()
    );
    // Per dunning cycle (an invoice reopened by a lost dispute is dunned again in a new one).
    let mut runs: HashMap<(String, String, String), Vec<u64>> = HashMap::new();
    for step in &steps {
        let key = (
            step["customer_id"].as_str().unwrap().to_owned(),
            step["dunning_started_at"].as_str().unwrap().to_owned(),
            step["anchor_invoice_id"].as_str().unwrap().to_owned(),
        );
        runs.entry(key)
            .or_default()
            .push(step["step"].as_u64().unwrap());
        let retries = step["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["type"] == "retry_payment");
        assert_eq!(
            retries,
            !step["retry"].is_null(),
            "a retry step without its outcome: {step}"
        );
    }
    for (key, ran) in &runs {
        let expected: Vec<u64> = (0..ran.len() as u64).collect();
        assert_eq!(ran, &expected, "{key:?}: steps skipped or repeated");
    }
    let classes: Vec<&str> = steps
        .iter()
        .filter_map(|s| s["retry"]["class"].as_str())
        .collect();
    for class in ["soft", "hard", "authentication_required"] {
        assert!(
            classes.contains(&class),
            "no {class} decline in the simulation"
        );
    }
    assert!(!payloads(app, "dunning.recovered").await.is_empty());
    assert!(!payloads(app, "dunning.exhausted").await.is_empty());
}

/// Disputes were opened, won and lost; every lost one reopened what its payment paid, and the
/// disputes account holds nothing once all are closed.
async fn verify_disputes(app: &TestApp) {
    let opened = payloads(app, "payment.disputed").await.len();
    let won = payloads(app, "payment.dispute_won").await.len();
    let lost = payloads(app, "payment.dispute_lost").await;
    assert!(
        opened > 0 && won > 0 && !lost.is_empty(),
        "{opened} opened, {won} won, {} lost",
        lost.len()
    );
    assert_eq!(opened, won + lost.len(), "every dispute closed");
    let reopened = payloads(app, "invoice.reopened").await;
    for loss in &lost {
        let invoices = loss["reopened"].as_array().unwrap();
        assert!(
            !invoices.is_empty(),
            "a lost dispute reopened what it paid: {loss}"
        );
        for invoice in invoices {
            assert!(
                reopened.iter().any(|r| r["object"]["id"] == *invoice),
                "{invoice} reopened"
            );
        }
    }
    let (debits, credits) = ledger_balances(app, "commerce:disputes:USD").await;
    assert_eq!(debits, credits, "nothing held once every dispute closed");
}

/// One email per step event with notices (for customers with an address), none twice.
async fn verify_emails(app: &TestApp) {
    let started = std::time::Instant::now();
    loop {
        let (emails, expected): (i64, i64) = app.db().read(|tx: &mut Tx| Box::pin(async move {
            let emails = tx.fetch_one("select count(*) as n from email_message where template like 'dunning_%'", &[]).await?.i64("n")?;
            let distinct = tx.fetch_one("select count(distinct event_id) as n from email_message where template like 'dunning_%'", &[]).await?.i64("n")?;
            assert_eq!(emails, distinct, "an event mailed twice");
            let rows = tx.fetch_all("select payload from domain_event where event_type = 'dunning.step_executed'", &[]).await?;
            let mut expected = 0;
            for row in rows {
                let payload: Value = serde_json::from_str(row.str("payload")?).unwrap();
                let noticed = payload["notices"].as_array().is_some_and(|n| !n.is_empty());
                let customer = payload["customer_id"].as_str().unwrap_or_default().to_owned();
                let addressed = tx.fetch_optional("select 1 as one from customer where customer_id = $1 and email is not null", bursar_store::params![customer.as_str()]).await?.is_some();
                expected += i64::from(noticed && addressed);
            }
            Ok::<_, bursar_store::StoreError>((emails, expected))
        })).await.unwrap();
        if emails == expected && expected > 0 {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{emails} dunning emails, {expected} expected"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Every account that owes nothing is active with full access.
async fn verify_settled_accounts(app: &TestApp, customers: &[Customer]) {
    let mut settled = 0;
    for customer in customers {
        let invoices = json_body(
            app.get(&format!(
                "/v1/invoices?customer_id={}&limit=100",
                customer.id
            ))
            .await,
        )
        .await;
        let owes = invoices["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["amount_due"].as_i64() > Some(0));
        let always_pays = matches!(
            customer.behaviour,
            Behaviour::PaysEarly | Behaviour::CardThatWorks | Behaviour::CardThenDisputes
        );
        assert!(
            !(owes && always_pays),
            "{} always pays: {invoices}",
            customer.id
        );
        if owes {
            continue;
        }
        settled += 1;
        let entitlements = json_body(
            app.get(&format!("/v1/customers/{}/entitlements", customer.id))
                .await,
        )
        .await;
        assert_eq!(
            entitlements["features"].as_array().map(Vec::len),
            Some(1),
            "{}: the contract's product again: {entitlements}",
            customer.id
        );
        assert_eq!(
            (
                entitlements["billing_status"].as_str(),
                entitlements["access"].as_str()
            ),
            (Some("active"), Some("full")),
            "{}: {entitlements}",
            customer.id
        );
    }
    assert!(settled * 4 > customers.len(), "settled accounts: {settled}");
    // Those that never paid lost their contracts to the last step (reason `dunning`).
    for customer in customers
        .iter()
        .filter(|c| c.behaviour == Behaviour::HardDeclineNeverPays)
    {
        let entitlements = json_body(
            app.get(&format!("/v1/customers/{}/entitlements", customer.id))
                .await,
        )
        .await;
        assert_eq!(
            (
                entitlements["billing_status"].as_str(),
                entitlements["features"].as_array().map(Vec::len)
            ),
            (Some("collections"), Some(0)),
            "{}: {entitlements}",
            customer.id
        );
    }
}

async fn verify_books(app: &TestApp) {
    let ledger = app
        .db()
        .read(|tx: &mut Tx| Box::pin(bursar_store::ledger::verify(tx)))
        .await
        .unwrap();
    assert!(ledger.problems.is_empty(), "{:?}", ledger.problems);
    let audit = app
        .db()
        .read(|tx: &mut Tx| Box::pin(bursar_store::audit::verify(tx)))
        .await
        .unwrap();
    assert!(audit.problems.is_empty(), "{:?}", audit.problems);
}
