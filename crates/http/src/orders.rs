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
use bursar_domain::event::NewEvent;
use bursar_domain::id::*;
use bursar_domain::ledger::{
    AccountFlags, AccountId, NewAccount, NewTransfer, TransferId, TransferResult,
};
use bursar_domain::metadata::Metadata;
use bursar_domain::money::Currency;
use bursar_domain::ValidationError;
use bursar_payments::{
    CheckoutLine, CheckoutRequest, PaymentEvent, PaymentEventKind, ProviderError, RefundRequest,
    RefundStatus,
};
use bursar_store::commerce::{self, ORDER, REFUND};
use bursar_store::{customers, ledger, Tx};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::docs;
use crate::error::{ApiError, ErrorBody, ErrorType};
use crate::events::{timeline, TimelineResponse};
use crate::extract::{Idempotency, Mutation, Principal, QueryParams};
use crate::list::ListResponse;
use crate::mutate::Context;
use crate::payments;
use crate::quotes::{parse_lines, price_lines, LineRequest};
use crate::AppState;

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

/// How long a hosted checkout stays open (Stripe's default).
pub const CHECKOUT_TTL_SECONDS: i64 = 24 * 3600;

// Ledger transfer codes of commerce.
const CODE_PAYMENT: i64 = 100;
const CODE_FEE: i64 = 101;
const CODE_REFUND: i64 = 110;
const CODE_DISPUTE_HOLD: i64 = 120;
const CODE_DISPUTE_RELEASE: i64 = 121;
const CODE_DISPUTE_LOSS: i64 = 122;

/// A commerce ledger account of a workspace: `commerce:<name>:<currency>`, e.g.
/// `commerce:clearing:stripe:USD` (money the provider holds for us), `commerce:revenue:USD`,
/// `commerce:fees:USD`, `commerce:refunds:USD`, `commerce:disputes:USD` (held by an open
/// dispute), `commerce:dispute_losses:USD`.
pub fn account(name: &str, currency: Currency) -> AccountId {
    AccountId::from_trusted(format!("commerce:{name}:{currency}"))
}

/// Posts balanced transfers (`id`, debit, credit, amount, code), creating the accounts on first
/// use. Transfer ids derive from the business object, so a repeat posts nothing twice.
pub(crate) async fn post(
    cx: &mut Context<'_>,
    currency: Currency,
    transfers: &[(String, String, String, i64, i64)],
) -> Result<(), ApiError> {
    let mut names: Vec<&String> = transfers.iter().flat_map(|t| [&t.1, &t.2]).collect();
    names.sort_unstable();
    names.dedup();
    let accounts: Vec<NewAccount> = names
        .iter()
        .map(|name| NewAccount {
            id: account(name, currency),
            currency,
            code: 3,
            flags: AccountFlags {
                debits_must_not_exceed_credits: false,
                credits_must_not_exceed_debits: false,
                history: true,
            },
            metadata: BTreeMap::new(),
        })
        .collect();
    ledger::create_accounts(cx.tx, cx.workspace_id, &accounts, cx.now).await?;
    let batch: Vec<NewTransfer> = transfers
        .iter()
        .filter(|t| t.3 > 0)
        .map(|(id, debit, credit, amount, code)| {
            NewTransfer::single(
                TransferId::from_trusted(id.clone()),
                account(debit, currency),
                account(credit, currency),
                *amount,
                *code,
            )
        })
        .collect();
    for (result, _) in ledger::create_transfers(cx.tx, cx.workspace_id, &batch, cx.now).await? {
        if !matches!(result, TransferResult::Ok | TransferResult::Exists) {
            tracing::error!(?result, "BUG: a commerce ledger posting failed");
            return Err(ApiError::internal());
        }
    }
    Ok(())
}

pub(crate) async fn save(cx: &mut Context<'_>, order: &Order) -> Result<(), ApiError> {
    let payment = order.payment.as_ref().map(|p| p.payment_id.clone());
    commerce::save(
        cx.tx,
        ORDER,
        cx.workspace_id,
        order.id.as_str(),
        order,
        &[
            ("status", order.status.as_str().into()),
            ("payment_id", payment.into()),
        ],
    )
    .await?;
    Ok(())
}

