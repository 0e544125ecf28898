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

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD as BASE64URL};
use base64::Engine;
use bursar_domain::auth::Permission;
use bursar_domain::commerce::{Order, OrderStatus, Product, ProductKind};
use bursar_domain::event::{Cause, NewEvent};
use bursar_domain::fulfillment::*;
use bursar_domain::id::*;
use bursar_domain::time::Timestamp;
use bursar_store::commerce::{self, ARTIFACT, DOWNLOAD_LINK, LICENSE, ORDER, PRODUCT};
use bursar_store::licenses::{self, Delivery};
use bursar_store::seal::Sealer;
use bursar_store::Tx;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::blobs::{parse_range, RangeRequest};
use crate::docs;
use crate::error::{ApiError, ErrorBody, ErrorType};
use crate::extract::{Idempotency, Mutation, Principal, QueryParams};
use crate::list::ListResponse;
use crate::mutate::Context;
use crate::AppState;

/// Limits of download links and of the routes anyone can call.
#[derive(Debug, Clone)]
pub struct DownloadSettings {
    /// How long a new link works (seconds).
    pub link_ttl_secs: i64,
    /// Downloads a link allows (a resumed download does not count again).
    pub max_downloads: u32,
    /// Distinct client addresses a link may be used from; the next one locks it.
    pub max_ips: usize,
    /// Requests a minute one address may make to the public routes (downloads, license
    /// validation, update checks, link resends).
    pub per_ip_per_minute: u32,
    /// Requests a minute for one download link.
    pub per_link_per_minute: u32,
}

impl Default for DownloadSettings {
    fn default() -> Self {
        DownloadSettings {
            link_ttl_secs: 24 * 3600,
            max_downloads: 5,
            max_ips: 3,
            per_ip_per_minute: 120,
            per_link_per_minute: 30,
        }
    }
}

/// Fixed one-minute windows of request counts, per key, in memory (per process).
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl RateLimiter {
    /// Counts a request for `key`; false when it is over `limit` this minute.
    pub fn allow(&self, key: &str, limit: u32, now: Timestamp) -> bool {
        let minute = now.unix_micros() / 60_000_000;
        let Ok(mut windows) = self.windows.lock() else {
            return true;
        };
        if windows.len() > 100_000 {
            windows.retain(|_, (m, _)| *m == minute);
        }
        let entry = windows.entry(key.to_owned()).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1 <= limit
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload_artifact, list_artifacts))
        .routes(routes!(get_artifact))
        .routes(routes!(retire_artifact))
        .routes(routes!(list_licenses))
        .routes(routes!(get_license))
        .routes(routes!(revoke_license))
        .routes(routes!(reissue_license))
        .routes(routes!(validate_license))
        .routes(routes!(order_licenses))
        .routes(routes!(order_download_links))
        .routes(routes!(unlock_download_link))
        .routes(routes!(resend_downloads))
        .routes(routes!(check_updates))
        .routes(routes!(download))
}

// ---------------------------------------------------------------------------------------------
// Secrets

/// The keyed hash a license key is found by.
pub fn key_hash(sealer: &Sealer, key: &LicenseKey) -> String {
    hex::encode(sealer.keyed_hash("license-key", key.expose().as_bytes()))
}

/// The token of a download link's URL: its id and a MAC of it, base64url.
pub fn link_token(sealer: &Sealer, id: &DownloadLinkId) -> String {
    let raw = ulid_bytes(id.as_str());
    let mac = sealer.keyed_hash("download-link", &raw);
    let mut token = raw.to_vec();
    token.extend_from_slice(&mac[..16]);
    BASE64URL.encode(token)
}

