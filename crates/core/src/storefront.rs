//! The storefront: a workspace's public shop. Its settings ([`update`]), the shop a handle
//! opens ([`open_shop`]) and what it sells ([`catalog`], [`item`]): active products with an
//! active one-time default price in the shop's currency.

use bursar_domain::auth::WorkspaceMode;
use bursar_domain::commerce::parse_text;
use bursar_domain::commerce::{CatalogStatus, Price, PriceType, Product};
use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::id::{ProductId, WorkspaceId};
use bursar_domain::money::Currency;
use bursar_domain::page::{Cursor, PageRequest};
use bursar_domain::storefront::{ChallengeSettings, ShopPages, StorefrontSettings};
use bursar_domain::ValidationError;
use bursar_store::documents::{self, PRICE, PRODUCT};
use bursar_store::{storefront, StoreError, Tx};
use serde_json::json;

use crate::error::{Error, ErrorKind};
use crate::write::Context;
use crate::App;

/// Products a shop lists at most (the newest first).
pub const CATALOG_MAX: u32 = 200;

/// Changes to the settings; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct StorefrontUpdate {
    /// Required the first time.
    pub handle: Option<String>,
    pub published: Option<bool>,
    pub name: Option<String>,
    pub currency: Option<Currency>,
    pub brand_color: Option<String>,
    /// `Some(None)` removes it.
    pub support_email: Option<Option<String>>,
    pub pages: Option<ShopPages>,
    /// `Some(None)` returns to the test provider.
    pub payment_provider: Option<Option<String>>,
    /// Replaces the plans subscribers may switch between (each a product of the workspace).
    pub plans: Option<Vec<String>>,
    /// Sets the challenge before checkouts and card saving (checked by [`check_challenge`]);
    /// `Some(None)` removes it.
    pub challenge: Option<Option<NewChallenge>>,
}

/// A challenge provider asked for, as given: `turnstile`, its site key and secret key, and an
/// API base for a local stand-in.
#[derive(Debug, Clone)]
pub struct ChallengeRequest {
    pub provider: String,
    pub site_key: String,
    pub secret_key: String,
    pub api_base: Option<String>,
}

/// A challenge checked, its secret sealed: ready to store.
#[derive(Debug, Clone)]
pub struct NewChallenge {
    pub settings: ChallengeSettings,
    pub sealed_secret: String,
}

/// Checks a challenge asked for (the provider is `turnstile`, the keys are plain text of
/// sensible length, an API base passes the outbound checks) and seals its secret.
pub async fn check_challenge(
    guard: &bursar_outbound::Guard,
    sealer: &bursar_store::seal::Sealer,
    request: ChallengeRequest,
) -> Result<NewChallenge, Error> {
    if request.provider != "turnstile" {
        return Err(ValidationError::invalid(
            "challenge.provider",
            "challenge.provider must be turnstile.",
        )
        .into());
    }
    let site_key = parse_text(&request.site_key, "challenge.site_key", 200)?;
    let secret_key = parse_text(&request.secret_key, "challenge.secret_key", 200)?;
    if let Some(url) = &request.api_base {
        crate::providers::check_api_base(guard, url)
            .await
            .map_err(|e| e.with_param("challenge.api_base"))?;
    }
    Ok(NewChallenge {
        settings: ChallengeSettings {
            provider: request.provider,
            site_key,
            secret_key_last4: crate::providers::last4(&secret_key),
            api_base: request.api_base,
        },
        sealed_secret: sealer.seal(&secret_key)?,
    })
}

/// The workspace's storefront settings, if it has a storefront.
pub async fn load(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
) -> Result<Option<StorefrontSettings>, StoreError> {
    storefront::get(tx, workspace_id)
        .await?
        .map(|body| decode(&body))
        .transpose()
}

fn decode(body: &str) -> Result<StorefrontSettings, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt(format!("storefront: {e}")))
}

