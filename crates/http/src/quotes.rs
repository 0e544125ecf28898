//! `POST /v1/quotes`: what a buyer would pay, line by line, with the rule behind each price.
//! Orders are priced by the same function, [`price_lines`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use bursar_domain::commerce::*;
use bursar_domain::customer::Customer;
use bursar_domain::id::*;
use bursar_domain::money::Currency;
use bursar_domain::time::Timestamp;
use bursar_domain::ValidationError;
use bursar_store::commerce::{self, COMPANY, PRICE, PRICE_AGREEMENT, PRODUCT};
use bursar_store::{customers, Tx};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::discounts::{load_coupon, load_promotion_code};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_quote))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineRequest {
    pub product_id: String,
    /// Default 1.
    pub quantity: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequest {
    /// The buyer: a customer (priced with its company's agreements and its price book)…
    pub customer_id: Option<String>,
    /// …or a company directly.
    pub company_id: Option<String>,
    #[schema(example = "USD")]
    pub currency: String,
    pub lines: Vec<LineRequest>,
    pub promotion_code: Option<String>,
    /// RFC 3339: price as of this instant (default now).
    pub at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Quote {
    /// Always `quote`.
    pub object: &'static str,
    pub customer_id: Option<CustomerId>,
    pub company_id: Option<CompanyId>,
    pub currency: Currency,
    pub priced_at: Timestamp,
    pub lines: Vec<PricedLine>,
    pub totals: Totals,
    pub promotion_code: Option<String>,
    pub coupon_id: Option<CouponId>,
}

/// Parsed lines: product ids and quantities.
pub fn parse_lines(lines: Vec<LineRequest>) -> Result<Vec<(ProductId, i64)>, ValidationError> {
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

/// A priced set of lines and who they were priced for.
pub struct Priced {
    pub customer: Option<Customer>,
    pub company_id: Option<CompanyId>,
    pub lines: Vec<PricedLine>,
    pub totals: Totals,
    pub promotion: Option<(PromotionCode, Coupon)>,
}

/// Prices lines for a buyer: the resolver picks each unit price (agreement > price book >
/// default), then the promotion code's coupon applies.
#[allow(clippy::too_many_arguments)]
pub async fn price_lines(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    customer_id: Option<&CustomerId>,
    company_id: Option<&CompanyId>,
    currency: Currency,
    lines: &[(ProductId, i64)],
    promotion_code: Option<&str>,
    at: Timestamp,
) -> Result<Priced, ApiError> {
    let customer = match customer_id {
        Some(id) => Some(
            customers::get(tx, workspace_id, id, false)
                .await?
                .ok_or_else(|| {
                    ApiError::not_found("customer", id.as_str()).with_param("customer_id")
                })?,
        ),
        None => None,
    };
    let company_id = company_id
        .cloned()
        .or_else(|| customer.as_ref().and_then(|c| c.company_id.clone()));
    let company: Option<Company> = match &company_id {
        Some(id) => Some(
            commerce::get(tx, COMPANY, workspace_id, id.as_str(), false)
                .await?
                .ok_or_else(|| {
                    ApiError::not_found("company", id.as_str()).with_param("company_id")
                })?,
        ),
        None => None,
    };
    let agreements: Vec<PriceAgreement> = match &company_id {
        Some(id) => {
            commerce::find_in(
                tx,
                PRICE_AGREEMENT,
                workspace_id,
                "company_id",
                &[id.as_str()],
            )
            .await?
        }
        None => Vec::new(),
    };
    let price_book_id = customer
        .as_ref()
        .and_then(|c| c.price_book_id.clone())
        .or_else(|| company.as_ref().and_then(|c| c.price_book_id.clone()));
    let mut product_ids: Vec<&str> = lines.iter().map(|(p, _)| p.as_str()).collect();
    product_ids.sort_unstable();
    product_ids.dedup();
    let prices: Vec<Price> =
        commerce::find_in(tx, PRICE, workspace_id, "product_id", &product_ids).await?;
    let context = PricingContext {
        currency,
        at,
        agreements: &agreements,
        price_book_id: price_book_id.as_ref(),
        prices: &prices,
    };
    let mut priced = Vec::with_capacity(lines.len());
    for (i, (product_id, quantity)) in lines.iter().enumerate() {
        let param = format!("lines[{i}]");
        let product: Product = commerce::get(tx, PRODUCT, workspace_id, product_id.as_str(), false)
            .await?
            .ok_or_else(|| {
                ApiError::not_found("product", product_id.as_str())
                    .with_param(format!("{param}[product_id]"))
            })?;
        priced.push(resolve_line(&context, &product, *quantity, &param)?);
    }
    let promotion = match promotion_code {
        Some(code) => {
            let (promotion, coupon) = find_promotion(tx, workspace_id, code, at).await?;
            check_coupon(&coupon, currency, at, "promotion_code")?;
            apply_coupon(&coupon, &mut priced);
            Some((promotion, coupon))
        }
        None => None,
    };
    let totals = totals(&priced)?;
    Ok(Priced {
        customer,
        company_id,
        lines: priced,
        totals,
        promotion,
    })
}

/// An active, unexpired promotion code and its coupon, or a 400 naming `promotion_code`.
async fn find_promotion(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    code: &str,
    at: Timestamp,
) -> Result<(PromotionCode, Coupon), ApiError> {
    let refuse = |code: &'static str, message: String| {
        ApiError::from(ValidationError {
            param: "promotion_code".into(),
            code,
            message,
        })
    };
    let id = commerce::promotion_code_id(tx, workspace_id, code)
        .await?
        .ok_or_else(|| {
            refuse(
                "promotion_code_invalid",
                format!("No such promotion code: '{code}'."),
            )
        })?;
    let promotion = load_promotion_code(tx, workspace_id, &id)
        .await?
        .ok_or_else(|| {
            refuse(
                "promotion_code_invalid",
                format!("No such promotion code: '{code}'."),
            )
        })?;
    if !promotion.active {
        return Err(refuse(
            "promotion_code_inactive",
            format!("Promotion code '{code}' is not active."),
        ));
    }
    if promotion.expires_at.is_some_and(|end| at > end) {
        return Err(refuse(
            "promotion_code_expired",
            format!("Promotion code '{code}' has expired."),
        ));
    }
    if promotion
        .max_redemptions
        .is_some_and(|max| promotion.times_redeemed >= max)
    {
        return Err(refuse(
            "promotion_code_exhausted",
            format!("Promotion code '{code}' has reached its redemption limit."),
        ));
    }
    let coupon = load_coupon(tx, workspace_id, promotion.coupon_id.as_str())
        .await?
        .ok_or_else(|| {
            refuse(
                "promotion_code_invalid",
                format!("The coupon of '{code}' no longer exists."),
            )
        })?;
    Ok((promotion, coupon))
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
    let promotion_code = body.promotion_code;
    // A quote changes nothing: it is a mutation only so an Idempotency-Key replays its answer.
    state
        .mutate(&principal, request.idempotency, move |cx| {
            Box::pin(async move {
                let at = at.unwrap_or(cx.now);
                let priced = price_lines(
                    cx.tx,
                    cx.workspace_id,
                    customer_id.as_ref(),
                    company_id.as_ref(),
                    currency,
                    &lines,
                    promotion_code.as_deref(),
                    at,
                )
                .await?;
                let (promotion_code, coupon_id) = match priced.promotion {
                    Some((p, c)) => (Some(p.code), Some(c.id)),
                    None => (None, None),
                };
                Ok((
                    StatusCode::OK,
                    Quote {
                        object: "quote",
                        customer_id,
                        company_id: priced.company_id,
                        currency,
                        priced_at: at,
                        lines: priced.lines,
                        totals: priced.totals,
                        promotion_code,
                        coupon_id,
                    },
                ))
            })
        })
        .await
}
