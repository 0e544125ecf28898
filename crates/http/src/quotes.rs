//! `POST /v1/quotes`: what a buyer would pay, line by line, with the rule behind each price.
//! Orders are priced by the same function, [`price_lines`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use bursar_domain::commerce::Quote;
use bursar_domain::id::*;
use bursar_domain::money::Currency;
use bursar_domain::time::Timestamp;
use bursar_domain::ValidationError;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal};
use crate::AppState;
use bursar_core::quotes::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_quote))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteLineRequest {
    #[schema(value_type = ProductId)]
    pub product_id: String,
    /// Default 1.
    #[schema(minimum = 1, maximum = 1000000)]
    pub quantity: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequest {
    /// The buyer: a customer (priced with its company's agreements and its price book)…
    #[schema(value_type = Option<CustomerId>)]
    pub customer_id: Option<String>,
    /// …or a company directly.
    #[schema(value_type = Option<CompanyId>)]
    pub company_id: Option<String>,
    #[schema(value_type = Currency)]
    pub currency: String,
    #[schema(min_items = 1, max_items = 100)]
    pub lines: Vec<QuoteLineRequest>,
    /// An active promotion code of this workspace, valid for the currency (else 400).
    pub promotion_code: Option<String>,
    /// RFC 3339: price as of this instant (default now).
    #[schema(format = DateTime)]
    pub at: Option<String>,
}

/// Price lines for a customer or a company, without creating anything. The answer names the
/// rule that chose each price (`agreement`, `price_book`, `default`) and its source.
#[utoipa::path(post, path = "/v1/quotes", tag = "orders", request_body = QuoteRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Quote), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn create_quote(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<QuoteRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let customer_id = body
        .customer_id
        .map(|id| CustomerId::parse(&id, "customer_id"))
        .transpose()?;
    let company_id = body
        .company_id
        .map(|id| CompanyId::parse(&id, "company_id"))
        .transpose()?;
    let currency = Currency::parse(&body.currency, "currency")?;
    let lines = parse_lines(body.lines)?;
    let at = body
        .at
        .map(|t| {
            Timestamp::parse_rfc3339(&t).ok_or_else(|| {
                ValidationError::invalid("at", format!("'{t}' is not an RFC 3339 timestamp."))
            })
        })
        .transpose()?;
    let new = NewQuote {
        customer_id,
        company_id,
        currency,
        lines,
        promotion_code: body.promotion_code,
        at,
    };
    // A quote changes nothing: it is a mutation only so an Idempotency-Key replays its answer.
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move { Ok((StatusCode::OK, quote(&mut cx, new).await?)) })
        })
        .await
}

/// Parsed lines: product ids and quantities.
pub fn parse_lines(lines: Vec<QuoteLineRequest>) -> Result<Vec<(ProductId, i64)>, ValidationError> {
    if lines.is_empty() || lines.len() > 100 {
        return Err(ValidationError::invalid("lines", "Give 1 to 100 lines."));
    }
    lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            Ok((
                ProductId::parse(&l.product_id, &format!("lines[{i}][product_id]"))?,
                l.quantity.unwrap_or(1),
            ))
        })
        .collect()
}
