//! Webhook events parsed into Bursar's events.

use super::*;

fn event(text: &str) -> PaymentEvent {
    parse_event(text.as_bytes()).unwrap()
}

/// `fixture` with `change` applied, parsed.
fn changed(fixture_text: &str, change: impl FnOnce(&mut Value)) -> PaymentEvent {
    let mut value = fixture(fixture_text);
    change(&mut value);
    event(&value.to_string())
}

#[test]
fn events_parse_to_bursars_events() {
    let approved = event(data!("event-checkout-order-approved.json"));
    assert_eq!(
        (
            approved.provider_event_id.as_str(),
            approved.provider_event_type.as_str(),
            approved.created,
            approved.order_id.as_deref()
        ),
        (
            "WH-0KD14973CM528231V-4GT78309NR116642B",
            "CHECKOUT.ORDER.APPROVED",
            1_741_684_540,
            Some("ord_1")
        )
    );
    assert_eq!(
        approved.kind,
        PaymentEventKind::CheckoutCompleted {
            session_id: ORDER.into(),
            payment_id: None,
            paid: false,
            amount: 2500,
            currency: "USD".into(),
            provider_customer: None,
        }
    );
    let completed = event(data!("event-payment-capture-completed.json"));
    assert_eq!(completed.order_id.as_deref(), Some("ord_1"));
    assert_eq!(
        completed.kind,
        PaymentEventKind::PaymentSucceeded {
            payment_id: CAPTURE.into(),
            amount: 2500,
            currency: "USD".into(),
            fee: Some(136),
            payment_method: None,
            provider_customer: None,
        }
    );
    let pending = event(data!("event-payment-capture-pending.json"));
    assert_eq!(
        (pending.kind, pending.order_id.as_deref()),
        (
            PaymentEventKind::PaymentProcessing {
                payment_id: "9DL20486UV173350W".into()
            },
            Some("ord_2")
        )
    );
    let denied = event(data!("event-payment-capture-denied.json"));
    assert_eq!(
        (denied.kind, denied.order_id.as_deref()),
        (
            PaymentEventKind::PaymentFailed {
                payment_id: "9DL20486UV173350W".into(),
                code: Some("DECLINED".into()),
                message: Some("OTHER".into()),
                decline_code: Some("0500".into()),
                decline_class: Some(DeclineClass::Soft),
                card: None,
            },
            Some("ord_2")
        )
    );
    let refunded = event(data!("event-payment-capture-refunded.json"));
    assert_eq!(refunded.order_id, None);
    assert_eq!(
        refunded.kind,
        PaymentEventKind::Refund {
            refund_id: REFUND.into(),
            payment_id: Some(CAPTURE.into()),
            amount: 700,
            currency: "USD".into(),
            status: RefundStatus::Succeeded,
            bursar_refund_id: Some("rf_1".into()),
        }
    );
    let opened = event(data!("event-customer-dispute-created.json"));
    assert_eq!(opened.order_id.as_deref(), Some("ord_1"));
    assert_eq!(
        opened.kind,
        PaymentEventKind::DisputeOpened {
            dispute_id: "PP-D-61950".into(),
            payment_id: Some(CAPTURE.into()),
            amount: 2500,
            currency: "USD".into(),
            reason: Some("MERCHANDISE_OR_SERVICE_NOT_AS_DESCRIBED".into()),
            fee: None,
        }
    );
    assert_eq!(
        event(data!("event-customer-dispute-resolved.json")).kind,
        PaymentEventKind::DisputeClosed {
            dispute_id: "PP-D-61950".into(),
            payment_id: Some(CAPTURE.into()),
            amount: 2500,
            currency: "USD".into(),
            won: true,
        }
    );
    assert_eq!(
        event(data!("event-vault-payment-token-created.json")).kind,
        PaymentEventKind::PaymentMethodSaved {
            setup_id: VAULT_ID.into(),
            payment_method: VAULT_ID.into(),
            provider_customer: Some(PAYPAL_CUSTOMER.into()),
            customer_id: Some("cus_7".into()),
        }
    );
}

#[test]
fn what_bursar_did_not_set_is_absent_and_unknown_events_are_other() {
    let refunded = data!("event-payment-capture-refunded.json");
    for custom_id in [None, Some("INV-2025-0042")] {
        let kind = changed(refunded, |e| match custom_id {
            Some(id) => e["resource"]["custom_id"] = json!(id),
            None => drop(e["resource"].as_object_mut().unwrap().remove("custom_id")),
        })
        .kind;
        let PaymentEventKind::Refund {
            bursar_refund_id, ..
        } = kind
        else {
            panic!("a refund");
        };
        assert_eq!(
            bursar_refund_id, None,
            "a refund made elsewhere: {custom_id:?}"
        );
    }
    let token = changed(data!("event-vault-payment-token-created.json"), |e| {
        e["resource"]["metadata"] = json!({"setup_token_id": SETUP_TOKEN});
        e["resource"]["customer"] = json!({"id": PAYPAL_CUSTOMER});
    });
    let PaymentEventKind::PaymentMethodSaved {
        setup_id,
        customer_id,
        ..
    } = token.kind
    else {
        panic!("a saved method");
    };
    assert_eq!((setup_id.as_str(), customer_id), (SETUP_TOKEN, None));
    let vaulted = changed(data!("event-checkout-order-approved.json"), |e| {
        e["resource"]["payment_source"]["paypal"]["attributes"] =
            json!({"vault": {"status": "VAULTED", "customer": {"id": PAYPAL_CUSTOMER}}});
    });
    let PaymentEventKind::CheckoutCompleted {
        provider_customer, ..
    } = vaulted.kind
    else {
        panic!("a completed checkout");
    };
    assert_eq!(provider_customer.as_deref(), Some(PAYPAL_CUSTOMER));
    let foreign_fee = changed(data!("event-payment-capture-completed.json"), |e| {
        e["resource"]["seller_receivable_breakdown"]["paypal_fee"]["currency_code"] = json!("EUR");
    });
    let PaymentEventKind::PaymentSucceeded { fee, .. } = foreign_fee.kind else {
        panic!("a succeeded payment");
    };
    assert_eq!(fee, None, "a fee in another currency is not the payment's");
    let lost = changed(data!("event-customer-dispute-resolved.json"), |e| {
        e["resource"]["dispute_outcome"]["outcome_code"] = json!("RESOLVED_BUYER_FAVOUR");
        e["resource"]["disputed_transactions"][0]
            .as_object_mut()
            .unwrap()
            .remove("custom");
    });
    assert_eq!(lost.order_id, None);
    assert!(matches!(
        lost.kind,
        PaymentEventKind::DisputeClosed { won: false, .. }
    ));
    let other = changed(data!("event-payment-capture-completed.json"), |e| {
        e["event_type"] = json!("PAYMENT.CAPTURE.REVERSED");
    });
    assert_eq!(other.kind, PaymentEventKind::Other);
    for broken in [
        "nope".to_owned(),
        json!({"event_type": "X", "create_time": "2025-03-11T09:16:41.207Z", "resource": {}}).to_string(),
        json!({"id": "WH", "event_type": "X", "create_time": "yesterday", "resource": {}}).to_string(),
        json!({"id": "WH", "event_type": "X", "create_time": "2025-03-11T09:16:41Z"}).to_string(),
        json!({"id": "WH", "event_type": "PAYMENT.CAPTURE.COMPLETED", "create_time": "2025-03-11T09:16:41Z", "resource": {"id": "C"}}).to_string(),
    ] {
        assert!(matches!(parse_event(broken.as_bytes()), Err(WebhookError::BadPayload(_))), "{broken}");
    }
}
