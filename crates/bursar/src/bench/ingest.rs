//! `bursar bench ingest`: usage events per second through `POST /api/v1/events` in batches of
//! 1,000 from 8 concurrent clients (`ingest-b1000-c8`), then meter-query latency for a month of
//! hourly windows over 10 million events (`query-month-hourly`: one customer's month, as billing
//! and a customer's usage page ask; `query-month-hourly-all-subjects`: the whole meter).
//!
//! Ingested events look like a live producer's: random 128-bit ids (as UUIDv4), times around
//! now, 1,000 subjects, two event types each feeding one meter with a group-by. The query data
//! set is loaded in-process (the same store code as the HTTP path, without HTTP) in time order,
//! as usage arrives: 100 subjects, 4 models, spread over 30 days.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bursar_domain::id::WorkspaceId;
use bursar_domain::metering::{CompiledMeter, MeterCreate, UsageEvent};
use bursar_domain::time::Timestamp;
use bursar_store::metering::{self, Metered};
use bursar_store::{Backend, Db, PoolSettings, StoreError, Tx};
use clap::Args;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::measure::{bench_location, figure, CommonArgs, Figure};
use crate::server::Server;

#[derive(Debug, Clone, Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Events in the query data set.
    #[arg(long, default_value_t = 10_000_000)]
    pub query_events: u64,
    /// Skip the query benchmark (it loads `--query-events` first).
    #[arg(long)]
    pub no_query: bool,
}

const BATCH: usize = 1_000;

async fn create_meter(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    body: serde_json::Value,
) -> anyhow::Result<()> {
    let response = client
        .post(format!("{base}/api/v1/meters"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!(
            "creating a meter: {} {}",
            response.status(),
            response.text().await?
        );
    }
    Ok(())
}

/// A batch body of `BATCH` events, written directly (the client must not be the bottleneck).
fn batch_body(rng: &mut rand::rngs::StdRng, now: i64) -> String {
    let mut body = String::with_capacity(BATCH * 260);
    body.push('[');
    for i in 0..BATCH {
        if i > 0 {
            body.push(',');
        }
        let id: u128 = rng.gen();
        let subject = rng.gen_range(0..1_000);
        let at = Timestamp::from_unix_micros((now - rng.gen_range(0..30)) * 1_000_000).to_rfc3339();
        if i % 2 == 0 {
            let endpoint = ["/v1/search", "/v1/embed", "/v1/chat"][rng.gen_range(0..3)];
            body.push_str(&format!(
                r#"{{"specversion":"1.0","id":"{id:032x}","source":"bench","type":"api_call","subject":"customer-{subject}","time":"{at}","data":{{"endpoint":"{endpoint}","status":200}}}}"#
            ));
        } else {
            let model = ["small", "medium", "large", "xl"][rng.gen_range(0..4)];
            let tokens = rng.gen_range(1..4_000);
            body.push_str(&format!(
                r#"{{"specversion":"1.0","id":"{id:032x}","source":"bench","type":"prompt","subject":"customer-{subject}","time":"{at}","data":{{"model":"{model}","tokens":{tokens}}}}}"#
            ));
        }
    }
    body.push(']');
    body
}

pub async fn run(backend: Backend, args: &IngestArgs) -> anyhow::Result<Vec<Figure>> {
    let common = &args.common;
    let (location, _guard) = bench_location(backend, common.database_url.as_deref()).await?;
    let db = Db::open(&location, &PoolSettings::default()).await?;
    let (workspace, _, secret) =
        crate::bootstrap::create_workspace(&db, "bench", bursar_domain::auth::Scope::Admin).await?;
    let server = Server::start(
        bursar_core::App::new(db.clone(), bursar_core::Config::default()),
        super::http_config(),
        "127.0.0.1:0".parse()?,
    )
    .await?;
    let base = server.base_url();
    let key = secret.expose().to_owned();
    let clients = common.clients.unwrap_or(8);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients * 2)
        .build()?;
    create_meter(&client, &base, &key, json!({"slug": "api_calls", "aggregation": "COUNT", "eventType": "api_call", "groupBy": {"endpoint": "$.endpoint"}})).await?;
    create_meter(&client, &base, &key, json!({"slug": "tokens", "aggregation": "SUM", "eventType": "prompt", "valueProperty": "$.tokens", "groupBy": {"model": "$.model"}})).await?;

    let started = Instant::now();
    let measure_from = started + Duration::from_secs(common.warmup_secs);
    let measure_until = measure_from + Duration::from_secs(common.duration_secs);
    let mut tasks = Vec::new();
    for index in 0..clients {
        let (client, base, key, db) = (client.clone(), base.clone(), key.clone(), db.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(index as u64);
            let (mut latencies, mut errors, mut first_error) = (Vec::new(), 0_u64, None::<String>);
            loop {
                let body = batch_body(&mut rng, db.now().unix_micros() / 1_000_000);
                let sent = Instant::now();
                if sent >= measure_until {
                    break;
                }
                let result = client
                    .post(format!("{base}/api/v1/events"))
                    .bearer_auth(&key)
                    .header("content-type", "application/cloudevents-batch+json")
                    .body(body)
                    .send()
                    .await;
                let outcome = match result {
                    Ok(r) if r.status() == 204 => Ok(()),
                    Ok(r) => Err(format!(
                        "{} {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    )),
                    Err(e) => Err(e.to_string()),
                };
                if sent >= measure_from {
                    match outcome {
                        Ok(()) => latencies
                            .push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX)),
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert(e);
                        }
                    }
                }
            }
            (latencies, errors, first_error)
        }));
    }
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for task in tasks {
        let (mut part, part_errors, first_error) = task.await?;
        if let Some(error) = first_error {
            tracing::warn!(%error, "bench ingest: a batch failed");
        }
        latencies.append(&mut part);
        errors += part_errors;
    }
    let seconds = Duration::from_secs(common.duration_secs).as_secs_f64();
    let mut ingest = figure(
        "ingest",
        format!("ingest-b{BATCH}-c{clients}"),
        backend,
        latencies,
        errors,
        seconds,
    );
    // Throughput in events: each operation is a batch.
    ingest.ops *= BATCH as u64;
    ingest.ops_per_sec = (ingest.ops as f64 / seconds).round();
    let mut figures = vec![ingest];
    if !args.no_query {
        figures.extend(query_bench(&db, &workspace.id, &client, &base, &key, backend, args).await?);
    }
    server.shutdown().await?;
    Ok(figures)
}

