//! `/v1/expected_payments`, `/v1/bank_transactions` and `/v1/reconciliation/items`: money a
//! payer will push, what the bank reported (statements imported as CSV), and the review queue.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bursar_core::treasury::{self, ExpectedPaymentInput, IMPORT_LINES_MAX};
use bursar_domain::commerce::parse_text;
use bursar_domain::id::{BankTransactionId, CustomerId, ExpectedPaymentId, ReconciliationItemId};
use bursar_domain::money::Currency;
use bursar_domain::treasury::connection::PaymentInstructions;
use bursar_domain::treasury::objects::{
    BankTransactionObject, BankTransactionStatus, ExpectedPayment, ExpectedPaymentStatus,
    ImportSummary, ReconciliationItem, ReviewAction, ReviewStatus,
};
use bursar_domain::treasury::statement::{self, parse_date, parse_direction};
use bursar_store::{treasury as rows, Tx};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::events::{timeline, TimelineResponse};
use crate::extract::{CsvMutation, Mutation, Principal, QueryParams};
use crate::list::{limit_param, ListResponse};
use crate::livemode::Json;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_expected_payment, list_expected_payments))
        .routes(routes!(get_expected_payment))
        .routes(routes!(get_payment_instructions))
        .routes(routes!(expected_payment_timeline))
        .routes(routes!(bank_transaction_timeline))
        .routes(routes!(item_timeline))
        .routes(routes!(import_statement))
        .routes(routes!(list_bank_transactions))
        .routes(routes!(get_bank_transaction))
        .routes(routes!(list_items))
        .routes(routes!(get_item))
        .routes(routes!(acknowledge_item))
        .routes(routes!(resolve_item))
        .routes(routes!(accept_item))
        .routes(routes!(snooze_item))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedPaymentRequest {
    #[schema(example = "USD")]
    pub currency: String,
    /// `credit` (money in, the default) or `debit`.
    pub direction: Option<String>,
    /// Minor units: at least this much completes it.
    #[schema(minimum = 1)]
    pub amount_lower: i64,
    /// Minor units: no more than this in all (default `amount_lower`).
    pub amount_upper: Option<i64>,
    /// First day it may arrive, `YYYY-MM-DD`.
    #[schema(example = "2026-03-02")]
    pub date_lower: String,
    /// Last day it may arrive, `YYYY-MM-DD`; after it, it is overdue and goes to review.
    #[schema(example = "2026-03-09")]
    pub date_upper: String,
    #[schema(max_length = 200)]
    pub counterparty: Option<String>,
    /// What the payer is asked to quote ("send your wire with reference …").
    #[schema(max_length = 200)]
    pub reference: Option<String>,
    /// The party (`cus_…`) whose wallet is credited when it arrives.
    pub party_id: Option<String>,
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

fn optional_text(
    value: Option<String>,
    param: &str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    Ok(value.map(|v| parse_text(&v, param, max)).transpose()?)
}

fn expected_input(body: ExpectedPaymentRequest) -> Result<ExpectedPaymentInput, ApiError> {
    let direction = match body.direction.as_deref() {
        None => bursar_domain::treasury::matching::Direction::Credit,
        Some(d) => parse_direction(d, "direction")?,
    };
    Ok(ExpectedPaymentInput {
        currency: Currency::parse(&body.currency, "currency")?,
        direction,
        amount_lower: body.amount_lower,
        amount_upper: body.amount_upper.unwrap_or(body.amount_lower),
        date_lower: parse_date(&body.date_lower, "date_lower")?,
        date_upper: parse_date(&body.date_upper, "date_upper")?,
        counterparty: optional_text(body.counterparty, "counterparty", 200)?,
        reference: optional_text(body.reference, "reference", 200)?,
        party_id: body
            .party_id
            .map(|p| CustomerId::parse(&p, "party_id"))
            .transpose()?,
        description: optional_text(body.description, "description", 500)?,
    })
}

/// Expect a payment the platform cannot pull (a wire, RTP): its amount bounds, date window,
/// counterparty and reference are the rules an arriving bank transaction must fit.
#[utoipa::path(post, path = "/v1/expected_payments", tag = "treasury", request_body = ExpectedPaymentRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = ExpectedPayment), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn create_expected_payment(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<ExpectedPaymentRequest>,
) -> Result<Response, ApiError> {
    let input = expected_input(request.body)?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let mut created = treasury::create_expected(&mut cx, vec![input]).await?;
                Ok((
                    StatusCode::OK,
                    created.pop().ok_or_else(bursar_core::Error::internal)?,
                ))
            })
        })
        .await
}