fn ulid_bytes(id: &str) -> [u8; 16] {
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
) -> Result<Vec<Artifact>, ApiError> {
    let all: Vec<Artifact> = commerce::find_in(
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
) -> Result<License, ApiError> {
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
    commerce::insert(
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
    cx.emit_object("license.issued", "license", license.id.as_str(), &license)
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
) -> Result<DownloadLink, ApiError> {
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
    commerce::insert(
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
) -> Result<bool, ApiError> {
    let Some(mut order) =
        commerce::get::<Order>(cx.tx, ORDER, cx.workspace_id, order_id, true).await?
    else {
        return Ok(false);
    };
    if order.status != OrderStatus::Paid {
        return Ok(false);
    }
    let delivered: Vec<License> =
        commerce::find_in(cx.tx, LICENSE, cx.workspace_id, "order_id", &[order_id]).await?;
    let links_before: Vec<DownloadLink> = commerce::find_in(
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
        let Some(product) = commerce::get::<Product>(
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
        crate::orders::emit(cx, "order.fulfilled", &order, Some(previous), extra).await?;
    } else if !licenses.is_empty() || !links.is_empty() {
        crate::orders::emit(cx, "order.delivered", &order, None, extra).await?;
    }
    Ok(true)
}

/// Revokes the active licenses of an order that was refunded in full (`order.refunded`), each
/// with its `license.revoked` event; returns how many.
pub async fn revoke_refunded(cx: &mut Context<'_>, order_id: &str) -> Result<usize, ApiError> {
    let Some(order) = commerce::get::<Order>(cx.tx, ORDER, cx.workspace_id, order_id, true).await?
    else {
        return Ok(0);
    };
    if order.status != OrderStatus::Refunded {
        return Ok(0);
    }
    let licenses: Vec<License> =
        commerce::find_in(cx.tx, LICENSE, cx.workspace_id, "order_id", &[order_id]).await?;
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

const UPLOAD_PARAMS: [&str; 5] = [
    "product_id",
    "version",
    "platform",
    "file_name",
    "content_type",
];

/// Upload a release file: the request body is the file (streamed; any size), the query names
/// it. Bursar computes its SHA-256 and size.
#[utoipa::path(post, path = "/v1/artifacts", tag = "fulfillment",
    params(
        ("product_id" = String, Query), ("version" = String, Query, description = "Semantic version, e.g. 2.1.0"),
        ("platform" = String, Query, description = "e.g. linux-x86_64, macos-arm64, any"),
        ("file_name" = String, Query, description = "Conventionally product-version-platform.ext"),
        ("content_type" = Option<String>, Query, description = "Default application/octet-stream"),
        ("Idempotency-Key" = Option<String>, Header)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = Artifact), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn upload_artifact(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
    request: Request,
) -> Result<Response, ApiError> {
    query.only(&UPLOAD_PARAMS)?;
    let required = |name: &str| {
        query.text(name).ok_or_else(|| {
            ApiError::invalid(
                "parameter_missing",
                Some(name.to_owned()),
                format!("Missing required query parameter: {name}."),
            )
        })
    };
    let product_id = ProductId::parse(&required("product_id")?, "product_id")?;
    let version = parse_version(&required("version")?, "version")?.to_string();
    let platform = parse_platform(&required("platform")?, "platform")?;
    let file_name = parse_file_name(&required("file_name")?, "file_name")?;
    let content_type = query
        .text("content_type")
        .unwrap_or_else(|| "application/octet-stream".into());
    if content_type.len() > 100
        || !content_type.contains('/')
        || content_type
            .chars()
            .any(|c| c.is_control() || c == '"' || c == '\n')
    {
        return Err(ApiError::invalid(
            "parameter_invalid",
            Some("content_type".into()),
            "content_type is a media type such as application/gzip.",
        ));
    }
    let (parts, body) = request.into_parts();
    let key = crate::extract::idempotency_key(&parts)?;
    // Before receiving the file: the product must exist and be digital.
    let (workspace_id, lookup) = (principal.workspace_id.clone(), product_id.clone());
    let product: Option<Product> = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                commerce::get(tx, PRODUCT, &workspace_id, lookup.as_str(), false).await
            })
        })
        .await?;
    match product {
        None => {
            return Err(ApiError::not_found("product", product_id.as_str()).with_param("product_id"))
        }
        Some(product) if product.kind != ProductKind::Digital => {
            return Err(ApiError::invalid(
                "parameter_invalid",
                Some("product_id".into()),
                "Artifacts belong to digital products.",
            ))
        }
        Some(_) => {}
    }
    let stream = body
        .into_data_stream()
        .map(|chunk| chunk.map_err(io::Error::other))
        .boxed();
    let blob = state.blobs.put(stream).await.map_err(|error| {
        tracing::warn!(%error, "artifact upload failed");
        ApiError::invalid(
            "upload_failed",
            Some("body".into()),
            "The file could not be received completely; upload it again.",
        )
    })?;
    if blob.size == 0 {
        return Err(ApiError::invalid(
            "parameter_invalid",
            Some("body".into()),
            "The file is empty: send its bytes as the request body.",
        ));
    }
    let fingerprint = if key.is_some() {
        bursar_store::sha256_hex(
            format!(
                "POST {}?{}\n{}",
                parts.uri.path(),
                parts.uri.query().unwrap_or(""),
                blob.sha256
            )
            .as_bytes(),
        )
    } else {
        String::new()
    };
    let idempotency = Idempotency {
        key,
        fingerprint,
        request_id: crate::extract::request_id(&parts),
    };
    state
        .mutate(&principal, idempotency, move |mut cx| {
            Box::pin(async move {
                let product: Product = docs::get_in(
                    &mut cx,
                    PRODUCT,
                    "product",
                    product_id.as_str(),
                    "product_id",
                )
                .await?;
                if product.kind != ProductKind::Digital {
                    return Err(ApiError::invalid(
                        "parameter_invalid",
                        Some("product_id".into()),
                        "Artifacts belong to digital products.",
                    ));
                }
                let existing: Vec<Artifact> = commerce::find_in(
                    cx.tx,
                    ARTIFACT,
                    cx.workspace_id,
                    "product_id",
                    &[product_id.as_str()],
                )
                .await?;
                if let Some(same) = existing.iter().find(|a| {
                    a.status == ArtifactStatus::Active
                        && a.version == version
                        && a.platform == platform
                }) {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        ErrorType::InvalidRequestError,
                        "artifact_exists",
                        format!(
                            "Version {version} for {platform} exists already ({}); retire it \
                             first to replace it.",
                            same.id
                        ),
                    )
                    .with_param("version"));
                }
                let artifact = Artifact {
                    id: ArtifactId::new(),
                    object: "artifact".into(),
                    product_id,
                    version,
                    platform,
                    file_name,
                    content_type,
                    size: i64::try_from(blob.size).unwrap_or(i64::MAX),
                    sha256: blob.sha256,
                    status: ArtifactStatus::Active,
                    created_at: cx.now,
                    retired_at: None,
                };
                commerce::insert(
                    cx.tx,
                    ARTIFACT,
                    cx.workspace_id,
                    artifact.id.as_str(),
                    &artifact,
                    &[
                        ("product_id", artifact.product_id.as_str().into()),
                        ("status", "active".into()),
                    ],
                )
                .await?;
                cx.emit_object(
                    "artifact.created",
                    "artifact",
                    artifact.id.as_str(),
                    &artifact,
                )
                .await?;
                Ok((StatusCode::OK, artifact))
            })
        })
        .await
}

