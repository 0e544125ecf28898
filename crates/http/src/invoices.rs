//! Invoices: tax rates, drafts (manual one-off charges, or made by billing runs), editing and
//! preview, issue with a gapless number, void, uncollectible; the workspace's invoicing
//! settings (numbering prefix, issuer, payment terms and instructions).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bursar_domain::commerce::parse_text;
use bursar_domain::id::*;
use bursar_domain::invoice::*;
use bursar_domain::money::{Amount, Currency, NonNegativeAmount};
use bursar_store::documents::INVOICE;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::docs;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal, QueryParams};
use crate::list::ListResponse;
use crate::livemode::Json;
use crate::AppState;
use bursar_core::invoice_drafts::{self, DraftUpdate, NewInvoice, NewInvoiceLine};
use bursar_core::invoice_voids;
use bursar_core::invoices::{check_terms, issue};

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
pub struct InvoiceLineRequest {
    #[schema(
        example = "Onboarding workshop",
        min_length = 1,
        max_length = 500,
        pattern = r"\S"
    )]
    pub description: String,
    /// Default 1.
    #[schema(minimum = 1, maximum = 1000000000)]
    pub quantity: Option<i64>,
    /// Minor units per unit; negative for a credit line. `quantity × unit_amount` is at most
    /// 10^15 in magnitude.
    #[schema(value_type = Amount)]
    pub unit_amount: i64,
    /// At most the line's amount (`quantity × unit_amount`); default 0.
    #[schema(value_type = Option<NonNegativeAmount>)]
    pub discount_amount: Option<i64>,
    /// An active tax rate.
    #[schema(value_type = Option<TaxRateId>)]
    pub tax_rate_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvoiceRequest {
    #[schema(value_type = CustomerId)]
    pub customer_id: String,
    #[schema(value_type = Currency)]
    pub currency: String,
    pub lines: Option<Vec<InvoiceLineRequest>>,
    /// Days from issue to due date (default: the settings').
    #[schema(maximum = 365)]
    pub payment_terms_days: Option<u32>,
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
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
    let new = NewInvoice {
        customer_id,
        currency,
        lines: body
            .lines
            .unwrap_or_default()
            .into_iter()
            .map(NewInvoiceLine::from)
            .collect(),
        payment_terms_days: body.payment_terms_days,
        memo: body
            .memo
            .map(|m| parse_text(&m, "memo", 2000))
            .transpose()?,
    };
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let invoice = invoice_drafts::create(&mut cx, new).await?;
                Ok((StatusCode::OK, invoice))
            })
        })
        .await
}

/// List invoices, newest first; `customer_id` selects one customer's.
#[utoipa::path(get, path = "/v1/invoices", tag = "invoices",
    params(("customer_id" = Option<String>, Query), ("limit" = Option<i64>, Query),
        ("starting_after" = Option<InvoiceId>, Query), ("ending_before" = Option<InvoiceId>, Query)),
    responses((status = 200, body = ListResponse<Invoice>)), security(("api_key" = [])))]
async fn list_invoices(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<Invoice>>, ApiError> {
    Ok(principal.json(
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
#[utoipa::path(get, path = "/v1/invoices/{id}", tag = "invoices", params(("id" = InvoiceId, Path)),
    responses((status = 200, body = Invoice), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_invoice(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Invoice>, ApiError> {
    Ok(principal.json(docs::get(&state, &principal, INVOICE, "invoice", id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateInvoiceRequest {
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub memo: Option<String>,
    #[schema(maximum = 365)]
    pub payment_terms_days: Option<u32>,
}

/// Edit a draft: memo, payment terms.
#[utoipa::path(post, path = "/v1/invoices/{id}", tag = "invoices", request_body = UpdateInvoiceRequest,
    params(("id" = InvoiceId, Path), ("Idempotency-Key" = Option<String>, Header)),
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
    let changes = DraftUpdate {
        memo,
        payment_terms_days: body.payment_terms_days,
    };
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let invoice = invoice_drafts::update(&mut cx, &id, changes).await?;
                Ok((StatusCode::OK, invoice))
            })
        })
        .await
}

/// Add a line to a draft (a manual charge, a discount as a negative amount).
#[utoipa::path(post, path = "/v1/invoices/{id}/lines", tag = "invoices", request_body = InvoiceLineRequest,
    params(("id" = InvoiceId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Invoice), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)), security(("api_key" = [])))]
async fn add_line(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<InvoiceLineRequest>,
) -> Result<Response, ApiError> {
    let line = NewInvoiceLine::from(request.body);
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let invoice = invoice_drafts::add_line(&mut cx, &id, line).await?;
                Ok((StatusCode::OK, invoice))
            })
        })
        .await
}

/// Remove a line from a draft.
#[utoipa::path(post, path = "/v1/invoices/{id}/lines/{line_id}/remove", tag = "invoices",
    params(("id" = InvoiceId, Path), ("line_id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
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
                let invoice = invoice_drafts::remove_line(&mut cx, &id, &line_id).await?;
                Ok((StatusCode::OK, invoice))
            })
        })
        .await
}

/// Issue a draft: it gets the next number (`INV-2026-000123`), its issue and due dates, and is
/// frozen.
#[utoipa::path(post, path = "/v1/invoices/{id}/issue", tag = "invoices",
    params(("id" = InvoiceId, Path), ("Idempotency-Key" = Option<String>, Header)),
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

/// Void an invoice (a draft, or an issued one that should never have been): it keeps its
/// number, and nothing is owed.
#[utoipa::path(post, path = "/v1/invoices/{id}/void", tag = "invoices",
    params(("id" = InvoiceId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Invoice), (status = 409, body = ErrorBody)), security(("api_key" = [])))]
async fn void_invoice(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<serde_json::Value>,
) -> Result<Response, ApiError> {
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let invoice = invoice_voids::void(&mut cx, &id).await?;
                Ok((StatusCode::OK, invoice))
            })
        })
        .await
}

/// Write an issued invoice off as uncollectible (a payment arriving later still pays it).
#[utoipa::path(post, path = "/v1/invoices/{id}/mark_uncollectible", tag = "invoices",
    params(("id" = InvoiceId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Invoice), (status = 409, body = ErrorBody)), security(("api_key" = [])))]
async fn mark_uncollectible(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<serde_json::Value>,
) -> Result<Response, ApiError> {
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let invoice = invoice_voids::mark_uncollectible(&mut cx, &id).await?;
                Ok((StatusCode::OK, invoice))
            })
        })
        .await
}

/// The invoice as a PDF: issuer, customer, number and dates, lines with tax, totals, amount due
/// and payment instructions.
#[utoipa::path(get, path = "/v1/invoices/{id}/pdf", tag = "invoices", params(("id" = InvoiceId, Path)),
    responses((status = 200, content_type = "application/pdf", description = "The PDF"), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn invoice_pdf(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (_, name, bytes) =
        bursar_core::invoice_pdf::pdf_of(&state, &principal.workspace_id, &id, None)
            .await?
            .ok_or_else(|| ApiError::not_found("invoice", &id))?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/pdf".to_owned(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

impl From<InvoiceLineRequest> for NewInvoiceLine {
    fn from(line: InvoiceLineRequest) -> Self {
        NewInvoiceLine {
            description: line.description,
            quantity: line.quantity,
            unit_amount: line.unit_amount,
            discount_amount: line.discount_amount,
            tax_rate_id: line.tax_rate_id,
        }
    }
}
