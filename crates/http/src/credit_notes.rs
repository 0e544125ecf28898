//! `/v1/credit_notes`: credit notes against issued invoices.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bursar_domain::commerce::parse_text;
use bursar_domain::id::{CreditNoteId, InvoiceId};
use bursar_domain::invoice::*;
use bursar_domain::money::PositiveAmount;
use bursar_store::documents::CREDIT_NOTE;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::docs;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal, QueryParams};
use crate::invoice_payments::RecordedMethod;
use crate::list::ListResponse;
use crate::livemode::Json;
use crate::AppState;
use bursar_core::credit_notes::{credit_invoice, NewCreditNote};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_credit_note, list_credit_notes))
        .routes(routes!(get_credit_note))
}

// ---------------------------------------------------------------------------------------------
// Credit notes

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCreditNoteRequest {
    #[schema(value_type = InvoiceId)]
    pub invoice_id: String,
    /// Tax included, at most what is not credited yet (the default).
    #[schema(value_type = Option<PositiveAmount>)]
    pub amount: Option<i64>,
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub reason: Option<String>,
    /// How to pay back what the customer paid beyond what is still owed (needed when the credit
    /// exceeds the amount due).
    pub refund_method: Option<RecordedMethod>,
}

/// Credit an issued (or paid) invoice, in full or in part: numbered `CN-YEAR-000001`; it takes
/// the amount off what is owed first, and refunds what the customer had paid beyond that. The
/// ledger: revenue and tax payable → receivable, and receivable → cash for a refund. Needs an
/// `Idempotency-Key`, so that a retry cannot credit twice.
#[utoipa::path(post, path = "/v1/credit_notes", tag = "invoices", request_body = CreateCreditNoteRequest,
    params(("Idempotency-Key" = String, Header)),
    responses((status = 200, body = CreditNote), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("api_key" = [])))]
async fn create_credit_note(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<CreateCreditNoteRequest>,
) -> Result<Response, ApiError> {
    request.idempotency.require("Crediting an invoice", "")?;
    let body = request.body;
    let reason = body
        .reason
        .map(|r| parse_text(&r, "reason", 500))
        .transpose()?;
    let credit = NewCreditNote {
        invoice_id: body.invoice_id,
        amount: body.amount,
        reason,
        refund_method: body.refund_method.map(Into::into),
    };
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move { Ok((StatusCode::OK, credit_invoice(&mut cx, credit).await?)) })
        })
        .await
}

/// List credit notes, newest first; `invoice_id` selects one invoice's.
#[utoipa::path(get, path = "/v1/credit_notes", tag = "invoices",
    params(("invoice_id" = Option<String>, Query), ("limit" = Option<i64>, Query),
        ("starting_after" = Option<CreditNoteId>, Query), ("ending_before" = Option<CreditNoteId>, Query)),
    responses((status = 200, body = ListResponse<CreditNote>)), security(("api_key" = [])))]
async fn list_credit_notes(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<CreditNote>>, ApiError> {
    Ok(principal.json(
        docs::list(
            &state,
            &principal,
            &query,
            CREDIT_NOTE,
            "/v1/credit_notes",
            "cn_",
            Some(("invoice_id", "invoice_id")),
        )
        .await?,
    ))
}

/// Retrieve a credit note.
#[utoipa::path(get, path = "/v1/credit_notes/{id}", tag = "invoices", params(("id" = CreditNoteId, Path)),
    responses((status = 200, body = CreditNote), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_credit_note(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<CreditNote>, ApiError> {
    Ok(principal.json(docs::get(&state, &principal, CREDIT_NOTE, "credit_note", id).await?))
}
