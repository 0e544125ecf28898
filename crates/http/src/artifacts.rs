//! `/v1/artifacts`: release files, streamed in and stored under their SHA-256.

use std::io;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use bursar_domain::fulfillment::*;
use bursar_domain::id::*;
use bursar_store::documents::ARTIFACT;
use futures::StreamExt;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::docs;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Idempotency, Mutation, Principal, QueryParams};
use crate::list::ListResponse;
use crate::livemode::Json;
use crate::AppState;
use bursar_core::artifacts::{
    check_product, create, parse_content_type, receive, retire, NewArtifact,
};
use bursar_core::fulfillment::UPLOAD_PARAMS;

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
        ("product_id" = ProductId, Query, description = "A digital product"),
        ("version" = SemanticVersion, Query, description = "Semantic version, e.g. 2.1.0"),
        ("platform" = PlatformName, Query, description = "e.g. linux-x86_64, macos-arm64, any"),
        ("file_name" = FileName, Query, description = "Conventionally product-version-platform.ext"),
        ("content_type" = Option<String>, Query, max_length = 100, pattern = "^[^\"\\u0000-\\u001F\\u007F-\\u009F]*/[^\"\\u0000-\\u001F\\u007F-\\u009F]*$",
            description = "A media type (default application/octet-stream): at most 100 bytes, with a `/`, no quotes or control characters"),
        ("Idempotency-Key" = Option<String>, Header)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = Artifact), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
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
    let content_type = parse_content_type(query.text("content_type"))?;
    let (parts, body) = request.into_parts();
    let key = crate::extract::idempotency_key(&parts)?;
    // Before receiving the file: the product must exist and be digital.
    check_product(&state, &principal.workspace_id, &product_id).await?;
    let stream = body
        .into_data_stream()
        .map(|chunk| chunk.map_err(io::Error::other))
        .boxed();
    let blob = receive(&state, stream).await?;
    let idempotency = upload_idempotency(&parts, key, &blob.sha256);
    let new = NewArtifact {
        product_id,
        version,
        platform,
        file_name,
        content_type,
        blob,
    };
    state
        .mutate(&principal, idempotency, move |mut cx| {
            Box::pin(async move { Ok((StatusCode::OK, create(&mut cx, new).await?)) })
        })
        .await
}

/// An upload's idempotency: its key, and a fingerprint of the request (path, query and the
/// file's SHA-256, the body being too large to keep).
fn upload_idempotency(
    parts: &axum::http::request::Parts,
    key: Option<String>,
    sha256: &str,
) -> Idempotency {
    let fingerprint = if key.is_some() {
        bursar_store::sha256_hex(
            format!(
                "POST {}?{}\n{}",
                parts.uri.path(),
                parts.uri.query().unwrap_or(""),
                sha256
            )
            .as_bytes(),
        )
    } else {
        String::new()
    };
    Idempotency {
        key,
        fingerprint,
        request_id: crate::extract::request_id(parts),
    }
}

/// List artifacts, newest first; `product_id` selects one product's.
#[utoipa::path(get, path = "/v1/artifacts", tag = "fulfillment",
    params(("product_id" = Option<String>, Query), ("limit" = Option<i64>, Query),
        ("starting_after" = Option<ArtifactId>, Query), ("ending_before" = Option<ArtifactId>, Query)),
    responses((status = 200, body = ListResponse<Artifact>)), security(("api_key" = [])))]
async fn list_artifacts(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<Artifact>>, ApiError> {
    Ok(principal.json(
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
    params(("id" = ArtifactId, Path)),
    responses((status = 200, body = Artifact), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_artifact(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Artifact>, ApiError> {
    Ok(principal.json(docs::get(&state, &principal, ARTIFACT, "artifact", id).await?))
}

/// Retire an artifact: no new links or updates point to it, and its links stop working.
#[utoipa::path(post, path = "/v1/artifacts/{id}/retire", tag = "fulfillment",
    params(("id" = ArtifactId, Path), ("Idempotency-Key" = Option<String>, Header)),
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
            Box::pin(async move { Ok((StatusCode::OK, retire(&mut cx, &id).await?)) })
        })
        .await
}
