//! `/v1/updates`: the newest release a license is entitled to.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bursar_domain::event::{Cause, NewEvent};
use bursar_domain::event_type;
use bursar_domain::fulfillment::*;
use bursar_domain::id::*;
use bursar_domain::time::Timestamp;
use bursar_store::documents::{self, ARTIFACT, LICENSE};
use bursar_store::Tx;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody, ErrorType};
use crate::extract::{Idempotency, QueryParams};
use crate::public::*;
use crate::AppState;
use bursar_core::fulfillment::*;

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
    let found = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                documents::find_anywhere::<License>(tx, LICENSE, "key_hash", &hash, false).await
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
    state
        .mutate_as(workspace_id, cause, idempotency, move |mut cx| {
            Box::pin(async move {
                let candidates: Vec<Artifact> = documents::find_in(
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
                    event_type::DOWNLOAD_LINK_CREATED,
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
