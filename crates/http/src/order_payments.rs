//! Paying an order: its hosted checkout, or an off-session charge of a saved method.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bursar_domain::commerce::*;
use bursar_domain::id::*;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal};
use crate::payments;
use crate::AppState;
use bursar_core::checkouts::{charge_saved_method, record_charge, record_checkout, start_checkout};
use bursar_core::providers::return_urls;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(checkout_order))
        .routes(routes!(pay_order))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutOrderRequest {
    /// `test` (default), `stripe`, or a connection id (`pp_…`).
    pub provider: Option<String>,
    /// Where the customer returns: an absolute `http(s)` URL of at most 2000 bytes (default:
    /// the test provider's page).
    #[schema(format = "uri", pattern = "^https?://", max_length = 2000)]
    pub success_url: Option<String>,
    /// As `success_url`, for a customer who gives up.
    #[schema(format = "uri", pattern = "^https?://", max_length = 2000)]
    pub cancel_url: Option<String>,
}

/// Open a hosted checkout for an order (`draft`, `payment_failed` or `checkout_expired`): the
/// order becomes `checkout_open`, its promotion code's redemption is counted, and `checkout.url`
/// is where to send the customer. Nothing is posted to the ledger until the payment is confirmed.
#[utoipa::path(post, path = "/v1/orders/{id}/checkout", tag = "orders", request_body = CheckoutOrderRequest,
    params(("id" = OrderId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Order), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("api_key" = [])))]
async fn checkout_order(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
    request: Mutation<CheckoutOrderRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let base = payments::base_url(&state, &headers);
    let (success_url, cancel_url) = return_urls(
        &base,
        &format!("order={id}"),
        body.success_url,
        body.cancel_url,
    )?;
    let urls = (success_url, cancel_url);
    let retried = request.idempotency.key.is_some();
    let selector = body.provider.as_deref();
    let session = start_checkout(
        &state,
        &principal.workspace_id,
        &id,
        selector,
        &base,
        urls,
        retried,
    )
    .await?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let order = record_checkout(&mut cx, &id, session).await?;
                Ok((StatusCode::OK, order))
            })
        })
        .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayOrderRequest {
    /// A saved payment method of the order's customer.
    #[schema(value_type = PaymentMethodId)]
    pub payment_method_id: String,
}

/// Charge an order to the customer's saved payment method, off-session (a renewal, an invoice):
/// the order is committed as paid only when the provider confirms the charge. A decline or a
/// required authentication leaves the order `payment_failed` with the reason, and nothing in the
/// ledger.
#[utoipa::path(post, path = "/v1/orders/{id}/pay", tag = "orders", request_body = PayOrderRequest,
    params(("id" = OrderId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Order), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("api_key" = [])))]
async fn pay_order(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<PayOrderRequest>,
) -> Result<Response, ApiError> {
    let method_id = PaymentMethodId::parse(&request.body.payment_method_id, "payment_method_id")?;
    let charged = charge_saved_method(&state, &principal.workspace_id, &id, &method_id).await?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let order = record_charge(&mut cx, &id, charged).await?;
                Ok((StatusCode::OK, order))
            })
        })
        .await
}
