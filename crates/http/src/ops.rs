//! Operations endpoints: liveness, readiness, metrics, the OpenAPI document and its reference
//! page. None needs an API key: they describe the service, not a workspace's data.

use askama::Template;
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

#[derive(Template)]
#[template(path = "docs.html")]
struct DocsPage {
    title: String,
    version: String,
    description: String,
    endpoints: Vec<EndpointView>,
    schemas: Vec<(String, String)>,
}

struct EndpointView {
    anchor: String,
    method: String,
    path: String,
    summary: String,
    description: String,
    secured: bool,
    parameters: Vec<ParameterView>,
    request_body: Option<String>,
    responses: Vec<(String, String, String)>,
}

struct ParameterView {
    name: String,
    location: String,
    required: bool,
    description: String,
}

/// Renders the reference page from the OpenAPI document (as JSON, which is simpler to walk than
/// the typed model and is exactly what clients see).
pub fn render_docs(spec: &Value) -> String {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    let info = spec.get("info").cloned().unwrap_or(Value::Null);
    let mut endpoints = Vec::new();
    if let Some(paths) = spec.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            for method in ["get", "post", "put", "patch", "delete"] {
                let Some(op) = item.get(method) else { continue };
                let parameters = op
                    .get("parameters")
                    .and_then(Value::as_array)
                    .map(|ps| {
                        ps.iter()
                            .map(|p| ParameterView {
                                name: text(p, "name"),
                                location: text(p, "in"),
                                required: p
                                    .get("required")
                                    .and_then(Value::as_bool)
                                    .unwrap_or(false),
                                description: text(p, "description"),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let request_body = op
                    .pointer("/requestBody/content/application~1json/schema")
                    .map(schema_name);
                let responses = op
                    .get("responses")
                    .and_then(Value::as_object)
                    .map(|rs| {
                        rs.iter()
                            .map(|(code, r)| {
                                let schema = r
                                    .get("content")
                                    .and_then(Value::as_object)
                                    .and_then(|c| c.values().next())
                                    .and_then(|c| c.get("schema"))
                                    .map(schema_name)
                                    .unwrap_or_default();
                                (code.clone(), text(r, "description"), schema)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                endpoints.push(EndpointView {
                    anchor: format!("{method}-{}", path.replace(['/', '{', '}'], "-")),
                    method: method.to_uppercase(),
                    path: path.clone(),
                    summary: text(op, "summary"),
                    description: text(op, "description"),
                    secured: op.get("security").is_some(),
                    parameters,
                    request_body,
                    responses,
                });
            }
        }
    }
    let schemas = spec
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .map(|s| {
            s.iter()
                .map(|(name, schema)| {
                    (
                        name.clone(),
                        serde_json::to_string_pretty(schema).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let page = DocsPage {
        title: text(&info, "title"),
        version: text(&info, "version"),
        description: text(&info, "description"),
        endpoints,
        schemas,
    };
    page.render()
        .unwrap_or_else(|e| format!("reference page failed to render: {e}"))
}

fn schema_name(schema: &Value) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return reference.rsplit('/').next().unwrap_or(reference).to_owned();
    }
    serde_json::to_string(schema).unwrap_or_default()
}
