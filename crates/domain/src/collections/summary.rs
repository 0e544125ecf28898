//! The collections summary's shape, and bad-debt drift (pure).

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::invoice::{Invoice, InvoiceStatus};
use crate::time::Timestamp;

/// Accounts at one step of one policy version.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StepCount {
    pub policy_id: Option<String>,
    pub policy_version: u32,
    /// The last step in force (absent: in dunning, no step yet).
    pub step: Option<u16>,
    pub accounts: u64,
}

/// Recoveries under one policy version.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Recoveries {
    pub policy_id: Option<String>,
    pub policy_version: u32,
    /// Accounts that entered dunning under it.
    pub started: u64,
    pub recovered: u64,
    /// `recovered / started`.
    pub recovery_rate: f64,
    /// Collected by retries, per currency (minor units).
    pub recovered_by_retries: BTreeMap<String, i64>,
    /// Mean seconds from entering dunning to recovery.
    pub mean_seconds_to_recovery: Option<i64>,
}

/// Written off against still collectible, per currency (minor units).
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Drift {
    /// Owed on invoices written off (bad debt not yet recovered).
    pub written_off: i64,
    /// Owed on issued invoices past their due date.
    pub collectible_overdue: i64,
    /// `written_off / (written_off + collectible_overdue)`.
    pub bad_debt_share: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CollectionsSummary {
    /// Always `collections_summary`.
    pub object: String,
    /// Customer accounts per billing status.
    pub statuses: BTreeMap<String, u64>,
    pub steps: Vec<StepCount>,
    pub recoveries: Vec<Recoveries>,
    /// Off-session retries by outcome: `succeeded`, `soft`, `hard`, `authentication_required`,
    /// `processing`, `skipped`.
    pub retries: BTreeMap<String, u64>,
    pub bad_debt: BTreeMap<String, Drift>,
}

/// Written off against still collectible overdue amounts, per currency code.
pub fn drift(invoices: &[Invoice], now: Timestamp) -> BTreeMap<String, Drift> {
    let mut drift: BTreeMap<String, Drift> = BTreeMap::new();
    for invoice in invoices.iter().filter(|i| i.amount_due > 0) {
        let entry = drift.entry(invoice.currency.code().to_owned()).or_default();
        match invoice.status {
            InvoiceStatus::Uncollectible => entry.written_off += invoice.amount_due,
            InvoiceStatus::Issued if invoice.due_at.is_some_and(|d| d < now) => {
                entry.collectible_overdue += invoice.amount_due
            }
            _ => {}
        }
    }
    for d in drift.values_mut() {
        let total = d.written_off + d.collectible_overdue;
        d.bad_debt_share = if total == 0 {
            0.0
        } else {
            d.written_off as f64 / total as f64
        };
    }
    drift
}
