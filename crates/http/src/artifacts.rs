//! `/v1/artifacts`: release files, streamed in and stored under their SHA-256.

use bursar_domain::event_type;
use std::io;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use bursar_domain::commerce::{Product, ProductKind};
use bursar_domain::fulfillment::*;
use bursar_domain::id::*;
use bursar_store::documents::{self, ARTIFACT, PRODUCT};
use bursar_store::Tx;
use futures::StreamExt;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::docs;
use crate::error::{ApiError, ErrorBody, ErrorType};
use crate::extract::{Idempotency, Mutation, Principal, QueryParams};
use crate::list::ListResponse;
use crate::AppState;
use bursar_core::fulfillment::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload_artifact, list_artifacts))
        .routes(routes!(get_artifact))
        .routes(routes!(retire_artifact))
}

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
                documents::get(tx, PRODUCT, &workspace_id, lookup.as_str(), false).await
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
                let existing: Vec<Artifact> = documents::find_in(
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
                documents::insert(
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
                    event_type::ARTIFACT_CREATED,
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
                documents::save(
                    cx.tx,
                    ARTIFACT,
                    cx.workspace_id,
                    &id,
                    &artifact,
                    &[("status", "retired".into())],
                )
                .await?;
                cx.emit_object(event_type::ARTIFACT_RETIRED, "artifact", &id, &artifact)
                    .await?;
                Ok((StatusCode::OK, artifact))
            })
        })
        .await
}
