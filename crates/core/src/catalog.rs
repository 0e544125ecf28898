//! The catalog: products, prices and price books, their rules and the links between them.

use std::collections::BTreeMap;

use bursar_domain::commerce::*;
use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::fulfillment::{parse_prefix, LicensePolicy};
use bursar_domain::id::*;
use bursar_domain::metadata::Metadata;
use bursar_domain::money::{check_amount_cap, parse_positive_amount, Currency};
use bursar_domain::ValidationError;
use bursar_store::documents::{self, PRICE, PRICE_BOOK, PRODUCT};
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

/// An optional text field, trimmed and checked as [`parse_text`] does when given.
pub fn optional_text(
    value: Option<String>,
    param: &str,
    max: usize,
) -> Result<Option<String>, ValidationError> {
    value.map(|v| parse_text(&v, param, max)).transpose()
}

/// A product's license policy, checked: a valid key prefix, and limits of at least 1.
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

/// The event that `object` was created (or otherwise changed): the object as its payload.
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

/// A product to create: its fields as parsed from the request.
#[derive(Debug, Clone)]
pub struct NewProduct {
    pub name: String,
    pub kind: ProductKind,
    pub description: Option<String>,
    /// Only digital products carry one.
    pub license: Option<LicensePolicy>,
    /// Only physical products are.
    pub serialized: bool,
    pub metadata: Metadata,
}

/// Creates an active product (checking its license policy) and records `product.created`.
pub async fn create_product(cx: &mut Context<'_>, new: NewProduct) -> Result<Product, Error> {
    let license = new.license.map(check_license_policy).transpose()?;
    if license.is_some() && new.kind != ProductKind::Digital {
        return Err(only_digital_licenses());
    }
    if new.serialized && new.kind != ProductKind::Physical {
        return Err(ValidationError::invalid(
            "serialized",
            "Only physical products are serialised: their units are devices.",
        )
        .into());
    }
    let product = Product {
        id: ProductId::new(),
        object: "product".into(),
        name: new.name,
        kind: new.kind,
        status: CatalogStatus::Active,
        description: new.description,
        license,
        serialized: new.serialized,
        metadata: new.metadata,
        created_at: cx.now,
        updated_at: cx.now,
    };
    documents::insert(
        cx.tx,
        PRODUCT,
        cx.workspace_id,
        product.id.as_str(),
        &product,
        &[],
    )
    .await?;
    cx.emit(emit_of(
        event_type::PRODUCT_CREATED,
        "product",
        product.id.as_str(),
        json!(product),
    ))
    .await?;
    Ok(product)
}

/// The changes to a product; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProductUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub status: Option<CatalogStatus>,
    /// For later orders (issued licenses keep theirs); digital products only.
    pub license: Option<LicensePolicy>,
    /// Keys to set; a key set to `None` or `""` is removed.
    pub metadata: Option<BTreeMap<String, Option<String>>>,
}

/// Changes product `id` and records `product.updated` with its previous attributes.
pub async fn update_product(
    cx: &mut Context<'_>,
    id: &str,
    update: ProductUpdate,
) -> Result<Product, Error> {
    let license = update.license.map(check_license_policy).transpose()?;
    let current: Product = lookup::get_in(cx, PRODUCT, "product", id, "id").await?;
    let mut product = current.clone();
    if let Some(name) = update.name {
        product.name = name;
    }
    if update.description.is_some() {
        product.description = update.description;
    }
    if let Some(status) = update.status {
        product.status = status;
    }
    if license.is_some() {
        if product.kind != ProductKind::Digital {
            return Err(only_digital_licenses());
        }
        product.license = license;
    }
    if let Some(changes) = update.metadata {
        product.metadata = product.metadata.merged(changes)?;
    }
    product.updated_at = cx.now;
    documents::save(cx.tx, PRODUCT, cx.workspace_id, id, &product, &[]).await?;
    cx.emit(NewEvent::new(
        event_type::PRODUCT_UPDATED,
        "product",
        id,
        json!({ "object": product, "previous_attributes": current }),
    ))
    .await?;
    Ok(product)
}

fn only_digital_licenses() -> Error {
    Error::invalid(
        "parameter_invalid",
        Some("license".into()),
        "Only digital products carry licenses.",
    )
}

/// A price to create, its terms checked by [`price_terms`].
#[derive(Debug, Clone)]
pub struct NewPrice {
    pub product_id: ProductId,
    pub currency: Currency,
    /// Minor units per unit; 0 for free.
    pub unit_amount: i64,
    pub price_type: PriceType,
    /// Set exactly for recurring prices.
    pub recurring: Option<Recurring>,
    pub tax_behavior: TaxBehavior,
    /// Puts the price in a price book instead of the product's default prices.
    pub price_book_id: Option<PriceBookId>,
    pub nickname: Option<String>,
}

