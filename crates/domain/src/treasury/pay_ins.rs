//! Originated ACH pay-ins: money Bursar pulls from a buyer's bank account under the buyer's
//! debit authorization (a mandate). Pure rules — statuses and their moves, and how a return
//! after settlement is undone.
//!
//! A pay-in is a **pending** ledger transfer from the platform's bank clearing to the buyer's
//! AVAILABLE: not spendable until the bank settles it (posted), voided if the bank fails it. A
//! return after settlement takes the money back once: from AVAILABLE first, then from what the
//! buyer committed (not yet released), and what is left — already released to a seller — is
//! recorded as owed by the buyer, explicitly. Unauthorized returns stop the mandate.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::id::{BankAccountId, CustomerId, PayInId};
use crate::money::Currency;
use crate::time::Timestamp;

/// Where a pay-in stands: `pending → processing → settled → returned`, or `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PayInStatus {
    /// Reserved in the ledger (pending); not (yet) accepted by the bank.
    Pending,
    /// The bank has the ACH debit.
    Processing,
    /// The bank settled it: the buyer's AVAILABLE holds it.
    Settled,
    /// The bank failed it: nothing moved (the pending transfer is voided).
    Failed,
    /// The buyer's bank returned it after settlement (an R-code): taken back once.
    Returned,
}

impl PayInStatus {
    pub const ALL: [PayInStatus; 5] = [
        Self::Pending,
        Self::Processing,
        Self::Settled,
        Self::Failed,
        Self::Returned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Settled => "settled",
            Self::Failed => "failed",
            Self::Returned => "returned",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

/// What happens to a pay-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayInMove {
    Submit,
    Settle,
    Fail,
    Return,
}

impl PayInMove {
    pub fn name(self) -> &'static str {
        match self {
            Self::Submit => "submitted",
            Self::Settle => "settled",
            Self::Fail => "failed",
            Self::Return => "returned",
        }
    }

    /// The status after this move from `from`, or `from` itself when the move is not allowed.
    pub fn apply(self, from: PayInStatus) -> Result<PayInStatus, PayInStatus> {
        use PayInStatus::*;
        match (self, from) {
            (Self::Submit, Pending) => Ok(Processing),
            // The bank's "completed" can come before its answer to the request is recorded.
            (Self::Settle, Pending | Processing) => Ok(Settled),
            (Self::Fail, Pending | Processing) => Ok(Failed),
            (Self::Return, Settled) => Ok(Returned),
            (_, current) => Err(current),
        }
    }
}

/// How a returned pay-in is taken back: from the buyer's AVAILABLE, then COMMITTED, and the
/// rest owed by the buyer. The three always add up to the amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReturnSplit {
    pub from_available: i64,
    pub from_committed: i64,
    pub owed: i64,
}

/// Splits a return of `amount` over what the buyer has `available` and `committed`.
pub fn split_return(amount: i64, available: i64, committed: i64) -> ReturnSplit {
    let from_available = amount.min(available.max(0));
    let from_committed = (amount - from_available).min(committed.max(0));
    ReturnSplit {
        from_available,
        from_committed,
        owed: amount - from_available - from_committed,
    }
}

