//! `/v1/sandboxes`: sandboxes beside a live workspace, created, listed and reset by its admin
//! keys (a sandbox's own keys reach only the sandbox).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bursar_core::sandboxes::{self, parse_sandbox_id};
use bursar_domain::auth::Permission;
use bursar_domain::sandbox::{parse_name, Sandbox};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal};
use crate::livemode::Json;
use crate::mutate::cause_of;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_sandbox, list_sandboxes))
        .routes(routes!(get_sandbox))
        .routes(routes!(reset_sandbox))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSandboxRequest {
    /// 1 to 200 characters; absent: `Sandbox`.
    #[schema(example = "Staging")]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetSandboxRequest {}

/// Create a sandbox beside this live workspace (admin keys only): a workspace of its own with
/// the test provider and never real money. The answer carries its first admin key's secret
/// (`sk_test_…`), shown this once.
#[utoipa::path(
    post, path = "/v1/sandboxes", tag = "sandboxes",
    request_body = CreateSandboxRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses(
        (status = 200, body = Sandbox),
        (status = 400, body = ErrorBody),
        (status = 403, description = "The key is not an admin key", body = ErrorBody),
        (status = 409, description = "This workspace is a sandbox", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn create_sandbox(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<CreateSandboxRequest>,
) -> Result<Response, ApiError> {
    principal.require(Permission::Admin)?;
    let name = parse_name(request.body.name.as_deref())?;
    state
        .mutate_showing_once(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let created = sandboxes::create(&mut cx, name).await?;
                let shown = created.revealed();
                Ok((StatusCode::OK, created.sandbox, shown))
            })
        })
        .await
}

/// The sandboxes of this workspace, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SandboxList {
    /// Always `list`.
    pub object: &'static str,
    pub data: Vec<Sandbox>,
}

/// List this workspace's sandboxes, oldest first.
#[utoipa::path(
    get, path = "/v1/sandboxes", tag = "sandboxes",
    responses((status = 200, body = SandboxList)),
    security(("api_key" = []))
)]
async fn list_sandboxes(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<SandboxList>, ApiError> {
    let data = sandboxes::list(&state, &principal.workspace_id).await?;
    Ok(principal.json(SandboxList {
        object: "list",
        data,
    }))
}

/// Retrieve a sandbox of this workspace.
#[utoipa::path(
    get, path = "/v1/sandboxes/{id}", tag = "sandboxes",
    params(("id" = String, Path, description = "The sandbox's workspace id")),
    responses((status = 200, body = Sandbox), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
async fn get_sandbox(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Sandbox>, ApiError> {
    let id = parse_sandbox_id(&id)?;
    Ok(principal.json(sandboxes::get(&state, &principal.workspace_id, &id).await?))
}

/// Reset a sandbox of this workspace (admin keys only): every object in it (customers, orders,
/// the ledger, events, webhooks, invoices, …) is deleted in one transaction; the sandbox and
/// its API keys stay. Recorded as `sandbox.reset` in this workspace's events and audit log.
#[utoipa::path(
    post, path = "/v1/sandboxes/{id}/reset", tag = "sandboxes",
    request_body = ResetSandboxRequest,
    params(
        ("id" = String, Path, description = "The sandbox's workspace id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    responses(
        (status = 200, body = Sandbox),
        (status = 403, description = "The key is not an admin key", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn reset_sandbox(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<ResetSandboxRequest>,
) -> Result<Response, ApiError> {
    principal.require(Permission::Admin)?;
    let id = parse_sandbox_id(&id)?;
    let cause = cause_of(&principal, &request.idempotency);
    let live = principal.workspace_id.clone();
    state
        .idempotent(&principal, request.idempotency, async {
            sandboxes::reset_beside(&state, &live, &id, cause).await
        })
        .await
}
