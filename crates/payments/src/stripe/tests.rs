use std::collections::BTreeMap;

use super::*;
use crate::CheckoutLine;

fn adapter() -> StripeAdapter {
    StripeAdapter::new(StripeConfig {
        secret_key: "sk_test_123".into(),
        api_base: "http://fake/".into(),
    })
}

fn response(status: u16, body: Value) -> ProviderResponse {
    ProviderResponse {
        status,
        headers: BTreeMap::new(),
        body: body.to_string().into_bytes(),
    }
}

fn checkout() -> CheckoutRequest {
    CheckoutRequest {
        attempt_id: "att_1".into(),
        order_id: "ord_1".into(),
        currency: "EUR".into(),
        amount: 2500,
        lines: vec![
            CheckoutLine {
                name: "Seat".into(),
                quantity: 2,
                unit_amount: 1000,
            },
            CheckoutLine {
                name: "Setup".into(),
                quantity: 1,
                unit_amount: 500,
            },
        ],
        customer_email: Some("a@example.com".into()),
        provider_customer: Some("cus_1".into()),
        success_url: "https://s".into(),
        cancel_url: "https://c".into(),
        expires_at: 1_700_000_000,
        metadata: BTreeMap::from([
            ("plan".to_owned(), "pro".to_owned()),
            (ORDER_ID_KEY.to_owned(), "spoofed".to_owned()),
        ]),
    }
}

#[test]
fn checkout_form_is_stripes_nested_encoding() {
    let call = adapter().checkout_request(&checkout());
    assert_eq!(call.url, "http://fake/v1/checkout/sessions");
    assert_eq!(
        call.idempotency_key.as_deref(),
        Some("bursar-checkout-att_1")
    );
    let form: BTreeMap<_, _> = call.form.unwrap().into_iter().collect();
    assert_eq!(form["line_items[1][price_data][currency]"], "eur");
    assert_eq!(
        form["line_items[1][price_data][product_data][name]"],
        "Setup"
    );
    assert_eq!(form["line_items[0][quantity]"], "2");
    assert_eq!(form["customer"], "cus_1");
    assert!(!form.contains_key("customer_email"));
    assert_eq!(form["metadata[bursar_order_id]"], "ord_1");
    assert_eq!(
        form["payment_intent_data[metadata][bursar_order_id]"],
        "ord_1"
    );
    assert_eq!(form["payment_intent_data[metadata][plan]"], "pro");
}

/// Wallets (Apple Pay, Google Pay) are card payments on Checkout's hosted page: Stripe shows
/// them, with every other method enabled in the account's payment method settings, when the
/// session names no method types (dynamic payment methods). Naming `card` alone would hide all
/// but cards, so the session names none.
#[test]
fn checkout_sessions_leave_the_methods_to_the_account_settings() {
    let call = adapter().checkout_request(&checkout());
    let form = call.form.unwrap();
    assert!(
        form.iter()
            .all(|(key, _)| !key.starts_with("payment_method_types")
                && !key.starts_with("allowed_payment_method_types")),
        "{form:?}"
    );
}

#[test]
fn refund_reason_is_sent_only_when_stripe_knows_it() {
    let mut request = RefundRequest {
        refund_id: "rf_1".into(),
        payment_id: "pi_1".into(),
        amount: 100,
        currency: "USD".into(),
        reason: Some("goodwill".into()),
        metadata: BTreeMap::new(),
    };
    let form = adapter().refund_request(&request).form.unwrap();
    assert!(!form.iter().any(|(k, _)| k == "reason"));
    request.reason = Some("duplicate".into());
    let form = adapter().refund_request(&request).form.unwrap();
    assert!(form.contains(&("reason".into(), "duplicate".into())));
}

#[test]
fn payment_ids_stay_one_path_segment() {
    let call = adapter().payment_request("pi_1/../x?y");
    assert_eq!(call.url, "http://fake/v1/payment_intents/pi_1%2F..%2Fx%3Fy");
    assert_eq!(call.method, Method::GET);
    assert!(call.idempotency_key.is_none());
}

