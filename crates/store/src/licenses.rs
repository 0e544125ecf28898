//! What Bursar keeps of license keys besides the license document: the keyed hash it finds a
//! key by (a column of the `license` table, unique), and a sealed copy of the key only until
//! the key was both emailed and shown once to the order's owner.

use bursar_domain::id::{CustomerId, WorkspaceId};
use bursar_domain::time::Timestamp;

use crate::{params, StoreError, Tx, Value};

/// A license's sealed key, while it is kept.
#[derive(Debug, Clone)]
pub struct SealedKey {
    pub license_id: String,
    pub sealed: Option<String>,
    pub emailed: bool,
    pub revealed: bool,
}

/// The sealed keys of licenses, by id (those that exist).
pub async fn sealed_keys(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    license_ids: &[String],
) -> Result<Vec<SealedKey>, StoreError> {
    let mut keys = Vec::with_capacity(license_ids.len());
    for id in license_ids {
        let row = tx
            .fetch_optional(
                "select object_id, key_sealed, emailed_at, revealed_at from license \
                 where workspace_id = $1 and object_id = $2",
                params![workspace_id.as_str(), id.as_str()],
            )
            .await?;
        if let Some(row) = row {
            keys.push(SealedKey {
                license_id: row.text("object_id")?,
                sealed: row.opt_text("key_sealed")?,
                emailed: row.opt_i64("emailed_at")?.is_some(),
                revealed: row.opt_i64("revealed_at")?.is_some(),
            });
        }
    }
    Ok(keys)
}

/// Records that the keys of `license_ids` were emailed (`column` `emailed_at`) or shown
/// (`revealed_at`), and erases each sealed copy that has now been both.
pub async fn mark_delivered(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    license_ids: &[String],
    column: Delivery,
    now: Timestamp,
) -> Result<(), StoreError> {
    let column = match column {
        Delivery::Emailed => "emailed_at",
        Delivery::Revealed => "revealed_at",
    };
    for id in license_ids {
        tx.execute(
            &format!(
                "update license set {column} = coalesce({column}, $3) \
                 where workspace_id = $1 and object_id = $2"
            ),
            params![workspace_id.as_str(), id.as_str(), now.unix_micros()],
        )
        .await?;
        tx.execute(
            "update license set key_sealed = null where workspace_id = $1 and object_id = $2 \
             and emailed_at is not null and revealed_at is not null",
            params![workspace_id.as_str(), id.as_str()],
        )
        .await?;
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Emailed,
    Revealed,
}

/// Customers with this email address, in every workspace.
pub async fn customers_by_email(
    tx: &mut Tx,
    email: &str,
) -> Result<Vec<(WorkspaceId, CustomerId)>, StoreError> {
    let rows = tx
        .fetch_all(
            "select workspace_id, customer_id from customer where lower(email) = lower($1) \
             order by workspace_id, customer_id limit 100",
            &[Value::from(email)],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok((
                WorkspaceId::from_trusted(row.text("workspace_id")?),
                CustomerId::from_trusted(row.text("customer_id")?),
            ))
        })
        .collect()
}