/// List artifacts, newest first; `product_id` selects one product's.
#[utoipa::path(get, path = "/v1/artifacts", tag = "fulfillment",
    params(("product_id" = Option<String>, Query), ("limit" = Option<i64>, Query),
        ("starting_after" = Option<String>, Query), ("ending_before" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<Artifact>)), security(("api_key" = [])))]
async fn list_artifacts(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<Artifact>>, ApiError> {
    Ok(Json(
        docs::list(
            &state,
            &principal,
            &query,
            ARTIFACT,
            "/v1/artifacts",
            "art_",
            Some(("product_id", "product_id")),
        )
        .await?,
    ))
}

/// Retrieve an artifact.
#[utoipa::path(get, path = "/v1/artifacts/{id}", tag = "fulfillment",
    params(("id" = String, Path)),
    responses((status = 200, body = Artifact), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_artifact(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Artifact>, ApiError> {
    Ok(Json(
        docs::get(&state, &principal, ARTIFACT, "artifact", id).await?,
    ))
}

/// Retire an artifact: no new links or updates point to it, and its links stop working.
#[utoipa::path(post, path = "/v1/artifacts/{id}/retire", tag = "fulfillment",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Artifact), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn retire_artifact(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<serde_json::Value>,
) -> Result<Response, ApiError> {
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let mut artifact: Artifact =
                    docs::get_in(&mut cx, ARTIFACT, "artifact", &id, "id").await?;
                if artifact.status == ArtifactStatus::Retired {
                    return Err(ApiError::state(
                        "artifact_retired",
                        "retired",
                        "The artifact is retired already.",
                    ));
                }
                artifact.status = ArtifactStatus::Retired;
                artifact.retired_at = Some(cx.now);
                commerce::save(
                    cx.tx,
                    ARTIFACT,
                    cx.workspace_id,
                    &id,
                    &artifact,
                    &[("status", "retired".into())],
                )
                .await?;
                cx.emit_object("artifact.retired", "artifact", &id, &artifact)
                    .await?;
                Ok((StatusCode::OK, artifact))
            })
        })
        .await
}

// ---------------------------------------------------------------------------------------------
// Licenses

/// List licenses, newest first; `customer_id` selects one customer's.
#[utoipa::path(get, path = "/v1/licenses", tag = "fulfillment",
    params(("customer_id" = Option<String>, Query), ("limit" = Option<i64>, Query),
        ("starting_after" = Option<String>, Query), ("ending_before" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<License>)), security(("api_key" = [])))]
async fn list_licenses(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<License>>, ApiError> {
    Ok(Json(
        docs::list(
            &state,
            &principal,
            &query,
            LICENSE,
            "/v1/licenses",
            "lic_",
            Some(("customer_id", "customer_id")),
        )
        .await?,
    ))
}

/// Retrieve a license (never its key: see the order's licenses).
#[utoipa::path(get, path = "/v1/licenses/{id}", tag = "fulfillment",
    params(("id" = String, Path)),
    responses((status = 200, body = License), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_license(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<License>, ApiError> {
    Ok(Json(
        docs::get(&state, &principal, LICENSE, "license", id).await?,
    ))
}

async fn revoke(cx: &mut Context<'_>, id: &str) -> Result<License, ApiError> {
    let mut license: License = docs::get_in(cx, LICENSE, "license", id, "id").await?;
    if license.status == LicenseStatus::Revoked {
        return Err(ApiError::state(
            "license_revoked",
            "revoked",
            "The license is revoked already.",
        ));
    }
    license.status = LicenseStatus::Revoked;
    license.revoked_at = Some(cx.now);
    commerce::save(cx.tx, LICENSE, cx.workspace_id, id, &license, &[]).await?;
    cx.emit_object("license.revoked", "license", id, &license)
        .await?;
    Ok(license)
}

/// Revoke a license: validation answers `revoked` from now on.
#[utoipa::path(post, path = "/v1/licenses/{id}/revoke", tag = "fulfillment",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = License), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn revoke_license(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<serde_json::Value>,
) -> Result<Response, ApiError> {
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move { Ok((StatusCode::OK, revoke(&mut cx, &id).await?)) })
        })
        .await
}

