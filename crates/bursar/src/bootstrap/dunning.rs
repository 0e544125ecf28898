//! The collections demo: the default dunning policy, and customers at several of its steps —
//! invoices that fell due 2, 16 and 35 days ago, evaluated now (every step they reached runs,
//! in order) — and one that fell behind and paid (recovered).

use std::collections::BTreeMap;

use bursar_core::collections;
use bursar_core::customers;
use bursar_core::dunning_policies::{self, PolicyInput};
use bursar_core::invoice_drafts::{self, NewInvoice, NewInvoiceLine};
use bursar_core::invoices;
use bursar_domain::customer::NewCustomer;
use bursar_domain::id::CustomerId;
use bursar_domain::time::Timestamp;
use bursar_store::Tx;

use super::commerce::{usd, Seed};

const DAY: i64 = 86_400;

/// Seeds the policy and the customers in dunning, as of `now`.
pub(super) async fn seed_dunning(seed: &Seed, now: Timestamp) -> anyhow::Result<()> {
    seed_dunning_policy(seed).await?;
    for (name, email, days_late, amount) in [
        ("Linus Late", "linus@example.com", 2, 12_000),
        ("Barbara Behind", "barbara@example.com", 16, 48_000),
        ("Edsger Overdue", "edsger@example.com", 35, 99_000),
        ("Radia Recovered", "radia@example.com", 9, 24_000),
    ] {
        let customer = late_invoice(
            seed,
            name,
            email,
            now.plus_seconds(-days_late * DAY),
            amount,
        )
        .await?;
        collections::evaluate_now(&seed.app, &seed.workspace, &customer, None)
            .await
            .map_err(|e| anyhow::anyhow!("demo seed: dunning of {name}: {}", e.message))?;
        if name.starts_with("Radia") {
            super::billing::pay(seed, &customer, amount).await?;
        }
    }
    Ok(())
}

/// A customer and an invoice of `amount` (one line, no tax) issued and due at `at`.
async fn late_invoice(
    seed: &Seed,
    name: &str,
    email: &str,
    at: Timestamp,
    amount: i64,
) -> anyhow::Result<CustomerId> {
    let new = NewCustomer::parse(Some(email), Some(name), None)?;
    let currency = usd()?;
    let (ws, cause) = (seed.workspace.clone(), super::demo_cause());
    let customer = seed
        .app
        .db
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                // Written as of `at`, when the invoice was issued.
                let mut cx = bursar_core::write::Context {
                    tx,
                    workspace_id: &ws,
                    now: at,
                    cause: &cause,
                };
                let customer = customers::create(&mut cx, new).await?.id;
                let draft = NewInvoice {
                    customer_id: customer.clone(),
                    currency,
                    lines: vec![NewInvoiceLine {
                        description: "Annual support plan".into(),
                        quantity: Some(1),
                        unit_amount: amount,
                        discount_amount: None,
                        tax_rate_id: None,
                    }],
                    payment_terms_days: Some(0),
                    memo: None,
                };
                let invoice = invoice_drafts::create(&mut cx, draft).await?;
                invoices::issue(&mut cx, invoice.id.as_str()).await?;
                Ok::<_, bursar_core::Error>(customer)
            })
        })
        .await
        .map_err(|e| anyhow::anyhow!("demo seed: {name}: {}", e.message))?;
    Ok(customer)
}

/// The workspace's default dunning policy: a reminder the day after the due date, retries of
/// the saved card at 3, 7 and 14 days (with a final notice), limited service and changes
/// blocked at 15, suspension at 30, contracts cancelled and the debt written off and handed to
/// collections at 60; balances under 5.00 USD are not dunned.
async fn seed_dunning_policy(seed: &Seed) -> anyhow::Result<()> {
    let input = demo_policy()?;
    seed.write("dunning policy", move |mut cx| {
        Box::pin(async move { dunning_policies::create(&mut cx, input).await })
    })
    .await?;
    Ok(())
}

/// The demo's policy (see [`seed_dunning_policy`]).
pub(crate) fn demo_policy() -> anyhow::Result<PolicyInput> {
    use bursar_domain::collections::{DunningAction::*, DunningStep, NoticeTemplate};
    let step = |at_days, actions: Vec<_>| DunningStep { at_days, actions };
    let notify = |template| Notify { template };
    Ok(PolicyInput {
        name: "Standard".into(),
        steps: vec![
            step(1, vec![notify(NoticeTemplate::Reminder)]),
            step(3, vec![RetryPayment]),
            step(7, vec![RetryPayment]),
            step(14, vec![RetryPayment, notify(NoticeTemplate::FinalNotice)]),
            step(15, vec![LimitEntitlements, BlockChanges]),
            step(
                30,
                vec![SuspendEntitlements, notify(NoticeTemplate::Suspension)],
            ),
            step(60, vec![CancelContracts, WriteOff, HandToCollections]),
        ],
        minimum_balances: BTreeMap::from([(usd()?, 500)]),
        default: true,
    })
}
