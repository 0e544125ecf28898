//! Redemptions of coupons and promotion codes: counted by conditional updates, so a limit
//! holds under concurrency.

use bursar_domain::id::WorkspaceId;

use crate::documents::Table;
use crate::{params, StoreError, Tx};

/// Counts one redemption of a promotion code and its coupon, atomically: only while both are
/// under their limits. Returns false (and changes nothing) when either limit is reached.
pub async fn redeem(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    promotion_code_id: &str,
    promotion_max: Option<i64>,
    coupon_id: &str,
    coupon_max: Option<i64>,
) -> Result<bool, StoreError> {
    let ws = workspace_id.as_str();
    let code = tx
        .execute(
            "update promotion_code set times_redeemed = times_redeemed + 1 \
             where workspace_id = $1 and object_id = $2 and ($3 is null or times_redeemed < $3)",
            params![ws, promotion_code_id, promotion_max],
        )
        .await?;
    if code == 0 {
        return Ok(false);
    }
    let coupon = tx
        .execute(
            "update coupon set times_redeemed = times_redeemed + 1 \
             where workspace_id = $1 and object_id = $2 and ($3 is null or times_redeemed < $3)",
            params![ws, coupon_id, coupon_max],
        )
        .await?;
    if coupon == 0 {
        // Undo the code's count: the caller's transaction refuses the redemption as a whole.
        tx.execute(
            "update promotion_code set times_redeemed = times_redeemed - 1 \
             where workspace_id = $1 and object_id = $2",
            params![ws, promotion_code_id],
        )
        .await?;
        return Ok(false);
    }
    Ok(true)
}

/// Gives back a redemption (a checkout expired or the order was canceled).
pub async fn unredeem(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    promotion_code_id: &str,
    coupon_id: &str,
) -> Result<(), StoreError> {
    let ws = workspace_id.as_str();
    for table in ["promotion_code", "coupon"] {
        let id = if table == "coupon" {
            coupon_id
        } else {
            promotion_code_id
        };
        let sql = format!(
            "update {table} set times_redeemed = times_redeemed - 1 \
             where workspace_id = $1 and object_id = $2 and times_redeemed > 0"
        );
        tx.execute(&sql, params![ws, id]).await?;
    }
    Ok(())
}

/// The authoritative redemption count of a coupon or promotion code.
pub async fn times_redeemed(
    tx: &mut Tx,
    table: Table,
    workspace_id: &WorkspaceId,
    id: &str,
) -> Result<i64, StoreError> {
    let sql = format!(
        "select times_redeemed from {} where workspace_id = $1 and object_id = $2",
        table.0
    );
    match tx
        .fetch_optional(&sql, params![workspace_id.as_str(), id])
        .await?
    {
        Some(row) => row.i64("times_redeemed"),
        None => Ok(0),
    }
}

/// The promotion code's id for a code as typed (case-insensitive).
pub async fn promotion_code_id(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    code: &str,
) -> Result<Option<String>, StoreError> {
    let row = tx
        .fetch_optional(
            "select object_id from promotion_code where workspace_id = $1 and code = $2",
            params![workspace_id.as_str(), code.trim().to_ascii_uppercase()],
        )
        .await?;
    row.map(|r| r.text("object_id")).transpose()
}