/// Re-issue a license: the old key is revoked and a new one issued with the same terms (and
/// activations cleared). The new key is emailed to the customer and shown once among the
/// order's licenses; this response never carries it.
#[utoipa::path(post, path = "/v1/licenses/{id}/reissue", tag = "fulfillment",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = License), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn reissue_license(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<serde_json::Value>,
) -> Result<Response, ApiError> {
    let sealer = state.db.sealer()?.clone();
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let mut old = revoke(&mut cx, &id).await?;
                let product: Product =
                    docs::get_in(&mut cx, PRODUCT, "product", old.product_id.as_str(), "id")
                        .await?;
                let prefix = old.key_hint.split('-').next().unwrap_or("LIC").to_owned();
                let policy = LicensePolicy {
                    prefix,
                    max_activations: old.max_activations,
                    valid_days: None,
                    updates: if old.major_version.is_some() {
                        UpdatePolicy::SameMajor
                    } else {
                        UpdatePolicy::All
                    },
                };
                let order = old.order_id.clone().zip(old.order_line);
                let mut new = issue_license(
                    &mut cx,
                    &sealer,
                    &product,
                    &policy,
                    &old.customer_id,
                    order.as_ref().map(|(o, l)| (o, *l)),
                    1,
                    Some(&old.id),
                )
                .await?;
                // Same terms: the old expiry and major version, not recomputed.
                new.expires_at = old.expires_at;
                new.major_version = old.major_version;
                commerce::save(cx.tx, LICENSE, cx.workspace_id, new.id.as_str(), &new, &[]).await?;
                old.replaced_by = Some(new.id.clone());
                commerce::save(cx.tx, LICENSE, cx.workspace_id, old.id.as_str(), &old, &[]).await?;
                cx.emit(NewEvent::new(
                    "license.reissued",
                    "license",
                    new.id.as_str(),
                    json!({ "object": new, "replaces": old.id }),
                ))
                .await?;
                Ok((StatusCode::OK, new))
            })
        })
        .await
}

/// A license with its key, the one time it is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevealedLicense {
    #[serde(flatten)]
    pub license: License,
    /// The key, present once: on the first read of the order's licenses by a key allowed to
    /// write, while Bursar still holds it sealed.
    pub key: Option<String>,
}

/// The licenses of an order. Each key is shown here once (to a key with write access), and in
/// the fulfillment email; afterwards only its hint.
#[utoipa::path(get, path = "/v1/orders/{id}/licenses", tag = "fulfillment",
    params(("id" = String, Path)),
    responses((status = 200, body = ListResponse<RevealedLicense>), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn order_licenses(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let reveal = principal.scope.allows(Permission::Write);
    let sealer = state.db.sealer()?.clone();
    let workspace_id = principal.workspace_id.clone();
    let now = state.db.now();
    let licenses = state
        .db
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                commerce::get::<Order>(tx, ORDER, &workspace_id, &id, false)
                    .await?
                    .ok_or_else(|| ApiError::not_found("order", &id))?;
                let licenses: Vec<License> =
                    commerce::find_in(tx, LICENSE, &workspace_id, "order_id", &[id.as_str()])
                        .await?;
                let ids: Vec<String> = licenses.iter().map(|l| l.id.to_string()).collect();
                let keys = licenses::sealed_keys(tx, &workspace_id, &ids).await?;
                let mut shown = Vec::new();
                let mut out = Vec::new();
                for license in licenses {
                    let sealed = keys
                        .iter()
                        .find(|k| k.license_id == license.id.as_str())
                        .filter(|k| reveal && !k.revealed)
                        .and_then(|k| k.sealed.clone());
                    let key = match sealed {
                        Some(sealed) => {
                            shown.push(license.id.to_string());
                            Some(sealer.open(&sealed)?)
                        }
                        None => None,
                    };
                    out.push(RevealedLicense { license, key });
                }
                licenses::mark_delivered(tx, &workspace_id, &shown, Delivery::Revealed, now)
                    .await?;
                Ok::<_, ApiError>(out)
            })
        })
        .await?;
    Ok(Json(json!({
        "object": "list",
        "url": "/v1/orders/{id}/licenses",
        "has_more": false,
        "data": licenses,
    })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    /// The license key, as typed (case, spaces and dashes do not matter).
    pub key: String,
    /// The product the software is (`prod_…`): another product's key answers
    /// `product_mismatch`.
    pub product_id: Option<String>,
    /// Activates the license on this machine (up to its limit).
    pub machine_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Validation {
    pub valid: bool,
    pub code: Validity,
    /// What the software may show about the license (absent when not found).
    pub license: Option<serde_json::Value>,
}

fn public_view(license: &License) -> serde_json::Value {
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

fn client_ip(request_parts: &axum::http::Extensions) -> String {
    request_parts
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn too_many() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorType::RateLimitError,
        "rate_limited",
        "Too many requests from this address; try again in a minute.",
    )
}

fn public_cause(actor: &str, idempotency: &Idempotency) -> Cause {
    Cause {
        request_id: idempotency.request_id.clone(),
        actor: Some(actor.to_owned()),
    }
}

/// For shipped software: is this license key valid (for this product, on this machine)? No
/// API key needed; rate limited per address. A well-formed key that is not valid answers 200
/// with `valid: false` and the reason; a malformed or mistyped key answers 400.
#[utoipa::path(post, path = "/v1/licenses/validate", tag = "fulfillment", request_body = ValidateRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Validation), (status = 400, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn validate_license(
    State(state): State<AppState>,
    ConnectInfoIp(ip): ConnectInfoIp,
    request: Mutation<ValidateRequest>,
) -> Result<Response, ApiError> {
    let now = state.db.now();
    if !state.limiter.allow(
        &format!("ip:{ip}"),
        state.config.downloads.per_ip_per_minute,
        now,
    ) {
        return Err(too_many());
    }
    let body = request.body;
    let key = LicenseKey::parse(&body.key, "key")?;
    let product = body
        .product_id
        .as_deref()
        .map(|p| ProductId::parse(p, "product_id"))
        .transpose()?;
    let machine = body
        .machine_id
        .as_deref()
        .map(|m| parse_machine_id(m, "machine_id"))
        .transpose()?;
    let hash = key_hash(state.db.sealer()?, &key);
    let lookup = hash.clone();
    let found = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                commerce::find_anywhere::<License>(tx, LICENSE, "key_hash", &lookup, false).await
            })
        })
        .await?;
    let Some((workspace_id, mut seen)) = found else {
        return Ok(Json(Validation {
            valid: false,
            code: Validity::NotFound,
            license: None,
        })
        .into_response());
    };
    // Most checks change nothing (no machine, or one already activated): answered from the
    // read, without a write transaction.
    let (code, changed) = seen.validate(product.as_ref(), machine.as_deref(), now);
    if !changed {
        return Ok(Json(Validation {
            valid: code == Validity::Valid,
            code,
            license: Some(public_view(&seen)),
        })
        .into_response());
    }
    let cause = public_cause("license_key", &request.idempotency);
    state
        .mutate_as(workspace_id, cause, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let (_, mut license) =
                    commerce::find_anywhere::<License>(cx.tx, LICENSE, "key_hash", &hash, true)
                        .await?
                        .ok_or_else(|| ApiError::not_found("license", "(key)"))?;
                let (code, changed) =
                    license.validate(product.as_ref(), machine.as_deref(), cx.now);
                if changed {
                    commerce::save(
                        cx.tx,
                        LICENSE,
                        cx.workspace_id,
                        license.id.as_str(),
                        &license,
                        &[],
                    )
                    .await?;
                    cx.emit(NewEvent::new(
                        "license.activated",
                        "license",
                        license.id.as_str(),
                        json!({ "object": license, "machine_id": machine }),
                    ))
                    .await?;
                }
                Ok((
                    StatusCode::OK,
                    Validation {
                        valid: code == Validity::Valid,
                        code,
                        license: Some(public_view(&license)),
                    },
                ))
            })
        })
        .await
}

