//! Buying from a shop: the visitor's cart priced as a guest's ([`price_cart`]), the order placed
//! and its hosted checkout opened ([`place_order`]), and the receipt its success page shows
//! ([`receipt`]) to whoever holds the link the checkout returned to.
//!
//! Every guest checkout makes a customer of its own: an address typed into a shop never picks
//! up the prices another customer of that address negotiated, nor sees their orders.

use bursar_domain::commerce::{Order, OrderStatus, PricedLine, ProductKind, Totals};
use bursar_domain::customer::{CustomerName, Email, NewCustomer};
use bursar_domain::event::Cause;
use bursar_domain::fulfillment::License;
use bursar_domain::metadata::Metadata;
use bursar_domain::storefront::Cart;
use bursar_store::documents::ORDER;
use sha2::{Digest, Sha256};

use crate::checkouts::{record_checkout, start_checkout};
use crate::error::{Error, ErrorKind};
use crate::orders::NewOrder;
use crate::quotes::price_lines;
use crate::storefront::{self, Shop};
use crate::write::IdempotencyKey;
use crate::App;

/// A cart priced for a guest of the shop.
#[derive(Debug, Clone)]
pub struct PricedCart {
    /// The cart as priced: products the shop no longer sells are left out.
    pub cart: Cart,
    pub lines: Vec<PricedLine>,
    pub totals: Totals,
    /// Why the cart's promotion code was not applied, if it was not.
    pub code_error: Option<String>,
}

/// Prices `cart` as the shop's guests pay: default prices in the shop's currency, the
/// promotion code's discount when it applies (when it does not, the cart is priced without it
/// and [`PricedCart::code_error`] says why).
pub async fn price_cart(app: &App, shop: &Shop, cart: &Cart) -> Result<PricedCart, Error> {
    let mut cart = sold_lines(app, shop, cart).await?;
    if cart.is_empty() {
        return Ok(PricedCart {
            cart,
            lines: Vec::new(),
            totals: Totals {
                subtotal: 0,
                discount: 0,
                total: 0,
            },
            code_error: None,
        });
    }
    match price_as_guest(app, shop, &cart).await {
        Ok(priced) => Ok(priced),
        Err(error) if error.param.as_deref() == Some("promotion_code") => {
            cart.promotion_code = None;
            let mut priced = price_as_guest(app, shop, &cart).await?;
            priced.code_error = Some(error.message);
            Ok(priced)
        }
        Err(error) => Err(error),
    }
}

/// `cart` without the products the shop does not sell (any more).
async fn sold_lines(app: &App, shop: &Shop, cart: &Cart) -> Result<Cart, Error> {
    let mut sold = Cart {
        lines: Vec::with_capacity(cart.lines.len()),
        promotion_code: cart.promotion_code.clone(),
    };
    for (product, quantity) in &cart.lines {
        if storefront::item(app, shop, product.as_str())
            .await?
            .is_some()
        {
            sold.lines.push((product.clone(), *quantity));
        }
    }
    Ok(sold)
}

async fn price_as_guest(app: &App, shop: &Shop, cart: &Cart) -> Result<PricedCart, Error> {
    let (workspace_id, currency, at) =
        (shop.workspace_id.clone(), shop.settings.currency, app.now());
    let lines = cart.lines.clone();
    let code = cart.promotion_code.clone();
    let priced = app
        .db
        .read(move |tx: &mut bursar_store::Tx| {
            Box::pin(async move {
                price_lines(
                    tx,
                    &workspace_id,
                    None,
                    None,
                    currency,
                    &lines,
                    code.as_deref(),
                    at,
                )
                .await
            })
        })
        .await?;
    Ok(PricedCart {
        cart: cart.clone(),
        lines: priced.lines,
        totals: priced.totals,
        code_error: None,
    })
}

/// Who is buying, as the checkout form gives it.
#[derive(Debug, Clone)]
pub struct Buyer {
    pub email: Email,
    pub name: Option<CustomerName>,
    pub company: Option<String>,
    pub vat_id: Option<String>,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
}

/// Where a placed order's buyer goes next.
#[derive(Debug, Clone)]
pub struct PlacedOrder {
    pub order: Order,
    /// The provider's hosted payment page.
    pub checkout_url: String,
}

/// The shop's pages a checkout returns to: `shop_url` is the shop's own address
/// (`https://…/shop/{handle}`), `base_url` the server's (for the test provider's pages).
#[derive(Debug, Clone)]
pub struct ShopUrls {
    pub base_url: String,
    pub shop_url: String,
}

