//! Payouts: a seller's AVAILABLE money sent to their bank account. Pure rules — the statuses
//! and their moves, when a schedule runs next, how much a payout may take, which failures are
//! retried and after how long, which returns disable the bank account — and the checks of a
//! US bank account's numbers.
//!
//! A payout is a **pending** ledger transfer from the seller's AVAILABLE to the platform's
//! payout-in-flight account, posted when the bank confirms and voided when it fails (a retry
//! reserves again with a new pending transfer). A return after it was paid is undone by one
//! reversal transfer back to AVAILABLE.

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::ToSpan;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ValidationError;
use crate::ledger::AccountId;
use crate::money::Currency;
use crate::time::Timestamp;

/// Where a payout stands: `pending → in_transit → paid | failed | returned | canceled`. A
/// failed payout whose failure is retryable goes back to `pending` as a new attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PayoutStatus {
    /// Reserved in the ledger; not (yet) accepted by the bank.
    Pending,
    /// The bank has the payment order.
    InTransit,
    /// The bank completed it: the reservation is posted.
    Paid,
    /// The bank failed it: the reservation is voided (retried when the failure allows).
    Failed,
    /// It came back after it was paid (an ACH return): the money is back in AVAILABLE.
    Returned,
    /// Canceled before it reached the bank: the reservation is voided.
    Canceled,
}

impl PayoutStatus {
    pub const ALL: [PayoutStatus; 6] = [
        Self::Pending,
        Self::InTransit,
        Self::Paid,
        Self::Failed,
        Self::Returned,
        Self::Canceled,
    ];

    /// `pending`, `in_transit`, `paid`, `failed`, `returned`, `canceled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InTransit => "in_transit",
            Self::Paid => "paid",
            Self::Failed => "failed",
            Self::Returned => "returned",
            Self::Canceled => "canceled",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

/// What happens to a payout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayoutMove {
    /// The bank accepted the payment order.
    Submit,
    /// The bank completed it.
    Pay,
    /// The bank failed it.
    Fail,
    /// A failed payout is tried again as a new attempt.
    Retry,
    /// It came back (an ACH return).
    Return,
    /// Canceled by a person before it reached the bank.
    Cancel,
}

/// A move a payout's status refuses: its current state and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub current: PayoutStatus,
    pub message: String,
}

impl PayoutMove {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submit => "submit",
            Self::Pay => "pay",
            Self::Fail => "fail",
            Self::Retry => "retry",
            Self::Return => "return",
            Self::Cancel => "cancel",
        }
    }

    /// The status after this move, or why `from` refuses it.
    pub fn apply(self, from: PayoutStatus) -> Result<PayoutStatus, Refusal> {
        use PayoutStatus as S;
        let to = match (self, from) {
            (Self::Submit, S::Pending) => S::InTransit,
            (Self::Pay, S::Pending | S::InTransit) => S::Paid,
            (Self::Fail, S::Pending | S::InTransit) => S::Failed,
            (Self::Retry, S::Failed) => S::Pending,
            (Self::Return, S::InTransit | S::Paid) => S::Returned,
            (Self::Cancel, S::Pending) => S::Canceled,
            _ => {
                let message = match self {
                    Self::Cancel => format!(
                        "The payout is {}: only a pending payout (not yet at the bank) can be \
                         canceled.",
                        from.as_str()
                    ),
                    _ => format!("A {} payout cannot {}.", from.as_str(), self.as_str()),
                };
                return Err(Refusal {
                    current: from,
                    message,
                });
            }
        };
        Ok(to)
    }
}

/// How often a seller is paid out automatically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// Never automatically: the seller asks (`POST /v1/parties/{id}/payouts`).
    Manual,
    /// Every day at 00:00 UTC.
    Daily,
    /// Every week on this day, at 00:00 UTC.
    Weekly(Weekday),
    /// Every month on this day (1–31; the month's last day when it is shorter), at 00:00 UTC.
    Monthly(i8),
}

