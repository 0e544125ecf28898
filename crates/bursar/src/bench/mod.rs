//! `bursar bench`: throughput and latency, one JSON line per measured configuration.
//!
//! Benchmarks report figures; they assert nothing. Each runs the real server (or, where what it
//! measures is a use case of the core, the core alone) on a fresh database (SQLite in a
//! temporary directory, or PostgreSQL: the `--database-url` given, or a private durable
//! cluster started for the run) and cleans up after itself.

use bursar_store::Backend;
use clap::{Args, Subcommand};

mod api;

mod checkout;

mod collections;

mod fulfillment;

mod ingest;

mod invoices;

mod ledger;

pub mod measure;

mod reconcile;

mod relay;

mod tracking;

mod web;

pub use measure::{BackendChoice, CommonArgs, Figure};

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
    Ingest(ingest::IngestArgs),
    /// Digital fulfillment: 64 MiB artifact uploads; license validations among 10,000
    /// licenses from concurrent clients (default 32); 64 MiB downloads through links from 4.
    Fulfillment(CommonArgs),
    /// The account-health engine over many accounts with invoices and payments (default
    /// 100,000): every account assessed as the disagreement detector does, then the periodic
    /// sweep evaluating every account due; accounts/s.
    Collections(collections::CollectionsArgs),
    /// A billing run over active contracts (default 100,000, made through the core first, not
    /// measured): invoices made per second.
    Invoices(invoices::InvoicesArgs),
    /// Bank statement reconciliation: N bank transactions (default 1,000,000) parsed from CSV
    /// and matched to N expected payments (90% by reference, 8% by amount, date and
    /// counterparty, 2% to review); transactions/s.
    Reconcile(reconcile::ReconcileArgs),
    /// Courier tracking: the events of 10,000 parcels at four carriers, in reports of one to
    /// three (5% sent twice, 5% late), recorded from concurrent clients (default 32);
    /// events/s.
    Tracking(CommonArgs),
    /// Web pages over HTTP from concurrent clients (default 32) with many customers, orders
    /// and invoices in the database (default 100,000, 1,000,000 and 1,000,000): the
    /// storefront's product page and the portal's account page (its invoice list).
    Web(web::WebArgs),
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.which {
        Which::Api(common) => {
            for backend in backends(common.backend) {
                let figure = api::run(backend, &common).await?;
                println!("{}", serde_json::to_string(&figure)?);
            }
        }
        Which::Checkout(common) => {
            for backend in backends(common.backend) {
                let figure = checkout::run(backend, &common).await?;
                println!("{}", serde_json::to_string(&figure)?);
            }
        }
        Which::Relay(common) => {
            for backend in backends(common.backend) {
                let figure = relay::run(backend, &common).await?;
                println!("{}", serde_json::to_string(&figure)?);
            }
        }
        Which::Ingest(args) => {
            for backend in backends(args.common.backend) {
                for figure in ingest::run(backend, &args).await? {
                    println!("{}", serde_json::to_string(&figure)?);
                }
            }
        }
        Which::Collections(args) => {
            for backend in backends(args.common.backend) {
                for figure in collections::run(backend, &args).await? {
                    println!("{}", serde_json::to_string(&figure)?);
                }
            }
        }
        Which::Invoices(args) => {
            for backend in backends(args.common.backend) {
                let figure = invoices::run(backend, &args).await?;
                println!("{}", serde_json::to_string(&figure)?);
            }
        }
        Which::Reconcile(args) => {
            for backend in backends(args.common.backend) {
                for figure in reconcile::run(backend, &args).await? {
                    println!("{}", serde_json::to_string(&figure)?);
                }
            }
        }
        Which::Tracking(common) => {
            for backend in backends(common.backend) {
                for figure in tracking::run(backend, &common).await? {
                    println!("{}", serde_json::to_string(&figure)?);
                }
            }
        }
        Which::Web(args) => {
            for backend in backends(args.common.backend) {
                for figure in web::run(backend, &args).await? {
                    println!("{}", serde_json::to_string(&figure)?);
                }
            }
        }
        Which::Fulfillment(common) => {
            for backend in backends(common.backend) {
                for figure in fulfillment::run(backend, &common).await? {
                    println!("{}", serde_json::to_string(&figure)?);
                }
            }
        }
        Which::Ledger(common) => {
            for backend in backends(common.backend) {
                for figure in ledger::run(backend, &common).await? {
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

/// The HTTP settings of the benches' servers: the defaults, with the per-key rate limit so
/// high that the one key of a bench never trips it (the limiter still counts every request,
/// so its cost is in the figures).
pub fn http_config() -> bursar_http::HttpConfig {
    bursar_http::HttpConfig {
        key_requests_per_minute: u32::MAX,
        ..bursar_http::HttpConfig::default()
    }
}
