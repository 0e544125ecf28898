//! The pricing resolver: which price a buyer pays for a product, and why.
//!
//! Precedence, first match wins:
//! 1. **agreement** — an agreement of the buyer's company that is `active` at the pricing
//!    instant (`effective_from <= at < effective_to`), in the order's currency, with a line for
//!    the product whose `min_quantity` the quantity reaches. When several match, the one that
//!    took effect last wins (then the highest `min_quantity`), so a renegotiated deal overrides
//!    the old one without editing it.
//! 2. **price_book** — an active price of the product in the customer's price book (or, when the
//!    customer has none, its company's), in the currency.
//! 3. **default** — the product's active default price (no price book) in the currency.
//!
//! One-time prices are preferred to recurring ones, then the newest. A product with no price in
//! the currency is refused as `currency_mismatch` when it has prices in other currencies and
//! `price_not_found` when it has none at all. Coupons apply after the unit price is chosen.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::catalog::*;
use crate::id::*;
use crate::money::Currency;
use crate::time::Timestamp;
use crate::ValidationError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PricingRule {
    Agreement,
    PriceBook,
    Default,
}

// What a buyer would pay (no doc comment: it would become the API schema's description).
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

/// A priced line of a quote or an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PricedLine {
    pub product_id: ProductId,
    pub product_name: String,
    pub product_kind: ProductKind,
    pub quantity: i64,
    pub currency: Currency,
    pub unit_amount: i64,
    /// `unit_amount × quantity`.
    pub amount: i64,
    /// Coupon discount on this line.
    pub discount_amount: i64,
    /// `amount − discount_amount`.
    pub total: i64,
    /// The rule that chose the price.
    pub rule: PricingRule,
    /// The price (`price_…`) or the agreement (`agr_…`) the unit amount comes from.
    pub source_id: String,
    pub tax_behavior: TaxBehavior,
}

/// What the resolver knows about the buyer and the catalog.
#[derive(Debug, Clone)]
pub struct PricingContext<'a> {
    pub currency: Currency,
    pub at: Timestamp,
    /// Agreements of the buyer's company (any status; the resolver checks).
    pub agreements: &'a [PriceAgreement],
    /// The customer's (or else its company's) price book.
    pub price_book_id: Option<&'a PriceBookId>,
    /// Every price of the products being priced.
    pub prices: &'a [Price],
}

/// Why a line cannot be priced; `param` names the line.
pub fn resolve_line(
    context: &PricingContext<'_>,
    product: &Product,
    quantity: i64,
    param: &str,
) -> Result<PricedLine, ValidationError> {
    if quantity <= 0 || quantity > 1_000_000 {
        return Err(ValidationError::invalid(
            format!("{param}[quantity]"),
            "quantity must be between 1 and 1000000.",
        ));
    }
    if product.status != CatalogStatus::Active {
        return Err(ValidationError {
            param: format!("{param}[product]"),
            code: "product_archived",
            message: format!("Product {} is archived and cannot be sold.", product.id),
        });
    }
    let (unit_amount, rule, source_id, tax_behavior) =
        if let Some((agreement, line)) = agreement_line(context, &product.id, quantity) {
            // The agreement negotiates the amount; tax behaviour follows the product's list price.
            let tax = list_price(context, &product.id, context.price_book_id)
                .or_else(|| list_price(context, &product.id, None))
                .map_or(TaxBehavior::Exclusive, |p| p.tax_behavior);
            (
                line.unit_amount,
                PricingRule::Agreement,
                agreement.id.to_string(),
                tax,
            )
        } else if let Some(price) = context
            .price_book_id
            .and_then(|book| list_price(context, &product.id, Some(book)))
        {
            (
                price.unit_amount,
                PricingRule::PriceBook,
                price.id.to_string(),
                price.tax_behavior,
            )
        } else if let Some(price) = list_price(context, &product.id, None) {
            (
                price.unit_amount,
                PricingRule::Default,
                price.id.to_string(),
                price.tax_behavior,
            )
        } else {
            return Err(no_price(context, product, param));
        };
    let amount = unit_amount.checked_mul(quantity).ok_or_else(|| {
        ValidationError::invalid(format!("{param}[quantity]"), "The line's amount overflows.")
    })?;
    Ok(PricedLine {
        product_id: product.id.clone(),
        product_name: product.name.clone(),
        product_kind: product.kind,
        quantity,
        currency: context.currency,
        unit_amount,
        amount,
        discount_amount: 0,
        total: amount,
        rule,
        source_id,
        tax_behavior,
    })
}

