//! The catalog's rules: products, prices and price books, and the links between them.

use bursar_domain::commerce::*;
use bursar_domain::event::NewEvent;
use bursar_domain::fulfillment::{parse_prefix, LicensePolicy};
use bursar_domain::id::*;
use bursar_domain::money::parse_positive_amount;
use bursar_domain::ValidationError;
use bursar_store::documents::{self, PRICE_BOOK};
use serde_json::json;

use crate::error::Error;
use crate::lookup;
use crate::write::Context;

/// Checks that the company and price book a customer or company links to exist.
pub async fn check_links(
    cx: &mut Context<'_>,
    company: Option<&CompanyId>,
    price_book: Option<&PriceBookId>,
) -> Result<(), Error> {
    if let Some(id) = company {
        lookup::get_in::<Company>(cx, documents::COMPANY, "company", id.as_str(), "company_id")
            .await?;
    }
    if let Some(id) = price_book {
        lookup::get_in::<PriceBook>(cx, PRICE_BOOK, "price_book", id.as_str(), "price_book_id")
            .await?;
    }
    Ok(())
}

pub fn optional_text(
    value: Option<String>,
    param: &str,
    max: usize,
) -> Result<Option<String>, ValidationError> {
    value.map(|v| parse_text(&v, param, max)).transpose()
}

pub fn check_license_policy(policy: LicensePolicy) -> Result<LicensePolicy, Error> {
    parse_prefix(&policy.prefix, "license.prefix")?;
    if policy.max_activations == Some(0) {
        return Err(Error::invalid(
            "parameter_invalid",
            Some("license.max_activations".into()),
            "max_activations is at least 1 (or absent: no limit).",
        ));
    }
    if policy.valid_days == Some(0) {
        return Err(Error::invalid(
            "parameter_invalid",
            Some("license.valid_days".into()),
            "valid_days is at least 1 (or absent: forever).",
        ));
    }
    Ok(policy)
}

pub fn emit_of(
    event_type: &'static str,
    aggregate: &'static str,
    id: &str,
    object: serde_json::Value,
) -> NewEvent {
    NewEvent::new(event_type, aggregate, id, json!({ "object": object }))
}

/// Reads an amount that must be positive, naming the field.
pub fn positive(value: i64, param: &str) -> Result<i64, Error> {
    Ok(parse_positive_amount(value, param)?)
}
