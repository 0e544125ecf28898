//! Invoices: tax rates, drafts (manual one-off charges, or made by billing runs), editing and
//! preview, issue with a gapless number, void, uncollectible; the workspace's invoicing
//! settings (numbering prefix, issuer, payment terms and instructions).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bursar_domain::billing_status::{self as billing, Access, BillingStatus, Facts};
use bursar_domain::commerce::parse_text;
use bursar_domain::contract::{Contract, ContractStatus};
use bursar_domain::event::NewEvent;
use bursar_domain::id::*;
use bursar_domain::invoice::*;
use bursar_domain::money::Currency;
use bursar_domain::time::Timestamp;
use bursar_store::commerce::{
    self, BILLING_STATUS, CONTRACT, CREDIT_NOTE, INVOICE, INVOICE_PAYMENT, TAX_RATE,
};
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
        .routes(routes!(record_payment, list_payments))
        .routes(routes!(get_payment))
        .routes(routes!(apply_credit))
        .routes(routes!(get_billing_status))
        .routes(routes!(get_contract_billing_status))
        .routes(routes!(close_billing_status))
        .routes(routes!(get_entitlements))
        .routes(routes!(invoice_pdf))
        .routes(routes!(create_credit_note, list_credit_notes))
        .routes(routes!(get_credit_note))
}

// Ledger transfer codes of invoicing.
const CODE_INVOICED: i64 = 200;
const CODE_TAX: i64 = 201;
pub(crate) const CODE_RECEIVED: i64 = 202;
const CODE_ALLOCATED: i64 = 203;
const CODE_WRITTEN_OFF: i64 = 204;
const CODE_REINSTATED: i64 = 205;
const CODE_VOIDED: i64 = 206;
const CODE_CREDITED: i64 = 207;
const CODE_REFUNDED: i64 = 208;

/// Ledger accounts of invoicing (`commerce:<name>:<currency>`): a customer's receivable
/// (`receivable:cus_…`, debited when an invoice is issued) and credit (`customer_credit:cus_…`,
/// credited by payments, debited by allocations); `revenue` and `tax_payable`; cash by method
/// (`cash:bank_transfer`, …); `bad_debt` for write-offs.
fn receivable(customer: &CustomerId) -> String {
    format!("receivable:{customer}")
}