fn agreement_line<'a>(
    context: &PricingContext<'a>,
    product: &ProductId,
    quantity: i64,
) -> Option<(&'a PriceAgreement, &'a AgreementLine)> {
    context
        .agreements
        .iter()
        .filter(|a| a.currency == context.currency && a.applies_at(context.at))
        .flat_map(|a| a.lines.iter().map(move |line| (a, line)))
        .filter(|(_, line)| &line.product_id == product && quantity >= line.min_quantity)
        .max_by(|(a, la), (b, lb)| {
            (a.effective_from, la.min_quantity, &a.id).cmp(&(
                b.effective_from,
                lb.min_quantity,
                &b.id,
            ))
        })
}

fn list_price<'a>(
    context: &PricingContext<'a>,
    product: &ProductId,
    book: Option<&PriceBookId>,
) -> Option<&'a Price> {
    context
        .prices
        .iter()
        .filter(|p| {
            p.active
                && &p.product_id == product
                && p.currency == context.currency
                && p.price_book_id.as_ref() == book
        })
        .max_by_key(|p| {
            (
                p.price_type == PriceType::OneTime,
                p.created_at,
                p.id.clone(),
            )
        })
}

fn no_price(context: &PricingContext<'_>, product: &Product, param: &str) -> ValidationError {
    let mut others: Vec<&str> = context
        .prices
        .iter()
        .filter(|p| p.active && p.product_id == product.id)
        .map(|p| p.currency.code())
        .collect();
    others.sort_unstable();
    others.dedup();
    if others.is_empty() {
        ValidationError {
            param: format!("{param}[product]"),
            code: "price_not_found",
            message: format!("Product {} has no active price.", product.id),
        }
    } else {
        ValidationError {
            param: "currency".into(),
            code: "currency_mismatch",
            message: format!(
                "Product {} has no price in {}; it is priced in {}.",
                product.id,
                context.currency,
                others.join(", ")
            ),
        }
    }
}

/// Checks that `coupon` can be redeemed at `at` for an order in `currency`.
pub fn check_coupon(
    coupon: &Coupon,
    currency: Currency,
    at: Timestamp,
    param: &str,
) -> Result<(), ValidationError> {
    let refuse = |code, message: String| ValidationError {
        param: param.to_owned(),
        code,
        message,
    };
    if coupon.redeem_by.is_some_and(|end| at > end) {
        return Err(refuse(
            "coupon_expired",
            format!("Coupon {} has expired.", coupon.id),
        ));
    }
    if coupon
        .max_redemptions
        .is_some_and(|max| coupon.times_redeemed >= max)
    {
        return Err(refuse(
            "coupon_exhausted",
            format!("Coupon {} has reached its redemption limit.", coupon.id),
        ));
    }
    if coupon.amount_off.is_some() && coupon.currency != Some(currency) {
        return Err(refuse(
            "currency_mismatch",
            format!(
                "Coupon {} is an amount off in {}; the order is in {currency}.",
                coupon.id,
                coupon.currency.map_or("another currency", |c| c.code())
            ),
        ));
    }
    Ok(())
}

