//! The catalog: `/v1/products`, `/v1/prices`, `/v1/price_books`.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bursar_domain::commerce::*;
use bursar_domain::fulfillment::LicensePolicy;
use bursar_domain::id::*;
use bursar_domain::metadata::{Metadata, MetadataUpdate};
use bursar_domain::money::{Currency, NonNegativeAmount};
use bursar_store::documents::{PRICE, PRICE_BOOK, PRODUCT};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::docs;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal, QueryParams};
use crate::list::ListResponse;
use crate::livemode::Json;
use crate::AppState;
use bursar_core::catalog::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_product, list_products))
        .routes(routes!(get_product, update_product))
        .routes(routes!(create_price, list_prices))
        .routes(routes!(get_price, update_price))
        .routes(routes!(create_price_book, list_price_books))
        .routes(routes!(get_price_book))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProductRequest {
    #[schema(
        example = "Pro plugin licence",
        min_length = 1,
        max_length = 250,
        pattern = r"\S"
    )]
    pub name: String,
    pub kind: ProductKind,
    #[schema(min_length = 1, max_length = 5000, pattern = r"\S")]
    pub description: Option<String>,
    /// Issue a license key for each paid order line (digital products only).
    pub license: Option<LicensePolicy>,
    /// Each unit is a device with a serial number (physical products only): shipments name
    /// them, and their assignment history is kept.
    pub serialized: Option<bool>,
    #[schema(value_type = Option<Metadata>)]
    pub metadata: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProductRequest {
    #[schema(min_length = 1, max_length = 250, pattern = r"\S")]
    pub name: Option<String>,
    #[schema(min_length = 1, max_length = 5000, pattern = r"\S")]
    pub description: Option<String>,
    /// `archived` stops new quotes and orders; `active` sells it again.
    pub status: Option<CatalogStatus>,
    /// Sets the license policy of later orders (issued licenses keep theirs).
    pub license: Option<LicensePolicy>,
    #[schema(value_type = Option<MetadataUpdate>)]
    pub metadata: Option<BTreeMap<String, Option<String>>>,
}

/// Create a product.
#[utoipa::path(post, path = "/v1/products", tag = "catalog", request_body = CreateProductRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe.")),
    responses((status = 200, body = Product), (status = 400, body = ErrorBody)),
    security(("api_key" = [])))]
async fn create_product(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<CreateProductRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let new = NewProduct {
        name: parse_text(&body.name, "name", 250)?,
        kind: body.kind,
        description: optional_text(body.description, "description", 5000)?,
        metadata: Metadata::parse(body.metadata.unwrap_or_default())?,
        license: body.license,
        serialized: body.serialized.unwrap_or(false),
    };
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let product = bursar_core::catalog::create_product(&mut cx, new).await?;
                Ok((StatusCode::OK, product))
            })
        })
        .await
}

/// Retrieve a product.
#[utoipa::path(get, path = "/v1/products/{id}", tag = "catalog",
    params(("id" = ProductId, Path)), responses((status = 200, body = Product), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn get_product(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Product>, ApiError> {
    Ok(principal.json(docs::get(&state, &principal, PRODUCT, "product", id).await?))
}

/// Update a product: name, description, status (archive), metadata.
#[utoipa::path(post, path = "/v1/products/{id}", tag = "catalog", request_body = UpdateProductRequest,
    params(("id" = ProductId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Product), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn update_product(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<UpdateProductRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let update = ProductUpdate {
        name: optional_text(body.name, "name", 250)?,
        description: optional_text(body.description, "description", 5000)?,
        status: body.status,
        license: body.license,
        metadata: body.metadata,
    };
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let product = bursar_core::catalog::update_product(&mut cx, &id, update).await?;
                Ok((StatusCode::OK, product))
            })
        })
        .await
}

/// List products, newest first.
#[utoipa::path(get, path = "/v1/products", tag = "catalog",
    params(("limit" = Option<i64>, Query), ("starting_after" = Option<ProductId>, Query), ("ending_before" = Option<ProductId>, Query)),
    responses((status = 200, body = ListResponse<Product>)), security(("api_key" = [])))]
