//! Digital fulfillment: artifacts (release files), licenses and download links.
//!
//! When an order is paid, the `fulfillment` relay subscriber calls [`fulfill_order`]: a
//! license for each line of a licensed product, a download link for each current artifact of
//! each line's product, and the order becomes `fulfilled` when every line is delivered — all
//! in one transaction with the events that announce it, so a repeated `order.paid` changes
//! nothing. The email subscriber then sends the receipt with the keys and links.
//!
//! Secrets: a license key is stored as a keyed hash (HMAC) for lookups, plus a sealed copy
//! until it was emailed and shown once; a download token is `base64url(id ‖ MAC(id))`, derived
//! from the link's id with the server's secret and never stored, so a tampered token fails its
//! MAC before any lookup.

use bursar_domain::event_type;
use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use base64::Engine;
use bursar_domain::commerce::{Order, OrderStatus, Product, ProductKind};
use bursar_domain::fulfillment::*;
use bursar_domain::id::*;
use bursar_store::documents::{self, ARTIFACT, DOWNLOAD_LINK, LICENSE, ORDER, PRODUCT};
use bursar_store::seal::Sealer;
use bursar_store::Tx;
use serde_json::json;

pub use crate::app::DownloadSettings;
use crate::error::Error;
use crate::lookup;
use crate::write::Context;

// ---------------------------------------------------------------------------------------------
// Secrets

/// The keyed hash a license key is found by.
pub fn key_hash(sealer: &Sealer, key: &LicenseKey) -> String {
    hex::encode(sealer.lookup_hash("license-key", key.expose().as_bytes()))
}

/// The token of a download link's URL: its id and a MAC of it, base64url.
pub fn link_token(sealer: &Sealer, id: &DownloadLinkId) -> String {
    let raw = ulid_bytes(id.as_str());
    let mac = sealer.keyed_hash("download-link", &raw);
    let mut token = raw.to_vec();
    token.extend_from_slice(&mac[..16]);
    BASE64URL.encode(token)
}

pub fn ulid_bytes(id: &str) -> [u8; 16] {
    let body = id.split_once('_').map_or(id, |(_, b)| b);
    ulid::Ulid::from_string(&body.to_ascii_uppercase())
        .map(|u| u.to_bytes())
        .unwrap_or_default()
}

/// The link a token names, if its MAC is right.
pub fn link_of_token(sealer: &Sealer, token: &str) -> Option<DownloadLinkId> {
    let bytes = BASE64URL.decode(token).ok()?;
    if bytes.len() != 32 {
        return None;
    }
    let (raw, mac) = bytes.split_at(16);
    let expected = sealer.keyed_hash("download-link", raw);
    // Constant time: no early exit on the first differing byte.
    let difference = mac
        .iter()
        .zip(&expected[..16])
        .fold(0_u8, |acc, (a, b)| acc | (a ^ b));
    if difference != 0 {
        return None;
    }
    let ulid = ulid::Ulid::from_bytes(raw.try_into().ok()?);
    Some(DownloadLinkId::from_trusted(format!(
        "{}_{}",
        DownloadLinkId::PREFIX,
        ulid.to_string().to_ascii_lowercase()
    )))
}

/// A download link's URL.
pub fn link_url(base: &str, sealer: &Sealer, id: &DownloadLinkId) -> String {
    format!(
        "{}/download/{}",
        base.trim_end_matches('/'),
        link_token(sealer, id)
    )
}

// ---------------------------------------------------------------------------------------------
// Issuing