/// A page of a list: `limit` (1–100), `starting_after` (an id), and a status filter.
fn list_params<S>(
    query: &QueryParams,
    parse_status: impl Fn(&str) -> Option<S>,
) -> Result<(i64, Option<String>, Option<S>), ApiError> {
    let limit = limit_param(query, &["limit", "starting_after", "status"])?;
    let status = match query.text("status") {
        None => None,
        Some(s) => Some(parse_status(&s).ok_or_else(|| {
            ApiError::invalid(
                "parameter_invalid",
                Some("status".into()),
                format!("Unknown status '{s}'."),
            )
        })?),
    };
    Ok((limit, query.text("starting_after"), status))
}

fn page<T>(url: &'static str, mut data: Vec<T>, limit: i64) -> ListResponse<T> {
    let has_more = data.len() as i64 > limit;
    data.truncate(usize::try_from(limit).unwrap_or(0));
    ListResponse {
        object: "list",
        url,
        has_more,
        data,
    }
}

/// Expected payments, newest first; `status` filters.
#[utoipa::path(get, path = "/v1/expected_payments", tag = "treasury",
    params(("limit" = Option<i64>, Query), ("starting_after" = Option<ExpectedPaymentId>, Query),
        ("status" = Option<ExpectedPaymentStatus>, Query)),
    responses((status = 200, body = ListResponse<ExpectedPayment>), (status = 400, body = ErrorBody)), security(("api_key" = [])))]
async fn list_expected_payments(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<ExpectedPayment>>, ApiError> {
    let (limit, after, status) = list_params(&query, ExpectedPaymentStatus::parse)?;
    let workspace_id = principal.workspace_id.clone();
    let data = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                rows::list_expected(tx, &workspace_id, status, after.as_deref(), limit + 1).await
            })
        })
        .await?;
    Ok(principal.json(page("/v1/expected_payments", data, limit)))
}

/// One expected payment.
#[utoipa::path(get, path = "/v1/expected_payments/{id}", tag = "treasury", params(("id" = ExpectedPaymentId, Path)),
    responses((status = 200, body = ExpectedPayment), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_expected_payment(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ExpectedPayment>, ApiError> {
    let workspace_id = principal.workspace_id.clone();
    let payment = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { treasury::get_expected(tx, &workspace_id, &id).await })
        })
        .await?;
    Ok(principal.json(payment))
}

/// What a payer is told to send for an expected payment: the platform's receiving account in
/// its currency (from a bank connection's `receiving_accounts`), the amount and the reference
/// to quote — "send your wire to …, reference …".
#[utoipa::path(get, path = "/v1/expected_payments/{id}/payment_instructions", tag = "treasury",
    params(("id" = ExpectedPaymentId, Path)),
    responses((status = 200, body = PaymentInstructions), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn get_payment_instructions(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<PaymentInstructions>, ApiError> {
    let workspace_id = principal.workspace_id.clone();
    let instructions = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { treasury::payment_instructions(tx, &workspace_id, &id).await })
        })
        .await?;
    Ok(principal.json(instructions))
}

/// Import a bank statement (CSV: `date,amount,direction,currency` and optionally
/// `id,reference,counterparty`; amounts in major units). Each new line is matched to an
/// expected payment or put in review; lines imported before are skipped.
#[utoipa::path(post, path = "/v1/bank_transactions/import", tag = "treasury",
    request_body(content = String, content_type = "text/csv"),
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = ImportSummary), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody)),
    security(("api_key" = [])))]
