//! Saved payment methods: a provider's hosted page saves a customer's card, and the provider's
//! `setup_intent.succeeded` event records it here ([`record_saved`]); orders are then charged
//! off-session, still confirm-before-commit.

use bursar_domain::commerce::PaymentMethod;
use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::id::{CustomerId, PaymentMethodId, ProviderId};
use bursar_store::customers;
use bursar_store::documents::{self, PAYMENT_METHOD};
use serde_json::json;

use crate::error::Error;
use crate::providers::Applied;
use crate::write::Context;

/// Records a method the provider saved (`setup_intent.succeeded`), once.
pub async fn record_saved(
    cx: &mut Context<'_>,
    provider_id: &str,
    provider_kind: &str,
    payment_method: &str,
    provider_customer: Option<&str>,
    customer_id: Option<&str>,
) -> Result<Applied, Error> {
    let Some(customer_id) = customer_id.and_then(|c| CustomerId::parse(c, "customer").ok()) else {
        return Ok(Applied {
            outcome: "unmatched",
            detail: Some("no Bursar customer named by the setup".into()),
            order_id: None,
        });
    };
    if customers::get(cx.tx, cx.workspace_id, &customer_id, false)
        .await?
        .is_none()
    {
        return Ok(Applied {
            outcome: "unmatched",
            detail: Some("the named customer does not exist in this workspace".into()),
            order_id: None,
        });
    }
    if bursar_store::payment_providers::payment_method_id(
        cx.tx,
        cx.workspace_id,
        provider_id,
        payment_method,
    )
    .await?
    .is_some()
    {
        return Ok(Applied {
            outcome: "ignored",
            detail: Some("payment method already saved".into()),
            order_id: None,
        });
    }
    let method = PaymentMethod {
        id: PaymentMethodId::new(),
        object: "payment_method".into(),
        customer_id: customer_id.clone(),
        provider_id: ProviderId::parse(provider_id, "provider_id")
            .map_err(|_| Error::internal())?,
        provider: provider_kind.to_owned(),
        provider_method_id: payment_method.to_owned(),
        provider_customer: provider_customer.map(str::to_owned),
        created_at: cx.now,
    };
    documents::insert(
        cx.tx,
        PAYMENT_METHOD,
        cx.workspace_id,
        method.id.as_str(),
        &method,
        &[
            ("customer_id", customer_id.as_str().into()),
            ("provider_id", provider_id.into()),
            ("provider_method_id", payment_method.into()),
        ],
    )
    .await?;
    cx.emit(NewEvent::new(
        event_type::CUSTOMER_PAYMENT_METHOD_SAVED,
        "customer",
        customer_id.as_str(),
        json!({ "object": method }),
    ))
    .await?;
    Ok(Applied {
        outcome: "applied",
        detail: None,
        order_id: None,
    })
}
