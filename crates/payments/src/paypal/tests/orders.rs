//! Checkout: the order Bursar creates, where the payer is sent, and capturing the approved
//! order (declines and repeated captures included).

use super::*;

#[tokio::test]
async fn checkout_creates_an_order_and_sends_the_payer_to_its_payer_action_link() {
    let server = Server::start(&[]).await;
    let session = server
        .provider()
        .create_checkout(&checkout())
        .await
        .unwrap();
    assert_eq!(
        session,
        CheckoutSession {
            id: ORDER.into(),
            url: format!("https://www.paypal.com/checkoutnow?token={ORDER}"),
            payment_id: None,
            expires_at: 1_721_003_600,
        }
    );
    let call = token_then_call(&server.requests(), Some("bursar-checkout-att_1"));
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("POST", "/v2/checkout/orders")
    );
    let usd = |value: &str| json!({"currency_code": "USD", "value": value});
    assert_eq!(
        call.json(),
        json!({
            "intent": "CAPTURE",
            "purchase_units": [{
                "reference_id": "ord_1",
                "custom_id": "ord_1",
                "invoice_id": "att_1",
                "amount": {
                    "currency_code": "USD",
                    "value": "25.00",
                    "breakdown": {"item_total": usd("25.00")},
                },
                "items": [
                    {"name": "Annual plan", "quantity": "2", "unit_amount": usd("10.00")},
                    {"name": "Setup & onboarding", "quantity": "1", "unit_amount": usd("5.00")},
                ],
            }],
            "payment_source": {"paypal": {
                "email_address": "buyer@example.com",
                "experience_context": {
                    "return_url": "https://shop.example/paid?order=ord_1",
                    "cancel_url": "https://shop.example/cancel",
                    "user_action": "PAY_NOW",
                    "shipping_preference": "NO_SHIPPING",
                },
            }},
        })
    );
}

#[test]
fn an_order_without_payer_action_link_sends_the_payer_to_approve() {
    let answer = response(201, data!("order-create-approve.json"));
    let session = adapter().parse_checkout(&answer, &checkout()).unwrap();
    assert_eq!(session.id, ORDER);
    assert_eq!(
        session.url,
        format!("https://www.paypal.com/checkoutnow?token={ORDER}")
    );
    let no_link = response(201, r#"{"id": "X", "status": "CREATED", "links": []}"#);
    assert!(matches!(
        adapter().parse_checkout(&no_link, &checkout()),
        Err(ProviderError::BadResponse(_))
    ));
}

#[tokio::test]
async fn capture_checkout_captures_the_order_and_reads_its_capture() {
    let server = Server::start(&[]).await;
    let state = server.provider().capture_checkout(ORDER).await.unwrap();
    // The capture names no order; its purchase unit's `custom_id` does.
    assert_eq!(
        state,
        payment_state(
            CAPTURE,
            PaymentStatus::Succeeded,
            2500,
            "USD",
            Some("ord_1")
        )
    );
    let key = format!("bursar-capture-{ORDER}");
    let call = token_then_call(&server.requests(), Some(&key));
    assert_eq!(
        (call.method.as_str(), call.path.as_str(), call.body.as_str()),
        (
            "POST",
            format!("/v2/checkout/orders/{ORDER}/capture").as_str(),
            "{}"
        )
    );
}

#[tokio::test]
async fn a_capture_declined_or_already_made_is_read_from_the_order() {
    let approved = fixture(data!("event-checkout-order-approved.json"))["resource"].to_string();
    let order = format!("/v2/checkout/orders/{ORDER}");
    let server = Server::start(&[
        (&format!("POST {order}/capture"), 422, DECLINED),
        (&format!("GET {order}"), 200, &approved),
    ])
    .await;
    let state = server.provider().capture_checkout(ORDER).await.unwrap();
    assert_eq!(
        state,
        with_decline(
            payment_state(ORDER, PaymentStatus::Failed, 2500, "USD", Some("ord_1")),
            "INSTRUMENT_DECLINED",
            Some("INSTRUMENT_DECLINED"),
            DeclineClass::Soft
        )
    );
    let already =
        r#"{"name": "UNPROCESSABLE_ENTITY", "details": [{"issue": "ORDER_ALREADY_CAPTURED"}]}"#;
    let server = Server::start(&[("POST /v2/checkout/orders/O1/capture", 422, already)]).await;
    let state = server.provider().capture_checkout("O1").await.unwrap();
    assert_eq!(
        (state.id.as_str(), state.status),
        (CAPTURE, PaymentStatus::Succeeded)
    );
    let paths: Vec<_> = server.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "/v1/oauth2/token",
            "/v2/checkout/orders/O1/capture",
            "/v2/checkout/orders/O1"
        ]
    );
}
