//! Settlement of marketplace invoices: what of a paid invoice goes to its seller, what the
//! platform keeps, and how long the seller's part seasons before it can be paid out.

use crate::time::Timestamp;

/// Days a seller's part seasons when neither the contract nor the workspace says otherwise.
pub const DEFAULT_SEASONING_DAYS: u32 = 7;
/// Longest seasoning a contract or a workspace may ask for.
pub const SEASONING_DAYS_MAX: u32 = 365;
/// A platform fee is at most the whole amount: 10,000 basis points.
pub const FEE_BPS_MAX: u32 = 10_000;

/// The platform's fee on a seller's invoices: a share in basis points and/or a fixed amount
/// (minor units of the invoice's currency), never more than the invoice's net.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlatformFee {
    pub basis_points: u32,
    pub fixed: i64,
}

/// How one paid invoice splits: the seller's part, and the platform's fee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    pub seller: i64,
    pub fee: i64,
}

impl PlatformFee {
    /// Splits `net` (the invoice's net, tax excluded: the platform remits the tax). The
    /// percentage rounds half up to a minor unit; the fee never exceeds `net`.
    pub fn split(self, net: i64) -> Split {
        if net <= 0 {
            return Split { seller: 0, fee: 0 };
        }
        let basis_points = i128::from(self.basis_points.min(FEE_BPS_MAX));
        let share = (i128::from(net) * basis_points + 5_000) / 10_000;
        // At most `net` (basis points are capped), so it fits; the fixed part saturates.
        let share = i64::try_from(share).unwrap_or(net);
        let fee = share.saturating_add(self.fixed.max(0)).min(net);
        Split {
            seller: net - fee,
            fee,
        }
    }
}

/// A referrer's part of the platform's fee: `basis_points` of it (rounded half up), never
/// more than the fee.
pub fn referral_share(fee: i64, basis_points: u32) -> i64 {
    if fee <= 0 {
        return 0;
    }
    let basis_points = i128::from(basis_points.min(FEE_BPS_MAX));
    let share = (i128::from(fee) * basis_points + 5_000) / 10_000;
    i64::try_from(share).unwrap_or(fee).min(fee)
}

/// When a seller's part, released at `released_at`, may move to their AVAILABLE: the
/// contract's seasoning when it has one, else the workspace's.
pub fn seasoned_at(
    released_at: Timestamp,
    contract_days: Option<u32>,
    workspace_days: u32,
) -> Timestamp {
    let days = contract_days.unwrap_or(workspace_days);
    released_at.plus_seconds(i64::from(days) * 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_fee_leaves_everything_to_the_seller() {
        let split = PlatformFee::default().split(10_000);
        assert_eq!(
            split,
            Split {
                seller: 10_000,
                fee: 0
            }
        );
    }

    #[test]
    fn a_percentage_rounds_half_up_and_adds_the_fixed_fee() {
        let fee = PlatformFee {
            basis_points: 250,
            fixed: 30,
        };
        // 2.5% of 10,001 is 250.025 → 250, plus 30.
        assert_eq!(
            fee.split(10_001),
            Split {
                seller: 9_721,
                fee: 280
            }
        );
        // 2.5% of 10,020 is 250.5 → 251.
        let percent_only = PlatformFee {
            basis_points: 250,
            fixed: 0,
        };
        assert_eq!(percent_only.split(10_020).fee, 251);
    }

    #[test]
    fn the_fee_never_exceeds_the_net() {
        let fee = PlatformFee {
            basis_points: 100,
            fixed: 500,
        };
        assert_eq!(
            fee.split(300),
            Split {
                seller: 0,
                fee: 300
            }
        );
        let all = PlatformFee {
            basis_points: FEE_BPS_MAX,
            fixed: 0,
        };
        assert_eq!(
            all.split(i64::MAX),
            Split {
                seller: 0,
                fee: i64::MAX
            }
        );
    }

    #[test]
    fn nothing_to_split_of_a_credited_invoice() {
        let fee = PlatformFee {
            basis_points: 100,
            fixed: 5,
        };
        assert_eq!(fee.split(0), Split { seller: 0, fee: 0 });
        assert_eq!(fee.split(-10), Split { seller: 0, fee: 0 });
    }

    #[test]
    fn a_huge_fixed_fee_takes_the_net_and_no_more() {
        let fee = PlatformFee {
            basis_points: 10_000,
            fixed: i64::MAX,
        };
        assert_eq!(
            fee.split(i64::MAX),
            Split {
                seller: 0,
                fee: i64::MAX
            }
        );
        let over = PlatformFee {
            basis_points: 20_000,
            fixed: 0,
        };
        assert_eq!(
            over.split(100),
            Split {
                seller: 0,
                fee: 100
            }
        );
    }

    #[test]
    fn a_referrer_shares_the_platform_fee() {
        assert_eq!(referral_share(6_000, 2_000), 1_200);
        assert_eq!(referral_share(5, 5_000), 3, "2.5 rounds half up");
        assert_eq!(referral_share(6_000, 0), 0);
        assert_eq!(
            referral_share(6_000, 20_000),
            6_000,
            "never more than the fee"
        );
        assert_eq!(referral_share(0, 5_000), 0);
    }

    #[test]
    fn the_contract_seasoning_wins_over_the_workspace() {
        let at = Timestamp::from_unix_micros(0);
        assert_eq!(
            seasoned_at(at, Some(2), 7).unix_micros(),
            2 * 86_400 * 1_000_000
        );
        assert_eq!(
            seasoned_at(at, None, 7).unix_micros(),
            7 * 86_400 * 1_000_000
        );
        assert_eq!(seasoned_at(at, Some(0), 7), at);
    }
}
