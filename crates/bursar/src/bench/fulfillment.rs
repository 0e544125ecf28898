//! `bursar bench fulfillment`: what shipped software and customers ask of Bursar.
//!
//! * `upload-64MiB`: artifact uploads of 64 MiB (streamed, hashed, synced), one at a time.
//! * `validate-c32`: license validations by key from 32 clients, keys chosen uniformly among
//!   10,000 licenses (as TigerBeetle's benchmark picks among 10,000 accounts).
//! * `download-64MiB-c4`: whole downloads of a 64 MiB artifact through download links from 4
//!   clients (MiB/s = ops/s × 64).
//!
//! Rate limits are lifted for the run; everything else is the real server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bursar_core::fulfillment::{create_link, issue_license, link_url, DownloadSettings};
use bursar_core::Context as MutationContext;
use bursar_domain::commerce::Product;
use bursar_domain::event::Cause;
use bursar_domain::fulfillment::{Artifact, License, LicensePolicy};
use bursar_domain::id::CustomerId;
use bursar_store::documents::{self, ARTIFACT, PRODUCT};
use bursar_store::{licenses, Backend, Db, PoolSettings, Tx};
use rand::Rng;
use serde_json::{json, Value};

use super::measure::{bench_location, figure, http_load, CommonArgs, Figure};
use crate::server::Server;

const LICENSES: usize = 10_000;
const FILE_MIB: usize = 64;

