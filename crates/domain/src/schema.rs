//! OpenAPI schemas of text a parser in this crate checks, built where the rule lives so the
//! document says what validation does. Types named here are schemas only: the fields they
//! describe stay `String`, parsed by the function each one names.

use utoipa::openapi::schema::{Schema, Type};
use utoipa::openapi::{ObjectBuilder, RefOr};

/// A string schema: `pattern`, and lengths in characters.
pub fn text(
    description: &str,
    pattern: &str,
    min_length: Option<usize>,
    max_length: Option<usize>,
) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(Some(pattern))
        .min_length(min_length)
        .max_length(max_length)
        .into()
}

/// Declares `$name` a schema-only type whose schema is `$schema`.
#[macro_export]
macro_rules! schema_only {
    ($(#[$doc:meta])* $name:ident => $schema:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $schema
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

schema_only!(
    /// Whom an invoice, its payments and credit notes, or a contract's billing status are for:
    /// the customer, or for a company's contract the company.
    BuyerIdSchema => text(
        "The buyer: a customer (`cus_…`), or the company (`comp_…`) of a company's contract.",
        "^(cus|comp)_[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$",
        None,
        None,
    )
);