/// Applies a coupon to priced lines: a percent off each eligible line (rounded half up per
/// line), or an amount off spread over the eligible lines in proportion to their amounts
/// (largest remainder, so the parts add up exactly), never more than they cost.
pub fn apply_coupon(coupon: &Coupon, lines: &mut [PricedLine]) {
    let eligible: Vec<usize> = (0..lines.len())
        .filter(|&i| coupon.applies_to_product(&lines[i].product_id))
        .collect();
    if let Some(percent) = coupon.percent_off {
        for &i in &eligible {
            let amount = i128::from(lines[i].amount);
            let off = (amount * i128::from(percent) + 50) / 100;
            set_discount(&mut lines[i], i64::try_from(off).unwrap_or(i64::MAX));
        }
    } else if let Some(amount_off) = coupon.amount_off {
        let base: i128 = eligible.iter().map(|&i| i128::from(lines[i].amount)).sum();
        if base == 0 {
            return;
        }
        let total_off = i128::from(amount_off).min(base);
        let mut shares: Vec<(usize, i128, i128)> = eligible
            .iter()
            .map(|&i| {
                let exact = total_off * i128::from(lines[i].amount);
                (i, exact / base, exact % base)
            })
            .collect();
        let mut left = total_off - shares.iter().map(|s| s.1).sum::<i128>();
        shares.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
        for share in &mut shares {
            if left == 0 {
                break;
            }
            share.1 += 1;
            left -= 1;
        }
        for (i, off, _) in shares {
            set_discount(&mut lines[i], i64::try_from(off).unwrap_or(i64::MAX));
        }
    }
}

fn set_discount(line: &mut PricedLine, off: i64) {
    line.discount_amount = off.clamp(0, line.amount);
    line.total = line.amount - line.discount_amount;
}

/// Sums of priced lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Totals {
    pub subtotal: i64,
    pub discount: i64,
    pub total: i64,
}

