//! Coupons and promotion codes: discounts and the codes that redeem them.
//!
//! Redemptions are counted in the checkout's transaction by a conditional update (see
//! `bursar_store::discounts::redeem`), so a code limited to N redemptions is redeemed at most N
//! times however many checkouts race for it; an expired or canceled checkout gives its
//! redemption back.

use bursar_domain::commerce::*;
use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::id::*;
use bursar_domain::money::Currency;
use bursar_domain::time::Timestamp;
use bursar_domain::ValidationError;
use bursar_store::documents::{self, COUPON, PRODUCT, PROMOTION_CODE};
use bursar_store::Tx;
use serde_json::json;

use crate::error::{Error, ErrorKind};
use crate::lookup;
use crate::write::Context;
use crate::App;

/// A redemption limit, checked: at least 1 when given.
pub fn parse_limit(value: Option<i64>, param: &str) -> Result<Option<i64>, ValidationError> {
    match value {
        Some(n) if n < 1 => Err(ValidationError::invalid(
            param,
            format!("{param} must be at least 1."),
        )),
        other => Ok(other),
    }
}

/// An optional RFC 3339 instant, naming the field when it is not one.
pub fn parse_time(
    value: Option<String>,
    param: &str,
) -> Result<Option<Timestamp>, ValidationError> {
    value
        .map(|v| {
            Timestamp::parse_rfc3339(&v).ok_or_else(|| {
                ValidationError::invalid(param, format!("'{v}' is not an RFC 3339 timestamp."))
            })
        })
        .transpose()
}

/// The coupon with its authoritative redemption count.
pub async fn load_coupon(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    id: &str,
) -> Result<Option<Coupon>, Error> {
    let Some(mut coupon) = documents::get::<Coupon>(tx, COUPON, workspace_id, id, false).await?
    else {
        return Ok(None);
    };
    coupon.times_redeemed =
        bursar_store::discounts::times_redeemed(tx, COUPON, workspace_id, id).await?;
    Ok(Some(coupon))
}

/// The promotion code with its authoritative redemption count.
pub async fn load_promotion_code(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    id: &str,
) -> Result<Option<PromotionCode>, Error> {
    let Some(mut code) =
        documents::get::<PromotionCode>(tx, PROMOTION_CODE, workspace_id, id, false).await?
    else {
        return Ok(None);
    };
    code.times_redeemed =
        bursar_store::discounts::times_redeemed(tx, PROMOTION_CODE, workspace_id, id).await?;
    Ok(Some(code))
}

/// The authoritative redemption counts of listed coupons or codes (the stored bodies keep the
/// count they were created or last changed with).
pub async fn redemption_counts(
    state: &App,
    workspace_id: &WorkspaceId,
    table: documents::Table,
    ids: Vec<String>,
) -> Result<Vec<i64>, Error> {
    let workspace_id = workspace_id.clone();
    Ok(state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let mut counts = Vec::with_capacity(ids.len());
                for id in &ids {
                    counts.push(
                        bursar_store::discounts::times_redeemed(tx, table, &workspace_id, id)
                            .await?,
                    );
                }
                Ok::<_, bursar_store::StoreError>(counts)
            })
        })
        .await?)
}

/// What a coupon takes off and for how long, checked: exactly one of a percentage (1 to 100)
/// and a positive amount (with its currency); `once` by default, and a month count (1 to
/// 120) for `repeating` coupons only. Returns the duration and its months.
pub fn coupon_terms(
    percent_off: Option<i64>,
    amount_off: Option<i64>,
    currency: Option<Currency>,
    duration: Option<CouponDuration>,
    duration_in_months: Option<i64>,
) -> Result<(CouponDuration, Option<i64>), ValidationError> {
    match (percent_off, amount_off) {
        (Some(p), None) if (1..=100).contains(&p) => {}
        (Some(_), None) => {
            return Err(ValidationError::invalid(
                "percent_off",
                "percent_off must be 1 to 100.",
            ))
        }
        (None, Some(a)) if a > 0 => {
            bursar_domain::money::check_amount_cap(a, "amount_off")?;
            if currency.is_none() {
                return Err(ValidationError::missing("currency"));
            }
        }
        (None, Some(_)) => {
            return Err(ValidationError::invalid(
                "amount_off",
                "amount_off must be positive.",
            ))
        }
        _ => {
            return Err(ValidationError::invalid(
                "percent_off",
                "Give exactly one of percent_off and amount_off.",
            ))
        }
    }
    let duration = duration.unwrap_or(CouponDuration::Once);
    let months = match (duration, duration_in_months) {
        (CouponDuration::Repeating, Some(m)) if (1..=120).contains(&m) => Some(m),
        (CouponDuration::Repeating, _) => {
            return Err(ValidationError::invalid(
                "duration_in_months",
                "repeating coupons need 1 to 120 months.",
            ))
        }
        (_, Some(_)) => {
            return Err(ValidationError::invalid(
                "duration_in_months",
                "Only repeating coupons have duration_in_months.",
            ))
        }
        (_, None) => None,
    };
    Ok((duration, months))
}

