//! Request metrics (Prometheus), request ids and request timeouts.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bursar_domain::id::RequestId;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tower_http::request_id::{MakeRequestId, RequestId as TowerRequestId};

use crate::error::{ApiError, ErrorType};
use crate::AppState;

pub const REQUEST_DURATION_METRIC: &str = "bursar_http_request_duration_seconds";
pub const REQUESTS_METRIC: &str = "bursar_http_requests_total";

/// Latency buckets in seconds: fine-grained below 10 ms, where this API should live.
const LATENCY_BUCKETS_SECONDS: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process-wide Prometheus recorder. A process has one metrics registry, however many
/// servers it runs (tests run many), so it is installed once and shared.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(REQUEST_DURATION_METRIC.to_owned()),
                    &LATENCY_BUCKETS_SECONDS,
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (an embedding program's); then ours
            // still renders what this crate records through `handle` only if it is global,
            // so report it rather than fail.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
            }
            handle
        })
        .clone()
}

/// A request's method as a metrics label: the standard methods by name, anything else (a
/// client may send any token) as `other`, so the label set stays closed.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts every request by route and status and records its latency.
pub async fn track_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let seconds = started.elapsed().as_secs_f64();
    metrics::counter!(REQUESTS_METRIC, "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(REQUEST_DURATION_METRIC, "method" => method, "route" => route)
        .record(seconds);
    response
}

/// Answers 503 when a request runs longer than the configured timeout. Its write, if any,
/// either commits (SQLite's writer finishes the jobs it was handed) or is rolled back with the
/// cancelled request (PostgreSQL); a retry with the same Idempotency-Key is safe either way.
pub async fn timeout(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // File transfers take as long as the bytes take: uploads of artifacts and downloads (whose
    // body streams after the handler returns anyway).
    let path = request.uri().path();
    if (request.method() == axum::http::Method::POST && path == "/v1/artifacts")
        || path.starts_with("/download/")
    {
        return next.run(request).await;
    }
    let limit: Duration = state.config.request_timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::ApiError,
            "request_timeout",
            format!("The request took longer than {} ms.", limit.as_millis()),
        )
        .into_response(),
    }
}

/// Generates `req_…` ids for requests that arrive without an `X-Request-Id`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MakeRequestIds;

impl MakeRequestId for MakeRequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<TowerRequestId> {
        HeaderValue::from_str(RequestId::new().as_str())
            .ok()
            .map(TowerRequestId::new)
    }
}

/// The span every request's log lines belong to: method, route, request id. No headers, so no
/// secret (the Authorization header) can reach a log line.
pub fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| request.uri().path().to_owned());
    tracing::info_span!("request", method = %request.method(), route = %route, request_id = %request_id)
}