/// A price's amount and billing interval, checked: the amount is not negative, and a
/// recurring price (only it) bills every 1 to at most 3 years' worth of `interval`s.
pub fn price_terms(
    unit_amount: i64,
    price_type: PriceType,
    recurring: Option<(Interval, Option<u32>)>,
) -> Result<Option<Recurring>, ValidationError> {
    if unit_amount < 0 {
        return Err(ValidationError::invalid(
            "unit_amount",
            "unit_amount must not be negative.",
        ));
    }
    check_amount_cap(unit_amount, "unit_amount")?;
    match (price_type, recurring) {
        (PriceType::OneTime, None) => Ok(None),
        (PriceType::OneTime, Some(_)) => Err(ValidationError::invalid(
            "recurring",
            "recurring is only for prices of type recurring.",
        )),
        (PriceType::Recurring, None) => Err(ValidationError::missing("recurring")),
        (PriceType::Recurring, Some((interval, count))) => {
            let count = count.unwrap_or(1);
            let max = match interval {
                Interval::Day => 1095,
                Interval::Week => 156,
                Interval::Month => 36,
                Interval::Year => 3,
            };
            if count == 0 || count > max {
                return Err(ValidationError::invalid(
                    "recurring[interval_count]",
                    format!("interval_count must be between 1 and {max} for this interval."),
                ));
            }
            Ok(Some(Recurring {
                interval,
                interval_count: count,
            }))
        }
    }
}

/// Creates an active price of an existing product (in an existing price book, if it names
/// one) and records `price.created`.
pub async fn create_price(cx: &mut Context<'_>, new: NewPrice) -> Result<Price, Error> {
    let product: Product = lookup::get_in(
        cx,
        PRODUCT,
        "product",
        new.product_id.as_str(),
        "product_id",
    )
    .await?;
    check_links(cx, None, new.price_book_id.as_ref()).await?;
    let price = Price {
        id: PriceId::new(),
        object: "price".into(),
        product_id: product.id,
        price_book_id: new.price_book_id,
        currency: new.currency,
        unit_amount: new.unit_amount,
        price_type: new.price_type,
        recurring: new.recurring,
        tax_behavior: new.tax_behavior,
        active: true,
        nickname: new.nickname,
        created_at: cx.now,
    };
    documents::insert(
        cx.tx,
        PRICE,
        cx.workspace_id,
        price.id.as_str(),
        &price,
        &[("product_id", price.product_id.as_str().into())],
    )
    .await?;
    cx.emit(emit_of(
        event_type::PRICE_CREATED,
        "price",
        price.id.as_str(),
        json!(price),
    ))
    .await?;
    Ok(price)
}

/// The changes to a price: its amount never changes (a new price replaces it).
#[derive(Debug, Clone, Default)]
pub struct PriceUpdate {
    pub active: Option<bool>,
    pub nickname: Option<String>,
}

/// Deactivates, reactivates or renames price `id` and records `price.updated`.
pub async fn update_price(
    cx: &mut Context<'_>,
    id: &str,
    update: PriceUpdate,
) -> Result<Price, Error> {
    let current: Price = lookup::get_in(cx, PRICE, "price", id, "id").await?;
    let mut price = current.clone();
    if let Some(active) = update.active {
        price.active = active;
    }
    if update.nickname.is_some() {
        price.nickname = update.nickname;
    }
    documents::save(cx.tx, PRICE, cx.workspace_id, id, &price, &[]).await?;
    cx.emit(NewEvent::new(
        event_type::PRICE_UPDATED,
        "price",
        id,
        json!({ "object": price, "previous_attributes": current }),
    ))
    .await?;
    Ok(price)
}

/// A price book to create: a named price list (a market, a channel).
#[derive(Debug, Clone)]
pub struct NewPriceBook {
    pub name: String,
    pub description: Option<String>,
}

/// Creates an active price book and records `price_book.created`.
pub async fn create_price_book(
    cx: &mut Context<'_>,
    new: NewPriceBook,
) -> Result<PriceBook, Error> {
    let book = PriceBook {
        id: PriceBookId::new(),
        object: "price_book".into(),
        name: new.name,
        description: new.description,
        status: CatalogStatus::Active,
        created_at: cx.now,
    };
    documents::insert(
        cx.tx,
        PRICE_BOOK,
        cx.workspace_id,
        book.id.as_str(),
        &book,
        &[],
    )
    .await?;
    cx.emit(emit_of(
        event_type::PRICE_BOOK_CREATED,
        "price_book",
        book.id.as_str(),
        json!(book),
    ))
    .await?;
    Ok(book)
}
