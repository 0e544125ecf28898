//! Ledger accounts and transfers as the API answers them and events carry them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::types::*;
use crate::time::Timestamp;

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagsObject {
    /// The account's debits (pending and posted) may never exceed its posted credits.
    #[serde(default)]
    pub debits_must_not_exceed_credits: bool,
    /// The account's credits (pending and posted) may never exceed its posted debits.
    #[serde(default)]
    pub credits_must_not_exceed_debits: bool,
    /// Keep the account's history, so its transfers can be listed and its balances read as of
    /// a past instant. Costs a write per transfer; off by default.
    #[serde(default)]
    pub history: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BalancesObject {
    pub debits_pending: i64,
    pub debits_posted: i64,
    pub credits_pending: i64,
    pub credits_posted: i64,
}

impl From<Balances> for BalancesObject {
    fn from(b: Balances) -> Self {
        BalancesObject {
            debits_pending: b.debits_pending,
            debits_posted: b.debits_posted,
            credits_pending: b.credits_pending,
            credits_posted: b.credits_posted,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountObject {
    pub id: String,
    /// Always `ledger_account`.
    pub object: &'static str,
    pub currency: String,
    pub code: i64,
    pub flags: FlagsObject,
    pub metadata: BTreeMap<String, String>,
    pub balances: BalancesObject,
    /// The instant the balances are for, when asked with `as_of`.
    pub balances_as_of: Option<String>,
    pub created_at: String,
}

impl From<Account> for AccountObject {
    fn from(a: Account) -> Self {
        AccountObject {
            id: a.id.to_string(),
            object: "ledger_account",
            currency: a.currency.code().to_owned(),
            code: a.code,
            flags: FlagsObject {
                debits_must_not_exceed_credits: a.flags.debits_must_not_exceed_credits,
                credits_must_not_exceed_debits: a.flags.credits_must_not_exceed_debits,
                history: a.flags.history,
            },
            metadata: a.metadata,
            balances: a.balances.into(),
            balances_as_of: None,
            created_at: a.timestamp.to_rfc3339(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransferObject {
    pub id: String,
    /// Always `ledger_transfer`.
    pub object: &'static str,
    pub debit_account_id: String,
    pub credit_account_id: String,
    pub currency: String,
    pub amount: i64,
    pub code: i64,
    pub kind: &'static str,
    pub pending_id: Option<String>,
    /// For a pending transfer: pending, posted, voided or expired.
    pub pending_status: Option<&'static str>,
    pub expires_at: Option<String>,
    pub linked: bool,
    pub balancing_debit: bool,
    pub balancing_credit: bool,
    pub metadata: BTreeMap<String, String>,
    /// Assigned by the ledger; strictly increasing.
    pub timestamp: String,
}

impl TransferObject {
    /// The transfer as shown, with the status of a pending one when known.
    pub fn new(t: Transfer, status: Option<PendingStatus>) -> Self {
        TransferObject {
            id: t.id.to_string(),
            object: "ledger_transfer",
            debit_account_id: t.debit_account_id.to_string(),
            credit_account_id: t.credit_account_id.to_string(),
            currency: t.currency.code().to_owned(),
            amount: t.amount,
            code: t.code,
            kind: t.kind.as_str(),
            pending_id: t.kind.pending_id().map(TransferId::to_string),
            pending_status: status.map(PendingStatus::as_str),
            expires_at: t.expires_at.map(Timestamp::to_rfc3339),
            linked: t.linked,
            balancing_debit: t.balancing_debit,
            balancing_credit: t.balancing_credit,
            metadata: t.metadata,
            timestamp: t.timestamp.to_rfc3339(),
        }
    }
}
