//! `/v1/invoice_settings`: who issues the workspace's invoices, how they are numbered and paid.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use bursar_domain::commerce::parse_text;
use bursar_domain::invoice::*;
use bursar_store::Tx;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal};
use crate::livemode::Json;
use crate::AppState;
use bursar_core::invoice_settings::{auto_issue_hours, MarketplaceUpdate, SettingsUpdate};
use bursar_core::invoices::{check_terms, load_settings};
use bursar_domain::money::NonNegativeAmount;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_settings, update_settings))
}

/// The workspace's invoicing settings (defaults until set).
#[utoipa::path(get, path = "/v1/invoice_settings", tag = "invoices",
    responses((status = 200, body = InvoiceSettings)), security(("api_key" = [])))]
async fn get_settings(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<InvoiceSettings>, ApiError> {
    let workspace_id = principal.workspace_id.clone();
    Ok(principal.json(
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
    /// 1 to 12 upper-case letters, digits or `-`, e.g. `INV`.
    #[schema(pattern = "^[A-Z0-9-]{1,12}$")]
    pub number_prefix: Option<String>,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub issuer_name: Option<String>,
    /// Lines of the address, each not blank and at most 200 characters.
    #[schema(value_type = Option<Vec<AddressLine>>)]
    pub issuer_address: Option<Vec<String>>,
    #[schema(min_length = 1, max_length = 50, pattern = r"\S")]
    pub issuer_tax_id: Option<String>,
    #[schema(maximum = 365)]
    pub payment_terms_days: Option<u32>,
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub payment_instructions: Option<String>,
    /// A tax rate (`txr_…`) for the lines billing runs make; `""` removes it.
    pub default_tax_rate_id: Option<String>,
    /// Hours after which billing runs' drafts are issued automatically (0: at once, at most
    /// 2160: 90 days); -1 turns automatic issuing off.
    #[schema(minimum = -1, maximum = 2160)]
    pub auto_issue_after_hours: Option<i64>,
    /// Marketplace invoices: days the seller's part seasons after the invoice is paid, unless
    /// the contract says otherwise (default 7).
    #[schema(maximum = 365)]
    pub seller_seasoning_days: Option<u32>,
    /// The platform's fee on marketplace invoices, in basis points of the net (100 = 1%).
    #[schema(maximum = 10000)]
    pub platform_fee_bps: Option<u32>,
    /// A fixed platform fee per marketplace invoice, in minor units of its currency.
    #[schema(value_type = Option<NonNegativeAmount>)]
    pub platform_fee_fixed: Option<i64>,
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
    let changes = SettingsUpdate {
        auto_issue_after_hours: auto_issue_hours(body.auto_issue_after_hours)?,
        default_tax_rate_id: body
            .default_tax_rate_id
            .map(|id| Some(id).filter(|id| !id.is_empty())),
        number_prefix: prefix,
        issuer_name: name,
        issuer_address: address,
        issuer_tax_id: tax_id,
        payment_terms_days: body.payment_terms_days,
        payment_instructions: instructions,
        marketplace: MarketplaceUpdate {
            seller_seasoning_days: body.seller_seasoning_days,
            platform_fee_bps: body.platform_fee_bps,
            platform_fee_fixed: body.platform_fee_fixed,
        },
    };
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let settings = bursar_core::invoice_settings::update(&mut cx, changes).await?;
                Ok((StatusCode::OK, settings))
            })
        })
        .await
}
