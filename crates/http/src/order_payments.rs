//! Paying an order: its hosted checkout, or an off-session charge of a saved method.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bursar_domain::commerce::*;
use bursar_domain::event_type;
use bursar_domain::id::*;
use bursar_domain::ledger::chart::CommerceAccount;
use bursar_store::documents::{self, ORDER};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::docs;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal};
use crate::payments;
use crate::AppState;
use bursar_core::checkouts::{record_checkout, start_checkout};
use bursar_core::orders::*;
use bursar_core::providers::{provider_error, return_urls};

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
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
}

/// Open a hosted checkout for an order (`draft`, `payment_failed` or `checkout_expired`): the
/// order becomes `checkout_open`, its promotion code's redemption is counted, and `checkout.url`
/// is where to send the customer. Nothing is posted to the ledger until the payment is confirmed.
#[utoipa::path(post, path = "/v1/orders/{id}/checkout", tag = "orders", request_body = CheckoutOrderRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
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
    /// A saved payment method of the order's customer (`spm_…`).
    pub payment_method_id: String,
}

/// Charge an order to the customer's saved payment method, off-session (a renewal, an invoice):
/// the order is committed as paid only when the provider confirms the charge. A decline or a
/// required authentication leaves the order `payment_failed` with the reason, and nothing in the
/// ledger.
#[utoipa::path(post, path = "/v1/orders/{id}/pay", tag = "orders", request_body = PayOrderRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Order), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("api_key" = [])))]
async fn pay_order(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<PayOrderRequest>,
) -> Result<Response, ApiError> {
    let method_id = PaymentMethodId::parse(&request.body.payment_method_id, "payment_method_id")?;
    let order: Order = docs::get(&state, &principal, ORDER, "order", id.clone()).await?;
    let payable = matches!(
        order.status,
        OrderStatus::Draft | OrderStatus::PaymentFailed | OrderStatus::CheckoutExpired
    );
    if !payable {
        return Err(ApiError::state(
            "order_state_invalid",
            order.status.as_str(),
            format!(
                "An order that is {} cannot be charged.",
                order.status.as_str()
            ),
        ));
    }
    let method: PaymentMethod = docs::get(
        &state,
        &principal,
        documents::PAYMENT_METHOD,
        "payment_method",
        method_id.to_string(),
    )
    .await
    .map_err(|e| e.with_param("payment_method_id"))?;
    if method.customer_id != order.customer_id {
        return Err(ApiError::invalid(
            "payment_method_invalid",
            Some("payment_method_id".into()),
            "The payment method belongs to another customer.",
        ));
    }
    let connection = bursar_core::providers::resolve(
        &state,
        &principal.workspace_id,
        Some(method.provider_id.as_str()),
        "",
    )
    .await?;
    // The attempt is the order's version: a retry of a charge whose outcome was not recorded
    // reuses the provider's idempotency key, so the customer is charged once.
    let version = order.updated_at.unix_micros();
    let charge = bursar_payments::OffSessionCharge {
        attempt_id: format!("{}-{version}", order.id),
        order_id: order.id.to_string(),
        provider_customer: method.provider_customer.clone().unwrap_or_default(),
        payment_method: method.provider_method_id.clone(),
        amount: order.totals.total,
        currency: order.currency.code().to_owned(),
        metadata: bursar_core::providers::order_metadata(order.id.as_str()),
    };
    let outcome = connection
        .provider
        .charge_saved(&charge)
        .await
        .map_err(provider_error)?;
    let clearing = CommerceAccount::Clearing(connection.row.kind.clone());
    let provider_id = connection.row.provider_id.clone();
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let mut order = load(&mut cx, &id).await?;
                if order.updated_at.unix_micros() != version {
                    return Err(ApiError::state(
                        "order_state_invalid",
                        order.status.as_str(),
                        "The order changed while it was being charged; read it again.",
                    ));
                }
                match outcome.status {
                    bursar_payments::PaymentStatus::Succeeded => {
                        let applied = mark_paid(
                            &mut cx,
                            &mut order,
                            &provider_id,
                            &clearing,
                            Confirmed {
                                payment_id: &outcome.id,
                                amount: outcome.amount_received,
                                currency: &outcome.currency,
                                fee: None,
                            },
                        )
                        .await?;
                        if applied.outcome != "applied" {
                            return Err(ApiError::state(
                                "order_state_invalid",
                                order.status.as_str(),
                                applied.detail.unwrap_or_default(),
                            ));
                        }
                    }
                    bursar_payments::PaymentStatus::Processing => {
                        let previous = move_to(&mut order, OrderStatus::PaymentProcessing)?;
                        order.updated_at = cx.now;
                        save(&mut cx, &order).await?;
                        emit(
                            &mut cx,
                            event_type::ORDER_PAYMENT_PROCESSING,
                            &order,
                            Some(previous),
                            json!({}),
                        )
                        .await?;
                    }
                    _ => {
                        let previous = move_to(&mut order, OrderStatus::PaymentFailed)?;
                        order.last_payment_error = Some(
                            outcome
                                .last_error
                                .clone()
                                .unwrap_or_else(|| "payment_failed".into()),
                        );
                        order.updated_at = cx.now;
                        save(&mut cx, &order).await?;
                        emit(
                            &mut cx,
                            event_type::ORDER_PAYMENT_FAILED,
                            &order,
                            Some(previous),
                            json!({}),
                        )
                        .await?;
                    }
                }
                Ok((StatusCode::OK, order))
            })
        })
        .await
}
