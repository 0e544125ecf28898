//! Amounts: exact decimal conversions per currency, and requests PayPal could not take refused
//! before any call.

use super::*;

#[test]
fn amounts_are_written_in_the_currencys_decimals_and_refused_when_paypal_cannot_take_them() {
    let mut yen = checkout();
    yen.currency = "JPY".into();
    yen.amount = 500;
    yen.lines = vec![CheckoutLine {
        name: "x".repeat(200),
        quantity: 1,
        unit_amount: 500,
    }];
    let body = body_of(&adapter().checkout_request(&yen, "t").unwrap());
    assert_eq!(body["purchase_units"][0]["amount"]["value"], "500");
    assert_eq!(
        body["purchase_units"][0]["items"][0]["unit_amount"]["value"],
        "500"
    );
    let name = body["purchase_units"][0]["items"][0]["name"]
        .as_str()
        .unwrap();
    assert_eq!(name.chars().count(), 127, "PayPal caps item names");
    let mut forint = yen.clone();
    forint.currency = "huf".into();
    forint.amount = 1000;
    forint.lines[0].unit_amount = 1000;
    let body = body_of(&adapter().checkout_request(&forint, "t").unwrap());
    assert_eq!(
        body["purchase_units"][0]["amount"],
        json!({"currency_code": "HUF", "value": "10", "breakdown": {"item_total": {"currency_code": "HUF", "value": "10"}}})
    );
    let refused = |request: &CheckoutRequest| {
        matches!(
            adapter().checkout_request(request, "t"),
            Err(ProviderError::Unsupported(_))
        )
    };
    forint.amount = 1050;
    forint.lines[0].unit_amount = 1050;
    assert!(
        refused(&forint),
        "HUF 10.50: PayPal takes no fractions of a forint"
    );
    let mut dinar = checkout();
    dinar.currency = "KWD".into();
    assert!(refused(&dinar), "not a PayPal currency");
    let mut unbalanced = checkout();
    unbalanced.amount = 2400;
    assert!(
        refused(&unbalanced),
        "the total must be the sum of the lines"
    );
    let mut negative = checkout();
    negative.lines[1].unit_amount = -500;
    negative.amount = 1500;
    assert!(refused(&negative));
}

#[test]
fn money_round_trips_exactly() {
    for (amount, exponent, text) in [
        (1999, 2, "19.99"),
        (500, 0, "500"),
        (1_000_001, 3, "1000.001"),
        (0, 2, "0.00"),
        (5, 2, "0.05"),
        (100, 3, "0.100"),
        (i64::MAX, 2, "92233720368547758.07"),
    ] {
        assert_eq!(format_minor(amount, exponent), text);
        assert_eq!(parse_minor(text, exponent), Some(amount), "{text}");
    }
    for amount in (0..200_000).step_by(7) {
        assert_eq!(parse_minor(&format_minor(amount, 2), 2), Some(amount));
    }
    assert_eq!(parse_minor("10", 2), Some(1000));
    assert_eq!(parse_minor("10.5", 2), Some(1050));
    assert_eq!(
        parse_minor("19.990", 2),
        Some(1999),
        "extra zeros lose nothing"
    );
    for refused in [
        "19.999",
        "-1.00",
        "1e3",
        " 1",
        "1.",
        ".5",
        "",
        "1.2.3",
        "92233720368547758.08",
    ] {
        assert_eq!(parse_minor(refused, 2), None, "{refused}");
    }
    assert_eq!(paypal_value(1999, "USD").unwrap(), "19.99");
    assert_eq!(paypal_value(500, "JPY").unwrap(), "500");
    assert_eq!(paypal_value(123_400, "TWD").unwrap(), "1234");
    assert_eq!(minor_units("1234", "TWD"), Some(123_400));
    assert_eq!(minor_units("19.99", "USD"), Some(1999));
    assert_eq!(minor_units("500", "JPY"), Some(500));
    assert_eq!(minor_units("500.5", "JPY"), None);
    assert_eq!(minor_units("1.000", "KWD"), None, "not a PayPal currency");
    for (code, exponent, decimals) in CURRENCIES {
        assert!(
            decimals <= exponent,
            "{code}: PayPal never needs more decimals than Bursar"
        );
    }
}

#[tokio::test]
async fn a_request_paypal_cannot_take_fails_before_any_call() {
    let server = Server::start(&[]).await;
    let mut dinar = checkout();
    dinar.currency = "KWD".into();
    let result = server.provider().create_checkout(&dinar).await;
    assert!(
        matches!(result, Err(ProviderError::Unsupported(_))),
        "{result:?}"
    );
    assert!(server.requests().is_empty());
}