/// A coupon to create, its terms checked by [`coupon_terms`].
#[derive(Debug, Clone)]
pub struct NewCoupon {
    pub name: Option<String>,
    pub percent_off: Option<i64>,
    pub amount_off: Option<i64>,
    pub currency: Option<Currency>,
    pub duration: CouponDuration,
    pub duration_in_months: Option<i64>,
    /// The products it is limited to; every product when absent.
    pub applies_to: Option<Vec<ProductId>>,
    pub redeem_by: Option<Timestamp>,
    pub max_redemptions: Option<i64>,
}

/// Creates a coupon (the products it is limited to must exist) and records
/// `coupon.created`.
pub async fn create_coupon(cx: &mut Context<'_>, new: NewCoupon) -> Result<Coupon, Error> {
    for (i, product) in new.applies_to.iter().flatten().enumerate() {
        lookup::get_in::<Product>(
            cx,
            PRODUCT,
            "product",
            product.as_str(),
            &format!("applies_to[{i}]"),
        )
        .await?;
    }
    let coupon = Coupon {
        id: CouponId::new(),
        object: "coupon".into(),
        name: new.name,
        percent_off: new.percent_off,
        amount_off: new.amount_off,
        currency: new.currency,
        duration: new.duration,
        duration_in_months: new.duration_in_months,
        applies_to: new.applies_to,
        redeem_by: new.redeem_by,
        max_redemptions: new.max_redemptions,
        times_redeemed: 0,
        created_at: cx.now,
    };
    documents::insert(
        cx.tx,
        COUPON,
        cx.workspace_id,
        coupon.id.as_str(),
        &coupon,
        &[("times_redeemed", 0i64.into())],
    )
    .await?;
    cx.emit(NewEvent::new(
        event_type::COUPON_CREATED,
        "coupon",
        coupon.id.as_str(),
        json!({ "object": coupon }),
    ))
    .await?;
    Ok(coupon)
}

/// A promotion code as stored: trimmed, upper case, 3 to 40 letters, digits, `-` or `_`.
pub fn parse_code(code: &str) -> Result<String, ValidationError> {
    let code = code.trim().to_ascii_uppercase();
    if !(3..=40).contains(&code.len())
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ValidationError::invalid(
            "code",
            "code must be 3 to 40 letters, digits, '-' or '_'.",
        ));
    }
    Ok(code)
}

/// A promotion code to create, its code as [`parse_code`] stores it.
#[derive(Debug, Clone)]
pub struct NewPromotionCode {
    pub coupon_id: CouponId,
    pub code: String,
    pub max_redemptions: Option<i64>,
    pub expires_at: Option<Timestamp>,
}

/// Creates an active promotion code for an existing coupon, its code unused in the
/// workspace, and records `promotion_code.created`.
pub async fn create_promotion_code(
    cx: &mut Context<'_>,
    new: NewPromotionCode,
) -> Result<PromotionCode, Error> {
    lookup::get_in::<Coupon>(cx, COUPON, "coupon", new.coupon_id.as_str(), "coupon_id").await?;
    if bursar_store::discounts::promotion_code_id(cx.tx, cx.workspace_id, &new.code)
        .await?
        .is_some()
    {
        return Err(Error::new(
            ErrorKind::Conflict,
            "promotion_code_exists",
            format!("A promotion code '{}' already exists.", new.code),
        )
        .with_param("code"));
    }
    let promotion = PromotionCode {
        id: PromotionCodeId::new(),
        object: "promotion_code".into(),
        code: new.code,
        coupon_id: new.coupon_id,
        active: true,
        max_redemptions: new.max_redemptions,
        times_redeemed: 0,
        expires_at: new.expires_at,
        created_at: cx.now,
    };
    documents::insert(
        cx.tx,
        PROMOTION_CODE,
        cx.workspace_id,
        promotion.id.as_str(),
        &promotion,
        &[
            ("code", promotion.code.as_str().into()),
            ("times_redeemed", 0i64.into()),
        ],
    )
    .await?;
    cx.emit(NewEvent::new(
        event_type::PROMOTION_CODE_CREATED,
        "promotion_code",
        promotion.id.as_str(),
        json!({ "object": promotion }),
    ))
    .await?;
    Ok(promotion)
}

/// Deactivates or reactivates promotion code `id` (`None` leaves it) and records
/// `promotion_code.updated`.
pub async fn update_promotion_code(
    cx: &mut Context<'_>,
    id: &str,
    active: Option<bool>,
) -> Result<PromotionCode, Error> {
    let mut promotion = load_promotion_code(cx.tx, cx.workspace_id, id)
        .await?
        .ok_or_else(|| Error::not_found("promotion_code", id))?;
    if let Some(active) = active {
        promotion.active = active;
    }
    documents::save(cx.tx, PROMOTION_CODE, cx.workspace_id, id, &promotion, &[]).await?;
    cx.emit(NewEvent::new(
        event_type::PROMOTION_CODE_UPDATED,
        "promotion_code",
        id,
        json!({ "object": promotion }),
    ))
    .await?;
    Ok(promotion)
}
