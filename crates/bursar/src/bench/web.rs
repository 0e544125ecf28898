//! `bursar bench web`: the web pages people wait on, over HTTP from concurrent clients (default
//! 32), on a database holding many customers (default 100,000) with their orders (default
//! 1,000,000) and issued invoices (default 1,000,000): the storefront's product page (each
//! client a returning visitor with its browser session), and the customer portal's account
//! page (its orders and invoices lists), each client signed in as another customer.
//!
//! One product, its price, the shop and one template order and invoice are made through the
//! API; the bulk rows are copies of those documents under fresh ids, written straight into the
//! tables (not measured). Portal sessions are opened by the core's magic-link sign-in.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bursar_domain::id::{CustomerId, InvoiceId, OrderId, WorkspaceId};
use bursar_store::documents::{self, INVOICE, ORDER};
use bursar_store::sql::Param;
use bursar_store::{Backend, Db, PoolSettings, StoreError, Tx};
use clap::Args;
use serde_json::{json, Value};

use super::measure::{bench_location, figure, CommonArgs, Figure};
use crate::server::Server;

#[derive(Debug, Clone, Args)]
pub struct WebArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Customers in the database.
    #[arg(long, default_value_t = 100_000)]
    pub customers: usize,
    /// Orders, spread evenly over the customers.
    #[arg(long, default_value_t = 1_000_000)]
    pub orders: usize,
    /// Issued invoices, spread evenly over the customers.
    #[arg(long, default_value_t = 1_000_000)]
    pub invoices: usize,
}

/// Rows written per write job while seeding.
const SEED_BATCH: usize = 10_000;

struct Site {
    base: String,
    key: String,
    client: reqwest::Client,
}

impl Site {
    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() {
            bail!("{path}: {status} {body}");
        }
        Ok(body)
    }
}

fn id_of(value: &Value) -> anyhow::Result<String> {
    Ok(value["id"].as_str().context("an id")?.to_owned())
}

pub async fn run(backend: Backend, args: &WebArgs) -> anyhow::Result<Vec<Figure>> {
    let (location, _guard) = bench_location(backend, args.common.database_url.as_deref()).await?;
    let db = Db::open(&location, &PoolSettings::default()).await?;
    db.set_sealer(bursar_store::seal::Sealer::random());
    let (workspace, _, secret) = crate::bootstrap::create_workspace_in(
        &db,
        "bench",
        bursar_domain::auth::Scope::Admin,
        bursar_domain::auth::WorkspaceMode::Sandbox,
    )
    .await?;
    let app = bursar_core::App::new(db.clone(), bursar_core::Config::default());
    let server = Server::start(app.clone(), super::http_config(), "127.0.0.1:0".parse()?).await?;
    let clients = args.common.clients.unwrap_or(32);
    let site = Site {
        base: server.base_url(),
        key: secret.expose().to_owned(),
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(clients * 2)
            .build()?,
    };
    let product = open_shop(&site).await?;
    let templates = templates(&site, &db, &workspace.id, &product).await?;
    let started = Instant::now();
    let customers = seed(&db, &workspace.id, &templates, args).await?;
    tracing::info!(
        seconds = started.elapsed().as_secs(),
        "bench web: the database is seeded"
    );
    let shop = bursar_core::storefront::open_shop(&app, "bench")
        .await?
        .context("the bench shop")?;
    let mut sessions = Vec::with_capacity(clients);
    for client in 0..clients {
        let customer = client * (customers.len() / clients.max(1));
        sessions.push(portal_session(&app, &shop, customer, client).await?);
    }
    let product_page = format!("{}/shop/bench/products/{product}", site.base);
    let account_page = format!("{}/portal/bench", site.base);
    let data = format!("{}c-{}o-{}i", args.customers, args.orders, args.invoices);
    let mut figures = Vec::new();
    let visitors: Vec<Option<String>> = vec![None; clients];
    let (latencies, errors) = load(
        &args.common,
        &site.client,
        &product_page,
        visitors,
        "Bench Studio",
    )
    .await?;
    figures.push(figure(
        "web",
        format!("product-page-c{clients}-{data}"),
        backend,
        latencies,
        errors,
        Duration::from_secs(args.common.duration_secs).as_secs_f64(),
    ));
    let signed_in = sessions
        .into_iter()
        .map(|token| Some(format!("bursar_portal_bench={token}")))
        .collect();
    let (latencies, errors) = load(
        &args.common,
        &site.client,
        &account_page,
        signed_in,
        "BENCH-",
    )
    .await?;
    figures.push(figure(
        "web",
        format!("portal-invoice-list-c{clients}-{data}"),
        backend,
        latencies,
        errors,
        Duration::from_secs(args.common.duration_secs).as_secs_f64(),
    ));
    server.shutdown().await?;
    Ok(figures)
}

