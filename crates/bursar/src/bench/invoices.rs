//! `bursar bench invoices`: a billing run over many active contracts (their subscriptions):
//! invoices made per second. The contracts are made first (not measured), spread over 1,000
//! customers, by the core's use cases as the API's requests call them (one write each, from 16
//! concurrent writers); the run is `bursar_core::billing::run_billing`, as
//! `POST /v1/billing_runs` and `bursar billing run` call it, with no server, event relay or
//! periodic job running.
//!
//! With `--usage`, each contract also has a usage line (a meter's tokens at graduated prices)
//! and the contracts began in the previous period, for which 100 usage events per customer
//! were ingested: each invoice then also rates the previous period's usage.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use bursar_core::contracts::NewLine;
use bursar_core::{catalog, contracts, customers, metering, write, App, Error as CoreError};
use bursar_domain::commerce::ProductKind;
use bursar_domain::contract::{
    BillingTerms, ContractDraft, Operation, Proration, Term, UsagePricing,
};
use bursar_domain::customer::NewCustomer;
use bursar_domain::event::Cause;
use bursar_domain::id::WorkspaceId;
use bursar_domain::invoice::{Invoice, LineKind};
use bursar_domain::metering::{Aggregation, MeterCreate};
use bursar_domain::rating::{Dec, PricingModel, Tier};
use bursar_domain::time::Timestamp;
use bursar_store::{Backend, Db, PoolSettings};
use clap::Args;
use futures::future::BoxFuture;
use serde_json::json;

use super::measure::{bench_location, CommonArgs, Figure};

#[derive(Debug, Clone, Args)]
pub struct InvoicesArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Active contracts to bill.
    #[arg(long, default_value_t = 100_000)]
    pub subscriptions: usize,
    /// Contracts with a usage line too, rated from metered events.
    #[arg(long)]
    pub usage: bool,
}

/// The bench's workspace, the application over its database, and who its writes are from.
#[derive(Clone)]
struct Setup {
    app: App,
    workspace: WorkspaceId,
    cause: Cause,
}

