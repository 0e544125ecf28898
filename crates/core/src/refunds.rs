//! Refunds asked for: reserved on their order as `pending` ([`reserve`]), before the provider
//! is asked and the refund settled ([`crate::orders::finish_refund`]).

use bursar_domain::commerce::*;
use bursar_domain::event::Cause;
use bursar_domain::event_type;
use bursar_domain::id::{RefundId, WorkspaceId};
use bursar_store::documents::{self, REFUND};
use bursar_store::Tx;
use serde_json::json;

use crate::error::Error;
use crate::orders::{emit, load, save};
use crate::write::Context;
use crate::App;

/// A refund asked for, its input parsed.
#[derive(Debug, Clone)]
pub struct NewRefund {
    pub order_id: String,
    /// Minor units; none: everything still refundable.
    pub amount: Option<i64>,
    pub reason: Option<String>,
}

/// Reserves a refund of a paid order: the refund exists as `pending` and its amount is held on
/// the order (`order.refund_requested`), so concurrent refunds cannot exceed what was paid.
pub async fn reserve(cx: &mut Context<'_>, new: NewRefund) -> Result<Refund, Error> {
    let mut order = load(cx, &new.order_id).await?;
    if !matches!(
        order.status,
        OrderStatus::Paid | OrderStatus::Fulfilled | OrderStatus::PartiallyRefunded
    ) {
        return Err(Error::state(
            "order_state_invalid",
            order.status.as_str(),
            format!(
                "An order that is {} cannot be refunded.",
                order.status.as_str()
            ),
        ));
    }
    let refundable = order.refundable();
    let amount = new.amount.unwrap_or(refundable);
    if amount <= 0 || amount > refundable {
        return Err(Error::invalid(
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
        reason: new.reason,
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
    save(cx, &order).await?;
    emit(
        cx,
        event_type::ORDER_REFUND_REQUESTED,
        &order,
        None,
        json!({ "refund": refund }),
    )
    .await?;
    Ok(refund)
}

/// How long a refund may stay `pending` before the background job finishes it: its request
/// ended (a crash, a timeout) between reserving it and hearing from the provider.
pub const STALE_REFUND_SECONDS: i64 = 120;

/// Finishes refunds left `pending` for longer than `older_than_seconds`: asks the provider
/// again with the refund's own idempotency key (so a refund the provider already made is not
/// made twice) and settles it. Returns how many it settled.
pub async fn finish_stale(app: &App, older_than_seconds: i64) -> Result<usize, Error> {
    let cutoff = app.db.now().plus_seconds(-older_than_seconds);
    let pending: Vec<(WorkspaceId, Refund)> = app
        .db
        .read(|tx: &mut Tx| {
            Box::pin(async move {
                documents::everywhere_containing(tx, REFUND, r#""status":"pending""#, 100).await
            })
        })
        .await?;
    let cause = Cause {
        request_id: None,
        actor: Some("system:refunds".into()),
    };
    let mut settled = 0;
    for (workspace_id, refund) in pending {
        if refund.status != RefundState::Pending || refund.created_at > cutoff {
            continue;
        }
        let done =
            crate::orders::finish_refund(app, &workspace_id, &cause, refund.id.as_str()).await?;
        if done.status != RefundState::Pending {
            settled += 1;
        }
    }
    Ok(settled)
}
