//! `/v1/price_agreements`: prices negotiated with a company, drafted, activated, expired.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bursar_domain::commerce::*;
use bursar_domain::id::*;
use bursar_domain::money::{check_amount_cap, Currency, NonNegativeAmount};
use bursar_domain::ValidationError;
use bursar_store::documents::PRICE_AGREEMENT;
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
use bursar_core::agreements::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_agreement, list_agreements))
        .routes(routes!(get_agreement, update_agreement))
        .routes(routes!(activate_agreement))
        .routes(routes!(expire_agreement))
        .routes(routes!(agreement_timeline))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgreementLineRequest {
    #[schema(value_type = ProductId)]
    pub product_id: String,
    /// Negotiated minor units per unit.
    #[schema(value_type = NonNegativeAmount)]
    pub unit_amount: i64,
    /// Default 1.
    #[schema(minimum = 1)]
    pub min_quantity: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgreementRequest {
    #[schema(value_type = CompanyId)]
    pub company_id: String,
    #[schema(
        example = "2026 framework agreement",
        min_length = 1,
        max_length = 250,
        pattern = r"\S"
    )]
    pub name: String,
    #[schema(value_type = Currency)]
    pub currency: String,
    /// RFC 3339; inclusive.
    #[schema(format = DateTime)]
    pub effective_from: String,
    /// RFC 3339; exclusive, after `effective_from`. Open-ended when absent.
    #[schema(format = DateTime)]
    pub effective_to: Option<String>,
    #[schema(min_items = 1, max_items = 500)]
    pub lines: Vec<AgreementLineRequest>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAgreementRequest {
    #[schema(min_length = 1, max_length = 250, pattern = r"\S")]
    pub name: Option<String>,
    /// Drafts only.
    #[schema(format = DateTime)]
    pub effective_from: Option<String>,
    /// Absent: unchanged. `null`: open-ended. An active agreement can be shortened or extended,
    /// but not to end in the past.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub effective_to: Option<Option<String>>,
    /// Drafts only: replaces the lines.
    #[schema(min_items = 1, max_items = 500)]
    pub lines: Option<Vec<AgreementLineRequest>>,
}

/// Create a price agreement (a draft) for a company.
#[utoipa::path(post, path = "/v1/price_agreements", tag = "catalog", request_body = CreateAgreementRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = PriceAgreement), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn create_agreement(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<CreateAgreementRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let company_id = CompanyId::parse(&body.company_id, "company_id")?;
    let name = parse_text(&body.name, "name", 250)?;
    let currency = Currency::parse(&body.currency, "currency")?;
    let from = parse_instant(&body.effective_from, "effective_from")?;
    let to = body
        .effective_to
        .map(|t| parse_instant(&t, "effective_to"))
        .transpose()?;
    check_window(from, to)?;
    let new = NewAgreement {
        company_id,
        name,
        currency,
        effective_from: from,
        effective_to: to,
        lines: parse_lines(body.lines)?,
    };
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let agreement = create(&mut cx, new).await?;
                Ok((StatusCode::OK, agreement))
            })
        })
        .await
}

/// Retrieve a price agreement; `status` is as of now (an active agreement past its end shows
/// `expired`).
#[utoipa::path(get, path = "/v1/price_agreements/{id}", tag = "catalog", params(("id" = AgreementId, Path)),
    responses((status = 200, body = PriceAgreement), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_agreement(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<PriceAgreement>, ApiError> {
    let mut agreement: PriceAgreement =
        docs::get(&state, &principal, PRICE_AGREEMENT, "price_agreement", id).await?;
    agreement.status = agreement.status_at(state.db.now());
    Ok(principal.json(agreement))
}

/// Update a price agreement. Drafts change freely; an active agreement's end can move (never
/// into the past); expired agreements are history.
#[utoipa::path(post, path = "/v1/price_agreements/{id}", tag = "catalog", request_body = UpdateAgreementRequest,
    params(("id" = AgreementId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = PriceAgreement), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn update_agreement(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<UpdateAgreementRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let name = body.name.map(|n| parse_text(&n, "name", 250)).transpose()?;
    let from = body
        .effective_from
        .map(|t| parse_instant(&t, "effective_from"))
        .transpose()?;
    let to = match body.effective_to {
        None => None,
        Some(None) => Some(None),
        Some(Some(t)) => Some(Some(parse_instant(&t, "effective_to")?)),
    };
    let changes = AgreementUpdate {
        name,
        effective_from: from,
        effective_to: to,
        lines: body.lines.map(parse_lines).transpose()?,
    };
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let agreement = update(&mut cx, &id, changes).await?;
                Ok((StatusCode::OK, agreement))
            })
        })
        .await
}