async fn list_products(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<Product>>, ApiError> {
    Ok(principal.json(
        docs::list(
            &state,
            &principal,
            &query,
            PRODUCT,
            "/v1/products",
            "prod_",
            None,
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePriceRequest {
    #[schema(value_type = ProductId)]
    pub product_id: String,
    #[schema(value_type = Currency)]
    pub currency: String,
    /// Minor units per unit; 0 for free.
    #[schema(value_type = NonNegativeAmount)]
    pub unit_amount: i64,
    /// `one_time` (default) or `recurring`.
    #[serde(rename = "type")]
    pub price_type: Option<PriceType>,
    /// Required for `recurring`.
    pub recurring: Option<RecurringRequest>,
    /// Default `exclusive`.
    pub tax_behavior: Option<TaxBehavior>,
    /// Puts the price in a price book instead of the product's default prices.
    #[schema(value_type = Option<PriceBookId>)]
    pub price_book_id: Option<String>,
    #[schema(min_length = 1, max_length = 250, pattern = r"\S")]
    pub nickname: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecurringRequest {
    pub interval: Interval,
    /// Default 1; at most 3 years in total: 1095 days, 156 weeks, 36 months or 3 years.
    #[schema(minimum = 1, maximum = 1095)]
    pub interval_count: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePriceRequest {
    /// Prices never change amount (a new price replaces an old one); they are deactivated.
    pub active: Option<bool>,
    #[schema(min_length = 1, max_length = 250, pattern = r"\S")]
    pub nickname: Option<String>,
}

/// Create a price of a product, in one currency; in a price book or as a default price.
#[utoipa::path(post, path = "/v1/prices", tag = "catalog", request_body = CreatePriceRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Price), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn create_price(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<CreatePriceRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let product_id = ProductId::parse(&body.product_id, "product_id")?;
    let currency = Currency::parse(&body.currency, "currency")?;
    let price_type = body.price_type.unwrap_or(PriceType::OneTime);
    let recurring = body.recurring.map(|r| (r.interval, r.interval_count));
    let recurring = price_terms(body.unit_amount, price_type, recurring)?;
    let new = NewPrice {
        product_id,
        currency,
        unit_amount: body.unit_amount,
        price_type,
        recurring,
        tax_behavior: body.tax_behavior.unwrap_or(TaxBehavior::Exclusive),
        price_book_id: body
            .price_book_id
            .map(|id| PriceBookId::parse(&id, "price_book_id"))
            .transpose()?,
        nickname: optional_text(body.nickname, "nickname", 250)?,
    };
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let price = bursar_core::catalog::create_price(&mut cx, new).await?;
                Ok((StatusCode::OK, price))
            })
        })
        .await
}

/// Retrieve a price.
#[utoipa::path(get, path = "/v1/prices/{id}", tag = "catalog", params(("id" = PriceId, Path)),
    responses((status = 200, body = Price), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_price(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Price>, ApiError> {
    Ok(principal.json(docs::get(&state, &principal, PRICE, "price", id).await?))
}

/// Deactivate (or reactivate) a price, or rename it.
#[utoipa::path(post, path = "/v1/prices/{id}", tag = "catalog", request_body = UpdatePriceRequest,
    params(("id" = PriceId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Price), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn update_price(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<UpdatePriceRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let update = PriceUpdate {
        active: body.active,
        nickname: optional_text(body.nickname, "nickname", 250)?,
    };
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let price = bursar_core::catalog::update_price(&mut cx, &id, update).await?;
                Ok((StatusCode::OK, price))
            })
        })
        .await
}

/// List prices, newest first; `product_id` selects one product's.
#[utoipa::path(get, path = "/v1/prices", tag = "catalog",
    params(("product_id" = Option<String>, Query), ("limit" = Option<i64>, Query), ("starting_after" = Option<PriceId>, Query), ("ending_before" = Option<PriceId>, Query)),
    responses((status = 200, body = ListResponse<Price>)), security(("api_key" = [])))]
async fn list_prices(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<Price>>, ApiError> {
    Ok(principal.json(
        docs::list(
            &state,
            &principal,
            &query,
            PRICE,
            "/v1/prices",
            "price_",
            Some(("product_id", "product_id")),
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePriceBookRequest {
    #[schema(
        example = "EU resellers",
        min_length = 1,
        max_length = 250,
        pattern = r"\S"
    )]
    pub name: String,
    #[schema(min_length = 1, max_length = 5000, pattern = r"\S")]
    pub description: Option<String>,
}

/// Create a price book: a named price list (a market, a channel). Prices join it with
/// `price_book_id`; customers and companies are priced from it with theirs.
#[utoipa::path(post, path = "/v1/price_books", tag = "catalog", request_body = CreatePriceBookRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = PriceBook), (status = 400, body = ErrorBody)), security(("api_key" = [])))]
async fn create_price_book(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<CreatePriceBookRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let new = NewPriceBook {
        name: parse_text(&body.name, "name", 250)?,
        description: optional_text(body.description, "description", 5000)?,
    };
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let book = bursar_core::catalog::create_price_book(&mut cx, new).await?;
                Ok((StatusCode::OK, book))
            })
        })
        .await
}

/// Retrieve a price book.
#[utoipa::path(get, path = "/v1/price_books/{id}", tag = "catalog", params(("id" = PriceBookId, Path)),
    responses((status = 200, body = PriceBook), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_price_book(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<PriceBook>, ApiError> {
    Ok(principal.json(docs::get(&state, &principal, PRICE_BOOK, "price_book", id).await?))
}

/// List price books, newest first.
#[utoipa::path(get, path = "/v1/price_books", tag = "catalog",
    params(("limit" = Option<i64>, Query), ("starting_after" = Option<PriceBookId>, Query), ("ending_before" = Option<PriceBookId>, Query)),
    responses((status = 200, body = ListResponse<PriceBook>)), security(("api_key" = [])))]
async fn list_price_books(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<PriceBook>>, ApiError> {
    Ok(principal.json(
        docs::list(
            &state,
            &principal,
            &query,
            PRICE_BOOK,
            "/v1/price_books",
            "pb_",
            None,
        )
        .await?,
    ))
}