impl Interval {
    /// `manual`, `daily`, `weekly`, `monthly`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Daily => "daily",
            Self::Weekly(_) => "weekly",
            Self::Monthly(_) => "monthly",
        }
    }

    /// Reads an interval as the API gives it: `weekly` needs a weekday (`monday`…), `monthly` a
    /// day of the month (1–31); neither may be given otherwise.
    pub fn parse(
        interval: &str,
        weekday: Option<&str>,
        day_of_month: Option<i64>,
    ) -> Result<Self, ValidationError> {
        let extra = |param: &str| {
            ValidationError::invalid(
                param,
                format!("Only a {param}-based interval takes {param}."),
            )
        };
        match (interval, weekday, day_of_month) {
            ("manual" | "daily", None, None) => Ok(if interval == "manual" {
                Self::Manual
            } else {
                Self::Daily
            }),
            ("weekly", Some(day), None) => parse_weekday(day).map(Self::Weekly),
            ("weekly", None, _) => Err(ValidationError::missing("weekday")),
            ("monthly", None, Some(day)) => match i8::try_from(day) {
                Ok(day @ 1..=31) => Ok(Self::Monthly(day)),
                _ => Err(ValidationError::invalid(
                    "day_of_month",
                    "day_of_month must be 1 to 31 (a shorter month pays on its last day).",
                )),
            },
            ("monthly", _, None) => Err(ValidationError::missing("day_of_month")),
            ("manual" | "daily" | "monthly", Some(_), _) => Err(extra("weekday")),
            ("manual" | "daily" | "weekly", _, Some(_)) => Err(extra("day_of_month")),
            (other, _, _) => Err(ValidationError::invalid(
                "interval",
                format!("Unknown interval '{other}': use manual, daily, weekly or monthly."),
            )),
        }
    }
}

const WEEKDAYS: [(&str, Weekday); 7] = [
    ("monday", Weekday::Monday),
    ("tuesday", Weekday::Tuesday),
    ("wednesday", Weekday::Wednesday),
    ("thursday", Weekday::Thursday),
    ("friday", Weekday::Friday),
    ("saturday", Weekday::Saturday),
    ("sunday", Weekday::Sunday),
];

fn parse_weekday(text: &str) -> Result<Weekday, ValidationError> {
    WEEKDAYS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(text))
        .map(|(_, day)| *day)
        .ok_or_else(|| {
            ValidationError::invalid(
                "weekday",
                format!("Unknown weekday '{text}': use monday … sunday."),
            )
        })
}

/// `monday` … `sunday`.
pub fn weekday_name(day: Weekday) -> &'static str {
    WEEKDAYS
        .iter()
        .find(|(_, d)| *d == day)
        .map_or("monday", |(name, _)| name)
}

fn date_of(at: Timestamp) -> Date {
    jiff::Timestamp::from_microsecond(at.unix_micros())
        .map(|t| t.to_zoned(TimeZone::UTC).date())
        .unwrap_or_default()
}

fn midnight(date: Date) -> Timestamp {
    date.to_zoned(TimeZone::UTC)
        .map(|z| Timestamp::from_unix_micros(z.timestamp().as_microsecond()))
        .unwrap_or_default()
}

/// Whether `interval` pays out on `date`.
fn runs_on(interval: Interval, date: Date) -> bool {
    match interval {
        Interval::Manual => false,
        Interval::Daily => true,
        Interval::Weekly(day) => date.weekday() == day,
        Interval::Monthly(day) => date.day() == day.min(date.days_in_month()),
    }
}

/// The first run of `interval` strictly after `now` (00:00 UTC of a day it pays on); `None` for
/// a manual schedule.
pub fn next_run(interval: Interval, now: Timestamp) -> Option<Timestamp> {
    if interval == Interval::Manual {
        return None;
    }
    let mut date = date_of(now).tomorrow().ok()?;
    // A monthly day comes within 31 days; a weekday within 7.
    for _ in 0..=31 {
        if runs_on(interval, date) {
            return Some(midnight(date));
        }
        date = date.checked_add(1.day()).ok()?;
    }
    None
}

/// The amount a scheduled run pays out: all of AVAILABLE, unless it is below the minimum (or
/// nothing).
pub fn scheduled_amount(available: i64, minimum: i64) -> Option<i64> {
    (available > 0 && available >= minimum).then_some(available)
}