/// The client's address, from the connection (not from headers a client could forge).
pub struct ConnectInfoIp(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ConnectInfoIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ConnectInfoIp(client_ip(&parts.extensions)))
    }
}

// ---------------------------------------------------------------------------------------------
// Download links

/// The download links of an order (never their tokens: those are in the email).
#[utoipa::path(get, path = "/v1/orders/{id}/download_links", tag = "fulfillment",
    params(("id" = String, Path)),
    responses((status = 200, body = ListResponse<DownloadLink>), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn order_download_links(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let workspace_id = principal.workspace_id.clone();
    let links = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                commerce::get::<Order>(tx, ORDER, &workspace_id, &id, false)
                    .await?
                    .ok_or_else(|| ApiError::not_found("order", &id))?;
                Ok::<_, ApiError>(
                    commerce::find_in::<DownloadLink>(
                        tx,
                        DOWNLOAD_LINK,
                        &workspace_id,
                        "order_id",
                        &[id.as_str()],
                    )
                    .await?,
                )
            })
        })
        .await?;
    Ok(Json(json!({
        "object": "list",
        "url": "/v1/orders/{id}/download_links",
        "has_more": false,
        "data": links,
    })))
}

/// Unlock a link locked for use from too many addresses (after checking with the customer).
#[utoipa::path(post, path = "/v1/download_links/{id}/unlock", tag = "fulfillment",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = DownloadLink), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn unlock_download_link(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<serde_json::Value>,
) -> Result<Response, ApiError> {
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let mut link: DownloadLink =
                    docs::get_in(&mut cx, DOWNLOAD_LINK, "download_link", &id, "id").await?;
                if !link.locked {
                    return Err(ApiError::state(
                        "download_link_not_locked",
                        "unlocked",
                        "The link is not locked.",
                    ));
                }
                link.locked = false;
                link.ips.clear();
                commerce::save(cx.tx, DOWNLOAD_LINK, cx.workspace_id, &id, &link, &[]).await?;
                cx.emit_object("download_link.unlocked", "download_link", &id, &link)
                    .await?;
                Ok((StatusCode::OK, link))
            })
        })
        .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendRequest {
    pub email: String,
}