/// The browser a checkout comes from, as the velocity limits count it.
#[derive(Debug, Clone)]
pub struct Client {
    /// The connection's address.
    pub address: String,
    /// The browser session's id.
    pub session: String,
    /// The challenge widget's token, when the shop asks for one.
    pub challenge_token: Option<String>,
}

/// Admits a checkout of `client` for `email`: it counts against the client's
/// [velocity limits](crate::velocity), then passes the shop's [challenge](crate::challenge).
pub(crate) async fn admit_checkout(
    app: &App,
    shop: &Shop,
    client: &Client,
    email: &str,
) -> Result<(), Error> {
    let attempt = crate::velocity::Attempt {
        workspace_id: &shop.workspace_id,
        address: &client.address,
        session: &client.session,
        email,
    };
    crate::velocity::admit_checkout(app, &attempt).await?;
    let token = client.challenge_token.as_deref();
    let action = crate::challenge::CHECKOUT;
    crate::challenge::verify(app, shop, action, token, &client.address).await
}

/// Places the order of `cart` for `buyer` and opens its hosted checkout at the workspace's
/// provider. `form_key` is the checkout form's idempotency key: a form sent twice places one
/// order (and opens its checkout again only if the first one could not be opened). Each
/// attempt counts against the client's [velocity limits](crate::velocity) first.
pub async fn place_order(
    app: &App,
    shop: &Shop,
    (cart, buyer): (&Cart, Buyer),
    client: &Client,
    urls: &ShopUrls,
    form_key: &str,
) -> Result<PlacedOrder, Error> {
    let priced = price_cart(app, shop, cart).await?;
    if priced.cart.is_empty() {
        return Err(Error::invalid(
            "cart_empty",
            Some("cart".into()),
            "The cart is empty: add a product first.",
        ));
    }
    admit_checkout(app, shop, client, buyer.email.as_str()).await?;
    let order = create_order(app, shop, &priced.cart, buyer, form_key).await?;
    if let (OrderStatus::CheckoutOpen, Some(checkout)) = (order.status, &order.checkout) {
        let checkout_url = checkout.url.clone();
        return Ok(PlacedOrder {
            order,
            checkout_url,
        });
    }
    open_hosted_checkout(app, shop, order, urls).await
}

/// The order's success page (its receipt link, with the key).
pub fn receipt_url(app: &App, urls: &ShopUrls, order: &Order) -> Result<String, Error> {
    Ok(format!(
        "{}/orders/{}?key={}",
        urls.shop_url,
        order.id,
        receipt_key(app, order.id.as_str())?
    ))
}

/// Opens `order`'s hosted checkout at the shop's payment provider (the workspace's test
/// provider when it names none), returning to its success page
/// (or, given up, to the cart), and records it on the order.
pub async fn open_hosted_checkout(
    app: &App,
    shop: &Shop,
    order: Order,
    urls: &ShopUrls,
) -> Result<PlacedOrder, Error> {
    let receipt = receipt_url(app, urls, &order)?;
    let cancel = format!("{}/cart?canceled={}", urls.shop_url, order.id);
    let started = start_checkout(
        app,
        &shop.workspace_id,
        order.id.as_str(),
        shop.settings.payment_provider.as_deref(),
        &urls.base_url,
        (receipt, cancel),
        false,
    )
    .await?;
    let id = order.id.to_string();
    let order = app
        .write(shop.workspace_id.clone(), shop_cause(), move |mut cx| {
            Box::pin(async move { record_checkout(&mut cx, &id, started).await })
        })
        .await?;
    let checkout_url = order
        .checkout
        .as_ref()
        .map(|c| c.url.clone())
        .unwrap_or_default();
    Ok(PlacedOrder {
        order,
        checkout_url,
    })
}

/// What the shop's events say caused them.
pub(crate) fn shop_cause() -> Cause {
    Cause {
        request_id: None,
        actor: Some("storefront".into()),
    }
}

