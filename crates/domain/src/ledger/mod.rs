//! The double-entry ledger: accounts, immutable transfers, and the rules that decide each
//! transfer's outcome. Semantics follow TigerBeetle's documented transfer model: client-chosen
//! ids that make every request idempotent, two-phase (pending → post or void, with timeouts),
//! linked chains that succeed or fail as a whole, balancing transfers, per-transfer result
//! codes, and balance limits enforced by account flags.
//!
//! This module is pure: [`engine::apply_batch`] takes the state a batch touches (behind
//! [`engine::LedgerState`]) and returns what to persist. Storage loads that state, runs the
//! engine and writes the outcome in one transaction.

pub mod chart;
pub mod engine;
pub mod model;
pub mod objects;
pub mod types;

pub use types::*;