/// The current artifacts of a product: per platform, the highest version (within `major` if
/// given).
pub async fn current_artifacts(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    product_id: &ProductId,
    major: Option<u64>,
) -> Result<Vec<Artifact>, Error> {
    let all: Vec<Artifact> = documents::find_in(
        tx,
        ARTIFACT,
        workspace_id,
        "product_id",
        &[product_id.as_str()],
    )
    .await?;
    let mut best: BTreeMap<String, (semver::Version, Artifact)> = BTreeMap::new();
    for artifact in all {
        if artifact.status != ArtifactStatus::Active {
            continue;
        }
        let Ok(version) = semver::Version::parse(&artifact.version) else {
            continue;
        };
        if major.is_some_and(|m| m != version.major) {
            continue;
        }
        let better = best
            .get(&artifact.platform)
            .is_none_or(|(current, _)| version > *current);
        if better {
            best.insert(artifact.platform.clone(), (version, artifact));
        }
    }
    Ok(best.into_values().map(|(_, a)| a).collect())
}

/// Creates a license for `customer` and `product` with a fresh key from the operating system's
/// generator: stored as its keyed hash and a sealed copy. Records `license.issued`.
#[allow(clippy::too_many_arguments)]
pub async fn issue_license(
    cx: &mut Context<'_>,
    sealer: &Sealer,
    product: &Product,
    policy: &LicensePolicy,
    customer_id: &CustomerId,
    order: Option<(&OrderId, u32)>,
    quantity: u32,
    replaces: Option<&LicenseId>,
) -> Result<License, Error> {
    let mut random = [0_u8; RANDOM_SYMBOLS];
    random.copy_from_slice(&bursar_store::seal::random_bytes(RANDOM_SYMBOLS));
    let key = LicenseKey::generate(&policy.prefix, &random);
    let major_version = match policy.updates {
        UpdatePolicy::All => None,
        UpdatePolicy::SameMajor => current_artifacts(cx.tx, cx.workspace_id, &product.id, None)
            .await?
            .iter()
            .filter_map(|a| semver::Version::parse(&a.version).ok())
            .map(|v| v.major)
            .max(),
    };
    let license = License {
        id: LicenseId::new(),
        object: "license".into(),
        customer_id: customer_id.clone(),
        product_id: product.id.clone(),
        order_id: order.map(|(id, _)| id.clone()),
        order_line: order.map(|(_, line)| line),
        status: LicenseStatus::Active,
        key_hint: key.hint(),
        expires_at: policy
            .valid_days
            .map(|days| cx.now.plus_seconds(i64::from(days) * 86_400)),
        max_activations: policy
            .max_activations
            .map(|per_unit| per_unit.saturating_mul(quantity.max(1))),
        activations: Vec::new(),
        major_version,
        replaces: replaces.cloned(),
        replaced_by: None,
        created_at: cx.now,
        revoked_at: None,
    };
    documents::insert(
        cx.tx,
        LICENSE,
        cx.workspace_id,
        license.id.as_str(),
        &license,
        &[
            ("key_hash", key_hash(sealer, &key).into()),
            (
                "order_id",
                license.order_id.as_ref().map(|o| o.to_string()).into(),
            ),
            ("customer_id", customer_id.as_str().into()),
            ("key_sealed", sealer.seal(key.expose())?.into()),
        ],
    )
    .await?;
    cx.emit_object(
        event_type::LICENSE_ISSUED,
        "license",
        license.id.as_str(),
        &license,
    )
    .await?;
    Ok(license)
}

/// Creates a download link to `artifact`.
pub async fn create_link(
    cx: &mut Context<'_>,
    settings: &DownloadSettings,
    customer_id: &CustomerId,
    artifact: &Artifact,
    order: Option<(&OrderId, u32)>,
    license_id: Option<&LicenseId>,
) -> Result<DownloadLink, Error> {
    let link = DownloadLink {
        id: DownloadLinkId::new(),
        object: "download_link".into(),
        customer_id: customer_id.clone(),
        artifact_id: artifact.id.clone(),
        order_id: order.map(|(id, _)| id.clone()),
        order_line: order.map(|(_, line)| line),
        license_id: license_id.cloned(),
        expires_at: cx.now.plus_seconds(settings.link_ttl_secs),
        max_downloads: settings.max_downloads,
        downloads: 0,
        ips: Vec::new(),
        locked: false,
        created_at: cx.now,
    };
    documents::insert(
        cx.tx,
        DOWNLOAD_LINK,
        cx.workspace_id,
        link.id.as_str(),
        &link,
        &[
            (
                "order_id",
                link.order_id.as_ref().map(|o| o.to_string()).into(),
            ),
            ("customer_id", customer_id.as_str().into()),
        ],
    )
    .await?;
    Ok(link)
}

