//! Saving a payment method from the portal, at the shop's provider: [`start_card_setup`] opens
//! the provider's hosted page (a card at Stripe or the test provider, a PayPal wallet at
//! PayPal), and [`finish_card_setup`] completes it when the payer comes back. Stripe and the
//! test provider report the saved card by webhook; PayPal returns the payer with the approved
//! setup token (`approval_token_id`), which Bursar turns into a payment token, then records.

use bursar_domain::event::Cause;
use bursar_domain::id::CustomerId;

use crate::error::Error;
use crate::portal::Portal;
use crate::providers::provider_error;
use crate::shop_checkout::Client;
use crate::storefront::Shop;
use crate::App;

/// The customer a portal session saves methods for: the newest it reaches.
fn saver(portal: &Portal) -> Option<&CustomerId> {
    portal
        .customers
        .iter()
        .max_by(|a, b| a.as_str().cmp(b.as_str()))
}

fn portal_cause() -> Cause {
    Cause {
        request_id: None,
        actor: Some("portal".into()),
    }
}

/// Opens the shop's provider's hosted page where the signed-in customer saves a payment method
/// for later purchases; the page returns to `back`. Card-testing bots use such pages: each
/// attempt counts against the client's [velocity limits](crate::velocity) and passes the
/// shop's [challenge](crate::challenge) first. Returns the page's URL.
pub async fn start_card_setup(
    app: &App,
    (shop, portal): (&Shop, &Portal),
    client: &Client,
    base_url: &str,
    back: &str,
) -> Result<Option<String>, Error> {
    let Some(customer) = saver(portal) else {
        return Ok(None);
    };
    let attempt = crate::velocity::Attempt {
        workspace_id: &shop.workspace_id,
        address: &client.address,
        session: &client.session,
        email: portal.email.as_deref().unwrap_or(customer.as_str()),
    };
    crate::velocity::admit_card_setup(app, &attempt).await?;
    let token = client.challenge_token.as_deref();
    let action = crate::challenge::CARD_SETUP;
    crate::challenge::verify(app, shop, action, token, &client.address).await?;
    let setup = crate::payment_methods::NewSetup {
        customer: customer.to_string(),
        currency: shop.settings.currency.code().to_owned(),
        provider: shop.settings.payment_provider.clone(),
        success_url: Some(back.to_owned()),
        cancel_url: Some(back.to_owned()),
    };
    let started =
        crate::payment_methods::start_setup(app, &shop.workspace_id, setup, base_url).await?;
    let recorded = app
        .write(shop.workspace_id.clone(), portal_cause(), move |mut cx| {
            Box::pin(async move { crate::payment_methods::record_setup(&mut cx, started).await })
        })
        .await?;
    Ok(Some(recorded.url))
}

/// Completes a setup the payer approved at the shop's provider and came back from with
/// `approval` (PayPal's setup token): the provider turns it into a saved method, recorded for
/// the session's customer once (a second return, or the provider's webhook, changes nothing).
/// Refused when the saved method is not of the customer the session saves for (the setup was
/// someone else's). Returns whether a method was saved now.
pub async fn finish_card_setup(
    app: &App,
    (shop, portal): (&Shop, &Portal),
    approval: &str,
    base_url: &str,
) -> Result<bool, Error> {
    let Some(customer) = saver(portal).cloned() else {
        return Ok(false);
    };
    let selector = shop.settings.payment_provider.as_deref();
    let connection = crate::providers::resolve(app, &shop.workspace_id, selector, base_url).await?;
    let saved = connection
        .provider
        .complete_setup(approval)
        .await
        .map_err(provider_error)?;
    let (provider_id, kind) = (
        connection.row.provider_id.clone(),
        connection.row.kind.clone(),
    );
    let approval = approval.to_owned();
    let applied = app
        .write(shop.workspace_id.clone(), portal_cause(), move |mut cx| {
            Box::pin(async move {
                let known = bursar_store::payment_providers::provider_customer(
                    cx.tx,
                    &provider_id,
                    customer.as_str(),
                )
                .await?;
                if known.is_none() || known != saved.provider_customer {
                    return Err(Error::not_found("payment method setup", &approval)
                        .with_param("approval_token_id"));
                }
                crate::payment_methods::record_saved(
                    &mut cx,
                    &provider_id,
                    &kind,
                    &saved.payment_method,
                    saved.provider_customer.as_deref(),
                    Some(customer.as_str()),
                )
                .await
            })
        })
        .await?;
    Ok(applied.outcome == "applied")
}
