//! `/v1/customers`: the first resource, and the model for every later one.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bursar_domain::customer::{CustomerUpdate, FieldChange, NewCustomer};
use bursar_domain::id::{CompanyId, CustomerId, PriceBookId};
use bursar_domain::metadata::{Metadata, MetadataUpdate};
use bursar_domain::page::PageRequest;
use bursar_store::{customers, Tx};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::events::{timeline, TimelineResponse};
use crate::extract::{double_option, Mutation, Principal, QueryParams};
use crate::list::{page_params, ListResponse};
use crate::livemode::Json;
use crate::AppState;
use bursar_core::customers::*;
pub use bursar_domain::customer::CustomerObject;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_customer, list_customers))
        .routes(routes!(get_customer, update_customer))
        .routes(routes!(customer_timeline))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomerRequest {
    /// At most 254 bytes: one `@`, a dotted domain, no white space.
    #[schema(example = "ada@example.com", format = Email, min_length = 5, max_length = 254)]
    pub email: Option<String>,
    /// Not blank; trimmed.
    #[schema(
        example = "Ada Lovelace",
        min_length = 1,
        max_length = 256,
        pattern = r"\S"
    )]
    pub name: Option<String>,
    #[schema(value_type = Option<Metadata>)]
    pub metadata: Option<BTreeMap<String, String>>,
    /// A company of this workspace.
    #[schema(value_type = Option<CompanyId>)]
    pub company_id: Option<String>,
    /// A price book of this workspace.
    #[schema(value_type = Option<PriceBookId>)]
    pub price_book_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCustomerRequest {
    /// Absent: unchanged. `null`: cleared. Otherwise as when created.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Email, min_length = 5, max_length = 254)]
    pub email: Option<Option<String>>,
    /// Absent: unchanged. `null`: cleared. Otherwise not blank.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 256, pattern = r"\S")]
    pub name: Option<Option<String>>,
    #[schema(value_type = Option<MetadataUpdate>)]
    pub metadata: Option<BTreeMap<String, Option<String>>>,
    /// Absent: unchanged. `null`: cleared.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<CompanyId>)]
    pub company_id: Option<Option<String>>,
    /// Absent: unchanged. `null`: cleared.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<PriceBookId>)]
    pub price_book_id: Option<Option<String>>,
}

/// Create a customer.
#[utoipa::path(
    post, path = "/v1/customers", tag = "customers",
    request_body = CreateCustomerRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: a repeat returns the first response.")),
    responses(
        (status = 200, description = "The new customer", body = CustomerObject),
        (status = 400, description = "Invalid input; `param` names the field", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn create_customer(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<CreateCustomerRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let mut new = NewCustomer::parse(body.email.as_deref(), body.name.as_deref(), body.metadata)?;
    new.company_id = body
        .company_id
        .map(|id| CompanyId::parse(&id, "company_id"))
        .transpose()?;
    new.price_book_id = body
        .price_book_id
        .map(|id| PriceBookId::parse(&id, "price_book_id"))
        .transpose()?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let customer = create(&mut cx, new).await?;
                Ok((StatusCode::OK, CustomerObject::from(customer)))
            })
        })
        .await
}

/// Retrieve a customer.
#[utoipa::path(
    get, path = "/v1/customers/{id}", tag = "customers",
    params(("id" = CustomerId, Path, description = "The customer's id")),
    responses(
        (status = 200, body = CustomerObject),
        (status = 404, description = "No such customer in this workspace", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn get_customer(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<CustomerObject>, ApiError> {
    let id = parse_customer_id(&id)?;
    let workspace_id = principal.workspace_id.clone();
    let lookup = id.clone();
    let customer = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { customers::get(tx, &workspace_id, &lookup, false).await })
        })
        .await?
        .ok_or_else(|| ApiError::not_found("customer", id.as_str()))?;
    Ok(principal.json(customer.into()))
}

/// Update a customer. Fields not given are left unchanged.
#[utoipa::path(
    post, path = "/v1/customers/{id}", tag = "customers",
    request_body = UpdateCustomerRequest,
    params(
        ("id" = CustomerId, Path, description = "The customer's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe."),
    ),
    responses(
        (status = 200, body = CustomerObject),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn update_customer(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<UpdateCustomerRequest>,
) -> Result<Response, ApiError> {
    let id = parse_customer_id(&id)?;
    let body = request.body;
    let mut changes = CustomerUpdate::parse(
        body.email.as_ref().map(|e| e.as_deref()),
        body.name.as_ref().map(|n| n.as_deref()),
        body.metadata,
    )?;
    changes.company_id = match body.company_id {
        None => FieldChange::Keep,
        Some(None) => FieldChange::Clear,
        Some(Some(id)) => FieldChange::Set(CompanyId::parse(&id, "company_id")?),
    };
    changes.price_book_id = match body.price_book_id {
        None => FieldChange::Keep,
        Some(None) => FieldChange::Clear,
        Some(Some(id)) => FieldChange::Set(PriceBookId::parse(&id, "price_book_id")?),
    };
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let customer = update(&mut cx, &id, changes).await?;
                Ok((StatusCode::OK, CustomerObject::from(customer)))
            })
        })
        .await
}

/// A customer's timeline: its events, oldest first.
#[utoipa::path(
    get, path = "/v1/customers/{id}/timeline", tag = "customers",
    params(
        ("id" = CustomerId, Path, description = "The customer's id"),
        ("after" = Option<i64>, Query, minimum = 0, description = "Events after this sequence number (default 0)"),
        ("limit" = Option<i64>, Query, description = "1 to 100, default 100"),
    ),
    responses(
        (status = 200, body = TimelineResponse),
        (status = 400, body = ErrorBody),
        (status = 404, description = "No such customer in this workspace", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn customer_timeline(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Json<TimelineResponse>, ApiError> {
    let id = parse_customer_id(&id)?;
    let workspace_id = principal.workspace_id.clone();
    let lookup = id.clone();
    state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { customers::get(tx, &workspace_id, &lookup, false).await })
        })
        .await?
        .ok_or_else(|| ApiError::not_found("customer", id.as_str()))?;
    let page = timeline(&state, &principal, "customer", id.to_string(), &query).await?;
    Ok(principal.json(page))
}

/// List customers, newest first.
#[utoipa::path(
    get, path = "/v1/customers", tag = "customers",
    params(
        ("limit" = Option<i64>, Query, description = "1 to 100, default 10"),
        ("starting_after" = Option<CustomerId>, Query, description = "A customer id: the page after it"),
        ("ending_before" = Option<CustomerId>, Query, description = "A customer id: the page before it; not with `starting_after`"),
    ),
    responses((status = 200, body = ListResponse<CustomerObject>), (status = 400, body = ErrorBody)),
    security(("api_key" = []))
)]
async fn list_customers(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<CustomerObject>>, ApiError> {
    let page: PageRequest = page_params(&query, &[], |value, param| {
        CustomerId::parse(value, param).map(String::from)
    })?;
    let workspace_id = principal.workspace_id.clone();
    let page = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { customers::list(tx, &workspace_id, &page).await })
        })
        .await?;
    Ok(principal.json(ListResponse::new(
        "/v1/customers",
        page,
        CustomerObject::from,
    )))
}
