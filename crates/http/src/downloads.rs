//! Download links: tokens, ranges, limits, and the public download route.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use bursar_domain::commerce::Order;
use bursar_domain::fulfillment::*;
use bursar_domain::id::{DownloadLinkId, OrderId};
use bursar_store::documents::{self, DOWNLOAD_LINK, ORDER};
use bursar_store::Tx;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal};
use crate::limits::too_many;
use crate::list::ListResponse;
use crate::livemode::Json;
use crate::public::*;
use crate::AppState;
use bursar_core::blobs::{parse_range, RangeRequest};
use bursar_core::downloads::*;
use bursar_core::fulfillment::link_of_token;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(order_download_links))
        .routes(routes!(unlock_download_link))
        .routes(routes!(resend_downloads))
        .routes(routes!(download))
}

// ---------------------------------------------------------------------------------------------
// Download links

/// The download links of an order (never their tokens: those are in the email).
#[utoipa::path(get, path = "/v1/orders/{id}/download_links", tag = "fulfillment",
    params(("id" = OrderId, Path)),
    responses((status = 200, body = ListResponse<DownloadLink>), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn order_download_links(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ListResponse<DownloadLink>>, ApiError> {
    let workspace_id = principal.workspace_id.clone();
    let links = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                documents::get::<Order>(tx, ORDER, &workspace_id, &id, false)
                    .await?
                    .ok_or_else(|| ApiError::not_found("order", &id))?;
                Ok::<_, ApiError>(
                    documents::find_in::<DownloadLink>(
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
    Ok(principal.json(ListResponse::all("/v1/orders/{id}/download_links", links)))
}

/// Unlock a link locked for use from too many addresses (after checking with the customer).
#[utoipa::path(post, path = "/v1/download_links/{id}/unlock", tag = "fulfillment",
    params(("id" = DownloadLinkId, Path), ("Idempotency-Key" = Option<String>, Header)),
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
            Box::pin(async move { Ok((StatusCode::OK, unlock(&mut cx, &id).await?)) })
        })
        .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendRequest {
    /// An address such as `ada@example.com`: at most 254 bytes, a dotted domain.
    #[schema(format = Email, min_length = 5, max_length = 254)]
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
    let limit = (state.app.config.downloads.per_ip_per_minute / 10).max(1);
    if !state.limiter.allow(&format!("resend:{ip}"), limit, now) {
        return Err(too_many());
    }
    let email = parse_resend_email(&request.body.email)?;
    let customers = customers_by_email(&state, &email).await?;
    let settings = state.app.config.downloads.clone();
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
                        resend(&mut cx, &settings, &customer_id).await?;
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
        axum::Json(json!({
            "status": "accepted",
            "message": "If this address has orders with downloads, fresh links are on their way.",
        })),
    )
        .into_response())
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

/// Download a file: the token from the link in the email. Streams the file with its length and
/// SHA-256 (`X-Checksum-Sha256`, `Digest`), and serves byte ranges to resume (206). Refusals
/// are pages: expired or used up (410), locked (403), unknown or tampered (404), too many
/// requests (429).
#[utoipa::path(get, path = "/download/{token}", tag = "fulfillment",
    params(("token" = String, Path), ("Range" = Option<String>, Header)),
    responses((status = 200, description = "The file"), (status = 206, description = "Part of the file"),
        (status = 403, description = "Locked: used from too many addresses"), (status = 404, description = "Unknown link"),
        (status = 410, description = "Expired or used up"), (status = 429, description = "Too many requests; see Retry-After")))]
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
    let settings = state.app.config.downloads.clone();
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
    let head = method == Method::HEAD;
    let attempt = DownloadAttempt {
        link_id,
        ip,
        range: range_header,
        head,
        now,
    };
    let admission = admit(&state, attempt).await?;
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
    file_response(&state, artifact, &headers, head).await
}

/// The file of an admitted download: whole or the range asked for, with its length, type,
/// name and SHA-256 (`X-Checksum-Sha256`, `Digest`); no body for a HEAD request.
async fn file_response(
    state: &AppState,
    artifact: Artifact,
    request_headers: &HeaderMap,
    head: bool,
) -> Result<Response, ApiError> {
    let size = u64::try_from(artifact.size).unwrap_or(0);
    let (status, start, end) = match parse_range(range_header_of(request_headers), size) {
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
