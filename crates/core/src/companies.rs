//! Companies: businesses, their people and places.

use std::collections::BTreeMap;

use bursar_domain::commerce::*;
use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::id::*;
use bursar_domain::metadata::Metadata;
use bursar_domain::ValidationError;
use bursar_store::documents::{self, COMPANY};
use serde_json::json;

use crate::catalog::check_links;
use crate::error::Error;
use crate::lookup;
use crate::write::Context;

/// A company's contacts, checked: at most 50, each named, their emails well-formed.
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

/// A company's addresses, checked: at most 20, billing or shipping, with a line, a city and an
/// ISO country code.
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

/// A company to create, its contacts and addresses checked by [`check_contacts`] and
/// [`check_addresses`].
#[derive(Debug, Clone)]
pub struct NewCompany {
    pub name: String,
    pub price_book_id: Option<PriceBookId>,
    pub contacts: Vec<Contact>,
    pub addresses: Vec<Address>,
    pub metadata: Metadata,
}

/// Creates a company (its price book must exist) and records `company.created`.
pub async fn create(cx: &mut Context<'_>, new: NewCompany) -> Result<Company, Error> {
    check_links(cx, None, new.price_book_id.as_ref()).await?;
    let company = Company {
        id: CompanyId::new(),
        object: "company".into(),
        name: new.name,
        price_book_id: new.price_book_id,
        contacts: new.contacts,
        addresses: new.addresses,
        metadata: new.metadata,
        created_at: cx.now,
        updated_at: cx.now,
    };
    documents::insert(
        cx.tx,
        COMPANY,
        cx.workspace_id,
        company.id.as_str(),
        &company,
        &[],
    )
    .await?;
    record_contacts(cx, &company).await?;
    cx.emit(NewEvent::new(
        event_type::COMPANY_CREATED,
        "company",
        company.id.as_str(),
        json!({ "object": company }),
    ))
    .await?;
    Ok(company)
}

/// Keeps the portal's index of who may see `company`'s orders and invoices: its contacts'
/// addresses.
async fn record_contacts(cx: &mut Context<'_>, company: &Company) -> Result<(), Error> {
    let emails: Vec<String> = company
        .contacts
        .iter()
        .filter_map(|contact| contact.email.clone())
        .collect();
    bursar_store::portal::set_company_contacts(cx.tx, cx.workspace_id, &company.id, &emails)
        .await?;
    Ok(())
}

/// The changes to a company; `None` leaves a field as it is. Contacts and addresses given
/// replace the lists.
#[derive(Debug, Clone, Default)]
pub struct CompanyUpdate {
    pub name: Option<String>,
    /// `Some(None)` clears the price book.
    pub price_book_id: Option<Option<PriceBookId>>,
    pub contacts: Option<Vec<Contact>>,
    pub addresses: Option<Vec<Address>>,
    /// Keys to set; a key set to `None` or `""` is removed.
    pub metadata: Option<BTreeMap<String, Option<String>>>,
}

/// Changes company `id` and records `company.updated` with its previous attributes.
pub async fn update(
    cx: &mut Context<'_>,
    id: &str,
    update: CompanyUpdate,
) -> Result<Company, Error> {
    let current: Company = lookup::get_in(cx, COMPANY, "company", id, "id").await?;
    let mut company = current.clone();
    if let Some(name) = update.name {
        company.name = name;
    }
    if let Some(book) = update.price_book_id {
        check_links(cx, None, book.as_ref()).await?;
        company.price_book_id = book;
    }
    if let Some(contacts) = update.contacts {
        company.contacts = contacts;
    }
    if let Some(addresses) = update.addresses {
        company.addresses = addresses;
    }
    if let Some(changes) = update.metadata {
        company.metadata = company.metadata.merged(changes)?;
    }
    company.updated_at = cx.now;
    documents::save(cx.tx, COMPANY, cx.workspace_id, id, &company, &[]).await?;
    record_contacts(cx, &company).await?;
    cx.emit(NewEvent::new(
        event_type::COMPANY_UPDATED,
        "company",
        id,
        json!({ "object": company, "previous_attributes": current }),
    ))
    .await?;
    Ok(company)
}
