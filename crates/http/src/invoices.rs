//! Invoices: tax rates, drafts (manual one-off charges, or made by billing runs), editing and
//! preview, issue with a gapless number, void, uncollectible; the workspace's invoicing
//! settings (numbering prefix, issuer, payment terms and instructions).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bursar_domain::commerce::parse_text;
use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::id::*;
use bursar_domain::invoice::*;
use bursar_domain::ledger::chart::{CommerceAccount, Posting, TransferCode};
use bursar_domain::money::Currency;
use bursar_store::documents::{self, INVOICE, TAX_RATE};
use bursar_store::{customers, Tx};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::docs;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal, QueryParams};
use crate::list::ListResponse;
use crate::mutate::Context;
use crate::AppState;
use bursar_core::invoices::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_invoice, list_invoices))
        .routes(routes!(get_invoice, update_invoice))
        .routes(routes!(add_line))
        .routes(routes!(remove_line))
        .routes(routes!(issue_invoice))
        .routes(routes!(void_invoice))
        .routes(routes!(mark_uncollectible))
        .routes(routes!(invoice_pdf))
}

// ---------------------------------------------------------------------------------------------
// Invoices

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineRequest {
    #[schema(example = "Onboarding workshop")]
    pub description: String,
    /// Default 1.
    pub quantity: Option<i64>,
    /// Minor units per unit; negative for a credit line.
    pub unit_amount: i64,
    pub discount_amount: Option<i64>,
    pub tax_rate_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvoiceRequest {
    pub customer_id: String,
    #[schema(example = "EUR")]
    pub currency: String,
    pub lines: Option<Vec<LineRequest>>,
    /// Days from issue to due date (default: the settings').
    pub payment_terms_days: Option<u32>,
    pub memo: Option<String>,
}

/// Create a draft invoice by hand: a one-off charge, or any invoice a billing run does not
/// make.
#[utoipa::path(post, path = "/v1/invoices", tag = "invoices", request_body = CreateInvoiceRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Invoice), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn create_invoice(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<CreateInvoiceRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let customer_id = CustomerId::parse(&body.customer_id, "customer_id")?;
    let currency = Currency::parse(&body.currency, "currency")?;
    check_terms(body.payment_terms_days)?;
    let memo = body
        .memo
        .map(|m| parse_text(&m, "memo", 2000))
        .transpose()?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                customers::get(cx.tx, cx.workspace_id, &customer_id, false)
                    .await?
                    .ok_or_else(|| {
                        ApiError::not_found("customer", customer_id.as_str())
                            .with_param("customer_id")
                    })?;
                let settings = load_settings(cx.tx, cx.workspace_id).await?;
                let mut lines = Vec::new();
                for (i, line) in body.lines.unwrap_or_default().into_iter().enumerate() {
                    lines.push(line_of(&mut cx, line, &format!("lines[{i}]")).await?);
                }
                let terms = body
                    .payment_terms_days
                    .unwrap_or(settings.payment_terms_days);
                let mut invoice = Invoice::draft(customer_id, currency, lines, terms, cx.now)?;
                invoice.memo = memo;
                documents::insert(
                    cx.tx,
                    INVOICE,
                    cx.workspace_id,
                    invoice.id.as_str(),
                    &invoice,
                    &[
                        ("customer_id", invoice.customer_id.as_str().into()),
                        ("status", "draft".into()),
                    ],
                )
                .await?;
                cx.emit_object(
                    event_type::INVOICE_CREATED,
                    "invoice",
                    invoice.id.as_str(),
                    &invoice,
                )
                .await?;
                Ok((StatusCode::OK, invoice))
            })
        })
        .await
}

/// List invoices, newest first; `customer_id` selects one customer's.
#[utoipa::path(get, path = "/v1/invoices", tag = "invoices",
    params(("customer_id" = Option<String>, Query), ("limit" = Option<i64>, Query),
        ("starting_after" = Option<String>, Query), ("ending_before" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<Invoice>)), security(("api_key" = [])))]
