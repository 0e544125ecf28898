//! `/v1/licenses`: license keys, shown once, validated by shipped programs.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bursar_domain::auth::Permission;
use bursar_domain::commerce::{Order, Product};
use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::fulfillment::*;
use bursar_domain::id::*;
use bursar_store::documents::{self, LICENSE, ORDER, PRODUCT};
use bursar_store::licenses::{self, Delivery};
use bursar_store::Tx;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::docs;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal, QueryParams};
use crate::list::ListResponse;
use crate::public::*;
use crate::AppState;
use bursar_core::fulfillment::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_licenses))
        .routes(routes!(get_license))
        .routes(routes!(revoke_license))
        .routes(routes!(reissue_license))
        .routes(routes!(validate_license))
        .routes(routes!(order_licenses))
}

// ---------------------------------------------------------------------------------------------
// Licenses

/// List licenses, newest first; `customer_id` selects one customer's.
#[utoipa::path(get, path = "/v1/licenses", tag = "fulfillment",
    params(("customer_id" = Option<String>, Query), ("limit" = Option<i64>, Query),
        ("starting_after" = Option<String>, Query), ("ending_before" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<License>)), security(("api_key" = [])))]
async fn list_licenses(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<License>>, ApiError> {
    Ok(Json(
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
    params(("id" = String, Path)),
    responses((status = 200, body = License), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_license(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<License>, ApiError> {
    Ok(Json(
        docs::get(&state, &principal, LICENSE, "license", id).await?,
    ))
}

/// Revoke a license: validation answers `revoked` from now on.
#[utoipa::path(post, path = "/v1/licenses/{id}/revoke", tag = "fulfillment",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
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
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
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
            Box::pin(async move {
                let mut old = revoke(&mut cx, &id).await?;
                let product: Product =
                    docs::get_in(&mut cx, PRODUCT, "product", old.product_id.as_str(), "id")
                        .await?;
                let prefix = old.key_hint.split('-').next().unwrap_or("LIC").to_owned();
                let policy = LicensePolicy {
                    prefix,
                    max_activations: old.max_activations,
                    valid_days: None,
                    updates: if old.major_version.is_some() {
                        UpdatePolicy::SameMajor
                    } else {
                        UpdatePolicy::All
                    },
                };
                let order = old.order_id.clone().zip(old.order_line);
                let mut new = issue_license(
                    &mut cx,
                    &sealer,
                    &product,
                    &policy,
                    &old.customer_id,
                    order.as_ref().map(|(o, l)| (o, *l)),
                    1,
                    Some(&old.id),
                )
                .await?;
                // Same terms: the old expiry and major version, not recomputed.
                new.expires_at = old.expires_at;
                new.major_version = old.major_version;
                documents::save(cx.tx, LICENSE, cx.workspace_id, new.id.as_str(), &new, &[])
                    .await?;
                old.replaced_by = Some(new.id.clone());
                documents::save(cx.tx, LICENSE, cx.workspace_id, old.id.as_str(), &old, &[])
                    .await?;
                cx.emit(NewEvent::new(
                    event_type::LICENSE_REISSUED,
                    "license",
                    new.id.as_str(),
                    json!({ "object": new, "replaces": old.id }),
                ))
                .await?;
                Ok((StatusCode::OK, new))
            })
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
    params(("id" = String, Path)),
    responses((status = 200, body = ListResponse<RevealedLicense>), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn order_licenses(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let reveal = principal.scope.allows(Permission::Write);
    let sealer = state.db.sealer()?.clone();
    let workspace_id = principal.workspace_id.clone();
    let now = state.db.now();
    let licenses = state
        .db
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                documents::get::<Order>(tx, ORDER, &workspace_id, &id, false)
                    .await?
                    .ok_or_else(|| ApiError::not_found("order", &id))?;
                let licenses: Vec<License> =
                    documents::find_in(tx, LICENSE, &workspace_id, "order_id", &[id.as_str()])
                        .await?;
                let ids: Vec<String> = licenses.iter().map(|l| l.id.to_string()).collect();
                let keys = licenses::sealed_keys(tx, &workspace_id, &ids).await?;
                let mut shown = Vec::new();
                let mut out = Vec::new();
                for license in licenses {
                    let sealed = keys
                        .iter()
                        .find(|k| k.license_id == license.id.as_str())
                        .filter(|k| reveal && !k.revealed)
                        .and_then(|k| k.sealed.clone());
                    let key = match sealed {
                        Some(sealed) => {
                            shown.push(license.id.to_string());
                            Some(sealer.open(&sealed)?)
                        }
                        None => None,
                    };
                    out.push(RevealedLicense { license, key });
                }
                licenses::mark_delivered(tx, &workspace_id, &shown, Delivery::Revealed, now)
                    .await?;
                Ok::<_, ApiError>(out)
            })
        })
        .await?;
    Ok(Json(json!({
        "object": "list",
        "url": "/v1/orders/{id}/licenses",
        "has_more": false,
        "data": licenses,
    })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    /// The license key, as typed (case, spaces and dashes do not matter).
    pub key: String,
    /// The product the software is (`prod_…`): another product's key answers
    /// `product_mismatch`.
    pub product_id: Option<String>,
    /// Activates the license on this machine (up to its limit).
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
    let lookup = hash.clone();
    let found = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                documents::find_anywhere::<License>(tx, LICENSE, "key_hash", &lookup, false).await
            })
        })
        .await?;
    let Some((workspace_id, mut seen)) = found else {
        return Ok(Json(Validation {
            valid: false,
            code: Validity::NotFound,
            license: None,
        })
        .into_response());
    };
    // Most checks change nothing (no machine, or one already activated): answered from the
    // read, without a write transaction.
    let (code, changed) = seen.validate(product.as_ref(), machine.as_deref(), now);
    if !changed {
        return Ok(Json(Validation {
            valid: code == Validity::Valid,
            code,
            license: Some(public_view(&seen)),
        })
        .into_response());
    }
    let cause = public_cause("license_key", &request.idempotency);
    state
        .mutate_as(workspace_id, cause, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let (_, mut license) =
                    documents::find_anywhere::<License>(cx.tx, LICENSE, "key_hash", &hash, true)
                        .await?
                        .ok_or_else(|| ApiError::not_found("license", "(key)"))?;
                let (code, changed) =
                    license.validate(product.as_ref(), machine.as_deref(), cx.now);
                if changed {
                    documents::save(
                        cx.tx,
                        LICENSE,
                        cx.workspace_id,
                        license.id.as_str(),
                        &license,
                        &[],
                    )
                    .await?;
                    cx.emit(NewEvent::new(
                        event_type::LICENSE_ACTIVATED,
                        "license",
                        license.id.as_str(),
                        json!({ "object": license, "machine_id": machine }),
                    ))
                    .await?;
                }
                Ok((
                    StatusCode::OK,
                    Validation {
                        valid: code == Validity::Valid,
                        code,
                        license: Some(public_view(&license)),
                    },
                ))
            })
        })
        .await
}
