//! `/v1/orders`: orders priced by the resolver, paid through a provider's checkout, refunded.
//!
//! Pay before commit: nothing irreversible happens until the provider confirms the payment.
//! Creating an order and opening its checkout post nothing to the ledger; when the provider's
//! confirmation arrives ([`apply_payment_event`], called by the webhook path), one transaction
//! moves the order to `paid`, posts the payment (provider clearing → revenue, and the
//! provider's fee) and records `order.paid`. An order whose payment fails leaves nothing to
//! reverse.
//!
//! Refunds reserve their amount on the order first (so concurrent refunds cannot exceed what was
//! paid), then ask the provider with the refund's id as idempotency key, then settle: ledger
//! transfer and state in one transaction. A refund interrupted between those steps stays
//! `pending` and is resumed by retrying the request (same Idempotency-Key) or by the provider's
//! refund webhook.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bursar_domain::commerce::*;
use bursar_domain::event::Cause;
use bursar_domain::id::*;
use bursar_domain::metadata::Metadata;
use bursar_domain::money::Currency;
use bursar_domain::ValidationError;
use bursar_payments::{CheckoutLine, CheckoutRequest};
use bursar_store::documents::{self, ORDER, REFUND};
use bursar_store::{customers, Tx};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::docs;
use crate::error::{ApiError, ErrorBody};
use crate::events::{timeline, TimelineResponse};
use crate::extract::{Idempotency, Mutation, Principal, QueryParams};
use crate::list::ListResponse;
use crate::payments;
use crate::quotes::{parse_lines, LineRequest};
use crate::AppState;
use bursar_core::orders::*;
use bursar_core::providers::{provider_error, return_urls, CHECKOUT_TTL_SECONDS};
use bursar_core::quotes::price_lines;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_order, list_orders))
        .routes(routes!(get_order))
        .routes(routes!(order_timeline))
        .routes(routes!(checkout_order))
        .routes(routes!(cancel_order))
        .routes(routes!(fulfill_order))
        .routes(routes!(create_refund, list_refunds))
        .routes(routes!(get_refund))
        .routes(routes!(order_payment_events))
        .routes(routes!(pay_order))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrderRequest {
    pub customer_id: String,
    #[schema(example = "USD")]
    pub currency: String,
    pub lines: Vec<LineRequest>,
    pub promotion_code: Option<String>,
    pub metadata: Option<BTreeMap<String, String>>,
}

/// Create an order (a draft) from lines; the resolver prices each line.
#[utoipa::path(post, path = "/v1/orders", tag = "orders", request_body = CreateOrderRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Order), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn create_order(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<CreateOrderRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let customer_id = CustomerId::parse(&body.customer_id, "customer_id")?;
    let currency = Currency::parse(&body.currency, "currency")?;
    let lines = parse_lines(body.lines)?;
    let metadata = Metadata::parse(body.metadata.unwrap_or_default())?;
    let promotion_code = body.promotion_code;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let priced = price_lines(
                    cx.tx,
                    cx.workspace_id,
                    Some(&customer_id),
                    None,
                    currency,
                    &lines,
                    promotion_code.as_deref(),
                    cx.now,
                )
                .await?;
                let (promotion_code, coupon_id) = match priced.promotion {
                    Some((p, c)) => (Some(p.code), Some(c.id)),
                    None => (None, None),
                };
                let order = Order {
                    id: OrderId::new(),
                    object: "order".into(),
                    customer_id,
                    company_id: priced.company_id,
                    status: OrderStatus::Draft,
                    currency,
                    lines: priced.lines,
                    totals: priced.totals,
                    promotion_code,
                    coupon_id,
                    promotion_redeemed: false,
                    priced_at: cx.now,
                    checkout: None,
                    payment: None,
                    amount_refunded: 0,
                    amount_refund_pending: 0,
                    dispute: None,
                    last_payment_error: None,
                    metadata,
                    created_at: cx.now,
                    updated_at: cx.now,
                };
                documents::insert(
                    cx.tx,
                    ORDER,
                    cx.workspace_id,
                    order.id.as_str(),
                    &order,
                    &[
                        ("customer_id", order.customer_id.as_str().into()),
                        ("status", order.status.as_str().into()),
                    ],
                )
                .await?;
                emit(&mut cx, "order.created", &order, None, json!({})).await?;
                Ok((StatusCode::OK, order))
            })
        })
        .await
}

