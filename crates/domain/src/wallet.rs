//! Party wallets: the ledger accounts a buyer or seller holds, and the platform's own.
//!
//! Money flows AVAILABLE → COMMITTED (or COMMITTED_DOWNPAYMENT) → the seller's PAY_IN_HOLDING,
//! where it seasons until a `not_before` instant → the seller's AVAILABLE → payout clearing.
//! Party accounts are liabilities of the platform (credit balances) that may never go negative;
//! every account keeps its history.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::id::CustomerId;
use crate::ledger::objects::{BalancesObject, TransferObject};
use crate::ledger::{AccountFlags, AccountId};
use crate::money::Currency;

/// A party's wallet accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Available,
    Committed,
    CommittedDownpayment,
    PayInHolding,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Available,
        Role::Committed,
        Role::CommittedDownpayment,
        Role::PayInHolding,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Available => "AVAILABLE",
            Role::Committed => "COMMITTED",
            Role::CommittedDownpayment => "COMMITTED_DOWNPAYMENT",
            Role::PayInHolding => "PAY_IN_HOLDING",
        }
    }
}

/// The platform's own accounts, one per currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PlatformAccount {
    /// Money received at the bank, not yet credited to anyone (an asset: debit balance).
    BankClearing,
    /// Money owed to parties who cashed out, until the payout leaves the bank.
    PayoutClearing,
    Revenue,
    Fees,
}

impl PlatformAccount {
    pub const ALL: [PlatformAccount; 4] = [
        PlatformAccount::BankClearing,
        PlatformAccount::PayoutClearing,
        PlatformAccount::Revenue,
        PlatformAccount::Fees,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PlatformAccount::BankClearing => "bank_clearing",
            PlatformAccount::PayoutClearing => "payout_clearing",
            PlatformAccount::Revenue => "revenue",
            PlatformAccount::Fees => "fees",
        }
    }
}

/// `party:<customer>:<ROLE>:<CUR>`; at most 62 characters, within the ledger's 64.
pub fn party_account(party: &CustomerId, role: Role, currency: Currency) -> AccountId {
    AccountId::from_trusted(format!("party:{party}:{}:{currency}", role.as_str()))
}

pub fn platform_account(account: PlatformAccount, currency: Currency) -> AccountId {
    AccountId::from_trusted(format!("platform:{}:{currency}", account.as_str()))
}

/// Party accounts may never be overdrawn; every wallet account keeps its history.
pub fn party_flags() -> AccountFlags {
    AccountFlags {
        debits_must_not_exceed_credits: true,
        credits_must_not_exceed_debits: false,
        history: true,
    }
}

pub fn platform_flags() -> AccountFlags {
    AccountFlags {
        history: true,
        ..AccountFlags::default()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HoldingObject {
    pub id: String,
    pub currency: String,
    pub amount: i64,
    pub not_before: String,
    /// `holding` until seasoned, then `seasoned`.
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WalletObject {
    /// Always `wallet`.
    pub object: &'static str,
    pub party: String,
    /// Per currency, per role (AVAILABLE, COMMITTED, COMMITTED_DOWNPAYMENT, PAY_IN_HOLDING).
    pub balances: BTreeMap<String, BTreeMap<String, BalancesObject>>,
    /// Money released to this party as a seller, seasoning or seasoned.
    pub holdings: Vec<HoldingObject>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WalletOperation {
    /// Always `wallet_operation`.
    pub object: &'static str,
    pub recipe: &'static str,
    /// `ok`, or `exists` when this operation id was applied before.
    pub result: &'static str,
    pub transfers: Vec<TransferObject>,
    pub wallet: WalletObject,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wallet_account_ids_are_valid_ledger_ids() {
        let party = CustomerId::new();
        let usd = Currency::parse("USD", "currency").unwrap();
        for role in Role::ALL {
            let id = party_account(&party, role, usd);
            assert!(AccountId::parse(id.as_str(), "id").is_ok(), "{id}");
        }
        for account in PlatformAccount::ALL {
            let id = platform_account(account, usd);
            assert!(AccountId::parse(id.as_str(), "id").is_ok(), "{id}");
        }
    }
}
