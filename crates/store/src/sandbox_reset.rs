//! Resetting a sandbox: every row of its data deleted in one transaction, except the workspace
//! itself and its API keys, so the same keys start again on an empty sandbox.
//!
//! The tables are named here, not found at run time: a new table holding a workspace's rows
//! must be put in [`RESET_TABLES`] or [`KEPT_TABLES`] on purpose. Until it is, every reset
//! refuses to run (and the tests that reset a sandbox fail), so no table's sandbox rows can
//! outlive a reset unnoticed.

use bursar_domain::auth::WorkspaceMode;
use bursar_domain::id::WorkspaceId;

use crate::{params, workspaces, Backend, StoreError, Tx};

/// Tables whose rows of the workspace (`workspace_id = $1`) a reset deletes.
pub const RESET_TABLES: &[&str] = &[
    "ach_mandate",
    "artifact",
    "audit_entry",
    "audit_head",
    "automation_run",
    "automation_scenario",
    "bank_connection",
    "bank_transaction",
    "bank_webhook",
    "billing_status",
    "commerce_order",
    "company",
    "company_contact",
    "contract",
    "contract_log",
    "coupon",
    "courier_connection",
    "credit_note",
    "customer",
    "device",
    "device_assignment",
    "domain_event",
    "download_link",
    "dunning_assignment",
    "dunning_policy",
    "email_message",
    "event_delivery",
    "expected_payment",
    "idempotency_key",
    "invoice",
    "invoice_payment",
    "invoice_sequence",
    "invoice_settings",
    "job_run",
    "ledger_account",
    "ledger_clock",
    "ledger_entry",
    "ledger_failed_id",
    "ledger_pending",
    "ledger_transfer",
    "license",
    "meter",
    "onboarding_step",
    "order_refund",
    "party_bank_account",
    "pay_in",
    "payment_method",
    "payment_provider",
    "payout",
    "payout_schedule",
    "portal_session",
    "portal_sign_in",
    "price",
    "price_agreement",
    "price_book",
    "product",
    "promotion_code",
    "provider_customer",
    "provider_event",
    "reconciliation_item",
    "shipment",
    "storefront",
    "subscription",
    "tax_rate",
    "test_checkout_session",
    "test_setup_session",
    "tracking_event",
    "usage_close",
    "usage_event",
    "usage_subject",
    "velocity_window",
    "wallet_holding",
    "webhook_attempt",
    "webhook_endpoint",
    "webhook_message",
];

/// Tables with a `workspace_id` whose rows a reset keeps: the workspace and its keys.
pub const KEPT_TABLES: &[&str] = &["workspace", "api_key"];

/// Tables holding a workspace's rows by meter (`meter_key`) rather than by workspace: deleted
/// with the workspace's meters.
pub const METER_TABLES: &[&str] = &["meter_rollup", "meter_unique"];

/// What a reset did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetOutcome {
    /// The sandbox is empty again; this many rows went.
    Reset { rows: u64 },
    /// No such workspace.
    Missing,
    /// The workspace is live: nothing was touched.
    Live,
}

/// Deletes every row of sandbox `workspace_id` but the workspace and its API keys. Refuses a
/// live workspace (whatever the caller checked), and refuses to start while a table with a
/// `workspace_id` is in neither list. Run it through [`crate::Db::write_alone`]: the SQLite
/// writer must forget the accounts and usage claims it caches.
pub async fn reset(tx: &mut Tx, workspace_id: &WorkspaceId) -> Result<ResetOutcome, StoreError> {
    let Some(workspace) = workspaces::get(tx, workspace_id).await? else {
        return Ok(ResetOutcome::Missing);
    };
    if workspace.mode != WorkspaceMode::Sandbox {
        return Ok(ResetOutcome::Live);
    }
    let unknown = unknown_tables(tx).await?;
    if !unknown.is_empty() {
        return Err(StoreError::Corrupt(format!(
            "BUG: the sandbox reset does not know the table(s) {} with a workspace_id; add each \
             to RESET_TABLES or KEPT_TABLES in store/src/sandbox_reset.rs",
            unknown.join(", ")
        )));
    }
    let mut rows = 0;
    for table in METER_TABLES {
        rows += tx
            .execute(
                &format!(
                    "delete from {table} where meter_key in \
                     (select meter_key from meter where workspace_id = $1)"
                ),
                params![workspace_id.as_str()],
            )
            .await?;
    }
    for table in RESET_TABLES {
        rows += tx
            .execute(
                &format!("delete from {table} where workspace_id = $1"),
                params![workspace_id.as_str()],
            )
            .await?;
    }
    Ok(ResetOutcome::Reset { rows })
}

/// Every table of the database with a `workspace_id` column, from the database's catalog.
pub async fn tables_with_workspace_id(tx: &mut Tx) -> Result<Vec<String>, StoreError> {
    let sql = match tx.backend() {
        Backend::Sqlite => {
            "select m.name as table_name from sqlite_master m \
             join pragma_table_info(m.name) c on c.name = 'workspace_id' \
             where m.type = 'table' order by m.name"
        }
        Backend::Postgres => {
            "select table_name::text as table_name from information_schema.columns \
             where column_name = 'workspace_id' and table_schema = current_schema() \
             order by table_name"
        }
    };
    let rows = tx.fetch_all(sql, &[]).await?;
    rows.iter().map(|row| row.text("table_name")).collect()
}

/// Tables with a `workspace_id` in neither [`RESET_TABLES`] nor [`KEPT_TABLES`].
pub async fn unknown_tables(tx: &mut Tx) -> Result<Vec<String>, StoreError> {
    Ok(tables_with_workspace_id(tx)
        .await?
        .into_iter()
        .filter(|t| !RESET_TABLES.contains(&t.as_str()) && !KEPT_TABLES.contains(&t.as_str()))
        .collect())
}