/// Delivers a paid order's digital goods, once: licenses and download links per line, then
/// `fulfilled` when every line is delivered (`order.fulfilled`), or `order.delivered` when
/// lines remain that Bursar cannot deliver (physical goods, services, digital products with
/// neither a license nor a release: `POST /v1/orders/{id}/fulfill` once the merchant has
/// delivered them). Returns false when there was nothing to do
/// (the order is not `paid`: not yet, or already fulfilled, refunded...).
pub async fn fulfill_order(
    cx: &mut Context<'_>,
    sealer: &Sealer,
    settings: &DownloadSettings,
    order_id: &str,
) -> Result<bool, Error> {
    let Some(mut order) =
        documents::get::<Order>(cx.tx, ORDER, cx.workspace_id, order_id, true).await?
    else {
        return Ok(false);
    };
    if order.status != OrderStatus::Paid {
        return Ok(false);
    }
    let delivered: Vec<License> =
        documents::find_in(cx.tx, LICENSE, cx.workspace_id, "order_id", &[order_id]).await?;
    let links_before: Vec<DownloadLink> = documents::find_in(
        cx.tx,
        DOWNLOAD_LINK,
        cx.workspace_id,
        "order_id",
        &[order_id],
    )
    .await?;
    if !delivered.is_empty() || !links_before.is_empty() {
        // Delivered before (an `order.delivered` order with goods still to ship).
        return Ok(false);
    }
    let mut licenses = Vec::new();
    let mut links = Vec::new();
    let mut every_line = true;
    for (index, line) in order.lines.iter().enumerate() {
        let line_no = u32::try_from(index).unwrap_or(u32::MAX);
        if line.product_kind != ProductKind::Digital {
            every_line = false;
            continue;
        }
        let Some(product) = documents::get::<Product>(
            cx.tx,
            PRODUCT,
            cx.workspace_id,
            line.product_id.as_str(),
            false,
        )
        .await?
        else {
            every_line = false;
            continue;
        };
        let quantity = u32::try_from(line.quantity).unwrap_or(1);
        let releases = current_artifacts(cx.tx, cx.workspace_id, &product.id, None).await?;
        if product.license.is_none() && releases.is_empty() {
            // Nothing Bursar can deliver: the merchant fulfills it (POST …/fulfill).
            every_line = false;
            continue;
        }
        let license = match &product.license {
            Some(policy) => Some(
                issue_license(
                    cx,
                    sealer,
                    &product,
                    policy,
                    &order.customer_id,
                    Some((&order.id, line_no)),
                    quantity,
                    None,
                )
                .await?,
            ),
            None => None,
        };
        let major = license.as_ref().and_then(|l| l.major_version);
        for artifact in current_artifacts(cx.tx, cx.workspace_id, &product.id, major).await? {
            let link = create_link(
                cx,
                settings,
                &order.customer_id,
                &artifact,
                Some((&order.id, line_no)),
                license.as_ref().map(|l| &l.id),
            )
            .await?;
            links.push(link.id);
        }
        licenses.extend(license.map(|l| l.id));
    }
    let extra = json!({ "licenses": licenses, "download_links": links });
    if every_line {
        let previous = crate::orders::move_to(&mut order, OrderStatus::Fulfilled)?;
        order.updated_at = cx.now;
        crate::orders::save(cx, &order).await?;
        crate::orders::emit(
            cx,
            event_type::ORDER_FULFILLED,
            &order,
            Some(previous),
            extra,
        )
        .await?;
    } else if !licenses.is_empty() || !links.is_empty() {
        crate::orders::emit(cx, event_type::ORDER_DELIVERED, &order, None, extra).await?;
    }
    Ok(true)
}