async fn list_invoices(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<Invoice>>, ApiError> {
    Ok(Json(
        docs::list(
            &state,
            &principal,
            &query,
            INVOICE,
            "/v1/invoices",
            "in_",
            Some(("customer_id", "customer_id")),
        )
        .await?,
    ))
}

/// Retrieve an invoice; a draft's totals are its preview.
#[utoipa::path(get, path = "/v1/invoices/{id}", tag = "invoices", params(("id" = String, Path)),
    responses((status = 200, body = Invoice), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_invoice(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Invoice>, ApiError> {
    Ok(Json(
        docs::get(&state, &principal, INVOICE, "invoice", id).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateInvoiceRequest {
    pub memo: Option<String>,
    pub payment_terms_days: Option<u32>,
}

/// Edit a draft: memo, payment terms.
#[utoipa::path(post, path = "/v1/invoices/{id}", tag = "invoices", request_body = UpdateInvoiceRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Invoice), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)), security(("api_key" = [])))]
async fn update_invoice(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<UpdateInvoiceRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let memo = body
        .memo
        .map(|m| parse_text(&m, "memo", 2000))
        .transpose()?;
    check_terms(body.payment_terms_days)?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let mut invoice = draft(&mut cx, &id).await?;
                if memo.is_some() {
                    invoice.memo = memo;
                }
                if let Some(days) = body.payment_terms_days {
                    invoice.payment_terms_days = days;
                }
                invoice.updated_at = cx.now;
                save(&mut cx, &invoice).await?;
                cx.emit_object(event_type::INVOICE_UPDATED, "invoice", &id, &invoice)
                    .await?;
                Ok((StatusCode::OK, invoice))
            })
        })
        .await
}

/// Add a line to a draft (a manual charge, a discount as a negative amount).
#[utoipa::path(post, path = "/v1/invoices/{id}/lines", tag = "invoices", request_body = LineRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Invoice), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)), security(("api_key" = [])))]
async fn add_line(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<LineRequest>,
) -> Result<Response, ApiError> {
    let line = request.body;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let mut invoice = draft(&mut cx, &id).await?;
                let line = line_of(&mut cx, line, "line").await?;
                let line_id = line.id.clone();
                invoice.lines.push(line);
                invoice.recompute()?;
                invoice.updated_at = cx.now;
                save(&mut cx, &invoice).await?;
                cx.emit(NewEvent::new(
                    event_type::INVOICE_LINE_ADDED,
                    "invoice",
                    &id,
                    json!({ "object": invoice, "line_id": line_id }),
                ))
                .await?;
                Ok((StatusCode::OK, invoice))
            })
        })
        .await
}

/// Remove a line from a draft.
#[utoipa::path(post, path = "/v1/invoices/{id}/lines/{line_id}/remove", tag = "invoices",
    params(("id" = String, Path), ("line_id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Invoice), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("api_key" = [])))]
async fn remove_line(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, line_id)): Path<(String, String)>,
    request: Mutation<serde_json::Value>,
) -> Result<Response, ApiError> {
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let mut invoice = draft(&mut cx, &id).await?;
                let before = invoice.lines.len();
                invoice.lines.retain(|l| l.id != line_id);
                if invoice.lines.len() == before {
                    return Err(ApiError::not_found("invoice line", &line_id).with_param("line_id"));
                }
                invoice.recompute()?;
                invoice.updated_at = cx.now;
                save(&mut cx, &invoice).await?;
                cx.emit(NewEvent::new(
                    event_type::INVOICE_LINE_REMOVED,
                    "invoice",
                    &id,
                    json!({ "object": invoice, "line_id": line_id }),
                ))
                .await?;
                Ok((StatusCode::OK, invoice))
            })
        })
        .await
}

/// Issue a draft: it gets the next number (`INV-2026-000123`), its issue and due dates, and is
/// frozen.
#[utoipa::path(post, path = "/v1/invoices/{id}/issue", tag = "invoices",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Invoice), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)), security(("api_key" = [])))]
async fn issue_invoice(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<serde_json::Value>,
) -> Result<Response, ApiError> {
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move { Ok((StatusCode::OK, issue(&mut cx, &id).await?)) })
        })
        .await
}

async fn simple_transition(
    state: AppState,
    principal: Principal,
    id: String,
    request: Mutation<serde_json::Value>,
    to: InvoiceStatus,
    event_type: &'static str,
) -> Result<Response, ApiError> {
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let mut invoice: Invoice =
                    docs::get_in(&mut cx, INVOICE, "invoice", &id, "id").await?;
                let previous = move_to(&mut invoice, to)?;
                let owed = receivable(&invoice.customer_id);
                match (previous, to) {
                    (InvoiceStatus::Issued | InvoiceStatus::Uncollectible, InvoiceStatus::Void)
                        if invoice.amount_paid > 0 || invoice.amount_credited > 0 =>
                    {
                        return Err(ApiError::state(
                            "invoice_partially_paid",
                            previous.as_str(),
                            "An invoice with payments applied cannot be voided; credit it \
                             instead.",
                        ));
                    }
                    (InvoiceStatus::Issued, InvoiceStatus::Void) => {
                        // The issue's postings, reversed.
                        bursar_core::postings::post(
                            &mut cx,
                            invoice.currency,
                            &[
                                Posting::new(
                                    format!("void:{id}:net"),
                                    CommerceAccount::Revenue,
                                    owed.clone(),
                                    invoice.subtotal,
                                    TransferCode::Voided,
                                ),
                                Posting::new(
                                    format!("void:{id}:tax"),
                                    CommerceAccount::TaxPayable,
                                    owed,
                                    invoice.tax,
                                    TransferCode::Voided,
                                ),
                            ],
                        )
                        .await?;
                    }
                    (InvoiceStatus::Uncollectible, InvoiceStatus::Void) => {
                        // Written off, then voided: the write-off is undone into the issue's
                        // reversal (nothing was paid or credited, so bad debt holds the total).
                        bursar_core::postings::post(
                            &mut cx,
                            invoice.currency,
                            &[
                                Posting::new(
                                    format!("void:{id}:net"),
                                    CommerceAccount::Revenue,
                                    CommerceAccount::BadDebt,
                                    invoice.subtotal,
                                    TransferCode::Voided,
                                ),
                                Posting::new(
                                    format!("void:{id}:tax"),
                                    CommerceAccount::TaxPayable,
                                    CommerceAccount::BadDebt,
                                    invoice.tax,
                                    TransferCode::Voided,
                                ),
                            ],
                        )
                        .await?;
                    }
                    (_, InvoiceStatus::Uncollectible) => {
                        // What is still owed, written off.
                        let due = invoice.total - invoice.amount_paid - invoice.amount_credited;
                        bursar_core::postings::post(
                            &mut cx,
                            invoice.currency,
                            &[Posting::new(
                                format!("writeoff:{id}"),
                                CommerceAccount::BadDebt,
                                owed,
                                due,
                                TransferCode::WrittenOff,
                            )],
                        )
                        .await?;
                    }
                    _ => {}
                }
                if to == InvoiceStatus::Void {
                    invoice.voided_at = Some(cx.now);
                }
                invoice.recompute()?;
                invoice.updated_at = cx.now;
                save(&mut cx, &invoice).await?;
                cx.emit(NewEvent::new(
                    event_type,
                    "invoice",
                    &id,
                    json!({ "object": invoice, "previous_attributes": { "status": previous } }),
                ))
                .await?;
                refresh_billing_status(&mut cx, &invoice.customer_id).await?;
                Ok((StatusCode::OK, invoice))
            })
        })
        .await
}