#[test]
fn status_mappings() {
    assert_eq!(payment_status("requires_action"), Some(PaymentStatus::Open));
    assert_eq!(
        payment_status("requires_capture"),
        Some(PaymentStatus::Processing)
    );
    assert_eq!(payment_status("canceled"), Some(PaymentStatus::Canceled));
    assert_eq!(payment_status("mystery"), None);
    assert_eq!(
        refund_status(Some("requires_action")),
        RefundStatus::Pending
    );
    assert_eq!(refund_status(Some("canceled")), RefundStatus::Canceled);
    assert_eq!(refund_status(None), RefundStatus::Pending);
}

#[test]
fn errors_become_refusals_or_bad_responses() {
    let a = adapter();
    let error = json!({"error": {"type": "invalid_request_error", "message": "No such payment_intent: 'pi_x'", "param": "id"}});
    assert_eq!(
        a.parse_payment(&response(404, error)),
        Err(ProviderError::Refused {
            status: 404,
            code: "invalid_request_error".into(),
            message: "No such payment_intent: 'pi_x' (param: id)".into(),
        })
    );
    let unreadable = ProviderResponse {
        status: 200,
        headers: BTreeMap::new(),
        body: b"<html>".to_vec(),
    };
    assert!(matches!(
        a.parse_refund(&unreadable),
        Err(ProviderError::BadResponse(_))
    ));
    assert!(matches!(
        a.parse_refund(&response(200, json!({"object": "charge"}))),
        Err(ProviderError::BadResponse(_))
    ));
    assert!(matches!(
        a.parse_refund(&response(503, json!({}))),
        Err(ProviderError::Unavailable(_))
    ));
    let key_echo = json!({"error": {"type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_abc"}});
    let Err(ProviderError::Refused { message, .. }) = a.parse_refund(&response(401, key_echo))
    else {
        panic!("expected a refusal");
    };
    assert_eq!(message, "Invalid API Key provided: sk_test_***");
}

fn charge() -> OffSessionCharge {
    OffSessionCharge {
        attempt_id: "att_9".into(),
        order_id: "ord_9".into(),
        provider_customer: "cus_9".into(),
        payment_method: "pm_9".into(),
        amount: 900,
        currency: "EUR".into(),
        metadata: BTreeMap::from([(ORDER_ID_KEY.to_owned(), "spoofed".to_owned())]),
    }
}

#[test]
fn charge_metadata_cannot_override_the_order() {
    let form = adapter().charge_request(&charge()).form.unwrap();
    let order: Vec<_> = form
        .iter()
        .filter(|(k, _)| k == "metadata[bursar_order_id]")
        .collect();
    assert_eq!(
        order,
        [&("metadata[bursar_order_id]".into(), "ord_9".into())]
    );
}

#[test]
fn payment_last_error_is_the_error_code() {
    let a = adapter();
    let intent = json!({"object": "payment_intent", "id": "pi_1", "status": "requires_payment_method",
        "amount": 900, "currency": "eur", "last_payment_error": {"type": "card_error", "code": "expired_card"}});
    let state = a.parse_payment(&response(200, intent.clone())).unwrap();
    assert_eq!(state.last_error.as_deref(), Some("expired_card"));
    assert_eq!(state.status, PaymentStatus::Open);
    // Without a decline code, the code is classified.
    assert_eq!(
        (state.decline_code, state.decline_class),
        (None, Some(DeclineClass::Hard))
    );
    // A plain retrieve does not invent an authentication error; a charge does.
    let mut action = intent;
    action["status"] = json!("requires_action");
    action["last_payment_error"] = Value::Null;
    assert_eq!(
        a.parse_payment(&response(200, action.clone()))
            .unwrap()
            .last_error,
        None
    );
    assert_eq!(
        a.parse_charge(&charge(), &response(200, action))
            .unwrap()
            .last_error
            .as_deref(),
        Some(AUTHENTICATION_REQUIRED)
    );
}