pub async fn run(backend: Backend, args: &CommonArgs) -> anyhow::Result<Vec<Figure>> {
    let (location, _guard) = bench_location(backend, args.database_url.as_deref()).await?;
    let db = Db::open(&location, &PoolSettings::default()).await?;
    db.set_sealer(bursar_store::seal::Sealer::random());
    let (workspace, _, secret) = crate::bootstrap::create_workspace_in(
        &db,
        "bench",
        bursar_domain::auth::Scope::Admin,
        bursar_domain::auth::WorkspaceMode::Sandbox,
    )
    .await?;
    let artifacts = tempfile::Builder::new()
        .prefix("bursar-bench-artifacts-")
        .tempdir()?;
    let settings = DownloadSettings {
        max_downloads: u32::MAX,
        max_ips: usize::MAX,
        per_ip_per_minute: u32::MAX,
        per_link_per_minute: u32::MAX,
        ..DownloadSettings::default()
    };
    let config = bursar_core::Config {
        artifacts_dir: artifacts.path().to_path_buf(),
        downloads: settings.clone(),
        ..bursar_core::Config::default()
    };
    let app = bursar_core::App::new(db.clone(), config);
    let server = Server::start(app, super::http_config(), "127.0.0.1:0".parse()?).await?;
    let base = server.base_url();
    let key = secret.expose().to_owned();
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };
    let created = |response: reqwest::Response| async move {
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() {
            bail!("bench setup: {status} {body}");
        }
        body["id"]
            .as_str()
            .map(str::to_owned)
            .context("bench setup: no id")
    };
    let product = created(
        post(
            "/v1/products",
            json!({"name": "Bench app", "kind": "digital", "license": {"prefix": "BNCH"}}),
        )
        .await?,
    )
    .await?;
    let customer = created(post("/v1/customers", json!({"name": "Bench buyer"})).await?).await?;

    // Uploads: distinct 64 MiB files, one at a time.
    let mut upload_latencies = Vec::new();
    let upload_started = Instant::now();
    let mut artifact_id = String::new();
    for version in 0..4_u8 {
        let bytes: Vec<u8> = (0..FILE_MIB << 20)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[1] ^ version)
            .collect();
        let sent = Instant::now();
        let response = client
            .post(format!(
                "{base}/v1/artifacts?product_id={product}&version=1.{version}.0&platform=any&file_name=bench-1.{version}.0.bin"
            ))
            .bearer_auth(&key)
            .body(bytes)
            .send()
            .await?;
        artifact_id = created(response).await?;
        upload_latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
    }
    let upload_seconds = upload_started.elapsed().as_secs_f64();

    // 10,000 licenses, issued as the fulfillment subscriber issues them; their keys, opened
    // from the sealed copies, for the clients.
    let sealer = db.sealer()?.clone();
    let mut keys: Vec<String> = Vec::with_capacity(LICENSES);
    for _ in 0..LICENSES / 500 {
        let (ws, product_id, customer_id, sealer) = (
            workspace.id.clone(),
            product.clone(),
            CustomerId::from_trusted(customer.clone()),
            sealer.clone(),
        );
        let now = db.now();
        let batch = db
            .write(move |tx: &mut Tx| {
                Box::pin(async move {
                    let cause = Cause {
                        request_id: None,
                        actor: Some("bench".into()),
                    };
                    let product: Product = documents::get(tx, PRODUCT, &ws, &product_id, false)
                        .await?
                        .ok_or_else(|| bursar_core::Error::not_found("product", &product_id))?;
                    let policy = LicensePolicy {
                        prefix: "BNCH".into(),
                        max_activations: None,
                        valid_days: None,
                        updates: Default::default(),
                    };
                    let mut ids = Vec::with_capacity(500);
                    let mut cx = MutationContext {
                        tx,
                        workspace_id: &ws,
                        now,
                        cause: &cause,
                    };
                    for _ in 0..500 {
                        let license: License = issue_license(
                            &mut cx,
                            &sealer,
                            &product,
                            &policy,
                            &customer_id,
                            None,
                            1,
                            None,
                        )
                        .await?;
                        ids.push(license.id.to_string());
                    }
                    let sealed = licenses::sealed_keys(cx.tx, &ws, &ids).await?;
                    let mut keys = Vec::with_capacity(sealed.len());
                    for key in sealed {
                        keys.push(sealer.open(key.sealed.as_deref().unwrap_or_default())?);
                    }
                    Ok::<_, bursar_core::Error>(keys)
                })
            })
            .await
            .map_err(|e| anyhow::anyhow!("issuing licenses: {}", e.message))?;
        keys.extend(batch);
    }
    let keys = Arc::new(keys);

    let clients = args.clients.unwrap_or(32);
    let (product_for, keys_for) = (product.clone(), keys.clone());
    let (validate_latencies, validate_errors, validate_seconds) = http_load(
        args,
        clients,
        &format!("{base}/v1/licenses/validate"),
        &key,
        move |_, _| {
            let pick = rand::thread_rng().gen_range(0..keys_for.len());
            (
                json!({"key": keys_for[pick], "product_id": product_for}),
                None,
            )
        },
    )
    .await?;

    // Downloads: links to the last artifact, as a paid order gets them.
    let (ws, artifact_for, customer_id) = (
        workspace.id.clone(),
        artifact_id.clone(),
        CustomerId::from_trusted(customer.clone()),
    );
    let now = db.now();
    let link_settings = settings.clone();
    let links = db
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let cause = Cause {
                    request_id: None,
                    actor: Some("bench".into()),
                };
                let artifact: Artifact = documents::get(tx, ARTIFACT, &ws, &artifact_for, false)
                    .await?
                    .ok_or_else(|| bursar_core::Error::not_found("artifact", &artifact_for))?;
                let mut cx = MutationContext {
                    tx,
                    workspace_id: &ws,
                    now,
                    cause: &cause,
                };
                let mut links = Vec::new();
                for _ in 0..4 {
                    links.push(
                        create_link(&mut cx, &link_settings, &customer_id, &artifact, None, None)
                            .await?
                            .id,
                    );
                }
                Ok::<_, bursar_core::Error>(links)
            })
        })
        .await
        .map_err(|e| anyhow::anyhow!("creating links: {}", e.message))?;
    let urls: Vec<String> = links
        .iter()
        .map(|id| link_url(&base, &sealer, id))
        .collect();
    let download_clients = 4;
    let started = Instant::now();
    let measure_from = started + Duration::from_secs(args.warmup_secs);
    let measure_until = measure_from + Duration::from_secs(args.duration_secs);
    let mut tasks = Vec::new();
    for url in urls.into_iter().take(download_clients) {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0_u64;
            while Instant::now() < measure_until {
                let sent = Instant::now();
                let mut complete = false;
                if let Ok(mut response) = client.get(&url).send().await {
                    let mut received = 0_usize;
                    while let Ok(Some(chunk)) = response.chunk().await {
                        received += chunk.len();
                    }
                    complete = response.status().is_success() && received == FILE_MIB << 20;
                }
                if sent >= measure_from {
                    if complete {
                        latencies
                            .push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                    } else {
                        errors += 1;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut download_latencies = Vec::new();
    let mut download_errors = 0;
    for task in tasks {
        let (mut part, errors) = task.await?;
        download_latencies.append(&mut part);
        download_errors += errors;
    }
    server.shutdown().await?;
    Ok(vec![
        figure(
            "fulfillment",
            format!("upload-{FILE_MIB}MiB"),
            backend,
            upload_latencies,
            0,
            upload_seconds,
        ),
        figure(
            "fulfillment",
            format!("validate-c{clients}-{LICENSES}-licenses"),
            backend,
            validate_latencies,
            validate_errors,
            validate_seconds,
        ),
        figure(
            "fulfillment",
            format!("download-{FILE_MIB}MiB-c{download_clients}"),
            backend,
            download_latencies,
            download_errors,
            Duration::from_secs(args.duration_secs).as_secs_f64(),
        ),
    ])
}
