//! `/v1/licenses`: license keys, shown once, validated by shipped programs.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bursar_domain::auth::Permission;
use bursar_domain::fulfillment::*;
use bursar_domain::id::*;
use bursar_store::documents::LICENSE;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::docs;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal, QueryParams};
use crate::limits::too_many;
use crate::list::ListResponse;
use crate::livemode::Json;
use crate::public::*;
use crate::AppState;
use bursar_core::fulfillment::{key_hash, public_view, revoke};
use bursar_core::licenses::{
    activate, deactivate, precheck, reissue, reveal_order_licenses, Precheck,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_licenses))
        .routes(routes!(get_license))
        .routes(routes!(revoke_license))
        .routes(routes!(reissue_license))
        .routes(routes!(deactivate_license))
        .routes(routes!(validate_license))
        .routes(routes!(order_licenses))
}

// ---------------------------------------------------------------------------------------------
// Licenses

/// List licenses, newest first; `customer_id` selects one customer's.
#[utoipa::path(get, path = "/v1/licenses", tag = "fulfillment",
    params(("customer_id" = Option<String>, Query), ("limit" = Option<i64>, Query),
        ("starting_after" = Option<LicenseId>, Query), ("ending_before" = Option<LicenseId>, Query)),
    responses((status = 200, body = ListResponse<License>)), security(("api_key" = [])))]
async fn list_licenses(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<License>>, ApiError> {
    Ok(principal.json(
        docs::list(
            &state,
            &principal,
            &query,
            LICENSE,
            "/v1/licenses",
            "lic_",
            Some(("customer_id", "customer_id")),
        )
        .await?,
    ))
}

/// Retrieve a license (never its key: see the order's licenses).
#[utoipa::path(get, path = "/v1/licenses/{id}", tag = "fulfillment",
    params(("id" = LicenseId, Path)),
    responses((status = 200, body = License), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_license(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<License>, ApiError> {
    Ok(principal.json(docs::get(&state, &principal, LICENSE, "license", id).await?))
}

/// Revoke a license: validation answers `revoked` from now on.
#[utoipa::path(post, path = "/v1/licenses/{id}/revoke", tag = "fulfillment",
    params(("id" = LicenseId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = License), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn revoke_license(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<serde_json::Value>,
) -> Result<Response, ApiError> {
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move { Ok((StatusCode::OK, revoke(&mut cx, &id).await?)) })
        })
        .await
}

/// Re-issue a license: the old key is revoked and a new one issued with the same terms (and
/// activations cleared). The new key is emailed to the customer and shown once among the
/// order's licenses; this response never carries it.
#[utoipa::path(post, path = "/v1/licenses/{id}/reissue", tag = "fulfillment",
    params(("id" = LicenseId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = License), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn reissue_license(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<serde_json::Value>,
) -> Result<Response, ApiError> {
    let sealer = state.db.sealer()?.clone();
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move { Ok((StatusCode::OK, reissue(&mut cx, &sealer, &id).await?)) })
        })
        .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeactivateRequest {
    /// The machine to free (as it activated: 1 to 200 printable characters).
    #[schema(min_length = 1, max_length = 200)]
    pub machine_id: String,
}

/// Deactivate a machine: its activation is freed, so another machine can activate the license
/// in its place. A machine that is not activated changes nothing.
#[utoipa::path(post, path = "/v1/licenses/{id}/deactivate", tag = "fulfillment",
    request_body = DeactivateRequest,
    params(("id" = LicenseId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = License), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn deactivate_license(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<DeactivateRequest>,
) -> Result<Response, ApiError> {
    let machine =
        bursar_domain::fulfillment::parse_machine_id(&request.body.machine_id, "machine_id")?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move { Ok((StatusCode::OK, deactivate(&mut cx, &id, &machine).await?)) })
        })
        .await
}

/// A license with its key, the one time it is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevealedLicense {
    #[serde(flatten)]
    pub license: License,
    /// The key, present once: on the first read of the order's licenses by a key allowed to
    /// write, while Bursar still holds it sealed.
    pub key: Option<String>,
}

/// The licenses of an order. Each key is shown here once (to a key with write access), and in
/// the fulfillment email; afterwards only its hint.
#[utoipa::path(get, path = "/v1/orders/{id}/licenses", tag = "fulfillment",
    params(("id" = OrderId, Path)),
    responses((status = 200, body = ListResponse<RevealedLicense>), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn order_licenses(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ListResponse<RevealedLicense>>, ApiError> {
    let reveal = principal.scope.allows(Permission::Write);
    let licenses: Vec<RevealedLicense> =
        reveal_order_licenses(&state, &principal.workspace_id, id, reveal)
            .await?
            .into_iter()
            .map(|(license, key)| RevealedLicense { license, key })
            .collect();
    Ok(principal.json(ListResponse::all("/v1/orders/{id}/licenses", licenses)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    /// The license key, as typed.
    #[schema(value_type = LicenseKeyText)]
    pub key: String,
    /// The product the software is: another product's key answers `product_mismatch`.
    #[schema(value_type = Option<ProductId>)]
    pub product_id: Option<String>,
    /// Activates the license on this machine (up to its limit): 1 to 200 bytes, no control
    /// characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"
    )]
    pub machine_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Validation {
    pub valid: bool,
    pub code: Validity,
    /// What the software may show about the license (absent when not found).
    pub license: Option<serde_json::Value>,
}

/// For shipped software: is this license key valid (for this product, on this machine)? No
/// API key needed; rate limited per address. A well-formed key that is not valid answers 200
/// with `valid: false` and the reason; a malformed or mistyped key answers 400.
#[utoipa::path(post, path = "/v1/licenses/validate", tag = "fulfillment", request_body = ValidateRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Validation), (status = 400, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn validate_license(
    State(state): State<AppState>,
    ConnectInfoIp(ip): ConnectInfoIp,
    request: Mutation<ValidateRequest>,
) -> Result<Response, ApiError> {
    let now = state.db.now();
    if !state.limiter.allow(
        &format!("ip:{ip}"),
        state.app.config.downloads.per_ip_per_minute,
        now,
    ) {
        return Err(too_many());
    }
    let body = request.body;
    let key = LicenseKey::parse(&body.key, "key")?;
    let product = body
        .product_id
        .as_deref()
        .map(|p| ProductId::parse(p, "product_id"))
        .transpose()?;
    let machine = body
        .machine_id
        .as_deref()
        .map(|m| parse_machine_id(m, "machine_id"))
        .transpose()?;
    let hash = key_hash(state.db.sealer()?, &key);
    // Most checks change nothing (no machine, or one already activated): answered from the
    // read, without a write transaction.
    let workspace_id =
        match precheck(&state, &hash, product.as_ref(), machine.as_deref(), now).await? {
            Precheck::Answered { code, license } => {
                return Ok(axum::Json(validation(code, license.as_deref())).into_response())
            }
            Precheck::Activate(workspace_id) => workspace_id,
        };
    let cause = public_cause("license_key", &request.idempotency);
    state
        .mutate_as(workspace_id, cause, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let (code, license) =
                    activate(&mut cx, &hash, product.as_ref(), machine.as_deref()).await?;
                Ok((StatusCode::OK, validation(code, Some(&license))))
            })
        })
        .await
}

/// The answer to a validation: the verdict and what the software may show of the license.
fn validation(code: Validity, license: Option<&License>) -> Validation {
    Validation {
        valid: code == Validity::Valid,
        code,
        license: license.map(public_view),
    }
}
