//! Customers: creating and changing them, and the rules their ids and links follow.

use bursar_domain::customer::{Customer, CustomerObject, CustomerUpdate, FieldChange};
use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::id::{CustomerId, WorkspaceId};
use bursar_store::{customers, Tx};
use serde_json::json;

use crate::catalog::check_links;
use crate::error::Error;
use crate::write::Context;

pub use bursar_domain::customer::NewCustomer;

/// A customer id from a path: a malformed one names no customer, so it is not found.
pub fn parse_customer_id(id: &str) -> Result<CustomerId, Error> {
    // A malformed id cannot name any customer: answer as for a missing one.
    CustomerId::parse(id, "id").map_err(|_| Error::not_found("customer", id))
}

/// The workspace's customer `id`, for a route under it: not found when it is malformed or of
/// another workspace.
pub async fn require(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    id: &str,
) -> Result<CustomerId, Error> {
    let customer = parse_customer_id(id)?;
    match customers::get(tx, workspace_id, &customer, false).await? {
        Some(_) => Ok(customer),
        None => Err(Error::not_found("customer", id)),
    }
}

/// Creates a customer (its company and price book must exist) and records
/// `customer.created`.
pub async fn create(cx: &mut Context<'_>, new: NewCustomer) -> Result<Customer, Error> {
    check_links(cx, new.company_id.as_ref(), new.price_book_id.as_ref()).await?;
    let customer = Customer {
        id: CustomerId::new(),
        email: new.email,
        name: new.name,
        metadata: new.metadata,
        company_id: new.company_id,
        price_book_id: new.price_book_id,
        created_at: cx.now,
        updated_at: cx.now,
    };
    customers::insert(cx.tx, cx.workspace_id, &customer).await?;
    let object = CustomerObject::from(customer.clone());
    cx.emit(NewEvent::new(
        event_type::CUSTOMER_CREATED,
        "customer",
        object.id.as_str(),
        json!({ "object": object }),
    ))
    .await?;
    Ok(customer)
}

/// Applies `update` to customer `id` (a company or price book it links to must exist) and
/// records `customer.updated` with the old values of the fields that changed.
pub async fn update(
    cx: &mut Context<'_>,
    id: &CustomerId,
    update: CustomerUpdate,
) -> Result<Customer, Error> {
    let current = customers::get(cx.tx, cx.workspace_id, id, true)
        .await?
        .ok_or_else(|| Error::not_found("customer", id.as_str()))?;
    let company = match &update.company_id {
        FieldChange::Set(id) => Some(id.clone()),
        _ => None,
    };
    let price_book = match &update.price_book_id {
        FieldChange::Set(id) => Some(id.clone()),
        _ => None,
    };
    check_links(cx, company.as_ref(), price_book.as_ref()).await?;
    let updated = update.applied_to(&current, cx.now)?;
    customers::update(cx.tx, cx.workspace_id, &updated).await?;
    let object = CustomerObject::from(updated.clone());
    cx.emit(NewEvent::new(
        event_type::CUSTOMER_UPDATED,
        "customer",
        object.id.as_str(),
        json!({ "object": object, "previous_attributes": changed(&current, &updated) }),
    ))
    .await?;
    Ok(updated)
}

/// As Stripe's `*.updated` events: the old values of the fields that changed.
fn changed(current: &Customer, updated: &Customer) -> serde_json::Map<String, serde_json::Value> {
    let mut previous = serde_json::Map::new();
    if current.email != updated.email {
        previous.insert("email".into(), json!(current.email));
    }
    if current.name != updated.name {
        previous.insert("name".into(), json!(current.name));
    }
    if current.company_id != updated.company_id {
        previous.insert("company_id".into(), json!(current.company_id));
    }
    if current.price_book_id != updated.price_book_id {
        previous.insert("price_book_id".into(), json!(current.price_book_id));
    }
    if current.metadata != updated.metadata {
        previous.insert("metadata".into(), json!(current.metadata));
    }
    previous
}
