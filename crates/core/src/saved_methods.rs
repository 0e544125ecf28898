//! A customer's saved methods kept in order: one made the default (two-click checkouts charge
//! it, else the newest), one removed — detached at the provider first, so it can no longer be
//! charged, then forgotten here.

use bursar_domain::commerce::PaymentMethod;
use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::id::WorkspaceId;
use bursar_payments::ProviderError;
use bursar_store::documents::{self, PAYMENT_METHOD};
use bursar_store::Tx;
use serde_json::json;

use crate::error::Error;
use crate::providers::{self, provider_error};
use crate::write::Context;
use crate::App;

/// Saved method `id` of customer `customer`; 404 when there is none (or it is another's).
async fn method_of(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    customer: &str,
    id: &str,
) -> Result<PaymentMethod, Error> {
    let method: Option<PaymentMethod> =
        documents::get(tx, PAYMENT_METHOD, workspace_id, id, false).await?;
    method
        .filter(|m| m.customer_id.as_str() == customer)
        .ok_or_else(|| Error::not_found("payment_method", id).with_param("method"))
}

/// Makes saved method `id` customer `customer`'s default (its previous default no longer
/// is), recording `customer.payment_method_default_set`; the default already changes nothing.
pub async fn make_default(
    cx: &mut Context<'_>,
    customer: &str,
    id: &str,
) -> Result<PaymentMethod, Error> {
    let mut method = method_of(cx.tx, cx.workspace_id, customer, id).await?;
    if method.is_default {
        return Ok(method);
    }
    let all: Vec<PaymentMethod> = documents::find_in(
        cx.tx,
        PAYMENT_METHOD,
        cx.workspace_id,
        "customer_id",
        &[customer],
    )
    .await?;
    for mut other in all.into_iter().filter(|m| m.is_default) {
        other.is_default = false;
        documents::save(
            cx.tx,
            PAYMENT_METHOD,
            cx.workspace_id,
            other.id.as_str(),
            &other,
            &[],
        )
        .await?;
    }
    method.is_default = true;
    documents::save(cx.tx, PAYMENT_METHOD, cx.workspace_id, id, &method, &[]).await?;
    cx.emit(NewEvent::new(
        event_type::CUSTOMER_PAYMENT_METHOD_DEFAULT_SET,
        "customer",
        customer,
        json!({ "object": method }),
    ))
    .await?;
    Ok(method)
}

/// Detaches saved method `id` of customer `customer` at its provider, outside any
/// transaction, when it is still saved here (a method the provider no longer has counts as
/// detached). The record itself goes with [`forget`].
pub async fn detach(
    app: &App,
    workspace_id: &WorkspaceId,
    customer: &str,
    id: &str,
) -> Result<(), Error> {
    let (ws, customer, lookup) = (workspace_id.clone(), customer.to_owned(), id.to_owned());
    let found = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { method_of(tx, &ws, &customer, &lookup).await })
        })
        .await;
    let method = match found {
        Ok(method) => method,
        // Gone already (a retried removal): nothing to detach; `forget` answers.
        Err(error) if error.kind == crate::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    let row =
        providers::find_connection(app, method.provider_id.as_str(), Some(workspace_id)).await?;
    let connection = providers::connect(app, row, &app.base_url(None))?;
    match connection
        .provider
        .detach_method(&method.provider_method_id)
        .await
    {
        Ok(()) | Err(ProviderError::Unsupported(_)) => Ok(()),
        Err(error) => Err(provider_error(error)),
    }
}

/// Forgets saved method `id` of customer `customer` (after [`detach`]), recording
/// `customer.payment_method_removed`; returns the method as it was.
pub async fn forget(
    cx: &mut Context<'_>,
    customer: &str,
    id: &str,
) -> Result<PaymentMethod, Error> {
    let method = method_of(cx.tx, cx.workspace_id, customer, id).await?;
    documents::delete(cx.tx, PAYMENT_METHOD, cx.workspace_id, id).await?;
    cx.emit(NewEvent::new(
        event_type::CUSTOMER_PAYMENT_METHOD_REMOVED,
        "customer",
        customer,
        json!({ "object": method }),
    ))
    .await?;
    Ok(method)
}