/// Fresh download links to a customer's email, for every order with downloads. No API key
/// needed; the answer is the same whether or not the address has orders.
#[utoipa::path(post, path = "/v1/downloads/resend", tag = "fulfillment", request_body = ResendRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 202, description = "Accepted, whatever the address"), (status = 400, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn resend_downloads(
    State(state): State<AppState>,
    ConnectInfoIp(ip): ConnectInfoIp,
    request: Mutation<ResendRequest>,
) -> Result<Response, ApiError> {
    let now = state.db.now();
    // Resends send mail: a tighter limit than other public routes.
    let limit = (state.config.downloads.per_ip_per_minute / 10).max(1);
    if !state.limiter.allow(&format!("resend:{ip}"), limit, now) {
        return Err(too_many());
    }
    let email = request.body.email.trim().to_owned();
    let plausible = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if !plausible {
        return Err(ApiError::invalid(
            "parameter_invalid",
            Some("email".into()),
            "email is an address such as ada@example.com.",
        ));
    }
    let lookup = email.clone();
    let customers = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { licenses::customers_by_email(tx, &lookup).await })
        })
        .await?;
    let settings = state.config.downloads.clone();
    for (workspace_id, customer_id) in customers {
        let cause = public_cause("downloads.resend", &request.idempotency);
        let settings = settings.clone();
        // Per workspace, with the caller's idempotency key: a retried request sends nothing
        // twice.
        let outcome = state
            .mutate_as(
                workspace_id,
                cause,
                request.idempotency.clone(),
                move |mut cx| {
                    Box::pin(async move {
                        let links = fresh_links(&mut cx, &settings, &customer_id).await?;
                        if !links.is_empty() {
                            cx.emit(NewEvent::new(
                                "downloads.resent",
                                "customer",
                                customer_id.as_str(),
                                json!({ "customer_id": customer_id, "download_links": links }),
                            ))
                            .await?;
                        }
                        Ok((StatusCode::ACCEPTED, json!({})))
                    })
                },
            )
            .await;
        if let Err(error) = outcome {
            tracing::warn!(
                code = error.code,
                "download resend failed for one workspace"
            );
        }
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "status": "accepted",
            "message": "If this address has orders with downloads, fresh links are on their way.",
        })),
    )
        .into_response())
}

/// New links for each (order line, artifact) a customer was given links for, while the order
/// stands (paid, not refunded) and the artifact is not retired.
async fn fresh_links(
    cx: &mut Context<'_>,
    settings: &DownloadSettings,
    customer_id: &CustomerId,
) -> Result<Vec<DownloadLinkId>, ApiError> {
    let old: Vec<DownloadLink> = commerce::find_in(
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
        if !seen.insert((
            order_id.to_string(),
            link.order_line,
            link.artifact_id.clone(),
        )) {
            continue;
        }
        let order: Option<Order> =
            commerce::get(cx.tx, ORDER, cx.workspace_id, order_id.as_str(), false).await?;
        if !order.is_some_and(|o| {
            matches!(
                o.status,
                OrderStatus::Paid | OrderStatus::Fulfilled | OrderStatus::PartiallyRefunded
            )
        }) {
            continue;
        }
        let artifact: Option<Artifact> = commerce::get(
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

/// A download's refusal, as a page a person can read.
fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family: sans-serif; max-width: 40em; margin: 4em auto; color: #1a1a1a\">\
         <h1>{title}</h1><p>{message}</p></body></html>"
    );
    let mut response = (status, Html(html)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn refusal_page(refusal: Refusal) -> Response {
    match refusal {
        Refusal::Expired => page(
            StatusCode::GONE,
            "This download link has expired",
            "Links work for a limited time. Ask for fresh links with the email address you \
             bought with.",
        ),
        Refusal::Exhausted => page(
            StatusCode::GONE,
            "This download link has been used up",
            "It allows a limited number of downloads. Ask for fresh links with the email \
             address you bought with.",
        ),
        Refusal::Locked => page(
            StatusCode::FORBIDDEN,
            "This download link is locked",
            "It was used from too many places. Contact support to unlock it.",
        ),
        Refusal::ResumeWithoutStart => page(
            StatusCode::FORBIDDEN,
            "This download cannot be resumed from here",
            "Start the download again from its beginning.",
        ),
    }
}

enum Admission {
    Refused(Refusal),
    Gone,
    Go(Box<Artifact>),
}

/// Download a file: the token from the link in the email. Streams the file with its length and
/// SHA-256 (`X-Checksum-Sha256`, `Digest`), and serves byte ranges to resume (206). Refusals
/// are pages: expired or used up (410), locked (403), unknown or tampered (404), too many
/// requests (429).
#[utoipa::path(get, path = "/download/{token}", tag = "fulfillment",
    params(("token" = String, Path), ("Range" = Option<String>, Header)),
    responses((status = 200, description = "The file"), (status = 206, description = "Part of the file"),
        (status = 404, description = "Unknown link"), (status = 410, description = "Expired or used up")))]
async fn download(
    State(state): State<AppState>,
    ConnectInfoIp(ip): ConnectInfoIp,
    Path(token): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    match serve_download(state, ip, token, method, headers).await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(code = error.code, "download failed");
            page(
                error.status,
                "The download could not start",
                "Something went wrong on our side. Please try again in a moment.",
            )
        }
    }
}

