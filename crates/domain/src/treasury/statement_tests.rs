use super::*;

fn usd() -> Currency {
    Currency::parse("USD", "currency").unwrap()
}

#[test]
fn a_statement_reads_into_transactions_in_minor_units() {
    let text = "Date,Amount,Direction,Currency,Reference,Counterparty,Id\r\n\
                2026-03-02,1250.00,credit,USD,INV-1,acme,bank-1\r\n\
                2026-03-03,\"1,000\",DEBIT,usd,\"say \"\"hi\"\"\",,bank-2\r\n";
    let error = parse(text, 10).unwrap_err();
    assert_eq!(
        error.param, "lines[2].amount",
        "thousands separators are refused"
    );
    let text = text.replace("\"1,000\"", "7.5");
    let lines = parse(&text, 10).unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].external_id, "bank-1");
    assert_eq!(lines[0].transaction.amount, 125_000);
    assert_eq!(lines[0].transaction.direction, Direction::Credit);
    assert_eq!(lines[0].transaction.reference.as_deref(), Some("INV-1"));
    assert_eq!(lines[0].transaction.counterparty.as_deref(), Some("acme"));
    assert_eq!(lines[1].transaction.amount, 750);
    assert_eq!(lines[1].transaction.direction, Direction::Debit);
    assert_eq!(
        lines[1].transaction.reference.as_deref(),
        Some("say \"hi\"")
    );
    assert_eq!(lines[1].transaction.counterparty, None);
}

#[test]
fn identical_lines_without_ids_are_told_apart_and_stable_across_imports() {
    let text =
        "date,amount,direction,currency\n2026-03-02,10,credit,USD\n2026-03-02,10,credit,USD\n";
    let first = parse(text, 10).unwrap();
    let again = parse(text, 10).unwrap();
    assert_ne!(first[0].external_id, first[1].external_id);
    assert_eq!(first, again);
    assert!(first[0].external_id.starts_with("line_"));
}

#[test]
fn bad_statements_name_the_line_and_column() {
    let cases = [
        ("", "csv"),
        ("date,amount,direction\n", "csv"),
        ("date,amount,direction,currency,color\n", "csv"),
        (
            "date,amount,direction,currency\n2026-02-30,1,credit,USD\n",
            "lines[1].date",
        ),
        (
            "date,amount,direction,currency\n2026-02-03,-1,credit,USD\n",
            "lines[1].amount",
        ),
        (
            "date,amount,direction,currency\n2026-02-03,0,credit,USD\n",
            "lines[1].amount",
        ),
        (
            "date,amount,direction,currency\n2026-02-03,1.234,credit,USD\n",
            "lines[1].amount",
        ),
        (
            "date,amount,direction,currency\n2026-02-03,1e3,credit,USD\n",
            "lines[1].amount",
        ),
        (
            "date,amount,direction,currency\n2026-02-03,1,sideways,USD\n",
            "lines[1].direction",
        ),
        (
            "date,amount,direction,currency\n2026-02-03,1,credit,XXQ\n",
            "lines[1].currency",
        ),
        (
            "date,amount,direction,currency\n2026-02-03,1,credit\n",
            "lines[1]",
        ),
        (
            "date,amount,direction,currency\n2026-02-03,,credit,USD\n",
            "lines[1].amount",
        ),
        (
            "date,amount,direction,currency\n\"2026-02-03,1,credit,USD\n",
            "csv",
        ),
    ];
    for (text, param) in cases {
        let error = parse(text, 10).unwrap_err();
        assert_eq!(error.param, param, "{text:?}: {}", error.message);
    }
}

#[test]
fn statements_are_bounded() {
    let mut text = String::from("date,amount,direction,currency\n");
    for _ in 0..4 {
        text.push_str("2026-02-03,1,credit,USD\n");
    }
    assert_eq!(parse(&text, 4).unwrap().len(), 4);
    assert_eq!(parse(&text, 3).unwrap_err().param, "csv");
}

#[test]
fn amounts_follow_the_currency_exponent() {
    let jpy = Currency::parse("JPY", "currency").unwrap();
    assert_eq!(parse_major_units("1250", jpy, "a"), Ok(1250));
    assert!(parse_major_units("1250.5", jpy, "a").is_err());
    assert_eq!(parse_major_units("0.01", usd(), "a"), Ok(1));
    assert!(parse_major_units("99999999999999999", usd(), "a").is_err());
}
