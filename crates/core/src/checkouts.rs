//! Paying an order: its hosted checkout opened at the provider outside any transaction
//! ([`start_checkout`]), then recorded on the order ([`record_checkout`]); or a saved method
//! charged off-session ([`charge_saved_method`]), then recorded ([`record_charge`]).

use bursar_domain::commerce::*;
use bursar_domain::event_type;
use bursar_domain::id::*;
use bursar_domain::ledger::chart::CommerceAccount;
use bursar_store::documents::{self, ORDER};
use serde_json::json;

use crate::error::Error;
use crate::lookup;
use crate::orders::{emit, load, mark_paid, move_to, redeem, save, Confirmed};
use crate::providers::{self, provider_error};
use crate::write::Context;
use crate::App;

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

/// A saved method charged off-session for an order, not yet recorded on it.
#[derive(Debug, Clone)]
pub struct ChargedMethod {
    /// The order's version the charge was made for (its `updated_at`, in µs).
    pub version: i64,
    pub outcome: bursar_payments::PaymentState,
    pub clearing: CommerceAccount,
    pub provider_id: String,
    /// The saved method charged (the provider's id): a decline counts against it.
    pub method: String,
}

/// Charges the saved payment method `method_id` for order `id`, at the provider and outside
/// any transaction. The order's version is the charge's attempt: a retry of a charge whose
/// outcome was not recorded reuses the provider's idempotency key, so the customer is charged
/// once.
pub async fn charge_saved_method(
    app: &App,
    workspace_id: &WorkspaceId,
    id: &str,
    method_id: &PaymentMethodId,
) -> Result<ChargedMethod, Error> {
    let order: Order = lookup::get(app, workspace_id, ORDER, "order", id.to_owned()).await?;
    let payable = matches!(
        order.status,
        OrderStatus::Draft | OrderStatus::PaymentFailed | OrderStatus::CheckoutExpired
    );
    if !payable {
        return Err(Error::state(
            "order_state_invalid",
            order.status.as_str(),
            format!(
                "An order that is {} cannot be charged.",
                order.status.as_str()
            ),
        ));
    }
    let method: PaymentMethod = lookup::get(
        app,
        workspace_id,
        documents::PAYMENT_METHOD,
        "payment_method",
        method_id.to_string(),
    )
    .await
    .map_err(|e| e.with_param("payment_method_id"))?;
    if method.customer_id != order.customer_id {
        return Err(Error::invalid(
            "payment_method_invalid",
            Some("payment_method_id".into()),
            "The payment method belongs to another customer.",
        ));
    }
    let card = crate::velocity::Card::SavedMethod(&method.provider_method_id);
    if crate::velocity::card_blocked(app, workspace_id, card).await? {
        return Err(crate::velocity::card_refused().with_param("payment_method_id"));
    }
    let selector = Some(method.provider_id.as_str());
    let connection = providers::resolve(app, workspace_id, selector, "").await?;
    let version = order.updated_at.unix_micros();
    let charge = bursar_payments::OffSessionCharge {
        attempt_id: format!("{}-{version}", order.id),
        order_id: order.id.to_string(),
        provider_customer: method.provider_customer.clone().unwrap_or_default(),
        payment_method: method.provider_method_id.clone(),
        amount: order.totals.total,
        currency: order.currency.code().to_owned(),
        metadata: providers::order_metadata(order.id.as_str()),
    };
    let outcome = connection.provider.charge_saved(&charge).await;
    Ok(ChargedMethod {
        version,
        outcome: outcome.map_err(provider_error)?,
        clearing: CommerceAccount::Clearing(connection.row.kind.clone()),
        provider_id: connection.row.provider_id.clone(),
        method: method.provider_method_id,
    })
}

/// Records an off-session charge on order `id`: paid (the payment posted), processing, or
/// failed with the provider's reason. Refused if the order changed since it was charged.
pub async fn record_charge(
    cx: &mut Context<'_>,
    id: &str,
    charged: ChargedMethod,
) -> Result<Order, Error> {
    let mut order = load(cx, id).await?;
    if order.updated_at.unix_micros() != charged.version {
        return Err(Error::state(
            "order_state_invalid",
            order.status.as_str(),
            "The order changed while it was being charged; read it again.",
        ));
    }
    let outcome = charged.outcome;
    let (event, previous) = match outcome.status {
        bursar_payments::PaymentStatus::Succeeded => {
            let confirmed = Confirmed {
                payment_id: &outcome.id,
                amount: outcome.amount_received,
                currency: &outcome.currency,
                fee: None,
            };
            let applied = mark_paid(
                cx,
                &mut order,
                &charged.provider_id,
                &charged.clearing,
                confirmed,
            )
            .await?;
            if applied.outcome != "applied" {
                return Err(Error::state(
                    "order_state_invalid",
                    order.status.as_str(),
                    applied.detail.unwrap_or_default(),
                ));
            }
            return Ok(order);
        }
        bursar_payments::PaymentStatus::Processing => (
            event_type::ORDER_PAYMENT_PROCESSING,
            move_to(&mut order, OrderStatus::PaymentProcessing)?,
        ),
        _ => {
            let previous = move_to(&mut order, OrderStatus::PaymentFailed)?;
            let reason = outcome
                .decline_code
                .or(outcome.last_error)
                .unwrap_or_else(|| "payment_failed".into());
            order.last_payment_error = Some(reason);
            order.last_decline_class = outcome.decline_class.map(|c| c.as_str().to_owned());
            let declined = outcome
                .decline_class
                .is_some_and(|c| c != bursar_payments::DeclineClass::AuthenticationRequired);
            if declined {
                let card = crate::velocity::Card::SavedMethod(&charged.method);
                crate::velocity::count_card_decline(cx, card).await?;
            }
            (event_type::ORDER_PAYMENT_FAILED, previous)
        }
    };
    order.updated_at = cx.now;
    save(cx, &order).await?;
    emit(cx, event, &order, Some(previous), json!({})).await?;
    Ok(order)
}