/// Applies `update` to the workspace's storefront (creating it: a handle is then required) and
/// records `storefront.updated`. A handle another workspace's shop has is refused.
pub async fn update(
    cx: &mut Context<'_>,
    update: StorefrontUpdate,
) -> Result<StorefrontSettings, Error> {
    let previous = load(cx.tx, cx.workspace_id).await?;
    let mut settings = match (&previous, &update.handle, update.currency) {
        (Some(settings), _, _) => settings.clone(),
        (None, Some(handle), Some(currency)) => new_settings(handle.clone(), currency, cx.now),
        (None, None, _) => return Err(missing("handle", "its address is /shop/{handle}")),
        (None, _, None) => return Err(missing("currency", "the currency it sells in")),
    };
    if let Some(handle) = &update.handle {
        if let Some((owner, _)) = storefront::by_handle(cx.tx, handle).await? {
            if &owner != cx.workspace_id {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    "handle_taken",
                    format!("Another shop already has the handle '{handle}'."),
                )
                .with_param("handle"));
            }
        }
    }
    if let Some(Some(provider)) = &update.payment_provider {
        let found = bursar_store::payment_providers::provider_by_id(cx.tx, provider).await?;
        if found.is_none_or(|row| &row.workspace_id != cx.workspace_id) {
            return Err(
                Error::not_found("payment_provider", provider).with_param("payment_provider")
            );
        }
    }
    if let Some(plans) = &update.plans {
        for (i, plan) in plans.iter().enumerate() {
            let found: Option<serde_json::Value> =
                documents::get(cx.tx, PRODUCT, cx.workspace_id, plan, false).await?;
            if found.is_none() {
                return Err(Error::not_found("product", plan).with_param(format!("plans[{i}]")));
            }
        }
    }
    let sealed_secret = update
        .challenge
        .as_ref()
        .map(|c| c.as_ref().map(|c| c.sealed_secret.clone()));
    apply(&mut settings, update);
    settings.updated_at = cx.now;
    let body = serde_json::to_string(&settings).unwrap_or_default();
    storefront::save(cx.tx, cx.workspace_id, &settings.handle, &body).await?;
    if let Some(sealed) = sealed_secret {
        storefront::set_challenge_secret(cx.tx, cx.workspace_id, sealed.as_deref()).await?;
    }
    let workspace = cx.workspace_id.to_string();
    cx.emit(NewEvent::new(
        event_type::STOREFRONT_UPDATED,
        "storefront",
        &workspace,
        json!({ "object": settings, "previous_attributes": previous }),
    ))
    .await?;
    Ok(settings)
}

fn missing(param: &str, what: &str) -> Error {
    Error::invalid(
        "parameter_missing",
        Some(param.into()),
        format!("A new storefront needs {param}: {what}."),
    )
}

fn new_settings(
    handle: String,
    currency: Currency,
    now: bursar_domain::time::Timestamp,
) -> StorefrontSettings {
    StorefrontSettings {
        object: "storefront".into(),
        name: handle.clone(),
        handle,
        published: false,
        currency,
        brand_color: "#1f4e79".into(),
        support_email: None,
        pages: ShopPages::default(),
        payment_provider: None,
        plans: Vec::new(),
        challenge: None,
        updated_at: now,
    }
}

fn apply(settings: &mut StorefrontSettings, update: StorefrontUpdate) {
    let StorefrontUpdate {
        handle,
        published,
        name,
        currency,
        brand_color,
        support_email,
        pages,
        payment_provider,
        plans,
        challenge,
    } = update;
    if let Some(challenge) = challenge {
        settings.challenge = challenge.map(|c| c.settings);
    }
    if let Some(plans) = plans {
        settings.plans = plans;
    }
    if let Some(handle) = handle {
        settings.handle = handle;
    }
    if let Some(published) = published {
        settings.published = published;
    }
    if let Some(name) = name {
        settings.name = name;
    }
    if let Some(currency) = currency {
        settings.currency = currency;
    }
    if let Some(color) = brand_color {
        settings.brand_color = color;
    }
    if let Some(email) = support_email {
        settings.support_email = email;
    }
    if let Some(pages) = pages {
        settings.pages = pages;
    }
    if let Some(provider) = payment_provider {
        settings.payment_provider = provider;
    }
}

