//! Commerce: the catalog, negotiated prices, discounts, and orders.
//!
//! These types are what Bursar stores and what the API shows (`object` names the kind, as in
//! Stripe's objects). Every rule that does not need I/O lives here: the pricing resolver's
//! precedence, discount arithmetic, and the order's state machine.

pub mod catalog;
pub mod order;
pub mod pricing;

pub use catalog::*;
pub use order::*;
pub use pricing::*;

use crate::ValidationError;

/// A required, trimmed, non-empty text of at most `max` characters.
pub fn parse_text(value: &str, param: &str, max: usize) -> Result<String, ValidationError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ValidationError::invalid(
            param,
            format!("{param} must not be empty."),
        ));
    }
    if trimmed.chars().count() > max {
        return Err(ValidationError::invalid(
            param,
            format!("{param} must be at most {max} characters."),
        ));
    }
    Ok(trimmed.to_owned())
}
