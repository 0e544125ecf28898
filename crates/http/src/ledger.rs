//! `/v1/ledger`: accounts, transfers (one or a batch), balances now and as of a past instant.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bursar_domain::ledger::objects::{AccountObject, FlagsObject};
use bursar_domain::ledger::*;
use bursar_domain::metadata::Metadata;
use bursar_domain::money::Currency;
use bursar_domain::time::Timestamp;
use bursar_store::{ledger, Tx};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody, ErrorType};
use crate::extract::{Mutation, Principal, QueryParams};
use crate::livemode::Json;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_account))
        .routes(routes!(get_account))
        .routes(routes!(account_timeline))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountRequest {
    /// Your id for the account (letters, digits, `_-.:`, up to 64); generated when absent.
    #[schema(value_type = Option<AccountId>)]
    pub id: Option<String>,
    /// Transfers only move money between accounts of one currency.
    #[schema(value_type = Currency)]
    pub currency: String,
    /// Your kind of account (chart of accounts), default 0.
    pub code: Option<i64>,
    pub flags: Option<FlagsObject>,
    #[schema(value_type = Option<Metadata>)]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// Create a ledger account. Idempotent by id: the same id and fields return the account.
#[utoipa::path(
    post, path = "/v1/ledger/accounts", tag = "ledger",
    request_body = CreateAccountRequest,
    responses(
        (status = 200, body = AccountObject),
        (status = 400, body = ErrorBody),
        (status = 409, description = "The id is taken by an account with other fields", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn create_account(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<CreateAccountRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let id = match &body.id {
        Some(id) => AccountId::parse(id, "id")?,
        None => AccountId::generate(),
    };
    let flags = body.flags.unwrap_or_default();
    let metadata = Metadata::parse(body.metadata.unwrap_or_default())?;
    let account = NewAccount {
        id,
        currency: Currency::parse(&body.currency, "currency")?,
        code: body.code.unwrap_or(0),
        flags: AccountFlags {
            debits_must_not_exceed_credits: flags.debits_must_not_exceed_credits,
            credits_must_not_exceed_debits: flags.credits_must_not_exceed_debits,
            history: flags.history,
        },
        metadata: metadata.as_map().clone(),
    };
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let object = bursar_core::ledger::create_account(&mut cx, account).await?;
                Ok((StatusCode::OK, object))
            })
        })
        .await
}

pub(crate) fn no_history() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorType::InvalidRequestError,
        "account_history_disabled",
        "This account keeps no history: create it with flags.history to list its transfers and \
         read past balances.",
    )
}

pub(crate) fn parse_account_id(id: &str) -> Result<AccountId, ApiError> {
    AccountId::parse(id, "id").map_err(|_| ApiError::not_found("ledger account", id))
}

/// An account's timeline (its creation; its transfers are listed by
/// `/v1/ledger/accounts/{id}/transfers`), oldest first.
#[utoipa::path(
    get, path = "/v1/ledger/accounts/{id}/timeline", tag = "ledger",
    params(
        ("id" = AccountId, Path),
        ("after" = Option<i64>, Query, minimum = 0, description = "Events after this sequence number (default 0)"),
        ("limit" = Option<i64>, Query, description = "1 to 100, default 100"),
    ),
    responses((status = 200, body = crate::events::TimelineResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
async fn account_timeline(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Json<crate::events::TimelineResponse>, ApiError> {
    let account_id = parse_account_id(&id)?;
    let workspace_id = principal.workspace_id.clone();
    let lookup = account_id.clone();
    state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { ledger::get_account(tx, &workspace_id, &lookup).await })
        })
        .await?
        .ok_or_else(|| ApiError::not_found("ledger account", account_id.as_str()))?;
    let page = crate::events::timeline(
        &state,
        &principal,
        "ledger_account",
        account_id.to_string(),
        &query,
    )
    .await?;
    Ok(principal.json(page))
}

/// Retrieve an account with its balances, now or `as_of` a past instant.
#[utoipa::path(
    get, path = "/v1/ledger/accounts/{id}", tag = "ledger",
    params(
        ("id" = AccountId, Path),
        ("as_of" = Option<String>, Query, format = DateTime, description = "RFC 3339 instant: balances as they were then"),
    ),
    responses((status = 200, body = AccountObject), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
async fn get_account(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Json<AccountObject>, ApiError> {
    query.only(&["as_of"])?;
    let as_of = query
        .text("as_of")
        .map(|text| {
            Timestamp::parse_rfc3339(&text).ok_or_else(|| {
                ApiError::invalid(
                    "parameter_invalid",
                    Some("as_of".into()),
                    "as_of must be an RFC 3339 instant.",
                )
            })
        })
        .transpose()?;
    let account_id = parse_account_id(&id)?;
    let workspace_id = principal.workspace_id.clone();
    let found = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let Some(mut account) = ledger::get_account(tx, &workspace_id, &account_id).await?
                else {
                    return Ok::<_, bursar_store::StoreError>(None);
                };
                if let Some(at) = as_of {
                    if !account.flags.history {
                        return Ok(Some(Err(no_history())));
                    }
                    account.balances =
                        ledger::balances_as_of(tx, &workspace_id, &account.id, at).await?;
                }
                Ok(Some(Ok(account)))
            })
        })
        .await?
        .ok_or_else(|| ApiError::not_found("ledger account", &id))??;
    let mut object = AccountObject::from(found);
    object.balances_as_of = as_of.map(Timestamp::to_rfc3339);
    Ok(principal.json(object))
}
