//! A received return's refund step: the units an RMA brought back are refunded through the
//! order's refund path, as a refund asked for by support would be ([`crate::refunds::reserve`],
//! then [`crate::orders::finish_refund`] with the provider that took the payment).
//!
//! The refund is reserved in one write that also names it on the run; an attempt that finds
//! it there asks the provider again about that same refund (its id is the provider's
//! idempotency key) instead of reserving another. Only a refund that failed is replaced.

use bursar_domain::commerce::{Refund, RefundState};
use bursar_domain::id::{RefundId, WorkspaceId};
use bursar_domain::shipping::returns::{return_value, returned_before, units_of};
use bursar_domain::shipping::{AutomationRun, Shipment, ShipmentDirection};
use bursar_store::documents::{AUTOMATION_RUN, REFUND, SHIPMENT};

use crate::error::Error;
use crate::refunds::NewRefund;
use crate::write::Context;
use crate::App;

/// Attempts run `run_id`'s refund step: succeeded once the provider has made the refund (or
/// nothing is left to refund); a pending or failed refund is a failed attempt.
pub(super) async fn refund_step(
    app: &App,
    workspace_id: &WorkspaceId,
    run_id: &str,
) -> Result<(), (Option<u16>, String)> {
    let failed = |error: Error| (None, error.message);
    let Some(refund_id) = ask(app, workspace_id, run_id).await.map_err(failed)? else {
        return Ok(());
    };
    let refund = crate::orders::finish_refund(
        app,
        workspace_id,
        &super::automation::system_cause(),
        refund_id.as_str(),
    )
    .await
    .map_err(failed)?;
    match refund.status {
        RefundState::Succeeded => Ok(()),
        RefundState::Pending => Err((
            None,
            format!("the provider has not settled refund {} yet", refund.id),
        )),
        RefundState::Failed => Err((
            None,
            format!(
                "refund {} failed: {}",
                refund.id,
                refund.failure_reason.unwrap_or_default()
            ),
        )),
    }
}

/// The refund the run's attempt settles: the one it asked for already unless that failed,
/// else a new one reserved now for the return's value (`order.refund_requested`). `None` when
/// there is nothing to refund.
async fn ask(
    app: &App,
    workspace_id: &WorkspaceId,
    run_id: &str,
) -> Result<Option<RefundId>, Error> {
    let id = run_id.to_owned();
    app.write(
        workspace_id.clone(),
        super::automation::system_cause(),
        move |mut cx: Context<'_>| {
            Box::pin(async move {
                let mut run: AutomationRun =
                    crate::lookup::get_in(&mut cx, AUTOMATION_RUN, "automation run", &id, "id")
                        .await?;
                if let Some(asked) = run.refund_id.clone() {
                    let refund: Refund =
                        crate::lookup::get_in(&mut cx, REFUND, "refund", asked.as_str(), "id")
                            .await?;
                    if refund.status != RefundState::Failed {
                        return Ok(Some(asked));
                    }
                }
                let Some(amount) = value_of_return(&mut cx, &run).await? else {
                    return Ok(None);
                };
                let new = NewRefund {
                    order_id: run.order_id.to_string(),
                    amount: Some(amount),
                    reason: Some(format!("Return {} received", run.shipment_id)),
                };
                let refund = crate::refunds::reserve(&mut cx, new).await?;
                run.refund_id = Some(refund.id.clone());
                run.updated_at = cx.now;
                super::automation::save_run(&mut cx, &run).await?;
                Ok(Some(refund.id))
            })
        },
    )
    .await
}

/// What the run's return is worth, at most what the order can still refund; `None` when that
/// is nothing. An outbound parcel is refused.
async fn value_of_return(cx: &mut Context<'_>, run: &AutomationRun) -> Result<Option<i64>, Error> {
    let shipment: Shipment =
        crate::lookup::get_in(cx, SHIPMENT, "shipment", run.shipment_id.as_str(), "id").await?;
    if shipment.direction != ShipmentDirection::Return {
        return Err(Error::state(
            "shipment_direction_invalid",
            "outbound",
            "Only a return is refunded: this parcel went out to the customer.",
        ));
    }
    let order = crate::orders::load(cx, run.order_id.as_str()).await?;
    let shipments = super::of_order(cx.tx, cx.workspace_id, run.order_id.as_str()).await?;
    let earlier = returned_before(&shipments, &shipment);
    let value = return_value(&order.lines, &earlier, &units_of(&shipment))
        .ok_or_else(|| Error::invalid("amount_too_large", None, "The return's value overflows."))?;
    let amount = value.min(order.refundable());
    Ok((amount > 0).then_some(amount))
}
