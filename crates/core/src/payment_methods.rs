//! Saved payment methods: a provider's hosted page saves a customer's card, and the provider's
//! `setup_intent.succeeded` event records it here ([`record_saved`]); orders are then charged
//! off-session, still confirm-before-commit. The page is opened by [`start_setup`] and
//! recorded by [`record_setup`].

use bursar_domain::commerce::{PaymentMethod, PaymentMethodSetup};
use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::id::{CustomerId, PaymentMethodId, ProviderId, WorkspaceId};
use bursar_domain::money::Currency;
use bursar_payments::{SetupRequest, SetupSession};
use bursar_store::documents::{self, PAYMENT_METHOD};
use bursar_store::{customers, Tx};
use serde_json::json;

use crate::error::Error;
use crate::providers::{self, provider_error, Applied};
use crate::write::Context;
use crate::App;

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
        is_default: false,
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

/// A customer's request to save a payment method, as asked for.
#[derive(Debug, Clone)]
pub struct NewSetup {
    /// The customer (`cus_…`), as given.
    pub customer: String,
    /// The currency later charges will be in.
    pub currency: String,
    /// `test` (default), `stripe`, or a connection id.
    pub provider: Option<String>,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
}

/// A setup session opened at the provider, not yet recorded.
#[derive(Debug, Clone)]
pub struct StartedSetup {
    pub customer_id: CustomerId,
    pub provider_id: String,
    pub session: SetupSession,
}

/// Opens a provider's hosted page where the customer saves a payment method, outside any
/// transaction; `base_url` is where this server is reached (for the default return pages).
pub async fn start_setup(
    app: &App,
    workspace_id: &WorkspaceId,
    setup: NewSetup,
    base_url: &str,
) -> Result<StartedSetup, Error> {
    let id = setup.customer;
    let customer_id =
        CustomerId::parse(&id, "id").map_err(|_| Error::not_found("customer", &id))?;
    let currency = Currency::parse(&setup.currency, "currency")?;
    for (url, param) in [
        (&setup.success_url, "success_url"),
        (&setup.cancel_url, "cancel_url"),
    ] {
        if let Some(url) = url {
            providers::check_url(url, param)?;
        }
    }
    let (ws, lookup) = (workspace_id.clone(), customer_id.clone());
    let customer = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { customers::get(tx, &ws, &lookup, false).await })
        })
        .await?
        .ok_or_else(|| Error::not_found("customer", &id))?;
    let connection =
        providers::resolve(app, workspace_id, setup.provider.as_deref(), base_url).await?;
    let provider_id = connection.row.provider_id.clone();
    let (pid, cid) = (provider_id.clone(), customer_id.to_string());
    let known = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                bursar_store::payment_providers::provider_customer(tx, &pid, &cid).await
            })
        })
        .await?;
    let request = SetupRequest {
        attempt_id: format!("{customer_id}-{}", app.now().unix_micros()),
        customer_id: customer_id.to_string(),
        provider_customer: known,
        email: customer.email.map(|e| e.as_str().to_owned()),
        name: customer.name.map(|n| n.as_str().to_owned()),
        currency: currency.code().to_owned(),
        success_url: setup
            .success_url
            .unwrap_or_else(|| format!("{base_url}/test-provider/done")),
        cancel_url: setup
            .cancel_url
            .unwrap_or_else(|| format!("{base_url}/test-provider/done?canceled=1")),
    };
    let session = connection
        .provider
        .create_setup(&request)
        .await
        .map_err(provider_error)?;
    Ok(StartedSetup {
        customer_id,
        provider_id,
        session,
    })
}

/// Records a started setup: the customer's id at the provider remembered, and
/// `customer.payment_method_setup_started`.
pub async fn record_setup(
    cx: &mut Context<'_>,
    started: StartedSetup,
) -> Result<PaymentMethodSetup, Error> {
    let StartedSetup {
        customer_id,
        provider_id,
        session,
    } = started;
    bursar_store::payment_providers::remember_provider_customer(
        cx.tx,
        cx.workspace_id,
        &provider_id,
        customer_id.as_str(),
        &session.provider_customer,
    )
    .await?;
    let object = PaymentMethodSetup {
        object: "payment_method_setup",
        id: session.id,
        url: session.url,
        customer_id: customer_id.to_string(),
        provider_id,
        provider_customer: session.provider_customer,
    };
    cx.emit(NewEvent::new(
        event_type::CUSTOMER_PAYMENT_METHOD_SETUP_STARTED,
        "customer",
        customer_id.as_str(),
        json!({ "object": object }),
    ))
    .await?;
    Ok(object)
}