pub fn totals(lines: &[PricedLine]) -> Result<Totals, ValidationError> {
    let overflow = || ValidationError::invalid("lines", "The order's total overflows.");
    let mut totals = Totals {
        subtotal: 0,
        discount: 0,
        total: 0,
    };
    for line in lines {
        totals.subtotal = totals
            .subtotal
            .checked_add(line.amount)
            .ok_or_else(overflow)?;
        totals.discount = totals
            .discount
            .checked_add(line.discount_amount)
            .ok_or_else(overflow)?;
        totals.total = totals.total.checked_add(line.total).ok_or_else(overflow)?;
    }
    Ok(totals)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::metadata::Metadata;

    fn t(seconds: i64) -> Timestamp {
        Timestamp::from_unix_micros(seconds * 1_000_000)
    }

    fn usd() -> Currency {
        Currency::from_code("USD").unwrap()
    }

    fn product() -> Product {
        Product {
            id: ProductId::new(),
            object: "product".into(),
            name: "Widget".into(),
            kind: ProductKind::Digital,
            status: CatalogStatus::Active,
            description: None,
            license: None,
            serialized: false,
            metadata: Metadata::default(),
            created_at: t(0),
            updated_at: t(0),
        }
    }

    fn price(
        product: &ProductId,
        book: Option<&PriceBookId>,
        currency: Currency,
        amount: i64,
    ) -> Price {
        Price {
            id: PriceId::new(),
            object: "price".into(),
            product_id: product.clone(),
            price_book_id: book.cloned(),
            currency,
            unit_amount: amount,
            price_type: PriceType::OneTime,
            recurring: None,
            tax_behavior: TaxBehavior::Exclusive,
            active: true,
            nickname: None,
            created_at: t(0),
        }
    }

    fn agreement(
        product: &ProductId,
        amount: i64,
        from: i64,
        to: Option<i64>,
        status: AgreementStatus,
    ) -> PriceAgreement {
        PriceAgreement {
            id: AgreementId::new(),
            object: "price_agreement".into(),
            company_id: CompanyId::new(),
            name: "Deal".into(),
            currency: usd(),
            status,
            effective_from: t(from),
            effective_to: to.map(t),
            lines: vec![AgreementLine {
                product_id: product.clone(),
                unit_amount: amount,
                min_quantity: 1,
            }],
            version: 1,
            created_at: t(0),
            updated_at: t(0),
        }
    }

    fn resolve(
        p: &Product,
        prices: &[Price],
        book: Option<&PriceBookId>,
        agreements: &[PriceAgreement],
        at: i64,
        currency: Currency,
    ) -> Result<PricedLine, ValidationError> {
        let context = PricingContext {
            currency,
            at: t(at),
            agreements,
            price_book_id: book,
            prices,
        };
        resolve_line(&context, p, 2, "lines[0]")
    }

    #[test]
    fn agreement_beats_price_book_beats_default() {
        let p = product();
        let book = PriceBookId::new();
        let prices = vec![
            price(&p.id, None, usd(), 1000),
            price(&p.id, Some(&book), usd(), 900),
        ];
        let deal = agreement(&p.id, 700, 100, Some(200), AgreementStatus::Active);

        let line = resolve(
            &p,
            &prices,
            Some(&book),
            std::slice::from_ref(&deal),
            150,
            usd(),
        )
        .unwrap();
        assert_eq!(
            (line.rule, line.unit_amount, line.amount),
            (PricingRule::Agreement, 700, 1400)
        );
        assert_eq!(line.source_id, deal.id.to_string());

        let line = resolve(&p, &prices, Some(&book), &[], 150, usd()).unwrap();
        assert_eq!((line.rule, line.unit_amount), (PricingRule::PriceBook, 900));

        let line = resolve(&p, &prices, None, std::slice::from_ref(&deal), 250, usd()).unwrap();
        assert_eq!((line.rule, line.unit_amount), (PricingRule::Default, 1000));
    }

    #[test]
    fn effective_dates_are_inclusive_from_and_exclusive_to() {
        let p = product();
        let prices = vec![price(&p.id, None, usd(), 1000)];
        let deal = agreement(&p.id, 700, 100, Some(200), AgreementStatus::Active);
        let at = |s| {
            resolve(&p, &prices, None, std::slice::from_ref(&deal), s, usd())
                .unwrap()
                .rule
        };
        assert_eq!(at(99), PricingRule::Default);
        assert_eq!(at(100), PricingRule::Agreement);
        assert_eq!(at(199), PricingRule::Agreement);
        assert_eq!(at(200), PricingRule::Default);
        assert_eq!(deal.status_at(t(200)), AgreementStatus::Expired);
    }

    #[test]
    fn draft_and_expired_agreements_never_apply_and_the_latest_deal_wins() {
        let p = product();
        let prices = vec![price(&p.id, None, usd(), 1000)];
        let draft = agreement(&p.id, 500, 0, None, AgreementStatus::Draft);
        let expired = agreement(&p.id, 400, 0, None, AgreementStatus::Expired);
        let line = resolve(&p, &prices, None, &[draft, expired], 10, usd()).unwrap();
        assert_eq!(line.rule, PricingRule::Default);

        let old = agreement(&p.id, 800, 0, None, AgreementStatus::Active);
        let new = agreement(&p.id, 750, 50, None, AgreementStatus::Active);
        let line = resolve(&p, &prices, None, &[new.clone(), old.clone()], 60, usd()).unwrap();
        assert_eq!(
            (line.unit_amount, line.source_id),
            (750, new.id.to_string())
        );
        let line = resolve(&p, &prices, None, &[new, old.clone()], 40, usd()).unwrap();
        assert_eq!(
            (line.unit_amount, line.source_id),
            (800, old.id.to_string())
        );
    }

    #[test]
    fn currencies_never_mix() {
        let p = product();
        let eur = Currency::from_code("EUR").unwrap();
        let prices = vec![price(&p.id, None, usd(), 1000)];
        // A USD agreement does not price a EUR order, and a product without EUR prices is refused.
        let deal = agreement(&p.id, 700, 0, None, AgreementStatus::Active);
        let error = resolve(&p, &prices, None, &[deal], 10, eur).unwrap_err();
        assert_eq!(
            (error.code, error.param.as_str()),
            ("currency_mismatch", "currency")
        );
        assert!(error.message.contains("USD"), "{}", error.message);
        let error = resolve(&p, &[], None, &[], 10, usd()).unwrap_err();
        assert_eq!(error.code, "price_not_found");
        // A price book price in another currency falls through to the default.
        let book = PriceBookId::new();
        let prices = vec![
            price(&p.id, None, usd(), 1000),
            price(&p.id, Some(&book), eur, 900),
        ];
        assert_eq!(
            resolve(&p, &prices, Some(&book), &[], 10, usd())
                .unwrap()
                .rule,
            PricingRule::Default
        );
    }

    #[test]
    fn archived_products_and_bad_quantities_are_refused() {
        let mut p = product();
        let prices = vec![price(&p.id, None, usd(), 1000)];
        let context = PricingContext {
            currency: usd(),
            at: t(0),
            agreements: &[],
            price_book_id: None,
            prices: &prices,
        };
        assert_eq!(
            resolve_line(&context, &p, 0, "lines[1]").unwrap_err().param,
            "lines[1][quantity]"
        );
        p.status = CatalogStatus::Archived;
        assert_eq!(
            resolve_line(&context, &p, 1, "lines[1]").unwrap_err().code,
            "product_archived"
        );
    }

    fn coupon(percent: Option<i64>, amount: Option<i64>) -> Coupon {
        Coupon {
            id: CouponId::new(),
            object: "coupon".into(),
            name: None,
            percent_off: percent,
            amount_off: amount,
            currency: amount.map(|_| usd()),
            duration: CouponDuration::Once,
            duration_in_months: None,
            applies_to: None,
            redeem_by: None,
            max_redemptions: None,
            times_redeemed: 0,
            created_at: t(0),
        }
    }

    #[test]
    fn amount_off_is_spread_exactly_and_percent_rounds_half_up() {
        let a = product();
        let b = product();
        let prices = vec![
            price(&a.id, None, usd(), 333),
            price(&b.id, None, usd(), 667),
        ];
        let context = PricingContext {
            currency: usd(),
            at: t(0),
            agreements: &[],
            price_book_id: None,
            prices: &prices,
        };
        let lines = vec![
            resolve_line(&context, &a, 1, "l").unwrap(),
            resolve_line(&context, &b, 1, "l").unwrap(),
        ];

        let mut off = lines.clone();
        apply_coupon(&coupon(None, Some(100)), &mut off);
        assert_eq!(
            totals(&off).unwrap(),
            Totals {
                subtotal: 1000,
                discount: 100,
                total: 900
            }
        );
        assert_eq!((off[0].discount_amount, off[1].discount_amount), (33, 67));

        let mut off = lines.clone();
        apply_coupon(&coupon(None, Some(5000)), &mut off);
        assert_eq!(
            totals(&off).unwrap().total,
            0,
            "never more than the lines cost"
        );

        let mut off = lines.clone();
        apply_coupon(&coupon(Some(15), None), &mut off);
        // 333 × 15% = 49.95 → 50; 667 × 15% = 100.05 → 100.
        assert_eq!((off[0].discount_amount, off[1].discount_amount), (50, 100));

        let mut only_b = coupon(Some(50), None);
        only_b.applies_to = Some(vec![b.id.clone()]);
        let mut off = lines;
        apply_coupon(&only_b, &mut off);
        assert_eq!((off[0].discount_amount, off[1].discount_amount), (0, 334));
    }

    #[test]
    fn coupons_check_expiry_limits_and_currency() {
        let mut c = coupon(None, Some(100));
        assert!(check_coupon(&c, usd(), t(0), "promotion_code").is_ok());
        assert_eq!(
            check_coupon(&c, Currency::from_code("EUR").unwrap(), t(0), "p")
                .unwrap_err()
                .code,
            "currency_mismatch"
        );
        c.redeem_by = Some(t(10));
        assert_eq!(
            check_coupon(&c, usd(), t(11), "p").unwrap_err().code,
            "coupon_expired"
        );
        c.redeem_by = None;
        c.max_redemptions = Some(1);
        c.times_redeemed = 1;
        assert_eq!(
            check_coupon(&c, usd(), t(0), "p").unwrap_err().code,
            "coupon_exhausted"
        );
    }
}
