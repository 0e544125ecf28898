//! `/v1/automation_scenarios` (what runs after a delivery) and `/v1/automation_runs` (each
//! run, and support's queue of manual tasks).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bursar_core::shipments::automation::{complete_manually, put_scenario, scenarios};
use bursar_domain::commerce::parse_text;
use bursar_domain::id::AutomationRunId;
use bursar_domain::shipping::{AutomationRun, AutomationScenario, AutomationStep};
use bursar_store::documents::AUTOMATION_RUN;
use serde::Deserialize;
use utoipa::ToSchema;
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
        .routes(routes!(put_automation_scenario, list_scenarios))
        .routes(routes!(list_runs))
        .routes(routes!(get_run))
        .routes(routes!(complete_run))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutScenarioRequest {
    /// `first_time` (outbound parcels), `return` (returns), `replacement`, or your own.
    #[schema(pattern = "^[a-z0-9_]{1,40}$")]
    pub key: String,
    #[schema(min_items = 1, max_items = 10)]
    pub steps: Vec<AutomationStep>,
    /// The manual task's instructions when a step fails all its attempts.
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub fallback_instructions: String,
}

/// Create or replace an automation scenario: the steps run (in order) when a parcel it
/// applies to is delivered. Runs already started keep the steps they began with.
#[utoipa::path(post, path = "/v1/automation_scenarios", tag = "shipping",
    request_body = PutScenarioRequest, params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = AutomationScenario), (status = 400, body = ErrorBody)),
    security(("api_key" = [])))]
async fn put_automation_scenario(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<PutScenarioRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let instructions = parse_text(&body.fallback_instructions, "fallback_instructions", 2000)?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let scenario = put_scenario(&mut cx, body.key, body.steps, instructions).await?;
                Ok((StatusCode::OK, scenario))
            })
        })
        .await
}

/// The workspace's automation scenarios, by key.
#[utoipa::path(get, path = "/v1/automation_scenarios", tag = "shipping",
    responses((status = 200, body = ListResponse<AutomationScenario>)),
    security(("api_key" = [])))]
async fn list_scenarios(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<ListResponse<AutomationScenario>>, ApiError> {
    let scenarios = scenarios(&state, &principal.workspace_id).await?;
    Ok(principal.json(ListResponse::all("/v1/automation_scenarios", scenarios)))
}

/// Automation runs, newest first; `status=manual_task` is support's queue, `order_id` one
/// order's.
#[utoipa::path(get, path = "/v1/automation_runs", tag = "shipping",
    params(("status" = Option<String>, Query, description = "running, succeeded, manual_task or completed_manually"),
        ("order_id" = Option<String>, Query), ("limit" = Option<i64>, Query),
        ("starting_after" = Option<AutomationRunId>, Query), ("ending_before" = Option<AutomationRunId>, Query)),
    responses((status = 200, body = ListResponse<AutomationRun>), (status = 400, body = ErrorBody)),
    security(("api_key" = [])))]
async fn list_runs(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<AutomationRun>>, ApiError> {
    let filter = if query.text("order_id").is_some() {
        ("order_id", "order_id")
    } else {
        ("status", "status")
    };
    Ok(principal.json(
        docs::list(
            &state,
            &principal,
            &query,
            AUTOMATION_RUN,
            "/v1/automation_runs",
            "arun_",
            Some(filter),
        )
        .await?,
    ))
}

/// Retrieve an automation run: each step's attempts (when, the callback's HTTP status, the
/// error) and its manual task.
#[utoipa::path(get, path = "/v1/automation_runs/{id}", tag = "shipping",
    params(("id" = AutomationRunId, Path)),
    responses((status = 200, body = AutomationRun), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn get_run(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<AutomationRun>, ApiError> {
    Ok(principal.json(docs::get(&state, &principal, AUTOMATION_RUN, "automation run", id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteRunRequest {
    /// What support did.
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub note: String,
}

/// Complete a manual task: support did by hand what the automation could not. The run counts
/// as done, and the order is fulfilled once its other parcels are.
#[utoipa::path(post, path = "/v1/automation_runs/{id}/complete", tag = "shipping",
    request_body = CompleteRunRequest,
    params(("id" = AutomationRunId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = AutomationRun), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn complete_run(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<CompleteRunRequest>,
) -> Result<Response, ApiError> {
    let note = parse_text(&request.body.note, "note", 2000)?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(
                async move { Ok((StatusCode::OK, complete_manually(&mut cx, &id, note).await?)) },
            )
        })
        .await
}
