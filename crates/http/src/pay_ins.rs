//! `/v1/parties/{id}/bank_accounts/{account_id}/mandate`, `/v1/parties/{id}/pay_ins` and
//! `/v1/pay_ins/{id}`: a buyer's debit authorization, and debiting its bank account by ACH.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bursar_core::pay_ins::{self, PayInInput};
use bursar_core::wallets::parse_party;
use bursar_domain::id::{BankAccountId, CustomerId, PayInId};
use bursar_domain::money::Currency;
use bursar_domain::treasury::pay_ins::{MandateObject, PayInObject, ReturnRatesObject};
use bursar_store::Tx;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal};
use crate::list::ListResponse;
use crate::livemode::Json;
use crate::mutate::cause_of;
use crate::treasury::EmptyRequest;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(accept_mandate))
        .routes(routes!(create_pay_in, list_pay_ins))
        .routes(routes!(get_pay_in))
        .routes(routes!(return_rates))
}

/// The workspace's ACH debit return rates over NACHA's rolling 60 days, per category against
/// NACHA's thresholds (0.5 % unauthorized, 3 % administrative, 15 % overall).
#[utoipa::path(get, path = "/v1/treasury/return_rates", tag = "payouts",
    responses((status = 200, body = ReturnRatesObject)), security(("api_key" = [])))]
async fn return_rates(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<ReturnRatesObject>, ApiError> {
    let workspace_id = principal.workspace_id.clone();
    let now = state.db.now();
    let rates = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { pay_ins::return_rates_object(tx, &workspace_id, now).await })
        })
        .await?;
    Ok(principal.json(rates))
}

/// Record the buyer's ACH debit authorization (a mandate) on one of its bank accounts. An
/// unauthorized return (R05, R07, R10, R29, R51) stops it.
#[utoipa::path(post, path = "/v1/parties/{id}/bank_accounts/{account_id}/mandate", tag = "payouts",
    params(("id" = CustomerId, Path), ("account_id" = BankAccountId, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = EmptyRequest,
    responses((status = 200, body = MandateObject), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn accept_mandate(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, account_id)): Path<(String, String)>,
    request: Mutation<EmptyRequest>,
) -> Result<Response, ApiError> {
    let party = parse_party(&id)?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                Ok((
                    StatusCode::OK,
                    pay_ins::accept_mandate(&mut cx, &party, &account_id).await?,
                ))
            })
        })
        .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayInRequest {
    /// Minor units.
    #[schema(minimum = 1)]
    pub amount: i64,
    #[schema(example = "USD")]
    pub currency: String,
}

/// Debit the buyer's mandated bank account by ACH: the amount is pending in its AVAILABLE until
/// the bank settles it (T+2 banking days), voided if the bank fails it, taken back once if it is
/// returned after settlement.
#[utoipa::path(post, path = "/v1/parties/{id}/pay_ins", tag = "payouts",
    params(("id" = CustomerId, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = PayInRequest,
    responses((status = 200, body = PayInObject), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn create_pay_in(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<PayInRequest>,
) -> Result<Response, ApiError> {
    let input = PayInInput {
        party: parse_party(&id)?,
        amount: request.body.amount,
        currency: Currency::parse(&request.body.currency, "currency")?,
    };
    let cause = cause_of(&principal, &request.idempotency);
    let work = pay_ins::request(&state.app, principal.workspace_id.clone(), cause, input);
    state
        .idempotent(&principal, request.idempotency, work)
        .await
}

/// A party's pay-ins, newest first (the last 100).
#[utoipa::path(get, path = "/v1/parties/{id}/pay_ins", tag = "payouts", params(("id" = CustomerId, Path)),
    responses((status = 200, body = ListResponse<PayInObject>), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn list_pay_ins(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ListResponse<PayInObject>>, ApiError> {
    let party = parse_party(&id)?;
    let workspace_id = principal.workspace_id.clone();
    let data = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                bursar_core::wallets::require_party(tx, &workspace_id, &party, "id").await?;
                Ok::<_, bursar_core::Error>(
                    bursar_store::pay_ins::of_party(tx, &workspace_id, &party).await?,
                )
            })
        })
        .await?;
    Ok(principal.json(ListResponse::all("/v1/parties/{id}/pay_ins", data)))
}

/// One pay-in.
#[utoipa::path(get, path = "/v1/pay_ins/{id}", tag = "payouts", params(("id" = PayInId, Path)),
    responses((status = 200, body = PayInObject), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_pay_in(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<PayInObject>, ApiError> {
    let workspace_id = principal.workspace_id.clone();
    let pay_in = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { pay_ins::get(tx, &workspace_id, &id).await })
        })
        .await?;
    Ok(principal.json(pay_in))
}
