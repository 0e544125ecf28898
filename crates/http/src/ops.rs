//! Operations endpoints: liveness, readiness, metrics, the OpenAPI document and its reference
//! page. None needs an API key: they describe the service, not a workspace's data.

use axum::extract::State;
use std::io::Write;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody, ErrorType};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
        .routes(routes!(docs))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Liveness: the process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// Readiness: the database answers.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = ErrorBody))
)]
async fn readyz(State(state): State<AppState>) -> Result<axum::Json<Health>, ApiError> {
    match state.db.ping().await {
        Ok(()) => Ok(axum::Json(Health { status: "ok" })),
        Err(error) => {
            tracing::warn!(error = %error, "readiness check failed");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorType::ApiError,
                "database_unavailable",
                "The database is not reachable.",
            ))
        }
    }
}

/// Prometheus metrics in text exposition format.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"))
)]
async fn metrics(State(state): State<AppState>) -> Response {
    let (open, idle) = state.db.pool_state();
    let backend = state.db.backend().as_str();
    metrics::gauge!("bursar_db_pool_connections", "state" => "open", "backend" => backend)
        .set(f64::from(open));
    metrics::gauge!("bursar_db_pool_connections", "state" => "idle", "backend" => backend)
        .set(f64::from(idle));
    if let Err(error) = bursar_core::jobs::refresh_gauges(&state).await {
        tracing::warn!(%error, "reading the job queues' health failed");
    }
    let text = state.metrics.render();
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// This API's OpenAPI 3 document, generated from the code that serves it.
#[utoipa::path(
    get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI document", content_type = "application/json"))
)]
async fn openapi_json(State(state): State<AppState>) -> Response {
    let mut response = state.openapi_json.as_str().to_owned().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A readable API reference, rendered from the OpenAPI document: operations by resource with
/// curl and response examples, and every schema's properties. Sent gzip-compressed to clients
/// that accept it.
#[utoipa::path(
    get, path = "/docs", tag = "operations",
    responses((status = 200, description = "HTML page", content_type = "text/html"))
)]
async fn docs(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(accepts_gzip);
    let page = &state.docs_page;
    let mut response = if gzip {
        let mut response = page.gzip.clone().into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        response
    } else {
        page.html.clone().into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    response
}

/// The reference page, rendered once at start, as it is and gzip-compressed.
pub struct DocsPage {
    pub html: Bytes,
    pub gzip: Bytes,
}

impl DocsPage {
    pub fn new(spec: &Value) -> Self {
        let html = render_docs(spec);
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        let gzip = encoder
            .write_all(html.as_bytes())
            .and_then(|()| encoder.finish())
            .unwrap_or_default();
        DocsPage {
            html: Bytes::from(html),
            gzip: Bytes::from(gzip),
        }
    }
}

/// Whether an `Accept-Encoding` value accepts gzip (`gzip` or `*`, without `q=0`).
fn accepts_gzip(accept: &str) -> bool {
    accept.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or("");
        let refused = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q == 0.0)
        });
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
    })
}

/// Renders the reference page from the OpenAPI document (see [`crate::reference`]).
pub fn render_docs(spec: &Value) -> String {
    crate::reference::render(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_sent_only_when_accepted() {
        assert!(accepts_gzip("gzip, deflate, br"));
        assert!(accepts_gzip("br;q=1.0, GZIP;q=0.5"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("identity"));
        assert!(!accepts_gzip("x-gzip2"));
    }

    #[test]
    fn the_compressed_page_is_the_page() {
        use std::io::Read;
        let page = DocsPage::new(&serde_json::json!({"info": {"title": "T", "version": "1"}}));
        let mut html = String::new();
        flate2::read::GzDecoder::new(&page.gzip[..])
            .read_to_string(&mut html)
            .unwrap_or_default();
        assert!(html.contains("<h1>T <small>1</small></h1>"), "{html}");
        assert_eq!(html.as_bytes(), &page.html[..]);
    }
}
