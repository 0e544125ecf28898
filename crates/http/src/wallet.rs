//! `/v1/parties/{id}/wallet`: a party's wallet and the recipes that move money through it.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use bursar_domain::id::{CustomerId, WorkspaceId};
use bursar_domain::ledger::TransferId;
use bursar_domain::money::Currency;
use bursar_domain::time::Timestamp;
use bursar_domain::wallet::Role;
use bursar_store::wallet::{self, Recipe, RecipeOutcome, RecipeRequest, SeasonOutcome};
use bursar_store::{customers, StoreError, Tx};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody, ErrorType};
use crate::events::{timeline, TimelineResponse};
use crate::extract::{Mutation, Principal, QueryParams};
use crate::ledger::BalancesObject;
use crate::transfers::{transfer_error, TransferObject};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_wallet))
        .routes(routes!(simple_recipe))
        .routes(routes!(release))
        .routes(routes!(season))
        .routes(routes!(party_timeline))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HoldingObject {
    pub id: String,
    pub currency: String,
    pub amount: i64,
    pub not_before: String,
    /// `holding` until seasoned, then `seasoned`.
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WalletObject {
    /// Always `wallet`.
    pub object: &'static str,
    pub party: String,
    /// Per currency, per role (AVAILABLE, COMMITTED, COMMITTED_DOWNPAYMENT, PAY_IN_HOLDING).
    pub balances: BTreeMap<String, BTreeMap<String, BalancesObject>>,
    /// Money released to this party as a seller, seasoning or seasoned.
    pub holdings: Vec<HoldingObject>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WalletOperation {
    /// Always `wallet_operation`.
    pub object: &'static str,
    pub recipe: &'static str,
    /// `ok`, or `exists` when this operation id was applied before.
    pub result: &'static str,
    pub transfers: Vec<TransferObject>,
    pub wallet: WalletObject,
}

async fn load_wallet(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    party: &CustomerId,
) -> Result<WalletObject, StoreError> {
    let mut balances: BTreeMap<String, BTreeMap<String, BalancesObject>> = BTreeMap::new();
    for account in wallet::wallet(tx, workspace_id, party).await? {
        let role = account.metadata.get("role").cloned().unwrap_or_default();
        balances
            .entry(account.currency.code().to_owned())
            .or_default()
            .insert(role, account.balances.into());
    }
    let holdings = wallet::holdings(tx, workspace_id, party)
        .await?
        .into_iter()
        .map(|h| HoldingObject {
            id: h.id,
            currency: h.currency.code().to_owned(),
            amount: h.amount,
            not_before: h.not_before.to_rfc3339(),
            status: if h.seasoned { "seasoned" } else { "holding" },
        })
        .collect();
    Ok(WalletObject {
        object: "wallet",
        party: party.to_string(),
        balances,
        holdings,
    })
}

fn parse_party(id: &str) -> Result<CustomerId, ApiError> {
    CustomerId::parse(id, "id").map_err(|_| ApiError::not_found("customer", id))
}

/// A party's wallet timeline: funded, committed, released, held, seasoned, cashed out —
/// oldest first.
#[utoipa::path(
    get, path = "/v1/parties/{id}/timeline", tag = "wallets",
    params(
        ("id" = String, Path, description = "The party's customer id"),
        ("after" = Option<i64>, Query, description = "Events after this sequence number (default 0)"),
        ("limit" = Option<i64>, Query, description = "1 to 100, default 100"),
    ),
    responses((status = 200, body = TimelineResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
async fn party_timeline(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Json<TimelineResponse>, ApiError> {
    let party = parse_party(&id)?;
    let workspace_id = principal.workspace_id.clone();
    let lookup = party.clone();
    state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { require_party(tx, &workspace_id, &lookup, "id").await })
        })
        .await?;
    let page = timeline(
        &state,
        principal.workspace_id.clone(),
        "party",
        party.to_string(),
        &query,
    )
    .await?;
    Ok(Json(page))
}

async fn require_party(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    party: &CustomerId,
    param: &str,
) -> Result<(), ApiError> {
    if customers::get(tx, workspace_id, party, false)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found("customer", party.as_str()).with_param(param));
    }
    Ok(())
}

