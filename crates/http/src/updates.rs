//! `/v1/updates`: the newest release a license is entitled to.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bursar_domain::event::Cause;
use bursar_domain::fulfillment::*;
use bursar_domain::id::*;
use bursar_domain::time::Timestamp;
use bursar_store::seal::Sealer;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Idempotency, QueryParams};
use crate::limits::too_many;
use crate::public::*;
use crate::AppState;
use bursar_core::fulfillment::{key_hash, link_url};
use bursar_core::updates::{entitled_license, offer, UpdateQuery};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(check_updates))
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
    params(("product" = ProductId, Query), ("version" = SemanticVersion, Query), ("platform" = PlatformName, Query),
        ("License-Key" = LicenseKeyText, Header)),
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
        state.app.config.downloads.per_ip_per_minute,
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
    let (workspace_id, license) = entitled_license(&state, &hash, &product_id, now).await?;
    let base = crate::payments::base_url(&state, &headers);
    let sealer = state.db.sealer()?.clone();
    let settings = state.app.config.downloads.clone();
    let cause = Cause {
        request_id: None,
        actor: Some("license_key".into()),
    };
    let idempotency = Idempotency {
        key: None,
        fingerprint: String::new(),
        request_id: None,
    };
    let query = UpdateQuery {
        product_id,
        current,
        platform,
    };
    state
        .mutate_as(workspace_id, cause, idempotency, move |mut cx| {
            Box::pin(async move {
                let offered = offer(&mut cx, &settings, &license, query).await?;
                Ok((StatusCode::OK, update_check(offered, &base, &sealer)))
            })
        })
        .await
}

/// The answer to an update check: the release offered and its link's URL, if any.
fn update_check(
    offered: Option<(Artifact, DownloadLink)>,
    base: &str,
    sealer: &Sealer,
) -> UpdateCheck {
    let Some((artifact, link)) = offered else {
        return UpdateCheck {
            update_available: false,
            version: None,
            file_name: None,
            size: None,
            sha256: None,
            download_url: None,
            expires_at: None,
        };
    };
    UpdateCheck {
        update_available: true,
        version: Some(artifact.version),
        file_name: Some(artifact.file_name),
        size: Some(artifact.size),
        sha256: Some(artifact.sha256),
        download_url: Some(link_url(base, sealer, &link.id)),
        expires_at: Some(link.expires_at),
    }
}
