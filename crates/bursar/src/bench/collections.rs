//! `bursar bench collections`: the account-health engine over many accounts.
//!
//! Made first through the core's use cases (not measured), on a clock 90 days in the past:
//! the demo's dunning policy (balances under 5.00 USD not dunned), then per account a customer and three invoices issued then (due
//! at once, in 30 and in 60 days), of which a third of the accounts pay everything, a third
//! half of the first, a third nothing. The clock then moves to the present, and two things are
//! measured:
//! * `assess`: every account's health recomputed from its facts, as the disagreement detector
//!   does (`bursar collections check`): facts read in batches of 500 accounts, the pure
//!   function per account; accounts/s.
//! * `sweep`: the periodic evaluation of every account whose next check has come (all of them
//!   after 90 days), each in its own transaction: reminders, dunning steps (emails, limits,
//!   write-offs), the stored health; accounts/s.

use std::sync::Arc;
use std::time::Instant;

use bursar_core::collections;
use bursar_core::dunning_policies;
use bursar_core::invoice_drafts::{self, NewInvoice, NewInvoiceLine};
use bursar_core::invoices::{self, ReceivedPayment};
use bursar_core::{customers, App};
use bursar_domain::customer::NewCustomer;
use bursar_domain::invoice::PaymentMethodKind;
use bursar_domain::money::Currency;
use bursar_domain::time::{Clock, ManualClock, SystemClock};
use bursar_store::{Backend, Db, PoolSettings};
use clap::Args;
use futures::StreamExt;

use super::measure::{bench_location, CommonArgs, Figure};

#[derive(Debug, Clone, Args)]
pub struct CollectionsArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Accounts to evaluate.
    #[arg(long, default_value_t = 100_000)]
    pub accounts: usize,
}

const DAY: i64 = 86_400;
/// Accounts made per write while setting up.
const SETUP_BATCH: usize = 100;

pub async fn run(backend: Backend, args: &CollectionsArgs) -> anyhow::Result<Vec<Figure>> {
    let (location, _guard) = bench_location(backend, args.common.database_url.as_deref()).await?;
    let clock = Arc::new(ManualClock::new(SystemClock.now().plus_seconds(-90 * DAY)));
    let db = Db::open_with_clock(&location, &PoolSettings::default(), clock.clone()).await?;
    let (workspace, _, _) =
        crate::bootstrap::create_workspace(&db, "bench", bursar_domain::auth::Scope::Admin).await?;
    // No server, no event relay, no periodic jobs: the engine is measured alone.
    let app = App::new(db.clone(), bursar_core::Config::default());
    let cause = crate::bootstrap::system_cause("bench");
    let ws = workspace.id.clone();
    let policy = crate::bootstrap::dunning::demo_policy()?;
    app.write(ws.clone(), cause.clone(), |mut cx| {
        Box::pin(async move { dunning_policies::create(&mut cx, policy).await })
    })
    .await
    .map_err(|e| anyhow::anyhow!("policy: {}", e.message))?;
    // Accounts from 16 concurrent writers, as from 16 clients.
    let batches: Vec<(usize, usize)> = (0..args.accounts)
        .step_by(SETUP_BATCH)
        .map(|first| (first, SETUP_BATCH.min(args.accounts - first)))
        .collect();
    let made: Vec<Result<(), bursar_core::Error>> = futures::stream::iter(batches)
        .map(|(first, count)| {
            let (app, ws, cause) = (app.clone(), ws.clone(), cause.clone());
            async move {
                app.write(ws, cause, move |mut cx| {
                    Box::pin(async move {
                        for i in first..first + count {
                            account(&mut cx, i).await?;
                        }
                        Ok::<_, bursar_core::Error>(())
                    })
                })
                .await
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for result in made {
        result.map_err(|e| anyhow::anyhow!("setup: {}", e.message))?;
    }
    clock.advance_seconds(90 * DAY);

    let started = Instant::now();
    let report = collections::check(&app, Some(&ws))
        .await
        .map_err(|e| anyhow::anyhow!("check: {}", e.message))?;
    let assessed = (report.accounts as u64, started.elapsed().as_secs_f64());
    let started = Instant::now();
    let swept = collections::sweep(&app)
        .await
        .map_err(|e| anyhow::anyhow!("sweep: {}", e.message))?;
    let swept = (swept as u64, started.elapsed().as_secs_f64());
    db.close().await;
    Ok(vec![
        figure("assess", args.accounts, backend, assessed),
        figure("sweep", args.accounts, backend, swept),
    ])
}

fn figure(what: &str, accounts: usize, backend: Backend, (ops, seconds): (u64, f64)) -> Figure {
    let round = |v: f64| (v * 1000.0).round() / 1000.0;
    Figure {
        bench: "collections",
        config: format!("{what}-{accounts}-accounts"),
        backend: backend.as_str(),
        ops,
        errors: 0,
        seconds: round(seconds),
        ops_per_sec: round(ops as f64 / seconds),
        p50_ms: 0.0,
        p99_ms: 0.0,
        max_ms: round(seconds * 1000.0),
    }
}

/// Account `i`: a customer, three invoices issued now (due at once, in 30 and in 60 days),
/// paid in full (i % 3 == 0), half of the first (== 1), or not at all.
async fn account(
    cx: &mut bursar_core::write::Context<'_>,
    i: usize,
) -> Result<(), bursar_core::Error> {
    let usd = Currency::from_code("USD").ok_or_else(bursar_core::Error::internal)?;
    let new = NewCustomer::parse(None, Some(&format!("Account {i}")), None)?;
    let customer = customers::create(cx, new).await?.id;
    for (n, terms) in [0_u32, 30, 60].into_iter().enumerate() {
        let draft = NewInvoice {
            customer_id: customer.clone(),
            currency: usd,
            lines: vec![NewInvoiceLine {
                description: format!("Month {n}"),
                quantity: Some(1),
                unit_amount: 1_000 + (i % 500) as i64,
                discount_amount: None,
                tax_rate_id: None,
            }],
            payment_terms_days: Some(terms),
            memo: None,
        };
        let id = invoice_drafts::create(cx, draft).await?.id;
        invoices::issue(cx, id.as_str()).await?;
    }
    let owed = 3 * (1_000 + (i % 500) as i64);
    let paid = match i % 3 {
        0 => owed,
        1 => (1_000 + (i % 500) as i64) / 2,
        _ => 0,
    };
    if paid > 0 {
        let received = ReceivedPayment {
            customer_id: customer,
            currency: usd,
            amount: paid,
            method: PaymentMethodKind::BankTransfer,
            reference: None,
            allocations: None,
        };
        invoices::record_payment(cx, received).await?;
    }
    Ok(())
}
