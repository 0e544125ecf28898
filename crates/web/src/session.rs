//! A visitor's browser: its session cookie (which forms' CSRF tokens are bound to) and its
//! cart cookie, and the check every form post passes.
//!
//! The session cookie is a random value that names nothing stored: it only binds the token a
//! page's forms carry (a keyed hash under the server's sealing key), so a form posted without
//! the page — from another site, or by a script that never loaded it — is refused.

use axum::http::{header, HeaderMap, HeaderValue};
use bursar_core::App;
use bursar_domain::storefront::Cart;
use rand::RngCore;

/// The session cookie's name.
const SESSION_COOKIE: &str = "bursar_session";

/// The cart cookie's name (its path scopes it to one shop).
const CART_COOKIE: &str = "bursar_cart";

/// The client's address, from the connection (never from headers a client could forge);
/// `unknown` where the server was not started with connection info, so such requests share
/// one count in the velocity limits.
pub struct ClientAddress(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let address = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string());
        Ok(ClientAddress(address))
    }
}

/// The value of cookie `name` in a request's headers.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(name)?.strip_prefix('='))
}

/// A visitor's session: the cookie's value, and whether this response must set it.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub is_new: bool,
}

impl Session {
    /// The request's session, or a new one (32 random bytes, hex) when it has none.
    pub fn of(headers: &HeaderMap) -> Session {
        match cookie(headers, SESSION_COOKIE).filter(|id| is_session_id(id)) {
            Some(id) => Session {
                id: id.to_owned(),
                is_new: false,
            },
            None => {
                let mut bytes = [0u8; 32];
                rand::thread_rng().fill_bytes(&mut bytes);
                Session {
                    id: hex::encode(bytes),
                    is_new: true,
                }
            }
        }
    }

    /// The CSRF token this session's forms carry: only this server can make it.
    pub fn form_token(&self, app: &App) -> String {
        app.db
            .sealer()
            .map(|sealer| hex::encode(&sealer.keyed_hash("web-form", self.id.as_bytes())[..16]))
            .unwrap_or_default()
    }

    /// The `Set-Cookie` of a new session (none for one the browser already has).
    pub fn set_cookie(&self, secure: bool) -> Option<HeaderValue> {
        if !self.is_new {
            return None;
        }
        let attributes = cookie_attributes("/", secure);
        HeaderValue::from_str(&format!("{SESSION_COOKIE}={}; {attributes}", self.id)).ok()
    }
}

fn is_session_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The attributes of Bursar's cookies: never readable by scripts, not sent on other sites'
/// requests, `Secure` when the server is reached over HTTPS.
fn cookie_attributes(path: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("Path={path}; HttpOnly; SameSite=Lax{secure}")
}

/// The cart a request's cookie holds.
pub fn cart_of(headers: &HeaderMap) -> Cart {
    cookie(headers, CART_COOKIE)
        .map(Cart::decode)
        .unwrap_or_default()
}

/// The `Set-Cookie` keeping `cart` for the shop at `shop_path` (`/shop/{handle}`); an empty
/// cart deletes the cookie.
pub fn set_cart(cart: &Cart, shop_path: &str, secure: bool) -> Option<HeaderValue> {
    let attributes = cookie_attributes(shop_path, secure);
    let value = if cart.is_empty() && cart.promotion_code.is_none() {
        format!("{CART_COOKIE}=; Max-Age=0; {attributes}")
    } else {
        format!(
            "{CART_COOKIE}={}; Max-Age=2592000; {attributes}",
            cart.encode()
        )
    };
    HeaderValue::from_str(&value).ok()
}

/// Whether a form post came from this server's own page in this browser: its token matches
/// the session's, and neither `Origin` nor `Sec-Fetch-Site` says another site sent it.
pub fn form_is_ours(
    app: &App,
    headers: &HeaderMap,
    sent_token: Option<&str>,
    base_url: &str,
) -> bool {
    let Some(id) = cookie(headers, SESSION_COOKIE).filter(|id| is_session_id(id)) else {
        return false;
    };
    let session = Session {
        id: id.to_owned(),
        is_new: false,
    };
    let expected = session.form_token(app);
    let token_ok = sent_token.is_some_and(|sent| {
        !expected.is_empty() && constant_time_eq(sent.as_bytes(), expected.as_bytes())
    });
    let cross_site = headers
        .get("sec-fetch-site")
        .is_some_and(|site| site.as_bytes() == b"cross-site");
    let foreign_origin = headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .is_some_and(|origin| origin != origin_of(base_url));
    token_ok && !cross_site && !foreign_origin
}

/// The origin (`scheme://host[:port]`) of `url`, as browsers send it in `Origin`.
fn origin_of(url: &str) -> &str {
    let host_start = url.find("://").map_or(0, |i| i + 3);
    match url[host_start..].find('/') {
        Some(path) => &url[..host_start + path],
        None => url,
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookies: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(cookies).unwrap());
        headers
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let id = "a".repeat(64);
        let h = headers(&format!("bursar_session_x=1; bursar_session={id}; other=2"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some(id.as_str()));
        assert!(!Session::of(&h).is_new);
    }

    #[test]
    fn a_malformed_session_cookie_starts_a_new_session() {
        let session = Session::of(&headers("bursar_session=<script>"));
        assert!(session.is_new);
        assert!(is_session_id(&session.id));
        let cookie = session.set_cookie(true).unwrap();
        let cookie = cookie.to_str().unwrap();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
        assert!(cookie.ends_with("; Secure"));
    }

    #[test]
    fn an_emptied_cart_deletes_its_cookie() {
        let cookie = set_cart(&Cart::default(), "/shop/acme", false).unwrap();
        assert!(cookie
            .to_str()
            .unwrap()
            .contains("Max-Age=0; Path=/shop/acme"));
    }
}
