//! `/v1/tax_rates`: the tax rates invoice lines carry.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bursar_domain::commerce::parse_text;
use bursar_domain::id::TaxRateId;
use bursar_domain::invoice::*;
use bursar_store::documents::TAX_RATE;
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
use bursar_core::tax_rates::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_tax_rate, list_tax_rates))
        .routes(routes!(get_tax_rate))
}

// ---------------------------------------------------------------------------------------------
// Tax rates

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTaxRateRequest {
    #[schema(example = "VAT", min_length = 1, max_length = 100, pattern = r"\S")]
    pub display_name: String,
    /// A country (`DE`) or country and region (`US-CA`).
    #[schema(example = "DE", pattern = "^[A-Z]{2}(-[A-Z0-9]{1,3})?$")]
    pub jurisdiction: String,
    /// 0 to 100 with at most two decimals, as a string: `"19"`, `"7.25"`.
    #[schema(
        example = "19",
        pattern = r"^\s*(?:(?:[0-9]{1,2}|0[0-9]{2})(?:\.[0-9]{0,2})?|100(?:\.0{0,2})?)\s*$"
    )]
    pub percentage: String,
    /// Whether prices with this rate include the tax (default false).
    pub inclusive: Option<bool>,
}

/// Create a tax rate.
#[utoipa::path(post, path = "/v1/tax_rates", tag = "invoices", request_body = CreateTaxRateRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = TaxRate), (status = 400, body = ErrorBody)), security(("api_key" = [])))]
async fn create_tax_rate(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<CreateTaxRateRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let new = NewTaxRate {
        display_name: parse_text(&body.display_name, "display_name", 100)?,
        jurisdiction: parse_jurisdiction(&body.jurisdiction)?,
        percentage_bp: parse_percentage(&body.percentage, "percentage")?,
        inclusive: body.inclusive.unwrap_or(false),
    };
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let rate = create(&mut cx, new).await?;
                Ok((StatusCode::OK, rate))
            })
        })
        .await
}

/// List tax rates, newest first.
#[utoipa::path(get, path = "/v1/tax_rates", tag = "invoices",
    params(("limit" = Option<i64>, Query), ("starting_after" = Option<TaxRateId>, Query), ("ending_before" = Option<TaxRateId>, Query)),
    responses((status = 200, body = ListResponse<TaxRate>)), security(("api_key" = [])))]
async fn list_tax_rates(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<TaxRate>>, ApiError> {
    Ok(principal.json(
        docs::list(
            &state,
            &principal,
            &query,
            TAX_RATE,
            "/v1/tax_rates",
            "txr_",
            None,
        )
        .await?,
    ))
}

/// Retrieve a tax rate.
#[utoipa::path(get, path = "/v1/tax_rates/{id}", tag = "invoices", params(("id" = TaxRateId, Path)),
    responses((status = 200, body = TaxRate), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_tax_rate(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<TaxRate>, ApiError> {
    Ok(principal.json(docs::get(&state, &principal, TAX_RATE, "tax_rate", id).await?))
}
