//! The portal's license forms: deactivate a machine, and replace a lost key (a new one is
//! emailed). Each is a core operation; these handlers only read the form and answer with a
//! redirect to the order's page.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use bursar_core::portal_licenses::{deactivate_machine, replace_key};
use bursar_core::App;
use serde::Deserialize;

use crate::frame::{error_page, not_found, see_other};
use crate::portal_visit::{bad_field, PortalVisit};

#[derive(Debug, Default, Deserialize)]
struct MachineForm {
    #[serde(default)]
    machine_id: String,
}

/// The order page of `license` (or the account when it came with no order), saying `what`.
fn back_to(
    portal: &PortalVisit,
    license: &bursar_domain::fulfillment::License,
    what: &str,
) -> Response {
    let to = match &license.order_id {
        Some(order) => format!("{}/orders/{order}?license={what}", portal.path()),
        None => portal.path(),
    };
    see_other(&to, None)
}

/// Frees a machine's activation of a license.
pub async fn deactivate(
    State(app): State<App>,
    Path((handle, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (portal, signed_in) =
        match PortalVisit::signed_in_post(&app, &handle, &headers, &body).await {
            Ok(found) => found,
            Err(page) => return page,
        };
    let form: MachineForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if form.machine_id.is_empty() {
        return bad_field(&portal, "machine_id");
    }
    let shop = &portal.visit.shop;
    match deactivate_machine(&app, shop, &signed_in, &id, &form.machine_id).await {
        Ok(Some(license)) => back_to(&portal, &license, "deactivated"),
        Ok(None) => not_found(),
        Err(error) => error_page(&error),
    }
}

/// Replaces a license's key; the new one is emailed.
pub async fn replace(
    State(app): State<App>,
    Path((handle, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (portal, signed_in) =
        match PortalVisit::signed_in_post(&app, &handle, &headers, &body).await {
            Ok(found) => found,
            Err(page) => return page,
        };
    match replace_key(&app, &portal.visit.shop, &signed_in, &id).await {
        Ok(Some(license)) => back_to(&portal, &license, "replaced"),
        Ok(None) => not_found(),
        Err(error) => error_page(&error),
    }
}
