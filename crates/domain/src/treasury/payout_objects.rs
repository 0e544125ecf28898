//! Payouts, party bank accounts and payout schedules as the API shows them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::id::{BankAccountId, CustomerId, PayoutId};
use crate::money::Currency;
use crate::time::Timestamp;
use crate::treasury::payouts::{weekday_name, Interval, PayoutStatus};

/// Whether payouts may be sent to a bank account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BankAccountStatus {
    Active,
    /// Not used for payouts (after a return saying the account is bad): `disabled_reason` says
    /// why.
    Disabled,
}

impl BankAccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Active, Self::Disabled]
            .into_iter()
            .find(|s| s.as_str() == value)
    }
}

/// A party's bank account. Its numbers are stored sealed and shown masked (`••••6789`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BankAccountObject {
    #[schema(value_type = String)]
    pub id: BankAccountId,
    /// Always `bank_account`.
    pub object: String,
    #[schema(value_type = String)]
    pub party_id: CustomerId,
    pub status: BankAccountStatus,
    /// Why it was disabled (`return_R03: No Account/Unable to Locate Account`).
    pub disabled_reason: Option<String>,
    /// `••••` and the last four digits.
    pub routing_number: String,
    /// `••••` and the last four digits.
    pub account_number: String,
    /// `checking` or `savings`.
    pub account_type: String,
    pub holder_name: String,
    /// The bank's counterparty for the party, once the bank knows it.
    pub counterparty_id: Option<String>,
    /// The bank's id of this account, once the bank knows it.
    pub external_account_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Who asked for a payout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PayoutOrigin {
    /// The seller (or the platform for them), `POST /v1/parties/{id}/payouts`.
    Request,
    /// The seller's payout schedule.
    Schedule,
}

impl PayoutOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Schedule => "schedule",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Request, Self::Schedule]
            .into_iter()
            .find(|s| s.as_str() == value)
    }
}

/// Money paid out of a seller's AVAILABLE to their bank account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PayoutObject {
    #[schema(value_type = String)]
    pub id: PayoutId,
    /// Always `payout`.
    pub object: String,
    #[schema(value_type = String)]
    pub party_id: CustomerId,
    #[schema(value_type = String)]
    pub bank_account_id: BankAccountId,
    pub status: PayoutStatus,
    /// Minor units.
    pub amount: i64,
    #[schema(value_type = String)]
    pub currency: Currency,
    pub origin: PayoutOrigin,
    /// Attempts made (a retry after a failure is a new attempt).
    pub attempts: i64,
    /// The ledger's pending transfer of the current attempt (AVAILABLE → payout in flight).
    pub transfer_id: String,
    /// The bank's payment order of the current attempt.
    pub payment_order_id: Option<String>,
    /// The bank's failure code of the last failed attempt.
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    /// The NACHA return code when it came back (`R03`).
    pub return_code: Option<String>,
    /// When it is next sent to the bank (a delayed or retried payout).
    pub next_attempt_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// How and when a seller is paid out automatically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PayoutScheduleObject {
    /// Always `payout_schedule`.
    pub object: String,
    #[schema(value_type = String)]
    pub party_id: CustomerId,
    /// `manual`, `daily`, `weekly` or `monthly`.
    pub interval: String,
    /// For `weekly`: `monday` … `sunday`.
    pub weekday: Option<String>,
    /// For `monthly`: 1–31 (a shorter month pays on its last day).
    pub day_of_month: Option<i64>,
    /// Days a scheduled payout waits, reserved and cancelable, before it is sent to the bank.
    pub delay_days: i64,
    /// The least AVAILABLE a run pays out, per currency (`*`: any currency not named).
    pub minimum_amounts: BTreeMap<String, i64>,
    /// The next run (00:00 UTC), none for `manual`.
    pub next_run_at: Option<Timestamp>,
    /// When it was last set or run; none until a schedule is set.
    pub updated_at: Option<Timestamp>,
}

impl PayoutScheduleObject {
    /// The interval this schedule names (manual when it is malformed).
    pub fn interval(&self) -> Interval {
        let day = self.day_of_month;
        Interval::parse(&self.interval, self.weekday.as_deref(), day).unwrap_or(Interval::Manual)
    }

    /// The fields that show `interval`.
    pub fn interval_fields(interval: Interval) -> (String, Option<String>, Option<i64>) {
        let name = interval.name().to_owned();
        match interval {
            Interval::Weekly(day) => (name, Some(weekday_name(day).to_owned()), None),
            Interval::Monthly(day) => (name, None, Some(i64::from(day))),
            Interval::Manual | Interval::Daily => (name, None, None),
        }
    }

    /// The least a run pays out in `currency`: its own minimum, else `*`, else 1.
    pub fn minimum(&self, currency: &str) -> i64 {
        self.minimum_amounts
            .get(currency)
            .or_else(|| self.minimum_amounts.get("*"))
            .copied()
            .unwrap_or(1)
            .max(1)
    }
}
