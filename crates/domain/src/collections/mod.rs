//! Collections: the health of an account, recomputed from facts by one pure function, and the
//! dunning policies whose steps it walks.
//!
//! [`assess`] reads everything that matters about a customer — its invoices, its contracts, the
//! policy in effect, the dunning it is in, its payment method and last retries — and answers its
//! billing status, the dunning step it is at, the entitlements it allows, the reasons, and the
//! steps that are due and not yet run. Nothing else decides any of these.

mod account;
mod health;
mod policy;
mod summary;

pub use account::*;
pub use health::*;
pub use policy::*;
pub use summary::*;

#[cfg(test)]
mod tests;
