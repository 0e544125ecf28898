//! Companies (businesses, their people and places) and the prices they negotiated.

use bursar_domain::commerce::*;
use bursar_domain::event::NewEvent;
use bursar_domain::time::Timestamp;
use bursar_domain::ValidationError;
use bursar_store::documents::PRODUCT;
use serde_json::json;

use crate::error::Error;
use crate::lookup;

pub fn check_contacts(contacts: &[Contact]) -> Result<(), ValidationError> {
    if contacts.len() > 50 {
        return Err(ValidationError::invalid("contacts", "At most 50 contacts."));
    }
    for (i, c) in contacts.iter().enumerate() {
        parse_text(&c.name, &format!("contacts[{i}][name]"), 250)?;
        if let Some(email) = &c.email {
            bursar_domain::customer::Email::parse(email, &format!("contacts[{i}][email]"))?;
        }
    }
    Ok(())
}

pub fn check_addresses(addresses: &[Address]) -> Result<(), ValidationError> {
    if addresses.len() > 20 {
        return Err(ValidationError::invalid(
            "addresses",
            "At most 20 addresses.",
        ));
    }
    for (i, a) in addresses.iter().enumerate() {
        if a.kind != "billing" && a.kind != "shipping" {
            return Err(ValidationError::invalid(
                format!("addresses[{i}][kind]"),
                "kind must be billing or shipping.",
            ));
        }
        parse_text(&a.line1, &format!("addresses[{i}][line1]"), 250)?;
        parse_text(&a.city, &format!("addresses[{i}][city]"), 250)?;
        if a.country.len() != 2 || !a.country.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(ValidationError::invalid(
                format!("addresses[{i}][country]"),
                "country must be an ISO 3166-1 alpha-2 code such as DE.",
            ));
        }
    }
    Ok(())
}

pub fn parse_instant(value: &str, param: &str) -> Result<Timestamp, ValidationError> {
    Timestamp::parse_rfc3339(value).ok_or_else(|| {
        ValidationError::invalid(param, format!("'{value}' is not an RFC 3339 timestamp."))
    })
}

pub fn check_window(from: Timestamp, to: Option<Timestamp>) -> Result<(), ValidationError> {
    if to.is_some_and(|to| to <= from) {
        return Err(ValidationError::invalid(
            "effective_to",
            "effective_to must be after effective_from.",
        ));
    }
    Ok(())
}

pub async fn check_products(
    cx: &mut crate::write::Context<'_>,
    lines: &[AgreementLine],
) -> Result<(), Error> {
    for (i, line) in lines.iter().enumerate() {
        lookup::get_in::<Product>(
            cx,
            PRODUCT,
            "product",
            line.product_id.as_str(),
            &format!("lines[{i}][product_id]"),
        )
        .await?;
    }
    Ok(())
}

/// Every change of an agreement is an event on its timeline and an entry of its audit chain.
pub async fn record(
    cx: &mut crate::write::Context<'_>,
    event_type: &'static str,
    agreement: &PriceAgreement,
    previous: Option<&PriceAgreement>,
) -> Result<(), Error> {
    let mut payload = json!({ "object": agreement });
    if let Some(previous) = previous {
        payload["previous_attributes"] = json!(previous);
    }
    cx.emit(NewEvent::new(
        event_type,
        "price_agreement",
        agreement.id.as_str(),
        payload,
    ))
    .await
}
