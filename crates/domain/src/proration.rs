//! The one proration rule: a period's amount shared by the time used of it.
//!
//! [`prorate`]`(amount, part, whole)` is `amount × part / whole`, rounded half away from zero
//! to minor units, where `part` (clamped to `0..=whole`) is how much of a period of length
//! `whole` counts; a zero-length period owes nothing. It is computed in 128-bit integers, so it
//! is exact for every `i64` and its result is never larger than `amount`. The lengths come
//! from [`span`], which refuses a period whose length overflows instead of wrapping or
//! clamping it. Subscriptions (changes inside a period) and billing (the last period of an
//! ended contract) both use them.

/// A period whose length does not fit in 64 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the period from {from} to {to} is too long to prorate")]
pub struct ProrationOverflow {
    pub from: i64,
    pub to: i64,
}

/// The length of the period from `from` to `to` (in the unit both are in, such as
/// microseconds), refused when it overflows.
pub fn span(from: i64, to: i64) -> Result<i64, ProrationOverflow> {
    to.checked_sub(from).ok_or(ProrationOverflow { from, to })
}

/// `amount × part / whole`, rounded half away from zero; see the module's rule.
pub fn prorate(amount: i64, part: i64, whole: i64) -> i64 {
    if whole <= 0 {
        return 0;
    }
    let part = i128::from(part.clamp(0, whole));
    let whole = i128::from(whole);
    // |amount| × part × 2 < 2^127 for every i64 amount and 0 <= part <= whole < 2^63.
    let numerator = i128::from(amount) * part * 2;
    let rounded = (numerator + numerator.signum() * whole) / (whole * 2);
    // |rounded| <= |amount| because part <= whole, so it always fits.
    i64::try_from(rounded).unwrap_or(amount)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;
    const MONTH: i64 = 30 * DAY;

    #[test]
    fn a_zero_length_period_owes_nothing() {
        assert_eq!(prorate(10_000, 0, 0), 0);
        assert_eq!(prorate(10_000, 5, 0), 0);
        assert_eq!(prorate(10_000, 5, -1), 0);
        assert_eq!(
            span(1_000, 1_000).map(|whole| prorate(10_000, 0, whole)),
            Ok(0)
        );
    }

    #[test]
    fn a_change_at_the_first_instant_counts_the_whole_period() {
        assert_eq!(prorate(10_000, MONTH, MONTH), 10_000);
        assert_eq!(prorate(-10_000, MONTH, MONTH), -10_000);
    }

    #[test]
    fn a_change_at_the_last_instant_counts_one_unit_and_at_the_end_nothing() {
        assert_eq!(prorate(3_000_000, 1, MONTH), 1);
        assert_eq!(prorate(10_000, 0, MONTH), 0);
    }

    #[test]
    fn the_part_is_clamped_to_the_period() {
        assert_eq!(prorate(10_000, MONTH + DAY, MONTH), 10_000);
        assert_eq!(prorate(10_000, -DAY, MONTH), 0);
    }

    #[test]
    fn halves_round_away_from_zero() {
        assert_eq!(prorate(5, 1, 2), 3);
        assert_eq!(prorate(-5, 1, 2), -3);
        assert_eq!(prorate(4, 1, 3), 1);
        assert_eq!(prorate(10_000, 15 * DAY, MONTH), 5_000);
    }

    #[test]
    fn the_extremes_of_i64_prorate_exactly() {
        assert_eq!(prorate(i64::MAX, i64::MAX, i64::MAX), i64::MAX);
        assert_eq!(prorate(i64::MIN, i64::MAX, i64::MAX), i64::MIN);
        assert_eq!(prorate(i64::MAX, 1, 2), i64::MAX / 2 + 1);
        assert_eq!(prorate(i64::MIN, 1, 2), i64::MIN / 2);
    }

    #[test]
    fn an_overflowing_period_is_refused_not_clamped() {
        assert_eq!(
            span(i64::MIN, i64::MAX),
            Err(ProrationOverflow {
                from: i64::MIN,
                to: i64::MAX
            })
        );
        assert_eq!(
            span(1, i64::MIN),
            Err(ProrationOverflow {
                from: 1,
                to: i64::MIN
            })
        );
        assert_eq!(span(-5, 10), Ok(15));
    }
}
