//! `/v1/coupons` and `/v1/promotion_codes`: discounts and the codes that redeem them.
//!
//! Redemptions are counted in the checkout's transaction by a conditional update (see
//! `bursar_store::discounts::redeem`), so a code limited to N redemptions is redeemed at most N
//! times however many checkouts race for it; an expired or canceled checkout gives its
//! redemption back.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bursar_domain::commerce::*;
use bursar_domain::id::*;
use bursar_domain::money::{Currency, PositiveAmount};
use bursar_store::documents::{COUPON, PROMOTION_CODE};
use bursar_store::Tx;
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
use bursar_core::discounts::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_coupon, list_coupons))
        .routes(routes!(get_coupon))
        .routes(routes!(create_promotion_code, list_promotion_codes))
        .routes(routes!(get_promotion_code, update_promotion_code))
}

/// A coupon takes exactly one of `percent_off` and `amount_off` (with `currency`);
/// `duration_in_months` is for `repeating` coupons only, and required for them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCouponRequest {
    #[schema(min_length = 1, max_length = 250, pattern = r"\S")]
    pub name: Option<String>,
    /// Whole percent. Give exactly one of `percent_off` and `amount_off`.
    #[schema(minimum = 1, maximum = 100)]
    pub percent_off: Option<i64>,
    /// Minor units; requires `currency`. Give exactly one of `percent_off` and `amount_off`.
    #[schema(value_type = Option<PositiveAmount>)]
    pub amount_off: Option<i64>,
    #[schema(value_type = Option<Currency>)]
    pub currency: Option<String>,
    /// Default `once`.
    pub duration: Option<CouponDuration>,
    /// Required for `repeating`, and only for it.
    #[schema(minimum = 1, maximum = 120)]
    pub duration_in_months: Option<i64>,
    /// Products the coupon is limited to.
    #[schema(value_type = Option<Vec<ProductId>>)]
    pub applies_to: Option<Vec<String>>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub redeem_by: Option<String>,
    #[schema(minimum = 1)]
    pub max_redemptions: Option<i64>,
}

/// Create a coupon: percent or amount off, once, repeating or forever.
#[utoipa::path(post, path = "/v1/coupons", tag = "discounts", request_body = CreateCouponRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Coupon), (status = 400, body = ErrorBody)), security(("api_key" = [])))]
async fn create_coupon(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<CreateCouponRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let name = body.name.map(|n| parse_text(&n, "name", 250)).transpose()?;
    let currency = body
        .currency
        .map(|c| Currency::parse(&c, "currency"))
        .transpose()?;
    let (duration, duration_in_months) = coupon_terms(
        body.percent_off,
        body.amount_off,
        currency,
        body.duration,
        body.duration_in_months,
    )?;
    let applies_to = body
        .applies_to
        .map(|ids| {
            ids.iter()
                .enumerate()
                .map(|(i, id)| ProductId::parse(id, &format!("applies_to[{i}]")))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let new = NewCoupon {
        name,
        percent_off: body.percent_off,
        amount_off: body.amount_off,
        currency,
        duration,
        duration_in_months,
        applies_to,
        redeem_by: parse_time(body.redeem_by, "redeem_by")?,
        max_redemptions: parse_limit(body.max_redemptions, "max_redemptions")?,
    };
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let coupon = bursar_core::discounts::create_coupon(&mut cx, new).await?;
                Ok((StatusCode::OK, coupon))
            })
        })
        .await
}

/// Retrieve a coupon.
#[utoipa::path(get, path = "/v1/coupons/{id}", tag = "discounts", params(("id" = CouponId, Path)),
    responses((status = 200, body = Coupon), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_coupon(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Coupon>, ApiError> {
    let workspace_id = principal.workspace_id.clone();
    let lookup = id.clone();
    let coupon = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { load_coupon(tx, &workspace_id, &lookup).await })
        })
        .await?;
    coupon
        .map(|coupon| principal.json(coupon))
        .ok_or_else(|| ApiError::not_found("coupon", &id))
}

/// List coupons, newest first.
#[utoipa::path(get, path = "/v1/coupons", tag = "discounts",
    params(("limit" = Option<i64>, Query), ("starting_after" = Option<CouponId>, Query), ("ending_before" = Option<CouponId>, Query)),
    responses((status = 200, body = ListResponse<Coupon>)), security(("api_key" = [])))]
