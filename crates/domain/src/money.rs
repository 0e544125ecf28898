//! Currencies (ISO 4217) and amounts in integer minor units.

use crate::ValidationError;

/// ISO 4217 codes Bursar accepts, with their minor-unit exponent (cents: 2, yen: 0, fils: 3).
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("BHD", 3),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EGP", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("MAD", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("NGN", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PEN", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("QAR", 2),
    ("RON", 2),
    ("SAR", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("THB", 2),
    ("TND", 3),
    ("TRY", 2),
    ("TWD", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("VND", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("ZAR", 2),
];

/// An ISO 4217 currency Bursar knows the minor unit of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: &'static str,
    exponent: u8,
}

impl Currency {
    pub fn parse(value: &str, param: &str) -> Result<Self, ValidationError> {
        let upper = value.trim().to_ascii_uppercase();
        CURRENCIES
            .iter()
            .find(|(code, _)| *code == upper)
            .map(|(code, exponent)| Currency { code, exponent: *exponent })
            .ok_or_else(|| {
                ValidationError::invalid(
                    param,
                    format!("Unknown or unsupported currency '{value}': use an ISO 4217 code such as USD."),
                )
            })
    }

    /// The currency of a canonical (upper-case) code, as stored.
    pub fn from_code(code: &str) -> Option<Self> {
        CURRENCIES
            .iter()
            .find(|(known, _)| *known == code)
            .map(|(code, exponent)| Currency {
                code,
                exponent: *exponent,
            })
    }

    /// `amount` minor units written in the major unit with the code: `12.34 USD`, `500 JPY`.
    pub fn format(self, amount: i64) -> String {
        let exponent = u32::from(self.exponent);
        if exponent == 0 {
            return format!("{amount} {}", self.code);
        }
        let scale = 10_i128.pow(exponent);
        let value = i128::from(amount);
        let sign = if value < 0 { "-" } else { "" };
        let (major, minor) = (value.abs() / scale, value.abs() % scale);
        format!(
            "{sign}{major}.{minor:0width$} {}",
            self.code,
            width = exponent as usize
        )
    }

    pub fn code(self) -> &'static str {
        self.code
    }

    /// Digits after the decimal point in the major unit.
    pub fn exponent(self) -> u8 {
        self.exponent
    }
}

impl serde::Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code)
    }
}

impl<'de> serde::Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Currency::parse(&text, "currency").map_err(|e| serde::de::Error::custom(e.message))
    }
}

impl utoipa::PartialSchema for Currency {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "ISO 4217 code, upper case (read in either case); one of the currencies Bursar \
                 knows the minor unit of",
            ))
            .enum_values(Some(CURRENCIES.iter().map(|(code, _)| *code)))
            .examples(["USD"])
            .into()
    }
}

impl utoipa::ToSchema for Currency {}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code)
    }
}

/// The largest amount Bursar accepts in one field, in minor units (10^15: ten trillion in a
/// two-decimal currency), so that sums of many stay far from overflowing.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

/// The OpenAPI schema of an amount field of either sign (a signed ledger movement, a credit
/// line): whole minor units, at most [`MAX_AMOUNT`] in magnitude. Only a schema: such fields
/// are `i64`, checked with [`check_amount_cap`].
pub struct Amount;

/// The OpenAPI schema of an amount that may be zero (a free price), checked like [`Amount`]
/// and refused below zero.
pub struct NonNegativeAmount;

/// The OpenAPI schema of an amount checked by [`parse_positive_amount`].
pub struct PositiveAmount;

fn amount_schema(
    minimum: i64,
    description: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Integer)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Int64,
        )))
        .minimum(Some(minimum))
        .maximum(Some(MAX_AMOUNT))
        .description(Some(description))
        .into()
}

impl utoipa::PartialSchema for Amount {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        amount_schema(-MAX_AMOUNT, "Minor units, at most 10^15 in magnitude.")
    }
}

impl utoipa::ToSchema for Amount {}

impl utoipa::PartialSchema for NonNegativeAmount {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        amount_schema(0, "Minor units, 0 to 10^15.")
    }
}

impl utoipa::ToSchema for NonNegativeAmount {}

impl utoipa::PartialSchema for PositiveAmount {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        amount_schema(1, "Minor units, 1 to 10^15.")
    }
}

impl utoipa::ToSchema for PositiveAmount {}

/// A positive amount in minor units, at most [`MAX_AMOUNT`].
pub fn parse_positive_amount(value: i64, param: &str) -> Result<i64, ValidationError> {
    if value <= 0 {
        return Err(ValidationError::invalid(
            param,
            "Amounts must be positive integers of minor units.",
        ));
    }
    check_amount_cap(value, param)
}

/// Refuses an amount (of either sign) beyond [`MAX_AMOUNT`] in magnitude.
pub fn check_amount_cap(value: i64, param: &str) -> Result<i64, ValidationError> {
    if value.unsigned_abs() > MAX_AMOUNT.unsigned_abs() {
        return Err(ValidationError::invalid(
            param,
            "Amounts are at most 1000000000000000 minor units.",
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_format_in_the_major_unit() {
        let usd = Currency::parse("USD", "c").unwrap();
        assert_eq!(usd.format(1234), "12.34 USD");
        assert_eq!(usd.format(-5), "-0.05 USD");
        assert_eq!(Currency::parse("JPY", "c").unwrap().format(500), "500 JPY");
        assert_eq!(
            Currency::parse("KWD", "c").unwrap().format(1_000_001),
            "1000.001 KWD"
        );
    }

    #[test]
    fn currencies_parse_case_insensitively_with_their_exponent() {
        assert_eq!(Currency::parse("usd", "currency").unwrap().exponent(), 2);
        assert_eq!(Currency::parse("JPY", "currency").unwrap().exponent(), 0);
        assert_eq!(Currency::parse("KWD", "currency").unwrap().exponent(), 3);
        assert_eq!(
            Currency::parse("XXX", "currency").unwrap_err().param,
            "currency"
        );
        assert_eq!(
            Currency::parse("dollars", "currency").unwrap_err().param,
            "currency"
        );
    }

    #[test]
    fn the_table_is_sorted_unique_and_well_formed() {
        for pair in CURRENCIES.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} before {}", pair[0].0, pair[1].0);
        }
        for (code, exponent) in CURRENCIES {
            assert!(code.len() == 3 && code.chars().all(|c| c.is_ascii_uppercase()));
            assert!(*exponent <= 3);
        }
    }
}
