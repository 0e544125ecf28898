//! `/v1/ledger`: accounts, transfers (one or a batch), balances now and as of a past instant.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bursar_domain::event::NewEvent;
use bursar_domain::ledger::*;
use bursar_domain::metadata::Metadata;
use bursar_domain::money::Currency;
use bursar_domain::page::PageRequest;
use bursar_domain::time::Timestamp;
use bursar_store::{ledger, Tx};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody, ErrorType};
use crate::extract::{from_value, Mutation, Principal, QueryParams};
use crate::list::{page_params, ListResponse};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_account))
        .routes(routes!(get_account))
        .routes(routes!(account_timeline))
        .routes(routes!(list_account_transfers))
        .routes(routes!(create_transfers))
        .routes(routes!(get_transfer))
}

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagsObject {
    /// The account's debits (pending and posted) may never exceed its posted credits.
    #[serde(default)]
    pub debits_must_not_exceed_credits: bool,
    /// The account's credits (pending and posted) may never exceed its posted debits.
    #[serde(default)]
    pub credits_must_not_exceed_debits: bool,
    /// Keep the account's history, so its transfers can be listed and its balances read as of
    /// a past instant. Costs a write per transfer; off by default.
    #[serde(default)]
    pub history: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountRequest {
    /// Your id for the account (letters, digits, `_-.:`, up to 64); generated when absent.
    pub id: Option<String>,
    /// ISO 4217 code. Transfers only move money between accounts of one currency.
    #[schema(example = "USD")]
    pub currency: String,
    /// Your kind of account (chart of accounts), default 0.
    pub code: Option<i64>,
    pub flags: Option<FlagsObject>,
    pub metadata: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BalancesObject {
    pub debits_pending: i64,
    pub debits_posted: i64,
    pub credits_pending: i64,
    pub credits_posted: i64,
}

impl From<Balances> for BalancesObject {
    fn from(b: Balances) -> Self {
        BalancesObject {
            debits_pending: b.debits_pending,
            debits_posted: b.debits_posted,
            credits_pending: b.credits_pending,
            credits_posted: b.credits_posted,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountObject {
    pub id: String,
    /// Always `ledger_account`.
    pub object: &'static str,
    pub currency: String,
    pub code: i64,
    pub flags: FlagsObject,
    pub metadata: BTreeMap<String, String>,
    pub balances: BalancesObject,
    /// The instant the balances are for, when asked with `as_of`.
    pub balances_as_of: Option<String>,
    pub created_at: String,
}

impl From<Account> for AccountObject {
    fn from(a: Account) -> Self {
        AccountObject {
            id: a.id.to_string(),
            object: "ledger_account",
            currency: a.currency.code().to_owned(),
            code: a.code,
            flags: FlagsObject {
                debits_must_not_exceed_credits: a.flags.debits_must_not_exceed_credits,
                credits_must_not_exceed_debits: a.flags.credits_must_not_exceed_debits,
                history: a.flags.history,
            },
            metadata: a.metadata,
            balances: a.balances.into(),
            balances_as_of: None,
            created_at: a.timestamp.to_rfc3339(),
        }
    }
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
                let mut results =
                    ledger::create_accounts(cx.tx, cx.workspace_id, &[account], cx.now).await?;
                match results.pop() {
                    Some((AccountResult::Ok, Some(account))) => {
                        let object = AccountObject::from(account);
                        cx.emit(NewEvent::new(
                            "ledger_account.created",
                            "ledger_account",
                            object.id.as_str(),
                            serde_json::json!({ "object": object }),
                        ))
                        .await?;
                        Ok((StatusCode::OK, object))
                    }
                    Some((AccountResult::Exists, Some(account))) => {
                        Ok((StatusCode::OK, AccountObject::from(account)))
                    }
                    Some((AccountResult::ExistsWithDifferentFields, _)) => Err(ApiError::new(
                        StatusCode::CONFLICT,
                        ErrorType::StateError,
                        "exists_with_different_fields",
                        "An account with this id exists with other fields.",
                    )
                    .with_param("id")),
                    _ => Err(ApiError::invalid(
                        "flags_are_mutually_exclusive",
                        Some("flags".into()),
                        "An account cannot limit both debits and credits.",
                    )),
                }
            })
        })
        .await
}

fn no_history() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorType::InvalidRequestError,
        "account_history_disabled",
        "This account keeps no history: create it with flags.history to list its transfers and \
         read past balances.",
    )
}

