//! Quotes: what a buyer would pay, line by line, with the rule behind each price.
//! Orders are priced by the same function, [`price_lines`].

use bursar_domain::commerce::*;
use bursar_domain::customer::Customer;
use bursar_domain::id::*;
use bursar_domain::money::Currency;
use bursar_domain::time::Timestamp;
use bursar_domain::ValidationError;
use bursar_store::documents::{self, COMPANY, PRICE, PRICE_AGREEMENT, PRODUCT};
use bursar_store::{customers, Tx};

use crate::discounts::{load_coupon, load_promotion_code};
use crate::error::Error;
use crate::write::Context;

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
) -> Result<Priced, Error> {
    let customer = match customer_id {
        Some(id) => Some(
            customers::get(tx, workspace_id, id, false)
                .await?
                .ok_or_else(|| {
                    Error::not_found("customer", id.as_str()).with_param("customer_id")
                })?,
        ),
        None => None,
    };
    let company_id = company_id
        .cloned()
        .or_else(|| customer.as_ref().and_then(|c| c.company_id.clone()));
    let company: Option<Company> = match &company_id {
        Some(id) => Some(
            documents::get(tx, COMPANY, workspace_id, id.as_str(), false)
                .await?
                .ok_or_else(|| Error::not_found("company", id.as_str()).with_param("company_id"))?,
        ),
        None => None,
    };
    let agreements: Vec<PriceAgreement> = match &company_id {
        Some(id) => {
            documents::find_in(
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
        documents::find_in(tx, PRICE, workspace_id, "product_id", &product_ids).await?;
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
        let product: Product =
            documents::get(tx, PRODUCT, workspace_id, product_id.as_str(), false)
                .await?
                .ok_or_else(|| {
                    Error::not_found("product", product_id.as_str())
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
pub async fn find_promotion(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    code: &str,
    at: Timestamp,
) -> Result<(PromotionCode, Coupon), Error> {
    let refuse = |code: &'static str, message: String| {
        Error::from(ValidationError {
            param: "promotion_code".into(),
            code,
            message,
        })
    };
    let id = bursar_store::discounts::promotion_code_id(tx, workspace_id, code)
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

/// What to quote: a buyer (a customer, or a company directly), lines of products and
/// quantities, a promotion code, and the instant to price at (now when absent).
#[derive(Debug, Clone)]
pub struct NewQuote {
    pub customer_id: Option<CustomerId>,
    pub company_id: Option<CompanyId>,
    pub currency: Currency,
    pub lines: Vec<(ProductId, i64)>,
    pub promotion_code: Option<String>,
    pub at: Option<Timestamp>,
}

/// Prices `new`'s lines for its buyer, changing nothing: each line names the rule that chose
/// its price.
pub async fn quote(cx: &mut Context<'_>, new: NewQuote) -> Result<Quote, Error> {
    let at = new.at.unwrap_or(cx.now);
    let priced = price_lines(
        cx.tx,
        cx.workspace_id,
        new.customer_id.as_ref(),
        new.company_id.as_ref(),
        new.currency,
        &new.lines,
        new.promotion_code.as_deref(),
        at,
    )
    .await?;
    let (promotion_code, coupon_id) = match priced.promotion {
        Some((p, c)) => (Some(p.code), Some(c.id)),
        None => (None, None),
    };
    Ok(Quote {
        object: "quote",
        customer_id: new.customer_id,
        company_id: priced.company_id,
        currency: new.currency,
        priced_at: at,
        lines: priced.lines,
        totals: priced.totals,
        promotion_code,
        coupon_id,
    })
}
