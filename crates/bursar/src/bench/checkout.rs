//! `bursar bench checkout`: complete orders per second. Each client loops: create an order
//! (priced by the resolver) → open its checkout with the embedded test provider → deliver the
//! provider's signed `payment_intent.succeeded` webhook, as Stripe would POST it → the order is
//! paid (state, ledger postings, events in one transaction). Latency is per order, from the
//! first request to the webhook's acknowledgement.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bursar_payments::{signature, stripe};
use bursar_store::{Backend, Db, PoolSettings, Tx};
use serde_json::{json, Value};

use super::measure::{bench_location, figure, CommonArgs, Figure};
use crate::server::Server;

struct Shop {
    base: String,
    key: String,
    product: String,
    customers: Vec<String>,
}

async fn post(
    client: &reqwest::Client,
    shop: &Shop,
    path: &str,
    body: &Value,
) -> anyhow::Result<Value> {
    let response = client
        .post(format!("{}{path}", shop.base))
        .bearer_auth(&shop.key)
        .json(body)
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    if !status.is_success() {
        bail!("{path}: {status} {body}");
    }
    Ok(body)
}

/// One order, start to paid.
async fn one_order(
    client: &reqwest::Client,
    shop: &Shop,
    secret: &str,
    customer: &str,
    now: impl Fn() -> i64,
) -> anyhow::Result<()> {
    let order = post(client, shop, "/v1/orders", &json!({"customer_id": customer, "currency": "USD", "lines": [{"product_id": shop.product, "quantity": 2}]})).await?;
    let id = order["id"].as_str().context("order id")?.to_owned();
    let order = post(
        client,
        shop,
        &format!("/v1/orders/{id}/checkout"),
        &json!({}),
    )
    .await?;
    let payment_id = order["checkout"]["payment_id"]
        .as_str()
        .context("payment id")?
        .to_owned();
    let provider = order["checkout"]["provider_id"]
        .as_str()
        .context("provider")?
        .to_owned();
    let total = order["totals"]["total"].as_i64().context("total")?;
    let created = now();
    let object = json!({
        "id": payment_id, "object": "payment_intent", "amount": total, "amount_received": total,
        "currency": "usd", "status": "succeeded", "metadata": { stripe::ORDER_ID_KEY: id },
        "payment_method": "pm_card_visa", "customer": null, "livemode": false, "created": created,
    });
    let payload = stripe::event_json(
        &format!("evt_bench_{id}"),
        "payment_intent.succeeded",
        created,
        object,
    )
    .to_string();
    let header = signature::header(&[secret], created, payload.as_bytes());
    let response = client
        .post(format!("{}/v1/webhooks/{provider}", shop.base))
        .header(signature::HEADER, header)
        .header("content-type", "application/json")
        .body(payload)
        .send()
        .await?;
    let status = response.status();
    let receipt: Value = response.json().await?;
    if !status.is_success() || receipt["outcome"] != "applied" {
        bail!("webhook: {status} {receipt}");
    }
    Ok(())
}

pub async fn run(backend: Backend, args: &CommonArgs) -> anyhow::Result<Figure> {
    let (location, _guard) = bench_location(backend, args.database_url.as_deref()).await?;
    let db = Db::open(&location, &PoolSettings::default()).await?;
    // PostgreSQL takes its sealing key from BURSAR_SECRET_KEY; a bench brings its own.
    db.set_sealer(bursar_store::seal::Sealer::random());
    let (_, _, secret) = crate::bootstrap::create_workspace_in(
        &db,
        "bench",
        bursar_domain::auth::Scope::Admin,
        bursar_domain::auth::WorkspaceMode::Sandbox,
    )
    .await?;
    let server = Server::start(
        bursar_core::App::new(db.clone(), bursar_core::Config::default()),
        super::http_config(),
        "127.0.0.1:0".parse()?,
    )
    .await?;
    let clients = args.clients.unwrap_or(32);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients * 2)
        .build()?;
    let mut shop = Shop {
        base: server.base_url(),
        key: secret.expose().to_owned(),
        product: String::new(),
        customers: Vec::new(),
    };
    shop.product = post(
        &client,
        &shop,
        "/v1/products",
        &json!({"name": "Bench licence", "kind": "digital"}),
    )
    .await?["id"]
        .as_str()
        .context("product")?
        .to_owned();
    post(
        &client,
        &shop,
        "/v1/prices",
        &json!({"product_id": shop.product, "currency": "USD", "unit_amount": 4900}),
    )
    .await?;
    for i in 0..clients {
        let customer = post(
            &client,
            &shop,
            "/v1/customers",
            &json!({"name": format!("Buyer {i}"), "email": format!("buyer{i}@bench.example")}),
        )
        .await?;
        shop.customers
            .push(customer["id"].as_str().context("customer")?.to_owned());
    }
    // The first checkout creates the workspace's test provider; its signing secret is what the
    // bench signs with, as the provider would.
    let warm = post(&client, &shop, "/v1/orders", &json!({"customer_id": shop.customers[0], "currency": "USD", "lines": [{"product_id": shop.product}]})).await?;
    post(
        &client,
        &shop,
        &format!("/v1/orders/{}/checkout", warm["id"].as_str().context("id")?),
        &json!({}),
    )
    .await?;
    let sealed: String = db
        .read(|tx: &mut Tx| {
            Box::pin(async move {
                tx.fetch_one(
                    "select webhook_secrets_sealed from payment_provider where kind = 'test'",
                    &[],
                )
                .await?
                .text("webhook_secrets_sealed")
            })
        })
        .await?;
    let secrets: Vec<String> = serde_json::from_str(&db.sealer()?.open(&sealed)?)?;
    let signing = Arc::new(secrets.first().context("no signing secret")?.clone());
    let shop = Arc::new(shop);
    let started = Instant::now();
    let measure_from = started + Duration::from_secs(args.warmup_secs);
    let measure_until = measure_from + Duration::from_secs(args.duration_secs);
    let mut tasks = Vec::new();
    for index in 0..clients {
        let (client, shop, signing, db) =
            (client.clone(), shop.clone(), signing.clone(), db.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::new();
            let mut errors = 0_u64;
            let mut first_error: Option<String> = None;
            loop {
                let sent = Instant::now();
                if sent >= measure_until {
                    break;
                }
                let result = one_order(&client, &shop, &signing, &shop.customers[index], || {
                    db.now().unix_micros() / 1_000_000
                })
                .await;
                if sent >= measure_from {
                    match result {
                        Ok(()) => latencies
                            .push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX)),
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert(e.to_string());
                        }
                    }
                }
            }
            (latencies, errors, first_error)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (mut part, part_errors, first_error) = task.await?;
        if let Some(error) = first_error {
            tracing::warn!(%error, "bench checkout: an order failed");
        }
        latencies.append(&mut part);
        errors += part_errors;
    }
    server.shutdown().await?;
    Ok(figure(
        "checkout",
        format!("paid-orders-c{clients}"),
        backend,
        latencies,
        errors,
        Duration::from_secs(args.duration_secs).as_secs_f64(),
    ))
}
