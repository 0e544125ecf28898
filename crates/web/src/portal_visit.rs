//! A request to a shop's customer portal: the visit and, when the browser holds a live
//! session in the portal cookie (`bursar_portal_{handle}`, one per shop), the signed-in
//! visitor.

use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use bursar_core::portal::{session, Portal, SESSION_TTL_SECONDS};
use bursar_core::App;

use crate::frame::{error_page, see_other, Visit};
use crate::session::cookie;

/// The portal cookie's name: `bursar_portal_{handle}`, sent to every page of the server (the
/// shop's checkout offers a signed-in customer their saved card), one per shop.
fn portal_cookie(handle: &str) -> String {
    format!("bursar_portal_{handle}")
}

/// The signed-in portal visitor of `visit`'s shop, if the browser has a live session.
pub(crate) async fn signed_in(
    app: &App,
    visit: &Visit,
    headers: &HeaderMap,
) -> Result<Option<(String, Portal)>, Response> {
    let name = portal_cookie(&visit.shop.settings.handle);
    let Some(token) = cookie(headers, &name).filter(|t| t.len() == 64) else {
        return Ok(None);
    };
    match session(app, &visit.shop, token).await {
        Ok(found) => Ok(found.map(|portal| (token.to_owned(), portal))),
        Err(error) => Err(error_page(&error)),
    }
}

/// A request to a shop's portal: the visit, and the signed-in visitor if any.
pub(crate) struct PortalVisit {
    pub(crate) visit: Visit,
    pub(crate) signed_in: Option<(String, Portal)>,
}

impl PortalVisit {
    pub(crate) async fn open(
        app: &App,
        handle: &str,
        headers: &HeaderMap,
    ) -> Result<PortalVisit, Response> {
        let visit = Visit::open(app, handle, headers).await?;
        let signed_in = signed_in(app, &visit, headers).await?;
        Ok(PortalVisit { visit, signed_in })
    }

    pub(crate) fn path(&self) -> String {
        format!("/portal/{}", self.visit.shop.settings.handle)
    }

    /// The visit of a form post, refused (with the page that says so) when the form's token is
    /// not this browser's or another site sent it.
    pub(crate) async fn posted(
        app: &App,
        handle: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<PortalVisit, Response> {
        let visit = Visit::posted(app, handle, headers, body).await?;
        let signed_in = signed_in(app, &visit, headers).await?;
        Ok(PortalVisit { visit, signed_in })
    }

    /// A page of `handle`'s portal for a signed-in visitor: the visit and whom it may see;
    /// else the redirect to the portal's sign-in page (or the page saying there is no shop).
    pub(crate) async fn signed_in_get(
        app: &App,
        handle: &str,
        headers: &HeaderMap,
    ) -> Result<(PortalVisit, Portal), Response> {
        let visit = PortalVisit::open(app, handle, headers).await?;
        match visit.signed_in.clone() {
            Some((_, portal)) => Ok((visit, portal)),
            None => Err(see_other(&visit.path(), None)),
        }
    }

    /// As [`Self::signed_in_get`], for a form post (its token checked first).
    pub(crate) async fn signed_in_post(
        app: &App,
        handle: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(PortalVisit, Portal), Response> {
        let visit = PortalVisit::posted(app, handle, headers, body).await?;
        match visit.signed_in.clone() {
            Some((_, portal)) => Ok((visit, portal)),
            None => Err(see_other(&visit.path(), None)),
        }
    }

    /// The `Set-Cookie` holding a new session's token (or clearing it).
    pub(crate) fn session_cookie(&self, token: Option<&str>) -> Option<HeaderValue> {
        let secure = if self.visit.secure() { "; Secure" } else { "" };
        let name = portal_cookie(&self.visit.shop.settings.handle);
        let value = match token {
            Some(token) => format!(
                "{name}={token}; Max-Age={SESSION_TTL_SECONDS}; Path=/; HttpOnly; SameSite=Lax{secure}"
            ),
            None => format!("{name}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax{secure}"),
        };
        HeaderValue::from_str(&value).ok()
    }
}

/// A day as pages write it (`2026-12-07`); empty for none.
pub(crate) fn day(at: Option<bursar_domain::time::Timestamp>) -> String {
    at.map(|t| t.to_rfc3339()[..10].to_owned())
        .unwrap_or_default()
}

/// The page of a form field that is missing or wrong (400, naming the field).
pub(crate) fn bad_field(portal: &PortalVisit, field: &str) -> Response {
    let error = bursar_core::Error::invalid(
        "parameter_invalid",
        Some(field.to_owned()),
        portal.visit.tr.t1("field-invalid", "field", field),
    );
    error_page(&error)
}
