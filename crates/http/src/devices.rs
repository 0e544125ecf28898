//! `/v1/devices`: serialised units of physical products, where each is, and the history of who
//! held it and which asset it was installed in.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bursar_core::shipments::devices::{history, register, set_asset};
use bursar_domain::id::{DeviceId, ProductId};
use bursar_domain::shipping::{Device, DeviceAssignment};
use bursar_store::documents::DEVICE;
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
        .routes(routes!(register_device, list_devices))
        .routes(routes!(get_device))
        .routes(routes!(device_assignments))
        .routes(routes!(set_device_asset))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterDeviceRequest {
    /// Letters, digits and dashes; one device per serial number.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9-]+$")]
    pub serial_number: String,
    /// A serialised physical product.
    #[schema(value_type = ProductId)]
    pub product_id: String,
}

/// Register a device in stock. (A serial number first met on a shipment is registered then.)
#[utoipa::path(post, path = "/v1/devices", tag = "shipping", request_body = RegisterDeviceRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Device), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn register_device(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<RegisterDeviceRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let device = register(&mut cx, body.serial_number, body.product_id).await?;
                Ok((StatusCode::OK, device))
            })
        })
        .await
}

/// Devices, newest first; one of `serial_number`, `company_id` (what a company holds) or
/// `status` narrows them.
#[utoipa::path(get, path = "/v1/devices", tag = "shipping",
    params(("serial_number" = Option<String>, Query), ("company_id" = Option<String>, Query),
        ("status" = Option<String>, Query, description = "in_stock, shipped, assigned, replaced or returning"),
        ("limit" = Option<i64>, Query), ("starting_after" = Option<DeviceId>, Query),
        ("ending_before" = Option<DeviceId>, Query)),
    responses((status = 200, body = ListResponse<Device>), (status = 400, body = ErrorBody)),
    security(("api_key" = [])))]
async fn list_devices(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<Device>>, ApiError> {
    let filter = ["serial_number", "company_id", "status"]
        .into_iter()
        .find(|param| query.text(param).is_some())
        .map(|param| (param, param));
    let devices = docs::list(
        &state,
        &principal,
        &query,
        DEVICE,
        "/v1/devices",
        "dev_",
        filter,
    );
    Ok(principal.json(devices.await?))
}

/// Retrieve a device: its status, holder, asset and the last shipment that carried it.
#[utoipa::path(get, path = "/v1/devices/{id}", tag = "shipping", params(("id" = DeviceId, Path)),
    responses((status = 200, body = Device), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn get_device(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Device>, ApiError> {
    Ok(principal.json(docs::get(&state, &principal, DEVICE, "device", id).await?))
}

/// A device's assignment history, oldest first: each window in which a customer (and their
/// company) held it, or it was installed in one of their assets, with what opened and closed
/// it (a delivery, a replacement, a return, an installation).
#[utoipa::path(get, path = "/v1/devices/{id}/assignments", tag = "shipping",
    params(("id" = DeviceId, Path)),
    responses((status = 200, body = ListResponse<DeviceAssignment>), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn device_assignments(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ListResponse<DeviceAssignment>>, ApiError> {
    let windows = history(&state, &principal.workspace_id, id).await?;
    Ok(principal.json(ListResponse::all("/v1/devices/{id}/assignments", windows)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAssetRequest {
    /// The customer's asset it is now installed in (a vehicle, a machine); null removes it.
    #[schema(min_length = 1, max_length = 120)]
    pub asset: Option<String>,
}

/// Install a device its customer holds in one of their assets, or remove it (`asset: null`).
#[utoipa::path(post, path = "/v1/devices/{id}/asset", tag = "shipping", request_body = SetAssetRequest,
    params(("id" = DeviceId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Device), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn set_device_asset(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<SetAssetRequest>,
) -> Result<Response, ApiError> {
    let asset = request.body.asset;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move { Ok((StatusCode::OK, set_asset(&mut cx, &id, asset).await?)) })
        })
        .await
}
