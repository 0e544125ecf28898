//! Billing runs: each active contract's current period becomes a draft invoice — its fixed
//! fees in advance (at least each line's minimum commitment) and the prorations of the period
//! before in arrears — once.
//!
//! Once is guaranteed three ways: the contract's row is locked while it is billed (PostgreSQL;
//! SQLite has one writer), the run checks for an invoice with the period's billing key, and a
//! unique index on that key refuses a second one. Each contract is billed in its own
//! transaction, together with the contract's `mark_billed` operation (its periods before the
//! billed one are closed to back-dated changes), so a run killed part-way leaves whole
//! contracts billed or not, and a rerun finishes the rest.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use bursar_domain::contract::{
    self as contracts_domain, line_amount, ContractStatus, LogEntry, Operation,
};
use bursar_domain::event::{Cause, NewEvent};
use bursar_domain::id::*;
use bursar_domain::invoice::*;
use bursar_domain::money::Currency;
use bursar_domain::subscription::{derive, period_of};
use bursar_domain::time::Timestamp;
use bursar_store::commerce::{self, INVOICE, PRODUCT};
use bursar_store::{contracts, invoices, Tx};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal};
use crate::mutate::Context;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_billing_run))
}

/// What a billing run did.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct BillingRun {
    /// `brun_…`, for runs started through the API (the id of its `billing_run.completed`
    /// event's aggregate).
    pub id: Option<String>,
    /// Always `billing_run`.
    pub object: String,
    pub as_of: Option<Timestamp>,
    pub contracts: usize,
    /// Draft invoices made by this run.
    pub invoices_created: Vec<InvoiceId>,
    /// Contracts whose current period was billed before.
    pub already_billed: usize,
    /// Contracts not billed now: not active, in trial, or bought by a company.
    pub skipped: usize,
    /// Contracts whose billing failed (logged); a later run retries them.
    pub failed: Vec<String>,
}

enum Outcome {
    Created(InvoiceId),
    AlreadyBilled,
    Skipped,
}

fn day(at: Timestamp) -> String {
    at.to_rfc3339()[..10].to_owned()
}

/// Bills one contract's period holding `as_of`, in the caller's transaction.
async fn bill_contract(
    cx: &mut Context<'_>,
    contract_id: &str,
    as_of: Timestamp,
) -> Result<Outcome, ApiError> {
    let mut log = contracts::log(cx.tx, cx.workspace_id, contract_id, true).await?;
    let project = |at: Timestamp| {
        contracts_domain::project(contract_id, &log, at, as_of).map_err(|_| ApiError::internal())
    };
    let Some(contract) = project(as_of)? else {
        return Ok(Outcome::Skipped);
    };
    if contract.status != ContractStatus::Active || !contract.buyer_id.starts_with("cus_") {
        return Ok(Outcome::Skipped);
    }
    let (start, end) = period_of(contract.billing.anchor_day, as_of);
    if contract.trial_ends_at.is_some_and(|t| t > start) {
        return Ok(Outcome::Skipped);
    }
    let billing_key = format!("{contract_id}:{}", start.to_rfc3339());
    if invoices::billed(cx.tx, cx.workspace_id, &billing_key).await? {
        return Ok(Outcome::AlreadyBilled);
    }
    let currency = Currency::parse(&contract.currency, "currency")?;
    let period = format!("{} to {}", day(start), day(end));
    let mut lines = Vec::new();
    // Fixed fees of this period, in advance, as the contract stands at its start (or now, for
    // a contract that began inside it).
    let at_start = project(start.max(contract.term.start))?.unwrap_or(contract.clone());
    for line in &at_start.lines {
        let product = commerce::get::<serde_json::Value>(
            cx.tx,
            PRODUCT,
            cx.workspace_id,
            &line.product_id,
            false,
        )
        .await?
        .and_then(|p| p["name"].as_str().map(str::to_owned))
        .unwrap_or_else(|| line.product_id.clone());
        let amount = line_amount(line).ok_or_else(|| {
            ApiError::invalid(
                "amount_overflow",
                None,
                "A contract line's amount overflows.",
            )
        })?;
        let plain = line.unit_amount.checked_mul(line.quantity) == Some(amount);
        let (description, quantity, unit) = if plain {
            (
                format!("{product}, {period}"),
                line.quantity,
                line.unit_amount,
            )
        } else {
            (
                format!("{product}, {period} (minimum commitment)"),
                1,
                amount,
            )
        };
        let mut invoice_line = InvoiceLine::new(
            LineKind::Fixed,
            description,
            quantity,
            unit,
            0,
            None,
            Some((start, end)),
            "lines",
        )?;
        invoice_line.rating = Some(json!({
            "model": "flat_per_period", "contract_line_id": line.id,
            "unit_amount": line.unit_amount, "quantity": line.quantity,
            "minimum_commitment": line.minimum_commitment,
        }));
        lines.push(invoice_line);
    }
    // The previous period's prorations, in arrears.
    let before = Timestamp::from_unix_micros(start.unix_micros() - 1);
    let (previous_start, _) = period_of(contract.billing.anchor_day, before);
    // The previous period as known now: back-dated changes recorded since count too.
    let known_now: Vec<_> = log
        .iter()
        .filter(|e| e.recorded_at <= as_of && e.effective_at <= before)
        .map(|e| LogEntry {
            recorded_at: e.recorded_at.min(before),
            ..e.clone()
        })
        .collect();
    if let Some(previous) = derive(contract_id, &known_now, before) {
        for item in previous
            .proration_items
            .iter()
            .filter(|i| i.period_start == previous_start && i.amount != 0)
        {
            lines.push(InvoiceLine::new(
                LineKind::Proration,
                format!(
                    "Change on {} (prorated to {})",
                    day(item.effective_at),
                    day(item.period_end)
                ),
                1,
                item.amount,
                0,
                None,
                Some((item.effective_at, item.period_end)),
                "lines",
            )?);
        }
    }
    let customer_id = CustomerId::from_trusted(contract.buyer_id.clone());
    let mut invoice = Invoice::draft(
        customer_id,
        currency,
        lines,
        contract.billing.payment_terms_days,
        cx.now,
    )?;
    invoice.contract_id = ContractId::parse(contract_id, "contract_id").ok();
    invoice.period_start = Some(start);
    invoice.period_end = Some(end);
    commerce::insert(
        cx.tx,
        INVOICE,
        cx.workspace_id,
        invoice.id.as_str(),
        &invoice,
        &[
            ("customer_id", invoice.customer_id.as_str().into()),
            ("status", "draft".into()),
            ("billing_key", billing_key.as_str().into()),
        ],
    )
    .await?;
    cx.emit(NewEvent::new(
        "invoice.created",
        "invoice",
        invoice.id.as_str(),
        json!({ "object": invoice, "billing_key": billing_key }),
    ))
    .await?;
    // The periods before this one are closed to back-dated changes.
    if contract.billed_through.is_none_or(|b| b < start) {
        crate::contracts::append(
            cx,
            contract_id,
            &mut log,
            Operation::MarkBilled { through: start },
            cx.now,
        )
        .await?;
    }
    Ok(Outcome::Created(invoice.id))
}

