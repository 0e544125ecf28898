//! The shop's browsing pages: the catalog, a product, the shop's own pages and its theme.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bursar_core::storefront::{catalog as shop_catalog, item, ShopItem};
use bursar_core::App;
use bursar_domain::commerce::{ProductKind, TaxBehavior};

use crate::frame::{error_page, not_found, page_title, Frame, Visit};

/// A product as the shop's pages show it.
pub struct ProductView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub price: String,
    /// "tax included" or "plus tax".
    pub tax_note: String,
    pub kind: String,
    /// For a licensed product: what its license allows.
    pub license_note: Option<String>,
}

impl ProductView {
    fn of(visit: &Visit, item: &ShopItem) -> ProductView {
        let product = &item.product;
        let tr = &visit.tr;
        ProductView {
            id: product.id.to_string(),
            name: product.name.clone(),
            description: product.description.clone().unwrap_or_default(),
            price: visit.money(item.price.unit_amount),
            tax_note: tr.t(match item.price.tax_behavior {
                TaxBehavior::Inclusive => "tax-included",
                TaxBehavior::Exclusive => "tax-excluded",
            }),
            kind: tr.t(match product.kind {
                ProductKind::Digital => "kind-digital",
                ProductKind::Physical => "kind-physical",
                ProductKind::Service => "kind-service",
            }),
            license_note: product
                .license
                .as_ref()
                .map(|policy| match policy.max_activations {
                    Some(1) => tr.t("license-one"),
                    Some(n) => tr.count("license-many", i64::from(n)),
                    None => tr.t("license-any"),
                }),
        }
    }
}

#[derive(Template)]
#[template(path = "shop/catalog.html")]
struct CatalogPage {
    frame: Frame,
    products: Vec<ProductView>,
}

pub async fn catalog(
    State(app): State<App>,
    Path(handle): Path<String>,
    headers: HeaderMap,
) -> Response {
    let visit = match Visit::open(&app, &handle, &headers).await {
        Ok(visit) => visit,
        Err(page) => return page,
    };
    let items = match shop_catalog(&app, &visit.shop).await {
        Ok(items) => items,
        Err(error) => return error_page(&error),
    };
    let page = CatalogPage {
        frame: visit.frame(visit.shop.settings.name.clone()),
        products: items
            .iter()
            .map(|item| ProductView::of(&visit, item))
            .collect(),
    };
    visit.respond(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "shop/product.html")]
struct ProductPage {
    frame: Frame,
    product: ProductView,
    in_cart: i64,
}

pub async fn product(
    State(app): State<App>,
    Path((handle, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let visit = match Visit::open(&app, &handle, &headers).await {
        Ok(visit) => visit,
        Err(page) => return page,
    };
    let item = match item(&app, &visit.shop, &id).await {
        Ok(Some(item)) => item,
        Ok(None) => return not_found(),
        Err(error) => return error_page(&error),
    };
    let page = ProductPage {
        frame: visit.frame(item.product.name.clone()),
        in_cart: visit.cart.quantity_of(&item.product.id),
        product: ProductView::of(&visit, &item),
    };
    visit.respond(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "shop/page.html")]
struct TextPage {
    frame: Frame,
    /// The page's text, a paragraph per blank-line-separated block.
    paragraphs: Vec<String>,
}

pub async fn page(
    State(app): State<App>,
    Path((handle, slug)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let visit = match Visit::open(&app, &handle, &headers).await {
        Ok(visit) => visit,
        Err(page) => return page,
    };
    let Some(text) = visit.shop.settings.pages.page(&slug) else {
        return not_found();
    };
    let page = TextPage {
        frame: visit.frame(page_title(&slug)),
        paragraphs: paragraphs(text),
    };
    visit.respond(StatusCode::OK, &page)
}

/// `text`'s paragraphs: blocks separated by blank lines, trimmed.
fn paragraphs(text: &str) -> Vec<String> {
    text.replace("\r\n", "\n")
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The shop's brand colour as a stylesheet (pages allow no inline styles).
pub async fn theme(
    State(app): State<App>,
    Path(handle): Path<String>,
    headers: HeaderMap,
) -> Response {
    let visit = match Visit::open(&app, &handle, &headers).await {
        Ok(visit) => visit,
        Err(page) => return page,
    };
    // The colour was checked to be `#` and six hex digits when it was set.
    let css = format!(":root{{--brand:{}}}\n", visit.shop.settings.brand_color);
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        css,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_text_splits_into_paragraphs() {
        assert_eq!(
            paragraphs("One.\r\n\r\nTwo,\nstill two.\n\n\n  \nThree."),
            vec!["One.", "Two,\nstill two.", "Three."]
        );
    }
}
