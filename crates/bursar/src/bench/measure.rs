//! What every bench shares: its arguments, the figure it reports, where its database lives,
//! and the HTTP load generator.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bursar_store::{Backend, Location};
use clap::{Args, ValueEnum};
use serde::Serialize;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    Sqlite,
    Postgres,
    Both,
}
