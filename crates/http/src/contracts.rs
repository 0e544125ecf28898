//! `/v1/contracts`: contracts as an event-sourced edit log. Every change is an operation
//! appended to the contract's log (`POST /v1/contracts/{id}/operations`) with the time it takes
//! effect and the time Bursar learned it; the contract is the log's projection, at any moment
//! and as known at any moment (`GET /v1/contracts/{id}?as_of=…&known_at=…`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bursar_domain::contract::{
    self, BillingTerms, Contract, ContractDraft, LogEntry, Operation, Proration, Term, Timing,
    UsagePricing,
};
use bursar_domain::id::{ContractId, ProductId};
use bursar_domain::money::{Currency, NonNegativeAmount};
use bursar_domain::subscription::Subscription;
use bursar_domain::time::Timestamp;
use bursar_store::documents::{self, CONTRACT, SUBSCRIPTION};
use bursar_store::{contracts, Tx};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::docs;
use crate::error::{ApiError, ErrorBody, ErrorType};
use crate::events::{timeline, TimelineResponse};
use crate::extract::{Mutation, Principal, QueryParams};
use crate::list::ListResponse;
use crate::livemode::Json;
use crate::AppState;
use bursar_core::contracts::*;
use bursar_domain::contract::OperationResult;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_contract, list_contracts))
        .routes(routes!(get_contract))
        .routes(routes!(append_operation))
        .routes(routes!(contract_log))
        .routes(routes!(contract_timeline))
        .routes(routes!(list_subscriptions))
        .routes(routes!(get_subscription))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TermRequest {
    pub start: Timestamp,
    pub end: Option<Timestamp>,
    #[serde(default)]
    pub auto_renew: bool,
    /// Months each renewal adds (default 12).
    pub renewal_months: Option<u32>,
    /// Days before the end a renewal can still be canceled (default 30).
    pub notice_days: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BillingRequest {
    /// The day of the month periods start on (default 1).
    #[schema(minimum = 1, maximum = 28)]
    pub anchor_day: Option<u8>,
    pub payment_terms_days: Option<u32>,
    /// `email` (default) or `portal`.
    #[schema(pattern = "^(email|portal)$")]
    pub invoice_delivery: Option<String>,
    /// `day` (default), `second` or `none`.
    pub proration: Option<Proration>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContractLineRequest {
    #[schema(value_type = ProductId)]
    pub product_id: String,
    /// Minor units per unit and billing period; without it, the pricing resolver's price for
    /// the buyer at the term's start (active agreement > price book > default price).
    #[schema(value_type = Option<NonNegativeAmount>)]
    pub unit_amount: Option<i64>,
    /// Default 1.
    #[schema(minimum = 1)]
    pub quantity: Option<i64>,
    /// `in_advance` (default) or `in_arrears`: when the line's fixed fee is billed.
    pub timing: Option<Timing>,
    /// A usage line: `{"meter": "<slug>", "pricing": {"model": "per_unit" | "graduated" |
    /// "volume" | "package" | "flat", …}, "filter_group_by"?: {…}}` — no unit_amount or
    /// quantity; billed in arrears.
    pub usage: Option<UsagePricing>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateContractRequest {
    /// A customer (`cus_…`) or a company (`comp_…`).
    pub buyer_id: String,
    /// The seller, for a marketplace contract (a customer).
    pub seller_id: Option<String>,
    /// Marketplace contracts: days the seller's part of each paid invoice seasons before it
    /// can be paid out (default: the workspace's `seller_seasoning_days`).
    #[schema(maximum = 365)]
    pub seasoning_days: Option<u32>,
    /// Marketplace contracts: a partner (a customer) who referred the deal.
    pub referrer_id: Option<String>,
    /// The referrer's share of the platform's fee on each paid invoice, in basis points.
    #[schema(maximum = 10000)]
    pub referral_share_bps: Option<u32>,
    #[schema(value_type = Currency)]
    pub currency: String,
    pub term: TermRequest,
    pub billing: Option<BillingRequest>,
    pub trial_ends_at: Option<Timestamp>,
    /// Whether the trial turns into the paid contract at its end (default true); if false, it
    /// lapses (the contract expires) unless a `convert_trial` operation comes first.
    pub trial_converts: Option<bool>,
    #[serde(default)]
    pub lines: Vec<ContractLineRequest>,
    /// When the contract took effect, if before now (e.g. signed last week, entered today);
    /// default now.
    pub effective_at: Option<Timestamp>,
}

/// A contract's log as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContractLog {
    pub object: &'static str,
    pub contract_id: String,
    pub data: Vec<LogEntry>,
}

/// Create a contract (a draft) and its first lines; each is an operation of its log.
#[utoipa::path(post, path = "/v1/contracts", tag = "contracts", request_body = CreateContractRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe.")),
    responses((status = 200, body = Contract), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn create_contract(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<CreateContractRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let currency = Currency::parse(&body.currency, "currency")?;
    let billing = body.billing.unwrap_or(BillingRequest {
        anchor_day: None,
        payment_terms_days: None,
        invoice_delivery: None,
        proration: None,
    });
    let delivery = billing.invoice_delivery.unwrap_or_else(|| "email".into());
    if delivery != "email" && delivery != "portal" {
        return Err(ApiError::invalid(
            "parameter_invalid",
            Some("billing.invoice_delivery".into()),
            "invoice_delivery must be email or portal.",
        ));
    }
    let draft = ContractDraft {
        buyer_id: body.buyer_id,
        seller_id: body.seller_id,
        seasoning_days: body.seasoning_days,
        referrer_id: body.referrer_id,
        referral_share_bps: body.referral_share_bps,
        currency: currency.to_string(),
        term: Term {
            start: body.term.start,
            end: body.term.end,
            auto_renew: body.term.auto_renew,
            renewal_months: body.term.renewal_months.unwrap_or(12),
            notice_days: body.term.notice_days.unwrap_or(30),
        },
        billing: BillingTerms {
            anchor_day: billing.anchor_day.unwrap_or(1),
            payment_terms_days: billing.payment_terms_days.unwrap_or(30),
            invoice_delivery: delivery,
            proration: billing.proration.unwrap_or(Proration::Day),
        },
        trial_ends_at: body.trial_ends_at,
        trial_converts: body.trial_converts.unwrap_or(true),
    };
    let lines: Vec<NewLine> = body
        .lines
        .into_iter()
        .map(|line| NewLine {
            product_id: line.product_id,
            unit_amount: line.unit_amount,
            quantity: line.quantity,
            timing: line.timing,
            usage: line.usage,
        })
        .collect();
    let effective_at = body.effective_at;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let contract = create(&mut cx, draft, lines, effective_at).await?;
                Ok((StatusCode::OK, contract))
            })
        })
        .await
}

