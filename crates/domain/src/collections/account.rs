//! An account's stored billing status: the last answer of [`super::assess`], with its history,
//! the dunning it is in, and what it entitles.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::health::{ContractAccess, Dunning, Position, Reason};
use crate::billing_status::{Access, BillingStatus};
use crate::id::{ContractId, CustomerId};
use crate::time::Timestamp;

/// One change of a customer's billing status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatusChange {
    pub from: BillingStatus,
    pub to: BillingStatus,
    pub reason: String,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CustomerBillingStatus {
    /// Always `billing_status`.
    pub object: String,
    #[schema(value_type = crate::schema::BuyerIdSchema)]
    pub customer_id: CustomerId,
    /// Set for a contract's billing status (driven by that contract's invoices alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract_id: Option<ContractId>,
    pub status: BillingStatus,
    pub reason: String,
    pub since: Option<Timestamp>,
    /// Every change, oldest first.
    pub history: Vec<StatusChange>,
    /// What the account may use: `full`, `limited`, `none`.
    #[serde(default = "full")]
    pub access: Access,
    /// Changes to its contracts are refused (a `block_changes` step).
    #[serde(default)]
    pub changes_blocked: bool,
    /// Where it stands in dunning, while it is in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    /// The facts that put it here.
    #[serde(default)]
    pub reasons: Vec<Reason>,
    /// The dunning it is in: the policy version and the steps run so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dunning: Option<Dunning>,
    /// When the health was last computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluated_at: Option<Timestamp>,
}

fn full() -> Access {
    Access::Full
}

/// What a customer may use now, for downstream systems: the access its billing status allows
/// and the products of its active contracts.
#[derive(Debug, Serialize, ToSchema)]
pub struct Entitlements {
    /// Always `entitlements`.
    pub object: String,
    pub customer_id: CustomerId,
    pub billing_status: BillingStatus,
    /// `full`, `limited` (a `limit_entitlements` step, or written off), `none` (suspended or
    /// closed).
    pub access: Access,
    /// Product ids the customer's active contracts with full access include.
    pub features: Vec<String>,
    /// Each active contract's access: the account's, or full while a period paid for runs.
    pub contracts: Vec<ContractAccess>,
    /// Changes to contracts are refused while in dunning (a `block_changes` step).
    pub changes_blocked: bool,
}