async fn serve_download(
    state: AppState,
    ip: String,
    token: String,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let now = state.db.now();
    let settings = state.config.downloads.clone();
    let rate_limited = || {
        let mut response = page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            "Please wait a minute and try again.",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        response
    };
    if !state
        .limiter
        .allow(&format!("ip:{ip}"), settings.per_ip_per_minute, now)
    {
        return Ok(rate_limited());
    }
    let not_found = || {
        page(
            StatusCode::NOT_FOUND,
            "This download link is not valid",
            "Check that the whole link was copied, or ask for fresh links with the email \
             address you bought with.",
        )
    };
    let Some(link_id) = link_of_token(state.db.sealer()?, &token) else {
        return Ok(not_found());
    };
    if !state.limiter.allow(
        &format!("link:{link_id}"),
        settings.per_link_per_minute,
        now,
    ) {
        return Ok(rate_limited());
    }
    let range_header = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let id = link_id.to_string();
    let head = method == Method::HEAD;
    let admission = state
        .db
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let Some((workspace_id, mut link)) = commerce::find_anywhere::<DownloadLink>(
                    tx,
                    DOWNLOAD_LINK,
                    "object_id",
                    &id,
                    true,
                )
                .await?
                else {
                    return Ok::<_, ApiError>(Admission::Gone);
                };
                let artifact: Option<Artifact> = commerce::get(
                    tx,
                    ARTIFACT,
                    &workspace_id,
                    link.artifact_id.as_str(),
                    false,
                )
                .await?;
                let Some(artifact) = artifact.filter(|a| a.status == ArtifactStatus::Active) else {
                    return Ok(Admission::Gone);
                };
                let size = u64::try_from(artifact.size).unwrap_or(0);
                let resume = matches!(
                    parse_range(range_header.as_deref(), size),
                    RangeRequest::Part { start, .. } if start > 0
                );
                let before = link.clone();
                let admitted = if head {
                    // A HEAD request answers as a GET would, without counting.
                    link.clone().admit(&ip, resume, now, settings.max_ips)
                } else {
                    link.admit(&ip, resume, now, settings.max_ips)
                };
                if link != before {
                    commerce::save(tx, DOWNLOAD_LINK, &workspace_id, &id, &link, &[]).await?;
                    let (event_type, payload) = if link.locked {
                        (
                            "download_link.locked",
                            json!({ "object": link, "reason": "too_many_addresses", "ip": ip }),
                        )
                    } else {
                        ("download.started", json!({ "object": link, "ip": ip }))
                    };
                    bursar_store::events::record(
                        tx,
                        &workspace_id,
                        &NewEvent::new(event_type, "download_link", &id, payload),
                        &Cause {
                            request_id: None,
                            actor: Some("download_link".into()),
                        },
                        now,
                    )
                    .await?;
                }
                Ok(match admitted {
                    Ok(()) => Admission::Go(Box::new(artifact)),
                    Err(refusal) => Admission::Refused(refusal),
                })
            })
        })
        .await?;
    let artifact = match admission {
        Admission::Go(artifact) => *artifact,
        Admission::Refused(refusal) => return Ok(refusal_page(refusal)),
        Admission::Gone => {
            return Ok(page(
                StatusCode::GONE,
                "This file is no longer available",
                "The release it points to was withdrawn. Ask for fresh links with the email \
                 address you bought with.",
            ))
        }
    };
    let size = u64::try_from(artifact.size).unwrap_or(0);
    let (status, start, end) = match parse_range(range_header_of(&headers), size) {
        RangeRequest::Whole => (StatusCode::OK, 0, size.saturating_sub(1)),
        RangeRequest::Part { start, end } => (StatusCode::PARTIAL_CONTENT, start, end),
        RangeRequest::Unsatisfiable => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            return Ok(response);
        }
    };
    let length = if size == 0 { 0 } else { end - start + 1 };
    let body = if head {
        Body::empty()
    } else {
        let stream = state
            .blobs
            .read(&artifact.sha256, start, length)
            .await
            .map_err(|error| {
                tracing::error!(%error, artifact = %artifact.id, "stored artifact unreadable");
                ApiError::internal()
            })?;
        Body::from_stream(stream)
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let sha_bytes = hex::decode(&artifact.sha256).unwrap_or_default();
    let headers = response.headers_mut();
    let mut set = |name: header::HeaderName, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set(header::CONTENT_LENGTH, length.to_string());
    set(header::CONTENT_TYPE, artifact.content_type.clone());
    set(
        header::CONTENT_DISPOSITION,
        format!("attachment; filename=\"{}\"", artifact.file_name),
    );
    set(header::ACCEPT_RANGES, "bytes".into());
    set(header::ETAG, format!("\"{}\"", artifact.sha256));
    set(header::CACHE_CONTROL, "private, no-store".into());
    set(
        header::HeaderName::from_static("x-checksum-sha256"),
        artifact.sha256.clone(),
    );
    set(
        header::HeaderName::from_static("digest"),
        format!("sha-256={}", BASE64.encode(&sha_bytes)),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        set(header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}"));
    }
    Ok(response)
}

fn range_header_of(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::RANGE).and_then(|v| v.to_str().ok())
}

