//! Invoices: tax rates, drafts (manual one-off charges, or made by billing runs), editing and
//! preview, issue with a gapless number, void, uncollectible; the workspace's invoicing
//! settings (numbering prefix, issuer, payment terms and instructions).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use bursar_domain::commerce::parse_text;
use bursar_domain::event::NewEvent;
use bursar_domain::id::*;
use bursar_domain::invoice::*;
use bursar_domain::money::Currency;
use bursar_store::commerce::{self, INVOICE, TAX_RATE};
use bursar_store::{customers, invoices, Tx};
use serde::{Deserialize, Serialize};
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

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_tax_rate, list_tax_rates))
        .routes(routes!(get_tax_rate))
        .routes(routes!(get_settings, update_settings))
        .routes(routes!(create_invoice, list_invoices))
        .routes(routes!(get_invoice, update_invoice))
        .routes(routes!(add_line))
        .routes(routes!(remove_line))
        .routes(routes!(issue_invoice))
        .routes(routes!(void_invoice))
        .routes(routes!(mark_uncollectible))
}

// ---------------------------------------------------------------------------------------------
// Tax rates

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTaxRateRequest {
    #[schema(example = "VAT")]
    pub display_name: String,
    /// A country (`DE`) or country and region (`US-CA`).
    #[schema(example = "DE")]
    pub jurisdiction: String,
    /// 0 to 100 with at most two decimals, as a string: `"19"`, `"7.25"`.
    #[schema(example = "19")]
    pub percentage: String,
    /// Whether prices with this rate include the tax (default false).
    pub inclusive: Option<bool>,
}

fn parse_jurisdiction(value: &str) -> Result<String, ApiError> {
    let (country, region) = value.split_once('-').unwrap_or((value, ""));
    let ok = country.len() == 2
        && country.bytes().all(|b| b.is_ascii_uppercase())
        && region.len() <= 3
        && region
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && region.is_empty() != value.contains('-');
    if ok {
        Ok(value.to_owned())
    } else {
        Err(ApiError::invalid(
            "parameter_invalid",
            Some("jurisdiction".into()),
            "A jurisdiction is an ISO 3166 country code (DE), optionally with a region (US-CA).",
        ))
    }
}

/// Create a tax rate.
#[utoipa::path(post, path = "/v1/tax_rates", tag = "invoices", request_body = CreateTaxRateRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = TaxRate), (status = 400, body = ErrorBody)), security(("api_key" = [])))]
async fn create_tax_rate(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<CreateTaxRateRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let display_name = parse_text(&body.display_name, "display_name", 100)?;
    let jurisdiction = parse_jurisdiction(&body.jurisdiction)?;
    let percentage_bp = parse_percentage(&body.percentage, "percentage")?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let rate = TaxRate {
                    id: TaxRateId::new(),
                    object: "tax_rate".into(),
                    display_name,
                    jurisdiction,
                    percentage_bp,
                    inclusive: body.inclusive.unwrap_or(false),
                    active: true,
                    created_at: cx.now,
                };
                commerce::insert(
                    cx.tx,
                    TAX_RATE,
                    cx.workspace_id,
                    rate.id.as_str(),
                    &rate,
                    &[],
                )
                .await?;
                emit_object(
                    &mut cx,
                    "tax_rate.created",
                    "tax_rate",
                    rate.id.as_str(),
                    &rate,
                )
                .await?;
                Ok((StatusCode::OK, rate))
            })
        })
        .await
}