#[test]
fn card_errors_without_an_intent_fall_back_to_the_request() {
    let a = adapter();
    let declined = json!({"error": {"type": "card_error", "decline_code": "insufficient_funds"}});
    assert_eq!(
        a.parse_charge(&charge(), &response(402, declined)),
        Ok(PaymentState {
            id: String::new(),
            status: PaymentStatus::Failed,
            amount: 900,
            amount_received: 0,
            currency: "EUR".into(),
            order_id: Some("ord_9".into()),
            last_error: Some("insufficient_funds".into()),
            decline_code: Some("insufficient_funds".into()),
            decline_class: Some(DeclineClass::Soft),
        })
    );
    // A card error with no code at all is a decline of no known kind.
    let bare = json!({"error": {"type": "card_error", "message": "Declined."}});
    let state = a.parse_charge(&charge(), &response(402, bare)).unwrap();
    assert_eq!(
        (
            state.status,
            state.last_error.as_deref(),
            state.decline_class
        ),
        (
            PaymentStatus::Failed,
            Some("card_error"),
            Some(DeclineClass::Soft)
        )
    );
    // Older API versions report authentication as a decline code of a card_declined.
    let auth = json!({"error": {"type": "card_error", "code": "card_declined",
        "decline_code": "authentication_required"}});
    let state = a.parse_charge(&charge(), &response(402, auth)).unwrap();
    assert_eq!(state.status, PaymentStatus::Open);
    assert_eq!(state.last_error.as_deref(), Some(AUTHENTICATION_REQUIRED));
    assert_eq!(
        state.decline_class,
        Some(DeclineClass::AuthenticationRequired)
    );
    // A 402 that is not a card error, and a card error on another status, stay refusals.
    for (status, body) in [
        (
            402,
            json!({"error": {"type": "invalid_request_error", "code": "x"}}),
        ),
        (
            400,
            json!({"error": {"type": "card_error", "code": "card_declined"}}),
        ),
    ] {
        assert!(matches!(
            a.parse_charge(&charge(), &response(status, body)),
            Err(ProviderError::Refused { .. })
        ));
    }
}

/// Stripe's shape of a declined intent: `card_declined` with the issuer's reason as
/// `decline_code`; the class comes from the reason, `last_error` stays the code.
#[test]
fn a_declined_intent_is_classed_by_its_decline_code() {
    let a = adapter();
    let intent = json!({"object": "payment_intent", "id": "pi_2", "status": "requires_payment_method",
        "amount": 900, "currency": "eur", "metadata": {"bursar_order_id": "ord_9"},
        "last_payment_error": {"type": "card_error", "code": "card_declined", "decline_code": "lost_card",
            "message": "Your card was declined.", "charge": "ch_1",
            "doc_url": "https://stripe.com/docs/error-codes/card-declined"}});
    for state in [
        a.parse_payment(&response(200, intent.clone())).unwrap(),
        a.parse_charge(&charge(), &response(200, intent.clone()))
            .unwrap(),
    ] {
        assert_eq!(state.status, PaymentStatus::Open);
        assert_eq!(state.last_error.as_deref(), Some("card_declined"));
        assert_eq!(state.decline_code.as_deref(), Some("lost_card"));
        assert_eq!(state.decline_class, Some(DeclineClass::Hard));
    }
    // The same error embedded in a 402 card error.
    let error = json!({"error": {"type": "card_error", "code": "card_declined", "decline_code": "lost_card",
        "payment_intent": intent}});
    let state = a.parse_charge(&charge(), &response(402, error)).unwrap();
    assert_eq!(
        (state.status, state.id.as_str(), state.decline_class),
        (PaymentStatus::Failed, "pi_2", Some(DeclineClass::Hard))
    );
}

#[test]
fn config_debug_hides_the_key() {
    let shown = format!("{:?}", StripeConfig::new("sk_live_verysecret"));
    assert!(!shown.contains("verysecret"), "{shown}");
}

#[test]
fn envelopes_need_id_type_created_and_object() {
    assert!(matches!(
        parse_event(b"nope"),
        Err(WebhookError::BadPayload(_))
    ));
    for body in [
        json!({"type": "x", "created": 1, "data": {"object": {}}}),
        json!({"id": "evt", "created": 1, "data": {"object": {}}}),
        json!({"id": "evt", "type": "x", "created": 1, "data": {}}),
    ] {
        assert!(matches!(
            parse_event(body.to_string().as_bytes()),
            Err(WebhookError::BadPayload(_))
        ));
    }
    let other = event_json(
        "evt_1",
        "customer.created",
        5,
        json!({"object": "customer"}),
    );
    let event = parse_event(other.to_string().as_bytes()).unwrap();
    assert_eq!(event.kind, PaymentEventKind::Other);
    assert_eq!(event.created, 5);
}