pub(crate) fn customer_credit(customer: &CustomerId) -> String {
    format!("customer_credit:{customer}")
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
                cx.emit_object("tax_rate.created", "tax_rate", rate.id.as_str(), &rate)
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

/// Payment terms are 0 to 365 days.
fn check_terms(days: Option<u32>) -> Result<(), ApiError> {
    if days.is_some_and(|d| d > 365) {
        return Err(ApiError::invalid(
            "parameter_invalid",
            Some("payment_terms_days".into()),
            "Payment terms are 0 to 365 days.",
        ));
    }
    Ok(())
}

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
    /// The tax rate on the lines billing runs make (none: untaxed; drafts can be edited).
    #[serde(default)]
    pub default_tax_rate_id: Option<TaxRateId>,
    /// Drafts made by billing runs are issued this many hours after they were made, by the
    /// server's billing loop (none, the default: they wait for a person to issue them).
    #[serde(default)]
    pub auto_issue_after_hours: Option<u32>,
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
            default_tax_rate_id: None,
            auto_issue_after_hours: None,
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
    /// A tax rate (`txr_…`) for the lines billing runs make; `""` removes it.
    pub default_tax_rate_id: Option<String>,
    /// Hours after which billing runs' drafts are issued automatically (0: at once); -1 turns
    /// automatic issuing off.
    pub auto_issue_after_hours: Option<i64>,
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
    check_terms(body.payment_terms_days)?;
    let auto_issue = match body.auto_issue_after_hours {
        None => None,
        Some(-1) => Some(None),
        Some(hours) if (0..=24 * 90).contains(&hours) => Some(u32::try_from(hours).ok()),
        Some(_) => {
            return Err(ApiError::invalid(
                "parameter_invalid",
                Some("auto_issue_after_hours".into()),
                "auto_issue_after_hours is 0 to 2160 hours, or -1 for never.",
            ))
        }
    };
    let default_tax = body.default_tax_rate_id;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let mut settings = load_settings(cx.tx, cx.workspace_id).await?;
                let previous = settings.clone();
                match default_tax.as_deref() {
                    None => {}
                    Some("") => settings.default_tax_rate_id = None,
                    Some(id) => {
                        let rate: TaxRate =
                            docs::get_in(&mut cx, TAX_RATE, "tax_rate", id, "default_tax_rate_id")
                                .await?;
                        settings.default_tax_rate_id = Some(rate.id);
                    }
                }
                if let Some(hours) = auto_issue {
                    settings.auto_issue_after_hours = hours;
                }
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

pub(crate) async fn save(cx: &mut Context<'_>, invoice: &Invoice) -> Result<(), ApiError> {
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
                cx.emit_object("invoice.created", "invoice", invoice.id.as_str(), &invoice)
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
                cx.emit_object("invoice.updated", "invoice", &id, &invoice)
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
    if invoice.total < 0 {
        return Err(ApiError::invalid(
            "invoice_total_negative",
            Some("lines".into()),
            "An invoice cannot total less than zero; credit an issued invoice instead.",
        ));
    }
    if invoice.total == 0 {
        // Nothing to collect: paid as it is issued.
        invoice.status = InvoiceStatus::Paid;
        invoice.paid_at = Some(cx.now);
    }
    invoice.updated_at = cx.now;
    save(cx, &invoice).await?;
    // Receivable ← revenue (net) and tax payable (tax).
    let owed = receivable(&invoice.customer_id);
    crate::orders::post(
        cx,
        invoice.currency,
        &[
            (
                format!("inv:{id}:net"),
                owed.clone(),
                "revenue".into(),
                invoice.subtotal,
                CODE_INVOICED,
            ),
            (
                format!("inv:{id}:tax"),
                owed,
                "tax_payable".into(),
                invoice.tax,
                CODE_TAX,
            ),
        ],
    )
    .await?;
    cx.emit(NewEvent::new(
        "invoice.issued",
        "invoice",
        id,
        json!({ "object": invoice, "previous_attributes": { "status": previous } }),
    ))
    .await?;
    // A contract's invoice consumes the customer's credit first (prepaid credits, earlier
    // overpayments); manual invoices take it when asked (`apply_credit`).
    if invoice.contract_id.is_some() && invoice.amount_due > 0 {
        let payments = credits_of(cx, &invoice).await?;
        let credit: i64 = payments.iter().map(|p| p.unallocated).sum();
        if credit > 0 {
            let amount = credit.min(invoice.amount_due);
            invoice = consume_credit(cx, invoice, payments, amount).await?;
        }
    }
    refresh_billing_status(cx, &invoice.customer_id).await?;
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
                        crate::orders::post(
                            &mut cx,
                            invoice.currency,
                            &[
                                (
                                    format!("void:{id}:net"),
                                    "revenue".into(),
                                    owed.clone(),
                                    invoice.subtotal,
                                    CODE_VOIDED,
                                ),
                                (
                                    format!("void:{id}:tax"),
                                    "tax_payable".into(),
                                    owed,
                                    invoice.tax,
                                    CODE_VOIDED,
                                ),
                            ],
                        )
                        .await?;
                    }
                    (InvoiceStatus::Uncollectible, InvoiceStatus::Void) => {
                        // Written off, then voided: the write-off is undone into the issue's
                        // reversal (nothing was paid or credited, so bad debt holds the total).
                        crate::orders::post(
                            &mut cx,
                            invoice.currency,
                            &[
                                (
                                    format!("void:{id}:net"),
                                    "revenue".into(),
                                    "bad_debt".into(),
                                    invoice.subtotal,
                                    CODE_VOIDED,
                                ),
                                (
                                    format!("void:{id}:tax"),
                                    "tax_payable".into(),
                                    "bad_debt".into(),
                                    invoice.tax,
                                    CODE_VOIDED,
                                ),
                            ],
                        )
                        .await?;
                    }
                    (_, InvoiceStatus::Uncollectible) => {
                        // What is still owed, written off.
                        let due = invoice.total - invoice.amount_paid - invoice.amount_credited;
                        crate::orders::post(
                            &mut cx,
                            invoice.currency,
                            &[(
                                format!("writeoff:{id}"),
                                "bad_debt".into(),
                                owed,
                                due,
                                CODE_WRITTEN_OFF,
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

// ---------------------------------------------------------------------------------------------
// Payments

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocationRequest {
    pub invoice_id: String,
    pub amount: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordPaymentRequest {
    pub customer_id: String,
    #[schema(example = "EUR")]
    pub currency: String,
    /// Minor units received.
    pub amount: i64,
    pub method: PaymentMethodKind,
    pub reference: Option<String>,
    /// Where the money goes; default: the customer's open invoices in this currency, oldest due
    /// first. What is left is the customer's credit.
    pub allocations: Option<Vec<AllocationRequest>>,
}

/// Applies `amount` of `payment` to an invoice, in the caller's transaction: the ledger transfer
/// (customer credit → receivable; for a written-off invoice, the write-off is reversed first),
/// the invoice's paid amount and status (`invoice.payment_applied`, or `invoice.paid` when
/// nothing is left to pay).
pub(crate) async fn allocate(
    cx: &mut Context<'_>,
    payment: &mut Payment,
    invoice_id: &str,
    amount: i64,
    param: &str,
) -> Result<Invoice, ApiError> {
    let mut invoice: Invoice = docs::get_in(cx, INVOICE, "invoice", invoice_id, param).await?;
    if invoice.customer_id != payment.customer_id || invoice.currency != payment.currency {
        return Err(ApiError::invalid(
            "parameter_invalid",
            Some(param.into()),
            "The invoice belongs to another customer or is in another currency.",
        ));
    }
    if !matches!(
        invoice.status,
        InvoiceStatus::Issued | InvoiceStatus::Uncollectible
    ) {
        return Err(ApiError::state(
            "invoice_not_payable",
            invoice.status.as_str(),
            format!(
                "A payment applies to an issued invoice; this one is {}.",
                invoice.status.as_str()
            ),
        ));
    }
    if amount <= 0 || amount > invoice.amount_due || amount > payment.unallocated {
        return Err(ApiError::invalid(
            "parameter_invalid",
            Some(format!("{param}.amount").replace(".invoice_id.amount", ".amount")),
            format!(
                "An allocation is positive and at most what the invoice still owes ({}) and \
                 what is left of the payment ({}).",
                invoice.amount_due, payment.unallocated
            ),
        ));
    }
    let n = payment.allocations.len();
    let transfer_id = format!("alloc:{}:{n}", payment.id);
    let owed = receivable(&invoice.customer_id);
    let mut transfers = Vec::new();
    if invoice.status == InvoiceStatus::Uncollectible {
        transfers.push((
            format!("reinstate:{}:{n}", payment.id),
            owed.clone(),
            "bad_debt".to_owned(),
            amount,
            CODE_REINSTATED,
        ));
    }
    transfers.push((
        transfer_id.clone(),
        customer_credit(&invoice.customer_id),
        owed,
        amount,
        CODE_ALLOCATED,
    ));
    crate::orders::post(cx, invoice.currency, &transfers).await?;
    payment.unallocated -= amount;
    payment.allocations.push(Allocation {
        invoice_id: invoice.id.clone(),
        amount,
        allocated_at: cx.now,
        transfer_id,
    });
    invoice.amount_paid += amount;
    invoice.recompute()?;
    let event_type = if invoice.amount_due == 0 {
        let previous = move_to(&mut invoice, InvoiceStatus::Paid)?;
        invoice.paid_at = Some(cx.now);
        let _ = previous;
        "invoice.paid"
    } else {
        "invoice.payment_applied"
    };
    invoice.updated_at = cx.now;
    save(cx, &invoice).await?;
    cx.emit(NewEvent::new(
        event_type,
        "invoice",
        invoice.id.as_str(),
        json!({ "object": invoice, "payment_id": payment.id, "amount": amount }),
    ))
    .await?;
    refresh_billing_status(cx, &invoice.customer_id).await?;
    Ok(invoice)
}

/// The customer's open invoices in `currency`, oldest due first.
async fn open_invoices(
    cx: &mut Context<'_>,
    customer_id: &CustomerId,
    currency: Currency,
) -> Result<Vec<Invoice>, ApiError> {
    let mut open: Vec<Invoice> = commerce::find_in(
        cx.tx,
        INVOICE,
        cx.workspace_id,
        "customer_id",
        &[customer_id.as_str()],
    )
    .await?;
    open.retain(|i| {
        i.currency == currency
            && matches!(
                i.status,
                InvoiceStatus::Issued | InvoiceStatus::Uncollectible
            )
            && i.amount_due > 0
    });
    open.sort_by_key(|i| (i.due_at, i.id.clone()));
    Ok(open)
}

pub(crate) async fn save_payment(
    cx: &mut Context<'_>,
    payment: &Payment,
    new: bool,
) -> Result<(), ApiError> {
    if new {
        commerce::insert(
            cx.tx,
            INVOICE_PAYMENT,
            cx.workspace_id,
            payment.id.as_str(),
            payment,
            &[("customer_id", payment.customer_id.as_str().into())],
        )
        .await?;
    } else {
        commerce::save(
            cx.tx,
            INVOICE_PAYMENT,
            cx.workspace_id,
            payment.id.as_str(),
            payment,
            &[],
        )
        .await?;
    }
    Ok(())
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
    let reference = body
        .reference
        .map(|r| parse_text(&r, "reference", 200))
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
                let id = PaymentId::new();
                let mut payment = Payment {
                    transfer_id: format!("received:{id}"),
                    id,
                    object: "payment".into(),
                    customer_id: customer_id.clone(),
                    currency,
                    amount: body.amount,
                    method: body.method,
                    reference,
                    allocations: Vec::new(),
                    unallocated: body.amount,
                    received_at: cx.now,
                    created_at: cx.now,
                };
                crate::orders::post(
                    &mut cx,
                    currency,
                    &[(
                        payment.transfer_id.clone(),
                        format!("cash:{}", payment.method.as_str()),
                        customer_credit(&customer_id),
                        payment.amount,
                        CODE_RECEIVED,
                    )],
                )
                .await?;
                save_payment(&mut cx, &payment, true).await?;
                cx.emit_object("payment.received", "payment", payment.id.as_str(), &payment)
                    .await?;
                match body.allocations {
                    Some(allocations) => {
                        for (i, a) in allocations.into_iter().enumerate() {
                            allocate(
                                &mut cx,
                                &mut payment,
                                &a.invoice_id,
                                a.amount,
                                &format!("allocations[{i}].invoice_id"),
                            )
                            .await?;
                        }
                    }
                    None => {
                        for invoice in open_invoices(&mut cx, &customer_id, currency).await? {
                            if payment.unallocated == 0 {
                                break;
                            }
                            let amount = invoice.amount_due.min(payment.unallocated);
                            allocate(
                                &mut cx,
                                &mut payment,
                                invoice.id.as_str(),
                                amount,
                                "invoice_id",
                            )
                            .await?;
                        }
                    }
                }
                save_payment(&mut cx, &payment, false).await?;
                Ok((StatusCode::OK, payment))
            })
        })
        .await
}

/// List payments, newest first; `customer_id` selects one customer's.
#[utoipa::path(get, path = "/v1/payments", tag = "invoices",
    params(("customer_id" = Option<String>, Query), ("limit" = Option<i64>, Query),
        ("starting_after" = Option<String>, Query), ("ending_before" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<Payment>)), security(("api_key" = [])))]
