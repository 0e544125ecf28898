//! `/v1/bank_connections` (a workspace's banks), `POST /v1/bank_webhooks/{id}` (what banks
//! send, authenticated by their signature), and `/v1/test_bank/...`: a sandbox's simulated payers
//! (returns are simulated by the test bank's magic account numbers).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bursar_banks::Rail;
use bursar_core::bank_connections::{self, ConnectionRequest, ReceivingAccountInput};
use bursar_core::bank_events::{self, SimulatedIncoming};
use bursar_domain::commerce::parse_text;
use bursar_domain::id::BankConnectionId;
use bursar_domain::money::{parse_positive_amount, Currency};
use bursar_domain::treasury::connection::{BankConnection, BankWebhookReceipt};
use bursar_domain::ValidationError;
use bursar_store::Tx;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal};
use crate::list::ListResponse;
use crate::livemode::Json;
use crate::payments::INBOUND_WEBHOOK_BODY_LIMIT;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    let inbound = OpenApiRouter::new()
        .routes(routes!(receive_bank_webhook))
        .layer(axum::extract::DefaultBodyLimit::max(
            INBOUND_WEBHOOK_BODY_LIMIT,
        ));
    OpenApiRouter::new()
        .routes(routes!(create_connection, list_connections))
        .routes(routes!(get_connection))
        .merge(inbound)
        .routes(routes!(simulate_incoming))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBankConnectionRequest {
    /// `modern_treasury`, or `test_bank` (sandbox workspaces only).
    #[schema(pattern = "^(modern_treasury|test_bank)$")]
    pub kind: String,
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: Option<String>,
    /// Modern Treasury's organization id (required for it).
    #[schema(max_length = 100)]
    pub organization_id: Option<String>,
    /// Modern Treasury's API key (required for it); stored sealed.
    #[schema(max_length = 500)]
    pub api_key: Option<String>,
    /// The keys the bank signs its webhooks with (required for Modern Treasury; the test bank
    /// gets one); stored sealed.
    pub webhook_secrets: Option<Vec<String>>,
    /// Where requests go (default Modern Treasury's).
    pub api_base: Option<String>,
    /// The platform's account at the bank (required for Modern Treasury).
    #[schema(max_length = 100)]
    pub internal_account_id: Option<String>,
    /// The platform's accounts that payers push wires and RTP payments to, one per currency:
    /// shown to buyers in expected payments' payment instructions (the test bank gets a
    /// sandbox USD account).
    #[schema(max_items = 20)]
    pub receiving_accounts: Option<Vec<ReceivingAccountRequest>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceivingAccountRequest {
    #[schema(value_type = Currency)]
    pub currency: String,
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub bank_name: String,
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub account_holder: String,
    /// ABA routing number: 9 digits with a valid checksum.
    #[schema(pattern = "^[0-9]{9}$")]
    pub routing_number: String,
    #[schema(pattern = "^[0-9]{4,17}$")]
    pub account_number: String,
    #[schema(pattern = "^[A-Z0-9]{8}([A-Z0-9]{3})?$")]
    pub swift_code: Option<String>,
}

impl From<ReceivingAccountRequest> for ReceivingAccountInput {
    fn from(r: ReceivingAccountRequest) -> Self {
        ReceivingAccountInput {
            currency: r.currency,
            bank_name: r.bank_name,
            account_holder: r.account_holder,
            routing_number: r.routing_number,
            account_number: r.account_number,
            swift_code: r.swift_code,
        }
    }
}

/// Connect a bank: Modern Treasury, or in a sandbox the test bank. Its webhooks are received at
/// the connection's `webhook_path`.
#[utoipa::path(post, path = "/v1/bank_connections", tag = "treasury", request_body = CreateBankConnectionRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = BankConnection), (status = 400, body = ErrorBody)), security(("api_key" = [])))]
async fn create_connection(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<CreateBankConnectionRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let checked = bank_connections::check_new(
        &state.app.outbound,
        ConnectionRequest {
            kind: body.kind,
            name: body.name,
            organization_id: body.organization_id,
            api_key: body.api_key,
            webhook_secrets: body.webhook_secrets,
            api_base: body.api_base,
            internal_account_id: body.internal_account_id,
            receiving_accounts: body
                .receiving_accounts
                .map(|accounts| accounts.into_iter().map(Into::into).collect()),
        },
    )
    .await?;
    let sealer = state.db.sealer()?.clone();
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                Ok((
                    StatusCode::OK,
                    bank_connections::create(&mut cx, &sealer, checked).await?,
                ))
            })
        })
        .await
}

