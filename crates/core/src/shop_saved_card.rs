//! Two-click checkout: a signed-in returning customer pays a shop's cart with their saved
//! payment method, off-session ([`pay_with_saved_method`]). The order is still committed only
//! when the provider confirms the charge; when the card asks for authentication the buyer is
//! sent to the provider's hosted page for the same order instead.

use bursar_domain::commerce::{Order, OrderStatus, PaymentMethod};
use bursar_domain::metadata::Metadata;
use bursar_domain::storefront::Cart;
use bursar_store::documents::ORDER;
use sha2::{Digest, Sha256};

use crate::checkouts::{charge_saved_method, record_charge};
use crate::error::Error;
use crate::orders::NewOrder;
use crate::portal::Portal;
use crate::shop_checkout::{
    open_hosted_checkout, price_cart, receipt_url, shop_cause, Client, ShopUrls,
};
use crate::storefront::Shop;
use crate::write::IdempotencyKey;
use crate::App;

/// The decline reason a provider gives when the card needs the customer to authenticate.
const AUTHENTICATION_REQUIRED: &str = "authentication_required";

/// The saved payment method a two-click checkout charges: the default one of the customers
/// `portal` reaches, else the newest; none when they saved none.
pub async fn saved_method(
    app: &App,
    shop: &Shop,
    portal: &Portal,
) -> Result<Option<PaymentMethod>, Error> {
    let methods = crate::portal_views::saved_methods(app, shop, portal).await?;
    let default = methods.iter().position(|m| m.is_default).unwrap_or(0);
    Ok(methods.into_iter().nth(default))
}

/// What a two-click payment came to.
#[derive(Debug, Clone)]
pub enum SavedCardOutcome {
    /// Paid, or confirming: the receipt page (with its key) shows which.
    Receipt { order: Order, url: String },
    /// The card asked for authentication: the provider's hosted page for the same order.
    Hosted { order: Order, url: String },
    /// Declined, with the provider's reason; nothing was charged.
    Declined { order: Order, reason: String },
}

/// Pays `cart` with the newest saved method of the signed-in customer: an order for that
/// customer (priced as theirs), charged off-session. `form_key` is the form's idempotency key:
/// sent twice, it places and charges one order.
pub async fn pay_with_saved_method(
    app: &App,
    shop: &Shop,
    (cart, portal): (&Cart, &Portal),
    client: &Client,
    urls: &ShopUrls,
    form_key: &str,
) -> Result<SavedCardOutcome, Error> {
    let priced = price_cart(app, shop, cart).await?;
    let Some(method) = saved_method(app, shop, portal).await? else {
        return Err(Error::invalid(
            "payment_method_missing",
            Some("payment_method".into()),
            "No saved payment method: pay on the provider's page.",
        ));
    };
    if priced.cart.is_empty() {
        return Err(Error::invalid(
            "cart_empty",
            Some("cart".into()),
            "The cart is empty: add a product first.",
        ));
    }
    let email = portal.email.as_deref();
    let email = email.unwrap_or(method.customer_id.as_str());
    crate::shop_checkout::admit_checkout(app, shop, client, email).await?;
    let card = crate::velocity::Card::SavedMethod(&method.provider_method_id);
    if crate::velocity::card_blocked(app, &shop.workspace_id, card).await? {
        return Err(crate::velocity::card_refused());
    }
    let order = order_for(app, shop, &priced.cart, &method, form_key).await?;
    let order = match order.status {
        OrderStatus::Draft | OrderStatus::PaymentFailed => {
            charge(app, shop, &order, &method).await?
        }
        _ => order,
    };
    outcome(app, shop, order, urls).await
}

/// The order of the form `form_key`, for the method's customer: created once.
async fn order_for(
    app: &App,
    shop: &Shop,
    cart: &Cart,
    method: &PaymentMethod,
    form_key: &str,
) -> Result<Order, Error> {
    let fingerprint = hex::encode(Sha256::digest(
        format!("{}|{}", cart.encode(), method.id).as_bytes(),
    ));
    let idempotency = IdempotencyKey {
        key: format!("shop-saved-card:{form_key}"),
        fingerprint,
    };
    let new_order = NewOrder {
        customer_id: method.customer_id.clone(),
        currency: shop.settings.currency,
        lines: cart.lines.clone(),
        promotion_code: cart.promotion_code.clone(),
        metadata: Metadata::default(),
    };
    let reply = app
        .write_once(
            shop.workspace_id.clone(),
            shop_cause(),
            Some(idempotency),
            move |mut cx| {
                Box::pin(async move {
                    let order = crate::orders::create(&mut cx, new_order).await?;
                    Ok::<_, Error>((200, order))
                })
            },
        )
        .await?;
    let placed: Order = serde_json::from_str(&reply.body).map_err(|e| {
        tracing::error!(error = %e, "BUG: a two-click order's reply did not decode");
        Error::internal()
    })?;
    // The order as it is now (a form sent again finds it charged).
    crate::lookup::get(
        app,
        &shop.workspace_id,
        ORDER,
        "order",
        placed.id.to_string(),
    )
    .await
}

async fn charge(
    app: &App,
    shop: &Shop,
    order: &Order,
    method: &PaymentMethod,
) -> Result<Order, Error> {
    let charged =
        charge_saved_method(app, &shop.workspace_id, order.id.as_str(), &method.id).await?;
    let id = order.id.to_string();
    app.write(shop.workspace_id.clone(), shop_cause(), move |mut cx| {
        Box::pin(async move { record_charge(&mut cx, &id, charged).await })
    })
    .await
}

/// Where the buyer goes after the charge.
async fn outcome(
    app: &App,
    shop: &Shop,
    order: Order,
    urls: &ShopUrls,
) -> Result<SavedCardOutcome, Error> {
    let receipt = receipt_url(app, urls, &order)?;
    if order.status != OrderStatus::PaymentFailed {
        return Ok(SavedCardOutcome::Receipt {
            order,
            url: receipt,
        });
    }
    let reason = order.last_payment_error.clone().unwrap_or_default();
    if reason != AUTHENTICATION_REQUIRED {
        return Ok(SavedCardOutcome::Declined { order, reason });
    }
    let hosted = open_hosted_checkout(app, shop, order, urls).await?;
    Ok(SavedCardOutcome::Hosted {
        order: hosted.order,
        url: hosted.checkout_url,
    })
}
