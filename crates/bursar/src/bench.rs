//! `bursar bench`: throughput and latency, one JSON line per measured configuration.
//!
//! Benchmarks report figures; they assert nothing. Each runs the real server on a fresh
//! database (SQLite in a temporary directory, or PostgreSQL: the `--database-url` given, or a
//! private durable cluster started for the run) and cleans up after itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bursar_http::HttpConfig;
use bursar_store::{Backend, Db, Location, PoolSettings};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use crate::server::Server;

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub which: Which,
}

#[derive(Debug, Subcommand)]
pub enum Which {
    /// Create-customer requests over HTTP from concurrent clients.
    Api(CommonArgs),
    /// Ledger transfers: in-process batches of 8,190, and single transfers over HTTP from
    /// concurrent clients, between 10,000 accounts chosen uniformly (TigerBeetle's default).
    Ledger(CommonArgs),
    /// Paid orders: create an order → open its checkout (test provider) → deliver the signed
    /// payment webhook → paid, from concurrent clients; orders/s and per-order latency.
    Checkout(CommonArgs),
    /// Domain events from commit to delivery: concurrent producers commit events while the
    /// relay delivers each to three subscribers; events/s and commit-to-delivery lag.
    Relay(CommonArgs),
    /// Usage events through `POST /api/v1/events` (batches of 1,000, 8 clients), then meter
    /// queries over a month of hourly windows on 10 million events.
    Ingest(crate::bench_ingest::IngestArgs),
    /// Digital fulfillment: 64 MiB artifact uploads; license validations among 10,000
    /// licenses from concurrent clients (default 32); 64 MiB downloads through links from 4.
    Fulfillment(CommonArgs),
    /// A billing run over active contracts (default 100,000, made through the API first, not
    /// measured): invoices made per second.
    Invoices(crate::bench_invoices::InvoicesArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    Sqlite,
    Postgres,
    Both,
}

#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Which database to measure.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub backend: BackendChoice,
    /// PostgreSQL to measure on (default: a private cluster started for the run).
    #[arg(long, env = "BURSAR_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Concurrent clients (default: 32 for api and relay, 64 for ledger).
    #[arg(long)]
    pub clients: Option<usize>,
    /// Measured seconds per configuration (after the warm-up).
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    /// Unmeasured seconds before measuring.
    #[arg(long, default_value_t = 2)]
    pub warmup_secs: u64,
}

/// One measured configuration.
#[derive(Debug, Serialize)]
pub struct Figure {
    pub bench: &'static str,
    pub config: String,
    pub backend: &'static str,
    pub ops: u64,
    pub errors: u64,
    pub seconds: f64,
    pub ops_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.which {
        Which::Api(common) => {
            for backend in backends(common.backend) {
                let figure = bench_api(backend, &common).await?;
                println!("{}", serde_json::to_string(&figure)?);
            }
        }
        Which::Checkout(common) => {
            for backend in backends(common.backend) {
                let figure = crate::bench_checkout::run(backend, &common).await?;
                println!("{}", serde_json::to_string(&figure)?);
            }
        }
        Which::Relay(common) => {
            for backend in backends(common.backend) {
                let figure = crate::bench_relay::run(backend, &common).await?;
                println!("{}", serde_json::to_string(&figure)?);
            }
        }
        Which::Ingest(args) => {
            for backend in backends(args.common.backend) {
                for figure in crate::bench_ingest::run(backend, &args).await? {
                    println!("{}", serde_json::to_string(&figure)?);
                }
            }
        }
        Which::Invoices(args) => {
            for backend in backends(args.common.backend) {
                let figure = crate::bench_invoices::run(backend, &args).await?;
                println!("{}", serde_json::to_string(&figure)?);
            }
        }
        Which::Fulfillment(common) => {
            for backend in backends(common.backend) {
                for figure in crate::bench_fulfillment::run(backend, &common).await? {
                    println!("{}", serde_json::to_string(&figure)?);
                }
            }
        }
        Which::Ledger(common) => {
            for backend in backends(common.backend) {
                for figure in crate::bench_ledger::run(backend, &common).await? {
                    println!("{}", serde_json::to_string(&figure)?);
                }
            }
        }
    }
    Ok(())
}

fn backends(choice: BackendChoice) -> Vec<Backend> {
    match choice {
        BackendChoice::Sqlite => vec![Backend::Sqlite],
        BackendChoice::Postgres => vec![Backend::Postgres],
        BackendChoice::Both => vec![Backend::Sqlite, Backend::Postgres],
    }
}

/// A fresh database for a benchmark; the guard deletes a SQLite directory when dropped.
pub async fn bench_location(
    backend: Backend,
    database_url: Option<&str>,
) -> anyhow::Result<(Location, Option<tempfile::TempDir>)> {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::Builder::new().prefix("bursar-bench-").tempdir()?;
            Ok((Location::SqliteDir(dir.path().to_path_buf()), Some(dir)))
        }
        Backend::Postgres => {
            let url = match database_url {
                Some(url) => url.to_owned(),
                None => {
                    let admin = bursar_testkit::start_private_cluster(true).await?;
                    bursar_testkit::create_database(&admin).await?
                }
            };
            Ok((Location::Postgres(url), None))
        }
    }
}

