//! Bursar's domain: validated values and the rules they obey.
//!
//! Nothing in this crate performs I/O or knows about SQL or HTTP. Every type that comes from the
//! outside world is parsed here into a value that cannot be invalid ("parse, don't validate"),
//! so the storage and HTTP layers never re-check what the domain already guarantees.

pub mod auth;
pub mod billing_status;
pub mod collections;
pub mod commerce;
pub mod contract;
pub mod customer;
pub mod dispute;
pub mod error;
pub mod event;
pub mod event_type;
pub mod fulfillment;
pub mod id;
pub mod invoice;
pub mod jobs;
pub mod ledger;
pub mod livemode;
pub mod metadata;
pub mod metering;
pub mod money;
pub mod page;
pub mod payment_provider;
pub mod proration;
pub mod rating;
pub mod sandbox;
pub mod schema;
pub mod shipping;
pub mod storefront;
pub mod subscription;
pub mod time;
pub mod treasury;
pub mod wallet;
pub mod webhook;

pub use error::ValidationError;
