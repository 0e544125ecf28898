//! `/v1/companies` and `/v1/price_agreements`: businesses, their people and places, and the
//! prices they negotiated.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bursar_domain::commerce::*;
use bursar_domain::id::*;
use bursar_domain::metadata::{Metadata, MetadataUpdate};
use bursar_store::documents::COMPANY;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::docs;
use crate::error::{ApiError, ErrorBody};
use crate::events::{timeline, TimelineResponse};
use crate::extract::{double_option, Mutation, Principal, QueryParams};
use crate::list::ListResponse;
use crate::livemode::Json;
use crate::AppState;
use bursar_core::companies::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_company, list_companies))
        .routes(routes!(get_company, update_company))
        .routes(routes!(company_timeline))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCompanyRequest {
    #[schema(
        example = "Acme GmbH",
        min_length = 1,
        max_length = 250,
        pattern = r"\S"
    )]
    pub name: String,
    #[schema(value_type = Option<PriceBookId>)]
    pub price_book_id: Option<String>,
    #[schema(max_items = 50)]
    pub contacts: Option<Vec<Contact>>,
    #[schema(max_items = 20)]
    pub addresses: Option<Vec<Address>>,
    #[schema(value_type = Option<Metadata>)]
    pub metadata: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCompanyRequest {
    #[schema(min_length = 1, max_length = 250, pattern = r"\S")]
    pub name: Option<String>,
    /// Absent: unchanged. `null`: cleared.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<PriceBookId>)]
    pub price_book_id: Option<Option<String>>,
    /// Replaces the list.
    #[schema(max_items = 50)]
    pub contacts: Option<Vec<Contact>>,
    /// Replaces the list.
    #[schema(max_items = 20)]
    pub addresses: Option<Vec<Address>>,
    #[schema(value_type = Option<MetadataUpdate>)]
    pub metadata: Option<BTreeMap<String, Option<String>>>,
}

/// Create a company.
#[utoipa::path(post, path = "/v1/companies", tag = "customers", request_body = CreateCompanyRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Company), (status = 400, body = ErrorBody)), security(("api_key" = [])))]
async fn create_company(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<CreateCompanyRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let name = parse_text(&body.name, "name", 250)?;
    let price_book_id = body
        .price_book_id
        .map(|id| PriceBookId::parse(&id, "price_book_id"))
        .transpose()?;
    let contacts = body.contacts.unwrap_or_default();
    check_contacts(&contacts)?;
    let addresses = body.addresses.unwrap_or_default();
    check_addresses(&addresses)?;
    let new = NewCompany {
        name,
        price_book_id,
        contacts,
        addresses,
        metadata: Metadata::parse(body.metadata.unwrap_or_default())?,
    };
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let company = create(&mut cx, new).await?;
                Ok((StatusCode::OK, company))
            })
        })
        .await
}

/// Retrieve a company.
#[utoipa::path(get, path = "/v1/companies/{id}", tag = "customers", params(("id" = CompanyId, Path)),
    responses((status = 200, body = Company), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_company(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Company>, ApiError> {
    Ok(principal.json(docs::get(&state, &principal, COMPANY, "company", id).await?))
}

/// Update a company; contacts and addresses given replace the lists.
#[utoipa::path(post, path = "/v1/companies/{id}", tag = "customers", request_body = UpdateCompanyRequest,
    params(("id" = CompanyId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Company), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn update_company(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<UpdateCompanyRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let name = body.name.map(|n| parse_text(&n, "name", 250)).transpose()?;
    let price_book_id = match body.price_book_id {
        None => None,
        Some(None) => Some(None),
        Some(Some(id)) => Some(Some(PriceBookId::parse(&id, "price_book_id")?)),
    };
    if let Some(contacts) = &body.contacts {
        check_contacts(contacts)?;
    }
    if let Some(addresses) = &body.addresses {
        check_addresses(addresses)?;
    }
    let changes = CompanyUpdate {
        name,
        price_book_id,
        contacts: body.contacts,
        addresses: body.addresses,
        metadata: body.metadata,
    };
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let company = update(&mut cx, &id, changes).await?;
                Ok((StatusCode::OK, company))
            })
        })
        .await
}

/// List companies, newest first.
#[utoipa::path(get, path = "/v1/companies", tag = "customers",
    params(("limit" = Option<i64>, Query), ("starting_after" = Option<CompanyId>, Query), ("ending_before" = Option<CompanyId>, Query)),
    responses((status = 200, body = ListResponse<Company>)), security(("api_key" = [])))]
async fn list_companies(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<Company>>, ApiError> {
    Ok(principal.json(
        docs::list(
            &state,
            &principal,
            &query,
            COMPANY,
            "/v1/companies",
            "comp_",
            None,
        )
        .await?,
    ))
}

/// A company's timeline: its events, oldest first.
#[utoipa::path(get, path = "/v1/companies/{id}/timeline", tag = "customers",
    params(("id" = CompanyId, Path), ("after" = Option<i64>, Query, minimum = 0), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = TimelineResponse), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn company_timeline(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Json<TimelineResponse>, ApiError> {
    docs::get::<Company>(&state, &principal, COMPANY, "company", id.clone()).await?;
    Ok(principal.json(timeline(&state, &principal, "company", id, &query).await?))
}