/// Loads the query data set in-process, then measures sequential queries over HTTP.
async fn query_bench(
    db: &Db,
    workspace: &WorkspaceId,
    client: &reqwest::Client,
    base: &str,
    key: &str,
    backend: Backend,
    args: &IngestArgs,
) -> anyhow::Result<Vec<Figure>> {
    const SUBJECTS: u64 = 100;
    const JOB: u64 = 10_000;
    const MODELS: [&str; 4] = ["a10", "a100", "h100", "l4"];
    let create = MeterCreate {
        slug: "gpu_seconds".into(),
        aggregation: bursar_domain::metering::Aggregation::Sum,
        event_type: "gpu".into(),
        name: None,
        description: None,
        metadata: None,
        event_from: None,
        value_property: Some("$.seconds".into()),
        group_by: Some([("model".to_owned(), "$.model".to_owned())].into()),
    };
    let mut meter = create
        .into_meter(db.now())
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let ws = workspace.clone();
    let meter = db
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                metering::insert_meter(tx, &ws, &mut meter).await?;
                Ok::<_, StoreError>(meter)
            })
        })
        .await?;
    let compiled = Arc::new(CompiledMeter::new(meter).map_err(|e| anyhow::anyhow!(e))?);
    // 30 days ending at the last midnight.
    let now = db.now().unix_micros() / 1_000_000;
    let end = now.div_euclid(86_400) * 86_400;
    let start = end - 30 * 86_400;
    let total = args.query_events;
    let loaded = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut loaders = Vec::new();
    for loader in 0..4_u64 {
        let (db, ws, compiled, next) = (
            db.clone(),
            workspace.clone(),
            compiled.clone(),
            next.clone(),
        );
        loaders.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(1_000 + loader);
            loop {
                let first = next.fetch_add(JOB, Ordering::Relaxed);
                if first >= total {
                    return Ok::<(), anyhow::Error>(());
                }
                let count = JOB.min(total - first);
                let events: Vec<UsageEvent> = (first..first + count)
                    .map(|n| {
                        let at = start + i64::try_from(n * 30 * 86_400 / total).unwrap_or(0);
                        UsageEvent {
                            id: format!("q{n}"),
                            source: "bench".into(),
                            event_type: "gpu".into(),
                            subject: format!("customer-{}", rng.gen_range(0..SUBJECTS)),
                            time: Timestamp::from_unix_micros(at * 1_000_000),
                            data: Some(json!({"model": MODELS[rng.gen_range(0..4)], "seconds": rng.gen_range(1..120)})),
                        }
                    })
                    .collect();
                let (ws, compiled, arrived) = (ws.clone(), compiled.clone(), db.now());
                db.write(move |tx: &mut Tx| {
                    Box::pin(async move {
                        let mut contributions = Vec::with_capacity(events.len());
                        let mut data = Vec::with_capacity(events.len());
                        for event in &events {
                            let contribution = compiled.contribution(event).map_err(StoreError::Corrupt)?;
                            contributions.push(contribution.into_iter().map(|(c, g)| (0, c, g)).collect::<Vec<_>>());
                            data.push(event.data.as_ref().map(serde_json::Value::to_string));
                        }
                        let metered: Vec<Metered<'_>> = events
                            .iter()
                            .zip(&data)
                            .zip(&contributions)
                            .map(|((event, data), contributions)| Metered { event, data: data.as_deref(), contributions })
                            .collect();
                        metering::ingest(tx, &ws, std::slice::from_ref(&compiled), &metered, arrived).await
                    })
                })
                .await?;
            }
        }));
    }
    for loader in loaders {
        loader.await??;
    }
    tracing::info!(
        events = total,
        seconds = loaded.elapsed().as_secs_f64(),
        "bench ingest: query data loaded"
    );
    if backend == Backend::Postgres {
        // Statistics, as autovacuum would gather them on a live database after such a load.
        db.write(|tx: &mut Tx| Box::pin(async move { tx.execute_batch("analyze").await }))
            .await?;
    }
    let window = format!(
        "from={}&to={}&windowSize=HOUR",
        Timestamp::from_unix_micros(start * 1_000_000).to_rfc3339(),
        Timestamp::from_unix_micros(end * 1_000_000).to_rfc3339()
    );
    let mut figures = Vec::new();
    for (config, per_subject) in [
        ("query-month-hourly", true),
        ("query-month-hourly-all-subjects", false),
    ] {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let measure = Duration::from_secs(args.common.duration_secs);
        let (mut latencies, mut errors) = (Vec::new(), 0_u64);
        let began = Instant::now();
        let mut rows = 0;
        while began.elapsed() < measure {
            let subject = if per_subject {
                format!("&subject=customer-{}", rng.gen_range(0..SUBJECTS))
            } else {
                String::new()
            };
            let sent = Instant::now();
            let response = client
                .get(format!(
                    "{base}/api/v1/meters/gpu_seconds/query?{window}{subject}"
                ))
                .bearer_auth(key)
                .send()
                .await?;
            let ok = response.status().is_success();
            let body: serde_json::Value = response.json().await?;
            let elapsed = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
            if ok {
                rows = body["data"].as_array().context("data")?.len();
                latencies.push(elapsed);
            } else {
                errors += 1;
            }
        }
        tracing::info!(config, rows, "bench ingest: rows per query");
        figures.push(figure(
            "ingest",
            config.to_owned(),
            backend,
            latencies,
            errors,
            measure.as_secs_f64(),
        ));
    }
    Ok(figures)
}