/// Bills every contract of a workspace for the period holding `as_of`, one contract per
/// transaction; what was billed before is left alone.
pub async fn run_billing(
    state: &AppState,
    workspace_id: &WorkspaceId,
    as_of: Timestamp,
    cause: &Cause,
) -> Result<BillingRun, ApiError> {
    let ws = workspace_id.clone();
    let ids = state
        .db
        .read(move |tx: &mut Tx| Box::pin(async move { invoices::open_contracts(tx, &ws).await }))
        .await?;
    let mut run = BillingRun {
        object: "billing_run".into(),
        as_of: Some(as_of),
        contracts: ids.len(),
        ..BillingRun::default()
    };
    for id in ids {
        let failed_id = id.clone();
        let (ws, cause) = (workspace_id.clone(), cause.clone());
        let now = state.db.now();
        let outcome = state
            .db
            .write(move |tx: &mut Tx| {
                Box::pin(async move {
                    let mut cx = Context {
                        tx,
                        workspace_id: &ws,
                        now,
                        cause: &cause,
                    };
                    bill_contract(&mut cx, &id, as_of).await
                })
            })
            .await;
        match outcome {
            Ok(Outcome::Created(invoice)) => run.invoices_created.push(invoice),
            Ok(Outcome::AlreadyBilled) => run.already_billed += 1,
            Ok(Outcome::Skipped) => run.skipped += 1,
            Err(error) => {
                tracing::warn!(contract = %failed_id, code = error.code, message = %error.message, "billing a contract failed");
                run.failed.push(failed_id);
            }
        }
    }
    Ok(run)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BillingRunRequest {
    /// The moment to bill for (RFC 3339; default now): each active contract's period holding
    /// it.
    pub as_of: Option<Timestamp>,
}

/// Run billing for the workspace: a draft invoice per active contract for its current period
/// (fixed fees in advance, the previous period's prorations), each contract and period once.
#[utoipa::path(post, path = "/v1/billing_runs", tag = "invoices", request_body = BillingRunRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = BillingRun), (status = 400, body = ErrorBody)), security(("api_key" = [])))]
async fn create_billing_run(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<BillingRunRequest>,
) -> Result<Response, ApiError> {
    let as_of = request.body.as_of.unwrap_or_else(|| state.db.now());
    let cause = crate::mutate::cause_of(&principal, &request.idempotency);
    let mut recorded = run_billing(&state, &principal.workspace_id, as_of, &cause).await?;
    // Each run is its own aggregate: concurrent runs never contend for one event sequence.
    let run_id = format!(
        "brun_{}",
        ulid::Ulid::new().to_string().to_ascii_lowercase()
    );
    recorded.id = Some(run_id.clone());
    // The run's record (replayed for a retried Idempotency-Key; billing again would find
    // everything billed anyway).
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                cx.emit(NewEvent::new(
                    "billing_run.completed",
                    "billing_run",
                    &run_id,
                    json!({ "object": recorded }),
                ))
                .await?;
                Ok((StatusCode::OK, recorded))
            })
        })
        .await
}
