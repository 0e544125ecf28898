//! The cart: shown priced as the shop's guests pay, and changed by form posts that keep it in
//! the visitor's cookie (adding a product, setting a quantity, a promotion code).

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bursar_core::shop_checkout::{price_cart, PricedCart};
use bursar_core::App;
use bursar_domain::id::ProductId;
use bursar_domain::storefront::Cart;
use serde::Deserialize;

use crate::frame::{error_page, see_other, Frame, Visit};
use crate::session::set_cart;

/// A line of the cart as its page shows it.
pub struct LineView {
    pub product_id: String,
    pub name: String,
    pub quantity: i64,
    pub unit: String,
    pub amount: String,
    pub discount: Option<String>,
    pub total: String,
}

/// A priced cart as pages show it (the cart and the checkout page).
pub struct CartView {
    pub lines: Vec<LineView>,
    pub subtotal: String,
    pub discount: Option<String>,
    pub total: String,
    pub code: Option<String>,
    pub code_error: Option<String>,
}

impl CartView {
    pub fn of(visit: &Visit, priced: &PricedCart) -> CartView {
        let discount = |amount: i64| (amount != 0).then(|| visit.money(amount));
        CartView {
            lines: priced
                .lines
                .iter()
                .map(|line| LineView {
                    product_id: line.product_id.to_string(),
                    name: line.product_name.clone(),
                    quantity: line.quantity,
                    unit: visit.money(line.unit_amount),
                    amount: visit.money(line.amount),
                    discount: discount(line.discount_amount),
                    total: visit.money(line.total),
                })
                .collect(),
            subtotal: visit.money(priced.totals.subtotal),
            discount: discount(priced.totals.discount),
            total: visit.money(priced.totals.total),
            code: priced.cart.promotion_code.clone(),
            code_error: priced.code_error.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "shop/cart.html")]
struct CartPage {
    frame: Frame,
    cart: CartView,
    /// The visitor came back from a checkout they left.
    canceled: bool,
    /// Why the last change was refused.
    notice: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CartQuery {
    canceled: Option<String>,
}

pub async fn show(
    State(app): State<App>,
    Path(handle): Path<String>,
    Query(query): Query<CartQuery>,
    headers: HeaderMap,
) -> Response {
    let visit = match Visit::open(&app, &handle, &headers).await {
        Ok(visit) => visit,
        Err(page) => return page,
    };
    render_cart(&visit, query.canceled.is_some(), None, StatusCode::OK).await
}

async fn render_cart(
    visit: &Visit,
    canceled: bool,
    notice: Option<String>,
    status: StatusCode,
) -> Response {
    let priced = match price_cart(&visit.app, &visit.shop, &visit.cart).await {
        Ok(priced) => priced,
        Err(error) => return error_page(&error),
    };
    let page = CartPage {
        frame: visit.frame(visit.tr.t("cart-title")),
        cart: CartView::of(visit, &priced),
        canceled,
        notice,
    };
    visit.respond(status, &page)
}

#[derive(Debug, Deserialize)]
struct LineForm {
    product_id: String,
    quantity: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CodeForm {
    promotion_code: String,
}

/// Adds the form's product (and quantity, default 1) to the cart.
pub async fn add(
    State(app): State<App>,
    Path(handle): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    change_line(app, handle, headers, body, |cart, product, quantity| {
        cart.add(product, quantity.unwrap_or(1))
    })
    .await
}

/// Sets the quantity of the form's product (0 removes it).
pub async fn update(
    State(app): State<App>,
    Path(handle): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    change_line(app, handle, headers, body, |cart, product, quantity| {
        cart.set(product, quantity.unwrap_or(0))
    })
    .await
}

type LineChange =
    fn(&mut Cart, ProductId, Option<i64>) -> Result<(), bursar_domain::ValidationError>;

async fn change_line(
    app: App,
    handle: String,
    headers: HeaderMap,
    body: Bytes,
    change: LineChange,
) -> Response {
    let mut visit = match Visit::posted(&app, &handle, &headers, &body).await {
        Ok(visit) => visit,
        Err(page) => return page,
    };
    let Ok(form) = serde_urlencoded::from_bytes::<LineForm>(&body) else {
        return refused(&visit, &visit.tr.t("form-incomplete")).await;
    };
    let quantity = match form.quantity.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => match text.parse::<i64>() {
            Ok(quantity) => Some(quantity),
            Err(_) => return refused(&visit, &visit.tr.t("quantity-not-number")).await,
        },
    };
    let product = match bursar_core::storefront::item(&app, &visit.shop, &form.product_id).await {
        Ok(Some(item)) => item.product.id,
        Ok(None) => return refused(&visit, &visit.tr.t("product-gone")).await,
        Err(error) => return error_page(&error),
    };
    if let Err(error) = change(&mut visit.cart, product, quantity) {
        return refused(
            &visit,
            &visit
                .tr
                .refusal(error.code, Some(&error.param), None, &error.message),
        )
        .await;
    }
    saved(&visit)
}

/// Keeps the form's promotion code for the cart (an empty one removes it).
pub async fn code(
    State(app): State<App>,
    Path(handle): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut visit = match Visit::posted(&app, &handle, &headers, &body).await {
        Ok(visit) => visit,
        Err(page) => return page,
    };
    let Ok(form) = serde_urlencoded::from_bytes::<CodeForm>(&body) else {
        return refused(&visit, &visit.tr.t("form-incomplete")).await;
    };
    if let Err(error) = visit.cart.set_code(&form.promotion_code) {
        return refused(
            &visit,
            &visit
                .tr
                .refusal(error.code, Some(&error.param), None, &error.message),
        )
        .await;
    }
    saved(&visit)
}

/// The cart page again, saying why a change was refused (nothing changed).
async fn refused(visit: &Visit, why: &str) -> Response {
    render_cart(visit, false, Some(why.to_owned()), StatusCode::BAD_REQUEST).await
}

/// Back to the cart, the changed cart in its cookie.
fn saved(visit: &Visit) -> Response {
    let cookie = set_cart(&visit.cart, &visit.shop_path, visit.secure());
    see_other(&format!("{}/cart", visit.shop_path), cookie)
}
