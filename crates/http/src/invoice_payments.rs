//! `/v1/payments`: payments received, allocated to invoices, and credit applied.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bursar_domain::commerce::parse_text;
use bursar_domain::id::*;
use bursar_domain::invoice::*;
use bursar_domain::money::{Currency, PositiveAmount};
use bursar_store::documents::{INVOICE, INVOICE_PAYMENT};
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
use bursar_core::invoices::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(record_payment, list_payments))
        .routes(routes!(get_payment))
        .routes(routes!(apply_credit))
}

// ---------------------------------------------------------------------------------------------
// Payments

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocationRequest {
    /// An issued invoice of the payment's customer, in its currency.
    #[schema(value_type = InvoiceId)]
    pub invoice_id: String,
    /// At most what the invoice still owes and what is left of the payment.
    #[schema(value_type = PositiveAmount)]
    pub amount: i64,
}

/// How a payment recorded by hand (or money refunded by hand) moved. Wallet payments are made
/// by the settlement of marketplace invoices only.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordedMethod {
    /// Through the payment provider (a card).
    Card,
    BankTransfer,
    /// Cash, a cheque, anything recorded by hand.
    Manual,
}

impl From<RecordedMethod> for PaymentMethodKind {
    fn from(method: RecordedMethod) -> Self {
        match method {
            RecordedMethod::Card => PaymentMethodKind::Card,
            RecordedMethod::BankTransfer => PaymentMethodKind::BankTransfer,
            RecordedMethod::Manual => PaymentMethodKind::Manual,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordPaymentRequest {
    #[schema(value_type = CustomerId)]
    pub customer_id: String,
    #[schema(value_type = Currency)]
    pub currency: String,
    /// Minor units received.
    #[schema(value_type = PositiveAmount)]
    pub amount: i64,
    pub method: RecordedMethod,
    /// The payment's natural id (a bank transaction id, a cheque number): unique in the
    /// workspace. Without it, the request needs an `Idempotency-Key`.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub reference: Option<String>,
    /// Where the money goes; default: the customer's open invoices in this currency, oldest due
    /// first. What is left is the customer's credit.
    pub allocations: Option<Vec<AllocationRequest>>,
}

/// Record a payment received (a bank transfer, a card payment, cash): the money is posted to
/// the ledger (cash → the customer's credit), then allocated to invoices — as given, or to
/// the oldest open ones; an overpayment stays as the customer's credit.
#[utoipa::path(post, path = "/v1/payments", tag = "invoices", request_body = RecordPaymentRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Payment), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("api_key" = [])))]
async fn record_payment(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<RecordPaymentRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let customer_id = CustomerId::parse(&body.customer_id, "customer_id")?;
    let currency = Currency::parse(&body.currency, "currency")?;
    if body.amount <= 0 {
        return Err(ApiError::invalid(
            "parameter_invalid",
            Some("amount".into()),
            "amount is a positive number of minor units.",
        ));
    }
    bursar_domain::money::check_amount_cap(body.amount, "amount")?;
    let reference = body
        .reference
        .map(|r| parse_text(&r, "reference", 200))
        .transpose()?;
    if reference.is_none() {
        request
            .idempotency
            .require("Recording a payment", " or a unique reference")?;
    }
    let received = ReceivedPayment {
        customer_id,
        currency,
        amount: body.amount,
        method: body.method.into(),
        reference,
        allocations: body.allocations.map(|allocations| {
            allocations
                .into_iter()
                .map(|a| (a.invoice_id, a.amount))
                .collect()
        }),
    };
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let payment = bursar_core::invoices::record_payment(&mut cx, received).await?;
                Ok((StatusCode::OK, payment))
            })
        })
        .await
}

/// List payments, newest first; `customer_id` selects one customer's.
#[utoipa::path(get, path = "/v1/payments", tag = "invoices",
    params(("customer_id" = Option<String>, Query), ("limit" = Option<i64>, Query),
        ("starting_after" = Option<PaymentId>, Query), ("ending_before" = Option<PaymentId>, Query)),
    responses((status = 200, body = ListResponse<Payment>)), security(("api_key" = [])))]
async fn list_payments(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<Payment>>, ApiError> {
    Ok(principal.json(
        docs::list(
            &state,
            &principal,
            &query,
            INVOICE_PAYMENT,
            "/v1/payments",
            "py_",
            Some(("customer_id", "customer_id")),
        )
        .await?,
    ))
}

/// Retrieve a payment with its allocations.
#[utoipa::path(get, path = "/v1/payments/{id}", tag = "invoices", params(("id" = PaymentId, Path)),
    responses((status = 200, body = Payment), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_payment(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Payment>, ApiError> {
    Ok(principal.json(docs::get(&state, &principal, INVOICE_PAYMENT, "payment", id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyCreditRequest {
    /// At most what the invoice owes and the credit covers (the default).
    #[schema(value_type = Option<PositiveAmount>)]
    pub amount: Option<i64>,
}

/// Apply the customer's credit (unallocated payments, oldest first) to an issued invoice.
#[utoipa::path(post, path = "/v1/invoices/{id}/apply_credit", tag = "invoices", request_body = ApplyCreditRequest,
    params(("id" = InvoiceId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Invoice), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)), security(("api_key" = [])))]
async fn apply_credit(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<ApplyCreditRequest>,
) -> Result<Response, ApiError> {
    let wanted = request.body.amount;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let invoice: Invoice = docs::get_in(&mut cx, INVOICE, "invoice", &id, "id").await?;
                let payments = credits_of(&mut cx, &invoice).await?;
                let credit: i64 = payments.iter().map(|p| p.unallocated).sum();
                let left = wanted.unwrap_or_else(|| credit.min(invoice.amount_due));
                if left <= 0 || left > credit || left > invoice.amount_due {
                    return Err(ApiError::invalid(
                        "parameter_invalid",
                        Some("amount".into()),
                        format!(
                            "The customer's credit is {credit} and the invoice owes {}.",
                            invoice.amount_due
                        ),
                    ));
                }
                let updated = consume_credit(&mut cx, invoice, payments, left).await?;
                Ok((StatusCode::OK, updated))
            })
        })
        .await
}
