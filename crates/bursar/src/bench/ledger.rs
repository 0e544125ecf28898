//! `bursar bench ledger`: transfers between 10,000 accounts chosen uniformly at random.
//!
//! * `batch-8190`: batches of 8,190 transfers submitted in-process, one after another, each
//!   committed durably before the next; figures are transfers per second and per-batch latency.
//! * `http-c64`: single transfers, one per `POST /v1/ledger/transfers`, from 64 concurrent
//!   clients on loopback; figures are transfers per second and per-request latency.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bursar_domain::auth::Scope;
use bursar_domain::id::WorkspaceId;
use bursar_domain::ledger::*;
use bursar_domain::money::Currency;
use bursar_store::{ledger, Backend, Db, PoolSettings, Tx};
use rand::Rng;

use super::measure::{bench_location, figure, http_load, CommonArgs, Figure};
use crate::server::Server;

pub const ACCOUNTS: usize = 10_000;
pub const BATCH: usize = TRANSFERS_PER_BATCH_MAX;

fn account_id(index: usize) -> String {
    format!("acct-{index:05}")
}

async fn create_accounts(db: &Db, workspace: &WorkspaceId) -> anyhow::Result<()> {
    let currency = Currency::parse("USD", "currency")?;
    let accounts: Vec<NewAccount> = (0..ACCOUNTS)
        .map(|i| NewAccount {
            id: AccountId::from_trusted(account_id(i)),
            currency,
            code: 1,
            flags: AccountFlags::default(),
            metadata: BTreeMap::new(),
        })
        .collect();
    let ws = workspace.clone();
    let now = db.now();
    db.write(move |tx: &mut Tx| {
        Box::pin(async move { ledger::create_accounts(tx, &ws, &accounts, now).await })
    })
    .await?;
    Ok(())
}

fn random_pair(rng: &mut impl Rng) -> (usize, usize) {
    let debit = rng.gen_range(0..ACCOUNTS);
    let mut credit = rng.gen_range(0..ACCOUNTS - 1);
    if credit >= debit {
        credit += 1;
    }
    (debit, credit)
}

pub async fn run(backend: Backend, args: &CommonArgs) -> anyhow::Result<Vec<Figure>> {
    let (location, _guard) = bench_location(backend, args.database_url.as_deref()).await?;
    let db = Db::open(&location, &PoolSettings::default()).await?;
    let (workspace, _, secret) =
        crate::bootstrap::create_workspace(&db, "bench", Scope::Admin).await?;
    create_accounts(&db, &workspace.id).await?;
    let batch = bench_batches(&db, &workspace.id, backend, args).await?;
    let server = Server::start(
        bursar_core::App::new(db, bursar_core::Config::default()),
        super::http_config(),
        "127.0.0.1:0".parse()?,
    )
    .await?;
    let http = bench_http(&server, secret.expose(), backend, args).await;
    server.shutdown().await?;
    Ok(vec![batch, http?])
}

async fn bench_batches(
    db: &Db,
    workspace: &WorkspaceId,
    backend: Backend,
    args: &CommonArgs,
) -> anyhow::Result<Figure> {
    let mut rng = rand::thread_rng();
    let started = Instant::now();
    let measure_from = started + Duration::from_secs(args.warmup_secs);
    let measure_until = measure_from + Duration::from_secs(args.duration_secs);
    let mut latencies_us = Vec::new();
    let mut transfers_measured = 0_u64;
    let mut measured_since: Option<Instant> = None;
    let mut sequence = 0_u64;
    let mut errors = 0_u64;
    let mut make_batch = |sequence: &mut u64| -> Vec<NewTransfer> {
        (0..BATCH)
            .map(|_| {
                *sequence += 1;
                let (debit, credit) = random_pair(&mut rng);
                NewTransfer::single(
                    TransferId::from_trusted(format!("b{sequence:012}")),
                    AccountId::from_trusted(account_id(debit)),
                    AccountId::from_trusted(account_id(credit)),
                    rng.gen_range(1..10_000),
                    1,
                )
            })
            .collect()
    };
    let mut batch = make_batch(&mut sequence);
    while Instant::now() < measure_until {
        let ws = workspace.clone();
        let clock = db.clock();
        let sent = Instant::now();
        // The client prepares its next batch while this one is being committed, as a client
        // with work queued would; batches are still committed one after another.
        let write = db.write(move |tx: &mut Tx| {
            Box::pin(async move { ledger::create_transfers(tx, &ws, &batch, clock.now()).await })
        });
        let (results, next) = tokio::join!(write, async { make_batch(&mut sequence) });
        let results: Vec<(TransferResult, Option<Transfer>)> = results?;
        batch = next;
        errors += results
            .iter()
            .filter(|(r, _)| *r != TransferResult::Ok)
            .count() as u64;
        if sent >= measure_from {
            measured_since.get_or_insert(sent);
            latencies_us.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
            transfers_measured += BATCH as u64;
        }
    }
    let seconds = measured_since
        .map(|t| t.elapsed().as_secs_f64())
        .unwrap_or(1.0);
    let mut result = figure(
        "ledger",
        "batch-8190".into(),
        backend,
        latencies_us,
        errors,
        seconds,
    );
    // Throughput counts transfers, latency is per batch.
    result.ops = transfers_measured;
    result.ops_per_sec = (transfers_measured as f64 / seconds).round();
    Ok(result)
}

async fn bench_http(
    server: &Server,
    secret: &str,
    backend: Backend,
    args: &CommonArgs,
) -> anyhow::Result<Figure> {
    let clients = args.clients.unwrap_or(64);
    let url = format!("{}/v1/ledger/transfers", server.base_url());
    let (latencies_us, errors, seconds) =
        http_load(args, clients, &url, secret, |client_index, sequence| {
            let (debit, credit) = random_pair(&mut rand::thread_rng());
            let body = serde_json::json!({
                "id": format!("h{client_index}-{sequence}"),
                "debit_account_id": account_id(debit),
                "credit_account_id": account_id(credit),
                "amount": 100,
                "code": 1,
            });
            (body, None)
        })
        .await?;
    Ok(figure(
        "ledger",
        format!("http-c{clients}"),
        backend,
        latencies_us,
        errors,
        seconds,
    ))
}