/// Moves an agreement to `to` (see [`bursar_core::agreements::set_status`]).
async fn change_status(
    state: AppState,
    principal: Principal,
    id: String,
    request: Mutation<serde_json::Value>,
    to: AgreementStatus,
) -> Result<Response, ApiError> {
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let agreement = set_status(&mut cx, &id, to).await?;
                Ok((StatusCode::OK, agreement))
            })
        })
        .await
}

/// Activate a draft agreement: it prices the company's orders from `effective_from`.
#[utoipa::path(post, path = "/v1/price_agreements/{id}/activate", tag = "catalog",
    params(("id" = AgreementId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = PriceAgreement), (status = 409, body = ErrorBody)), security(("api_key" = [])))]
async fn activate_agreement(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<serde_json::Value>,
) -> Result<Response, ApiError> {
    change_status(state, principal, id, request, AgreementStatus::Active).await
}

/// End an agreement now.
#[utoipa::path(post, path = "/v1/price_agreements/{id}/expire", tag = "catalog",
    params(("id" = AgreementId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = PriceAgreement), (status = 409, body = ErrorBody)), security(("api_key" = [])))]
async fn expire_agreement(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<serde_json::Value>,
) -> Result<Response, ApiError> {
    change_status(state, principal, id, request, AgreementStatus::Expired).await
}

/// List price agreements, newest first; `company_id` selects one company's.
#[utoipa::path(get, path = "/v1/price_agreements", tag = "catalog",
    params(("company_id" = Option<String>, Query), ("limit" = Option<i64>, Query), ("starting_after" = Option<AgreementId>, Query), ("ending_before" = Option<AgreementId>, Query)),
    responses((status = 200, body = ListResponse<PriceAgreement>)), security(("api_key" = [])))]
async fn list_agreements(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<PriceAgreement>>, ApiError> {
    let mut list: ListResponse<PriceAgreement> = docs::list(
        &state,
        &principal,
        &query,
        PRICE_AGREEMENT,
        "/v1/price_agreements",
        "agr_",
        Some(("company_id", "company_id")),
    )
    .await?;
    let now = state.db.now();
    for agreement in &mut list.data {
        agreement.status = agreement.status_at(now);
    }
    Ok(principal.json(list))
}

/// An agreement's audit trail: every version, as events, oldest first.
#[utoipa::path(get, path = "/v1/price_agreements/{id}/timeline", tag = "catalog",
    params(("id" = AgreementId, Path), ("after" = Option<i64>, Query, minimum = 0), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = TimelineResponse), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn agreement_timeline(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Json<TimelineResponse>, ApiError> {
    docs::get::<PriceAgreement>(
        &state,
        &principal,
        PRICE_AGREEMENT,
        "price_agreement",
        id.clone(),
    )
    .await?;
    Ok(principal.json(timeline(&state, &principal, "price_agreement", id, &query).await?))
}

pub fn parse_lines(
    lines: Vec<AgreementLineRequest>,
) -> Result<Vec<AgreementLine>, ValidationError> {
    if lines.is_empty() || lines.len() > 500 {
        return Err(ValidationError::invalid(
            "lines",
            "An agreement has 1 to 500 lines.",
        ));
    }
    lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            let product_id = ProductId::parse(&l.product_id, &format!("lines[{i}][product_id]"))?;
            if l.unit_amount < 0 {
                return Err(ValidationError::invalid(
                    format!("lines[{i}][unit_amount]"),
                    "unit_amount must not be negative.",
                ));
            }
            check_amount_cap(l.unit_amount, &format!("lines[{i}][unit_amount]"))?;
            let min_quantity = l.min_quantity.unwrap_or(1);
            if min_quantity < 1 {
                return Err(ValidationError::invalid(
                    format!("lines[{i}][min_quantity]"),
                    "min_quantity must be at least 1.",
                ));
            }
            Ok(AgreementLine {
                product_id,
                unit_amount: l.unit_amount,
                min_quantity,
            })
        })
        .collect()
}