async fn import_statement(
    State(state): State<AppState>,
    principal: Principal,
    request: CsvMutation,
) -> Result<Response, ApiError> {
    let lines = statement::parse(&request.text, IMPORT_LINES_MAX)?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                Ok((
                    StatusCode::OK,
                    treasury::import(&mut cx, "import", lines).await?,
                ))
            })
        })
        .await
}

/// Bank transactions, newest first; `status` filters (`matched`, `in_review`, `accepted`).
#[utoipa::path(get, path = "/v1/bank_transactions", tag = "treasury",
    params(("limit" = Option<i64>, Query), ("starting_after" = Option<BankTransactionId>, Query),
        ("status" = Option<BankTransactionStatus>, Query)),
    responses((status = 200, body = ListResponse<BankTransactionObject>), (status = 400, body = ErrorBody)), security(("api_key" = [])))]
async fn list_bank_transactions(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<BankTransactionObject>>, ApiError> {
    let (limit, after, status) = list_params(&query, BankTransactionStatus::parse)?;
    let workspace_id = principal.workspace_id.clone();
    let data = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                rows::list_transactions(tx, &workspace_id, status, after.as_deref(), limit + 1)
                    .await
            })
        })
        .await?;
    Ok(principal.json(page("/v1/bank_transactions", data, limit)))
}

/// One bank transaction.
#[utoipa::path(get, path = "/v1/bank_transactions/{id}", tag = "treasury", params(("id" = BankTransactionId, Path)),
    responses((status = 200, body = BankTransactionObject), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_bank_transaction(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<BankTransactionObject>, ApiError> {
    let workspace_id = principal.workspace_id.clone();
    let lookup = id.clone();
    let transaction = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { rows::get_transaction(tx, &workspace_id, &lookup).await })
        })
        .await?
        .ok_or_else(|| bursar_core::Error::not_found("bank_transaction", &id))?;
    Ok(principal.json(transaction))
}

/// The reconciliation review queue, newest first; `status` filters.
#[utoipa::path(get, path = "/v1/reconciliation/items", tag = "treasury",
    params(("limit" = Option<i64>, Query), ("starting_after" = Option<ReconciliationItemId>, Query),
        ("status" = Option<ReviewStatus>, Query)),
    responses((status = 200, body = ListResponse<ReconciliationItem>), (status = 400, body = ErrorBody)), security(("api_key" = [])))]
async fn list_items(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<ReconciliationItem>>, ApiError> {
    let (limit, after, status) = list_params(&query, ReviewStatus::parse)?;
    let workspace_id = principal.workspace_id.clone();
    let data = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                rows::list_items(tx, &workspace_id, status, after.as_deref(), limit + 1).await
            })
        })
        .await?;
    Ok(principal.json(page("/v1/reconciliation/items", data, limit)))
}

/// One reconciliation item.
#[utoipa::path(get, path = "/v1/reconciliation/items/{id}", tag = "treasury", params(("id" = ReconciliationItemId, Path)),
    responses((status = 200, body = ReconciliationItem), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_item(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ReconciliationItem>, ApiError> {
    let workspace_id = principal.workspace_id.clone();
    let lookup = id.clone();
    let item = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { rows::get_item(tx, &workspace_id, &lookup, false).await })
        })
        .await?
        .ok_or_else(|| bursar_core::Error::not_found("reconciliation_item", &id))?;
    Ok(principal.json(item.0))
}

