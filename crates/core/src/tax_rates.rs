//! Tax rates: the rates invoice lines carry, by jurisdiction.

use bursar_domain::event_type;
use bursar_domain::id::*;
use bursar_domain::invoice::TaxRate;
use bursar_store::documents::{self, TAX_RATE};

use crate::error::Error;
use crate::write::Context;

/// A jurisdiction, checked: an ISO 3166 country code (`DE`), optionally with a region
/// (`US-CA`).
pub fn parse_jurisdiction(value: &str) -> Result<String, Error> {
    let (country, region) = value.split_once('-').unwrap_or((value, ""));
    let ok = country.len() == 2
        && country.bytes().all(|b| b.is_ascii_uppercase())
        && region.len() <= 3
        && region
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && region.is_empty() != value.contains('-');
    if ok {
        Ok(value.to_owned())
    } else {
        Err(Error::invalid(
            "parameter_invalid",
            Some("jurisdiction".into()),
            "A jurisdiction is an ISO 3166 country code (DE), optionally with a region (US-CA).",
        ))
    }
}

/// A tax rate to create, its jurisdiction checked by [`parse_jurisdiction`].
#[derive(Debug, Clone)]
pub struct NewTaxRate {
    pub display_name: String,
    pub jurisdiction: String,
    /// Basis points: 1900 is 19%.
    pub percentage_bp: u32,
    /// Whether prices with this rate include the tax.
    pub inclusive: bool,
}

/// Creates an active tax rate and records `tax_rate.created`.
pub async fn create(cx: &mut Context<'_>, new: NewTaxRate) -> Result<TaxRate, Error> {
    let rate = TaxRate {
        id: TaxRateId::new(),
        object: "tax_rate".into(),
        display_name: new.display_name,
        jurisdiction: new.jurisdiction,
        percentage_bp: new.percentage_bp,
        inclusive: new.inclusive,
        active: true,
        created_at: cx.now,
    };
    documents::insert(
        cx.tx,
        TAX_RATE,
        cx.workspace_id,
        rate.id.as_str(),
        &rate,
        &[],
    )
    .await?;
    cx.emit_object(
        event_type::TAX_RATE_CREATED,
        "tax_rate",
        rate.id.as_str(),
        &rate,
    )
    .await?;
    Ok(rate)
}
