//! A workspace's connection to a bank, as the API shows it (its secrets never), and what
//! became of one inbound bank webhook.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::id::BankConnectionId;
use crate::time::Timestamp;

/// The banks Bursar speaks to.
pub const BANK_KINDS: [&str; 2] = ["modern_treasury", "test_bank"];

/// A connection to a bank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BankConnection {
    pub id: BankConnectionId,
    /// Always `bank_connection`.
    pub object: String,
    /// `modern_treasury` or `test_bank` (sandbox workspaces only).
    pub kind: String,
    pub name: String,
    /// Modern Treasury's organization id.
    pub organization_id: Option<String>,
    /// Where requests go (Modern Treasury; a local fake in tests).
    pub api_base: Option<String>,
    /// The platform's account at the bank that payers push to and payouts leave from.
    pub internal_account_id: Option<String>,
    /// Where the bank sends its webhooks: `POST {webhook_path}`.
    pub webhook_path: String,
    /// The API key's last 4 characters.
    pub api_key_last4: Option<String>,
    /// How many webhook signing keys are accepted (rotation).
    pub webhook_secrets: usize,
    pub created_at: Timestamp,
}

/// What Bursar did with one inbound bank webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BankWebhookReceipt {
    pub received: bool,
    /// The bank's webhook id (the same on every redelivery).
    pub webhook_id: String,
    /// False when this webhook had been received before (nothing happened again).
    pub first_delivery: bool,
    /// `applied` or `ignored` (with the reason in `detail`).
    pub outcome: String,
    pub detail: Option<String>,
}
