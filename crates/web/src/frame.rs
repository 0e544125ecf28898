//! What every shop page starts from: the shop a handle opens, the visitor's session and cart,
//! and the frame (header, footer) around each page; and the pages that answer an error.

use askama::Template;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use bursar_core::storefront::{open_shop, Shop};
use bursar_core::{App, Error, ErrorKind};
use bursar_domain::money::Currency;
use bursar_domain::storefront::Cart;

use crate::i18n::{self, Tr};
use crate::session::{self, Session};

/// The CSRF token every form carries.
#[derive(Debug, serde::Deserialize)]
struct FormToken {
    csrf_token: Option<String>,
}

/// One request to a shop: the shop, the visitor's session and cart, and the addresses pages
/// link to.
pub struct Visit {
    pub app: App,
    pub shop: Shop,
    pub session: Session,
    pub cart: Cart,
    /// The server's public address (`http://host:port`).
    pub base_url: String,
    /// `/shop/{handle}`.
    pub shop_path: String,
    /// The visitor's language's messages.
    pub tr: Tr,
}

impl Visit {
    /// The visit of `handle`'s shop, or the page saying there is no such shop.
    pub async fn open(app: &App, handle: &str, headers: &HeaderMap) -> Result<Visit, Response> {
        let shop = match open_shop(app, handle).await {
            Ok(Some(shop)) => shop,
            Ok(None) => return Err(not_found()),
            Err(error) => return Err(error_page(&error)),
        };
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let shop_path = format!("/shop/{}", shop.settings.handle);
        Ok(Visit {
            app: app.clone(),
            session: Session::of(headers),
            cart: session::cart_of(headers),
            base_url: app.base_url(host),
            shop,
            shop_path,
            tr: i18n::current(),
        })
    }

    /// The visit of a form post, refused (with the page that says so) when the form's token is
    /// not this browser's or another site sent it.
    pub async fn posted(
        app: &App,
        handle: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Visit, Response> {
        let visit = Visit::open(app, handle, headers).await?;
        let token = serde_urlencoded::from_bytes::<FormToken>(body)
            .ok()
            .and_then(|form| form.csrf_token);
        if !session::form_is_ours(app, headers, token.as_deref(), &visit.base_url) {
            return Err(forged_form());
        }
        Ok(visit)
    }

    /// Whether the server is reached over HTTPS (its cookies are then `Secure`).
    pub fn secure(&self) -> bool {
        self.base_url.starts_with("https://")
    }

    /// The shop's absolute address, as a provider's page returns to it.
    pub fn shop_url(&self) -> String {
        format!("{}{}", self.base_url, self.shop_path)
    }

    /// The frame around a page of this visit.
    pub fn frame(&self, title: impl Into<String>) -> Frame {
        let settings = &self.shop.settings;
        Frame {
            title: title.into(),
            shop_name: settings.name.clone(),
            shop_path: self.shop_path.clone(),
            portal_path: format!("/portal/{}", settings.handle),
            live: self.shop.live,
            cart_count: self.cart.lines.iter().map(|(_, q)| q).sum(),
            pages: settings
                .pages
                .present()
                .into_iter()
                .map(|slug| (slug, page_title(slug)))
                .collect(),
            tr: self.tr,
            languages: i18n::switcher(),
            support_email: settings.support_email.clone(),
            token: self.session.form_token(&self.app),
            challenge: bursar_core::challenge::widget(&self.shop).map(|(widget, site_key)| {
                ChallengeWidget {
                    script: widget.script,
                    class: widget.class,
                    site_key,
                }
            }),
        }
    }

    /// `page` rendered as this visit's answer (setting the session cookie when it is new).
    pub fn respond(&self, status: StatusCode, page: &impl Template) -> Response {
        let mut response = render(status, page);
        if let Some(settings) = &self.shop.settings.challenge {
            // The challenge's widget is a script and a frame from the provider's origin.
            let origin = bursar_core::challenge::provider_of(settings)
                .widget()
                .origin;
            let policy = format!(
                "{}; script-src {origin}; frame-src {origin}",
                crate::page_policy(&self.app)
            );
            if let Ok(value) = HeaderValue::from_str(&policy) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_SECURITY_POLICY, value);
            }
        }
        if let Some(cookie) = self.session.set_cookie(self.secure()) {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        response
    }

