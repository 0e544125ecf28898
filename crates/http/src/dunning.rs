//! `/v1/dunning_policies`: the workspace's dunning policies, versioned; a customer's own
//! policy or exclusion; account health and the collections summary.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bursar_core::dunning_policies::{self, PolicyInput};
use bursar_domain::collections::{Assignment, CollectionsSummary, DunningPolicy, DunningStep};
use bursar_domain::commerce::parse_text;
use bursar_domain::id::{CustomerId, DunningPolicyId};
use bursar_domain::money::Currency;
use bursar_store::Tx;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal};
use crate::list::ListResponse;
use crate::livemode::Json;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_policy, list_policies))
        .routes(routes!(get_policy, update_policy))
        .routes(routes!(assign_policy))
        .routes(routes!(collections_summary))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyRequest {
    #[schema(
        example = "Standard",
        min_length = 1,
        max_length = 100,
        pattern = r"\S"
    )]
    pub name: String,
    /// Ordered by `at_days`, each later than the one before (1 to 20 steps).
    #[schema(min_items = 1, max_items = 20)]
    pub steps: Vec<DunningStep>,
    /// Per currency (ISO 4217), the overdue balance in minor units below which an account
    /// is not dunned (default: any amount).
    #[schema(value_type = Option<BTreeMap<String, i64>>)]
    pub minimum_balances: Option<BTreeMap<String, i64>>,
    /// Make it the workspace's default (the first policy always is).
    pub default: Option<bool>,
}

fn input(body: PolicyRequest) -> Result<PolicyInput, ApiError> {
    let mut minimum_balances = BTreeMap::new();
    for (code, amount) in body.minimum_balances.unwrap_or_default() {
        let currency = Currency::parse(&code, &format!("minimum_balances.{code}"))?;
        minimum_balances.insert(currency, amount);
    }
    Ok(PolicyInput {
        name: parse_text(&body.name, "name", 100)?,
        steps: body.steps,
        minimum_balances,
        default: body.default.unwrap_or(false),
    })
}

/// Create a dunning policy (version 1).
#[utoipa::path(post, path = "/v1/dunning_policies", tag = "collections", request_body = PolicyRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = DunningPolicy), (status = 400, body = ErrorBody)), security(("api_key" = [])))]
async fn create_policy(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<PolicyRequest>,
) -> Result<Response, ApiError> {
    let input = input(request.body)?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let policy = dunning_policies::create(&mut cx, input).await?;
                Ok((StatusCode::OK, policy))
            })
        })
        .await
}

/// Edit a dunning policy: a new version under the same id. Accounts already in dunning keep
/// the version they entered with until they recover.
#[utoipa::path(post, path = "/v1/dunning_policies/{id}", tag = "collections", request_body = PolicyRequest,
    params(("id" = DunningPolicyId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = DunningPolicy), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn update_policy(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<PolicyRequest>,
) -> Result<Response, ApiError> {
    let input = input(request.body)?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let policy = dunning_policies::update(&mut cx, &id, input).await?;
                Ok((StatusCode::OK, policy))
            })
        })
        .await
}

/// The latest version of each dunning policy.
#[utoipa::path(get, path = "/v1/dunning_policies", tag = "collections",
    responses((status = 200, body = ListResponse<DunningPolicy>)), security(("api_key" = [])))]
async fn list_policies(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<ListResponse<DunningPolicy>>, ApiError> {
    let workspace_id = principal.workspace_id.clone();
    let policies = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { dunning_policies::list(tx, &workspace_id).await })
        })
        .await?;
    Ok(principal.json(ListResponse::all("/v1/dunning_policies", policies)))
}

/// A dunning policy's latest version.
#[utoipa::path(get, path = "/v1/dunning_policies/{id}", tag = "collections", params(("id" = DunningPolicyId, Path)),
    responses((status = 200, body = DunningPolicy), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_policy(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<DunningPolicy>, ApiError> {
    let workspace_id = principal.workspace_id.clone();
    let policies = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { dunning_policies::list(tx, &workspace_id).await })
        })
        .await?;
    let policy = policies
        .into_iter()
        .find(|p| p.id.as_ref().is_some_and(|i| i.as_str() == id))
        .ok_or_else(|| bursar_core::Error::not_found("dunning_policy", &id))?;
    Ok(principal.json(policy))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// The policy (`dpol_…`) the customer follows; absent with `excluded` false: the default.
    #[schema(value_type = Option<DunningPolicyId>)]
    pub policy_id: Option<String>,
    /// Exclude the customer from dunning (no steps, no consequences).
    pub excluded: Option<bool>,
}

/// Give a customer its own dunning policy, exclude it, or return it to the default; takes
/// effect when it next falls behind.
#[utoipa::path(post, path = "/v1/customers/{id}/dunning_policy", tag = "collections", request_body = AssignRequest,
    params(("id" = CustomerId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Assignment), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn assign_policy(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<AssignRequest>,
) -> Result<Response, ApiError> {
    let customer_id =
        CustomerId::parse(&id, "id").map_err(|_| bursar_core::Error::not_found("customer", &id))?;
    let body = request.body;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let assignment = dunning_policies::assign(
                    &mut cx,
                    &customer_id,
                    body.policy_id.as_deref(),
                    body.excluded.unwrap_or(false),
                )
                .await?;
                Ok((StatusCode::OK, assignment))
            })
        })
        .await
}

/// The workspace's collections: accounts per billing status and per dunning step, recovery
/// rate, amount recovered and time to recovery per policy version, retries by decline class,
/// bad-debt drift per currency.
#[utoipa::path(get, path = "/v1/collections/summary", tag = "collections",
    responses((status = 200, body = CollectionsSummary)), security(("api_key" = [])))]
async fn collections_summary(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<CollectionsSummary>, ApiError> {
    let workspace_id = principal.workspace_id.clone();
    let now = state.db.now();
    let summary = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { bursar_core::collections::summary(tx, &workspace_id, now).await })
        })
        .await?;
    Ok(principal.json(summary))
}
