//! Payments and refunds: reading captures as payment states, and refunding a capture.

use super::*;

#[tokio::test]
async fn payment_reads_the_capture() {
    let server = Server::start(&[]).await;
    let state = server.provider().payment(CAPTURE).await.unwrap();
    assert_eq!(
        (
            state.status,
            state.amount,
            state.amount_received,
            state.order_id.as_deref()
        ),
        (PaymentStatus::Succeeded, 2500, 2500, Some("ord_1"))
    );
    let call = token_then_call(&server.requests(), None);
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("GET", format!("/v2/payments/captures/{CAPTURE}").as_str())
    );
    let odd = adapter().payment_request("C1/../x?y", "t");
    assert_eq!(odd.url, "http://fake/v2/payments/captures/C1%2F..%2Fx%3Fy");
}

#[test]
fn captures_map_to_payment_states() {
    let a = adapter();
    let resource = |text: &str| response(200, &fixture(text)["resource"].to_string());
    let pending = a
        .parse_payment(&resource(data!("event-payment-capture-pending.json")))
        .unwrap();
    assert_eq!(
        (
            pending.status,
            pending.amount,
            pending.amount_received,
            pending.currency.as_str()
        ),
        (PaymentStatus::Processing, 4850, 0, "EUR")
    );
    assert_eq!(
        (pending.order_id.as_deref(), pending.last_error),
        (Some("ord_2"), None)
    );
    let denied = a
        .parse_payment(&resource(data!("event-payment-capture-denied.json")))
        .unwrap();
    assert_eq!(
        denied,
        with_decline(
            payment_state(
                "9DL20486UV173350W",
                PaymentStatus::Failed,
                4850,
                "EUR",
                Some("ord_2")
            ),
            "DECLINED",
            Some("0500"),
            DeclineClass::Soft
        )
    );
    // An amount in v1's shape (`total` and `currency`, as one of PayPal's published capture
    // examples writes it) is refused, not misread: the v2 API answers `value` and
    // `currency_code`.
    let v1 =
        r#"{"id": "C", "status": "COMPLETED", "amount": {"total": "25.00", "currency": "USD"}}"#;
    let Err(ProviderError::BadResponse(reason)) = a.parse_payment(&response(200, v1)) else {
        panic!("a v1-shaped amount must not be read as a payment");
    };
    assert!(reason.contains("amount.currency_code"), "{reason}");
}

#[tokio::test]
async fn refund_sends_the_amount_and_bursars_refund_id() {
    let server = Server::start(&[]).await;
    let result = server.provider().refund(&refund_request()).await.unwrap();
    assert_eq!(
        result,
        RefundResult {
            id: REFUND.into(),
            status: RefundStatus::Succeeded,
            amount: 700,
        }
    );
    let call = token_then_call(&server.requests(), Some("bursar-refund-rf_1"));
    assert_eq!(call.path, format!("/v2/payments/captures/{CAPTURE}/refund"));
    assert_eq!(
        call.json(),
        json!({"amount": {"currency_code": "USD", "value": "7.00"}, "custom_id": "rf_1"})
    );
    let pending = response(
        201,
        r#"{"id": "R", "status": "PENDING", "amount": {"currency_code": "USD", "value": "6.50"}}"#,
    );
    let read = adapter().parse_refund(&pending, &refund_request()).unwrap();
    assert_eq!((read.status, read.amount), (RefundStatus::Pending, 650));
}
