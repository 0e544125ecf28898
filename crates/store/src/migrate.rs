//! Schema migrations: numbered, embedded in the binary, applied in order, each recorded with a
//! checksum so that an edited migration is detected instead of silently diverging. A migration
//! is never edited once released; a change is a new migration.

use bursar_domain::time::Timestamp;

use crate::{params, Backend, StoreError, Tx};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "core",
        sqlite: include_str!("../migrations/sqlite/0001_core.sql"),
        postgres: include_str!("../migrations/postgres/0001_core.sql"),
    },
    Migration {
        version: 2,
        name: "ledger",
        sqlite: include_str!("../migrations/sqlite/0002_ledger.sql"),
        postgres: include_str!("../migrations/postgres/0002_ledger.sql"),
    },
    Migration {
        version: 3,
        name: "wallet",
        sqlite: include_str!("../migrations/sqlite/0003_wallet.sql"),
        postgres: include_str!("../migrations/postgres/0003_wallet.sql"),
    },
    Migration {
        version: 4,
        name: "events",
        sqlite: include_str!("../migrations/sqlite/0004_events.sql"),
        postgres: include_str!("../migrations/postgres/0004_events.sql"),
    },
    Migration {
        version: 5,
        name: "webhooks",
        sqlite: include_str!("../migrations/sqlite/0005_webhooks.sql"),
        postgres: include_str!("../migrations/postgres/0005_webhooks.sql"),
    },
    Migration {
        version: 6,
        name: "audit",
        sqlite: include_str!("../migrations/sqlite/0006_audit.sql"),
        postgres: include_str!("../migrations/postgres/0006_audit.sql"),
    },
    Migration {
        version: 7,
        name: "email",
        sqlite: include_str!("../migrations/sqlite/0007_email.sql"),
        postgres: include_str!("../migrations/postgres/0007_email.sql"),
    },
    Migration {
        version: 8,
        name: "commerce",
        sqlite: include_str!("../migrations/sqlite/0008_commerce.sql"),
        postgres: include_str!("../migrations/postgres/0008_commerce.sql"),
    },
    Migration {
        version: 9,
        name: "payment_methods",
        sqlite: include_str!("../migrations/sqlite/0009_payment_methods.sql"),
        postgres: include_str!("../migrations/postgres/0009_payment_methods.sql"),
    },
    Migration {
        version: 10,
        name: "test_session_expiry",
        sqlite: include_str!("../migrations/sqlite/0010_test_session_expiry.sql"),
        postgres: include_str!("../migrations/postgres/0010_test_session_expiry.sql"),
    },
    Migration {
        version: 11,
        name: "metering",
        sqlite: include_str!("../migrations/sqlite/0011_metering.sql"),
        postgres: include_str!("../migrations/postgres/0011_metering.sql"),
    },
    Migration {
        version: 12,
        name: "contracts",
        sqlite: include_str!("../migrations/sqlite/0012_contracts.sql"),
        postgres: include_str!("../migrations/postgres/0012_contracts.sql"),
    },
    Migration {
        version: 13,
        name: "fulfillment",
        sqlite: include_str!("../migrations/sqlite/0013_fulfillment.sql"),
        postgres: include_str!("../migrations/postgres/0013_fulfillment.sql"),
    },
    Migration {
        version: 14,
        name: "invoices",
        sqlite: include_str!("../migrations/sqlite/0014_invoices.sql"),
        postgres: include_str!("../migrations/postgres/0014_invoices.sql"),
    },
    Migration {
        version: 15,
        name: "invoice_payments",
        sqlite: include_str!("../migrations/sqlite/0015_invoice_payments.sql"),
        postgres: include_str!("../migrations/postgres/0015_invoice_payments.sql"),
    },
    Migration {
        version: 16,
        name: "billing_status",
        sqlite: include_str!("../migrations/sqlite/0016_billing_status.sql"),
        postgres: include_str!("../migrations/postgres/0016_billing_status.sql"),
    },
    Migration {
        version: 17,
        name: "credit_notes",
        sqlite: include_str!("../migrations/sqlite/0017_credit_notes.sql"),
        postgres: include_str!("../migrations/postgres/0017_credit_notes.sql"),
    },
    Migration {
        version: 18,
        name: "billing_runs",
        sqlite: include_str!("../migrations/sqlite/0018_billing_runs.sql"),
        postgres: include_str!("../migrations/postgres/0018_billing_runs.sql"),
    },
    Migration {
        version: 19,
        name: "billing_schedule",
        sqlite: include_str!("../migrations/sqlite/0019_billing_schedule.sql"),
        postgres: include_str!("../migrations/postgres/0019_billing_schedule.sql"),
    },
    Migration {
        version: 20,
        name: "sealing_key",
        sqlite: include_str!("../migrations/sqlite/0020_sealing_key.sql"),
        postgres: include_str!("../migrations/postgres/0020_sealing_key.sql"),
    },
    Migration {
        version: 21,
        name: "payment_reference",
        sqlite: include_str!("../migrations/sqlite/0021_payment_reference.sql"),
        postgres: include_str!("../migrations/postgres/0021_payment_reference.sql"),
    },
    Migration {
        version: 22,
        name: "workspace_mode",
        sqlite: include_str!("../migrations/sqlite/0022_workspace_mode.sql"),
        postgres: include_str!("../migrations/postgres/0022_workspace_mode.sql"),
    },
    Migration {
        version: 23,
        name: "sealing_key_lookup",
        sqlite: include_str!("../migrations/sqlite/0023_sealing_key_lookup.sql"),
        postgres: include_str!("../migrations/postgres/0023_sealing_key_lookup.sql"),
    },
    Migration {
        version: 24,
        name: "sandboxes",
        sqlite: include_str!("../migrations/sqlite/0024_sandboxes.sql"),
        postgres: include_str!("../migrations/postgres/0024_sandboxes.sql"),
    },
    Migration {
        version: 25,
        name: "collections",
        sqlite: include_str!("../migrations/sqlite/0025_collections.sql"),
        postgres: include_str!("../migrations/postgres/0025_collections.sql"),
    },
    Migration {
        version: 26,
        name: "treasury",
        sqlite: include_str!("../migrations/sqlite/0026_treasury.sql"),
        postgres: include_str!("../migrations/postgres/0026_treasury.sql"),
    },
    Migration {
        version: 27,
        name: "bank_connections",
        sqlite: include_str!("../migrations/sqlite/0027_bank_connections.sql"),
        postgres: include_str!("../migrations/postgres/0027_bank_connections.sql"),
    },
    Migration {
        version: 28,
        name: "payouts",
        sqlite: include_str!("../migrations/sqlite/0028_payouts.sql"),
        postgres: include_str!("../migrations/postgres/0028_payouts.sql"),
    },
    Migration {
        version: 29,
        name: "pay_ins",
        sqlite: include_str!("../migrations/sqlite/0029_pay_ins.sql"),
        postgres: include_str!("../migrations/postgres/0029_pay_ins.sql"),
    },
    Migration {
        version: 30,
        name: "shipments",
        sqlite: include_str!("../migrations/sqlite/0030_shipments.sql"),
        postgres: include_str!("../migrations/postgres/0030_shipments.sql"),
    },
    Migration {
        version: 31,
        name: "devices",
        sqlite: include_str!("../migrations/sqlite/0031_devices.sql"),
        postgres: include_str!("../migrations/postgres/0031_devices.sql"),
    },
    Migration {
        version: 32,
        name: "job_runs",
        sqlite: include_str!("../migrations/sqlite/0032_job_runs.sql"),
        postgres: include_str!("../migrations/postgres/0032_job_runs.sql"),
    },
    Migration {
        version: 33,
        name: "order_metrics",
        sqlite: include_str!("../migrations/sqlite/0033_order_metrics.sql"),
        postgres: include_str!("../migrations/postgres/0033_order_metrics.sql"),
    },
    Migration {
        version: 34,
        name: "tracking_event_key",
        sqlite: include_str!("../migrations/sqlite/0034_tracking_event_key.sql"),
        postgres: include_str!("../migrations/postgres/0034_tracking_event_key.sql"),
    },
    Migration {
        version: 35,
        name: "storefront",
        sqlite: include_str!("../migrations/sqlite/0035_storefront.sql"),
        postgres: include_str!("../migrations/postgres/0035_storefront.sql"),
    },
    Migration {
        version: 36,
        name: "portal",
        sqlite: include_str!("../migrations/sqlite/0036_portal.sql"),
        postgres: include_str!("../migrations/postgres/0036_portal.sql"),
    },
    Migration {
        version: 37,
        name: "newest_first",
        sqlite: include_str!("../migrations/sqlite/0037_newest_first.sql"),
        postgres: include_str!("../migrations/postgres/0037_newest_first.sql"),
    },
    Migration {
        version: 38,
        name: "onboarding",
        sqlite: include_str!("../migrations/sqlite/0038_onboarding.sql"),
        postgres: include_str!("../migrations/postgres/0038_onboarding.sql"),
    },
    Migration {
        version: 39,
        name: "velocity",
        sqlite: include_str!("../migrations/sqlite/0039_velocity.sql"),
        postgres: include_str!("../migrations/postgres/0039_velocity.sql"),
    },
    Migration {
        version: 40,
        name: "company_contacts",
        sqlite: include_str!("../migrations/sqlite/0040_company_contacts.sql"),
        postgres: include_str!("../migrations/postgres/0040_company_contacts.sql"),
    },
    Migration {
        version: 41,
        name: "storefront_challenge",
        sqlite: include_str!("../migrations/sqlite/0041_storefront_challenge.sql"),
        postgres: include_str!("../migrations/postgres/0041_storefront_challenge.sql"),
    },
];