/// The product (with its price) and the published shop `bench`; returns the product's id.
async fn open_shop(site: &Site) -> anyhow::Result<String> {
    let license = json!({"prefix": "BENCH", "max_activations": 3});
    let product = id_of(&site.post("/v1/products", json!({"name": "Bench Studio", "kind": "digital", "description": "The studio, for up to three machines.", "license": license})).await?)?;
    site.post(
        "/v1/prices",
        json!({"product_id": product, "currency": "USD", "unit_amount": 4_900}),
    )
    .await?;
    site.post("/v1/storefront", json!({"handle": "bench", "name": "Bench Software", "currency": "USD", "published": true, "support_email": "help@bench.example"})).await?;
    Ok(product)
}

/// A real order and a real issued invoice (made through the API), as stored: what the seeded
/// rows copy.
struct Templates {
    order: Value,
    invoice: Value,
}

async fn templates(
    site: &Site,
    db: &Db,
    workspace: &WorkspaceId,
    product: &str,
) -> anyhow::Result<Templates> {
    let customer = id_of(
        &site
            .post(
                "/v1/customers",
                json!({"name": "Template", "email": "template@bench.example"}),
            )
            .await?,
    )?;
    let order = id_of(&site.post("/v1/orders", json!({"customer_id": customer, "currency": "USD", "lines": [{"product_id": product, "quantity": 2}]})).await?)?;
    let invoice = id_of(&site.post("/v1/invoices", json!({"customer_id": customer, "currency": "USD", "lines": [{"description": "Support plan, one month", "unit_amount": 4_000}]})).await?)?;
    site.post(&format!("/v1/invoices/{invoice}/issue"), json!({}))
        .await?;
    let workspace = workspace.clone();
    let (order, invoice) = db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let order: Option<Value> =
                    documents::get(tx, ORDER, &workspace, &order, false).await?;
                let invoice: Option<Value> =
                    documents::get(tx, INVOICE, &workspace, &invoice, false).await?;
                Ok::<_, StoreError>((order, invoice))
            })
        })
        .await?;
    Ok(Templates {
        order: order.context("the template order")?,
        invoice: invoice.context("the template invoice")?,
    })
}

/// Writes the customers, then their orders and invoices; returns the customers' emails.
async fn seed(
    db: &Db,
    workspace: &WorkspaceId,
    templates: &Templates,
    args: &WebArgs,
) -> anyhow::Result<Vec<String>> {
    let customers: Vec<(String, String)> = (0..args.customers.max(1))
        .map(|i| {
            (
                CustomerId::new().to_string(),
                format!("buyer{i}@bench.example"),
            )
        })
        .collect();
    let now = db.now().unix_micros();
    for chunk in customers.chunks(SEED_BATCH) {
        let (rows, workspace) = (chunk.to_vec(), workspace.to_string());
        db.write(move |tx: &mut Tx| {
            Box::pin(async move {
                let metadata = "{}";
                let params: Vec<Param> = rows
                    .iter()
                    .flat_map(|(id, email)| {
                        [
                            Param::Text(Some(&workspace)),
                            Param::Text(Some(id)),
                            Param::Text(Some(email)),
                            Param::Text(Some("Bench buyer")),
                            Param::Text(Some(metadata)),
                            Param::Int(Some(now)),
                            Param::Int(Some(now)),
                        ]
                    })
                    .collect();
                tx.execute_each(
                    "insert into customer (workspace_id, customer_id, email, name, metadata, \
                     created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7)",
                    7,
                    &params,
                )
                .await
            })
        })
        .await?;
    }
    let ids: Vec<String> = customers.iter().map(|(id, _)| id.clone()).collect();
    seed_documents(db, workspace, &ids, args.orders, |customer, _| {
        let id = OrderId::new().to_string();
        let mut body = templates.order.clone();
        body["id"] = json!(id);
        body["customer_id"] = json!(customer);
        let status = body["status"].as_str().unwrap_or("pending").to_owned();
        (id, body.to_string(), status, None)
    }, "insert into commerce_order (workspace_id, object_id, customer_id, body, status, payment_id) values ($1, $2, $3, $4, $5, $6)")
    .await?;
    seed_documents(db, workspace, &ids, args.invoices, |customer, n| {
        let id = InvoiceId::new().to_string();
        let number = format!("BENCH-{n:07}");
        let mut body = templates.invoice.clone();
        body["id"] = json!(id);
        body["customer_id"] = json!(customer);
        body["number"] = json!(number);
        (id, body.to_string(), "open".to_owned(), Some(number))
    }, "insert into invoice (workspace_id, object_id, customer_id, body, status, number) values ($1, $2, $3, $4, $5, $6)")
    .await?;
    Ok(customers.into_iter().map(|(_, email)| email).collect())
}

