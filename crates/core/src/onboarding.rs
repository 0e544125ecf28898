//! Post-purchase onboarding: when an order is fulfilled its steps are planned in the same
//! transaction (a welcome at once, tips three days later), and the sweep ([`send_due`]) records
//! `order.onboarding` for each step when it comes due, once; the email subscriber sends the
//! step's message. An order refunded or disputed by then gets no more steps.

use bursar_domain::commerce::{Order, OrderStatus, ProductKind};
use bursar_domain::event::Cause;
use bursar_domain::event_type;
use bursar_store::onboarding::{self, DueStep};
use bursar_store::Tx;
use serde_json::json;

use crate::error::Error;
use crate::write::Context;
use crate::App;

/// The steps, and the days after fulfillment each is due.
pub const STEPS: [(&str, i64); 2] = [("welcome", 0), ("tips", 3)];

/// Steps sent per pass of the sweep, at most.
const PASS_MAX: i64 = 200;

/// Plans `order`'s onboarding steps from now (once: an order fulfilled again plans nothing),
/// when it sold software (a digital line): the emails speak of licenses and downloads.
pub async fn plan(cx: &mut Context<'_>, order: &Order) -> Result<(), Error> {
    let software = order
        .lines
        .iter()
        .any(|line| line.product_kind == ProductKind::Digital);
    if !software {
        return Ok(());
    }
    for (step, days) in STEPS {
        let due = cx.now.plus_seconds(days * 86_400);
        onboarding::plan(cx.tx, cx.workspace_id, order.id.as_str(), step, due).await?;
    }
    Ok(())
}

/// Records `order.onboarding` for every step due now (each once, whatever the number of
/// servers sweeping); returns how many were recorded.
pub async fn send_due(app: &App) -> Result<usize, Error> {
    let now = app.now();
    let due = app
        .db
        .read(move |tx: &mut Tx| Box::pin(async move { onboarding::due(tx, now, PASS_MAX).await }))
        .await?;
    let mut sent = 0;
    for step in due {
        let cause = Cause {
            request_id: None,
            actor: Some("onboarding".into()),
        };
        let workspace = step.workspace_id.clone();
        let recorded = app
            .write(workspace, cause, move |mut cx| {
                Box::pin(async move { record(&mut cx, &step).await })
            })
            .await?;
        sent += usize::from(recorded);
    }
    Ok(sent)
}

/// Marks `step` sent and records its event, unless another sweep did, or the order no longer
/// stands (refunded, disputed, gone).
async fn record(cx: &mut Context<'_>, step: &DueStep) -> Result<bool, Error> {
    if !onboarding::mark_sent(cx.tx, step).await? {
        return Ok(false);
    }
    let order: Option<Order> = bursar_store::documents::get(
        cx.tx,
        bursar_store::documents::ORDER,
        cx.workspace_id,
        &step.order_id,
        false,
    )
    .await?;
    let Some(order) = order.filter(|o| o.status == OrderStatus::Fulfilled) else {
        return Ok(false);
    };
    let customer =
        bursar_store::customers::get(cx.tx, cx.workspace_id, &order.customer_id, false).await?;
    let shop = crate::storefront::load(cx.tx, cx.workspace_id).await?;
    cx.emit(bursar_domain::event::NewEvent::new(
        event_type::ORDER_ONBOARDING,
        "order",
        order.id.as_str(),
        json!({
            "object": order,
            "step": step.step,
            "email": customer.as_ref().and_then(|c| c.email.as_ref()).map(|e| e.as_str()),
            "name": customer.as_ref().and_then(|c| c.name.as_ref()).map(|n| n.as_str()),
            "shop_name": shop.as_ref().map(|s| s.name.as_str()),
            "shop_handle": shop.as_ref().map(|s| s.handle.as_str()),
        }),
    ))
    .await?;
    Ok(true)
}
