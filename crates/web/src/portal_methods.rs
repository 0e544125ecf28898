//! The portal's saved cards: make one the default (two-click checkouts charge it) or remove
//! one (detached at the provider, then forgotten). Each form is a core operation; these
//! handlers only read the form's path and answer with a redirect to the account. The return
//! from the provider's page that saved a method completes a PayPal approval.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use bursar_core::portal_setup::finish_card_setup;
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

#[derive(Debug, Default, serde::Deserialize)]
pub struct SetupReturn {
    /// PayPal's approved setup token, on the return from its page.
    approval_token_id: Option<String>,
}

/// Back from the provider's page where a payment method was saved (or not): a PayPal approval
/// is completed here; Stripe and the test provider report theirs by webhook. Then to the
/// account's payment methods.
pub async fn setup_return(
    State(app): State<App>,
    Path(handle): Path<String>,
    Query(query): Query<SetupReturn>,
    headers: HeaderMap,
) -> Response {
    let (portal, signed_in) = match PortalVisit::signed_in_get(&app, &handle, &headers).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if let Some(approval) = query.approval_token_id.filter(|a| !a.is_empty()) {
        let whom = (&portal.visit.shop, &signed_in);
        let base = portal.visit.base_url.clone();
        if let Err(error) = finish_card_setup(&app, whom, &approval, &base).await {
            return error_page(&error);
        }
    }
    see_other(&format!("{}#payment-methods", portal.path()), None)
}
