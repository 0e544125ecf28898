//! `/v1/parties/{id}/bank_accounts`, `/v1/parties/{id}/payouts`, `/v1/payouts/{id}` and
//! `/v1/parties/{id}/payout_schedule`: where a seller is paid, paying them, and when.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bursar_core::payouts::{self, BankAccountInput, PayoutInput, ScheduleInput};
use bursar_core::wallets::parse_party;
use bursar_domain::id::{CustomerId, PayoutId};
use bursar_domain::money::Currency;
use bursar_domain::treasury::payout_objects::{
    BankAccountObject, PayoutObject, PayoutScheduleObject,
};
use bursar_domain::treasury::payouts::Interval;
use bursar_store::Tx;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal, QueryParams};
use crate::list::{limit_param, ListResponse};
use crate::livemode::Json;
use crate::mutate::cause_of;
use crate::treasury::EmptyRequest;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_bank_account, list_bank_accounts))
        .routes(routes!(create_payout, list_payouts))
        .routes(routes!(get_payout))
        .routes(routes!(cancel_payout))
        .routes(routes!(set_schedule, get_schedule))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BankAccountRequest {
    /// The ABA routing number: 9 digits with a valid check digit.
    #[schema(example = "021000021")]
    pub routing_number: String,
    /// 4 to 17 digits. Stored sealed; shown as `••••` and the last four.
    #[schema(example = "123456789")]
    pub account_number: String,
    /// `checking` or `savings`.
    pub account_type: String,
    #[schema(max_length = 200)]
    pub holder_name: String,
}

/// Never prints the numbers.
impl std::fmt::Debug for BankAccountRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BankAccountRequest(…)")
    }
}