/// Revokes the active licenses of an order that was refunded in full (`order.refunded`), each
/// with its `license.revoked` event; returns how many.
pub async fn revoke_refunded(cx: &mut Context<'_>, order_id: &str) -> Result<usize, Error> {
    let Some(order) =
        documents::get::<Order>(cx.tx, ORDER, cx.workspace_id, order_id, true).await?
    else {
        return Ok(0);
    };
    if order.status != OrderStatus::Refunded {
        return Ok(0);
    }
    let licenses: Vec<License> =
        documents::find_in(cx.tx, LICENSE, cx.workspace_id, "order_id", &[order_id]).await?;
    let mut revoked = 0;
    for license in licenses {
        if license.status == LicenseStatus::Active {
            revoke(cx, license.id.as_str()).await?;
            revoked += 1;
        }
    }
    Ok(revoked)
}

// ---------------------------------------------------------------------------------------------
// Artifacts

pub const UPLOAD_PARAMS: [&str; 5] = [
    "product_id",
    "version",
    "platform",
    "file_name",
    "content_type",
];

pub async fn revoke(cx: &mut Context<'_>, id: &str) -> Result<License, Error> {
    let mut license: License = lookup::get_in(cx, LICENSE, "license", id, "id").await?;
    if license.status == LicenseStatus::Revoked {
        return Err(Error::state(
            "license_revoked",
            "revoked",
            "The license is revoked already.",
        ));
    }
    license.status = LicenseStatus::Revoked;
    license.revoked_at = Some(cx.now);
    documents::save(cx.tx, LICENSE, cx.workspace_id, id, &license, &[]).await?;
    cx.emit_object(event_type::LICENSE_REVOKED, "license", id, &license)
        .await?;
    Ok(license)
}

pub fn public_view(license: &License) -> serde_json::Value {
    json!({
        "id": license.id,
        "product_id": license.product_id,
        "status": license.status,
        "expires_at": license.expires_at,
        "max_activations": license.max_activations,
        "activations_used": license.activations.len(),
        "major_version": license.major_version,
        "key_hint": license.key_hint,
    })
}

/// New links for each (order line, artifact) a customer was given links for (of `only_order`
/// when given), while the order stands (paid, not refunded) and the artifact is not retired.
pub async fn fresh_links(
    cx: &mut Context<'_>,
    settings: &DownloadSettings,
    customer_id: &CustomerId,
    only_order: Option<&str>,
) -> Result<Vec<DownloadLinkId>, Error> {
    let old: Vec<DownloadLink> = documents::find_in(
        cx.tx,
        DOWNLOAD_LINK,
        cx.workspace_id,
        "customer_id",
        &[customer_id.as_str()],
    )
    .await?;
    let mut seen = std::collections::BTreeSet::new();
    let mut created = Vec::new();
    for link in old {
        let Some(order_id) = link.order_id.clone() else {
            continue;
        };
        if only_order.is_some_and(|only| only != order_id.as_str()) {
            continue;
        }
        if !seen.insert((
            order_id.to_string(),
            link.order_line,
            link.artifact_id.clone(),
        )) {
            continue;
        }
        let order: Option<Order> =
            documents::get(cx.tx, ORDER, cx.workspace_id, order_id.as_str(), false).await?;
        if !order.is_some_and(|o| {
            matches!(
                o.status,
                OrderStatus::Paid | OrderStatus::Fulfilled | OrderStatus::PartiallyRefunded
            )
        }) {
            continue;
        }
        let artifact: Option<Artifact> = documents::get(
            cx.tx,
            ARTIFACT,
            cx.workspace_id,
            link.artifact_id.as_str(),
            false,
        )
        .await?;
        let Some(artifact) = artifact.filter(|a| a.status == ArtifactStatus::Active) else {
            continue;
        };
        let fresh = create_link(
            cx,
            settings,
            customer_id,
            &artifact,
            link.order_line.map(|line| (&order_id, line)),
            link.license_id.as_ref(),
        )
        .await?;
        created.push(fresh.id);
    }
    Ok(created)
}