// ---------------------------------------------------------------------------------------------
// Updates

#[derive(Debug, Serialize, ToSchema)]
pub struct UpdateCheck {
    pub update_available: bool,
    pub version: Option<String>,
    pub file_name: Option<String>,
    pub size: Option<i64>,
    pub sha256: Option<String>,
    /// A fresh download link for the update, bound to the license.
    pub download_url: Option<String>,
    pub expires_at: Option<Timestamp>,
}

/// For shipped software: is there a newer version this license entitles? Send the key in the
/// `License-Key` header. Answers the newest active artifact for the platform (or `any`) above
/// `version`, within the license's major version if it has one, with a fresh download link.
#[utoipa::path(get, path = "/v1/updates", tag = "fulfillment",
    params(("product" = String, Query), ("version" = String, Query), ("platform" = String, Query),
        ("License-Key" = String, Header)),
    responses((status = 200, body = UpdateCheck), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn check_updates(
    State(state): State<AppState>,
    ConnectInfoIp(ip): ConnectInfoIp,
    query: QueryParams,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let now = state.db.now();
    if !state.limiter.allow(
        &format!("ip:{ip}"),
        state.config.downloads.per_ip_per_minute,
        now,
    ) {
        return Err(too_many());
    }
    query.only(&["product", "version", "platform"])?;
    let required = |name: &str| {
        query.text(name).ok_or_else(|| {
            ApiError::invalid(
                "parameter_missing",
                Some(name.to_owned()),
                format!("Missing required query parameter: {name}."),
            )
        })
    };
    let product_id = ProductId::parse(&required("product")?, "product")?;
    let current = parse_version(&required("version")?, "version")?;
    let platform = parse_platform(&required("platform")?, "platform")?;
    let key_text = headers
        .get("license-key")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::invalid(
                "parameter_missing",
                Some("License-Key".into()),
                "Send the license key in the License-Key header.",
            )
        })?;
    let key = LicenseKey::parse(key_text, "License-Key")?;
    let hash = key_hash(state.db.sealer()?, &key);
    let found = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                commerce::find_anywhere::<License>(tx, LICENSE, "key_hash", &hash, false).await
            })
        })
        .await?;
    let refused = |code: &'static str, message: &str| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorType::InvalidRequestError,
            code,
            message,
        )
        .with_param("License-Key")
    };
    let Some((workspace_id, mut license)) = found else {
        return Err(refused("license_not_found", "No license has this key."));
    };
    match license.validate(Some(&product_id), None, now).0 {
        Validity::Valid => {}
        Validity::Revoked => return Err(refused("license_revoked", "This license is revoked.")),
        Validity::Expired => return Err(refused("license_expired", "This license has expired.")),
        _ => {
            return Err(refused(
                "license_product_mismatch",
                "This license is for another product.",
            ))
        }
    }
    let base = crate::payments::base_url(&state, &headers);
    let sealer = state.db.sealer()?.clone();
    let settings = state.config.downloads.clone();
    let cause = Cause {
        request_id: None,
        actor: Some("license_key".into()),
    };
    let idempotency = Idempotency {
        key: None,
        fingerprint: String::new(),
        request_id: None,
    };
    state
        .mutate_as(workspace_id, cause, idempotency, move |mut cx| {
            Box::pin(async move {
                let candidates: Vec<Artifact> = commerce::find_in(
                    cx.tx,
                    ARTIFACT,
                    cx.workspace_id,
                    "product_id",
                    &[product_id.as_str()],
                )
                .await?;
                let newest = candidates
                    .into_iter()
                    .filter(|a| a.status == ArtifactStatus::Active)
                    .filter(|a| a.platform == platform || a.platform == "any")
                    .filter_map(|a| semver::Version::parse(&a.version).ok().map(|v| (v, a)))
                    .filter(|(v, _)| *v > current && license.entitles(v))
                    .max_by(|(a, _), (b, _)| a.cmp(b));
                let Some((_, artifact)) = newest else {
                    return Ok((
                        StatusCode::OK,
                        UpdateCheck {
                            update_available: false,
                            version: None,
                            file_name: None,
                            size: None,
                            sha256: None,
                            download_url: None,
                            expires_at: None,
                        },
                    ));
                };
                let customer = license.customer_id.clone();
                let order = license.order_id.clone().zip(license.order_line);
                let link = create_link(
                    &mut cx,
                    &settings,
                    &customer,
                    &artifact,
                    order.as_ref().map(|(id, line)| (id, *line)),
                    Some(&license.id),
                )
                .await?;
                cx.emit(NewEvent::new(
                    "download_link.created",
                    "download_link",
                    link.id.as_str(),
                    json!({ "object": link, "reason": "update_check" }),
                ))
                .await?;
                Ok((
                    StatusCode::OK,
                    UpdateCheck {
                        update_available: true,
                        version: Some(artifact.version.clone()),
                        file_name: Some(artifact.file_name.clone()),
                        size: Some(artifact.size),
                        sha256: Some(artifact.sha256.clone()),
                        download_url: Some(link_url(&base, &sealer, &link.id)),
                        expires_at: Some(link.expires_at),
                    },
                ))
            })
        })
        .await
}
