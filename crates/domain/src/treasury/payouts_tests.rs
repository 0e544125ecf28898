use super::*;
use jiff::civil::date;

fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

#[test]
fn statuses_move_only_along_their_edges_and_refusals_name_the_state() {
    use PayoutMove as M;
    use PayoutStatus as S;
    assert_eq!(M::Submit.apply(S::Pending), Ok(S::InTransit));
    assert_eq!(M::Pay.apply(S::InTransit), Ok(S::Paid));
    assert_eq!(M::Fail.apply(S::InTransit), Ok(S::Failed));
    assert_eq!(M::Retry.apply(S::Failed), Ok(S::Pending));
    assert_eq!(M::Return.apply(S::Paid), Ok(S::Returned));
    assert_eq!(M::Cancel.apply(S::Pending), Ok(S::Canceled));
    let refused = M::Cancel.apply(S::InTransit).unwrap_err();
    assert_eq!(refused.current, S::InTransit);
    assert!(
        refused.message.contains("in_transit"),
        "{}",
        refused.message
    );
    for terminal in [S::Paid, S::Returned, S::Canceled] {
        for step in [M::Submit, M::Fail, M::Retry, M::Cancel] {
            assert!(step.apply(terminal).is_err(), "{step:?} from {terminal:?}");
        }
    }
    assert!(M::Pay.apply(S::Paid).is_err(), "paid once");
    assert!(M::Return.apply(S::Returned).is_err(), "returned once");
    for status in PayoutStatus::ALL {
        assert_eq!(PayoutStatus::parse(status.as_str()), Some(status));
    }
}

#[test]
fn schedules_run_at_midnight_on_their_day() {
    // 2026-05-08 is a Friday.
    let friday_noon = at("2026-05-08T12:00:00Z");
    assert_eq!(next_run(Interval::Manual, friday_noon), None);
    let daily = next_run(Interval::Daily, friday_noon).unwrap();
    assert_eq!(daily.to_rfc3339(), "2026-05-09T00:00:00Z");
    let monday = next_run(Interval::Weekly(Weekday::Monday), friday_noon).unwrap();
    assert_eq!(monday.to_rfc3339(), "2026-05-11T00:00:00Z");
    let friday = next_run(Interval::Weekly(Weekday::Friday), friday_noon).unwrap();
    assert_eq!(
        friday.to_rfc3339(),
        "2026-05-15T00:00:00Z",
        "strictly after now"
    );
    let monthly = next_run(Interval::Monthly(8), friday_noon).unwrap();
    assert_eq!(monthly.to_rfc3339(), "2026-06-08T00:00:00Z");
    let short_month = next_run(Interval::Monthly(31), at("2026-06-01T00:00:00Z")).unwrap();
    assert_eq!(
        short_month.to_rfc3339(),
        "2026-06-30T00:00:00Z",
        "June's last day"
    );
    let at_midnight = next_run(Interval::Daily, at("2026-05-09T00:00:00Z")).unwrap();
    assert_eq!(at_midnight.to_rfc3339(), "2026-05-10T00:00:00Z");
    assert_eq!(date_of(monday), date(2026, 5, 11));
}

#[test]
fn intervals_parse_with_exactly_their_fields() {
    assert_eq!(Interval::parse("daily", None, None), Ok(Interval::Daily));
    assert_eq!(
        Interval::parse("weekly", Some("Tuesday"), None),
        Ok(Interval::Weekly(Weekday::Tuesday))
    );
    assert_eq!(
        Interval::parse("monthly", None, Some(15)),
        Ok(Interval::Monthly(15))
    );
    assert_eq!(
        Interval::parse("weekly", None, None).unwrap_err().param,
        "weekday"
    );
    assert_eq!(
        Interval::parse("monthly", None, Some(32))
            .unwrap_err()
            .param,
        "day_of_month"
    );
    assert_eq!(
        Interval::parse("daily", Some("monday"), None)
            .unwrap_err()
            .param,
        "weekday"
    );
    assert_eq!(
        Interval::parse("hourly", None, None).unwrap_err().param,
        "interval"
    );
    assert_eq!(weekday_name(Weekday::Sunday), "sunday");
}

#[test]
fn amounts_never_exceed_available_nor_fall_below_the_minimum() {
    assert!(check_amount(100, 100).is_ok());
    let refused = check_amount(101, 100).unwrap_err();
    assert_eq!(refused.param, "amount");
    assert_eq!(scheduled_amount(5_000, 1_000), Some(5_000));
    assert_eq!(scheduled_amount(999, 1_000), None);
    assert_eq!(scheduled_amount(0, 0), None);
}

#[test]
fn retries_back_off_and_stop() {
    assert_eq!(retry_after(1, Some("receiving_account_rejected")), Some(60));
    assert_eq!(retry_after(2, None), Some(240));
    assert_eq!(retry_after(3, None), Some(960));
    assert_eq!(retry_after(MAX_ATTEMPTS, None), None, "attempts run out");
    assert_eq!(retry_after(1, Some("account_closed")), None);
    assert_eq!(retry_after(1, Some("R03")), None);
    assert!(retryable(Some("timeout")));
}

#[test]
fn returns_saying_the_account_is_bad_disable_it() {
    for code in ["R02", "R03", "r04", "R16"] {
        assert!(disables_account(code), "{code}");
    }
    for code in ["R01", "R05", "R10", "R29"] {
        assert!(!disables_account(code), "{code}");
    }
    for code in ACCOUNT_DISABLING {
        assert!(
            crate::treasury::returns::lookup(code).is_some(),
            "{code} is NACHA's"
        );
    }
}

#[test]
fn routing_numbers_carry_an_aba_check_digit() {
    for good in ["021000021", "011000015", "121000358", "026009593"] {
        assert!(aba_checksum_ok(good), "{good}");
        assert!(check_routing_number(good, "routing_number").is_ok());
    }
    assert!(!aba_checksum_ok("021000022"));
    assert_eq!(
        check_routing_number("12345", "routing_number")
            .unwrap_err()
            .param,
        "routing_number"
    );
    assert!(check_routing_number("02100002a", "r").is_err());
    assert!(check_account_number("6789", "account_number").is_ok());
    assert!(check_account_number("123", "account_number").is_err());
    assert!(check_account_number("123456789012345678", "account_number").is_err());
    assert!(check_account_number("12-34", "account_number").is_err());
}

#[test]
fn the_in_flight_account_is_a_valid_ledger_id() {
    let usd = Currency::parse("USD", "currency").unwrap();
    let id = in_flight_account(usd);
    assert_eq!(id.as_str(), "platform:payout_in_flight:USD");
    assert!(AccountId::parse(id.as_str(), "id").is_ok());
}