/// The workspace's bank connections, oldest first.
#[utoipa::path(get, path = "/v1/bank_connections", tag = "treasury",
    responses((status = 200, body = ListResponse<BankConnection>)), security(("api_key" = [])))]
async fn list_connections(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<ListResponse<BankConnection>>, ApiError> {
    let workspace_id = principal.workspace_id.clone();
    let data = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { bank_connections::list(tx, &workspace_id).await })
        })
        .await?;
    Ok(principal.json(ListResponse::all("/v1/bank_connections", data)))
}

/// One bank connection.
#[utoipa::path(get, path = "/v1/bank_connections/{id}", tag = "treasury", params(("id" = BankConnectionId, Path)),
    responses((status = 200, body = BankConnection), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_connection(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<BankConnection>, ApiError> {
    let workspace_id = principal.workspace_id.clone();
    let connection = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { bank_connections::get(tx, &workspace_id, &id).await })
        })
        .await?;
    Ok(principal.json(connection))
}

/// Receive a bank's webhook. The signature (`X-Signature`, hex HMAC-SHA256 of the body) is
/// verified first: missing or wrong, 400 and nothing stored. Each `X-Webhook-ID` is applied once.
#[utoipa::path(post, path = "/v1/bank_webhooks/{id}", tag = "treasury",
    params(("id" = BankConnectionId, Path), ("X-Signature" = String, Header), ("X-Webhook-ID" = String, Header)),
    request_body(content = String, content_type = "application/json", description = "The bank's event, as sent"),
    responses((status = 200, body = BankWebhookReceipt), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody)))]
async fn receive_bank_webhook(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<BankWebhookReceipt>, ApiError> {
    let headers = crate::extract::inbound_headers(&headers);
    Ok(axum::Json(
        bank_events::ingest(&state.app, &id, &headers, &body).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulateIncomingRequest {
    /// Minor units.
    #[schema(minimum = 1)]
    pub amount: i64,
    #[schema(example = "USD")]
    pub currency: String,
    /// `wire` (default; arrives in seconds), `rtp` (seconds) or `ach` (next banking day).
    #[schema(pattern = "^(wire|rtp|ach)$")]
    pub rail: Option<String>,
    /// The payer, as the bank will name it.
    #[schema(max_length = 200)]
    pub originator_name: Option<String>,
    /// What the payer quotes (an expected payment's reference).
    #[schema(max_length = 200)]
    pub reference: Option<String>,
}

/// What the test bank accepted.
#[derive(Debug, Serialize, ToSchema)]
pub struct SimulatedPayment {
    /// Always `test_bank_incoming_payment`.
    pub object: &'static str,
    /// The bank's id for the incoming payment.
    pub id: String,
}

fn rail(value: Option<&str>) -> Result<Rail, ValidationError> {
    match value.unwrap_or("wire") {
        "wire" => Ok(Rail::Wire),
        "rtp" => Ok(Rail::Rtp),
        "ach" => Ok(Rail::Ach),
        other => Err(ValidationError::invalid(
            "rail",
            format!("Unknown rail '{other}': use wire, rtp or ach."),
        )),
    }
}

/// Sandbox: a payer pushes money to the platform's account at the test bank. It arrives as the
/// bank's webhooks (a wire or RTP in seconds, ACH the next banking day) and is matched to the
/// expected payments like any bank transaction.
#[utoipa::path(post, path = "/v1/test_bank/{id}/incoming_payments", tag = "treasury", request_body = SimulateIncomingRequest,
    params(("id" = BankConnectionId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = SimulatedPayment), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn simulate_incoming(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<SimulateIncomingRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let incoming = SimulatedIncoming {
        amount: parse_positive_amount(body.amount, "amount")?,
        currency: Currency::parse(&body.currency, "currency")?,
        rail: rail(body.rail.as_deref())?,
        originator_name: body
            .originator_name
            .map(|n| parse_text(&n, "originator_name", 200))
            .transpose()?,
        reference: body
            .reference
            .map(|r| parse_text(&r, "reference", 200))
            .transpose()?,
    };
    let bank = bank_events::sandbox_test_bank(&state.app, &principal.workspace_id, &id).await?;
    state
        .mutate(&principal, request.idempotency, move |_cx| {
            Box::pin(async move {
                let id = bank_events::simulate_incoming(&bank, incoming)?;
                Ok((
                    StatusCode::OK,
                    SimulatedPayment {
                        object: "test_bank_incoming_payment",
                        id,
                    },
                ))
            })
        })
        .await
}