/// A pay-in as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PayInObject {
    #[schema(value_type = String)]
    pub id: PayInId,
    /// Always `pay_in`.
    pub object: String,
    #[schema(value_type = String)]
    pub party_id: CustomerId,
    #[schema(value_type = String)]
    pub bank_account_id: BankAccountId,
    pub status: PayInStatus,
    /// Minor units.
    pub amount: i64,
    pub currency: Currency,
    /// The pending ledger transfer into the buyer's AVAILABLE.
    pub transfer_id: String,
    pub payment_order_id: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    /// The NACHA return code, once returned.
    pub return_code: Option<String>,
    /// How the return was taken back (once returned).
    pub returned: Option<ReturnSplit>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A buyer's ACH debit authorization on one of its bank accounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MandateObject {
    /// Always `ach_mandate`.
    pub object: String,
    #[schema(value_type = String)]
    pub bank_account_id: BankAccountId,
    #[schema(value_type = String)]
    pub party_id: CustomerId,
    /// `active`, or `stopped` after an unauthorized return (R05, R07, R10, R29, R51).
    pub status: String,
    pub stopped_reason: Option<String>,
    pub accepted_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A workspace's ACH debit return rates over NACHA's rolling window, against its thresholds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReturnRatesObject {
    /// Always `ach_return_rates`.
    pub object: String,
    pub window_days: i64,
    /// Pay-ins (ACH debits) originated in the window.
    pub debits: u64,
    pub returns: u64,
    /// Basis points (1/100 of a percent) per category, with NACHA's limit.
    pub unauthorized_bps: u64,
    pub unauthorized_limit_bps: u32,
    pub administrative_bps: u64,
    pub administrative_limit_bps: u32,
    pub overall_bps: u64,
    pub overall_limit_bps: u32,
    /// The categories over their limit: `unauthorized`, `administrative`, `overall`.
    pub crossed: Vec<String>,
}

impl ReturnRatesObject {
    pub fn of(rates: &crate::treasury::returns::ReturnRates) -> Self {
        use crate::treasury::returns::*;
        let bps = |n: u64| {
            n.saturating_mul(10_000)
                .checked_div(rates.debits)
                .unwrap_or(0)
        };
        ReturnRatesObject {
            object: "ach_return_rates".into(),
            window_days: RATE_WINDOW_DAYS,
            debits: rates.debits,
            returns: rates.overall,
            unauthorized_bps: bps(rates.unauthorized),
            unauthorized_limit_bps: UNAUTHORIZED_LIMIT_BPS,
            administrative_bps: bps(rates.administrative),
            administrative_limit_bps: ADMINISTRATIVE_LIMIT_BPS,
            overall_bps: bps(rates.overall),
            overall_limit_bps: OVERALL_LIMIT_BPS,
            crossed: rates
                .crossed()
                .into_iter()
                .map(|c| category_name(c).to_owned())
                .collect(),
        }
    }
}

/// `unauthorized`, `administrative` or `overall`.
pub fn category_name(category: crate::treasury::returns::RateCategory) -> &'static str {
    use crate::treasury::returns::RateCategory;
    match category {
        RateCategory::Unauthorized => "unauthorized",
        RateCategory::Administrative => "administrative",
        RateCategory::Overall => "overall",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_return_takes_back_from_available_then_committed_and_the_rest_is_owed() {
        assert_eq!(
            split_return(100, 150, 0),
            ReturnSplit {
                from_available: 100,
                from_committed: 0,
                owed: 0
            }
        );
        assert_eq!(
            split_return(100, 30, 50),
            ReturnSplit {
                from_available: 30,
                from_committed: 50,
                owed: 20
            }
        );
        assert_eq!(
            split_return(100, 0, 0),
            ReturnSplit {
                from_available: 0,
                from_committed: 0,
                owed: 100
            }
        );
        assert_eq!(
            split_return(100, -5, 200),
            ReturnSplit {
                from_available: 0,
                from_committed: 100,
                owed: 0
            }
        );
    }

    #[test]
    fn pay_ins_move_only_forward() {
        use PayInStatus::*;
        assert_eq!(PayInMove::Submit.apply(Pending), Ok(Processing));
        assert_eq!(PayInMove::Settle.apply(Pending), Ok(Settled));
        assert_eq!(PayInMove::Return.apply(Processing), Err(Processing));
        assert_eq!(PayInMove::Return.apply(Settled), Ok(Returned));
        assert_eq!(PayInMove::Settle.apply(Returned), Err(Returned));
        assert_eq!(PayInMove::Fail.apply(Settled), Err(Settled));
    }
}