/// Append an operation to a contract's log: `{"type": "add_line" | "remove_line" |
/// "change_quantity" | "change_price" | "set_commitment" | "set_downpayment" | "amend_term" |
/// "activate" | "suspend" | "resume" | "terminate" | "renew" | "cancel_renewal" |
/// "resume_renewal" | "expire" |
/// "set_service_status" | "mark_billed" | "convert_trial" | "remind_trial_end" | "end_trial",
/// …, "effective_at"?}`. Without `effective_at` it takes
/// effect now; a later time schedules it; an earlier one back-dates it, where the period is not
/// invoiced and every later operation still applies. Refused operations write nothing.
#[utoipa::path(post, path = "/v1/contracts/{id}/operations", tag = "contracts", request_body = Object,
    params(("id" = ContractId, Path), ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe.")),
    responses((status = 200, body = OperationResult), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn append_operation(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<serde_json::Map<String, Value>>,
) -> Result<Response, ApiError> {
    let mut body = request.body;
    let effective_at = match body.remove("effective_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(Timestamp::parse_rfc3339(&text).ok_or_else(|| {
            ApiError::invalid(
                "parameter_invalid",
                Some("effective_at".into()),
                format!("effective_at '{text}' is not an RFC 3339 timestamp."),
            )
        })?),
        Some(_) => {
            return Err(ApiError::invalid(
                "parameter_invalid",
                Some("effective_at".into()),
                "effective_at must be an RFC 3339 timestamp.",
            ))
        }
    };
    if body.get("type").and_then(Value::as_str) == Some("add_line") && !body.contains_key("line_id")
    {
        body.insert(
            "line_id".into(),
            Value::String(format!(
                "line_{}",
                ulid::Ulid::new().to_string().to_lowercase()
            )),
        );
    }
    if body.get("type").and_then(Value::as_str) == Some("add_line") && body.contains_key("usage") {
        // A usage line: priced by its model, billed in arrears.
        body.entry("unit_amount").or_insert(json!(0));
        body.entry("quantity").or_insert(json!(1));
        body.entry("timing").or_insert(json!("in_arrears"));
    }
    let operation: Operation = crate::extract::from_value(Value::Object(body))?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let result = operate(&mut cx, &id, operation, effective_at).await?;
                Ok((StatusCode::OK, result))
            })
        })
        .await
}

