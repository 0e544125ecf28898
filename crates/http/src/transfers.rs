//! `/v1/transfers`: one transfer or a batch, linked, pending, posted, voided, balancing.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bursar_domain::ledger::objects::TransferObject;
use bursar_domain::ledger::*;
use bursar_domain::livemode;
use bursar_domain::metadata::Metadata;
use bursar_domain::page::PageRequest;
use bursar_store::{ledger, Tx};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody, ErrorType};
use crate::extract::{from_value, Mutation, Principal, QueryParams};
use crate::ledger::{no_history, parse_account_id};
use crate::list::{page_params, ListResponse};
use crate::livemode::Json;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_account_transfers))
        .routes(routes!(create_transfers))
        .routes(routes!(get_transfer))
}

/// A transfer as requested.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// Your id for the transfer: retrying with the same id never moves money twice.
    #[schema(value_type = TransferId)]
    pub id: String,
    #[schema(value_type = Option<AccountId>)]
    pub debit_account_id: Option<String>,
    #[schema(value_type = Option<AccountId>)]
    pub credit_account_id: Option<String>,
    /// Minor units, positive. Optional for a post (the whole pending amount), a void, or a
    /// balancing transfer (as much as the balance allows).
    #[schema(minimum = 1)]
    pub amount: Option<i64>,
    pub code: Option<i64>,
    /// `single` (default), `pending`, `post_pending` or `void_pending`.
    #[schema(pattern = "^(single|pending|post_pending|void_pending)$")]
    pub kind: Option<String>,
    /// The pending transfer a post or void resolves (for those kinds only, and required by
    /// them).
    #[schema(value_type = Option<TransferId>)]
    pub pending_id: Option<String>,
    /// A pending transfer voids itself after this many seconds (at most 366 days); pending
    /// transfers only.
    #[schema(minimum = 1, maximum = 31622400)]
    pub timeout_seconds: Option<i64>,
    /// This transfer and the next one succeed or fail together.
    #[serde(default)]
    pub linked: bool,
    #[serde(default)]
    pub balancing_debit: bool,
    #[serde(default)]
    pub balancing_credit: bool,
    #[schema(value_type = Option<Metadata>)]
    pub metadata: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBatchRequest {
    /// Up to 8,190 transfers, applied in order; linked ones as chains.
    #[schema(min_items = 1, max_items = 8190)]
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
    let keyed = request.idempotency.key.is_some();
    let live = principal.livemode();
    if bursar_core::ledger::joins_shared_batches(&state, keyed) {
        let cause = crate::mutate::cause_of(&principal, &request.idempotency);
        let results = bursar_core::ledger::submit_transfers(
            &state,
            &principal.workspace_id,
            batch.clone(),
            cause,
        )
        .await?;
        let (status, body) = transfer_response(is_batch, results, batch, live)?;
        return Ok((status, principal.json(body)).into_response());
    }
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let results = bursar_core::ledger::create_transfers(&mut cx, &batch).await?;
                transfer_response(is_batch, results, batch, live)
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
    live: bool,
) -> Result<(StatusCode, Value), ApiError> {
    if !is_batch {
        return Ok(match results.into_iter().next() {
            Some((result @ (TransferResult::Ok | TransferResult::Exists), Some(t))) => {
                let status = matches!(t.kind, TransferKind::Pending { .. })
                    .then_some(PendingStatus::Pending);
                let mut object =
                    livemode::to_value(&TransferObject::new(t, status), live).unwrap_or_default();
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
        livemode::to_value(&response, live).unwrap_or_default(),
    ))
}

/// Retrieve a transfer (with the status of a pending one).
#[utoipa::path(
    get, path = "/v1/ledger/transfers/{id}", tag = "ledger",
    params(("id" = TransferId, Path)),
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
    Ok(principal.json(TransferObject::new(transfer, status)))
}

/// Transfers that changed an account, newest first.
#[utoipa::path(
    get, path = "/v1/ledger/accounts/{id}/transfers", tag = "ledger",
    params(
        ("id" = AccountId, Path),
        ("limit" = Option<i64>, Query), ("starting_after" = Option<TransferId>, Query), ("ending_before" = Option<TransferId>, Query),
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
    Ok(principal.json(ListResponse::new(
        "/v1/ledger/accounts/{id}/transfers",
        page,
        |t| TransferObject::new(t, None),
    )))
}
