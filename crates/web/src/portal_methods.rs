//! The portal's saved cards: make one the default (two-click checkouts charge it) or remove
//! one (detached at the provider, then forgotten). Each form is a core operation; these
//! handlers only read the form's path and answer with a redirect to the account.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use bursar_core::portal_views::{change_method, MethodChange};
use bursar_core::App;

use crate::frame::{error_page, not_found, see_other};
use crate::portal_visit::PortalVisit;

async fn change(
    app: &App,
    (handle, id): (String, String),
    headers: &HeaderMap,
    body: &[u8],
    what: MethodChange,
) -> Response {
    let (portal, signed_in) = match PortalVisit::signed_in_post(app, &handle, headers, body).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let signed_in = &signed_in;
    match change_method(app, &portal.visit.shop, signed_in, &id, what).await {
        Ok(Some(())) => see_other(&format!("{}#payment-methods", portal.path()), None),
        Ok(None) => not_found(),
        Err(error) => error_page(&error),
    }
}

/// Makes a saved card the default.
pub async fn make_default(
    State(app): State<App>,
    Path(path): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    change(&app, path, &headers, &body, MethodChange::MakeDefault).await
}

/// Removes a saved card.
pub async fn remove(
    State(app): State<App>,
    Path(path): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    change(&app, path, &headers, &body, MethodChange::Remove).await
}