/// An arbitrary constant: the PostgreSQL advisory lock that serialises migrations of processes
/// starting at once against one database.
const MIGRATION_LOCK_KEY: i64 = 0x6275_7273_6172;

/// Applies pending migrations inside the caller's transaction.
pub(crate) async fn run(tx: &mut Tx, now: Timestamp) -> Result<(), StoreError> {
    if tx.backend() == Backend::Postgres {
        tx.execute(
            "select pg_advisory_xact_lock($1)",
            params![MIGRATION_LOCK_KEY],
        )
        .await?;
    }
    tx.execute_batch(
        "create table if not exists schema_migration (version bigint primary key, \
         name text not null, checksum text not null, applied_at bigint not null)",
    )
    .await?;
    for migration in MIGRATIONS {
        let sql = match tx.backend() {
            Backend::Sqlite => migration.sqlite,
            Backend::Postgres => migration.postgres,
        };
        let checksum = crate::sha256_hex(sql.as_bytes());
        let applied = tx
            .fetch_optional(
                "select checksum from schema_migration where version = $1",
                params![migration.version],
            )
            .await?;
        match applied {
            Some(row) if row.text("checksum")? == checksum => continue,
            Some(_) => {
                return Err(StoreError::Migration(format!(
                    "migration {} ({}) was changed after it was applied",
                    migration.version, migration.name
                )));
            }
            None => {}
        }
        tx.execute_batch(sql).await.map_err(|e| {
            StoreError::Migration(format!("{} ({}): {e}", migration.version, migration.name))
        })?;
        tx.execute(
            "insert into schema_migration (version, name, checksum, applied_at) \
             values ($1, $2, $3, $4)",
            params![
                migration.version,
                migration.name,
                checksum,
                now.unix_micros()
            ],
        )
        .await?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "migration applied"
        );
    }
    Ok(())
}
