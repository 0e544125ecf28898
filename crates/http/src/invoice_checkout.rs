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
use bursar_domain::event_type;
use bursar_domain::invoice::{Invoice, PaymentLink};
use bursar_domain::time::Timestamp;
use bursar_payments::{CheckoutLine, CheckoutRequest};
use bursar_store::documents::INVOICE;
use bursar_store::{customers, Tx};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::docs;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal};
use crate::{payments, AppState};
use bursar_core::invoice_checkout::*;
use bursar_core::invoices::save;
use bursar_core::providers::{provider_error, return_urls, CHECKOUT_TTL_SECONDS};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_payment_link))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentLinkRequest {
    /// `test` (default), `stripe`, or a connection id (`pp_…`).
    pub provider: Option<String>,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
}

/// Open a hosted payment page for an issued invoice's amount due (`payment_link.url` is where
/// to send the customer). A link still open for the same amount is returned as it is. The
/// invoice is paid when the provider confirms the payment by webhook.
#[utoipa::path(post, path = "/v1/invoices/{id}/payment_link", tag = "invoices", request_body = PaymentLinkRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
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
    let now = state.db.now();
    let open = invoice.payment_link.as_ref().filter(|link| {
        link.expires_at > now && link.amount == invoice.amount_due && body.provider.is_none()
    });
    let session = if open.is_some() || !payable(&invoice) {
        None
    } else {
        let connection = bursar_core::providers::resolve(
            &state,
            &principal.workspace_id,
            body.provider.as_deref(),
            &base,
        )
        .await?;
        let attempt = invoice.payment_link.as_ref().map_or(0, |l| l.attempt) + 1;
        let (workspace_id, customer_id) =
            (principal.workspace_id.clone(), invoice.customer_id.clone());
        let customer = state
            .db
            .read(move |tx: &mut Tx| {
                Box::pin(
                    async move { customers::get(tx, &workspace_id, &customer_id, false).await },
                )
            })
            .await?;
        let label = invoice
            .number
            .clone()
            .unwrap_or_else(|| invoice.id.to_string());
        let checkout = CheckoutRequest {
            attempt_id: format!("{}-{attempt}", invoice.id),
            order_id: invoice.id.to_string(),
            currency: invoice.currency.code().to_owned(),
            amount: invoice.amount_due,
            lines: vec![CheckoutLine {
                name: format!("Invoice {label}"),
                quantity: 1,
                unit_amount: invoice.amount_due,
            }],
            customer_email: customer.and_then(|c| c.email.map(|e| e.as_str().to_owned())),
            provider_customer: None,
            success_url,
            cancel_url,
            expires_at: now.unix_micros() / 1_000_000 + CHECKOUT_TTL_SECONDS,
            metadata: bursar_core::providers::order_metadata(invoice.id.as_str()),
        };
        let session = connection
            .provider
            .create_checkout(&checkout)
            .await
            .map_err(provider_error)?;
        Some(PaymentLink {
            url: session.url,
            provider_id: connection.object.id.to_string(),
            provider: connection.row.kind.clone(),
            session_id: session.id,
            amount: invoice.amount_due,
            expires_at: Timestamp::from_unix_micros(session.expires_at.saturating_mul(1_000_000)),
            attempt,
        })
    };
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let mut invoice: Invoice =
                    docs::get_in(&mut cx, INVOICE, "invoice", &id, "id").await?;
                if !payable(&invoice) {
                    return Err(not_payable(&invoice).into());
                }
                let Some(link) = session else {
                    // The open link, unchanged.
                    cx.emit_object(
                        event_type::INVOICE_PAYMENT_LINK_SHARED,
                        "invoice",
                        invoice.id.as_str(),
                        &invoice,
                    )
                    .await?;
                    return Ok((StatusCode::OK, invoice));
                };
                if invoice.payment_link.as_ref().map_or(0, |l| l.attempt) + 1 != link.attempt {
                    return Err(ApiError::state(
                        "invoice_state_invalid",
                        invoice.status.as_str(),
                        "Another payment link for this invoice was opened concurrently.",
                    ));
                }
                invoice.payment_link = Some(link);
                invoice.updated_at = cx.now;
                save(&mut cx, &invoice).await?;
                cx.emit_object(
                    event_type::INVOICE_PAYMENT_LINK_CREATED,
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