/// Add a bank account a party is paid out to. Its numbers are stored sealed and shown masked;
/// the party becomes a counterparty at the workspace's bank with it.
#[utoipa::path(post, path = "/v1/parties/{id}/bank_accounts", tag = "payouts",
    params(("id" = CustomerId, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = BankAccountRequest,
    responses((status = 200, body = BankAccountObject), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn create_bank_account(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<BankAccountRequest>,
) -> Result<Response, ApiError> {
    let party = parse_party(&id)?;
    let body = request.body;
    let input = BankAccountInput {
        routing_number: body.routing_number,
        account_number: body.account_number,
        account_type: body.account_type,
        holder_name: body.holder_name,
    };
    let workspace_id = principal.workspace_id.clone();
    let cause = cause_of(&principal, &request.idempotency);
    let work = payouts::create_bank_account(&state.app, workspace_id, cause, party, input);
    state
        .idempotent(&principal, request.idempotency, work)
        .await
}

/// A party's bank accounts, oldest first (numbers masked).
#[utoipa::path(get, path = "/v1/parties/{id}/bank_accounts", tag = "payouts", params(("id" = CustomerId, Path)),
    responses((status = 200, body = ListResponse<BankAccountObject>), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn list_bank_accounts(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ListResponse<BankAccountObject>>, ApiError> {
    let party = parse_party(&id)?;
    let workspace_id = principal.workspace_id.clone();
    let data = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { payouts::list_bank_accounts(tx, &workspace_id, &party).await })
        })
        .await?;
    Ok(principal.json(ListResponse {
        object: "list",
        url: "/v1/parties/{id}/bank_accounts",
        has_more: false,
        data,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayoutRequest {
    /// Minor units; at most the party's AVAILABLE in the currency.
    #[schema(minimum = 1)]
    pub amount: i64,
    #[schema(example = "USD")]
    pub currency: String,
}

/// Pay a seller out now: reserves the amount out of AVAILABLE (pending) and sends it to their
/// active bank account by ACH. Refused above AVAILABLE (400, `amount`).
#[utoipa::path(post, path = "/v1/parties/{id}/payouts", tag = "payouts",
    params(("id" = CustomerId, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = PayoutRequest,
    responses((status = 200, body = PayoutObject), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn create_payout(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<PayoutRequest>,
) -> Result<Response, ApiError> {
    let input = PayoutInput {
        party: parse_party(&id)?,
        amount: request.body.amount,
        currency: Currency::parse(&request.body.currency, "currency")?,
    };
    let workspace_id = principal.workspace_id.clone();
    let cause = cause_of(&principal, &request.idempotency);
    let work = payouts::request(&state.app, workspace_id, cause, input);
    state
        .idempotent(&principal, request.idempotency, work)
        .await
}

/// A party's payouts, newest first.
#[utoipa::path(get, path = "/v1/parties/{id}/payouts", tag = "payouts",
    params(("id" = CustomerId, Path), ("limit" = Option<i64>, Query), ("starting_after" = Option<PayoutId>, Query)),
    responses((status = 200, body = ListResponse<PayoutObject>), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn list_payouts(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Json<ListResponse<PayoutObject>>, ApiError> {
    let party = parse_party(&id)?;
    let limit = limit_param(&query, &["limit", "starting_after"])?;
    let after = query.text("starting_after");
    let workspace_id = principal.workspace_id.clone();
    let mut data = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                payouts::list(tx, &workspace_id, &party, after.as_deref(), limit + 1).await
            })
        })
        .await?;
    let has_more = data.len() as i64 > limit;
    data.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(principal.json(ListResponse {
        object: "list",
        url: "/v1/parties/{id}/payouts",
        has_more,
        data,
    }))
}

/// One payout.
#[utoipa::path(get, path = "/v1/payouts/{id}", tag = "payouts", params(("id" = PayoutId, Path)),
    responses((status = 200, body = PayoutObject), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_payout(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<PayoutObject>, ApiError> {
    let workspace_id = principal.workspace_id.clone();
    let payout = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { payouts::get(tx, &workspace_id, &id).await })
        })
        .await?;
    Ok(principal.json(payout))
}

/// Cancel a payout not yet at the bank (`pending`): its reservation is voided, the money stays
/// in AVAILABLE. 409 with the payout's state otherwise.
#[utoipa::path(post, path = "/v1/payouts/{id}/cancel", tag = "payouts",
    params(("id" = PayoutId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = PayoutObject), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn cancel_payout(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<EmptyRequest>,
) -> Result<Response, ApiError> {
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move { Ok((StatusCode::OK, payouts::cancel(&mut cx, &id).await?)) })
        })
        .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// `manual`, `daily`, `weekly` or `monthly` (runs at 00:00 UTC).
    pub interval: String,
    /// For `weekly`: `monday` … `sunday`.
    pub weekday: Option<String>,
    /// For `monthly`: 1–31 (a shorter month pays on its last day).
    pub day_of_month: Option<i64>,
    /// Days a scheduled payout waits (reserved, cancelable) before it is sent; 0–30.
    pub delay_days: Option<i64>,
    /// The least AVAILABLE a run pays out, in minor units: one number for every currency, or
    /// per currency (`{"USD": 5000}`).
    #[schema(value_type = Object)]
    pub minimum_amount: Option<Value>,
}

fn minimums(value: Option<Value>) -> Result<BTreeMap<String, i64>, ApiError> {
    let invalid = |param: String| {
        ApiError::invalid(
            "parameter_invalid",
            Some(param),
            "A minimum amount is a whole number of minor units, or such numbers per currency.",
        )
    };
    match value {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Number(n)) => {
            let amount = n.as_i64().ok_or_else(|| invalid("minimum_amount".into()))?;
            Ok(BTreeMap::from([("*".to_owned(), amount)]))
        }
        Some(Value::Object(map)) => map
            .into_iter()
            .map(|(currency, amount)| match amount.as_i64() {
                Some(amount) => Ok((currency, amount)),
                None => Err(invalid(format!("minimum_amount.{currency}"))),
            })
            .collect(),
        Some(_) => Err(invalid("minimum_amount".into())),
    }
}

/// Set when a seller is paid out automatically: every run pays out all of AVAILABLE per
/// currency when it reaches the minimum.
#[utoipa::path(post, path = "/v1/parties/{id}/payout_schedule", tag = "payouts",
    params(("id" = CustomerId, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = ScheduleRequest,
    responses((status = 200, body = PayoutScheduleObject), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn set_schedule(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<ScheduleRequest>,
) -> Result<Response, ApiError> {
    let party = parse_party(&id)?;
    let body = request.body;
    let input = ScheduleInput {
        interval: Interval::parse(&body.interval, body.weekday.as_deref(), body.day_of_month)?,
        delay_days: body.delay_days.unwrap_or(0),
        minimum_amounts: minimums(body.minimum_amount)?,
    };
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let schedule = payouts::set_schedule(&mut cx, &party, input).await?;
                Ok((StatusCode::OK, schedule))
            })
        })
        .await
}

/// A seller's payout schedule (`manual`, paid out only when asked, until one is set).
#[utoipa::path(get, path = "/v1/parties/{id}/payout_schedule", tag = "payouts", params(("id" = CustomerId, Path)),
    responses((status = 200, body = PayoutScheduleObject), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_schedule(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<PayoutScheduleObject>, ApiError> {
    let party = parse_party(&id)?;
    let workspace_id = principal.workspace_id.clone();
    let schedule = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { payouts::get_schedule(tx, &workspace_id, &party).await })
        })
        .await?;
    Ok(principal.json(schedule))
}
