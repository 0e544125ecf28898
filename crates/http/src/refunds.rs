//! `/v1/refunds` and an order's refunds: reserved, asked of the provider, settled.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bursar_domain::commerce::*;
use bursar_domain::event::Cause;
use bursar_domain::id::{OrderId, RefundId};
use bursar_domain::money::PositiveAmount;
use bursar_domain::ValidationError;
use bursar_store::documents::{self, ORDER, REFUND};
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
use bursar_core::orders::finish_refund;
use bursar_core::refunds::{reserve, NewRefund};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_refund, list_refunds))
        .routes(routes!(get_refund))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRefundRequest {
    /// Minor units, at most what is still refundable (the default).
    #[schema(value_type = Option<PositiveAmount>)]
    pub amount: Option<i64>,
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub reason: Option<String>,
}

/// Refund a paid order, fully or partly, through its provider. Needs an `Idempotency-Key`: a
/// retry with the same key returns the same refund (and finishes it if it was interrupted).
#[utoipa::path(post, path = "/v1/orders/{id}/refunds", tag = "orders", request_body = CreateRefundRequest,
    params(("id" = OrderId, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 200, body = Refund), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("api_key" = [])))]
async fn create_refund(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<CreateRefundRequest>,
) -> Result<Response, ApiError> {
    request.idempotency.require("Refunding an order", "")?;
    let body = request.body;
    if body.amount.is_some_and(|a| a <= 0) {
        return Err(ValidationError::invalid("amount", "amount must be positive.").into());
    }
    let reason = body
        .reason
        .map(|r| parse_text(&r, "reason", 500))
        .transpose()?;
    let new = NewRefund {
        order_id: id,
        amount: body.amount,
        reason,
    };
    // 1. Reserve: the refund exists as `pending` and its amount is held on the order.
    let reserved = state
        .mutate(&principal, request.idempotency.clone(), move |mut cx| {
            Box::pin(async move { Ok((StatusCode::OK, reserve(&mut cx, new).await?)) })
        })
        .await?;
    if !reserved.status().is_success() {
        return Ok(reserved);
    }
    let bytes = axum::body::to_bytes(reserved.into_body(), 1 << 20)
        .await
        .map_err(|_| ApiError::internal())?;
    let refund: Refund = serde_json::from_slice(&bytes).map_err(|_| ApiError::internal())?;
    let cause = Cause {
        request_id: None,
        actor: Some(principal.key_id.to_string()),
    };
    let refund = finish_refund(&state, &principal.workspace_id, &cause, refund.id.as_str()).await?;
    Ok(principal.json(refund).into_response())
}

/// Retrieve a refund.
#[utoipa::path(get, path = "/v1/refunds/{id}", tag = "orders", params(("id" = RefundId, Path)),
    responses((status = 200, body = Refund), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_refund(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Refund>, ApiError> {
    Ok(principal.json(docs::get(&state, &principal, REFUND, "refund", id).await?))
}

/// An order's refunds, newest first.
#[utoipa::path(get, path = "/v1/orders/{id}/refunds", tag = "orders",
    params(("id" = OrderId, Path), ("limit" = Option<i64>, Query), ("starting_after" = Option<RefundId>, Query), ("ending_before" = Option<RefundId>, Query)),
    responses((status = 200, body = ListResponse<Refund>), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn list_refunds(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Json<ListResponse<Refund>>, ApiError> {
    docs::get::<Order>(&state, &principal, ORDER, "order", id.clone()).await?;
    let page = bursar_domain::page::PageRequest::parse(
        query.integer("limit")?,
        query.text("starting_after"),
        query.text("ending_before"),
        |value, param| RefundId::parse(value, param).map(String::from),
    )?;
    let workspace_id = principal.workspace_id.clone();
    let page = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                documents::list::<Refund>(
                    tx,
                    REFUND,
                    &workspace_id,
                    &page,
                    Some(("order_id", id.into())),
                )
                .await
            })
        })
        .await?;
    Ok(principal.json(ListResponse::new("/v1/orders/{id}/refunds", page, |r| r)))
}
