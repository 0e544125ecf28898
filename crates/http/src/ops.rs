//! Operations endpoints: liveness, readiness, metrics, the OpenAPI document and its reference
//! page. None needs an API key: they describe the service, not a workspace's data.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
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

/// A readable API reference, rendered from the OpenAPI document.
#[utoipa::path(
    get, path = "/docs", tag = "operations",
    responses((status = 200, description = "HTML page", content_type = "text/html"))
)]
async fn docs(State(state): State<AppState>) -> Html<String> {
    Html(state.docs_html.as_str().to_owned())
}

/// Renders the reference page from the OpenAPI document (see [`crate::reference`]).
pub fn render_docs(spec: &Value) -> String {
    crate::reference::render(spec)
}
