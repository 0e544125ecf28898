//! Billing status of customers and contracts, and the entitlements it allows.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bursar_domain::commerce::parse_text;
use bursar_domain::contract::Contract;
use bursar_domain::id::*;
use bursar_store::documents::{self, BILLING_STATUS, CONTRACT};
use bursar_store::Tx;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal};
use crate::livemode::Json;
use crate::AppState;
use bursar_core::collections::{close_billing_account, entitlements_of, pending, status_of};
use bursar_domain::collections::{CustomerBillingStatus, Entitlements};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_billing_status))
        .routes(routes!(get_contract_billing_status))
        .routes(routes!(close_billing_status))
        .routes(routes!(get_entitlements))
}

/// A customer's billing status, with every change and its reason.
#[utoipa::path(get, path = "/v1/customers/{id}/billing_status", tag = "invoices", params(("id" = CustomerId, Path)),
    responses((status = 200, body = CustomerBillingStatus), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_billing_status(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<CustomerBillingStatus>, ApiError> {
    Ok(principal.json(status_of(&state, &principal.workspace_id, &id).await?))
}

/// A contract's billing status, driven by its own invoices (pending until one is issued; closed
/// once the contract ended with nothing owed), with every change and its reason.
#[utoipa::path(get, path = "/v1/contracts/{id}/billing_status", tag = "invoices", params(("id" = ContractId, Path)),
    responses((status = 200, body = CustomerBillingStatus), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_contract_billing_status(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<CustomerBillingStatus>, ApiError> {
    let workspace_id = principal.workspace_id.clone();
    let found = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let contract: Contract = documents::get(tx, CONTRACT, &workspace_id, &id, false)
                    .await?
                    .ok_or_else(|| ApiError::not_found("contract", &id))?;
                let stored: Option<CustomerBillingStatus> =
                    documents::get(tx, BILLING_STATUS, &workspace_id, &id, false).await?;
                Ok::<_, ApiError>(stored.unwrap_or_else(|| CustomerBillingStatus {
                    contract_id: ContractId::parse(&contract.id, "id").ok(),
                    ..pending(&CustomerId::from_trusted(contract.buyer_id.clone()))
                }))
            })
        })
        .await?;
    Ok(principal.json(found))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    /// Why the account is closed (recorded with the change).
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub reason: Option<String>,
}

/// Close a customer's billing account: final; entitlements end.
#[utoipa::path(post, path = "/v1/customers/{id}/billing_status/close", tag = "invoices", request_body = CloseRequest,
    params(("id" = CustomerId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = CustomerBillingStatus), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("api_key" = [])))]
async fn close_billing_status(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<CloseRequest>,
) -> Result<Response, ApiError> {
    let reason = request
        .body
        .reason
        .map(|r| parse_text(&r, "reason", 200))
        .transpose()?
        .unwrap_or_else(|| "closed_by_request".into());
    let customer_id =
        CustomerId::parse(&id, "id").map_err(|_| ApiError::not_found("customer", &id))?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let closed = close_billing_account(&mut cx, &customer_id, &reason).await?;
                Ok((StatusCode::OK, closed))
            })
        })
        .await
}

/// May this customer use the service, and which parts of it.
#[utoipa::path(get, path = "/v1/customers/{id}/entitlements", tag = "invoices", params(("id" = CustomerId, Path)),
    responses((status = 200, body = Entitlements), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_entitlements(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Entitlements>, ApiError> {
    Ok(principal.json(entitlements_of(&state, &principal.workspace_id, &id).await?))
}
