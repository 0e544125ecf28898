//! Paying an issued invoice online: a hosted payment link through the payment-provider boundary
//! (the test provider or Stripe), and the provider's signed webhooks recording the payment.
//!
//! Pay-before-commit: opening the link writes nothing to the ledger, and the customer's return
//! from the page proves nothing; only the provider's confirmation (a verified webhook, each
//! provider event once) records the payment — provider clearing → customer credit → the
//! invoice's receivable — and the invoice is paid when nothing is left to pay.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bursar_domain::id::InvoiceId;
use bursar_domain::invoice::Invoice;
use bursar_store::documents::INVOICE;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::docs;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal};
use crate::{payments, AppState};
use bursar_core::invoice_checkout::*;
use bursar_core::providers::return_urls;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_payment_link))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentLinkRequest {
    /// `test` (default), `stripe`, or a connection id (`pp_…`).
    pub provider: Option<String>,
    /// Where the customer returns: an absolute `http(s)` URL of at most 2000 bytes (default:
    /// the test provider's page).
    #[schema(format = "uri", pattern = "^https?://", max_length = 2000)]
    pub success_url: Option<String>,
    /// As `success_url`, for a customer who gives up.
    #[schema(format = "uri", pattern = "^https?://", max_length = 2000)]
    pub cancel_url: Option<String>,
}

/// Open a hosted payment page for an issued invoice's amount due (`payment_link.url` is where
/// to send the customer). A link still open for the same amount is returned as it is. The
/// invoice is paid when the provider confirms the payment by webhook.
#[utoipa::path(post, path = "/v1/invoices/{id}/payment_link", tag = "invoices", request_body = PaymentLinkRequest,
    params(("id" = InvoiceId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Invoice), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("api_key" = [])))]
async fn create_payment_link(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
    request: Mutation<PaymentLinkRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let base = payments::base_url(&state, &headers);
    let (success_url, cancel_url) = return_urls(
        &base,
        &format!("invoice={id}"),
        body.success_url,
        body.cancel_url,
    )?;
    let invoice: Invoice = docs::get(&state, &principal, INVOICE, "invoice", id.clone()).await?;
    let page = LinkPage {
        provider: body.provider,
        base_url: base,
        success_url,
        cancel_url,
    };
    let session = open_payment_link(&state, &principal.workspace_id, &invoice, page).await?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                Ok((
                    StatusCode::OK,
                    record_payment_link(&mut cx, &id, session).await?,
                ))
            })
        })
        .await
}