/// Get a contract: as it is now, or `as_of` a moment (in effect then), as known at `known_at`
/// (operations recorded by then). Both default to now.
#[utoipa::path(get, path = "/v1/contracts/{id}", tag = "contracts",
    params(("id" = ContractId, Path), ("as_of" = Option<String>, Query, format = DateTime), ("known_at" = Option<String>, Query, format = DateTime)),
    responses((status = 200, body = Contract), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_contract(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Json<Contract>, ApiError> {
    query.only(&["as_of", "known_at"])?;
    let now = state.db.now();
    let as_of = instant(&query, "as_of", now)?;
    let known_at = instant(&query, "known_at", now)?;
    let ws = principal.workspace_id.clone();
    let key = id.clone();
    let log = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { contracts::log(tx, &ws, &key, false).await })
        })
        .await?;
    let missing = || ApiError::not_found("contract", &id);
    if log.is_empty() {
        return Err(missing());
    }
    let projected = contract::project(&id, &log, as_of, known_at).map_err(|e| {
        tracing::error!(error = %e, contract = %id, "BUG: a stored contract log does not replay");
        ApiError::internal()
    })?;
    projected.map(|c| principal.json(c)).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorType::InvalidRequestError,
            "contract_not_yet_in_effect",
            format!("Contract '{id}' did not exist at as_of as known at known_at."),
        )
        .with_param("as_of")
    })
}

/// A contract's log: every operation, in the order recorded, with its effective and recorded
/// times.
#[utoipa::path(get, path = "/v1/contracts/{id}/log", tag = "contracts", params(("id" = ContractId, Path)),
    responses((status = 200, body = ContractLog), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn contract_log(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ContractLog>, ApiError> {
    let ws = principal.workspace_id.clone();
    let key = id.clone();
    let log = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { contracts::log(tx, &ws, &key, false).await })
        })
        .await?;
    if log.is_empty() {
        return Err(ApiError::not_found("contract", &id));
    }
    Ok(principal.json(ContractLog {
        object: "contract_log",
        contract_id: id,
        data: log,
    }))
}

/// A contract's events (`contract.created`, `contract.line_added`, `contract.price_changed`,
/// `contract.status_changed`, …), in the order they were recorded.
#[utoipa::path(get, path = "/v1/contracts/{id}/timeline", tag = "contracts",
    params(("id" = ContractId, Path), ("after" = Option<i64>, Query, minimum = 0), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = TimelineResponse), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn contract_timeline(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Json<TimelineResponse>, ApiError> {
    let ws = principal.workspace_id.clone();
    let key = id.clone();
    let found = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { documents::get::<Value>(tx, CONTRACT, &ws, &key, false).await })
        })
        .await?;
    if found.is_none() {
        return Err(ApiError::not_found("contract", &id));
    }
    Ok(principal.json(timeline(&state, &principal, "contract", id, &query).await?))
}

/// List contracts (their projections), newest first; `buyer_id` filters.
#[utoipa::path(get, path = "/v1/contracts", tag = "contracts",
    params(("limit" = Option<i64>, Query), ("starting_after" = Option<ContractId>, Query), ("ending_before" = Option<ContractId>, Query), ("buyer_id" = Option<String>, Query)),
    responses((status = 200, body = inline(ListResponse<Contract>))), security(("api_key" = [])))]
async fn list_contracts(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<Contract>>, ApiError> {
    Ok(principal.json(
        docs::list(
            &state,
            &principal,
            &query,
            CONTRACT,
            "/v1/contracts",
            "ctr_",
            Some(("buyer_id", "buyer_id")),
        )
        .await?,
    ))
}

/// List subscriptions (projected from contracts by the relay), newest first; `contract_id`
/// filters.
#[utoipa::path(get, path = "/v1/subscriptions", tag = "contracts",
    params(("limit" = Option<i64>, Query),
        ("starting_after" = Option<String>, Query, pattern = "^sub_[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$"),
        ("ending_before" = Option<String>, Query, pattern = "^sub_[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$"),
        ("contract_id" = Option<String>, Query)),
    responses((status = 200, body = inline(ListResponse<Subscription>))), security(("api_key" = [])))]
async fn list_subscriptions(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<Subscription>>, ApiError> {
    Ok(principal.json(
        docs::list(
            &state,
            &principal,
            &query,
            SUBSCRIPTION,
            "/v1/subscriptions",
            "sub_",
            Some(("contract_id", "contract_id")),
        )
        .await?,
    ))
}

/// Get a subscription: a contract's billing items, status, current period and prorations.
#[utoipa::path(get, path = "/v1/subscriptions/{id}", tag = "contracts", params(("id" = String, Path)),
    responses((status = 200, body = Subscription), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_subscription(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Subscription>, ApiError> {
    Ok(principal.json(docs::get(&state, &principal, SUBSCRIPTION, "subscription", id).await?))
}

pub fn instant(query: &QueryParams, name: &str, default: Timestamp) -> Result<Timestamp, ApiError> {
    match query.text(name) {
        None => Ok(default),
        Some(text) => Timestamp::parse_rfc3339(&text).ok_or_else(|| {
            ApiError::invalid(
                "parameter_invalid",
                Some(name.to_owned()),
                format!("{name} '{text}' is not an RFC 3339 timestamp."),
            )
        }),
    }
}
