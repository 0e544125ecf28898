use jiff::civil::date;
use serde_json::Value;

use super::*;

const NACHA: &str = include_str!("data/nacha-return-codes.json");

#[test]
fn the_table_is_nachas() {
    let nacha: Value = serde_json::from_str(NACHA).unwrap();
    let listed = nacha["codes"].as_array().unwrap();
    assert_eq!(listed.len(), CODES.len());
    for (theirs, ours) in listed.iter().zip(CODES) {
        assert_eq!(theirs["code"], ours.code);
        assert_eq!(theirs["title"], ours.title);
        let window = match ours.window {
            None => Value::Null,
            Some(Window::BankingDays(n)) => format!("{n} banking days").into(),
            Some(Window::CalendarDays(n)) => format!("{n} calendar days").into(),
        };
        assert_eq!(theirs["return_window"], window, "{}", ours.code);
        let category = match ours.category {
            RateCategory::Overall => "overall",
            RateCategory::Unauthorized => "unauthorized",
            RateCategory::Administrative => "administrative",
        };
        assert_eq!(theirs["rate_category"], category, "{}", ours.code);
    }
    let limits = &nacha["thresholds"];
    assert_eq!(
        limits["unauthorized"].as_f64(),
        Some(f64::from(UNAUTHORIZED_LIMIT_BPS) / 10_000.0)
    );
    assert_eq!(
        limits["administrative"].as_f64(),
        Some(f64::from(ADMINISTRATIVE_LIMIT_BPS) / 10_000.0)
    );
    assert_eq!(
        limits["overall"].as_f64(),
        Some(f64::from(OVERALL_LIMIT_BPS) / 10_000.0)
    );
    assert_eq!(limits["window_days"].as_i64(), Some(RATE_WINDOW_DAYS));
}

#[test]
fn windows_count_banking_days_or_calendar_days() {
    let friday = date(2026, 12, 4);
    let r01 = lookup("r01").unwrap();
    assert_eq!(
        return_deadline(r01, friday),
        Some(date(2026, 12, 8)),
        "Monday and Tuesday"
    );
    let r10 = lookup("R10").unwrap();
    assert_eq!(return_deadline(r10, friday), Some(date(2027, 2, 2)));
    assert_eq!(return_deadline(lookup("R06").unwrap(), friday), None);
    assert!(lookup("R48").is_none(), "not assigned");
}

#[test]
fn unauthorized_codes_stop_the_mandate() {
    for code in MANDATE_STOPPING {
        assert!(stops_mandate(code));
        assert!(lookup(code).is_some(), "{code}");
    }
    assert!(!stops_mandate("R01"));
}

#[test]
fn rates_cross_nachas_thresholds_strictly_above_them() {
    let mut rates = ReturnRates {
        debits: 1_000,
        ..ReturnRates::default()
    };
    for _ in 0..5 {
        rates.count(lookup("R10").unwrap());
    }
    assert!(
        rates.crossed().is_empty(),
        "0.5 % exactly is at the threshold, not over it"
    );
    rates.count(lookup("R05").unwrap());
    assert_eq!(rates.crossed(), vec![RateCategory::Unauthorized]);
    for _ in 0..144 {
        rates.count(lookup("R01").unwrap());
    }
    assert_eq!(rates.crossed(), vec![RateCategory::Unauthorized]);
    rates.count(lookup("R01").unwrap());
    assert_eq!(
        rates.crossed(),
        vec![RateCategory::Unauthorized, RateCategory::Overall]
    );
    assert!(ReturnRates::default().crossed().is_empty());
}
