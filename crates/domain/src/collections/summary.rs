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
    /// Seconds from entering dunning to recovery, summed over the recoveries.
    #[serde(skip)]
    #[schema(ignore)]
    pub seconds_to_recovery: i64,
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

/// Summaries of many workspaces added up under labels of bounded cardinality (no workspace,
/// no policy id): what the collections gauges show.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SummaryTotals {
    /// Customer accounts per billing status.
    pub statuses: BTreeMap<String, u64>,
    /// Accounts in dunning per last step in force (`None`: no step yet).
    pub steps: BTreeMap<Option<u16>, u64>,
    /// Per policy version number.
    pub recoveries: BTreeMap<u32, RecoveryTotals>,
    pub retries: BTreeMap<String, u64>,
    /// Per currency code: (written off, collectible overdue), minor units.
    pub bad_debt: BTreeMap<String, (i64, i64)>,
}

/// Recoveries under one policy version number, added up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecoveryTotals {
    pub started: u64,
    pub recovered: u64,
    pub recovered_by_retries: BTreeMap<String, i64>,
    pub seconds_to_recovery: i64,
}

impl RecoveryTotals {
    /// `recovered / started` (0 when none started).
    pub fn recovery_rate(&self) -> f64 {
        if self.started == 0 {
            0.0
        } else {
            self.recovered as f64 / self.started as f64
        }
    }

    /// Mean seconds from entering dunning to recovery (0 when none recovered).
    pub fn mean_seconds_to_recovery(&self) -> f64 {
        if self.recovered == 0 {
            0.0
        } else {
            self.seconds_to_recovery as f64 / self.recovered as f64
        }
    }
}

impl SummaryTotals {
    /// Adds one workspace's summary.
    pub fn add(&mut self, summary: &CollectionsSummary) {
        for (status, n) in &summary.statuses {
            *self.statuses.entry(status.clone()).or_insert(0) += n;
        }
        for count in &summary.steps {
            *self.steps.entry(count.step).or_insert(0) += count.accounts;
        }
        for r in &summary.recoveries {
            let total = self.recoveries.entry(r.policy_version).or_default();
            total.started += r.started;
            total.recovered += r.recovered;
            total.seconds_to_recovery = total
                .seconds_to_recovery
                .saturating_add(r.seconds_to_recovery);
            for (currency, amount) in &r.recovered_by_retries {
                let sum = total
                    .recovered_by_retries
                    .entry(currency.clone())
                    .or_insert(0);
                *sum = sum.saturating_add(*amount);
            }
        }
        for (class, n) in &summary.retries {
            *self.retries.entry(class.clone()).or_insert(0) += n;
        }
        for (currency, d) in &summary.bad_debt {
            let (written_off, collectible) = self.bad_debt.entry(currency.clone()).or_default();
            *written_off = written_off.saturating_add(d.written_off);
            *collectible = collectible.saturating_add(d.collectible_overdue);
        }
    }
}