/// List tax rates, newest first.
#[utoipa::path(get, path = "/v1/tax_rates", tag = "invoices",
    params(("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query), ("ending_before" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<TaxRate>)), security(("api_key" = [])))]
async fn list_tax_rates(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<TaxRate>>, ApiError> {
    Ok(Json(
        docs::list(
            &state,
            &principal,
            &query,
            TAX_RATE,
            "/v1/tax_rates",
            "txr_",
            None,
        )
        .await?,
    ))
}

/// Retrieve a tax rate.
#[utoipa::path(get, path = "/v1/tax_rates/{id}", tag = "invoices", params(("id" = String, Path)),
    responses((status = 200, body = TaxRate), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_tax_rate(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<TaxRate>, ApiError> {
    Ok(Json(
        docs::get(&state, &principal, TAX_RATE, "tax_rate", id).await?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Settings

/// Who issues the workspace's invoices and how they are numbered and paid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InvoiceSettings {
    /// Always `invoice_settings`.
    pub object: String,
    /// Numbers read `PREFIX-YEAR-000123`; each prefix and year counts from 1, without gaps.
    pub number_prefix: String,
    pub issuer_name: String,
    pub issuer_address: Vec<String>,
    pub issuer_tax_id: Option<String>,
    /// Days from issue to due date, unless an invoice says otherwise.
    pub payment_terms_days: u32,
    /// Printed on every invoice, e.g. the bank account to pay to.
    pub payment_instructions: Option<String>,
}

impl Default for InvoiceSettings {
    fn default() -> Self {
        InvoiceSettings {
            object: "invoice_settings".into(),
            number_prefix: "INV".into(),
            issuer_name: "Bursar".into(),
            issuer_address: Vec::new(),
            issuer_tax_id: None,
            payment_terms_days: 30,
            payment_instructions: None,
        }
    }
}

pub async fn load_settings(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
) -> Result<InvoiceSettings, ApiError> {
    Ok(match invoices::settings(tx, workspace_id).await? {
        Some(body) => serde_json::from_str(&body).map_err(|e| {
            ApiError::from(bursar_store::StoreError::Corrupt(format!(
                "invoice settings: {e}"
            )))
        })?,
        None => InvoiceSettings::default(),
    })
}

/// The workspace's invoicing settings (defaults until set).
#[utoipa::path(get, path = "/v1/invoice_settings", tag = "invoices",
    responses((status = 200, body = InvoiceSettings)), security(("api_key" = [])))]
async fn get_settings(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<InvoiceSettings>, ApiError> {
    let workspace_id = principal.workspace_id.clone();
    Ok(Json(
        state
            .db
            .read(move |tx: &mut Tx| {
                Box::pin(async move { load_settings(tx, &workspace_id).await })
            })
            .await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSettingsRequest {
    pub number_prefix: Option<String>,
    pub issuer_name: Option<String>,
    pub issuer_address: Option<Vec<String>>,
    pub issuer_tax_id: Option<String>,
    pub payment_terms_days: Option<u32>,
    pub payment_instructions: Option<String>,
}

/// Change the invoicing settings; later invoices use them (issued ones keep theirs).
#[utoipa::path(post, path = "/v1/invoice_settings", tag = "invoices", request_body = UpdateSettingsRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = InvoiceSettings), (status = 400, body = ErrorBody)), security(("api_key" = [])))]
async fn update_settings(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<UpdateSettingsRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let prefix = body
        .number_prefix
        .map(|p| parse_number_prefix(&p, "number_prefix"))
        .transpose()?;
    let name = body
        .issuer_name
        .map(|n| parse_text(&n, "issuer_name", 200))
        .transpose()?;
    let address = body
        .issuer_address
        .map(|lines| {
            lines
                .iter()
                .enumerate()
                .map(|(i, l)| parse_text(l, &format!("issuer_address[{i}]"), 200))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let tax_id = body
        .issuer_tax_id
        .map(|t| parse_text(&t, "issuer_tax_id", 50))
        .transpose()?;
    let instructions = body
        .payment_instructions
        .map(|t| parse_text(&t, "payment_instructions", 2000))
        .transpose()?;
    if body.payment_terms_days.is_some_and(|d| d > 365) {
        return Err(ApiError::invalid(
            "parameter_invalid",
            Some("payment_terms_days".into()),
            "Payment terms are 0 to 365 days.",
        ));
    }
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let mut settings = load_settings(cx.tx, cx.workspace_id).await?;
                let previous = settings.clone();
                if let Some(prefix) = prefix {
                    settings.number_prefix = prefix;
                }
                if let Some(name) = name {
                    settings.issuer_name = name;
                }
                if let Some(address) = address {
                    settings.issuer_address = address;
                }
                if tax_id.is_some() {
                    settings.issuer_tax_id = tax_id;
                }
                if let Some(days) = body.payment_terms_days {
                    settings.payment_terms_days = days;
                }
                if instructions.is_some() {
                    settings.payment_instructions = instructions;
                }
                let encoded = serde_json::to_string(&settings).unwrap_or_default();
                invoices::save_settings(cx.tx, cx.workspace_id, &encoded).await?;
                let workspace = cx.workspace_id.to_string();
                cx.emit(NewEvent::new(
                    "invoice_settings.updated",
                    "invoice_settings",
                    &workspace,
                    json!({ "object": settings, "previous_attributes": previous }),
                ))
                .await?;
                Ok((StatusCode::OK, settings))
            })
        })
        .await
}

// ---------------------------------------------------------------------------------------------
// Invoices

async fn emit_object<T: Serialize>(
    cx: &mut Context<'_>,
    event_type: &'static str,
    aggregate: &'static str,
    id: &str,
    object: &T,
) -> Result<(), ApiError> {
    cx.emit(NewEvent::new(
        event_type,
        aggregate,
        id,
        json!({ "object": object }),
    ))
    .await
}

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

/// A requested line, checked and priced (its tax rate looked up).
async fn line_of(
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

async fn save(cx: &mut Context<'_>, invoice: &Invoice) -> Result<(), ApiError> {
    commerce::save(
        cx.tx,
        INVOICE,
        cx.workspace_id,
        invoice.id.as_str(),
        invoice,
        &[
            ("status", invoice.status.as_str().into()),
            ("number", invoice.number.clone().into()),
        ],
    )
    .await?;
    Ok(())
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
                let mut invoice = Invoice {
                    id: InvoiceId::new(),
                    object: "invoice".into(),
                    customer_id,
                    contract_id: None,
                    currency,
                    status: InvoiceStatus::Draft,
                    number: None,
                    lines,
                    subtotal: 0,
                    tax: 0,
                    tax_totals: Vec::new(),
                    total: 0,
                    amount_paid: 0,
                    amount_credited: 0,
                    amount_due: 0,
                    payment_terms_days: body
                        .payment_terms_days
                        .unwrap_or(settings.payment_terms_days)
                        .min(365),
                    memo,
                    period_start: None,
                    period_end: None,
                    issued_at: None,
                    due_at: None,
                    paid_at: None,
                    voided_at: None,
                    created_at: cx.now,
                    updated_at: cx.now,
                };
                invoice.recompute()?;
                commerce::insert(
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
                emit_object(
                    &mut cx,
                    "invoice.created",
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

/// Loads a draft for editing, or refuses with the invoice's current state.
async fn draft(cx: &mut Context<'_>, id: &str) -> Result<Invoice, ApiError> {
    let invoice: Invoice = docs::get_in(cx, INVOICE, "invoice", id, "id").await?;
    if invoice.status != InvoiceStatus::Draft {
        return Err(ApiError::state(
            "invoice_not_draft",
            invoice.status.as_str(),
            format!(
                "Only a draft can be edited; this invoice is {}.",
                invoice.status.as_str()
            ),
        ));
    }
    Ok(invoice)
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
    if body.payment_terms_days.is_some_and(|d| d > 365) {
        return Err(ApiError::invalid(
            "parameter_invalid",
            Some("payment_terms_days".into()),
            "Payment terms are 0 to 365 days.",
        ));
    }
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
                emit_object(&mut cx, "invoice.updated", "invoice", &id, &invoice).await?;
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
                    "invoice.line_added",
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
                    "invoice.line_removed",
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

/// Moves an invoice through the state machine, or refuses with 409 and its current state.
fn move_to(invoice: &mut Invoice, to: InvoiceStatus) -> Result<InvoiceStatus, ApiError> {
    let from = invoice.status;
    invoice.status = from
        .transition(to)
        .map_err(|e| ApiError::state("invoice_state_invalid", from.as_str(), e.to_string()))?;
    Ok(from)
}

/// Issues a draft in the caller's transaction: the next number of its sequence, issue and due
/// dates, frozen from now on. Records `invoice.issued`.
pub async fn issue(cx: &mut Context<'_>, id: &str) -> Result<Invoice, ApiError> {
    let mut invoice: Invoice = docs::get_in(cx, INVOICE, "invoice", id, "id").await?;
    let previous = move_to(&mut invoice, InvoiceStatus::Issued)?;
    if invoice.lines.is_empty() {
        return Err(ApiError::invalid(
            "invoice_empty",
            Some("lines".into()),
            "An invoice without lines cannot be issued.",
        ));
    }
    let settings = load_settings(cx.tx, cx.workspace_id).await?;
    let year = cx.now.year();
    let sequence = invoices::next_number(
        cx.tx,
        cx.workspace_id,
        &settings.number_prefix,
        i64::from(year),
    )
    .await?;
    invoice.number = Some(invoice_number(&settings.number_prefix, year, sequence));
    invoice.issued_at = Some(cx.now);
    invoice.due_at = Some(
        cx.now
            .plus_seconds(i64::from(invoice.payment_terms_days) * 86_400),
    );
    invoice.recompute()?;
    invoice.updated_at = cx.now;
    save(cx, &invoice).await?;
    cx.emit(NewEvent::new(
        "invoice.issued",
        "invoice",
        id,
        json!({ "object": invoice, "previous_attributes": { "status": previous } }),
    ))
    .await?;
    Ok(invoice)
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
        "invoice.voided",
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
        "invoice.marked_uncollectible",
    )
    .await
}