fn parse_account_id(id: &str) -> Result<AccountId, ApiError> {
    AccountId::parse(id, "id").map_err(|_| ApiError::not_found("ledger account", id))
}

/// An account's timeline (its creation; its transfers are listed by
/// `/v1/ledger/accounts/{id}/transfers`), oldest first.
#[utoipa::path(
    get, path = "/v1/ledger/accounts/{id}/timeline", tag = "ledger",
    params(
        ("id" = String, Path),
        ("after" = Option<i64>, Query, description = "Events after this sequence number (default 0)"),
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
        principal.workspace_id.clone(),
        "ledger_account",
        account_id.to_string(),
        &query,
    )
    .await?;
    Ok(Json(page))
}

/// Retrieve an account with its balances, now or `as_of` a past instant.
#[utoipa::path(
    get, path = "/v1/ledger/accounts/{id}", tag = "ledger",
    params(
        ("id" = String, Path),
        ("as_of" = Option<String>, Query, description = "RFC 3339 instant: balances as they were then"),
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
    Ok(Json(object))
}

/// A transfer as requested.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// Your id for the transfer: retrying with the same id never moves money twice.
    pub id: String,
    pub debit_account_id: Option<String>,
    pub credit_account_id: Option<String>,
    /// Minor units. Optional for a post (the whole pending amount), a void, or a balancing
    /// transfer (as much as the balance allows).
    pub amount: Option<i64>,
    pub code: Option<i64>,
    /// `single` (default), `pending`, `post_pending` or `void_pending`.
    pub kind: Option<String>,
    /// The pending transfer a post or void resolves.
    pub pending_id: Option<String>,
    /// A pending transfer voids itself after this many seconds.
    pub timeout_seconds: Option<i64>,
    /// This transfer and the next one succeed or fail together.
    #[serde(default)]
    pub linked: bool,
    #[serde(default)]
    pub balancing_debit: bool,
    #[serde(default)]
    pub balancing_credit: bool,
    pub metadata: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBatchRequest {
    /// Up to 8,190 transfers, applied in order; linked ones as chains.
    pub transfers: Vec<TransferRequest>,
}