/// A party's wallet: balances of every role in every currency, and its holdings.
#[utoipa::path(
    get, path = "/v1/parties/{id}/wallet", tag = "wallets",
    params(("id" = String, Path, description = "The party's customer id")),
    responses((status = 200, body = WalletObject), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
async fn get_wallet(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<WalletObject>, ApiError> {
    let party = parse_party(&id)?;
    let workspace_id = principal.workspace_id.clone();
    let wallet = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                require_party(tx, &workspace_id, &party, "id").await?;
                Ok::<_, ApiError>(load_wallet(tx, &workspace_id, &party).await?)
            })
        })
        .await?;
    Ok(Json(wallet))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmountRequest {
    /// Your id for this operation (up to 56 characters): a retry moves nothing twice.
    pub id: String,
    /// Minor units, positive.
    pub amount: i64,
    #[schema(example = "USD")]
    pub currency: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    /// The seller (a customer id) whose PAY_IN_HOLDING receives the money.
    pub seller_id: String,
    /// RFC 3339: the money seasons until then before it becomes the seller's AVAILABLE.
    pub not_before: String,
    /// `COMMITTED` (default) or `COMMITTED_DOWNPAYMENT`.
    pub from: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeasonRequest {
    /// Season only this holding (the release's id); default: every due holding.
    pub holding_id: Option<String>,
}

fn operation_id(id: &str) -> Result<TransferId, ApiError> {
    if id.len() > wallet::RECIPE_ID_LENGTH_MAX {
        return Err(ApiError::invalid(
            "parameter_invalid",
            Some("id".into()),
            format!(
                "Operation ids are at most {} characters.",
                wallet::RECIPE_ID_LENGTH_MAX
            ),
        ));
    }
    Ok(TransferId::parse(id, "id")?)
}

fn positive(amount: i64) -> Result<i64, ApiError> {
    Ok(bursar_domain::money::parse_positive_amount(
        amount, "amount",
    )?)
}

async fn run(
    state: &AppState,
    principal: &Principal,
    idempotency: crate::extract::Idempotency,
    request: RecipeRequest,
) -> Result<Response, ApiError> {
    state
        .mutate(principal, idempotency, move |cx| {
            Box::pin(async move {
                require_party(cx.tx, cx.workspace_id, &request.party, "id").await?;
                if let Recipe::Release { seller, .. } = &request.recipe {
                    require_party(cx.tx, cx.workspace_id, seller, "seller_id").await?;
                }
                match wallet::run_recipe(cx.tx, cx.workspace_id, &request, cx.now, cx.cause).await?
                {
                    RecipeOutcome::Done { result, transfers } => {
                        let wallet = load_wallet(cx.tx, cx.workspace_id, &request.party).await?;
                        let body = WalletOperation {
                            object: "wallet_operation",
                            recipe: request.recipe.name(),
                            result: result.as_str(),
                            transfers: transfers
                                .into_iter()
                                .map(|t| TransferObject::new(t, None))
                                .collect(),
                            wallet,
                        };
                        Ok((
                            StatusCode::OK,
                            serde_json::to_value(body).unwrap_or_default(),
                        ))
                    }
                    RecipeOutcome::Failed(result) => {
                        // Committed (the ledger records the failure) and answered as an error.
                        let error = transfer_error(result);
                        Ok((
                            error.status,
                            serde_json::to_value(error.body()).unwrap_or_default(),
                        ))
                    }
                }
            })
        })
        .await
}

/// Run `fund`, `commit`, `commit_downpayment` or `cash_out` on a party's wallet.
///
/// `fund`: inbound money (bank clearing) → AVAILABLE. `commit`: AVAILABLE → COMMITTED.
/// `commit_downpayment`: AVAILABLE → COMMITTED_DOWNPAYMENT. `cash_out`: AVAILABLE → payout
/// clearing. Idempotent by `id`.
#[utoipa::path(
    post, path = "/v1/parties/{id}/wallet/{recipe}", tag = "wallets",
    params(
        ("id" = String, Path, description = "The party's customer id"),
        ("recipe" = String, Path, description = "fund, commit, commit_downpayment or cash_out"),
    ),
    request_body = AmountRequest,
    responses(
        (status = 200, body = WalletOperation),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn simple_recipe(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, recipe)): Path<(String, String)>,
    request: Mutation<AmountRequest>,
) -> Result<Response, ApiError> {
    let recipe = match recipe.as_str() {
        "fund" => Recipe::Fund,
        "commit" => Recipe::Commit,
        "commit_downpayment" => Recipe::CommitDownpayment,
        "cash_out" => Recipe::CashOut,
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                ErrorType::InvalidRequestError,
                "route_missing",
                format!("No wallet recipe '{recipe}': use fund, commit, commit_downpayment, release, season or cash_out."),
            ));
        }
    };
    let party = parse_party(&id)?;
    let body = request.body;
    let parsed = RecipeRequest {
        id: operation_id(&body.id)?,
        party,
        currency: Currency::parse(&body.currency, "currency")?,
        amount: positive(body.amount)?,
        recipe,
    };
    run(&state, &principal, request.idempotency, parsed).await
}

