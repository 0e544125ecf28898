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

use bursar_domain::event_type;
use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bursar_domain::commerce::*;
use bursar_domain::id::*;
use bursar_domain::metadata::Metadata;
use bursar_domain::money::Currency;
use bursar_store::documents::ORDER;
use bursar_store::Tx;
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
use crate::livemode::Json;
use crate::quotes::{parse_lines, QuoteLineRequest};
use crate::AppState;
use bursar_core::orders::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_order, list_orders))
        .routes(routes!(order_metrics))
        .routes(routes!(get_order))
        .routes(routes!(order_timeline))
        .routes(routes!(cancel_order))
        .routes(routes!(fulfill_order))
        .routes(routes!(order_payment_events))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrderRequest {
    #[schema(value_type = CustomerId)]
    pub customer_id: String,
    #[schema(value_type = Currency)]
    pub currency: String,
    #[schema(min_items = 1, max_items = 100)]
    pub lines: Vec<QuoteLineRequest>,
    /// An active promotion code of this workspace, valid for the currency (else 400).
    pub promotion_code: Option<String>,
    #[schema(value_type = Option<Metadata>)]
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
    let new = NewOrder {
        customer_id,
        currency,
        lines,
        promotion_code,
        metadata,
    };
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move { Ok((StatusCode::OK, create(&mut cx, new).await?)) })
        })
        .await
}

/// Retrieve an order.
#[utoipa::path(get, path = "/v1/orders/{id}", tag = "orders", params(("id" = OrderId, Path)),
    responses((status = 200, body = Order), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_order(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Order>, ApiError> {
    Ok(principal.json(docs::get(&state, &principal, ORDER, "order", id).await?))
}

/// List orders, newest first; `customer_id` selects one customer's.
#[utoipa::path(get, path = "/v1/orders", tag = "orders",
    params(("customer_id" = Option<String>, Query), ("limit" = Option<i64>, Query), ("starting_after" = Option<OrderId>, Query), ("ending_before" = Option<OrderId>, Query)),
    responses((status = 200, body = ListResponse<Order>)), security(("api_key" = [])))]
async fn list_orders(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<Order>>, ApiError> {
    Ok(principal.json(
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

/// The figures of a support team's KPI bar: orders waiting for payment or with a failed one,
/// paid orders to fulfill, parcels on their way or held in an exception, returns not received,
/// manual tasks waiting. Counted from indexes, as fast at 250,000 orders as at 250.
#[utoipa::path(get, path = "/v1/orders/metrics", tag = "orders",
    responses((status = 200, body = bursar_domain::shipping::OrderMetrics)), security(("api_key" = [])))]
async fn order_metrics(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<bursar_domain::shipping::OrderMetrics>, ApiError> {
    let metrics = bursar_core::shipments::order_metrics(&state, &principal.workspace_id).await?;
    Ok(principal.json(metrics))
}

/// An order's timeline: every event of the order (state changes, payments, refunds), oldest
/// first.
#[utoipa::path(get, path = "/v1/orders/{id}/timeline", tag = "orders",
    params(("id" = OrderId, Path), ("after" = Option<i64>, Query, minimum = 0), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = TimelineResponse), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn order_timeline(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Json<TimelineResponse>, ApiError> {
    docs::get::<Order>(&state, &principal, ORDER, "order", id.clone()).await?;
    Ok(principal.json(timeline(&state, &principal, "order", id, &query).await?))
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
#[utoipa::path(get, path = "/v1/orders/{id}/payment_events", tag = "orders", params(("id" = OrderId, Path)),
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
    Ok(principal.json(ProviderEventList {
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
    params(("id" = OrderId, Path), ("Idempotency-Key" = Option<String>, Header)),
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
        event_type::ORDER_CANCELED,
    )
    .await
}

/// Mark a paid order fulfilled (delivered).
#[utoipa::path(post, path = "/v1/orders/{id}/fulfill", tag = "orders",
    params(("id" = OrderId, Path), ("Idempotency-Key" = Option<String>, Header)),
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
        event_type::ORDER_FULFILLED,
    )
    .await
}
