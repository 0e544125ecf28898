//! `/v1/courier_connections` (a workspace's accounts at carriers) and
//! `POST /v1/courier_webhooks/{id}` (what carriers push).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bursar_core::shipments::connections::{self as courier_connections, ConnectionRequest};
use bursar_domain::id::CourierConnectionId;
use bursar_domain::shipping::{Carrier, CourierConnection, PushReceipt};
use bursar_store::documents::COURIER_CONNECTION;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::docs;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal, QueryParams};
use crate::list::ListResponse;
use crate::livemode::Json;
use crate::payments::INBOUND_WEBHOOK_BODY_LIMIT;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    let inbound = OpenApiRouter::new()
        .routes(routes!(receive_courier_push))
        .layer(axum::extract::DefaultBodyLimit::max(
            INBOUND_WEBHOOK_BODY_LIMIT,
        ));
    OpenApiRouter::new()
        .routes(routes!(create_courier_connection, list_courier_connections))
        .routes(routes!(get_courier_connection))
        .merge(inbound)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCourierConnectionRequest {
    /// One connection per carrier; `test_courier` only in sandbox workspaces.
    pub carrier: Carrier,
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: Option<String>,
    /// Where requests go (default: the carrier's production API).
    #[schema(max_length = 2048)]
    pub api_base: Option<String>,
    /// DHL's API key, USPS's OAuth client id, Canada Post's API user name or Chit Chats'
    /// access token; stored sealed.
    #[schema(min_length = 1, max_length = 500)]
    pub key: Option<String>,
    /// USPS's client secret or Canada Post's password; stored sealed.
    #[schema(min_length = 1, max_length = 500)]
    pub secret: Option<String>,
    /// Chit Chats' client id.
    #[schema(min_length = 1, max_length = 500)]
    pub account: Option<String>,
    /// The keys pushed events are signed with (USPS; the test courier gets one); stored
    /// sealed.
    #[schema(min_items = 1, max_items = 5)]
    pub push_secrets: Option<Vec<String>>,
}

/// A new connection, with the push keys shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedCourierConnection {
    #[serde(flatten)]
    pub connection: CourierConnection,
    /// The keys pushed events must be signed with; shown only in this response.
    pub push_secrets: Vec<String>,
}

/// Connect a carrier: its credentials are sealed and shown only as their last four
/// characters; shipments with it are then polled (or receive its pushes).
#[utoipa::path(post, path = "/v1/courier_connections", tag = "shipping",
    request_body = CreateCourierConnectionRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = CreatedCourierConnection), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn create_courier_connection(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<CreateCourierConnectionRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let (carrier, checked) = courier_connections::check_new(
        &state.app.outbound,
        ConnectionRequest {
            carrier: Some(body.carrier),
            name: body.name,
            api_base: body.api_base,
            key: body.key,
            secret: body.secret,
            account: body.account,
            push_secrets: body.push_secrets,
        },
    )
    .await?;
    let sealer = state.db.sealer()?.clone();
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let (connection, push_secrets) =
                    courier_connections::create(&mut cx, &sealer, carrier, checked).await?;
                Ok((
                    StatusCode::OK,
                    CreatedCourierConnection {
                        connection,
                        push_secrets,
                    },
                ))
            })
        })
        .await
}

/// The workspace's courier connections, newest first.
#[utoipa::path(get, path = "/v1/courier_connections", tag = "shipping",
    params(("limit" = Option<i64>, Query), ("starting_after" = Option<CourierConnectionId>, Query),
        ("ending_before" = Option<CourierConnectionId>, Query)),
    responses((status = 200, body = ListResponse<CourierConnection>), (status = 400, body = ErrorBody)),
    security(("api_key" = [])))]
async fn list_courier_connections(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<CourierConnection>>, ApiError> {
    Ok(principal.json(
        docs::list(
            &state,
            &principal,
            &query,
            COURIER_CONNECTION,
            "/v1/courier_connections",
            "ccn_",
            None,
        )
        .await?,
    ))
}

/// Retrieve a courier connection (its credentials never).
#[utoipa::path(get, path = "/v1/courier_connections/{id}", tag = "shipping",
    params(("id" = CourierConnectionId, Path)),
    responses((status = 200, body = CourierConnection), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn get_courier_connection(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<CourierConnection>, ApiError> {
    Ok(principal.json(
        docs::get(
            &state,
            &principal,
            COURIER_CONNECTION,
            "courier connection",
            id,
        )
        .await?,
    ))
}

/// Receive events a carrier pushes (USPS tracking subscriptions, the test courier). The
/// signature is verified first — USPS: `X-HMAC`, base64 HMAC-SHA256 of the envelope's
/// timestamp and payload; the test courier: `Test-Courier-Signature`, hex HMAC-SHA256 of the
/// body — and a missing or wrong one answers 400 with nothing stored. Each event is recorded
/// once however often it is pushed.
#[utoipa::path(post, path = "/v1/courier_webhooks/{id}", tag = "shipping",
    params(("id" = CourierConnectionId, Path)),
    request_body(content = String, content_type = "application/json", description = "The carrier's notification, as sent"),
    responses((status = 200, body = PushReceipt), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody)))]
async fn receive_courier_push(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<PushReceipt>, ApiError> {
    let headers = crate::extract::inbound_headers(&headers);
    Ok(axum::Json(
        courier_connections::receive_push(&state.app, &id, &headers, &body).await?,
    ))
}
