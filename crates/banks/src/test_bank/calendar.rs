//! The test bank's clock arithmetic and its magic account numbers.

use bursar_domain::time::Timestamp;
use bursar_domain::treasury::returns::{self, ReturnCode};
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;

/// ACH settles (and ACH returns and incoming ACH credits post) at this hour, UTC, on a banking
/// day.
pub const SETTLEMENT_HOUR_UTC: i8 = 14;

/// Seconds after creation a payment order starts processing.
pub const PROCESSING_AFTER_SECONDS: i64 = 1;

/// Seconds after creation a wire, RTP or book order is sent and completed, and an incoming
/// wire or RTP completes.
pub const INSTANT_AFTER_SECONDS: i64 = 2;

/// The UTC date of an instant.
pub(super) fn date_of(at: Timestamp) -> Date {
    jiff::Timestamp::from_microsecond(at.unix_micros())
        .map(|t| t.to_zoned(TimeZone::UTC).date())
        .unwrap_or_default()
}

/// `date` at the settlement hour, UTC.
pub(super) fn settlement_instant(date: Date) -> Timestamp {
    date.to_datetime(Time::constant(SETTLEMENT_HOUR_UTC, 0, 0, 0))
        .to_zoned(TimeZone::UTC)
        .map(|z| Timestamp::from_unix_micros(z.timestamp().as_microsecond()))
        .unwrap_or_default()
}

/// The settlement instant `banking_days` banking days after `from`'s date.
pub(super) fn settles_after(from: Date, banking_days: u8) -> Timestamp {
    settlement_instant(returns::add_banking_days(from, banking_days))
}

/// Reads `YYYY-MM-DD`.
pub(super) fn parse_date(text: &str) -> Option<Date> {
    text.parse().ok()
}

/// What a receiving account number makes the test bank do (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// `123456789` and any number not below: the payment succeeds.
    Succeed,
    /// `11111111` followed by at least one digit: every payment order fails.
    Fail,
    /// `22222222` followed by at least one digit: the first payment order to the account fails,
    /// the next ones (new attempts) succeed.
    FailOnce,
    /// `100XX`: an ACH payment order settles, then comes back with return code `RXX` the next
    /// banking day (when `RXX` is a NACHA code; otherwise the number succeeds).
    Return(&'static ReturnCode),
}

/// The scenario of a receiving account number.
pub fn scenario(account_number: &str) -> Scenario {
    let digits = account_number.chars().all(|c| c.is_ascii_digit());
    let repeated =
        |prefix: &str| digits && account_number.len() > 8 && account_number.starts_with(prefix);
    if repeated("11111111") {
        return Scenario::Fail;
    }
    if repeated("22222222") {
        return Scenario::FailOnce;
    }
    match account_number.strip_prefix("100") {
        Some(code) if digits && code.len() == 2 => {
            returns::lookup(&format!("R{code}")).map_or(Scenario::Succeed, Scenario::Return)
        }
        _ => Scenario::Succeed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn magic_numbers_pick_their_scenario() {
        assert_eq!(scenario("123456789"), Scenario::Succeed);
        assert_eq!(scenario("111111110"), Scenario::Fail);
        assert_eq!(scenario("11111111"), Scenario::Succeed);
        assert_eq!(scenario("2222222201"), Scenario::FailOnce);
        assert!(matches!(scenario("10001"), Scenario::Return(c) if c.code == "R01"));
        assert!(matches!(scenario("10010"), Scenario::Return(c) if c.code == "R10"));
        assert_eq!(scenario("10048"), Scenario::Succeed, "R48 is not assigned");
        assert_eq!(scenario("100012"), Scenario::Succeed);
    }

    #[test]
    fn settlement_is_at_the_fixed_hour_on_a_banking_day() {
        // 2026-05-08 is a Friday.
        let friday = date(2026, 5, 8);
        let monday = settles_after(friday, 1);
        assert_eq!(monday.to_rfc3339(), "2026-05-11T14:00:00Z");
        assert_eq!(date_of(monday), date(2026, 5, 11));
        assert_eq!(parse_date("2026-05-08"), Some(friday));
        assert_eq!(parse_date("08/05/2026"), None);
    }
}
