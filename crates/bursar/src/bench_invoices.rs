//! `bursar bench invoices`: a billing run over many active contracts (their subscriptions):
//! invoices made per second. The contracts are made through the API first (not measured),
//! spread over 1,000 customers; the run is `bursar_http::billing::run_billing`, as
//! `POST /v1/billing_runs` and `bursar billing run` call it, with no event relay running.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use bursar_http::HttpConfig;
use bursar_store::{Backend, Db, PoolSettings};
use clap::Args;
use serde_json::{json, Value};

use crate::bench::{bench_location, CommonArgs, Figure};
use crate::server::Server;

#[derive(Debug, Clone, Args)]
pub struct InvoicesArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Active contracts to bill.
    #[arg(long, default_value_t = 100_000)]
    pub subscriptions: usize,
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
        db.clone(),
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
    let start =
        bursar_domain::time::Timestamp::from_unix_micros(db.now().unix_micros() - 86_400_000_000)
            .to_rfc3339();
    // Contracts from 16 clients at once.
    let clients = 16;
    let customers = Arc::new(customers);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (client, base, key, product, start, customers) = (
            client.clone(),
            base.clone(),
            key.clone(),
            product.clone(),
            start.clone(),
            customers.clone(),
        );
        let count = args.subscriptions / clients + usize::from(c < args.subscriptions % clients);
        tasks.push(tokio::spawn(async move {
            for i in 0..count {
                let buyer = &customers[(i * clients + c) % customers.len()];
                let contract = post(&client, &base, &key, "/v1/contracts", json!({"buyer_id": buyer, "currency": "USD", "term": {"start": start},
                    "lines": [{"product_id": product, "unit_amount": 1_000 + (i % 500) as i64, "quantity": 1 + (i % 3) as i64}]})).await?;
                let id = contract["id"].as_str().context("contract id")?.to_owned();
                post(&client, &base, &key, &format!("/v1/contracts/{id}/operations"), json!({"type": "activate"})).await?;
            }
            Ok::<(), anyhow::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }

    let (_, state) = bursar_http::app_with_state(db.clone(), HttpConfig::default());
    let cause = crate::bootstrap::system_cause("bench");
    let started = Instant::now();
    let run = bursar_http::billing::run_billing(&state, &workspace.id, db.now(), &cause)
        .await
        .map_err(|e| anyhow::anyhow!("billing run: {}", e.message))?;
    let seconds = started.elapsed().as_secs_f64();
    server.shutdown().await?;
    let ops = run.invoices_created.len() as u64;
    let round = |v: f64| (v * 1000.0).round() / 1000.0;
    Ok(Figure {
        bench: "invoices",
        config: format!("billing-run-{}-subscriptions", args.subscriptions),
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