/// Refuses a payout of more than the seller's AVAILABLE.
pub fn check_amount(amount: i64, available: i64) -> Result<(), ValidationError> {
    if amount > available {
        return Err(ValidationError::invalid(
            "amount",
            format!("The payout of {amount} is more than the {available} AVAILABLE to pay out."),
        ));
    }
    Ok(())
}

/// Attempts a payout gets in all: the first and up to three retries.
pub const MAX_ATTEMPTS: i64 = 4;

/// Failure codes that say the receiving account itself is wrong: retrying cannot help.
const FINAL_FAILURES: [&str; 5] = [
    "account_closed",
    "account_not_found",
    "invalid_account_number",
    "invalid_routing_number",
    "counterparty_blocked",
];

/// Whether a bank's failure (its code) may be retried as a new attempt: anything but a failure
/// naming a bad account (or a return code that disables it).
pub fn retryable(code: Option<&str>) -> bool {
    match code {
        None => true,
        Some(code) => !FINAL_FAILURES.contains(&code) && !disables_account(code),
    }
}

/// When a failed attempt `attempt` (1-based) is retried: 1 minute after the first failure, then
/// 4 times longer each time (1, 4, 16 minutes); `None` once [`MAX_ATTEMPTS`] were made or when
/// the failure is not retryable.
pub fn retry_after(attempt: i64, code: Option<&str>) -> Option<i64> {
    if attempt >= MAX_ATTEMPTS || !retryable(code) {
        return None;
    }
    let exponent = u32::try_from(attempt.saturating_sub(1)).unwrap_or(0);
    Some(60_i64.saturating_mul(4_i64.saturating_pow(exponent)))
}

/// NACHA return codes that say the account cannot take payments (closed, missing, invalid,
/// sold, frozen, its holder deceased, not a transaction account, a bad routing number): the
/// bank account is disabled until corrected.
pub const ACCOUNT_DISABLING: [&str; 9] = [
    "R02", "R03", "R04", "R12", "R13", "R14", "R15", "R16", "R20",
];

/// Whether a return with `code` disables the bank account it was sent to.
pub fn disables_account(code: &str) -> bool {
    ACCOUNT_DISABLING
        .iter()
        .any(|c| c.eq_ignore_ascii_case(code))
}

/// The platform's payout-in-flight account in `currency`: what sellers are owed on payouts the
/// bank has not settled (a liability, like a party's AVAILABLE).
pub fn in_flight_account(currency: Currency) -> AccountId {
    AccountId::from_trusted(format!("platform:payout_in_flight:{currency}"))
}

/// Whether `routing` is a US ABA routing number: 9 digits whose weighted sum
/// (3, 7, 1, repeated) is a multiple of 10.
pub fn aba_checksum_ok(routing: &str) -> bool {
    let digits: Vec<u32> = routing.chars().filter_map(|c| c.to_digit(10)).collect();
    if routing.len() != 9 || digits.len() != 9 {
        return false;
    }
    let weights = [3, 7, 1, 3, 7, 1, 3, 7, 1];
    digits.iter().zip(weights).map(|(d, w)| d * w).sum::<u32>() % 10 == 0
}

/// Checks an ABA routing number (`param` names it).
pub fn check_routing_number(routing: &str, param: &str) -> Result<(), ValidationError> {
    if routing.len() != 9 || !routing.chars().all(|c| c.is_ascii_digit()) {
        return Err(ValidationError::invalid(
            param,
            "A routing number is 9 digits.",
        ));
    }
    if !aba_checksum_ok(routing) {
        return Err(ValidationError::invalid(
            param,
            "Not a valid ABA routing number (its check digit is wrong).",
        ));
    }
    Ok(())
}

/// Checks a US account number: 4 to 17 digits.
pub fn check_account_number(number: &str, param: &str) -> Result<(), ValidationError> {
    if !(4..=17).contains(&number.len()) || !number.chars().all(|c| c.is_ascii_digit()) {
        return Err(ValidationError::invalid(
            param,
            "An account number is 4 to 17 digits.",
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "payouts_tests.rs"]
mod tests;