/// Void an invoice (a draft, or an issued one that should never have been): it keeps its
/// number, and nothing is owed.
#[utoipa::path(post, path = "/v1/invoices/{id}/void", tag = "invoices",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Invoice), (status = 409, body = ErrorBody)), security(("api_key" = [])))]
async fn void_invoice(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<serde_json::Value>,
) -> Result<Response, ApiError> {
    simple_transition(
        state,
        principal,
        id,
        request,
        InvoiceStatus::Void,
        event_type::INVOICE_VOIDED,
    )
    .await
}

/// Write an issued invoice off as uncollectible (a payment arriving later still pays it).
#[utoipa::path(post, path = "/v1/invoices/{id}/mark_uncollectible", tag = "invoices",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Invoice), (status = 409, body = ErrorBody)), security(("api_key" = [])))]
async fn mark_uncollectible(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<serde_json::Value>,
) -> Result<Response, ApiError> {
    simple_transition(
        state,
        principal,
        id,
        request,
        InvoiceStatus::Uncollectible,
        event_type::INVOICE_MARKED_UNCOLLECTIBLE,
    )
    .await
}

/// The invoice as a PDF: issuer, customer, number and dates, lines with tax, totals, amount due
/// and payment instructions.
#[utoipa::path(get, path = "/v1/invoices/{id}/pdf", tag = "invoices", params(("id" = String, Path)),
    responses((status = 200, content_type = "application/pdf", description = "The PDF"), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn invoice_pdf(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let workspace_id = principal.workspace_id.clone();
    let (invoice, customer, settings) = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let invoice: Invoice = documents::get(tx, INVOICE, &workspace_id, &id, false)
                    .await?
                    .ok_or_else(|| ApiError::not_found("invoice", &id))?;
                let customer = customers::get(tx, &workspace_id, &invoice.customer_id, false)
                    .await?
                    .ok_or_else(|| ApiError::not_found("customer", invoice.customer_id.as_str()))?;
                let settings = load_settings(tx, &workspace_id).await?;
                Ok::<_, ApiError>((invoice, customer, settings))
            })
        })
        .await?;
    let bytes = bursar_core::invoice_pdf::render(&invoice, &customer, &settings);
    let name = invoice
        .number
        .clone()
        .unwrap_or_else(|| invoice.id.to_string());
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/pdf".to_owned(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{name}.pdf\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// A requested line, checked and priced (its tax rate looked up).
pub async fn line_of(
    cx: &mut Context<'_>,
    request: LineRequest,
    param: &str,
) -> Result<InvoiceLine, ApiError> {
    let description = parse_text(&request.description, &format!("{param}.description"), 500)?;
    let quantity = request.quantity.unwrap_or(1);
    if !(1..=1_000_000_000).contains(&quantity) {
        return Err(ApiError::invalid(
            "parameter_invalid",
            Some(format!("{param}.quantity")),
            "quantity is 1 to 1,000,000,000.",
        ));
    }
    let rate = match request.tax_rate_id {
        Some(id) => {
            let rate: TaxRate = docs::get_in(
                cx,
                TAX_RATE,
                "tax_rate",
                &id,
                &format!("{param}.tax_rate_id"),
            )
            .await?;
            if !rate.active {
                return Err(ApiError::invalid(
                    "parameter_invalid",
                    Some(format!("{param}.tax_rate_id")),
                    "This tax rate is no longer active.",
                ));
            }
            Some(rate)
        }
        None => None,
    };
    Ok(InvoiceLine::new(
        LineKind::Manual,
        description,
        quantity,
        request.unit_amount,
        request.discount_amount.unwrap_or(0),
        rate.as_ref(),
        None,
        param,
    )?)
}