impl Setup {
    /// Runs `work` as one write of the setup (what one API request did).
    async fn write<T, F>(&self, work: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(write::Context<'c>) -> BoxFuture<'c, Result<T, CoreError>>
            + Send
            + 'static,
    {
        let (workspace, cause) = (self.workspace.clone(), self.cause.clone());
        Ok(self.app.write(workspace, cause, work).await?)
    }
}

/// The product every contract sells: a plan, a service.
async fn create_product(setup: &Setup) -> anyhow::Result<String> {
    let new = catalog::NewProduct {
        name: "Plan".into(),
        kind: ProductKind::Service,
        description: None,
        license: None,
        serialized: false,
        metadata: Default::default(),
    };
    let product = setup
        .write(move |mut cx| Box::pin(async move { catalog::create_product(&mut cx, new).await }))
        .await?;
    Ok(product.id.to_string())
}

/// `count` customers, one write each, named `Bench buyer <i>`.
async fn create_customers(setup: &Setup, count: usize) -> anyhow::Result<Vec<String>> {
    let mut created = Vec::with_capacity(count);
    for i in 0..count {
        let new = NewCustomer::parse(None, Some(&format!("Bench buyer {i}")), None)?;
        let customer = setup
            .write(move |mut cx| Box::pin(async move { customers::create(&mut cx, new).await }))
            .await?;
        created.push(customer.id.to_string());
    }
    Ok(created)
}

/// The `tokens` meter (prompt events' summed `tokens`), and 100 events per customer spread
/// over `previous` (to `current`), ingested in batches of ten customers'; returns the usage
/// line each contract then has: tokens at graduated prices.
async fn seed_usage(
    setup: &Setup,
    product: &str,
    customers: &[String],
    (previous, current): (Timestamp, Timestamp),
) -> anyhow::Result<NewLine> {
    let create = MeterCreate {
        slug: "tokens".into(),
        aggregation: Aggregation::Sum,
        event_type: "prompt".into(),
        name: None,
        description: None,
        metadata: None,
        event_from: None,
        value_property: Some("$.tokens".into()),
        group_by: None,
    };
    let meter = metering::new_meter(create, setup.app.now())?;
    setup
        .write(move |mut cx| Box::pin(async move { metering::create_meter(&mut cx, meter).await }))
        .await?;
    let span = (current.unix_micros() - previous.unix_micros()) / 1_000_000;
    for chunk in customers.chunks(10) {
        let mut events = Vec::new();
        for (c, customer) in chunk.iter().enumerate() {
            for e in 0..100_i64 {
                let at = previous.plus_seconds((e * 7_919 + c as i64 * 13) % span);
                events.push(json!({"specversion": "1.0", "id": format!("{customer}-{e}"), "source": "bench",
                    "type": "prompt", "subject": customer, "time": at.to_rfc3339(), "data": {"tokens": 50 + e * 3}}));
            }
        }
        let ingest = metering::prepare_ingest(&setup.app, &setup.workspace, events, true).await?;
        setup
            .write(move |mut cx| Box::pin(async move { metering::ingest(&mut cx, ingest).await }))
            .await?;
    }
    let price = |text: &str| Dec::parse(text).context("a tier's decimal");
    let tiers = vec![
        Tier {
            up_to: Some(price("10000")?),
            unit_price: price("0.2")?,
            flat_amount: 0,
        },
        Tier {
            up_to: None,
            unit_price: price("0.1")?,
            flat_amount: 0,
        },
    ];
    Ok(NewLine {
        product_id: product.to_owned(),
        unit_amount: None,
        quantity: None,
        timing: None,
        usage: Some(UsagePricing {
            meter: "tokens".into(),
            pricing: PricingModel::Graduated { tiers },
            filter_group_by: BTreeMap::new(),
        }),
    })
}

/// A contract of `buyer` in US dollars from `start` (open-ended, the default billing terms)
/// with `lines`, activated at `start`.
async fn active_contract(
    setup: &Setup,
    buyer: &str,
    start: Timestamp,
    lines: Vec<NewLine>,
) -> anyhow::Result<()> {
    let draft = ContractDraft {
        buyer_id: buyer.to_owned(),
        seller_id: None,
        seasoning_days: None,
        referrer_id: None,
        referral_share_bps: None,
        currency: "USD".into(),
        term: Term {
            start,
            end: None,
            auto_renew: false,
            renewal_months: 12,
            notice_days: 30,
        },
        billing: BillingTerms {
            anchor_day: 1,
            payment_terms_days: 30,
            invoice_delivery: "email".into(),
            proration: Proration::Day,
        },
        trial_ends_at: None,
        trial_converts: true,
    };
    let contract = setup
        .write(move |mut cx| {
            Box::pin(async move { contracts::create(&mut cx, draft, lines, Some(start)).await })
        })
        .await?;
    setup
        .write(move |mut cx| {
            Box::pin(async move {
                contracts::operate(&mut cx, &contract.id, Operation::Activate, Some(start)).await
            })
        })
        .await?;
    Ok(())
}

pub async fn run(backend: Backend, args: &InvoicesArgs) -> anyhow::Result<Figure> {
    let (location, _guard) = bench_location(backend, args.common.database_url.as_deref()).await?;
    let db = Db::open(&location, &PoolSettings::default()).await?;
    let (workspace, _, _) =
        crate::bootstrap::create_workspace(&db, "bench", bursar_domain::auth::Scope::Admin).await?;
    // No server, no event relay, no periodic jobs: the run is measured alone.
    let app = App::new(db.clone(), bursar_core::Config::default());
    let setup = Setup {
        app: app.clone(),
        workspace: workspace.id.clone(),
        cause: crate::bootstrap::system_cause("bench"),
    };
    let product = create_product(&setup).await?;
    let customers = create_customers(&setup, 1_000.min(args.subscriptions.max(1))).await?;
    let now = db.now();
    let (current, _) = bursar_domain::subscription::period_of(1, now);
    let (previous, _) = bursar_domain::subscription::period_of(
        1,
        Timestamp::from_unix_micros(current.unix_micros() - 1),
    );
    let start = if args.usage {
        previous
    } else {
        Timestamp::from_unix_micros(now.unix_micros() - 86_400_000_000)
    };
    let usage_line = if args.usage {
        Some(seed_usage(&setup, &product, &customers, (previous, current)).await?)
    } else {
        None
    };
    // Contracts from 16 concurrent writers, as from 16 clients.
    let clients = 16;
    let customers = Arc::new(customers);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (setup, product, customers, usage_line) = (
            setup.clone(),
            product.clone(),
            customers.clone(),
            usage_line.clone(),
        );
        let count = args.subscriptions / clients + usize::from(c < args.subscriptions % clients);
        tasks.push(tokio::spawn(async move {
            for i in 0..count {
                let buyer = &customers[(i * clients + c) % customers.len()];
                let mut lines = vec![NewLine {
                    product_id: product.clone(),
                    unit_amount: Some(1_000 + (i % 500) as i64),
                    quantity: Some(1 + (i % 3) as i64),
                    timing: None,
                    usage: None,
                }];
                lines.extend(usage_line.clone());
                active_contract(&setup, buyer, start, lines).await?;
            }
            Ok::<(), anyhow::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }

    let cause = crate::bootstrap::system_cause("bench");
    let started = Instant::now();
    let run = bursar_core::billing::run_billing(&app, &workspace.id, db.now(), &cause)
        .await
        .map_err(|e| anyhow::anyhow!("billing run: {}", e.message))?;
    let seconds = started.elapsed().as_secs_f64();
    if args.usage {
        // The figure counts invoices that rated usage, or it means nothing.
        let first = run.invoices_created.first().context("no invoice made")?;
        let invoice: Invoice = bursar_core::lookup::get(
            &app,
            &workspace.id,
            bursar_store::documents::INVOICE,
            "invoice",
            first.to_string(),
        )
        .await?;
        let rated = invoice
            .lines
            .iter()
            .any(|l| l.kind == LineKind::Usage && l.amount > 0);
        if !rated {
            bail!(
                "the bench's invoices rated no usage: {}",
                serde_json::to_string(&invoice)?
            );
        }
    }
    db.close().await;
    let ops = run.invoices_created.len() as u64;
    let round = |v: f64| (v * 1000.0).round() / 1000.0;
    Ok(Figure {
        bench: "invoices",
        config: format!(
            "billing-run-{}-subscriptions{}",
            args.subscriptions,
            if args.usage { "-with-usage" } else { "" }
        ),
        backend: backend.as_str(),
        ops,
        errors: run.failed.len() as u64,
        seconds: round(seconds),
        ops_per_sec: round(ops as f64 / seconds),
        p50_ms: 0.0,
        p99_ms: 0.0,
        max_ms: round(seconds * 1000.0),
    })
}
