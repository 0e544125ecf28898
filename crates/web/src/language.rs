//! The language switcher's target: `/language/{code}?back=…` keeps the visitor's choice in a
//! cookie and returns to the page it was used on (only ever a shop or portal page of this
//! server).

use axum::http::header;

use crate::i18n::{Lang, LANG_COOKIE};

/// The switcher's target: `/language/{code}?back=/shop/…` keeps the choice in a cookie and
/// returns to `back` (a page of this server's shops or portals; else the server's root).
pub async fn choose(
    axum::extract::Path(code): axum::extract::Path<String>,
    axum::extract::Query(query): axum::extract::Query<BackQuery>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Some(lang) = Lang::from_code(&code) else {
        return crate::frame::not_found();
    };
    let back = query
        .back
        .filter(|back| is_local_page(back))
        .unwrap_or_else(|| "/".to_owned());
    let cookie = format!(
        "{LANG_COOKIE}={}; Max-Age=31536000; Path=/; HttpOnly; SameSite=Lax",
        lang.code()
    );
    let mut response = (
        axum::http::StatusCode::SEE_OTHER,
        [(header::LOCATION, back)],
    )
        .into_response();
    if let Ok(value) = axum::http::HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[derive(Debug, serde::Deserialize)]
pub struct BackQuery {
    back: Option<String>,
}

/// Whether `path` is a page of a shop or a portal on this server (never another site).
fn is_local_page(path: &str) -> bool {
    (path.starts_with("/shop/") || path.starts_with("/portal/"))
        && !path.contains("//")
        && !path.contains('\\')
        && path.len() <= 500
        && path.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switcher_returns_only_to_local_pages() {
        assert!(is_local_page("/shop/acme/cart"));
        assert!(is_local_page("/portal/acme?paid=in_1"));
        for bad in [
            "https://evil.example/",
            "//evil.example/shop/",
            "/shop//evil",
            "/admin",
            "/shop/a b",
        ] {
            assert!(!is_local_page(bad), "{bad}");
        }
    }
}
