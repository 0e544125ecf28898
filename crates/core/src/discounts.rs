//! Coupons and promotion codes: discounts and the codes that redeem them.
//!
//! Redemptions are counted in the checkout's transaction by a conditional update (see
//! `bursar_store::discounts::redeem`), so a code limited to N redemptions is redeemed at most N
//! times however many checkouts race for it; an expired or canceled checkout gives its
//! redemption back.

use bursar_domain::commerce::*;
use bursar_domain::id::*;
use bursar_domain::time::Timestamp;
use bursar_domain::ValidationError;
use bursar_store::documents::{self, COUPON, PROMOTION_CODE};
use bursar_store::Tx;

use crate::error::Error;
use crate::App;

pub fn parse_limit(value: Option<i64>, param: &str) -> Result<Option<i64>, ValidationError> {
    match value {
        Some(n) if n < 1 => Err(ValidationError::invalid(
            param,
            format!("{param} must be at least 1."),
        )),
        other => Ok(other),
    }
}

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