fn parse_transfer(request: TransferRequest, prefix: &str) -> Result<NewTransfer, ApiError> {
    let param = |name: &str| format!("{prefix}{name}");
    let account = |value: Option<String>, name: &str| {
        value
            .map(|v| AccountId::parse(&v, &param(name)))
            .transpose()
    };
    let pending_id = || -> Result<TransferId, ApiError> {
        let id = request.pending_id.as_deref().ok_or_else(|| {
            ApiError::invalid(
                "parameter_missing",
                Some(param("pending_id")),
                "A post or void needs pending_id.",
            )
        })?;
        Ok(TransferId::parse(id, &param("pending_id"))?)
    };
    let kind = match request.kind.as_deref().unwrap_or("single") {
        "single" => TransferKind::Single,
        "pending" => TransferKind::Pending {
            timeout_seconds: request.timeout_seconds,
        },
        "post_pending" => TransferKind::PostPending {
            pending_id: pending_id()?,
        },
        "void_pending" => TransferKind::VoidPending {
            pending_id: pending_id()?,
        },
        other => {
            return Err(ApiError::invalid(
                "parameter_invalid",
                Some(param("kind")),
                format!(
                    "Unknown kind '{other}': use single, pending, post_pending or void_pending."
                ),
            ));
        }
    };
    if request.timeout_seconds.is_some() && !matches!(kind, TransferKind::Pending { .. }) {
        return Err(ApiError::invalid(
            "parameter_invalid",
            Some(param("timeout_seconds")),
            "Only pending transfers have a timeout.",
        ));
    }
    if request.pending_id.is_some() && kind.pending_id().is_none() {
        return Err(ApiError::invalid(
            "parameter_invalid",
            Some(param("pending_id")),
            "Only posts and voids name a pending transfer.",
        ));
    }
    let metadata = Metadata::parse(request.metadata.unwrap_or_default())?;
    Ok(NewTransfer {
        id: TransferId::parse(&request.id, &param("id"))?,
        debit_account_id: account(request.debit_account_id, "debit_account_id")?,
        credit_account_id: account(request.credit_account_id, "credit_account_id")?,
        amount: request.amount,
        code: request.code.unwrap_or(0),
        kind,
        linked: request.linked,
        balancing_debit: request.balancing_debit,
        balancing_credit: request.balancing_credit,
        metadata: metadata.as_map().clone(),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransferObject {
    pub id: String,
    /// Always `ledger_transfer`.
    pub object: &'static str,
    pub debit_account_id: String,
    pub credit_account_id: String,
    pub currency: String,
    pub amount: i64,
    pub code: i64,
    pub kind: &'static str,
    pub pending_id: Option<String>,
    /// For a pending transfer: pending, posted, voided or expired.
    pub pending_status: Option<&'static str>,
    pub expires_at: Option<String>,
    pub linked: bool,
    pub balancing_debit: bool,
    pub balancing_credit: bool,
    pub metadata: BTreeMap<String, String>,
    /// Assigned by the ledger; strictly increasing.
    pub timestamp: String,
}

impl TransferObject {
    pub(crate) fn new(t: Transfer, status: Option<PendingStatus>) -> Self {
        TransferObject {
            id: t.id.to_string(),
            object: "ledger_transfer",
            debit_account_id: t.debit_account_id.to_string(),
            credit_account_id: t.credit_account_id.to_string(),
            currency: t.currency.code().to_owned(),
            amount: t.amount,
            code: t.code,
            kind: t.kind.as_str(),
            pending_id: t.kind.pending_id().map(TransferId::to_string),
            pending_status: status.map(PendingStatus::as_str),
            expires_at: t.expires_at.map(Timestamp::to_rfc3339),
            linked: t.linked,
            balancing_debit: t.balancing_debit,
            balancing_credit: t.balancing_credit,
            metadata: t.metadata,
            timestamp: t.timestamp.to_rfc3339(),
        }
    }
}

/// One transfer's outcome in a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransferResultObject {
    pub index: usize,
    pub id: String,
    /// `ok`, `exists`, or why it failed: `exceeds_credits`, `debit_account_not_found`,
    /// `currency_mismatch`, `pending_transfer_not_found`, `linked_event_failed`, ...
    pub result: &'static str,
    pub transfer: Option<TransferObject>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransferBatchResponse {
    /// Always `list`.
    pub object: &'static str,
    pub data: Vec<TransferResultObject>,
}

/// The error a single transfer's failure is answered with.
pub(crate) fn transfer_error(result: TransferResult) -> ApiError {
    use TransferResult as R;
    let (status, kind, param) = match result {
        R::AccountsMustBeDifferent => (
            StatusCode::BAD_REQUEST,
            ErrorType::InvalidRequestError,
            Some("credit_account_id"),
        ),
        R::DebitAccountIdRequired => (
            StatusCode::BAD_REQUEST,
            ErrorType::InvalidRequestError,
            Some("debit_account_id"),
        ),
        R::CreditAccountIdRequired => (
            StatusCode::BAD_REQUEST,
            ErrorType::InvalidRequestError,
            Some("credit_account_id"),
        ),
        R::AmountRequired | R::AmountMustBePositive => (
            StatusCode::BAD_REQUEST,
            ErrorType::InvalidRequestError,
            Some("amount"),
        ),
        R::TimeoutOutOfRange => (
            StatusCode::BAD_REQUEST,
            ErrorType::InvalidRequestError,
            Some("timeout_seconds"),
        ),
        R::BalancingOnlyForSingleOrPending => (
            StatusCode::BAD_REQUEST,
            ErrorType::InvalidRequestError,
            Some("kind"),
        ),
        R::ExistsWithDifferentFields | R::IdAlreadyFailed => {
            (StatusCode::CONFLICT, ErrorType::StateError, Some("id"))
        }
        R::DebitAccountNotFound => (
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::StateError,
            Some("debit_account_id"),
        ),
        R::CreditAccountNotFound => (
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::StateError,
            Some("credit_account_id"),
        ),
        R::PendingTransferNotFound
        | R::PendingTransferNotPending
        | R::PendingTransferAlreadyPosted
        | R::PendingTransferAlreadyVoided
        | R::PendingTransferExpired => (
            StatusCode::CONFLICT,
            ErrorType::StateError,
            Some("pending_id"),
        ),
        _ => (
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::StateError,
            None,
        ),
    };
    let message = format!(
        "The transfer failed: {}.",
        result.as_str().replace('_', " ")
    );
    let error = ApiError::new(status, kind, result.as_str(), message);
    match param {
        Some(p) => error.with_param(p),
        None => error,
    }
}

/// Create one transfer, or a batch (`{"transfers": [...]}`, up to 8,190).
///
/// A single transfer answers 200 with the transfer (`result` `ok`, or `exists` for a retry) or
/// an error whose `code` is the result. A batch always answers 200 with one result per
/// transfer. A failure that depends on the ledger's state is recorded: retrying that id keeps
/// failing (`id_already_failed`).
#[utoipa::path(
    post, path = "/v1/ledger/transfers", tag = "ledger",
    request_body(content = TransferBatchRequest, description = "A batch, or a single TransferRequest"),
    params(("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 200, description = "A transfer (single) or per-transfer results (batch)", body = TransferBatchResponse),
        (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn create_transfers(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<Value>,
) -> Result<Response, ApiError> {
    let is_batch = request.body.get("transfers").is_some();
    let batch: Vec<NewTransfer> = if is_batch {
        let parsed: TransferBatchRequest = from_value(request.body)?;
        if parsed.transfers.is_empty() || parsed.transfers.len() > TRANSFERS_PER_BATCH_MAX {
            return Err(ApiError::invalid(
                "parameter_invalid",
                Some("transfers".into()),
                format!("A batch has 1 to {TRANSFERS_PER_BATCH_MAX} transfers."),
            ));
        }
        parsed
            .transfers
            .into_iter()
            .enumerate()
            .map(|(i, t)| parse_transfer(t, &format!("transfers[{i}].")))
            .collect::<Result<_, _>>()?
    } else {
        vec![parse_transfer(from_value(request.body)?, "")?]
    };
    // Transfer ids make every transfer idempotent, so on PostgreSQL a request without an
    // Idempotency-Key joins the ledger's shared batches: there every batch holds the
    // workspace's ledger lock for a handful of round trips, and sharing batches is what lets
    // concurrent requests through. SQLite's writer already runs concurrent requests in one
    // commit with no round trips (and records their events once per group), and measures
    // faster without the extra hop.
    if request.idempotency.key.is_none() && state.db.backend() == bursar_store::Backend::Postgres {
        let results = state
            .ledger
            .submit(
                &principal.workspace_id,
                batch.clone(),
                crate::mutate::cause_of(&principal, &request.idempotency),
            )
            .await?;
        let (status, body) = transfer_response(is_batch, results, batch)?;
        return Ok((status, Json(body)).into_response());
    }
    state
        .mutate(&principal, request.idempotency, move |cx| {
            Box::pin(async move {
                let results =
                    ledger::create_transfers(cx.tx, cx.workspace_id, &batch, cx.now).await?;
                ledger::record_request_event(
                    cx.tx,
                    cx.workspace_id,
                    &batch,
                    &results,
                    cx.cause,
                    cx.now,
                )
                .await?;
                transfer_response(is_batch, results, batch)
            })
        })
        .await
}

/// The answer to a transfer request: a single transfer as an object (or its failure as an
/// error with the result as `code`); a batch as one result per transfer.
fn transfer_response(
    is_batch: bool,
    results: Vec<ledger::TransferOutcome>,
    batch: Vec<NewTransfer>,
) -> Result<(StatusCode, Value), ApiError> {
    if !is_batch {
        return Ok(match results.into_iter().next() {
            Some((result @ (TransferResult::Ok | TransferResult::Exists), Some(t))) => {
                let status = matches!(t.kind, TransferKind::Pending { .. })
                    .then_some(PendingStatus::Pending);
                let mut object =
                    serde_json::to_value(TransferObject::new(t, status)).unwrap_or_default();
                object["result"] = Value::from(result.as_str());
                (StatusCode::OK, object)
            }
            Some((result, _)) => {
                // Committed (the failure is recorded) but answered as an error.
                let error = transfer_error(result);
                (
                    error.status,
                    serde_json::to_value(error.body()).unwrap_or_default(),
                )
            }
            None => return Err(ApiError::internal()),
        });
    }
    let data = results
        .into_iter()
        .zip(batch)
        .enumerate()
        .map(
            |(index, ((result, transfer), request))| TransferResultObject {
                index,
                id: request.id.to_string(),
                result: result.as_str(),
                transfer: transfer.map(|t| TransferObject::new(t, None)),
            },
        )
        .collect();
    let response = TransferBatchResponse {
        object: "list",
        data,
    };
    Ok((
        StatusCode::OK,
        serde_json::to_value(response).unwrap_or_default(),
    ))
}

/// Retrieve a transfer (with the status of a pending one).
#[utoipa::path(
    get, path = "/v1/ledger/transfers/{id}", tag = "ledger",
    params(("id" = String, Path)),
    responses((status = 200, body = TransferObject), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
async fn get_transfer(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<TransferObject>, ApiError> {
    let transfer_id =
        TransferId::parse(&id, "id").map_err(|_| ApiError::not_found("ledger transfer", &id))?;
    let workspace_id = principal.workspace_id.clone();
    let (transfer, status) = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { ledger::get_transfer(tx, &workspace_id, &transfer_id).await })
        })
        .await?
        .ok_or_else(|| ApiError::not_found("ledger transfer", &id))?;
    Ok(Json(TransferObject::new(transfer, status)))
}

/// Transfers that changed an account, newest first.
#[utoipa::path(
    get, path = "/v1/ledger/accounts/{id}/transfers", tag = "ledger",
    params(
        ("id" = String, Path),
        ("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query), ("ending_before" = Option<String>, Query),
    ),
    responses((status = 200, body = ListResponse<TransferObject>), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
async fn list_account_transfers(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Json<ListResponse<TransferObject>>, ApiError> {
    let page: PageRequest = page_params(&query, &[], |value, param| {
        TransferId::parse(value, param).map(|t| t.to_string())
    })?;
    let account_id = parse_account_id(&id)?;
    let workspace_id = principal.workspace_id.clone();
    let page = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let Some(account) = ledger::get_account(tx, &workspace_id, &account_id).await?
                else {
                    return Ok::<_, bursar_store::StoreError>(None);
                };
                if !account.flags.history {
                    return Ok(Some(Err(no_history())));
                }
                ledger::list_account_transfers(tx, &workspace_id, &account_id, &page)
                    .await
                    .map(|p| Some(Ok(p)))
            })
        })
        .await?
        .ok_or_else(|| ApiError::not_found("ledger account", &id))??;
    Ok(Json(ListResponse::new(
        "/v1/ledger/accounts/{id}/transfers",
        page,
        |t| TransferObject::new(t, None),
    )))
}
