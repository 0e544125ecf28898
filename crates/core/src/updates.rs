//! Update checks of shipped software: the newest release a license entitles, with a fresh
//! download link bound to the license.

use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::fulfillment::*;
use bursar_domain::id::{ProductId, WorkspaceId};
use bursar_domain::time::Timestamp;
use bursar_store::documents::{self, ARTIFACT};
use serde_json::json;

use crate::error::{Error, ErrorKind};
use crate::fulfillment::{create_link, DownloadSettings};
use crate::licenses::find_by_key;
use crate::write::Context;
use crate::App;

/// What an update check asks: the product, the version installed and the platform.
#[derive(Debug, Clone)]
pub struct UpdateQuery {
    pub product_id: ProductId,
    pub current: semver::Version,
    pub platform: String,
}

/// The license with this key hash and its workspace, if it is valid for `product_id` at `now`;
/// refused (forbidden, naming the `License-Key` header) otherwise.
pub async fn entitled_license(
    app: &App,
    key_hash: &str,
    product_id: &ProductId,
    now: Timestamp,
) -> Result<(WorkspaceId, License), Error> {
    let Some((workspace_id, mut license)) = find_by_key(app, key_hash).await? else {
        return Err(refused("license_not_found", "No license has this key."));
    };
    match license.validate(Some(product_id), None, now).0 {
        Validity::Valid => Ok((workspace_id, license)),
        Validity::Revoked => Err(refused("license_revoked", "This license is revoked.")),
        Validity::Expired => Err(refused("license_expired", "This license has expired.")),
        _ => Err(refused(
            "license_product_mismatch",
            "This license is for another product.",
        )),
    }
}

fn refused(code: &'static str, message: &str) -> Error {
    Error::new(ErrorKind::Forbidden, code, message).with_param("License-Key")
}

/// The newest active artifact for the platform (or `any`) above the installed version that
/// `license` entitles, with a new link to it (`download_link.created`); none if there is none.
pub async fn offer(
    cx: &mut Context<'_>,
    settings: &DownloadSettings,
    license: &License,
    query: UpdateQuery,
) -> Result<Option<(Artifact, DownloadLink)>, Error> {
    let candidates: Vec<Artifact> = documents::find_in(
        cx.tx,
        ARTIFACT,
        cx.workspace_id,
        "product_id",
        &[query.product_id.as_str()],
    )
    .await?;
    let newest = candidates
        .into_iter()
        .filter(|a| a.status == ArtifactStatus::Active)
        .filter(|a| a.platform == query.platform || a.platform == "any")
        .filter_map(|a| semver::Version::parse(&a.version).ok().map(|v| (v, a)))
        .filter(|(v, _)| *v > query.current && license.entitles(v))
        .max_by(|(a, _), (b, _)| a.cmp(b));
    let Some((_, artifact)) = newest else {
        return Ok(None);
    };
    let order = license.order_id.clone().zip(license.order_line);
    let link = create_link(
        cx,
        settings,
        &license.customer_id,
        &artifact,
        order.as_ref().map(|(id, line)| (id, *line)),
        Some(&license.id),
    )
    .await?;
    cx.emit(NewEvent::new(
        event_type::DOWNLOAD_LINK_CREATED,
        "download_link",
        link.id.as_str(),
        json!({ "object": link, "reason": "update_check" }),
    ))
    .await?;
    Ok(Some((artifact, link)))
}
