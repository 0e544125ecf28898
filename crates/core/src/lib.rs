//! Bursar's application core: every use case, over an [`App`], for every surface.
//!
//! The JSON API, the worker (relay, subscribers, schedulers), the CLI and the benches call the
//! functions here; none of it knows HTTP. Errors are [`Error`]s whose [`ErrorKind`] tells a
//! caller how to react; each surface says that in its own way. State changes go through
//! [`write::Context`] (one transaction, its events recorded in it).

pub mod account_hook;
pub mod agreements;
pub mod app;
pub mod artifacts;
pub mod bank_connections;
pub mod bank_events;
pub mod billing;
pub mod blobs;
pub mod catalog;
pub mod challenge;
pub mod checkouts;
pub mod collections;
pub mod companies;
pub mod contracts;
pub mod credit_notes;
pub mod customers;
pub mod discounts;
pub mod downloads;
pub mod dunning_policies;
pub mod emails;
pub mod error;
pub mod events;
pub mod fulfillment;
pub mod invoice_checkout;
pub mod invoice_disputes;
pub mod invoice_drafts;
pub mod invoice_pdf;
pub mod invoice_settings;
pub mod invoice_voids;
pub mod invoices;
pub mod job_attempts;
pub mod jobs;
pub mod ledger;
pub mod licenses;
pub mod lookup;
pub mod meter_query;
pub mod metering;
pub mod onboarding;
pub mod orders;
pub mod pay_ins;
pub mod payment_events;
pub mod payment_methods;
pub mod payouts;
pub mod portal;
pub mod portal_licenses;
pub mod portal_payments;
pub mod portal_plan_switch;
pub mod portal_plans;
pub mod portal_setup;
pub mod portal_standing;
pub mod portal_usage;
pub mod portal_views;
pub mod postings;
pub mod provider_connections;
pub mod providers;
pub mod quotes;
pub mod refunds;
pub mod sandboxes;
pub mod saved_methods;
pub mod settlement;
pub mod shipments;
pub mod shop_checkout;
pub mod shop_saved_card;
pub mod storefront;
pub mod tax_rates;
pub mod test_provider;
pub mod treasury;
pub mod updates;
pub mod velocity;
pub mod wallets;
pub mod webhooks;
pub mod write;

pub use app::{App, Config, StoreOptions};
pub use error::{Error, ErrorKind};
pub use write::Context;