/// The guest customer and the draft order, once per form key.
async fn create_order(
    app: &App,
    shop: &Shop,
    cart: &Cart,
    buyer: Buyer,
    form_key: &str,
) -> Result<Order, Error> {
    let fingerprint = hex::encode(Sha256::digest(
        format!(
            "{}|{}|{}",
            cart.encode(),
            buyer.email.as_str(),
            buyer.country
        )
        .as_bytes(),
    ));
    let idempotency = IdempotencyKey {
        key: format!("shop-checkout:{form_key}"),
        fingerprint,
    };
    let new_customer = NewCustomer {
        email: Some(buyer.email.clone()),
        name: buyer.name.clone(),
        metadata: buyer_metadata(&buyer)?,
        company_id: None,
        price_book_id: None,
    };
    let (currency, lines, code) = (
        shop.settings.currency,
        cart.lines.clone(),
        cart.promotion_code.clone(),
    );
    let reply = app
        .write_once(
            shop.workspace_id.clone(),
            shop_cause(),
            Some(idempotency),
            move |mut cx| {
                Box::pin(async move {
                    let customer = crate::customers::create(&mut cx, new_customer).await?;
                    let new_order = NewOrder {
                        customer_id: customer.id,
                        currency,
                        lines,
                        promotion_code: code,
                        metadata: Metadata::default(),
                    };
                    let order = crate::orders::create(&mut cx, new_order).await?;
                    Ok::<_, Error>((200, order))
                })
            },
        )
        .await?;
    let placed: Order = serde_json::from_str(&reply.body).map_err(|e| {
        tracing::error!(error = %e, "BUG: a placed order's reply did not decode");
        Error::internal()
    })?;
    if !reply.replayed {
        return Ok(placed);
    }
    // A form sent again: the order as it is now (its checkout may have opened since).
    crate::lookup::get(
        app,
        &shop.workspace_id,
        ORDER,
        "order",
        placed.id.to_string(),
    )
    .await
}

fn buyer_metadata(buyer: &Buyer) -> Result<Metadata, Error> {
    let mut entries = std::collections::BTreeMap::new();
    entries.insert("source".to_owned(), "storefront".to_owned());
    entries.insert("billing_country".to_owned(), buyer.country.clone());
    if let Some(company) = &buyer.company {
        entries.insert("company".to_owned(), company.clone());
    }
    if let Some(vat_id) = &buyer.vat_id {
        entries.insert("vat_id".to_owned(), vat_id.clone());
    }
    Ok(Metadata::parse(entries)?)
}

/// The key of an order's receipt link: only this server can make it, so the link is the
/// proof of being the buyer (as a payment provider's receipt link is).
pub fn receipt_key(app: &App, order_id: &str) -> Result<String, Error> {
    let sealer = app.db.sealer()?;
    Ok(hex::encode(
        &sealer.keyed_hash("shop-receipt", order_id.as_bytes())[..16],
    ))
}

/// What a paid order's success page shows.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub order: Order,
    /// Where the receipt and the keys were also emailed.
    pub email: Option<String>,
    /// The order's licenses, each with its key the one time it is shown.
    pub licenses: Vec<(License, Option<String>)>,
    /// The order is paid and its digital lines are being delivered (for at most
    /// [`DELIVERY_WAIT_SECONDS`] after the order last changed): its keys are coming.
    pub delivering: bool,
}

/// How long a success page waits for a paid order's digital delivery before it stops saying
/// it is coming.
pub const DELIVERY_WAIT_SECONDS: i64 = 120;

/// The receipt of order `order_id` of `shop`, for the holder of its receipt link (`key`):
/// `None` when the key is wrong or the order is not the shop's. The licenses of a paid order
/// are shown with their keys the first time.
pub async fn receipt(
    app: &App,
    shop: &Shop,
    order_id: &str,
    key: &str,
) -> Result<Option<Receipt>, Error> {
    let expected = receipt_key(app, order_id)?;
    if !constant_time_eq(expected.as_bytes(), key.as_bytes()) {
        return Ok(None);
    }
    let order: Order = match crate::lookup::get(
        app,
        &shop.workspace_id,
        ORDER,
        "order",
        order_id.to_owned(),
    )
    .await
    {
        Ok(order) => order,
        Err(error) if error.kind == ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let paid = matches!(
        order.status,
        OrderStatus::Paid | OrderStatus::Fulfilled | OrderStatus::PartiallyRefunded
    );
    let licenses = if paid {
        crate::licenses::reveal_order_licenses(app, &shop.workspace_id, order.id.to_string(), true)
            .await?
    } else {
        Vec::new()
    };
    let (workspace_id, customer_id) = (shop.workspace_id.clone(), order.customer_id.clone());
    let customer = app
        .db
        .read(move |tx: &mut bursar_store::Tx| {
            Box::pin(async move {
                bursar_store::customers::get(tx, &workspace_id, &customer_id, false).await
            })
        })
        .await?;
    let email = customer.and_then(|c| c.email.map(|e| e.as_str().to_owned()));
    let recent = app.now().unix_micros() - order.updated_at.unix_micros()
        < DELIVERY_WAIT_SECONDS * 1_000_000;
    let delivering = order.status == OrderStatus::Paid
        && licenses.is_empty()
        && recent
        && order
            .lines
            .iter()
            .any(|line| line.product_kind == ProductKind::Digital);
    Ok(Some(Receipt {
        order,
        email,
        licenses,
        delivering,
    }))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}