/// A published shop, as a visitor reaches it.
#[derive(Debug, Clone)]
pub struct Shop {
    pub workspace_id: WorkspaceId,
    pub settings: StorefrontSettings,
    /// Whether the workspace is live (real money) or a sandbox.
    pub live: bool,
}

/// The published shop with `handle`; `None` when there is none or it is not published.
pub async fn open_shop(app: &App, handle: &str) -> Result<Option<Shop>, Error> {
    let handle = handle.to_owned();
    let found = app
        .db
        .read(move |tx: &mut Tx| Box::pin(async move { storefront::by_handle(tx, &handle).await }))
        .await?;
    let Some((workspace_id, body)) = found else {
        return Ok(None);
    };
    let settings = decode(&body)?;
    if !settings.published {
        return Ok(None);
    }
    let live = app.workspace_mode(&workspace_id).await? == WorkspaceMode::Live;
    Ok(Some(Shop {
        workspace_id,
        settings,
        live,
    }))
}

/// A product a shop sells, at its price in the shop's currency.
#[derive(Debug, Clone)]
pub struct ShopItem {
    pub product: Product,
    pub price: Price,
}

/// What `shop` sells, newest first: at most [`CATALOG_MAX`] products.
pub async fn catalog(app: &App, shop: &Shop) -> Result<Vec<ShopItem>, Error> {
    let (workspace_id, currency) = (shop.workspace_id.clone(), shop.settings.currency);
    let items = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let page = PageRequest {
                    limit: CATALOG_MAX,
                    cursor: Cursor::First,
                };
                let products = documents::list::<Product>(tx, PRODUCT, &workspace_id, &page, None)
                    .await?
                    .data;
                priced_items(tx, &workspace_id, currency, products).await
            })
        })
        .await?;
    Ok(items)
}

/// Product `id` of `shop`, if the shop sells it.
pub async fn item(app: &App, shop: &Shop, id: &str) -> Result<Option<ShopItem>, Error> {
    let Ok(id) = ProductId::parse(id, "id") else {
        return Ok(None);
    };
    let (workspace_id, currency) = (shop.workspace_id.clone(), shop.settings.currency);
    let items = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let products: Vec<Product> =
                    documents::get(tx, PRODUCT, &workspace_id, id.as_str(), false)
                        .await?
                        .into_iter()
                        .collect();
                priced_items(tx, &workspace_id, currency, products).await
            })
        })
        .await?;
    Ok(items.into_iter().next())
}

/// The products among `products` a shop sells: active, with an active one-time default price
/// in `currency` (the newest such price).
async fn priced_items(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    currency: Currency,
    products: Vec<Product>,
) -> Result<Vec<ShopItem>, StoreError> {
    let products: Vec<Product> = products
        .into_iter()
        .filter(|p| p.status == CatalogStatus::Active)
        .collect();
    let ids: Vec<&str> = products.iter().map(|p| p.id.as_str()).collect();
    let prices: Vec<Price> =
        documents::find_in(tx, PRICE, workspace_id, "product_id", &ids).await?;
    Ok(products
        .into_iter()
        .filter_map(|product| {
            let price = prices
                .iter()
                .filter(|p| p.product_id == product.id && sellable(p, currency))
                .max_by(|a, b| a.created_at.cmp(&b.created_at))?
                .clone();
            Some(ShopItem { product, price })
        })
        .collect())
}

fn sellable(price: &Price, currency: Currency) -> bool {
    price.active
        && price.price_book_id.is_none()
        && price.price_type == PriceType::OneTime
        && price.currency == currency
}
