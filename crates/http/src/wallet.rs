//! `/v1/parties/{id}/wallet`: a party's wallet and the recipes that move money through it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bursar_core::wallets::{self, AmountInput, Outcome, ReleaseInput};
use bursar_domain::id::CustomerId;
use bursar_domain::livemode;
use bursar_domain::money::{Currency, PositiveAmount};
use bursar_domain::wallet::{WalletObject, WalletOperation};
use bursar_store::wallet::RecipeRequest;
use bursar_store::Tx;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::events::{timeline, TimelineResponse};
use crate::extract::{Mutation, Principal, QueryParams};
use crate::livemode::Json;
use crate::transfers::transfer_error;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_wallet))
        .routes(routes!(simple_recipe))
        .routes(routes!(release))
        .routes(routes!(season))
        .routes(routes!(party_timeline))
}

/// A party's wallet timeline: funded, committed, released, held, seasoned, cashed out —
/// oldest first.
#[utoipa::path(
    get, path = "/v1/parties/{id}/timeline", tag = "wallets",
    params(
        ("id" = CustomerId, Path, description = "The party's customer id"),
        ("after" = Option<i64>, Query, minimum = 0, description = "Events after this sequence number (default 0)"),
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
    let party = wallets::parse_party(&id)?;
    let workspace_id = principal.workspace_id.clone();
    let lookup = party.clone();
    state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { wallets::require_party(tx, &workspace_id, &lookup, "id").await })
        })
        .await?;
    let page = timeline(&state, &principal, "party", party.to_string(), &query).await?;
    Ok(principal.json(page))
}

/// A party's wallet: balances of every role in every currency, and its holdings.
#[utoipa::path(
    get, path = "/v1/parties/{id}/wallet", tag = "wallets",
    params(("id" = CustomerId, Path, description = "The party's customer id")),
    responses((status = 200, body = WalletObject), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
async fn get_wallet(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<WalletObject>, ApiError> {
    let party = wallets::parse_party(&id)?;
    let workspace_id = principal.workspace_id.clone();
    let wallet = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                wallets::require_party(tx, &workspace_id, &party, "id").await?;
                wallets::load(tx, &workspace_id, &party).await
            })
        })
        .await?;
    Ok(principal.json(wallet))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmountRequest {
    /// Your id for this operation (up to 56 letters, digits, `_`, `-`, `.` or `:`): a retry
    /// moves nothing twice.
    #[schema(pattern = "^[A-Za-z0-9_.:-]{1,56}$")]
    pub id: String,
    /// Minor units, positive.
    #[schema(value_type = PositiveAmount)]
    pub amount: i64,
    #[schema(value_type = Currency)]
    pub currency: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    /// Your id for this operation (up to 56 letters, digits, `_`, `-`, `.` or `:`): a retry
    /// moves nothing twice.
    #[schema(pattern = "^[A-Za-z0-9_.:-]{1,56}$")]
    pub id: String,
    /// Minor units, positive.
    #[schema(value_type = PositiveAmount)]
    pub amount: i64,
    #[schema(value_type = Currency)]
    pub currency: String,
    /// The seller (another customer) whose PAY_IN_HOLDING receives the money.
    #[schema(value_type = CustomerId)]
    pub seller_id: String,
    /// RFC 3339: the money seasons until then before it becomes the seller's AVAILABLE.
    #[schema(format = DateTime)]
    pub not_before: String,
    /// `COMMITTED` (default) or `COMMITTED_DOWNPAYMENT`.
    #[schema(pattern = "^(COMMITTED|COMMITTED_DOWNPAYMENT)$")]
    pub from: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeasonRequest {
    /// Season only this holding (the release's id); default: every due holding.
    pub holding_id: Option<String>,
}

/// Runs `request` and answers the wallet operation, or the ledger's refusal as an error (the
/// refusal is recorded, so it commits).
async fn run(
    state: &AppState,
    principal: &Principal,
    idempotency: crate::extract::Idempotency,
    request: RecipeRequest,
) -> Result<Response, ApiError> {
    let live = principal.livemode();
    state
        .mutate(principal, idempotency, move |mut cx| {
            Box::pin(async move {
                match wallets::run_recipe(&mut cx, &request).await? {
                    Outcome::Done(operation) => Ok((
                        StatusCode::OK,
                        livemode::to_value(&operation, live).unwrap_or_default(),
                    )),
                    Outcome::Failed(result) => {
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
        ("id" = CustomerId, Path, description = "The party's customer id"),
        ("recipe" = String, Path, pattern = "^(fund|commit|commit_downpayment|cash_out)$", description = "fund, commit, commit_downpayment or cash_out"),
    ),
    request_body = AmountRequest,
    responses(
        (status = 200, body = WalletOperation),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn simple_recipe(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, recipe)): Path<(String, String)>,
    request: Mutation<AmountRequest>,
) -> Result<Response, ApiError> {
    let recipe = wallets::simple_recipe(&recipe)?;
    let party = wallets::parse_party(&id)?;
    let body = request.body;
    let input = AmountInput {
        id: body.id,
        amount: body.amount,
        currency: body.currency,
    };
    let parsed = wallets::recipe_request(party, recipe, &input)?;
    run(&state, &principal, request.idempotency, parsed).await
}

/// Release committed money to a seller's PAY_IN_HOLDING, where it seasons until `not_before`.
#[utoipa::path(
    post, path = "/v1/parties/{id}/wallet/release", tag = "wallets",
    params(("id" = CustomerId, Path, description = "The buyer's customer id")),
    request_body = ReleaseRequest,
    responses(
        (status = 200, body = WalletOperation),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn release(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<ReleaseRequest>,
) -> Result<Response, ApiError> {
    let party = wallets::parse_party(&id)?;
    let body = request.body;
    let release = ReleaseInput {
        seller_id: body.seller_id,
        not_before: body.not_before,
        from: body.from,
    };
    let input = AmountInput {
        id: body.id,
        amount: body.amount,
        currency: body.currency,
    };
    let parsed = wallets::release_request(party, &release, &input)?;
    run(&state, &principal, request.idempotency, parsed).await
}

/// Season a seller's holdings whose `not_before` has passed: PAY_IN_HOLDING → AVAILABLE.
/// Refused (409 `not_seasoned`) before `not_before`. A background job does the same for every
/// due holding.
#[utoipa::path(
    post, path = "/v1/parties/{id}/wallet/season", tag = "wallets",
    params(("id" = CustomerId, Path, description = "The seller's customer id")),
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
    let seller = wallets::parse_party(&id)?;
    let holding = request.body.holding_id;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let wallet = wallets::season(&mut cx, &seller, holding.as_deref()).await?;
                Ok((StatusCode::OK, wallet))
            })
        })
        .await
}
