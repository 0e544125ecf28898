//! `/v1/shipments` and `/v1/orders/{id}/shipments`: parcels of an order's physical lines,
//! returns, and the courier events that track them.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bursar_core::shipments::simulate::{record_test_events, simulate};
use bursar_core::shipments::tracking::Update;
use bursar_core::shipments::*;
use bursar_couriers::test_courier::{Scenario, WireEvent};
use bursar_domain::commerce::Address;
use bursar_domain::id::*;
use bursar_domain::metadata::Metadata;
use bursar_domain::shipping::*;
use bursar_domain::ValidationError;
use bursar_store::documents::SHIPMENT;
use serde::{Deserialize, Serialize};
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
        .routes(routes!(create_shipment, order_shipments))
        .routes(routes!(list_shipments))
        .routes(routes!(get_shipment))
        .routes(routes!(shipment_tracking_events))
        .routes(routes!(shipment_timeline))
        .routes(routes!(order_shipping_timeline))
        .routes(routes!(cancel_shipment))
        .routes(routes!(add_test_events))
        .routes(routes!(simulate_shipment))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateShipmentRequest {
    /// `outbound` (default) or `return`.
    pub direction: Option<ShipmentDirection>,
    /// For a return: the delivered shipment it sends back.
    #[schema(value_type = Option<ShipmentId>)]
    pub return_of: Option<String>,
    /// For a replacement (outbound): the serial numbers of the devices it replaces, held by
    /// the order's customer. Its lines name the new devices, one per replaced device; their
    /// assets pass to the new ones on delivery. The scenario is `replacement` unless named.
    #[schema(max_items = 100)]
    pub replaces: Option<Vec<String>>,
    pub carrier: Carrier,
    #[schema(max_length = 100)]
    pub service: Option<String>,
    /// Letters and digits (spaces are removed), at most 40.
    #[schema(min_length = 1, max_length = 60)]
    pub tracking_number: String,
    /// Units of the order's physical lines; absent or empty: everything not shipped yet.
    #[schema(max_items = 100)]
    pub lines: Option<Vec<ShipmentLine>>,
    #[schema(max_items = 50)]
    pub packages: Option<Vec<Package>>,
    pub ship_from: Option<Address>,
    /// Absent: the company's shipping address.
    pub ship_to: Option<Address>,
    #[schema(max_length = 200)]
    pub label_reference: Option<String>,
    /// The automation scenario to run once delivered (one of the workspace's); absent:
    /// `first_time` for outbound parcels, `return` for returns, when defined.
    #[schema(pattern = "^[a-z0-9_]{1,40}$")]
    pub automation_scenario: Option<String>,
    #[schema(value_type = Option<Metadata>)]
    pub metadata: Option<BTreeMap<String, String>>,
}

fn optional_text(
    value: Option<String>,
    param: &str,
    max: usize,
) -> Result<Option<String>, ValidationError> {
    value
        .map(|text| bursar_domain::commerce::parse_text(&text, param, max))
        .transpose()
}

/// Ship an order's physical lines (all that are left, or some), or take a return of a
/// delivered shipment.
#[utoipa::path(post, path = "/v1/orders/{id}/shipments", tag = "shipping",
    request_body = CreateShipmentRequest,
    params(("id" = OrderId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Shipment), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn create_shipment(
    State(state): State<AppState>,
    principal: Principal,
    Path(order_id): Path<String>,
    request: Mutation<CreateShipmentRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let new = NewShipment {
        order_id,
        direction: body.direction.unwrap_or(ShipmentDirection::Outbound),
        return_of: body.return_of,
        replaces: body.replaces.unwrap_or_default(),
        carrier: body.carrier,
        service: optional_text(body.service, "service", 100)?,
        tracking_number: body.tracking_number,
        lines: body.lines.unwrap_or_default(),
        packages: body.packages.unwrap_or_default(),
        ship_from: body.ship_from,
        ship_to: body.ship_to,
        label_reference: optional_text(body.label_reference, "label_reference", 200)?,
        automation_scenario: body.automation_scenario,
        metadata: Metadata::parse(body.metadata.unwrap_or_default())?,
    };
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move { Ok((StatusCode::OK, create(&mut cx, new).await?)) })
        })
        .await
}

/// The shipments of an order, oldest first.
#[utoipa::path(get, path = "/v1/orders/{id}/shipments", tag = "shipping",
    params(("id" = OrderId, Path)),
    responses((status = 200, body = ListResponse<Shipment>), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn order_shipments(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ListResponse<Shipment>>, ApiError> {
    let shipments = list_for_order(&state, &principal.workspace_id, id).await?;
    Ok(principal.json(ListResponse::all("/v1/orders/{id}/shipments", shipments)))
}

/// List shipments, newest first; `order_id` selects one order's.
#[utoipa::path(get, path = "/v1/shipments", tag = "shipping",
    params(("order_id" = Option<OrderId>, Query), ("limit" = Option<i64>, Query),
        ("starting_after" = Option<ShipmentId>, Query), ("ending_before" = Option<ShipmentId>, Query)),
    responses((status = 200, body = ListResponse<Shipment>), (status = 400, body = ErrorBody)),
    security(("api_key" = [])))]
