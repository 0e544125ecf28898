//! Rating: a billing period's quantity into money, by a pricing model. Pure, exact.
//!
//! Quantities and unit prices are fixed-point decimals with nine places ([`Dec`]): usage
//! quantities (doubles from the meters) are read through their shortest decimal form, so
//! `0.1` is one tenth, not the double nearest to it. Unit prices are in minor units and may be
//! fractional (`0.0004` cents per token). Each priced component — a line, or one tier of a
//! graduated line, as the invoice shows it — is rounded once, to whole minor units, half away
//! from zero: the one rounding rule of rating. Each rated line keeps how it was computed (model,
//! tiers applied with their quantities and amounts), so an invoice can show why.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A decimal with nine places: the value × 10⁹. In JSON a decimal string (`"0.0004"`); a JSON
/// number is read through its shortest decimal form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, ToSchema)]
#[schema(value_type = String, example = "0.0004")]
pub struct Dec(pub i128);

impl Serialize for Dec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Int(i64),
            Float(f64),
        }
        let parsed = match Raw::deserialize(deserializer)? {
            Raw::Text(text) => Dec::parse(&text),
            Raw::Int(value) => Some(Dec::from_int(value)),
            Raw::Float(value) => Dec::parse(&format!("{value}")),
        };
        parsed.ok_or_else(|| {
            serde::de::Error::custom("expected a decimal with at most nine places, e.g. \"0.0004\"")
        })
    }
}

const SCALE: i128 = 1_000_000_000;

impl Dec {
    pub const ZERO: Dec = Dec(0);

    pub fn from_int(value: i64) -> Self {
        Dec(i128::from(value) * SCALE)
    }

    /// Parses `12`, `-0.5`, `0.000400`; at most nine decimal places.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty() && fraction.is_empty()
            || fraction.len() > 9
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !fraction.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let whole: i128 = if whole.is_empty() {
            0
        } else {
            whole.parse().ok()?
        };
        let fraction: i128 = format!("{fraction:0<9}").parse().ok()?;
        let value = whole.checked_mul(SCALE)?.checked_add(fraction)?;
        Some(Dec(if negative { -value } else { value }))
    }

    /// A meter's double, through its shortest decimal form (rounded to nine places).
    pub fn from_f64(value: f64) -> Option<Self> {
        if !value.is_finite() {
            return None;
        }
        let text = format!("{value}");
        if let Some(dec) = Dec::parse(&text) {
            return Some(dec);
        }
        // More than nine places (or an exponent): round to nine.
        let scaled = (value * 1e9).round();
        #[allow(clippy::cast_possible_truncation)]
        (scaled.abs() < 1e30).then_some(Dec(scaled as i128))
    }

    fn min(self, other: Dec) -> Dec {
        if self <= other {
            self
        } else {
            other
        }
    }
}

impl std::fmt::Display for Dec {
    /// `1234.5`, `0.0004`, `-2` (no trailing zeros).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let magnitude = self.0.unsigned_abs();
        let scale = SCALE.unsigned_abs();
        let (whole, fraction) = (magnitude / scale, magnitude % scale);
        if fraction == 0 {
            return write!(f, "{sign}{whole}");
        }
        let digits = format!("{fraction:09}");
        write!(f, "{sign}{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// `quantity × unit_price` in minor units, rounded half away from zero.
fn times(quantity: Dec, unit_price: Dec) -> i64 {
    let product = quantity.0 * unit_price.0; // value × 10¹⁸
    let denominator = SCALE * SCALE;
    let rounded = (product + product.signum() * denominator / 2) / denominator;
    i64::try_from(rounded).unwrap_or(i64::MAX)
}

/// A tier: units up to `up_to` (inclusive; None = no limit) cost `unit_price` each, plus
/// `flat_amount` once when the tier is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Tier {
    pub up_to: Option<Dec>,
    /// Minor units per unit.
    pub unit_price: Dec,
    /// Minor units.
    #[serde(default)]
    pub flat_amount: i64,
}

/// How a quantity is priced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum PricingModel {
    /// A fixed amount per period, whatever the quantity.
    Flat { amount: i64 },
    /// Each unit at the same price.
    PerUnit { unit_price: Dec },
    /// Each unit at the price of the tier it falls in (the first 1,000 at 2, the next at 1…).
    Graduated { tiers: Vec<Tier> },
    /// All units at the price of the tier the total falls in.
    Volume { tiers: Vec<Tier> },
    /// Per started package of `package_size` units.
    Package {
        package_size: Dec,
        package_amount: i64,
    },
}

