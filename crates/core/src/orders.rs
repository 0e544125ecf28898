//! Orders: [`create`]d priced by the resolver, paid through a provider's checkout, refunded.
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

use bursar_domain::commerce::*;
use bursar_domain::event::{Cause, NewEvent};
use bursar_domain::event_type;
use bursar_domain::id::*;
use bursar_domain::ledger::chart::{CommerceAccount, Posting, TransferCode};
use bursar_domain::money::Currency;
use bursar_payments::{PaymentEvent, PaymentEventKind, ProviderError, RefundRequest, RefundStatus};
use bursar_store::documents::{self, ORDER, REFUND};
use serde_json::json;

use crate::error::{Error, ErrorKind};
use crate::lookup;
use crate::postings::post;
use crate::providers::{self, provider_error, Applied};
use crate::quotes::price_lines;
use crate::write::Context;
use crate::App;

pub async fn save(cx: &mut Context<'_>, order: &Order) -> Result<(), Error> {
    let payment = order.payment.as_ref().map(|p| p.payment_id.clone());
    documents::save(
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
pub fn move_to(order: &mut Order, to: OrderStatus) -> Result<OrderStatus, Error> {
    let from = order.status;
    order.status = from
        .transition(to)
        .map_err(|e| Error::state("order_state_invalid", from.as_str(), e.to_string()))?;
    Ok(from)
}

pub async fn emit(
    cx: &mut Context<'_>,
    event_type: &'static str,
    order: &Order,
    previous: Option<OrderStatus>,
    extra: serde_json::Value,
) -> Result<(), Error> {
    let mut payload = json!({ "object": order });
    if let Some(previous) = previous {
        payload["previous_attributes"] = json!({ "status": previous });
    }
    if let (Some(payload), Some(extra)) = (payload.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            payload.insert(k.clone(), v.clone());
        }
    }
    if event_type == bursar_domain::event_type::ORDER_FULFILLED {
        crate::onboarding::plan(cx, order).await?;
    }
    cx.emit(NewEvent::new(
        event_type,
        "order",
        order.id.as_str(),
        payload,
    ))
    .await
}

pub async fn load(cx: &mut Context<'_>, id: &str) -> Result<Order, Error> {
    lookup::get_in(cx, ORDER, "order", id, "id").await
}

/// Counts the redemption of an order's promotion code, atomically with its limits.
pub async fn redeem(cx: &mut Context<'_>, code: &str, coupon_id: &CouponId) -> Result<(), Error> {
    let exhausted = || {
        Error::new(
            ErrorKind::State,
            "promotion_code_exhausted",
            format!("Promotion code '{code}' has reached its redemption limit."),
        )
        .with_param("promotion_code")
    };
    let promotion_id = bursar_store::discounts::promotion_code_id(cx.tx, cx.workspace_id, code)
        .await?
        .ok_or_else(exhausted)?;
    let promotion: PromotionCode = documents::get(
        cx.tx,
        documents::PROMOTION_CODE,
        cx.workspace_id,
        &promotion_id,
        false,
    )
    .await?
    .ok_or_else(exhausted)?;
    let coupon: Coupon = documents::get(
        cx.tx,
        documents::COUPON,
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
        return Err(Error::invalid(
            "promotion_code_expired",
            Some("promotion_code".into()),
            format!("Promotion code '{code}' can no longer be redeemed."),
        ));
    }
    if !bursar_store::discounts::redeem(
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
pub async fn release_redemption(cx: &mut Context<'_>, order: &mut Order) -> Result<(), Error> {
    if let (Some(code), Some(coupon_id), true) = (
        &order.promotion_code,
        &order.coupon_id,
        order.promotion_redeemed,
    ) {
        if let Some(promotion_id) =
            bursar_store::discounts::promotion_code_id(cx.tx, cx.workspace_id, code).await?
        {
            bursar_store::discounts::unredeem(
                cx.tx,
                cx.workspace_id,
                &promotion_id,
                coupon_id.as_str(),
            )
            .await?;
        }
        order.promotion_redeemed = false;
    }
    Ok(())
}

pub fn ignored(order: &Order, why: impl Into<String>) -> Applied {
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
    order_id: &OrderId,
) -> Result<Applied, Error> {
    let Some(mut order) =
        documents::get::<Order>(cx.tx, ORDER, cx.workspace_id, order_id.as_str(), true).await?
    else {
        return Ok(Applied::unmatched(
            "the named order does not exist in this workspace",
        ));
    };
    let clearing = CommerceAccount::Clearing(provider_kind.to_owned());
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
                event_type::ORDER_PAYMENT_PROCESSING,
                &order,
                Some(previous),
                json!({}),
            )
            .await?;
            Ok(applied(&order))
        }
        PaymentEventKind::PaymentFailed {
            code,
            message,
            decline_code,
            decline_class,
            ..
        } => {
            let Ok(previous) = move_to(&mut order, OrderStatus::PaymentFailed) else {
                return Ok(ignored(
                    &order,
                    format!("stale: the order is {}", order.status.as_str()),
                ));
            };
            order.last_decline_class = decline_class.map(|class| class.as_str().to_owned());
            order.last_payment_error =
                Some(match (decline_code.as_ref().or(code.as_ref()), message) {
                    (Some(code), Some(message)) => format!("{code}: {message}"),
                    (Some(text), None) | (None, Some(text)) => text.clone(),
                    (None, None) => "payment_failed".into(),
                });
            order.updated_at = cx.now;
            save(cx, &order).await?;
            emit(
                cx,
                event_type::ORDER_PAYMENT_FAILED,
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
                event_type::ORDER_CHECKOUT_EXPIRED,
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
                documents::get::<Refund>(cx.tx, REFUND, cx.workspace_id, bursar_id, true).await?
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
                order_id: Some(order_id.to_string()),
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
                    Posting::new(
                        format!("dispute:{dispute_id}"),
                        CommerceAccount::Disputes,
                        clearing.clone(),
                        *amount,
                        TransferCode::DisputeHold,
                    ),
                    // The provider's fee for the dispute: an expense whatever the outcome.
                    Posting::new(
                        format!("dispute_fee:{dispute_id}"),
                        CommerceAccount::Fees,
                        clearing.clone(),
                        fee.unwrap_or(0),
                        TransferCode::Fee,
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
            emit(
                cx,
                event_type::ORDER_DISPUTED,
                &order,
                Some(previous),
                json!({}),
            )
            .await?;
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
                    &[Posting::new(
                        format!("dispute_won:{dispute_id}"),
                        clearing.clone(),
                        CommerceAccount::Disputes,
                        dispute.amount,
                        TransferCode::DisputeRelease,
                    )],
                )
                .await?;
                dispute.status = "won".into();
                (
                    move_to(&mut order, dispute.status_before)?,
                    event_type::ORDER_DISPUTE_WON,
                )
            } else {
                post(
                    cx,
                    currency,
                    &[Posting::new(
                        format!("dispute_lost:{dispute_id}"),
                        CommerceAccount::DisputeLosses,
                        CommerceAccount::Disputes,
                        dispute.amount,
                        TransferCode::DisputeLoss,
                    )],
                )
                .await?;
                dispute.status = "lost".into();
                (order.status, event_type::ORDER_DISPUTE_LOST)
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
pub struct Confirmed<'a> {
    pub payment_id: &'a str,
    pub amount: i64,
    pub currency: &'a str,
    pub fee: Option<i64>,
}

/// The payment is confirmed: one transaction moves the order to `paid`, posts the payment and
/// the fee, and records `order.paid`.
pub async fn mark_paid(
    cx: &mut Context<'_>,
    order: &mut Order,
    provider_id: &str,
    clearing: &CommerceAccount,
    confirmed: Confirmed<'_>,
) -> Result<Applied, Error> {
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
                    &[Posting::new(
                        format!("fee:{}", order.id),
                        CommerceAccount::Fees,
                        clearing.clone(),
                        fee,
                        TransferCode::Fee,
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
    let mut transfers = vec![Posting::new(
        transfer_id.clone(),
        clearing.clone(),
        CommerceAccount::Revenue,
        amount,
        TransferCode::Payment,
    )];
    if let Some(fee) = fee {
        transfers.push(Posting::new(
            format!("fee:{}", order.id),
            CommerceAccount::Fees,
            clearing.clone(),
            fee,
            TransferCode::Fee,
        ));
    }
    order.payment = Some(OrderPayment {
        provider_id: ProviderId::parse(provider_id, "provider_id")
            .map_err(|_| Error::internal())?,
        payment_id: payment_id.to_owned(),
        amount,
        fee,
        paid_at: cx.now,
        transfer_id,
    });
    order.last_payment_error = None;
    order.last_decline_class = None;
    order.updated_at = cx.now;
    save(cx, order).await?;
    emit(cx, event_type::ORDER_PAID, order, Some(previous), json!({})).await?;
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

pub enum Settle {
    Succeeded(String),
    Failed(String),
}

/// Settles a pending refund: on success the ledger transfer (refunds ← clearing) and the order's
/// new state; on failure the reservation is released. One transaction.
pub async fn settle_refund(
    cx: &mut Context<'_>,
    mut order: Order,
    mut refund: Refund,
    clearing: &CommerceAccount,
    outcome: Settle,
) -> Result<Refund, Error> {
    order.amount_refund_pending -= refund.amount;
    match outcome {
        Settle::Succeeded(provider_refund_id) => {
            let transfer_id = format!("refund:{}", refund.id);
            post(
                cx,
                order.currency,
                &[Posting::new(
                    transfer_id.clone(),
                    CommerceAccount::Refunds,
                    clearing.clone(),
                    refund.amount,
                    TransferCode::Refund,
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
            documents::save(
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
                event_type::ORDER_REFUNDED
            } else {
                event_type::ORDER_PARTIALLY_REFUNDED
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
            documents::save(
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
                event_type::ORDER_REFUND_FAILED,
                &order,
                None,
                json!({ "refund": refund }),
            )
            .await?;
        }
    }
    Ok(refund)
}

/// 2–3. Asks the provider for a pending refund and settles it; a settled refund is returned as
/// it is.
pub async fn finish_refund(
    state: &App,
    workspace_id: &WorkspaceId,
    cause: &Cause,
    refund_id: &str,
) -> Result<Refund, Error> {
    let refund: Refund =
        lookup::get(state, workspace_id, REFUND, "refund", refund_id.to_owned()).await?;
    if refund.status != RefundState::Pending {
        return Ok(refund);
    }
    let order: Order = lookup::get(
        state,
        workspace_id,
        ORDER,
        "order",
        refund.order_id.to_string(),
    )
    .await?;
    let Some(payment) = &order.payment else {
        return Err(Error::internal());
    };
    let connection =
        providers::resolve(state, workspace_id, Some(payment.provider_id.as_str()), "").await?;
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
    let clearing = CommerceAccount::Clearing(connection.row.kind.clone());
    let id = refund_id.to_owned();
    state
        .write(workspace_id.clone(), cause.clone(), move |mut cx| {
            Box::pin(async move {
                let refund: Refund = lookup::get_in(&mut cx, REFUND, "refund", &id, "id").await?;
                if refund.status != RefundState::Pending {
                    return Ok(refund);
                }
                let order = load(&mut cx, refund.order_id.as_str()).await?;
                settle_refund(&mut cx, order, refund, &clearing, outcome).await
            })
        })
        .await
}

/// What a new order is made of, its input parsed.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub customer_id: CustomerId,
    pub currency: Currency,
    /// Products and quantities; the resolver prices each line for the customer.
    pub lines: Vec<(ProductId, i64)>,
    pub promotion_code: Option<String>,
    pub metadata: bursar_domain::metadata::Metadata,
}

/// Creates a draft order: each line priced by the resolver for the customer (agreements,
/// price books, default prices) with the promotion code's discount, and `order.created`.
pub async fn create(cx: &mut Context<'_>, new: NewOrder) -> Result<Order, Error> {
    let NewOrder {
        customer_id,
        currency,
        lines,
        promotion_code,
        metadata,
    } = new;
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
        last_decline_class: None,
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
    emit(cx, event_type::ORDER_CREATED, &order, None, json!({})).await?;
    Ok(order)
}
