//! Dunning policies as data: ordered steps, each at a number of days past the due date of the
//! account's oldest unpaid invoice, each with the actions it takes.
//!
//! A policy is versioned: an edit makes a new version under the same id, and an account that
//! entered dunning under a version keeps it until it recovers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::id::DunningPolicyId;
use crate::money::Currency;
use crate::time::Timestamp;
use crate::ValidationError;

/// Most steps a policy may have.
pub const MAX_STEPS: usize = 20;
/// Latest day a step may be at.
pub const MAX_AT_DAYS: u16 = 730;

/// The email a `notify` action sends.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum NoticeTemplate {
    /// A friendly reminder that the balance is overdue, with a payment link.
    Reminder,
    /// A retry failed: update the card, or pay through the link.
    PaymentFailed,
    /// The card cannot be charged again (a hard decline): a new payment method is needed.
    UpdatePaymentMethod,
    /// The bank asks the customer to authenticate: pay through the link.
    AuthenticationRequired,
    /// The last notice before the service is suspended or the debt handed over.
    FinalNotice,
    /// The service is suspended until the balance is paid.
    Suspension,
}

impl NoticeTemplate {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeTemplate::Reminder => "reminder",
            NoticeTemplate::PaymentFailed => "payment_failed",
            NoticeTemplate::UpdatePaymentMethod => "update_payment_method",
            NoticeTemplate::AuthenticationRequired => "authentication_required",
            NoticeTemplate::FinalNotice => "final_notice",
            NoticeTemplate::Suspension => "suspension",
        }
    }
}

/// One thing a dunning step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DunningAction {
    /// Charge the customer's default saved payment method, off-session, for the overdue balance.
    RetryPayment,
    /// Email the customer.
    Notify { template: NoticeTemplate },
    /// Refuse changes to the customer's contracts while in dunning.
    BlockChanges,
    /// Limited access for periods not paid for.
    LimitEntitlements,
    /// No access for periods not paid for.
    SuspendEntitlements,
    /// Terminate the customer's active contracts (reason `dunning`).
    CancelContracts,
    /// Mark the overdue invoices uncollectible (bad debt).
    WriteOff,
    /// The billing status becomes `collections`.
    HandToCollections,
}

impl DunningAction {
    pub fn name(self) -> &'static str {
        match self {
            DunningAction::RetryPayment => "retry_payment",
            DunningAction::Notify { .. } => "notify",
            DunningAction::BlockChanges => "block_changes",
            DunningAction::LimitEntitlements => "limit_entitlements",
            DunningAction::SuspendEntitlements => "suspend_entitlements",
            DunningAction::CancelContracts => "cancel_contracts",
            DunningAction::WriteOff => "write_off",
            DunningAction::HandToCollections => "hand_to_collections",
        }
    }
}

/// What happens at `at_days` days past the due date of the oldest unpaid invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DunningStep {
    /// Days past the due date of the oldest unpaid invoice (0: the day it falls due).
    #[schema(maximum = 730)]
    pub at_days: u16,
    /// In the order they run; a retry first, so it can prevent the rest.
    #[schema(min_items = 1, max_items = 8)]
    pub actions: Vec<DunningAction>,
}

/// A version of a workspace's dunning policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DunningPolicy {
    /// `dpol_…`; absent for the built-in policy a workspace without one follows.
    pub id: Option<DunningPolicyId>,
    /// Always `dunning_policy`.
    pub object: String,
    /// 1 for the first version; each edit adds one (0 for the built-in policy).
    pub version: u32,
    pub name: String,
    /// Ordered by `at_days`, strictly increasing.
    pub steps: Vec<DunningStep>,
    /// Per currency, the overdue balance (minor units) below which an account is not dunned.
    pub minimum_balances: BTreeMap<Currency, i64>,
    /// The policy of every customer without an override.
    pub default: bool,
    pub created_at: Timestamp,
}

impl DunningPolicy {
    /// The policy of a workspace that has none: past due once an invoice is overdue, handed to
    /// collections with limited access after 30 days. No emails beyond the per-invoice reminders.
    pub fn built_in() -> Self {
        DunningPolicy {
            id: None,
            object: "dunning_policy".into(),
            version: 0,
            name: "Built-in".into(),
            steps: vec![DunningStep {
                at_days: 30,
                actions: vec![
                    DunningAction::HandToCollections,
                    DunningAction::LimitEntitlements,
                ],
            }],
            minimum_balances: BTreeMap::new(),
            default: true,
            created_at: Timestamp::from_unix_micros(0),
        }
    }

    /// The overdue balance below which `currency` is not dunned.
    pub fn minimum_balance(&self, currency: Currency) -> i64 {
        self.minimum_balances.get(&currency).copied().unwrap_or(1)
    }
}

/// Checks a policy's steps: at least one, at most [`MAX_STEPS`], days strictly increasing and
/// at most [`MAX_AT_DAYS`], each with 1–8 actions, none twice in a step.
pub fn validate_steps(steps: &[DunningStep]) -> Result<(), ValidationError> {
    if steps.is_empty() || steps.len() > MAX_STEPS {
        return Err(ValidationError::invalid(
            "steps",
            format!("A policy has 1 to {MAX_STEPS} steps."),
        ));
    }
    for (i, step) in steps.iter().enumerate() {
        if step.at_days > MAX_AT_DAYS {
            return Err(ValidationError::invalid(
                format!("steps[{i}].at_days"),
                format!("A step is at most {MAX_AT_DAYS} days past due."),
            ));
        }
        if i > 0 && step.at_days <= steps[i - 1].at_days {
            return Err(ValidationError::invalid(
                format!("steps[{i}].at_days"),
                "Steps are ordered by at_days, each later than the one before.",
            ));
        }
        if step.actions.is_empty() || step.actions.len() > 8 {
            return Err(ValidationError::invalid(
                format!("steps[{i}].actions"),
                "A step has 1 to 8 actions.",
            ));
        }
        for (j, action) in step.actions.iter().enumerate() {
            if step.actions[..j].contains(action) {
                return Err(ValidationError::invalid(
                    format!("steps[{i}].actions[{j}]"),
                    format!("The step already has this {} action.", action.name()),
                ));
            }
        }
    }
    Ok(())
}

/// Checks minimum balances: each at least 0.
pub fn validate_minimum_balances(
    balances: &BTreeMap<Currency, i64>,
) -> Result<(), ValidationError> {
    match balances.iter().find(|(_, amount)| **amount < 0) {
        Some((currency, _)) => Err(ValidationError::invalid(
            format!("minimum_balances.{}", currency.code()),
            "A minimum balance is 0 or more (minor units).",
        )),
        None => Ok(()),
    }
}

/// Which policy a customer follows: a named one, or none (excluded); absent: the default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Assignment {
    /// Always `dunning_assignment`.
    pub object: String,
    #[schema(value_type = Option<String>)]
    pub policy_id: Option<DunningPolicyId>,
    /// Excluded from dunning: no steps, no consequences.
    pub excluded: bool,
}
