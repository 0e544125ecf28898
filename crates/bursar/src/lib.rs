//! The `bursar` program: configuration, wiring and the commands around the server.
//!
//! Kept apart from `main.rs` so that tests and `bursar bench` start exactly the server that
//! `bursar serve` runs, and so that helper binaries stay cheap to add.
//!
//! Code tour: `bursar-domain` (pure rules) → `bursar-store` (SQLite/PostgreSQL, group commit)
//! → `bursar-core` (the use cases over an `App`) → the surfaces, `bursar-http` (the JSON API)
//! and `bursar-worker` (relay, subscribers, periodic jobs) → here: [`server`] (wiring, serve
//! and shut down), [`cli`], [`bootstrap`] (first start, demo data), [`bench`], [`testing`].

pub mod backup;
pub mod bench;
pub mod bootstrap;
pub mod cli;
pub mod couriers;
pub mod listener;
pub mod secret_key;
pub mod server;

// The worker's modules, under the names tests and tools have always used.
pub use bursar_worker::{email, fulfillment, relay, subscriptions, webhook_delivery};