async fn act(
    state: AppState,
    principal: Principal,
    id: String,
    idempotency: crate::extract::Idempotency,
    action: ReviewAction,
) -> Result<Response, ApiError> {
    state
        .mutate(&principal, idempotency, move |mut cx| {
            Box::pin(
                async move { Ok((StatusCode::OK, treasury::act(&mut cx, &id, action).await?)) },
            )
        })
        .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmptyRequest {}

/// Acknowledge an open item: someone is on it.
#[utoipa::path(post, path = "/v1/reconciliation/items/{id}/acknowledge", tag = "treasury", request_body = EmptyRequest,
    params(("id" = ReconciliationItemId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = ReconciliationItem), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn acknowledge_item(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<EmptyRequest>,
) -> Result<Response, ApiError> {
    act(
        state,
        principal,
        id,
        request.idempotency,
        ReviewAction::Acknowledge,
    )
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    /// The expected payment (`ep_…`) the item's bank transaction pays.
    pub expected_payment_id: String,
}

/// Resolve an item by linking its bank transaction to the expected payment it pays (the
/// payment's party is credited as on a match).
#[utoipa::path(post, path = "/v1/reconciliation/items/{id}/resolve", tag = "treasury", request_body = ResolveRequest,
    params(("id" = ReconciliationItemId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = ReconciliationItem), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn resolve_item(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<ResolveRequest>,
) -> Result<Response, ApiError> {
    let expected =
        ExpectedPaymentId::parse(&request.body.expected_payment_id, "expected_payment_id")?;
    act(
        state,
        principal,
        id,
        request.idempotency,
        ReviewAction::Resolve(expected),
    )
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    /// Why it is fine as it is (required).
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub note: String,
}

/// Accept an item as it is, with a note (a bank fee, a transfer between own accounts).
#[utoipa::path(post, path = "/v1/reconciliation/items/{id}/accept", tag = "treasury", request_body = AcceptRequest,
    params(("id" = ReconciliationItemId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = ReconciliationItem), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn accept_item(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<AcceptRequest>,
) -> Result<Response, ApiError> {
    let note = parse_text(&request.body.note, "note", 500)?;
    act(
        state,
        principal,
        id,
        request.idempotency,
        ReviewAction::Accept(note),
    )
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnoozeRequest {
    /// The day it opens again, `YYYY-MM-DD` (after today).
    #[schema(example = "2026-03-09")]
    pub until: String,
}

/// Snooze an item until a later date, when it opens again.
#[utoipa::path(post, path = "/v1/reconciliation/items/{id}/snooze", tag = "treasury", request_body = SnoozeRequest,
    params(("id" = ReconciliationItemId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = ReconciliationItem), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn snooze_item(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<SnoozeRequest>,
) -> Result<Response, ApiError> {
    let until = parse_date(&request.body.until, "until")?;
    act(
        state,
        principal,
        id,
        request.idempotency,
        ReviewAction::Snooze(until),
    )
    .await
}

/// An expected payment's timeline: created, each arrival, overdue; oldest first.
#[utoipa::path(get, path = "/v1/expected_payments/{id}/timeline", tag = "treasury",
    params(("id" = ExpectedPaymentId, Path), ("after" = Option<i64>, Query, minimum = 0), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = TimelineResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn expected_payment_timeline(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Json<TimelineResponse>, ApiError> {
    get_expected_payment(State(state.clone()), principal.clone(), Path(id.clone())).await?;
    Ok(principal.json(timeline(&state, &principal, "expected_payment", id, &query).await?))
}

/// A bank transaction's timeline: matched or in review, then what a person decided.
#[utoipa::path(get, path = "/v1/bank_transactions/{id}/timeline", tag = "treasury",
    params(("id" = BankTransactionId, Path), ("after" = Option<i64>, Query, minimum = 0), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = TimelineResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn bank_transaction_timeline(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Json<TimelineResponse>, ApiError> {
    get_bank_transaction(State(state.clone()), principal.clone(), Path(id.clone())).await?;
    Ok(principal.json(timeline(&state, &principal, "bank_transaction", id, &query).await?))
}

/// A reconciliation item's timeline: created, acknowledged, snoozed, reopened, resolved or
/// accepted — who did what, and when.
#[utoipa::path(get, path = "/v1/reconciliation/items/{id}/timeline", tag = "treasury",
    params(("id" = ReconciliationItemId, Path), ("after" = Option<i64>, Query, minimum = 0), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = TimelineResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn item_timeline(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Json<TimelineResponse>, ApiError> {
    get_item(State(state.clone()), principal.clone(), Path(id.clone())).await?;
    Ok(principal.json(timeline(&state, &principal, "reconciliation_item", id, &query).await?))
}
