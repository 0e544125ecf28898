//! `/v1/refunds` and an order's refunds: reserved, asked of the provider, settled.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bursar_domain::commerce::*;
use bursar_domain::event::Cause;
use bursar_domain::event_type;
use bursar_domain::id::*;
use bursar_domain::ValidationError;
use bursar_store::documents::{self, ORDER, REFUND};
use bursar_store::Tx;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::docs;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal, QueryParams};
use crate::list::ListResponse;
use crate::AppState;
use bursar_core::orders::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_refund, list_refunds))
        .routes(routes!(get_refund))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRefundRequest {
    /// Minor units; default: everything still refundable.
    pub amount: Option<i64>,
    pub reason: Option<String>,
}

/// Refund a paid order, fully or partly, through its provider. Idempotent: a retry with the same
/// Idempotency-Key returns the same refund (and finishes it if it was interrupted).
#[utoipa::path(post, path = "/v1/orders/{id}/refunds", tag = "orders", request_body = CreateRefundRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Refund), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("api_key" = [])))]
async fn create_refund(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<CreateRefundRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    if body.amount.is_some_and(|a| a <= 0) {
        return Err(ValidationError::invalid("amount", "amount must be positive.").into());
    }
    let reason = body
        .reason
        .map(|r| parse_text(&r, "reason", 500))
        .transpose()?;
    let order_id = id.clone();
    // 1. Reserve: the refund exists as `pending` and its amount is held on the order.
    let reserved = state
        .mutate(&principal, request.idempotency.clone(), move |mut cx| {
            Box::pin(async move {
                let mut order = load(&mut cx, &order_id).await?;
                if !matches!(
                    order.status,
                    OrderStatus::Paid | OrderStatus::Fulfilled | OrderStatus::PartiallyRefunded
                ) {
                    return Err(ApiError::state(
                        "order_state_invalid",
                        order.status.as_str(),
                        format!(
                            "An order that is {} cannot be refunded.",
                            order.status.as_str()
                        ),
                    ));
                }
                let refundable = order.refundable();
                let amount = body.amount.unwrap_or(refundable);
                if amount <= 0 || amount > refundable {
                    return Err(ApiError::invalid(
                        "amount_too_large",
                        Some("amount".into()),
                        format!(
                            "At most {} can be refunded.",
                            order.currency.format(refundable)
                        ),
                    ));
                }
                let refund = Refund {
                    id: RefundId::new(),
                    object: "refund".into(),
                    order_id: order.id.clone(),
                    amount,
                    currency: order.currency,
                    reason,
                    status: RefundState::Pending,
                    provider_refund_id: None,
                    failure_reason: None,
                    transfer_id: None,
                    created_at: cx.now,
                    updated_at: cx.now,
                };
                documents::insert(
                    cx.tx,
                    REFUND,
                    cx.workspace_id,
                    refund.id.as_str(),
                    &refund,
                    &[("order_id", order.id.as_str().into())],
                )
                .await?;
                order.amount_refund_pending += amount;
                order.updated_at = cx.now;
                save(&mut cx, &order).await?;
                emit(
                    &mut cx,
                    event_type::ORDER_REFUND_REQUESTED,
                    &order,
                    None,
                    json!({ "refund": refund }),
                )
                .await?;
                Ok((StatusCode::OK, refund))
            })
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
    Ok(Json(refund).into_response())
}

/// Retrieve a refund.
#[utoipa::path(get, path = "/v1/refunds/{id}", tag = "orders", params(("id" = String, Path)),
    responses((status = 200, body = Refund), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_refund(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Refund>, ApiError> {
    Ok(Json(
        docs::get(&state, &principal, REFUND, "refund", id).await?,
    ))
}

/// An order's refunds, newest first.
#[utoipa::path(get, path = "/v1/orders/{id}/refunds", tag = "orders",
    params(("id" = String, Path), ("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query), ("ending_before" = Option<String>, Query)),
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
        |v, _| Ok(v.to_owned()),
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
    Ok(Json(ListResponse::new(
        "/v1/orders/{id}/refunds",
        page,
        |r| r,
    )))
}