/// Moves the order through the state machine, or refuses with 409 and its current state.
pub(crate) fn move_to(order: &mut Order, to: OrderStatus) -> Result<OrderStatus, ApiError> {
    let from = order.status;
    order.status = from
        .transition(to)
        .map_err(|e| ApiError::state("order_state_invalid", from.as_str(), e.to_string()))?;
    Ok(from)
}

pub(crate) async fn emit(
    cx: &mut Context<'_>,
    event_type: &'static str,
    order: &Order,
    previous: Option<OrderStatus>,
    extra: serde_json::Value,
) -> Result<(), ApiError> {
    let mut payload = json!({ "object": order });
    if let Some(previous) = previous {
        payload["previous_attributes"] = json!({ "status": previous });
    }
    if let (Some(payload), Some(extra)) = (payload.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            payload.insert(k.clone(), v.clone());
        }
    }
    cx.emit(NewEvent::new(
        event_type,
        "order",
        order.id.as_str(),
        payload,
    ))
    .await
}

async fn load(cx: &mut Context<'_>, id: &str) -> Result<Order, ApiError> {
    docs::get_in(cx, ORDER, "order", id, "id").await
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
                commerce::insert(
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
            Box::pin(
                async move { commerce::provider_events_of_order(tx, &workspace_id, &id).await },
            )
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

/// Where the provider's hosted page sends the customer back: the URLs given (checked), else
/// this server's page saying so (`query` names what was paid: `order=…`, `invoice=…`).
pub(crate) fn return_urls(
    base: &str,
    query: &str,
    success_url: Option<String>,
    cancel_url: Option<String>,
) -> Result<(String, String), ValidationError> {
    let success_url = success_url.unwrap_or_else(|| format!("{base}/test-provider/done?{query}"));
    let cancel_url =
        cancel_url.unwrap_or_else(|| format!("{base}/test-provider/done?{query}&canceled=1"));
    check_url(&success_url, "success_url")?;
    check_url(&cancel_url, "cancel_url")?;
    Ok((success_url, cancel_url))
}

fn check_url(url: &str, param: &str) -> Result<(), ValidationError> {
    if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2000 {
        return Err(ValidationError::invalid(
            param,
            format!("{param} must be an http(s) URL."),
        ));
    }
    Ok(())
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
    let connection = payments::resolve(
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
            metadata: payments::order_metadata(order.id.as_str()),
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

/// Counts the redemption of an order's promotion code, atomically with its limits.
async fn redeem(cx: &mut Context<'_>, code: &str, coupon_id: &CouponId) -> Result<(), ApiError> {
    let exhausted = || {
        ApiError::new(
            StatusCode::CONFLICT,
            ErrorType::StateError,
            "promotion_code_exhausted",
            format!("Promotion code '{code}' has reached its redemption limit."),
        )
        .with_param("promotion_code")
    };
    let promotion_id = commerce::promotion_code_id(cx.tx, cx.workspace_id, code)
        .await?
        .ok_or_else(exhausted)?;
    let promotion: PromotionCode = commerce::get(
        cx.tx,
        commerce::PROMOTION_CODE,
        cx.workspace_id,
        &promotion_id,
        false,
    )
    .await?
    .ok_or_else(exhausted)?;
    let coupon: Coupon = commerce::get(
        cx.tx,
        commerce::COUPON,
        cx.workspace_id,
        coupon_id.as_str(),
        false,
    )
    .await?
    .ok_or_else(exhausted)?;
    if !promotion.active
        || promotion.expires_at.is_some_and(|end| cx.now > end)
        || coupon.redeem_by.is_some_and(|end| cx.now > end)
    {
        return Err(ApiError::invalid(
            "promotion_code_expired",
            Some("promotion_code".into()),
            format!("Promotion code '{code}' can no longer be redeemed."),
        ));
    }
    if !commerce::redeem(
        cx.tx,
        cx.workspace_id,
        &promotion_id,
        promotion.max_redemptions,
        coupon_id.as_str(),
        coupon.max_redemptions,
    )
    .await?
    {
        return Err(exhausted());
    }
    Ok(())
}

/// Gives back an order's redemption (its checkout expired or it was canceled).
async fn release_redemption(cx: &mut Context<'_>, order: &mut Order) -> Result<(), ApiError> {
    if let (Some(code), Some(coupon_id), true) = (
        &order.promotion_code,
        &order.coupon_id,
        order.promotion_redeemed,
    ) {
        if let Some(promotion_id) =
            commerce::promotion_code_id(cx.tx, cx.workspace_id, code).await?
        {
            commerce::unredeem(cx.tx, cx.workspace_id, &promotion_id, coupon_id.as_str()).await?;
        }
        order.promotion_redeemed = false;
    }
    Ok(())
}

pub fn provider_error(error: ProviderError) -> ApiError {
    match error {
        ProviderError::Refused { code, message, .. } => ApiError::new(
            StatusCode::BAD_GATEWAY,
            ErrorType::ApiError,
            "provider_refused",
            format!("The payment provider refused the request: {code}: {message}"),
        ),
        other => ApiError::new(
            StatusCode::BAD_GATEWAY,
            ErrorType::ApiError,
            "provider_unavailable",
            format!("{other}. It is safe to retry with the same Idempotency-Key."),
        ),
    }
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

/// What one provider event did.
pub struct Applied {
    /// `applied`, `ignored` or `unmatched`.
    pub outcome: &'static str,
    pub detail: Option<String>,
    pub order_id: Option<String>,
}

fn ignored(order: &Order, why: impl Into<String>) -> Applied {
    Applied {
        outcome: "ignored",
        detail: Some(why.into()),
        order_id: Some(order.id.to_string()),
    }
}

/// Applies one verified provider event to its order, in the caller's transaction (the one that
/// claimed the event). Late and repeated events are checked against the state machine: what
/// would move an order backwards is ignored, with the reason recorded.
pub async fn apply_payment_event(
    cx: &mut Context<'_>,
    provider_id: &str,
    provider_kind: &str,
    event: &PaymentEvent,
) -> Result<Applied, ApiError> {
    let payment_ref = match &event.kind {
        PaymentEventKind::DisputeOpened { payment_id, .. }
        | PaymentEventKind::DisputeClosed { payment_id, .. }
        | PaymentEventKind::Refund { payment_id, .. } => payment_id.clone(),
        _ => None,
    };
    let order_id = match (&event.order_id, payment_ref) {
        (Some(id), _) => Some(id.clone()),
        (None, Some(payment)) => {
            commerce::order_id_by_payment(cx.tx, cx.workspace_id, &payment).await?
        }
        (None, None) => None,
    };
    let unmatched = |detail: &str| Applied {
        outcome: "unmatched",
        detail: Some(detail.to_owned()),
        order_id: None,
    };
    if let PaymentEventKind::PaymentMethodSaved {
        payment_method,
        provider_customer,
        customer_id,
        ..
    } = &event.kind
    {
        return crate::payment_methods::record_saved(
            cx,
            provider_id,
            provider_kind,
            payment_method,
            provider_customer.as_deref(),
            customer_id.as_deref(),
        )
        .await;
    }
    let Some(order_id) = order_id else {
        return Ok(unmatched("no Bursar order named by the event"));
    };
    if order_id.starts_with("in_") {
        // An invoice's payment link.
        return crate::invoice_checkout::apply_payment_event(cx, provider_kind, event, &order_id)
            .await;
    }
    let Some(mut order) =
        commerce::get::<Order>(cx.tx, ORDER, cx.workspace_id, &order_id, true).await?
    else {
        return Ok(unmatched(
            "the named order does not exist in this workspace",
        ));
    };
    let clearing = format!("clearing:{provider_kind}");
    let applied = |order: &Order| Applied {
        outcome: "applied",
        detail: None,
        order_id: Some(order.id.to_string()),
    };
    match &event.kind {
        PaymentEventKind::CheckoutCompleted {
            paid: true,
            payment_id,
            session_id,
            amount,
            currency,
            ..
        } => {
            let payment_id = payment_id.clone().unwrap_or_else(|| session_id.clone());
            mark_paid(
                cx,
                &mut order,
                provider_id,
                &clearing,
                Confirmed {
                    payment_id: &payment_id,
                    amount: *amount,
                    currency,
                    fee: None,
                },
            )
            .await
        }
        PaymentEventKind::PaymentSucceeded {
            payment_id,
            amount,
            currency,
            fee,
            ..
        } => {
            mark_paid(
                cx,
                &mut order,
                provider_id,
                &clearing,
                Confirmed {
                    payment_id,
                    amount: *amount,
                    currency,
                    fee: *fee,
                },
            )
            .await
        }
        PaymentEventKind::CheckoutCompleted { paid: false, .. }
        | PaymentEventKind::PaymentProcessing { .. } => {
            if order.status == OrderStatus::PaymentProcessing {
                return Ok(ignored(&order, "already payment_processing"));
            }
            let Ok(previous) = move_to(&mut order, OrderStatus::PaymentProcessing) else {
                return Ok(ignored(
                    &order,
                    format!("stale: the order is {}", order.status.as_str()),
                ));
            };
            order.updated_at = cx.now;
            save(cx, &order).await?;
            emit(
                cx,
                "order.payment_processing",
                &order,
                Some(previous),
                json!({}),
            )
            .await?;
            Ok(applied(&order))
        }
        PaymentEventKind::PaymentFailed { code, message, .. } => {
            let Ok(previous) = move_to(&mut order, OrderStatus::PaymentFailed) else {
                return Ok(ignored(
                    &order,
                    format!("stale: the order is {}", order.status.as_str()),
                ));
            };
            order.last_payment_error = Some(match (code, message) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(text), None) | (None, Some(text)) => text.clone(),
                (None, None) => "payment_failed".into(),
            });
            order.updated_at = cx.now;
            save(cx, &order).await?;
            emit(
                cx,
                "order.payment_failed",
                &order,
                Some(previous),
                json!({}),
            )
            .await?;
            Ok(applied(&order))
        }
        PaymentEventKind::CheckoutExpired { session_id } => {
            if order.checkout.as_ref().map(|c| &c.session_id) != Some(session_id) {
                return Ok(ignored(
                    &order,
                    "stale: a newer checkout replaced this session",
                ));
            }
            let Ok(previous) = move_to(&mut order, OrderStatus::CheckoutExpired) else {
                return Ok(ignored(
                    &order,
                    format!("stale: the order is {}", order.status.as_str()),
                ));
            };
            release_redemption(cx, &mut order).await?;
            order.updated_at = cx.now;
            save(cx, &order).await?;
            emit(
                cx,
                "order.checkout_expired",
                &order,
                Some(previous),
                json!({}),
            )
            .await?;
            Ok(applied(&order))
        }
        PaymentEventKind::Refund {
            refund_id,
            amount,
            status,
            bursar_refund_id,
            ..
        } => {
            let Some(bursar_id) = bursar_refund_id else {
                return Ok(ignored(&order, format!("refund {refund_id} was not asked by Bursar; record it with POST /v1/orders/{{id}}/refunds")));
            };
            let Some(refund) =
                commerce::get::<Refund>(cx.tx, REFUND, cx.workspace_id, bursar_id, true).await?
            else {
                return Ok(ignored(
                    &order,
                    format!("unknown Bursar refund {bursar_id}"),
                ));
            };
            if refund.status != RefundState::Pending {
                return Ok(ignored(
                    &order,
                    format!("refund {bursar_id} is already settled"),
                ));
            }
            let outcome = match status {
                RefundStatus::Succeeded => Settle::Succeeded(refund_id.clone()),
                RefundStatus::Failed | RefundStatus::Canceled => {
                    Settle::Failed(format!("the provider reports the refund {status:?}"))
                }
                RefundStatus::Pending => return Ok(ignored(&order, "refund still pending")),
            };
            if *amount != refund.amount {
                tracing::warn!(refund = %bursar_id, "provider refund amount differs from the request");
            }
            settle_refund(cx, order, refund, &clearing, outcome).await?;
            Ok(Applied {
                outcome: "applied",
                detail: None,
                order_id: Some(order_id),
            })
        }
        PaymentEventKind::DisputeOpened {
            dispute_id,
            amount,
            reason,
            fee,
            ..
        } => {
            if order
                .dispute
                .as_ref()
                .is_some_and(|d| &d.dispute_id == dispute_id)
            {
                return Ok(ignored(&order, "dispute already recorded"));
            }
            let before = order.status;
            let Ok(previous) = move_to(&mut order, OrderStatus::Disputed) else {
                return Ok(ignored(
                    &order,
                    format!("the order is {}", order.status.as_str()),
                ));
            };
            let currency = order.currency;
            post(
                cx,
                currency,
                &[
                    (
                        format!("dispute:{dispute_id}"),
                        "disputes".into(),
                        clearing.clone(),
                        *amount,
                        CODE_DISPUTE_HOLD,
                    ),
                    // The provider's fee for the dispute: an expense whatever the outcome.
                    (
                        format!("dispute_fee:{dispute_id}"),
                        "fees".into(),
                        clearing.clone(),
                        fee.unwrap_or(0),
                        CODE_FEE,
                    ),
                ],
            )
            .await?;
            order.dispute = Some(OrderDispute {
                dispute_id: dispute_id.clone(),
                amount: *amount,
                status: "open".into(),
                reason: reason.clone(),
                status_before: before,
            });
            order.updated_at = cx.now;
            save(cx, &order).await?;
            emit(cx, "order.disputed", &order, Some(previous), json!({})).await?;
            Ok(applied(&order))
        }
        PaymentEventKind::DisputeClosed {
            dispute_id, won, ..
        } => {
            let Some(mut dispute) = order
                .dispute
                .clone()
                .filter(|d| &d.dispute_id == dispute_id && d.status == "open")
            else {
                return Ok(ignored(&order, "no open dispute of that id"));
            };
            let currency = order.currency;
            let (previous, event_type) = if *won {
                post(
                    cx,
                    currency,
                    &[(
                        format!("dispute_won:{dispute_id}"),
                        clearing.clone(),
                        "disputes".into(),
                        dispute.amount,
                        CODE_DISPUTE_RELEASE,
                    )],
                )
                .await?;
                dispute.status = "won".into();
                (
                    move_to(&mut order, dispute.status_before)?,
                    "order.dispute_won",
                )
            } else {
                post(
                    cx,
                    currency,
                    &[(
                        format!("dispute_lost:{dispute_id}"),
                        "dispute_losses".into(),
                        "disputes".into(),
                        dispute.amount,
                        CODE_DISPUTE_LOSS,
                    )],
                )
                .await?;
                dispute.status = "lost".into();
                (order.status, "order.dispute_lost")
            };
            order.dispute = Some(dispute);
            order.updated_at = cx.now;
            save(cx, &order).await?;
            emit(cx, event_type, &order, Some(previous), json!({})).await?;
            Ok(applied(&order))
        }
        PaymentEventKind::PaymentMethodSaved { .. } | PaymentEventKind::Other => Ok(ignored(
            &order,
            format!("{} needs no action", event.provider_event_type),
        )),
    }
}

/// A payment the provider confirmed.
struct Confirmed<'a> {
    payment_id: &'a str,
    amount: i64,
    currency: &'a str,
    fee: Option<i64>,
}

/// The payment is confirmed: one transaction moves the order to `paid`, posts the payment and
/// the fee, and records `order.paid`.
async fn mark_paid(
    cx: &mut Context<'_>,
    order: &mut Order,
    provider_id: &str,
    clearing: &str,
    confirmed: Confirmed<'_>,
) -> Result<Applied, ApiError> {
    let Confirmed {
        payment_id,
        amount,
        currency,
        fee,
    } = confirmed;
    if currency != order.currency.code() {
        return Ok(ignored(
            order,
            format!(
                "payment in {currency} for an order in {}: needs review",
                order.currency
            ),
        ));
    }
    if order.status.is_paid() {
        let same = order
            .payment
            .as_ref()
            .is_some_and(|p| p.payment_id == payment_id);
        if !same {
            return Ok(ignored(
                order,
                format!("a second payment {payment_id} for a paid order: needs review"),
            ));
        }
        // The payment was confirmed before (by the session); the fee may arrive only now.
        if let (Some(fee), Some(payment)) = (fee, order.payment.as_mut()) {
            if payment.fee.is_none() {
                post(
                    cx,
                    order.currency,
                    &[(
                        format!("fee:{}", order.id),
                        "fees".into(),
                        clearing.to_owned(),
                        fee,
                        CODE_FEE,
                    )],
                )
                .await?;
                payment.fee = Some(fee);
                order.updated_at = cx.now;
                save(cx, order).await?;
                return Ok(Applied {
                    outcome: "applied",
                    detail: Some("fee recorded".into()),
                    order_id: Some(order.id.to_string()),
                });
            }
        }
        return Ok(ignored(order, "already paid"));
    }
    let previous = match move_to(order, OrderStatus::Paid) {
        Ok(previous) => previous,
        Err(_) => {
            return Ok(ignored(
                order,
                format!("the order is {}", order.status.as_str()),
            ))
        }
    };
    if amount != order.totals.total {
        tracing::warn!(order = %order.id, amount, total = order.totals.total, "paid amount differs from the order total");
    }
    let transfer_id = format!("pay:{}", order.id);
    let mut transfers = vec![(
        transfer_id.clone(),
        clearing.to_owned(),
        "revenue".to_owned(),
        amount,
        CODE_PAYMENT,
    )];
    if let Some(fee) = fee {
        transfers.push((
            format!("fee:{}", order.id),
            "fees".into(),
            clearing.to_owned(),
            fee,
            CODE_FEE,
        ));
    }
    order.payment = Some(OrderPayment {
        provider_id: ProviderId::parse(provider_id, "provider_id")
            .map_err(|_| ApiError::internal())?,
        payment_id: payment_id.to_owned(),
        amount,
        fee,
        paid_at: cx.now,
        transfer_id,
    });
    order.last_payment_error = None;
    order.updated_at = cx.now;
    save(cx, order).await?;
    emit(cx, "order.paid", order, Some(previous), json!({})).await?;
    // Last: on PostgreSQL the posting takes the workspace's ledger lock, held until commit, and
    // every payment posts to the same revenue account; the shorter that hold, the more
    // payments per second.
    post(cx, order.currency, &transfers).await?;
    Ok(Applied {
        outcome: "applied",
        detail: None,
        order_id: Some(order.id.to_string()),
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRefundRequest {
    /// Minor units; default: everything still refundable.
    pub amount: Option<i64>,
    pub reason: Option<String>,
}

enum Settle {
    Succeeded(String),
    Failed(String),
}

/// Settles a pending refund: on success the ledger transfer (refunds ← clearing) and the order's
/// new state; on failure the reservation is released. One transaction.
async fn settle_refund(
    cx: &mut Context<'_>,
    mut order: Order,
    mut refund: Refund,
    clearing: &str,
    outcome: Settle,
) -> Result<Refund, ApiError> {
    order.amount_refund_pending -= refund.amount;
    match outcome {
        Settle::Succeeded(provider_refund_id) => {
            let transfer_id = format!("refund:{}", refund.id);
            post(
                cx,
                order.currency,
                &[(
                    transfer_id.clone(),
                    "refunds".into(),
                    clearing.to_owned(),
                    refund.amount,
                    CODE_REFUND,
                )],
            )
            .await?;
            order.amount_refunded += refund.amount;
            let paid = order.payment.as_ref().map_or(0, |p| p.amount);
            let to = if order.amount_refunded >= paid {
                OrderStatus::Refunded
            } else {
                OrderStatus::PartiallyRefunded
            };
            let previous = move_to(&mut order, to)?;
            refund.status = RefundState::Succeeded;
            refund.provider_refund_id = Some(provider_refund_id);
            refund.transfer_id = Some(transfer_id);
            refund.updated_at = cx.now;
            commerce::save(
                cx.tx,
                REFUND,
                cx.workspace_id,
                refund.id.as_str(),
                &refund,
                &[],
            )
            .await?;
            order.updated_at = cx.now;
            save(cx, &order).await?;
            let event_type = if to == OrderStatus::Refunded {
                "order.refunded"
            } else {
                "order.partially_refunded"
            };
            emit(
                cx,
                event_type,
                &order,
                Some(previous),
                json!({ "refund": refund }),
            )
            .await?;
        }
        Settle::Failed(reason) => {
            refund.status = RefundState::Failed;
            refund.failure_reason = Some(reason);
            refund.updated_at = cx.now;
            commerce::save(
                cx.tx,
                REFUND,
                cx.workspace_id,
                refund.id.as_str(),
                &refund,
                &[],
            )
            .await?;
            order.updated_at = cx.now;
            save(cx, &order).await?;
            emit(
                cx,
                "order.refund_failed",
                &order,
                None,
                json!({ "refund": refund }),
            )
            .await?;
        }
    }
    Ok(refund)
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
                commerce::insert(
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
    let refund = finish_refund(&state, &principal, refund.id.as_str()).await?;
    Ok(Json(refund).into_response())
}

/// 2–3. Asks the provider for a pending refund and settles it; a settled refund is returned as
/// it is.
async fn finish_refund(
    state: &AppState,
    principal: &Principal,
    refund_id: &str,
) -> Result<Refund, ApiError> {
    let refund: Refund =
        docs::get(state, principal, REFUND, "refund", refund_id.to_owned()).await?;
    if refund.status != RefundState::Pending {
        return Ok(refund);
    }
    let order: Order = docs::get(
        state,
        principal,
        ORDER,
        "order",
        refund.order_id.to_string(),
    )
    .await?;
    let Some(payment) = &order.payment else {
        return Err(ApiError::internal());
    };
    let connection = payments::resolve(
        state,
        &principal.workspace_id,
        Some(payment.provider_id.as_str()),
        "",
    )
    .await?;
    let request = RefundRequest {
        refund_id: refund.id.to_string(),
        payment_id: payment.payment_id.clone(),
        amount: refund.amount,
        currency: refund.currency.code().to_owned(),
        reason: refund.reason.clone(),
        metadata: [(
            bursar_payments::stripe::REFUND_ID_KEY.to_owned(),
            refund.id.to_string(),
        )]
        .into_iter()
        .collect(),
    };
    let outcome = match connection.provider.refund(&request).await {
        Ok(result) if result.status == RefundStatus::Succeeded => Settle::Succeeded(result.id),
        Ok(result) if result.status == RefundStatus::Pending => {
            return Ok(Refund {
                provider_refund_id: Some(result.id),
                ..refund
            })
        }
        Ok(result) => Settle::Failed(format!(
            "the provider reports the refund {:?}",
            result.status
        )),
        Err(ProviderError::Refused { code, message, .. }) => {
            Settle::Failed(format!("{code}: {message}"))
        }
        Err(error) => return Err(provider_error(error)),
    };
    let clearing = format!("clearing:{}", connection.row.kind);
    let id = refund_id.to_owned();
    let idempotency = Idempotency {
        key: None,
        fingerprint: String::new(),
        request_id: None,
    };
    let response = state
        .mutate(principal, idempotency, move |mut cx| {
            Box::pin(async move {
                let refund: Refund = docs::get_in(&mut cx, REFUND, "refund", &id, "id").await?;
                if refund.status != RefundState::Pending {
                    return Ok((StatusCode::OK, refund));
                }
                let order = load(&mut cx, refund.order_id.as_str()).await?;
                let refund = settle_refund(&mut cx, order, refund, &clearing, outcome).await?;
                Ok((StatusCode::OK, refund))
            })
        })
        .await?;
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .map_err(|_| ApiError::internal())?;
    serde_json::from_slice(&bytes).map_err(|_| ApiError::internal())
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
                commerce::list::<Refund>(
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
        commerce::PAYMENT_METHOD,
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
    let connection = payments::resolve(
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
        metadata: payments::order_metadata(order.id.as_str()),
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
