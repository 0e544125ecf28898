//! `/v1/invoice_settings`: who issues the workspace's invoices, how they are numbered and paid.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use bursar_domain::commerce::parse_text;
use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::invoice::*;
use bursar_store::documents::TAX_RATE;
use bursar_store::{invoices, Tx};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::docs;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal};
use crate::AppState;
use bursar_core::invoices::*;

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
                    event_type::INVOICE_SETTINGS_UPDATED,
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