async fn bench_api(backend: Backend, args: &CommonArgs) -> anyhow::Result<Figure> {
    let (location, _guard) = bench_location(backend, args.database_url.as_deref()).await?;
    let db = Db::open(&location, &PoolSettings::default()).await?;
    let (_, _, secret) =
        crate::bootstrap::create_workspace(&db, "bench", bursar_domain::auth::Scope::Admin).await?;
    let server = Server::start(
        bursar_core::App::new(db, bursar_core::Config::default()),
        HttpConfig::default(),
        "127.0.0.1:0".parse()?,
    )
    .await?;
    let url = format!("{}/v1/customers", server.base_url());
    let clients = args.clients.unwrap_or(32);
    let load = http_load(
        args,
        clients,
        &url,
        secret.expose(),
        |client_index, sequence| {
            let body = serde_json::json!({
                "email": format!("c{client_index}-{sequence}@bench.example"),
                "name": format!("Bench customer {client_index}-{sequence}"),
                "metadata": {"source": "bench"}
            });
            (body, Some(format!("bench-{client_index}-{sequence}")))
        },
    )
    .await;
    server.shutdown().await?;
    let (latencies_us, errors, seconds) = load?;
    Ok(figure(
        "api",
        format!("create-customer-c{clients}"),
        backend,
        latencies_us,
        errors,
        seconds,
    ))
}

/// Runs `clients` concurrent loops of `POST url` for the warm-up and measured periods; each
/// request's body (and Idempotency-Key, if any) comes from `request(client, sequence)`.
/// Returns the latencies of successful measured requests (microseconds), the measured
/// failures, and the measured seconds.
pub async fn http_load(
    args: &CommonArgs,
    clients: usize,
    url: &str,
    key: &str,
    request: impl Fn(usize, u64) -> (serde_json::Value, Option<String>) + Send + Sync + 'static,
) -> anyhow::Result<(Vec<u32>, u64, f64)> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .context("building the HTTP client")?;
    let request = Arc::new(request);
    let key = Arc::new(key.to_owned());
    let url = Arc::new(url.to_owned());
    let started = Instant::now();
    let measure_from = started + Duration::from_secs(args.warmup_secs);
    let measure_until = measure_from + Duration::from_secs(args.duration_secs);
    let mut tasks = Vec::with_capacity(clients);
    for client_index in 0..clients {
        let (client, url, key, request) =
            (client.clone(), url.clone(), key.clone(), request.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies_us: Vec<u32> = Vec::new();
            let mut errors = 0_u64;
            let mut sequence = 0_u64;
            loop {
                let sent = Instant::now();
                if sent >= measure_until {
                    break;
                }
                sequence += 1;
                let (body, idempotency_key) = request(client_index, sequence);
                let mut builder = client
                    .post(url.as_str())
                    .bearer_auth(key.as_str())
                    .json(&body);
                if let Some(idempotency_key) = idempotency_key {
                    builder = builder.header("Idempotency-Key", idempotency_key);
                }
                let response = builder.send().await;
                let ok = matches!(&response, Ok(r) if r.status().is_success());
                if let Ok(r) = response {
                    let _ = r.bytes().await;
                }
                if sent >= measure_from {
                    if ok {
                        let micros = sent.elapsed().as_micros();
                        latencies_us.push(u32::try_from(micros).unwrap_or(u32::MAX));
                    } else {
                        errors += 1;
                    }
                }
            }
            (latencies_us, errors)
        }));
    }
    let mut latencies_us = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (mut part, part_errors) = task.await?;
        latencies_us.append(&mut part);
        errors += part_errors;
    }
    Ok((
        latencies_us,
        errors,
        Duration::from_secs(args.duration_secs).as_secs_f64(),
    ))
}

/// Summarises latencies (microseconds) measured over `seconds`.
pub fn figure(
    bench: &'static str,
    config: String,
    backend: Backend,
    mut latencies_us: Vec<u32>,
    errors: u64,
    seconds: f64,
) -> Figure {
    latencies_us.sort_unstable();
    let ops = u64::try_from(latencies_us.len()).unwrap_or(u64::MAX);
    let percentile_ms = |p: usize| -> f64 {
        if latencies_us.is_empty() {
            return 0.0;
        }
        // Nearest-rank percentile: the smallest value with at least p% of values at or below.
        let rank = (latencies_us.len() * p).div_ceil(100).max(1);
        f64::from(latencies_us[rank - 1]) / 1000.0
    };
    let round = |v: f64| (v * 1000.0).round() / 1000.0;
    Figure {
        bench,
        config,
        backend: backend.as_str(),
        ops,
        errors,
        seconds,
        ops_per_sec: round(ops as f64 / seconds),
        p50_ms: round(percentile_ms(50)),
        p99_ms: round(percentile_ms(99)),
        max_ms: round(
            latencies_us
                .last()
                .map(|&v| f64::from(v) / 1000.0)
                .unwrap_or(0.0),
        ),
    }
}
