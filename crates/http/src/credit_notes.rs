//! `/v1/credit_notes`: credit notes against issued invoices.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use bursar_domain::commerce::parse_text;
use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::id::*;
use bursar_domain::invoice::*;
use bursar_domain::ledger::chart::{CommerceAccount, Posting, TransferCode};
use bursar_store::documents::{self, CREDIT_NOTE, INVOICE};
use bursar_store::invoices;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::docs;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal, QueryParams};
use crate::list::ListResponse;
use crate::AppState;
use bursar_core::invoices::*;

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
    pub invoice_id: String,
    /// Tax included; default: everything not credited yet.
    pub amount: Option<i64>,
    pub reason: Option<String>,
    /// How to pay back what the customer paid beyond what is still owed (needed when the credit
    /// exceeds the amount due).
    pub refund_method: Option<PaymentMethodKind>,
}

/// Credit an issued (or paid) invoice, in full or in part: numbered `CN-YEAR-000001`; it takes
/// the amount off what is owed first, and refunds what the customer had paid beyond that. The
/// ledger: revenue and tax payable → receivable, and receivable → cash for a refund.
#[utoipa::path(post, path = "/v1/credit_notes", tag = "invoices", request_body = CreateCreditNoteRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = CreditNote), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("api_key" = [])))]
async fn create_credit_note(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<CreateCreditNoteRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let reason = body
        .reason
        .map(|r| parse_text(&r, "reason", 500))
        .transpose()?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let mut invoice: Invoice =
                    docs::get_in(&mut cx, INVOICE, "invoice", &body.invoice_id, "invoice_id").await?;
                if !matches!(invoice.status, InvoiceStatus::Issued | InvoiceStatus::Paid) {
                    return Err(ApiError::state(
                        "invoice_not_creditable",
                        invoice.status.as_str(),
                        format!(
                            "Credit notes apply to issued or paid invoices; this one is {}.",
                            invoice.status.as_str()
                        ),
                    ));
                }
                let creditable = invoice.total - invoice.amount_credited;
                let amount = body.amount.unwrap_or(creditable);
                if amount <= 0 || amount > creditable {
                    return Err(ApiError::invalid(
                        "parameter_invalid",
                        Some("amount".into()),
                        format!("A credit is positive and at most {creditable}, what is not credited yet."),
                    ));
                }
                let reduced_due = amount.min(invoice.amount_due);
                let refunded = amount - reduced_due;
                if refunded > 0 && body.refund_method.is_none() {
                    return Err(ApiError::invalid(
                        "parameter_missing",
                        Some("refund_method".into()),
                        format!("{refunded} of this credit was paid already: say how to refund it."),
                    ));
                }
                let (net_amount, tax_amount) = credit_split(amount, invoice.subtotal, invoice.total);
                let settings = load_settings(cx.tx, cx.workspace_id).await?;
                let prefix = format!("{}-CN", settings.number_prefix);
                let year = cx.now.year();
                let sequence =
                    invoices::next_number(cx.tx, cx.workspace_id, &prefix, i64::from(year)).await?;
                let id = CreditNoteId::new();
                let note = CreditNote {
                    number: invoice_number(&prefix, year, sequence),
                    id,
                    object: "credit_note".into(),
                    invoice_id: invoice.id.clone(),
                    customer_id: invoice.customer_id.clone(),
                    currency: invoice.currency,
                    amount,
                    net_amount,
                    tax_amount,
                    reduced_due,
                    refunded,
                    refund_method: if refunded > 0 { body.refund_method } else { None },
                    reason,
                    created_at: cx.now,
                };
                let owed = receivable(&invoice.customer_id);
                let mut transfers = vec![
                    Posting::new(format!("cn:{}:net", note.id), CommerceAccount::Revenue, owed.clone(), net_amount, TransferCode::Credited),
                    Posting::new(format!("cn:{}:tax", note.id), CommerceAccount::TaxPayable, owed.clone(), tax_amount, TransferCode::Credited),
                ];
                if let Some(method) = note.refund_method {
                    transfers.push(Posting::new(format!("cn:{}:refund", note.id), owed, CommerceAccount::Cash(method.as_str().to_owned()), refunded, TransferCode::Refunded));
                }
                bursar_core::postings::post(&mut cx, invoice.currency, &transfers).await?;
                documents::insert(
                    cx.tx,
                    CREDIT_NOTE,
                    cx.workspace_id,
                    note.id.as_str(),
                    &note,
                    &[("invoice_id", invoice.id.as_str().into())],
                )
                .await?;
                cx.emit_object(event_type::CREDIT_NOTE_CREATED, "credit_note", note.id.as_str(), &note).await?;
                invoice.amount_credited += amount;
                invoice.recompute()?;
                if invoice.status == InvoiceStatus::Issued && invoice.amount_due == 0 {
                    move_to(&mut invoice, InvoiceStatus::Paid)?;
                    invoice.paid_at = Some(cx.now);
                }
                invoice.updated_at = cx.now;
                save(&mut cx, &invoice).await?;
                cx.emit(NewEvent::new(
                    event_type::INVOICE_CREDITED,
                    "invoice",
                    invoice.id.as_str(),
                    json!({ "object": invoice, "credit_note_id": note.id, "amount": amount }),
                ))
                .await?;
                refresh_billing_status(&mut cx, &invoice.customer_id).await?;
                Ok((StatusCode::OK, note))
            })
        })
        .await
}

/// List credit notes, newest first; `invoice_id` selects one invoice's.
#[utoipa::path(get, path = "/v1/credit_notes", tag = "invoices",
    params(("invoice_id" = Option<String>, Query), ("limit" = Option<i64>, Query),
        ("starting_after" = Option<String>, Query), ("ending_before" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<CreditNote>)), security(("api_key" = [])))]
async fn list_credit_notes(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<CreditNote>>, ApiError> {
    Ok(Json(
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
#[utoipa::path(get, path = "/v1/credit_notes/{id}", tag = "invoices", params(("id" = String, Path)),
    responses((status = 200, body = CreditNote), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_credit_note(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<CreditNote>, ApiError> {
    Ok(Json(
        docs::get(&state, &principal, CREDIT_NOTE, "credit_note", id).await?,
    ))
}
