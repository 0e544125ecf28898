//! Opening an order's hosted checkout: the session opened at the provider outside any
//! transaction ([`start_checkout`]), then recorded on the order ([`record_checkout`]).

use bursar_domain::commerce::*;
use bursar_domain::event_type;
use bursar_domain::id::*;
use bursar_store::documents::ORDER;
use serde_json::json;

use crate::error::Error;
use crate::lookup;
use crate::providers::{self, provider_error};
use crate::write::Context;
use crate::App;

use crate::orders::{emit, load, move_to, redeem, save};

/// A checkout session opened at the provider for an order, not yet recorded on it.
#[derive(Debug, Clone)]
pub struct StartedCheckout {
    /// `None` when the order could not open one (a retried request whose answer replays).
    pub session: Option<bursar_payments::CheckoutSession>,
    pub attempt: i64,
    pub provider_id: ProviderId,
    pub provider_kind: String,
}

/// Opens a hosted checkout for order `id` at the provider `selector` names (the workspace's
/// default when none), outside any transaction: nothing is recorded yet. An order that cannot
/// open one is refused, unless the request is a retry (`retried`: it carries an idempotency
/// key, whose stored answer then replays).
pub async fn start_checkout(
    app: &App,
    workspace_id: &WorkspaceId,
    id: &str,
    selector: Option<&str>,
    base_url: &str,
    (success_url, cancel_url): (String, String),
    retried: bool,
) -> Result<StartedCheckout, Error> {
    let order: Order = lookup::get(app, workspace_id, ORDER, "order", id.to_owned()).await?;
    let reopenable = matches!(
        order.status,
        OrderStatus::Draft | OrderStatus::PaymentFailed | OrderStatus::CheckoutExpired
    );
    if !reopenable && !retried {
        return Err(cannot_open_checkout(&order));
    }
    let attempt = order.checkout.as_ref().map_or(0, |c| c.attempt) + 1;
    let connection = providers::resolve(app, workspace_id, selector, base_url).await?;
    let session = if reopenable {
        let (customer_id, ws) = (order.customer_id.clone(), workspace_id.clone());
        let customer = app
            .db
            .read(move |tx: &mut bursar_store::Tx| {
                Box::pin(
                    async move { bursar_store::customers::get(tx, &ws, &customer_id, false).await },
                )
            })
            .await?;
        let checkout = bursar_payments::CheckoutRequest {
            attempt_id: format!("{}-{attempt}", order.id),
            order_id: order.id.to_string(),
            currency: order.currency.code().to_owned(),
            amount: order.totals.total,
            lines: order
                .lines
                .iter()
                .map(|l| bursar_payments::CheckoutLine {
                    name: l.product_name.clone(),
                    quantity: 1,
                    unit_amount: l.total,
                })
                .collect(),
            customer_email: customer.and_then(|c| c.email.map(|e| e.as_str().to_owned())),
            provider_customer: None,
            success_url,
            cancel_url,
            expires_at: app.now().unix_micros() / 1_000_000 + providers::CHECKOUT_TTL_SECONDS,
            metadata: providers::order_metadata(order.id.as_str()),
        };
        let created = connection.provider.create_checkout(&checkout).await;
        Some(created.map_err(provider_error)?)
    } else {
        None
    };
    Ok(StartedCheckout {
        session,
        attempt,
        provider_id: connection.object.id.clone(),
        provider_kind: connection.row.kind.clone(),
    })
}

/// Records a started checkout on order `id`: `checkout_open`, the promotion code redeemed, and
/// `order.checkout_opened`. Refused if another checkout was opened meanwhile.
pub async fn record_checkout(
    cx: &mut Context<'_>,
    id: &str,
    started: StartedCheckout,
) -> Result<Order, Error> {
    let mut order = load(cx, id).await?;
    let Some(session) = started.session else {
        return Err(cannot_open_checkout(&order));
    };
    if order.checkout.as_ref().map_or(0, |c| c.attempt) + 1 != started.attempt {
        return Err(Error::state(
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
        redeem(cx, code, coupon_id).await?;
        order.promotion_redeemed = true;
    }
    order.checkout = Some(OrderCheckout {
        provider_id: started.provider_id,
        provider: started.provider_kind,
        session_id: session.id,
        url: session.url,
        payment_id: session.payment_id,
        expires_at: bursar_domain::time::Timestamp::from_unix_micros(
            session.expires_at.saturating_mul(1_000_000),
        ),
        attempt: started.attempt,
    });
    order.updated_at = cx.now;
    save(cx, &order).await?;
    emit(
        cx,
        event_type::ORDER_CHECKOUT_OPENED,
        &order,
        Some(previous),
        json!({}),
    )
    .await?;
    Ok(order)
}

fn cannot_open_checkout(order: &Order) -> Error {
    Error::state(
        "order_state_invalid",
        order.status.as_str(),
        format!(
            "An order that is {} cannot open a checkout.",
            order.status.as_str()
        ),
    )
}
