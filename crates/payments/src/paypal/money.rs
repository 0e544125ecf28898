//! Amounts: Bursar counts integer minor units, PayPal writes decimal strings. [`paypal_value`]
//! and [`minor_units`] convert exactly, per currency ([`CURRENCIES`]), with integers only (no
//! `f64` anywhere), and refuse what PayPal cannot express rather than round it.

use serde_json::{json, Value};

use super::responses::str_of;
use crate::ProviderError;

/// The currencies PayPal accepts that Bursar knows: `(code, Bursar's minor-unit exponent, the
/// decimals PayPal accepts)`. The exponent is Bursar's (`bursar_domain::Currency`); PayPal takes
/// no decimals for HUF and TWD, so an amount there must be a whole number of units. Bursar's
/// three-decimal currencies (BHD, JOD, KWD, OMR, TND) are not PayPal currencies.
pub const CURRENCIES: &[(&str, u32, u32)] = &[
    ("AUD", 2, 2),
    ("BRL", 2, 2),
    ("CAD", 2, 2),
    ("CHF", 2, 2),
    ("CNY", 2, 2),
    ("CZK", 2, 2),
    ("DKK", 2, 2),
    ("EUR", 2, 2),
    ("GBP", 2, 2),
    ("HKD", 2, 2),
    ("HUF", 2, 0),
    ("ILS", 2, 2),
    ("JPY", 0, 0),
    ("MXN", 2, 2),
    ("MYR", 2, 2),
    ("NOK", 2, 2),
    ("NZD", 2, 2),
    ("PHP", 2, 2),
    ("PLN", 2, 2),
    ("SEK", 2, 2),
    ("SGD", 2, 2),
    ("THB", 2, 2),
    ("TWD", 2, 0),
    ("USD", 2, 2),
];

/// `(Bursar's exponent, PayPal's decimals)` of an upper-case ISO 4217 code PayPal accepts.
pub fn currency(code: &str) -> Option<(u32, u32)> {
    CURRENCIES
        .iter()
        .find(|(known, _, _)| *known == code)
        .map(|(_, exponent, decimals)| (*exponent, *decimals))
}

/// `amount` minor units written with `exponent` decimals: `(1999, 2)` → `19.99`, `(500, 0)` →
/// `500`, `(1_000_001, 3)` → `1000.001`. Exact for every `i64`.
pub fn format_minor(amount: i64, exponent: u32) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    let magnitude = amount.unsigned_abs();
    if exponent == 0 {
        return format!("{sign}{magnitude}");
    }
    let scale = 10_u128.pow(exponent);
    let (major, minor) = (u128::from(magnitude) / scale, u128::from(magnitude) % scale);
    let width = exponent as usize;
    format!("{sign}{major}.{minor:0width$}")
}

/// A non-negative decimal string read as minor units of `exponent` decimals: `("19.99", 2)` →
/// 1999, `("10", 2)` → 1000. More decimals than `exponent` are accepted only if they are zeros
/// (nothing is rounded); signs, exponents, spaces and overflow are refused.
pub fn parse_minor(value: &str, exponent: u32) -> Option<i64> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || value.ends_with('.') {
        return None;
    }
    let width = exponent as usize;
    let (kept, dropped) = fraction.split_at(fraction.len().min(width));
    if dropped.bytes().any(|b| b != b'0') {
        return None;
    }
    let mut amount: i64 = 0;
    for b in whole.bytes().chain(kept.bytes()) {
        amount = amount.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    let missing = u32::try_from(width - kept.len()).ok()?;
    amount.checked_mul(10_i64.checked_pow(missing)?)
}

/// `amount` minor units of `currency` as PayPal's `value`. Refused (before any call) for a
/// currency PayPal does not take, a negative amount, or a fraction PayPal cannot express.
pub fn paypal_value(amount: i64, currency_code: &str) -> Result<String, ProviderError> {
    let (exponent, decimals) = currency(currency_code).ok_or(ProviderError::Unsupported(
        "a currency PayPal does not accept",
    ))?;
    if amount < 0 {
        return Err(ProviderError::Unsupported("a negative amount"));
    }
    let step = 10_i64.pow(exponent.saturating_sub(decimals));
    if amount % step != 0 {
        return Err(ProviderError::Unsupported(
            "a fraction of a unit in a currency PayPal takes in whole units",
        ));
    }
    Ok(format_minor(amount / step, decimals))
}

/// PayPal's `value` of `currency` as Bursar minor units; `None` for an unknown currency or a
/// value that is not an exact amount of it.
pub fn minor_units(value: &str, currency_code: &str) -> Option<i64> {
    let (exponent, _) = currency(currency_code)?;
    parse_minor(value, exponent)
}

/// PayPal's money object: `{"currency_code": "USD", "value": "19.99"}`.
pub(super) fn money(amount: i64, currency_code: &str) -> Result<Value, ProviderError> {
    Ok(json!({
        "currency_code": currency_code,
        "value": paypal_value(amount, currency_code)?,
    }))
}

/// The money object at `key` of `value`, as `(minor units, currency)`.
pub(crate) fn money_of(value: &Value, key: &str) -> Result<(i64, String), String> {
    let object = value
        .get(key)
        .ok_or_else(|| format!("'{key}' is missing"))?;
    let currency_code = str_of(object, "currency_code")
        .ok_or_else(|| format!("'{key}.currency_code' is missing"))?;
    let amount = str_of(object, "value").ok_or_else(|| format!("'{key}.value' is missing"))?;
    let minor = minor_units(amount, currency_code)
        .ok_or_else(|| format!("'{key}' {amount} {currency_code} is not an amount Bursar reads"))?;
    Ok((minor, currency_code.to_owned()))
}