async fn list_coupons(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<Coupon>>, ApiError> {
    let mut list: ListResponse<Coupon> = docs::list(
        &state,
        &principal,
        &query,
        COUPON,
        "/v1/coupons",
        "coupon_",
        None,
    )
    .await?;
    let ids: Vec<String> = list.data.iter().map(|c| c.id.to_string()).collect();
    let counts = redemption_counts(&state, &principal.workspace_id, COUPON, ids).await?;
    for (coupon, count) in list.data.iter_mut().zip(counts) {
        coupon.times_redeemed = count;
    }
    Ok(principal.json(list))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePromotionCodeRequest {
    #[schema(value_type = CouponId)]
    pub coupon_id: String,
    /// 3 to 40 letters, digits, `-` or `_`; case-insensitive.
    #[schema(example = "LAUNCH25", pattern = r"^\s*[A-Za-z0-9_-]{3,40}\s*$")]
    pub code: String,
    #[schema(minimum = 1)]
    pub max_redemptions: Option<i64>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePromotionCodeRequest {
    pub active: Option<bool>,
}

/// Create a promotion code for a coupon.
#[utoipa::path(post, path = "/v1/promotion_codes", tag = "discounts", request_body = CreatePromotionCodeRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = PromotionCode), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn create_promotion_code(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<CreatePromotionCodeRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let coupon_id = CouponId::parse(&body.coupon_id, "coupon_id")?;
    let new = NewPromotionCode {
        coupon_id,
        code: parse_code(&body.code)?,
        max_redemptions: parse_limit(body.max_redemptions, "max_redemptions")?,
        expires_at: parse_time(body.expires_at, "expires_at")?,
    };
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let promotion = bursar_core::discounts::create_promotion_code(&mut cx, new).await?;
                Ok((StatusCode::OK, promotion))
            })
        })
        .await
}

/// Retrieve a promotion code.
#[utoipa::path(get, path = "/v1/promotion_codes/{id}", tag = "discounts", params(("id" = PromotionCodeId, Path)),
    responses((status = 200, body = PromotionCode), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_promotion_code(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<PromotionCode>, ApiError> {
    let workspace_id = principal.workspace_id.clone();
    let lookup = id.clone();
    let code = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { load_promotion_code(tx, &workspace_id, &lookup).await })
        })
        .await?;
    code.map(|code| principal.json(code))
        .ok_or_else(|| ApiError::not_found("promotion_code", &id))
}

/// Deactivate or reactivate a promotion code.
#[utoipa::path(post, path = "/v1/promotion_codes/{id}", tag = "discounts", request_body = UpdatePromotionCodeRequest,
    params(("id" = PromotionCodeId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = PromotionCode), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn update_promotion_code(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<UpdatePromotionCodeRequest>,
) -> Result<Response, ApiError> {
    let active = request.body.active;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let promotion =
                    bursar_core::discounts::update_promotion_code(&mut cx, &id, active).await?;
                Ok((StatusCode::OK, promotion))
            })
        })
        .await
}

/// List promotion codes, newest first.
#[utoipa::path(get, path = "/v1/promotion_codes", tag = "discounts",
    params(("limit" = Option<i64>, Query), ("starting_after" = Option<PromotionCodeId>, Query), ("ending_before" = Option<PromotionCodeId>, Query)),
    responses((status = 200, body = ListResponse<PromotionCode>)), security(("api_key" = [])))]
async fn list_promotion_codes(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<PromotionCode>>, ApiError> {
    let mut list: ListResponse<PromotionCode> = docs::list(
        &state,
        &principal,
        &query,
        PROMOTION_CODE,
        "/v1/promotion_codes",
        "promo_",
        None,
    )
    .await?;
    let ids: Vec<String> = list.data.iter().map(|c| c.id.to_string()).collect();
    let counts = redemption_counts(&state, &principal.workspace_id, PROMOTION_CODE, ids).await?;
    for (code, count) in list.data.iter_mut().zip(counts) {
        code.times_redeemed = count;
    }
    Ok(principal.json(list))
}
