//! What the bank's events do to payouts: an order moving on, completing (post), failing (void,
//! retried with backoff when the failure allows) or coming back (a reversal, the account
//! disabled when the code says it is bad, an item in review). Each applies once: a payout only
//! moves along its edges, and an event about an older attempt changes nothing.

use bursar_banks::event::{BankEvent, BankEventKind, BankReturn};
use bursar_banks::types::{FailureReason, PaymentOrder, PaymentOrderStatus};
use bursar_domain::event_type as types;
use bursar_domain::treasury::objects::ReviewReason;
use bursar_domain::treasury::payout_objects::{BankAccountStatus, PayoutObject};
use bursar_domain::treasury::payouts::{disables_account, retry_after, PayoutMove, PayoutStatus};
use bursar_store::payouts as rows;

use super::submit::attempt_of;
use super::{reverse, save, settle, step};
use crate::error::Error;
use crate::write::Context;

/// Applies a bank event to the payout it concerns, in the ingestion's transaction; answers
/// whether it concerned a payout. `connection_id` is the bank connection it came through.
pub async fn apply_bank_event(
    cx: &mut Context<'_>,
    connection_id: &str,
    event: &BankEvent,
) -> Result<bool, Error> {
    match &event.kind {
        BankEventKind::PaymentOrderStatusChanged {
            payment_order_id,
            status,
            failure,
            order,
        } => {
            let Some(found) = find(cx, payment_order_id, order.as_ref()).await? else {
                return Ok(false);
            };
            if let Some(mut payout) = found {
                tracing::debug!(connection_id, payout = %payout.id, status = status.as_str(), "payout order moved");
                on_status(cx, &mut payout, payment_order_id, *status, failure.as_ref()).await?;
            }
            Ok(true)
        }
        BankEventKind::Return(bank_return) => {
            let Some(order_id) = bank_return.returnable_id.as_deref() else {
                return Ok(false);
            };
            let Some(payout) = rows::payout_by_order(cx.tx, cx.workspace_id, order_id).await?
            else {
                return Ok(false);
            };
            on_return(cx, payout, bank_return).await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// The payout a payment order belongs to: `Some(Some(_))` when it is its current attempt,
/// `Some(None)` for an older attempt, `None` when no payout sent it.
async fn find(
    cx: &mut Context<'_>,
    order_id: &str,
    order: Option<&PaymentOrder>,
) -> Result<Option<Option<PayoutObject>>, Error> {
    if let Some(payout) = rows::payout_by_order(cx.tx, cx.workspace_id, order_id).await? {
        return Ok(Some(Some(payout)));
    }
    // The event may come before the answer to the request was recorded: the order's metadata
    // names the attempt.
    let Some((payout_id, attempt)) = order.and_then(attempt_of) else {
        return Ok(None);
    };
    let Some(payout) = rows::get_payout(cx.tx, cx.workspace_id, &payout_id, true).await? else {
        return Ok(None);
    };
    let current = payout.attempts == attempt && payout.payment_order_id.is_none();
    Ok(Some(current.then_some(payout)))
}

async fn on_status(
    cx: &mut Context<'_>,
    payout: &mut PayoutObject,
    order_id: &str,
    status: PaymentOrderStatus,
    failure: Option<&FailureReason>,
) -> Result<(), Error> {
    let open = matches!(
        payout.status,
        PayoutStatus::Pending | PayoutStatus::InTransit
    );
    if !open {
        return Ok(());
    }
    payout.payment_order_id = Some(order_id.to_owned());
    payout.next_attempt_at = None;
    match status {
        PaymentOrderStatus::Pending | PaymentOrderStatus::Processing | PaymentOrderStatus::Sent => {
            if payout.status == PayoutStatus::Pending {
                step(payout, PayoutMove::Submit, cx.now)?;
                save(cx, payout, types::PAYOUT_IN_TRANSIT).await?;
            }
        }
        PaymentOrderStatus::Completed => {
            step(payout, PayoutMove::Pay, cx.now)?;
            settle(cx, payout, true).await?;
            save(cx, payout, types::PAYOUT_PAID).await?;
        }
        PaymentOrderStatus::Failed | PaymentOrderStatus::Cancelled => {
            step(payout, PayoutMove::Fail, cx.now)?;
            settle(cx, payout, false).await?;
            let code = failure
                .and_then(|f| f.code.clone())
                .unwrap_or_else(|| format!("payment_order_{}", status.as_str()));
            let retryable = status == PaymentOrderStatus::Failed;
            payout.next_attempt_at = retry_after(payout.attempts, Some(&code))
                .filter(|_| retryable)
                .map(|seconds| cx.now.plus_seconds(seconds));
            payout.failure_message = failure.and_then(|f| f.message.clone());
            payout.failure_code = Some(code);
            save(cx, payout, types::PAYOUT_FAILED).await?;
        }
        // The return event says why, and is what undoes the payout.
        PaymentOrderStatus::Returned => {}
    }
    Ok(())
}

/// A payout came back: undone once (a reversal after it was paid, a void before), `returned`
/// with its code, the account disabled when the code says it is bad, and an item in review.
async fn on_return(
    cx: &mut Context<'_>,
    mut payout: PayoutObject,
    bank_return: &BankReturn,
) -> Result<(), Error> {
    if !matches!(payout.status, PayoutStatus::Paid | PayoutStatus::InTransit) {
        return Ok(());
    }
    let was_paid = payout.status == PayoutStatus::Paid;
    step(&mut payout, PayoutMove::Return, cx.now)?;
    match was_paid {
        true => reverse(cx, &payout).await?,
        false => settle(cx, &payout, false).await?,
    }
    let code = bank_return.code.clone().unwrap_or_else(|| "return".into());
    payout.return_code = Some(code.clone());
    payout.next_attempt_at = None;
    save(cx, &payout, types::PAYOUT_RETURNED).await?;
    if disables_account(&code) {
        let reason = match &bank_return.reason {
            Some(reason) => format!("return_{code}: {reason}"),
            None => format!("return_{code}"),
        };
        disable_account(cx, &payout, reason).await?;
    }
    put_in_review(cx, &payout).await
}

async fn disable_account(
    cx: &mut Context<'_>,
    payout: &PayoutObject,
    reason: String,
) -> Result<(), Error> {
    let id = payout.bank_account_id.as_str();
    let Some((mut account, _)) = rows::get_bank_account(cx.tx, cx.workspace_id, id).await? else {
        return Ok(());
    };
    if account.status == BankAccountStatus::Disabled {
        return Ok(());
    }
    account.status = BankAccountStatus::Disabled;
    account.disabled_reason = Some(reason);
    account.updated_at = cx.now;
    rows::update_bank_account(cx.tx, cx.workspace_id, &account).await?;
    cx.emit_object(types::BANK_ACCOUNT_DISABLED, "bank_account", id, &account)
        .await
}

/// An open `payout_returned` item naming the payout (`reconciliation_item.created`).
async fn put_in_review(cx: &mut Context<'_>, payout: &PayoutObject) -> Result<(), Error> {
    let candidates = vec![payout.id.to_string()];
    crate::treasury::open_item(cx, ReviewReason::PayoutReturned, candidates, None).await?;
    Ok(())
}