/// One tier's part of a rated line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TierApplied {
    pub tier: usize,
    pub quantity: Dec,
    pub unit_price: Dec,
    pub flat_amount: i64,
    pub amount: i64,
}

/// A rated quantity and how it was computed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Rated {
    pub model: String,
    pub quantity: Dec,
    pub tiers: Vec<TierApplied>,
    /// Packages billed (package model).
    pub packages: Option<i64>,
    /// Minor units.
    pub amount: i64,
}

/// Why a pricing model is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ModelError(pub String);

impl PricingModel {
    /// Checks tiers ascend and end unbounded, amounts are not negative.
    pub fn check(&self) -> Result<(), ModelError> {
        let tiers = match self {
            PricingModel::Flat { amount } if *amount < 0 => {
                return Err(ModelError("amount must not be negative".into()))
            }
            PricingModel::PerUnit { unit_price } if unit_price.0 < 0 => {
                return Err(ModelError("unit_price must not be negative".into()))
            }
            PricingModel::Package {
                package_size,
                package_amount,
            } => {
                if package_size.0 <= 0 || *package_amount < 0 {
                    return Err(ModelError(
                        "package_size must be positive, package_amount not negative".into(),
                    ));
                }
                return Ok(());
            }
            PricingModel::Graduated { tiers } | PricingModel::Volume { tiers } => tiers,
            _ => return Ok(()),
        };
        if tiers.is_empty() || tiers.last().is_some_and(|t| t.up_to.is_some()) {
            return Err(ModelError("tiers must end with one without up_to".into()));
        }
        let bounds: Vec<Dec> = tiers.iter().filter_map(|t| t.up_to).collect();
        if bounds.len() != tiers.len() - 1
            || bounds.windows(2).any(|w| w[0] >= w[1])
            || bounds.first().is_some_and(|b| b.0 <= 0)
        {
            return Err(ModelError(
                "tier up_to values must be positive and ascending".into(),
            ));
        }
        if tiers
            .iter()
            .any(|t| t.unit_price.0 < 0 || t.flat_amount < 0)
        {
            return Err(ModelError("tier prices must not be negative".into()));
        }
        Ok(())
    }

    fn name(&self) -> &'static str {
        match self {
            PricingModel::Flat { .. } => "flat",
            PricingModel::PerUnit { .. } => "per_unit",
            PricingModel::Graduated { .. } => "graduated",
            PricingModel::Volume { .. } => "volume",
            PricingModel::Package { .. } => "package",
        }
    }

    /// Rates `quantity` (negative quantities rate as zero).
    pub fn rate(&self, quantity: Dec) -> Rated {
        let quantity = if quantity.0 < 0 { Dec::ZERO } else { quantity };
        let mut rated = Rated {
            model: self.name().into(),
            quantity,
            tiers: Vec::new(),
            packages: None,
            amount: 0,
        };
        match self {
            PricingModel::Flat { amount } => rated.amount = *amount,
            PricingModel::PerUnit { unit_price } => rated.amount = times(quantity, *unit_price),
            PricingModel::Graduated { tiers } => {
                let mut below = Dec::ZERO;
                for (index, tier) in tiers.iter().enumerate() {
                    if quantity <= below && index > 0 {
                        break;
                    }
                    let top = tier.up_to.map_or(quantity, |up| up.min(quantity));
                    let units = Dec((top.0 - below.0).max(0));
                    if units.0 == 0 && index > 0 {
                        break;
                    }
                    let flat = if units.0 > 0 { tier.flat_amount } else { 0 };
                    let amount = times(units, tier.unit_price) + flat;
                    rated.tiers.push(TierApplied {
                        tier: index + 1,
                        quantity: units,
                        unit_price: tier.unit_price,
                        flat_amount: flat,
                        amount,
                    });
                    rated.amount += amount;
                    below = tier.up_to.unwrap_or(quantity);
                }
            }
            PricingModel::Volume { tiers } => {
                let index = tiers
                    .iter()
                    .position(|t| t.up_to.is_none_or(|up| quantity <= up))
                    .unwrap_or(tiers.len().saturating_sub(1));
                if let Some(tier) = tiers.get(index) {
                    let flat = if quantity.0 > 0 { tier.flat_amount } else { 0 };
                    let amount = times(quantity, tier.unit_price) + flat;
                    rated.tiers.push(TierApplied {
                        tier: index + 1,
                        quantity,
                        unit_price: tier.unit_price,
                        flat_amount: flat,
                        amount,
                    });
                    rated.amount = amount;
                }
            }
            PricingModel::Package {
                package_size,
                package_amount,
            } => {
                let packages = (quantity.0 + package_size.0 - 1) / package_size.0;
                let packages = i64::try_from(packages).unwrap_or(i64::MAX);
                rated.packages = Some(packages);
                rated.amount = packages.saturating_mul(*package_amount);
            }
        }
        rated
    }
}

