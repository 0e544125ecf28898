//! Billing runs: each active contract's periods become draft invoices — a period's fixed fees
//! in advance (at least each line's minimum commitment), and for the period before: the fees
//! billed in arrears, the usage of the meters rated by each usage line's pricing model, and the
//! prorations of changes — once; a contract that ends gets a final invoice for its last
//! period's arrears.
//!
//! Once is guaranteed three ways: the contract's row is locked while it is billed (PostgreSQL;
//! SQLite has one writer), the run checks for an invoice with the period's billing key, and a
//! unique index on that key refuses a second one. Contracts are billed in batches, each batch
//! in one transaction together with each contract's `mark_billed` operation (its periods before
//! the billed one are closed to back-dated changes) and the close of the usage it billed, so a
//! run killed part-way leaves whole batches billed or not, and a rerun finishes the rest.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use bursar_domain::invoice::*;
use bursar_domain::time::Timestamp;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal};
use crate::AppState;
use bursar_core::billing::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_billing_run))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BillingRunRequest {
    /// The moment to bill for (RFC 3339; default now): each active contract's period holding
    /// it.
    pub as_of: Option<Timestamp>,
}

/// Run billing for the workspace: a draft invoice per active contract for its current period
/// (fixed fees in advance; the previous period's in-arrears fees, rated usage and prorations),
/// each contract and period once.
#[utoipa::path(post, path = "/v1/billing_runs", tag = "invoices", request_body = BillingRunRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = BillingRun), (status = 400, body = ErrorBody)), security(("api_key" = [])))]
async fn create_billing_run(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<BillingRunRequest>,
) -> Result<Response, ApiError> {
    let as_of = request.body.as_of.unwrap_or_else(|| state.db.now());
    let cause = crate::mutate::cause_of(&principal, &request.idempotency);
    let recorded = run_billing(&state, &principal.workspace_id, as_of, &cause).await?;
    // The run's record (replayed for a retried Idempotency-Key; billing again would find
    // everything billed anyway).
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move { Ok((StatusCode::OK, record_run(&mut cx, recorded).await?)) })
        })
        .await
}
