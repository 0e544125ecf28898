//! The `bursar` program: configuration, wiring and the commands around the server.
//!
//! Kept apart from `main.rs` so that tests and `bursar bench` start exactly the server that
//! `bursar serve` runs, and so that helper binaries stay cheap to add.
//!
//! Code tour: `bursar-domain` (pure rules) → `bursar-store` (SQLite/PostgreSQL, group commit)
//! → `bursar-http` (routes, errors, idempotency) → here: [`server`] (serve and shut down),
//! [`bootstrap`] (first start, demo data), [`bench`], [`testing`] (throwaway databases).

pub mod bench;
pub mod bench_checkout;
pub mod bench_fulfillment;
pub mod bench_ingest;
pub mod bench_invoices;
pub mod bench_ledger;
pub mod bench_relay;
pub mod bootstrap;
pub mod cli;
pub mod email;
pub mod fulfillment;
pub mod relay;
pub mod server;
pub mod subscriptions;
pub mod testing;
pub mod webhooks;