/// `count` documents spread over `customers` (the i-th to customer i mod n), each made by
/// `make(customer, i)` as (id, body, status, sixth column), written by `sql`.
async fn seed_documents(
    db: &Db,
    workspace: &WorkspaceId,
    customers: &[String],
    count: usize,
    make: impl Fn(&str, usize) -> (String, String, String, Option<String>),
    sql: &'static str,
) -> anyhow::Result<()> {
    let mut written = 0;
    while written < count {
        let batch: Vec<(String, String, String, String, Option<String>)> = (written
            ..(written + SEED_BATCH).min(count))
            .map(|i| {
                let customer = &customers[i % customers.len()];
                let (id, body, status, extra) = make(customer, i);
                (id, customer.clone(), body, status, extra)
            })
            .collect();
        written += batch.len();
        let workspace = workspace.to_string();
        db.write(move |tx: &mut Tx| {
            Box::pin(async move {
                let params: Vec<Param> = batch
                    .iter()
                    .flat_map(|(id, customer, body, status, extra)| {
                        [
                            Param::Text(Some(&workspace)),
                            Param::Text(Some(id)),
                            Param::Text(Some(customer)),
                            Param::Text(Some(body)),
                            Param::Text(Some(status)),
                            Param::Text(extra.as_deref()),
                        ]
                    })
                    .collect();
                tx.execute_each(sql, 6, &params).await
            })
        })
        .await?;
    }
    Ok(())
}

/// A portal session of the `customer`-th seeded customer, signed in through the magic link
/// the core would email (asked from a different address per client: the sign-in limits count
/// per address).
async fn portal_session(
    app: &bursar_core::App,
    shop: &bursar_core::storefront::Shop,
    customer: usize,
    client: usize,
) -> anyhow::Result<String> {
    let email = format!("buyer{customer}@bench.example");
    let parsed = bursar_domain::customer::Email::parse(&email, "email")?;
    let address = format!("198.51.100.{client}");
    bursar_core::portal::request_sign_in(app, shop, &parsed, &address).await?;
    let workspace = shop.workspace_id.clone();
    let sign_in: String = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                tx.fetch_one(
                    "select object_id from portal_sign_in where workspace_id = $1 and email = $2",
                    bursar_store::params![workspace.as_str(), email.as_str()],
                )
                .await?
                .text("object_id")
            })
        })
        .await?;
    let token = bursar_core::portal::sign_in_token(app.db.sealer()?, &sign_in);
    bursar_core::portal::complete_sign_in(app, shop, &token)
        .await?
        .context("the sign-in link signs in")
}

/// `GET url` in a loop from one task per entry of `cookies` (each sending its cookie, and the
/// browser session the first answer set) for the warm-up and measured periods; the measured
/// latencies (µs) of 200 answers holding `expect`, and the count of others.
async fn load(
    args: &CommonArgs,
    client: &reqwest::Client,
    url: &str,
    cookies: Vec<Option<String>>,
    expect: &'static str,
) -> anyhow::Result<(Vec<u32>, u64)> {
    let started = Instant::now();
    let measure_from = started + Duration::from_secs(args.warmup_secs);
    let measure_until = measure_from + Duration::from_secs(args.duration_secs);
    let url = Arc::new(url.to_owned());
    let mut tasks = Vec::new();
    for cookie in cookies {
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::new();
            let mut errors = 0_u64;
            let mut browser_session: Option<String> = None;
            loop {
                let sent = Instant::now();
                if sent >= measure_until {
                    break;
                }
                let header = [cookie.as_deref(), browser_session.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("; ");
                let response = client
                    .get(url.as_str())
                    .header("cookie", header)
                    .send()
                    .await;
                let ok = match response {
                    Ok(response) => {
                        if browser_session.is_none() {
                            browser_session = session_cookie(&response);
                        }
                        let ok = response.status() == 200;
                        let body = response.text().await.unwrap_or_default();
                        ok && body.contains(expect)
                    }
                    Err(_) => false,
                };
                if sent >= measure_from {
                    if ok {
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
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (mut part, part_errors) = task.await?;
        latencies.append(&mut part);
        errors += part_errors;
    }
    Ok((latencies, errors))
}

/// The `bursar_session=…` pair a page's `Set-Cookie` gave, if any.
fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("bursar_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}