async fn list_shipments(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<Shipment>>, ApiError> {
    Ok(principal.json(
        docs::list(
            &state,
            &principal,
            &query,
            SHIPMENT,
            "/v1/shipments",
            "shp_",
            Some(("order_id", "order_id")),
        )
        .await?,
    ))
}

/// Retrieve a shipment.
#[utoipa::path(get, path = "/v1/shipments/{id}", tag = "shipping",
    params(("id" = ShipmentId, Path)),
    responses((status = 200, body = Shipment), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_shipment(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Shipment>, ApiError> {
    Ok(principal.json(docs::get(&state, &principal, SHIPMENT, "shipment", id).await?))
}

/// A shipment's courier events, oldest first: the carrier's raw code, its instant (UTC, with
/// the offset the carrier gave) and the normalised status.
#[utoipa::path(get, path = "/v1/shipments/{id}/tracking_events", tag = "shipping",
    params(("id" = ShipmentId, Path)),
    responses((status = 200, body = ListResponse<TrackingEvent>), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn shipment_tracking_events(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ListResponse<TrackingEvent>>, ApiError> {
    let (_, events) = with_events(&state, &principal.workspace_id, id).await?;
    Ok(principal.json(ListResponse::all(
        "/v1/shipments/{id}/tracking_events",
        events,
    )))
}

/// A timeline in two lanes, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct LanedTimeline {
    /// Always `list`.
    pub object: &'static str,
    /// `lane` says which: `business` (domain events) or `courier` (tracking events).
    pub data: Vec<TimelineEntry>,
}

/// A shipment's timeline in two lanes: its business events (created, tracking updated,
/// delivered; its automation run's steps) and its courier events, oldest first.
#[utoipa::path(get, path = "/v1/shipments/{id}/timeline", tag = "shipping",
    params(("id" = ShipmentId, Path)),
    responses((status = 200, body = LanedTimeline), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn shipment_timeline(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<LanedTimeline>, ApiError> {
    let data = bursar_core::shipments::timeline::of_shipment(&state, &principal.workspace_id, id);
    Ok(principal.json(LanedTimeline {
        object: "list",
        data: data.await?,
    }))
}

/// An order's fulfillment in two lanes: the order's, its shipments' and their automation runs'
/// business events, and every courier event of its shipments, oldest first.
#[utoipa::path(get, path = "/v1/orders/{id}/shipping_timeline", tag = "shipping",
    params(("id" = OrderId, Path)),
    responses((status = 200, body = LanedTimeline), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn order_shipping_timeline(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<LanedTimeline>, ApiError> {
    let data = bursar_core::shipments::timeline::of_order(&state, &principal.workspace_id, id);
    Ok(principal.json(LanedTimeline {
        object: "list",
        data: data.await?,
    }))
}

/// Cancel a shipment the carrier has not picked up; its units can be shipped again.
#[utoipa::path(post, path = "/v1/shipments/{id}/cancel", tag = "shipping",
    params(("id" = ShipmentId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Shipment), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn cancel_shipment(
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

/// The shipment after a report, and which of its events were new.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrackingUpdate {
    pub shipment: Shipment,
    /// The events recorded now; events known already are not repeated.
    pub recorded: Vec<TrackingEvent>,
    pub previous_status: TrackingStatus,
}

impl From<Update> for TrackingUpdate {
    fn from(update: Update) -> Self {
        TrackingUpdate {
            shipment: update.shipment,
            recorded: update.recorded,
            previous_status: update.previous_status,
        }
    }
}

/// One event as the test courier reports it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestCourierEvent {
    /// One of the ten tracking statuses (`in_transit`); any other code is kept as `unknown`.
    #[schema(min_length = 1, max_length = 64, example = "out_for_delivery")]
    pub code: String,
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// RFC 3339 with the local offset: `2026-12-01T09:30:00-05:00`.
    #[schema(example = "2026-12-01T09:30:00-05:00")]
    pub occurred_at: String,
    #[schema(max_length = 200)]
    pub location: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestEventsRequest {
    #[schema(min_items = 1, max_items = 500)]
    pub events: Vec<TestCourierEvent>,
}

fn wire_events(events: Vec<TestCourierEvent>) -> Result<Vec<WireEvent>, ValidationError> {
    events
        .into_iter()
        .enumerate()
        .map(|(i, event)| {
            let code =
                bursar_domain::commerce::parse_text(&event.code, &format!("events[{i}].code"), 64)?;
            let description =
                optional_text(event.description, &format!("events[{i}].description"), 500)?;
            let location = optional_text(event.location, &format!("events[{i}].location"), 200)?;
            Ok(WireEvent {
                code,
                description: description.unwrap_or_default(),
                occurred_at: event.occurred_at,
                location,
            })
        })
        .collect()
}

/// Record events of a test courier shipment (sandbox), exactly as the test courier pushes
/// them: duplicates are recorded once, and the status is refolded from every event.
#[utoipa::path(post, path = "/v1/shipments/{id}/test_events", tag = "shipping",
    request_body = TestEventsRequest,
    params(("id" = ShipmentId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = TrackingUpdate), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn add_test_events(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<TestEventsRequest>,
) -> Result<Response, ApiError> {
    let events = wire_events(request.body.events)?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let update = record_test_events(&mut cx, &id, events).await?;
                Ok((StatusCode::OK, TrackingUpdate::from(update)))
            })
        })
        .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulateRequest {
    /// `delivered`, `exception`, `lost` or `return`.
    #[schema(pattern = "^(delivered|exception|lost|return)$")]
    pub scenario: String,
}

/// Replay a realistic run of courier events on a test courier shipment (sandbox): its last
/// event happens now.
#[utoipa::path(post, path = "/v1/shipments/{id}/simulate", tag = "shipping",
    request_body = SimulateRequest,
    params(("id" = ShipmentId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = TrackingUpdate), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn simulate_shipment(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<SimulateRequest>,
) -> Result<Response, ApiError> {
    let scenario = Scenario::parse(&request.body.scenario).ok_or_else(|| {
        ValidationError::invalid(
            "scenario",
            "scenario is delivered, exception, lost or return.",
        )
    })?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let update = simulate(&mut cx, &id, scenario).await?;
                Ok((StatusCode::OK, TrackingUpdate::from(update)))
            })
        })
        .await
}
