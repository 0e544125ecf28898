//! API tests: every HTTP-level test runs against the real server on a random loopback port,
//! once on a fresh SQLite database and once on a fresh PostgreSQL database.
//! All API tests compile into this one binary, so they share one PostgreSQL cluster.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod app;
mod helpers;

mod audit;
mod auth;
mod backup;
mod billing;
mod billing_matrix;
mod bounds;
mod browser;
mod card_velocity;
mod challenge;
mod cli;
mod collections;
mod collections_disputes;
mod collections_simulation;
mod collections_stripe;
mod commerce;
mod contracts;
mod crash;
mod customers;
mod docs_browser;
mod email;
mod events;
mod fake_mt;
mod fake_paypal;
mod fake_stripe;
mod fulfillment;
mod hygiene;
mod idempotency;
mod invoices;
mod job_runs;
mod key_rotation;
mod ledger;
mod listener;
mod livemode;
mod metering;
mod modes;
mod mutations;
mod onboarding;
mod openmeter;
mod ops;
mod order_metrics;
mod outbound;
mod page_budget;
mod pay_ins;
mod payouts;
mod paypal_checkout;
mod portal;
mod portal_companies;
mod portal_licenses;
mod portal_payments;
mod portal_plan_switch;
mod portal_plans;
mod portal_standing;
mod refund_recovery;
mod relay;
mod sandboxes;
mod shipping;
mod shipping_automation;
mod shipping_carriers;
mod shipping_devices;
mod shipping_returns;
mod store;
mod storefront;
mod storefront_browser;
mod tenancy;
mod tenancy_fixtures;
mod treasury;
mod treasury_banks;
mod treasury_journey;
mod treasury_money_property;
mod treasury_mt;
mod treasury_property;
mod usage_agreement;
mod velocity;
mod wallet;
mod webhooks;
