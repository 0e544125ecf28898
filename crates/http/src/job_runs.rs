//! `/v1/job_runs`: the job monitor. Background work that failed at least once — tracking
//! polls, automation steps, event deliveries — with its attempts and errors; support retries it
//! now or cancels it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bursar_core::jobs::{cancel, retry};
use bursar_domain::id::JobRunId;
use bursar_domain::jobs::JobRun;
use bursar_store::documents::JOB_RUN;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::docs;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal, QueryParams};
use crate::list::ListResponse;
use crate::livemode::Json;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_job_runs))
        .routes(routes!(get_job_run))
        .routes(routes!(retry_job_run))
        .routes(routes!(cancel_job_run))
}

/// Job runs, newest first; `status` (e.g. `dead`: what waits for a person) or `kind` narrows
/// them.
#[utoipa::path(get, path = "/v1/job_runs", tag = "operations",
    params(("status" = Option<String>, Query, description = "failed, dead, queued, succeeded or cancelled"),
        ("kind" = Option<String>, Query, description = "tracking_poll, automation_step, relay_delivery, billing, dunning_evaluation, payout_schedule or reconciliation"),
        ("limit" = Option<i64>, Query), ("starting_after" = Option<JobRunId>, Query),
        ("ending_before" = Option<JobRunId>, Query)),
    responses((status = 200, body = ListResponse<JobRun>), (status = 400, body = ErrorBody)),
    security(("api_key" = [])))]
async fn list_job_runs(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<JobRun>>, ApiError> {
    let filter = ["status", "kind"]
        .into_iter()
        .find(|param| query.text(param).is_some())
        .map(|param| (param, param));
    let runs = docs::list(
        &state,
        &principal,
        &query,
        JOB_RUN,
        "/v1/job_runs",
        "job_",
        filter,
    );
    Ok(principal.json(runs.await?))
}

/// Retrieve a job run with its newest events: each attempt (when, how long, the error), the
/// retries asked for and the cancellation.
#[utoipa::path(get, path = "/v1/job_runs/{id}", tag = "operations", params(("id" = JobRunId, Path)),
    responses((status = 200, body = JobRun), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn get_job_run(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<JobRun>, ApiError> {
    Ok(principal.json(docs::get(&state, &principal, JOB_RUN, "job run", id).await?))
}

/// Retry failed, dead or cancelled work now: a tracking poll is due at once, an automation step
/// is attempted again (a manual task gets one more attempt), a delivery is sent again.
#[utoipa::path(post, path = "/v1/job_runs/{id}/retry", tag = "operations",
    params(("id" = JobRunId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = JobRun), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn retry_job_run(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<serde_json::Value>,
) -> Result<Response, ApiError> {
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move { Ok((StatusCode::OK, retry(&mut cx, &id).await?)) })
        })
        .await
}

/// Cancel unfinished work: a shipment is no longer polled (pushes are still recorded), an
/// automation run becomes a manual task, a delivery is dead-lettered.
#[utoipa::path(post, path = "/v1/job_runs/{id}/cancel", tag = "operations",
    params(("id" = JobRunId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = JobRun), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn cancel_job_run(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<serde_json::Value>,
) -> Result<Response, ApiError> {
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move { Ok((StatusCode::OK, cancel(&mut cx, &id).await?)) })
        })
        .await
}