async fn list_payments(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<ListResponse<Payment>>, ApiError> {
    Ok(Json(
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
#[utoipa::path(get, path = "/v1/payments/{id}", tag = "invoices", params(("id" = String, Path)),
    responses((status = 200, body = Payment), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_payment(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Payment>, ApiError> {
    Ok(Json(
        docs::get(&state, &principal, INVOICE_PAYMENT, "payment", id).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyCreditRequest {
    /// Default: as much as the invoice owes and the credit covers.
    pub amount: Option<i64>,
}

/// The customer's payments with credit left in the invoice's currency, oldest first.
async fn credits_of(cx: &mut Context<'_>, invoice: &Invoice) -> Result<Vec<Payment>, ApiError> {
    let mut payments: Vec<Payment> = commerce::find_in(
        cx.tx,
        INVOICE_PAYMENT,
        cx.workspace_id,
        "customer_id",
        &[invoice.customer_id.as_str()],
    )
    .await?;
    payments.retain(|p| p.currency == invoice.currency && p.unallocated > 0);
    payments.sort_by_key(|p| (p.received_at, p.id.clone()));
    Ok(payments)
}

/// Allocates up to `amount` of `payments`' credit to the invoice, oldest payment first.
async fn consume_credit(
    cx: &mut Context<'_>,
    invoice: Invoice,
    payments: Vec<Payment>,
    amount: i64,
) -> Result<Invoice, ApiError> {
    let id = invoice.id.to_string();
    let mut left = amount;
    let mut updated = invoice;
    for mut payment in payments {
        if left == 0 {
            break;
        }
        let part = payment.unallocated.min(left);
        updated = allocate(cx, &mut payment, &id, part, "id").await?;
        save_payment(cx, &payment, false).await?;
        left -= part;
    }
    Ok(updated)
}

/// Apply the customer's credit (unallocated payments, oldest first) to an issued invoice.
#[utoipa::path(post, path = "/v1/invoices/{id}/apply_credit", tag = "invoices", request_body = ApplyCreditRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
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

// ---------------------------------------------------------------------------------------------
// Billing status and entitlements

/// One change of a customer's billing status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatusChange {
    pub from: BillingStatus,
    pub to: BillingStatus,
    pub reason: String,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CustomerBillingStatus {
    /// Always `billing_status`.
    pub object: String,
    pub customer_id: CustomerId,
    /// Set for a contract's billing status (driven by that contract's invoices alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract_id: Option<ContractId>,
    pub status: BillingStatus,
    pub reason: String,
    pub since: Option<Timestamp>,
    /// Every change, oldest first.
    pub history: Vec<StatusChange>,
}

fn pending(customer_id: &CustomerId) -> CustomerBillingStatus {
    CustomerBillingStatus {
        object: "billing_status".into(),
        customer_id: customer_id.clone(),
        contract_id: None,
        status: BillingStatus::Pending,
        reason: "no_invoice_yet".into(),
        since: None,
        history: Vec::new(),
    }
}

/// What a customer's invoices say at `now`.
fn facts_of(invoices: &[Invoice], now: Timestamp) -> Facts {
    let open = |i: &&Invoice| i.amount_due > 0;
    Facts {
        issued: invoices.iter().any(|i| i.number.is_some()),
        overdue_days: invoices
            .iter()
            .filter(|i| i.status == InvoiceStatus::Issued)
            .filter(open)
            .filter_map(|i| i.due_at)
            .filter(|due| *due < now)
            .map(|due| (now.unix_micros() - due.unix_micros()) / 86_400_000_000)
            .max(),
        uncollectible: invoices
            .iter()
            .filter(|i| i.status == InvoiceStatus::Uncollectible)
            .any(|i| open(&i)),
    }
}

/// Moves the customer's billing status where its invoices say, and the billing status of each
/// of its contracts where that contract's invoices say (a contract that ended with nothing
/// owed is closed), in the caller's transaction, recording `billing_status.changed` with the
/// reason; returns the customer's status.
pub async fn refresh_billing_status(
    cx: &mut Context<'_>,
    customer_id: &CustomerId,
) -> Result<CustomerBillingStatus, ApiError> {
    let invoices: Vec<Invoice> = commerce::find_in(
        cx.tx,
        INVOICE,
        cx.workspace_id,
        "customer_id",
        &[customer_id.as_str()],
    )
    .await?;
    let mut contract_ids: Vec<&ContractId> = invoices
        .iter()
        .filter_map(|i| i.contract_id.as_ref())
        .collect();
    contract_ids.sort();
    contract_ids.dedup();
    for contract_id in contract_ids {
        let theirs: Vec<Invoice> = invoices
            .iter()
            .filter(|i| i.contract_id.as_ref() == Some(contract_id))
            .cloned()
            .collect();
        let ended = commerce::get::<Contract>(
            cx.tx,
            CONTRACT,
            cx.workspace_id,
            contract_id.as_str(),
            false,
        )
        .await?
        .is_some_and(|c| {
            matches!(
                c.status,
                ContractStatus::Terminated | ContractStatus::Expired
            ) && c.terminates_at.is_none_or(|t| t <= cx.now)
        });
        let stored = stored_status(cx, contract_id.as_str()).await?;
        let new = stored.is_none();
        let mut current = stored.unwrap_or_else(|| CustomerBillingStatus {
            contract_id: Some(contract_id.clone()),
            ..pending(customer_id)
        });
        let facts = facts_of(&theirs, cx.now);
        let settled = facts.overdue_days.is_none()
            && !facts.uncollectible
            && theirs
                .iter()
                .all(|i| i.amount_due == 0 || i.number.is_none());
        let change = if ended && settled && current.status != BillingStatus::Closed {
            Some((BillingStatus::Closed, "contract_ended"))
        } else {
            billing::next(current.status, &facts)
        };
        if let Some((to, reason)) = change {
            change_status(cx, &mut current, new, to, reason).await?;
        }
    }
    let stored = stored_status(cx, customer_id.as_str()).await?;
    let mut current = stored.clone().unwrap_or_else(|| pending(customer_id));
    let Some((to, reason)) = billing::next(current.status, &facts_of(&invoices, cx.now)) else {
        return Ok(current);
    };
    change_status(cx, &mut current, stored.is_none(), to, reason).await?;
    Ok(current)
}

async fn stored_status(
    cx: &mut Context<'_>,
    id: &str,
) -> Result<Option<CustomerBillingStatus>, ApiError> {
    Ok(commerce::get(cx.tx, BILLING_STATUS, cx.workspace_id, id, true).await?)
}

async fn change_status(
    cx: &mut Context<'_>,
    current: &mut CustomerBillingStatus,
    new: bool,
    to: BillingStatus,
    reason: &str,
) -> Result<(), ApiError> {
    let from = current.status;
    current.history.push(StatusChange {
        from,
        to,
        reason: reason.to_owned(),
        at: cx.now,
    });
    current.status = to;
    current.reason = reason.to_owned();
    current.since = Some(cx.now);
    let (id, aggregate) = match &current.contract_id {
        Some(contract) => (contract.to_string(), "contract"),
        None => (current.customer_id.to_string(), "customer"),
    };
    if new {
        commerce::insert(
            cx.tx,
            BILLING_STATUS,
            cx.workspace_id,
            &id,
            &*current,
            &[("status", to.as_str().into())],
        )
        .await?;
    } else {
        commerce::save(
            cx.tx,
            BILLING_STATUS,
            cx.workspace_id,
            &id,
            &*current,
            &[("status", to.as_str().into())],
        )
        .await?;
    }
    cx.emit(NewEvent::new(
        "billing_status.changed",
        aggregate,
        &id,
        json!({ "object": current, "from": from, "to": to, "reason": reason }),
    ))
    .await
}

/// Days before its due date an unpaid invoice is reminded of (`invoice.due_soon`).
pub const DUE_SOON_DAYS: i64 = 3;

/// Records `invoice.due_soon` (within [`DUE_SOON_DAYS`] of the due date) and `invoice.overdue`
/// (past it) for a customer's unpaid issued invoices, each once per invoice: the email
/// subscriber turns them into reminders.
async fn remind(cx: &mut Context<'_>, customer_id: &CustomerId) -> Result<(), ApiError> {
    let invoices: Vec<Invoice> = commerce::find_in(
        cx.tx,
        INVOICE,
        cx.workspace_id,
        "customer_id",
        &[customer_id.as_str()],
    )
    .await?;
    for mut invoice in invoices {
        if invoice.status != InvoiceStatus::Issued || invoice.amount_due == 0 {
            continue;
        }
        let Some(due) = invoice.due_at else { continue };
        let reminder = if due < cx.now {
            "overdue"
        } else if due.unix_micros() - cx.now.unix_micros() <= DUE_SOON_DAYS * 86_400_000_000 {
            "due_soon"
        } else {
            continue;
        };
        if invoice.reminders.iter().any(|r| r == reminder) {
            continue;
        }
        invoice.reminders.push(reminder.to_owned());
        save(cx, &invoice).await?;
        let event_type = if reminder == "overdue" {
            "invoice.overdue"
        } else {
            "invoice.due_soon"
        };
        cx.emit_object(event_type, "invoice", invoice.id.as_str(), &invoice)
            .await?;
    }
    Ok(())
}

/// Brings every active or past-due customer's status to the present (invoices falling due);
/// each customer in its own transaction. Returns how many changed.
pub async fn sweep_billing_status(state: &AppState) -> Result<usize, ApiError> {
    let customers = state
        .db
        .read(|tx: &mut Tx| Box::pin(async move { invoices::customers_to_sweep(tx).await }))
        .await?;
    let mut changed = 0;
    for (workspace_id, customer) in customers {
        let cause = bursar_domain::event::Cause {
            request_id: None,
            actor: Some("system:billing_status".into()),
        };
        let now = state.db.now();
        let moved = state
            .db
            .write(move |tx: &mut Tx| {
                Box::pin(async move {
                    let mut cx = Context {
                        tx,
                        workspace_id: &workspace_id,
                        now,
                        cause: &cause,
                    };
                    let customer_id = CustomerId::from_trusted(customer);
                    let before: Option<CustomerBillingStatus> = commerce::get(
                        cx.tx,
                        BILLING_STATUS,
                        cx.workspace_id,
                        customer_id.as_str(),
                        true,
                    )
                    .await?;
                    remind(&mut cx, &customer_id).await?;
                    let after = refresh_billing_status(&mut cx, &customer_id).await?;
                    Ok::<bool, ApiError>(before.map(|b| b.status) != Some(after.status))
                })
            })
            .await?;
        changed += usize::from(moved);
    }
    Ok(changed)
}

async fn status_of(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<CustomerBillingStatus, ApiError> {
    let customer_id =
        CustomerId::parse(id, "id").map_err(|_| ApiError::not_found("customer", id))?;
    let workspace_id = principal.workspace_id.clone();
    state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                customers::get(tx, &workspace_id, &customer_id, false)
                    .await?
                    .ok_or_else(|| ApiError::not_found("customer", customer_id.as_str()))?;
                let stored: Option<CustomerBillingStatus> = commerce::get(
                    tx,
                    BILLING_STATUS,
                    &workspace_id,
                    customer_id.as_str(),
                    false,
                )
                .await?;
                Ok::<_, ApiError>(stored.unwrap_or_else(|| pending(&customer_id)))
            })
        })
        .await
}

/// A customer's billing status, with every change and its reason.
#[utoipa::path(get, path = "/v1/customers/{id}/billing_status", tag = "invoices", params(("id" = String, Path)),
    responses((status = 200, body = CustomerBillingStatus), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_billing_status(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<CustomerBillingStatus>, ApiError> {
    Ok(Json(status_of(&state, &principal, &id).await?))
}

/// A contract's billing status, driven by its own invoices (pending until one is issued; closed
/// once the contract ended with nothing owed), with every change and its reason.
#[utoipa::path(get, path = "/v1/contracts/{id}/billing_status", tag = "invoices", params(("id" = String, Path)),
    responses((status = 200, body = CustomerBillingStatus), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_contract_billing_status(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<CustomerBillingStatus>, ApiError> {
    let workspace_id = principal.workspace_id.clone();
    let found = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let contract: Contract = commerce::get(tx, CONTRACT, &workspace_id, &id, false)
                    .await?
                    .ok_or_else(|| ApiError::not_found("contract", &id))?;
                let stored: Option<CustomerBillingStatus> =
                    commerce::get(tx, BILLING_STATUS, &workspace_id, &id, false).await?;
                Ok::<_, ApiError>(stored.unwrap_or_else(|| CustomerBillingStatus {
                    contract_id: ContractId::parse(&contract.id, "id").ok(),
                    ..pending(&CustomerId::from_trusted(contract.buyer_id.clone()))
                }))
            })
        })
        .await?;
    Ok(Json(found))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    /// Why the account is closed (recorded with the change).
    pub reason: Option<String>,
}

/// Close a customer's billing account: final; entitlements end.
#[utoipa::path(post, path = "/v1/customers/{id}/billing_status/close", tag = "invoices", request_body = CloseRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = CustomerBillingStatus), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("api_key" = [])))]
async fn close_billing_status(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Mutation<CloseRequest>,
) -> Result<Response, ApiError> {
    let reason = request
        .body
        .reason
        .map(|r| parse_text(&r, "reason", 200))
        .transpose()?
        .unwrap_or_else(|| "closed_by_request".into());
    let customer_id =
        CustomerId::parse(&id, "id").map_err(|_| ApiError::not_found("customer", &id))?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                customers::get(cx.tx, cx.workspace_id, &customer_id, false)
                    .await?
                    .ok_or_else(|| ApiError::not_found("customer", customer_id.as_str()))?;
                let stored: Option<CustomerBillingStatus> = commerce::get(
                    cx.tx,
                    BILLING_STATUS,
                    cx.workspace_id,
                    customer_id.as_str(),
                    true,
                )
                .await?;
                let mut current = stored.clone().unwrap_or_else(|| pending(&customer_id));
                if current.status == BillingStatus::Closed {
                    return Err(ApiError::state(
                        "billing_status_closed",
                        "closed",
                        "The billing account is closed already.",
                    ));
                }
                change_status(
                    &mut cx,
                    &mut current,
                    stored.is_none(),
                    BillingStatus::Closed,
                    &reason,
                )
                .await?;
                Ok((StatusCode::OK, current))
            })
        })
        .await
}

/// What a customer may use now, for downstream systems: the access its billing status allows
/// and the products of its active contracts.
#[derive(Debug, Serialize, ToSchema)]
pub struct Entitlements {
    /// Always `entitlements`.
    pub object: String,
    pub customer_id: CustomerId,
    pub billing_status: BillingStatus,
    /// `full` (pending, active, past due: a grace period), `limited` (collections), `none`
    /// (closed).
    pub access: Access,
    /// Product ids the customer's active contracts include (none without full access).
    pub features: Vec<String>,
}

/// May this customer use the service, and which parts of it.
#[utoipa::path(get, path = "/v1/customers/{id}/entitlements", tag = "invoices", params(("id" = String, Path)),
    responses((status = 200, body = Entitlements), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_entitlements(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Entitlements>, ApiError> {
    let status = status_of(&state, &principal, &id).await?;
    let access = status.status.access();
    let features = if access == Access::Full {
        let (workspace_id, customer) = (principal.workspace_id.clone(), id.clone());
        let contracts: Vec<Contract> = state
            .db
            .read(move |tx: &mut Tx| {
                Box::pin(async move {
                    commerce::find_in(
                        tx,
                        CONTRACT,
                        &workspace_id,
                        "buyer_id",
                        &[customer.as_str()],
                    )
                    .await
                })
            })
            .await?;
        let mut features: Vec<String> = contracts
            .iter()
            .filter(|c| c.status == ContractStatus::Active)
            .flat_map(|c| c.lines.iter().map(|l| l.product_id.clone()))
            .collect();
        features.sort();
        features.dedup();
        features
    } else {
        Vec::new()
    };
    Ok(Json(Entitlements {
        object: "entitlements".into(),
        customer_id: status.customer_id,
        billing_status: status.status,
        access,
        features,
    }))
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
                let invoice: Invoice = commerce::get(tx, INVOICE, &workspace_id, &id, false)
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
    let bytes = crate::invoice_pdf::render(&invoice, &customer, &settings);
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
                    (format!("cn:{}:net", note.id), "revenue".to_owned(), owed.clone(), net_amount, CODE_CREDITED),
                    (format!("cn:{}:tax", note.id), "tax_payable".to_owned(), owed.clone(), tax_amount, CODE_CREDITED),
                ];
                if let Some(method) = note.refund_method {
                    transfers.push((format!("cn:{}:refund", note.id), owed, format!("cash:{}", method.as_str()), refunded, CODE_REFUNDED));
                }
                crate::orders::post(&mut cx, invoice.currency, &transfers).await?;
                commerce::insert(
                    cx.tx,
                    CREDIT_NOTE,
                    cx.workspace_id,
                    note.id.as_str(),
                    &note,
                    &[("invoice_id", invoice.id.as_str().into())],
                )
                .await?;
                cx.emit_object("credit_note.created", "credit_note", note.id.as_str(), &note).await?;
                invoice.amount_credited += amount;
                invoice.recompute()?;
                if invoice.status == InvoiceStatus::Issued && invoice.amount_due == 0 {
                    move_to(&mut invoice, InvoiceStatus::Paid)?;
                    invoice.paid_at = Some(cx.now);
                }
                invoice.updated_at = cx.now;
                save(&mut cx, &invoice).await?;
                cx.emit(NewEvent::new(
                    "invoice.credited",
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