/// Retrieve an order.
#[utoipa::path(get, path = "/v1/orders/{id}", tag = "orders", params(("id" = String, Path)),
    responses((status = 200, body = Order), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_order(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Order>, ApiError> {
    Ok(Json(
        docs::get(&state, &principal, ORDER, "order", id).await?,
    ))
}

/// List orders, newest first; `customer_id` selects one customer's.
#[utoipa::path(get, path = "/v1/orders", tag = "orders",
    params(("customer_id" = Option<String>, Query), ("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query), ("ending_before" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<Order>)), security(("api_key" = [])))]
async fn list_orders(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<Order>>, ApiError> {
    Ok(Json(
        docs::list(
            &state,
            &principal,
            &query,
            ORDER,
            "/v1/orders",
            "ord_",
            Some(("customer_id", "customer_id")),
        )
        .await?,
    ))
}

/// An order's timeline: every event of the order (state changes, payments, refunds), oldest
/// first.
#[utoipa::path(get, path = "/v1/orders/{id}/timeline", tag = "orders",
    params(("id" = String, Path), ("after" = Option<i64>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = TimelineResponse), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn order_timeline(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Json<TimelineResponse>, ApiError> {
    docs::get::<Order>(&state, &principal, ORDER, "order", id.clone()).await?;
    Ok(Json(
        timeline(&state, principal.workspace_id.clone(), "order", id, &query).await?,
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderEventObject {
    pub provider_id: String,
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// `applied`, `ignored` or `unmatched`.
    pub outcome: String,
    pub detail: Option<String>,
    pub received_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderEventList {
    pub object: &'static str,
    pub data: Vec<ProviderEventObject>,
}

/// The provider events received for an order and what each did (the payment audit trail).
#[utoipa::path(get, path = "/v1/orders/{id}/payment_events", tag = "orders", params(("id" = String, Path)),
    responses((status = 200, body = ProviderEventList), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn order_payment_events(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ProviderEventList>, ApiError> {
    docs::get::<Order>(&state, &principal, ORDER, "order", id.clone()).await?;
    let workspace_id = principal.workspace_id.clone();
    let rows = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                bursar_store::payment_providers::provider_events_of_order(tx, &workspace_id, &id)
                    .await
            })
        })
        .await?;
    Ok(Json(ProviderEventList {
        object: "list",
        data: rows
            .into_iter()
            .map(|r| ProviderEventObject {
                provider_id: r.provider_id,
                event_id: r.event_id,
                event_type: r.event_type,
                outcome: r.outcome,
                detail: r.detail,
                received_at: bursar_domain::time::Timestamp::from_unix_micros(r.received_at)
                    .to_rfc3339(),
            })
            .collect(),
    }))
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
    let order: Order = docs::get(&state, &principal, ORDER, "order", id.clone()).await?;
    let reopenable = matches!(
        order.status,
        OrderStatus::Draft | OrderStatus::PaymentFailed | OrderStatus::CheckoutExpired
    );
    if !reopenable && request.idempotency.key.is_none() {
        return Err(ApiError::state(
            "order_state_invalid",
            order.status.as_str(),
            format!(
                "An order that is {} cannot open a checkout.",
                order.status.as_str()
            ),
        ));
    }
    let attempt = order.checkout.as_ref().map_or(0, |c| c.attempt) + 1;
    let connection = bursar_core::providers::resolve(
        &state,
        &principal.workspace_id,
        body.provider.as_deref(),
        &base,
    )
    .await?;
    // With a retried Idempotency-Key on an order already open, the stored answer replays below.
    let session = if reopenable {
        let customer_id = order.customer_id.clone();
        let workspace_id = principal.workspace_id.clone();
        let customer = state
            .db
            .read(move |tx: &mut Tx| {
                Box::pin(
                    async move { customers::get(tx, &workspace_id, &customer_id, false).await },
                )
            })
            .await?;
        let checkout = CheckoutRequest {
            attempt_id: format!("{}-{attempt}", order.id),
            order_id: order.id.to_string(),
            currency: order.currency.code().to_owned(),
            amount: order.totals.total,
            lines: order
                .lines
                .iter()
                .map(|l| CheckoutLine {
                    name: l.product_name.clone(),
                    quantity: 1,
                    unit_amount: l.total,
                })
                .collect(),
            customer_email: customer.and_then(|c| c.email.map(|e| e.as_str().to_owned())),
            provider_customer: None,
            success_url,
            cancel_url,
            expires_at: state.db.now().unix_micros() / 1_000_000 + CHECKOUT_TTL_SECONDS,
            metadata: bursar_core::providers::order_metadata(order.id.as_str()),
        };
        Some(
            connection
                .provider
                .create_checkout(&checkout)
                .await
                .map_err(provider_error)?,
        )
    } else {
        None
    };
    let provider_id = connection.object.id.clone();
    let provider_kind = connection.row.kind.clone();
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let mut order = load(&mut cx, &id).await?;
                let Some(session) = session else {
                    return Err(ApiError::state(
                        "order_state_invalid",
                        order.status.as_str(),
                        format!(
                            "An order that is {} cannot open a checkout.",
                            order.status.as_str()
                        ),
                    ));
                };
                if order.checkout.as_ref().map_or(0, |c| c.attempt) + 1 != attempt {
                    return Err(ApiError::state(
                        "order_state_invalid",
                        order.status.as_str(),
                        "Another checkout of this order was opened concurrently.",
                    ));
                }
                let previous = move_to(&mut order, OrderStatus::CheckoutOpen)?;
                if let (Some(code), Some(coupon_id), false) = (
                    &order.promotion_code,
                    &order.coupon_id,
                    order.promotion_redeemed,
                ) {
                    redeem(&mut cx, code, coupon_id).await?;
                    order.promotion_redeemed = true;
                }
                order.checkout = Some(OrderCheckout {
                    provider_id,
                    provider: provider_kind,
                    session_id: session.id,
                    url: session.url,
                    payment_id: session.payment_id,
                    expires_at: bursar_domain::time::Timestamp::from_unix_micros(
                        session.expires_at.saturating_mul(1_000_000),
                    ),
                    attempt,
                });
                order.updated_at = cx.now;
                save(&mut cx, &order).await?;
                emit(
                    &mut cx,
                    "order.checkout_opened",
                    &order,
                    Some(previous),
                    json!({}),
                )
                .await?;
                Ok((StatusCode::OK, order))
            })
        })
        .await
}

async fn simple_transition(
    state: AppState,
    principal: Principal,
    id: String,
    idempotency: Idempotency,
    to: OrderStatus,
    event_type: &'static str,
) -> Result<Response, ApiError> {
    state
        .mutate(&principal, idempotency, move |mut cx| {
            Box::pin(async move {
                let mut order = load(&mut cx, &id).await?;
                let previous = move_to(&mut order, to)?;
                if to == OrderStatus::Canceled {
                    release_redemption(&mut cx, &mut order).await?;
                }
                order.updated_at = cx.now;
                save(&mut cx, &order).await?;
                emit(&mut cx, event_type, &order, Some(previous), json!({})).await?;
                Ok((StatusCode::OK, order))
            })
        })
        .await
}

/// Cancel an order that is not paid.
#[utoipa::path(post, path = "/v1/orders/{id}/cancel", tag = "orders",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Order), (status = 409, body = ErrorBody)), security(("api_key" = [])))]
async fn cancel_order(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<serde_json::Value>,
) -> Result<Response, ApiError> {
    simple_transition(
        state,
        principal,
        id,
        request.idempotency,
        OrderStatus::Canceled,
        "order.canceled",
    )
    .await
}

/// Mark a paid order fulfilled (delivered).
#[utoipa::path(post, path = "/v1/orders/{id}/fulfill", tag = "orders",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Order), (status = 409, body = ErrorBody)), security(("api_key" = [])))]
async fn fulfill_order(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<serde_json::Value>,
) -> Result<Response, ApiError> {
    simple_transition(
        state,
        principal,
        id,
        request.idempotency,
        OrderStatus::Fulfilled,
        "order.fulfilled",
    )
    .await
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
                    "order.refund_requested",
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
    let clearing = format!("clearing:{}", connection.row.kind);
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
                            "order.payment_processing",
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
                            "order.payment_failed",
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