    /// `amount` of the shop's currency, as its pages write money.
    pub fn money(&self, amount: i64) -> String {
        money(self.shop.settings.currency, amount)
    }
}

/// `amount` minor units of `currency`, as pages write it (`12.34 USD`).
pub fn money(currency: Currency, amount: i64) -> String {
    currency.format(amount)
}

/// The header and footer every shop page shares.
pub struct Frame {
    pub title: String,
    pub shop_name: String,
    pub shop_path: String,
    /// `/portal/{handle}`.
    pub portal_path: String,
    pub live: bool,
    pub cart_count: i64,
    /// The shop's pages that have text: (slug, title).
    pub pages: Vec<(&'static str, String)>,
    /// The visitor's language's messages.
    pub tr: Tr,
    /// The language switcher's links: (code, name, URL).
    pub languages: Vec<(&'static str, &'static str, String)>,
    pub support_email: Option<String>,
    /// The CSRF token of the page's forms.
    pub token: String,
    /// The shop's challenge widget, for the checkout and card forms.
    pub challenge: Option<ChallengeWidget>,
}

/// A challenge widget as a page draws it: its script (in the page's head, on the pages with a
/// form that needs it) and its element in the form.
pub struct ChallengeWidget {
    pub script: &'static str,
    pub class: &'static str,
    pub site_key: String,
}

/// The title of a shop page by its slug, in the visitor's language.
pub fn page_title(slug: &str) -> String {
    i18n::current().t(&format!("page-{slug}"))
}

/// A page rendered with `status`; a template that fails to render is a 500 (and logged).
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(error = %error, "BUG: a page template failed to render");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong.")
        }
    }
}

#[derive(Template)]
#[template(path = "shop/message.html")]
struct MessagePage<'a> {
    heading: &'a str,
    detail: &'a str,
    tr: Tr,
}

/// A bare page with a heading and a sentence, for answers outside any shop.
pub fn plain(status: StatusCode, heading: &str) -> Response {
    let page = MessagePage {
        heading,
        detail: "",
        tr: i18n::current(),
    };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(_) => (status, heading.to_owned()).into_response(),
    }
}

pub fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, &i18n::current().t("page-not-found"))
}

/// The page of a core error: its message for the visitor, its status by kind.
pub fn error_page(error: &Error) -> Response {
    let status = status_of(error.kind);
    if status.is_server_error() {
        tracing::error!(code = error.code, message = %error.message, "a shop page failed");
    }
    let tr = i18n::current();
    let failed = tr.t("something-went-wrong");
    let refused = refusal(&tr, error);
    let heading = if status.is_server_error() {
        failed.as_str()
    } else {
        refused.as_str()
    };
    let page = MessagePage {
        heading,
        detail: "",
        tr,
    };
    let mut response = render(status, &page);
    if error.kind == ErrorKind::RateLimited {
        let wait = bursar_core::velocity::WINDOW_SECONDS.to_string();
        if let Ok(value) = HeaderValue::from_str(&wait) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    response
}

/// A core refusal in the visitor's language ([`Tr::refusal`]).
pub fn refusal(tr: &Tr, error: &Error) -> String {
    tr.refusal(
        error.code,
        error.param.as_deref(),
        error.current_state.as_deref(),
        &error.message,
    )
}

/// The answer to a form posted without its page's token, or from another site.
pub fn forged_form() -> Response {
    let tr = i18n::current();
    let (heading, detail) = (tr.t("form-expired"), tr.t("form-expired-detail"));
    let page = MessagePage {
        heading: &heading,
        detail: &detail,
        tr,
    };
    render(StatusCode::FORBIDDEN, &page)
}

fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Invalid | ErrorKind::UnsupportedMediaType => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict | ErrorKind::State | ErrorKind::IdempotencyKeyReused => {
            StatusCode::CONFLICT
        }
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::ProviderFailed => StatusCode::BAD_GATEWAY,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A redirect after a form post (303: the browser follows it with a GET), with cookies.
pub fn see_other(location: &str, cookies: impl IntoIterator<Item = HeaderValue>) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}