/// Release committed money to a seller's PAY_IN_HOLDING, where it seasons until `not_before`.
#[utoipa::path(
    post, path = "/v1/parties/{id}/wallet/release", tag = "wallets",
    params(("id" = String, Path, description = "The buyer's customer id")),
    request_body = ReleaseRequest,
    responses(
        (status = 200, body = WalletOperation),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn release(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<ReleaseRequest>,
) -> Result<Response, ApiError> {
    let party = parse_party(&id)?;
    let body = request.body;
    let seller = CustomerId::parse(&body.seller_id, "seller_id")?;
    let not_before = Timestamp::parse_rfc3339(&body.not_before).ok_or_else(|| {
        ApiError::invalid(
            "parameter_invalid",
            Some("not_before".into()),
            "not_before must be an RFC 3339 instant.",
        )
    })?;
    let from = match body.from.as_deref().unwrap_or("COMMITTED") {
        "COMMITTED" => Role::Committed,
        "COMMITTED_DOWNPAYMENT" => Role::CommittedDownpayment,
        other => {
            return Err(ApiError::invalid(
                "parameter_invalid",
                Some("from".into()),
                format!("Cannot release from '{other}': use COMMITTED or COMMITTED_DOWNPAYMENT."),
            ));
        }
    };
    if seller == party {
        return Err(ApiError::invalid(
            "parameter_invalid",
            Some("seller_id".into()),
            "A party cannot release money to itself.",
        ));
    }
    let parsed = RecipeRequest {
        id: operation_id(&body.id)?,
        party,
        currency: Currency::parse(&body.currency, "currency")?,
        amount: positive(body.amount)?,
        recipe: Recipe::Release {
            seller,
            from,
            not_before,
        },
    };
    run(&state, &principal, request.idempotency, parsed).await
}

/// Season a seller's holdings whose `not_before` has passed: PAY_IN_HOLDING → AVAILABLE.
/// Refused (409 `not_seasoned`) before `not_before`. A background job does the same for every
/// due holding.
#[utoipa::path(
    post, path = "/v1/parties/{id}/wallet/season", tag = "wallets",
    params(("id" = String, Path, description = "The seller's customer id")),
    request_body = SeasonRequest,
    responses(
        (status = 200, body = WalletObject),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn season(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<SeasonRequest>,
) -> Result<Response, ApiError> {
    let seller = parse_party(&id)?;
    let holding = request.body.holding_id;
    state
        .mutate(&principal, request.idempotency, move |cx| {
            Box::pin(async move {
                require_party(cx.tx, cx.workspace_id, &seller, "id").await?;
                match wallet::season(
                    cx.tx,
                    cx.workspace_id,
                    &seller,
                    holding.as_deref(),
                    cx.now,
                    cx.cause,
                )
                .await?
                {
                    SeasonOutcome::Seasoned(_) => Ok((
                        StatusCode::OK,
                        load_wallet(cx.tx, cx.workspace_id, &seller).await?,
                    )),
                    SeasonOutcome::NotYet(not_before) => Err(ApiError::new(
                        StatusCode::CONFLICT,
                        ErrorType::StateError,
                        "not_seasoned",
                        format!(
                            "The holding is seasoning until {}; it cannot be released before.",
                            not_before.to_rfc3339()
                        ),
                    )
                    .with_param("holding_id")),
                    SeasonOutcome::NothingHeld => Err(ApiError::new(
                        StatusCode::CONFLICT,
                        ErrorType::StateError,
                        "nothing_held",
                        "Nothing is held for this party (or no such holding).",
                    )
                    .with_param("holding_id")),
                }
            })
        })
        .await
}
