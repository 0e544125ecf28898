//! `bursar bench invoices`: a billing run over many active contracts (their subscriptions):
//! invoices made per second. The contracts are made through the API first (not measured),
//! spread over 1,000 customers; the run is `bursar_core::billing::run_billing`, as
//! `POST /v1/billing_runs` and `bursar billing run` call it, with no event relay running.
//!
//! With `--usage`, each contract also has a usage line (a meter's tokens at graduated prices)
//! and the contracts began in the previous period, for which 100 usage events per customer
//! were ingested: each invoice then also rates the previous period's usage.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use bursar_http::HttpConfig;
use bursar_store::{Backend, Db, PoolSettings};
use clap::Args;
use serde_json::{json, Value};

use super::measure::{bench_location, CommonArgs, Figure};
use crate::server::Server;

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

async fn post(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    path: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let response = client
        .post(format!("{base}{path}"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    if !status.is_success() {
        bail!("bench setup: {path}: {status} {body}");
    }
    Ok(body)
}

pub async fn run(backend: Backend, args: &InvoicesArgs) -> anyhow::Result<Figure> {
    let (location, _guard) = bench_location(backend, args.common.database_url.as_deref()).await?;
    let db = Db::open(&location, &PoolSettings::default()).await?;
    let (workspace, _, secret) =
        crate::bootstrap::create_workspace(&db, "bench", bursar_domain::auth::Scope::Admin).await?;
    // No event relay: the run is measured alone.
    let server = Server::start_with_relay(
        bursar_core::App::new(db.clone(), bursar_core::Config::default()),
        HttpConfig::default(),
        "127.0.0.1:0".parse()?,
        None,
    )
    .await?;
    let base = server.base_url();
    let key = secret.expose().to_owned();
    let client = reqwest::Client::new();
    let product = post(
        &client,
        &base,
        &key,
        "/v1/products",
        json!({"name": "Plan", "kind": "service"}),
    )
    .await?["id"]
        .as_str()
        .context("product id")?
        .to_owned();
    let mut customers = Vec::new();
    for i in 0..1_000.min(args.subscriptions.max(1)) {
        let customer = post(
            &client,
            &base,
            &key,
            "/v1/customers",
            json!({"name": format!("Bench buyer {i}")}),
        )
        .await?;
        customers.push(customer["id"].as_str().context("customer id")?.to_owned());
    }
    let now = db.now();
    let (current, _) = bursar_domain::subscription::period_of(1, now);
    let (previous, _) = bursar_domain::subscription::period_of(
        1,
        bursar_domain::time::Timestamp::from_unix_micros(current.unix_micros() - 1),
    );
    let start = if args.usage {
        previous
    } else {
        bursar_domain::time::Timestamp::from_unix_micros(now.unix_micros() - 86_400_000_000)
    }
    .to_rfc3339();
    let mut usage_line = Value::Null;
    if args.usage {
        let response = client
            .post(format!("{base}/api/v1/meters"))
            .bearer_auth(&key)
            .json(&json!({"slug": "tokens", "aggregation": "SUM", "eventType": "prompt", "valueProperty": "$.tokens"}))
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("bench setup: meter: {}", response.status());
        }
        usage_line = json!({"product_id": product, "usage": {"meter": "tokens", "pricing": {"model": "graduated",
            "tiers": [{"up_to": "10000", "unit_price": "0.2"}, {"unit_price": "0.1"}]}}});
        // 100 events per customer over the previous period.
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
            let response = client
                .post(format!("{base}/api/v1/events"))
                .bearer_auth(&key)
                .header("content-type", "application/cloudevents-batch+json")
                .body(Value::Array(events).to_string())
                .send()
                .await?;
            if !response.status().is_success() {
                bail!("bench setup: events: {}", response.status());
            }
        }
    }
    // Contracts from 16 clients at once.
    let clients = 16;
    let customers = Arc::new(customers);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (client, base, key, product, start, customers, usage_line) = (
            client.clone(),
            base.clone(),
            key.clone(),
            product.clone(),
            start.clone(),
            customers.clone(),
            usage_line.clone(),
        );
        let count = args.subscriptions / clients + usize::from(c < args.subscriptions % clients);
        tasks.push(tokio::spawn(async move {
            for i in 0..count {
                let buyer = &customers[(i * clients + c) % customers.len()];
                let mut lines = vec![json!({"product_id": product, "unit_amount": 1_000 + (i % 500) as i64, "quantity": 1 + (i % 3) as i64})];
                if !usage_line.is_null() {
                    lines.push(usage_line.clone());
                }
                let contract = post(&client, &base, &key, "/v1/contracts", json!({"buyer_id": buyer, "currency": "USD", "term": {"start": start},
                    "effective_at": start, "lines": lines})).await?;
                let id = contract["id"].as_str().context("contract id")?.to_owned();
                post(&client, &base, &key, &format!("/v1/contracts/{id}/operations"), json!({"type": "activate", "effective_at": start})).await?;
            }
            Ok::<(), anyhow::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }

    let cause = crate::bootstrap::system_cause("bench");
    let started = Instant::now();
    let run = bursar_core::billing::run_billing(&server.app, &workspace.id, db.now(), &cause)
        .await
        .map_err(|e| anyhow::anyhow!("billing run: {}", e.message))?;
    let seconds = started.elapsed().as_secs_f64();
    if args.usage {
        // The figure counts invoices that rated usage, or it means nothing.
        let first = run.invoices_created.first().context("no invoice made")?;
        let invoice = client
            .get(format!("{base}/v1/invoices/{first}"))
            .bearer_auth(&key)
            .send()
            .await?
            .json::<Value>()
            .await?;
        let rated = invoice["lines"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|l| l["kind"] == "usage" && l["amount"].as_i64().unwrap_or(0) > 0);
        if !rated {
            bail!("the bench's invoices rated no usage: {invoice}");
        }
    }
    server.shutdown().await?;
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