/// A minimum commitment: what a period's charges are topped up to.
pub fn true_up(charged: i64, minimum: Option<i64>) -> i64 {
    minimum.map_or(0, |m| (m - charged).max(0))
}

/// Prepaid credits consumed before charging: (charged, credits used).
pub fn consume_credits(amount: i64, credits: i64) -> (i64, i64) {
    let used = amount.clamp(0, credits.max(0));
    (amount - used, used)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Dec {
        Dec::parse(text).unwrap()
    }

    #[test]
    fn decimals_read_strings_and_numbers_and_write_strings() {
        let read = |v: serde_json::Value| serde_json::from_value::<Dec>(v);
        assert_eq!(read(serde_json::json!("0.0004")).unwrap(), d("0.0004"));
        assert_eq!(read(serde_json::json!(12)).unwrap(), d("12"));
        assert_eq!(read(serde_json::json!(0.1)).unwrap(), d("0.1"));
        assert!(
            read(serde_json::json!("0.0000000001")).is_err(),
            "ten places"
        );
        assert!(read(serde_json::json!("abc")).is_err());
        assert_eq!(
            serde_json::to_value(d("1234.5")).unwrap(),
            serde_json::json!("1234.5")
        );
    }

    #[test]
    fn decimals_print_in_their_shortest_form() {
        for text in [
            "0",
            "12",
            "-0.5",
            "0.0004",
            "1234.5",
            "0.000000001",
            "-17.25",
        ] {
            assert_eq!(d(text).to_string(), text);
        }
        assert_eq!(d("2.500").to_string(), "2.5");
    }

    fn tier(up_to: Option<&str>, unit: &str, flat: i64) -> Tier {
        Tier {
            up_to: up_to.map(d),
            unit_price: d(unit),
            flat_amount: flat,
        }
    }

    /// Two-tier schedules used below: first 1,000 units at 2, the rest at 1 (+500 on entry).
    fn tiers() -> Vec<Tier> {
        vec![tier(Some("1000"), "2", 0), tier(None, "1", 500)]
    }

    /// (what, model, quantity, expected amount in minor units, canary). Expectations computed
    /// by hand; canary rows are deliberately wrong and the harness must find them so.
    fn matrix() -> Vec<(&'static str, PricingModel, &'static str, i64, bool)> {
        vec![
            (
                "flat, any usage",
                PricingModel::Flat { amount: 4_900 },
                "123",
                4_900,
                false,
            ),
            (
                "flat, zero usage",
                PricingModel::Flat { amount: 4_900 },
                "0",
                4_900,
                false,
            ),
            (
                "per unit, fractional price: 12,345 tokens × 0.0004",
                PricingModel::PerUnit {
                    unit_price: d("0.0004"),
                },
                "12345",
                5,
                false,
            ),
            (
                "per unit, half away from zero: 2.5 → 3",
                PricingModel::PerUnit {
                    unit_price: d("0.5"),
                },
                "5",
                3,
                false,
            ),
            (
                "per unit, zero usage",
                PricingModel::PerUnit { unit_price: d("7") },
                "0",
                0,
                false,
            ),
            (
                "graduated, inside tier 1",
                PricingModel::Graduated { tiers: tiers() },
                "999",
                1_998,
                false,
            ),
            (
                "graduated, at the boundary",
                PricingModel::Graduated { tiers: tiers() },
                "1000",
                2_000,
                false,
            ),
            (
                "graduated, one past: 2,000 + 500 + 1",
                PricingModel::Graduated { tiers: tiers() },
                "1001",
                2_501,
                false,
            ),
            (
                "graduated, fractional: 2,000 + 500 + 0.5 → 2,501",
                PricingModel::Graduated { tiers: tiers() },
                "1000.5",
                2_501,
                false,
            ),
            (
                "graduated, zero",
                PricingModel::Graduated { tiers: tiers() },
                "0",
                0,
                false,
            ),
            (
                "volume, inside tier 1: 999 × 2",
                PricingModel::Volume { tiers: tiers() },
                "999",
                1_998,
                false,
            ),
            (
                "volume, at the boundary: 1,000 × 2",
                PricingModel::Volume { tiers: tiers() },
                "1000",
                2_000,
                false,
            ),
            (
                "volume, past it: all 1,500 at 1, + 500",
                PricingModel::Volume { tiers: tiers() },
                "1500",
                2_000,
                false,
            ),
            (
                "volume, zero",
                PricingModel::Volume { tiers: tiers() },
                "0",
                0,
                false,
            ),
            (
                "package of 100 at 900: 250 → 3 packages",
                PricingModel::Package {
                    package_size: d("100"),
                    package_amount: 900,
                },
                "250",
                2_700,
                false,
            ),
            (
                "package, exact: 200 → 2",
                PricingModel::Package {
                    package_size: d("100"),
                    package_amount: 900,
                },
                "200",
                1_800,
                false,
            ),
            (
                "package, zero → 0",
                PricingModel::Package {
                    package_size: d("100"),
                    package_amount: 900,
                },
                "0",
                0,
                false,
            ),
            // Canaries: wrong on purpose.
            (
                "CANARY graduated priced as volume",
                PricingModel::Graduated { tiers: tiers() },
                "1500",
                2_000,
                true,
            ),
            (
                "CANARY package rounded down",
                PricingModel::Package {
                    package_size: d("100"),
                    package_amount: 900,
                },
                "250",
                1_800,
                true,
            ),
        ]
    }

    #[test]
    fn the_scenario_matrix_holds_and_its_canaries_fail() {
        let mut canaries_caught = 0;
        for (what, model, quantity, expected, canary) in matrix() {
            model.check().unwrap();
            let rated = model.rate(d(quantity));
            if canary {
                assert_ne!(
                    rated.amount, expected,
                    "canary passed: the harness checks nothing ({what})"
                );
                canaries_caught += 1;
            } else {
                assert_eq!(rated.amount, expected, "{what}: {rated:?}");
            }
        }
        assert_eq!(canaries_caught, 2);
    }

    #[test]
    fn rated_lines_show_their_tiers() {
        let rated = PricingModel::Graduated { tiers: tiers() }.rate(d("1500"));
        assert_eq!(rated.tiers.len(), 2);
        assert_eq!(
            (rated.tiers[0].quantity, rated.tiers[0].amount),
            (d("1000"), 2_000)
        );
        assert_eq!(
            (
                rated.tiers[1].quantity,
                rated.tiers[1].flat_amount,
                rated.tiers[1].amount
            ),
            (d("500"), 500, 1_000)
        );
        assert_eq!(rated.amount, 3_000);
    }

    #[test]
    fn commitments_and_credits() {
        assert_eq!(true_up(3_000, Some(10_000)), 7_000);
        assert_eq!(true_up(12_000, Some(10_000)), 0);
        assert_eq!(true_up(12_000, None), 0);
        assert_eq!(consume_credits(5_000, 2_000), (3_000, 2_000));
        assert_eq!(consume_credits(5_000, 9_000), (0, 5_000));
    }

    #[test]
    fn decimals_are_exact() {
        assert_eq!(Dec::from_f64(0.1), Some(d("0.1")));
        assert_eq!(Dec::from_f64(1e-12), Some(Dec(0)));
        assert_eq!(Dec::parse("1.0000000001"), None, "ten places");
        assert_eq!(d("-2.5").0, -2_500_000_000);
        assert!(
            PricingModel::Graduated {
                tiers: vec![tier(Some("10"), "1", 0)]
            }
            .check()
            .is_err(),
            "no open last tier"
        );
        assert!(PricingModel::Volume {
            tiers: vec![
                tier(Some("10"), "1", 0),
                tier(Some("5"), "1", 0),
                tier(None, "1", 0)
            ]
        }
        .check()
        .is_err());
    }
}
