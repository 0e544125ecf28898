//! Stripe webhook events, built from Stripe's own fixture objects (see `fixtures/README.md`)
//! wrapped by `event_json`, read into neutral `PaymentEvent`s; and the signature-first order of
//! `StripeProvider::parse_webhook`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use bursar_payments::executor::{ExecutorConfig, HttpExecutor};
use bursar_payments::signature;
use bursar_payments::stripe::{event_json, parse_event, StripeConfig, StripeProvider, API_VERSION};
use bursar_payments::{
    DeclineClass, DeclinedCard, PaymentEvent, PaymentEventKind, PaymentProvider, RefundStatus,
    WebhookError,
};
use serde_json::{json, Value};

const FIXTURES: &str = include_str!("fixtures/stripe-fixtures3.json");

/// A fixture object with `changes` merged over its top-level fields.
fn fixture(resource: &str, changes: Value) -> Value {
    let all: Value = serde_json::from_str(FIXTURES).unwrap();
    let mut object = all["resources"][resource].clone();
    assert!(object.is_object(), "no fixture for {resource}");
    for (key, value) in changes.as_object().unwrap() {
        object[key] = value.clone();
    }
    object
}

fn parse(event_type: &str, object: Value) -> PaymentEvent {
    let body = event_json("evt_test_1", event_type, 1_721_000_000, object);
    parse_event(body.to_string().as_bytes()).unwrap()
}

fn parse_err(event_type: &str, object: Value) -> WebhookError {
    let body = event_json("evt_test_1", event_type, 1_721_000_000, object);
    parse_event(body.to_string().as_bytes()).unwrap_err()
}

const SESSION_PI: &str = "pi_1PgafyB7WZ01zgkWSjxsAJo3";
const SESSION_ID: &str = "cs_test_a1YS1URlnyQCN5fUUduORoQ7Pw41PJqDWkIVQCpJPqkfIhd6tVY8XB1OLY";

fn paid_session(payment_status: &str) -> Value {
    fixture(
        "checkout.session",
        json!({
            "payment_status": payment_status,
            "status": "complete",
            "amount_total": 2500,
            "currency": "usd",
            "customer": "cus_1",
            "metadata": {"bursar_order_id": "ord_1"},
        }),
    )
}

#[test]
fn event_json_is_stripes_envelope() {
    let object = fixture("refund", json!({}));
    let event = event_json("evt_1", "refund.created", 42, object.clone());
    assert_eq!(
        event,
        json!({
            "id": "evt_1",
            "object": "event",
            "api_version": API_VERSION,
            "created": 42,
            "data": {"object": object},
            "livemode": false,
            "pending_webhooks": 1,
            "request": {"id": null, "idempotency_key": null},
            "type": "refund.created",
        })
    );
    // The fixture's own event has every envelope key event_json writes.
    let all: Value = serde_json::from_str(FIXTURES).unwrap();
    let stripe_keys: Vec<&String> = all["resources"]["event"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    let our_keys: Vec<&String> = event.as_object().unwrap().keys().collect();
    assert_eq!(stripe_keys.len(), our_keys.len());
    for key in our_keys {
        assert!(stripe_keys.contains(&key), "{key}");
    }
}

#[test]
fn checkout_completed_and_paid() {
    let event = parse("checkout.session.completed", paid_session("paid"));
    assert_eq!(
        event,
        PaymentEvent {
            provider_event_id: "evt_test_1".into(),
            provider_event_type: "checkout.session.completed".into(),
            created: 1_721_000_000,
            order_id: Some("ord_1".into()),
            kind: PaymentEventKind::CheckoutCompleted {
                session_id: SESSION_ID.into(),
                payment_id: Some(SESSION_PI.into()),
                paid: true,
                amount: 2500,
                currency: "USD".into(),
                provider_customer: Some("cus_1".into()),
            },
        }
    );
    let free = parse(
        "checkout.session.completed",
        paid_session("no_payment_required"),
    );
    assert!(matches!(
        free.kind,
        PaymentEventKind::CheckoutCompleted { paid: true, .. }
    ));
}

#[test]
fn checkout_completed_unpaid_then_async_outcomes() {
    // A bank debit: completed but unpaid; the order comes from client_reference_id alone.
    let mut session = paid_session("unpaid");
    session["metadata"] = json!({});
    session["client_reference_id"] = json!("ord_2");
    session["payment_intent"] = Value::Null;
    session["customer"] = Value::Null;
    let event = parse("checkout.session.completed", session.clone());
    assert_eq!(event.order_id.as_deref(), Some("ord_2"));
    assert_eq!(
        event.kind,
        PaymentEventKind::CheckoutCompleted {
            session_id: SESSION_ID.into(),
            payment_id: None,
            paid: false,
            amount: 2500,
            currency: "USD".into(),
            provider_customer: None,
        }
    );

    let succeeded = parse(
        "checkout.session.async_payment_succeeded",
        paid_session("unpaid"),
    );
    assert!(matches!(
        succeeded.kind,
        PaymentEventKind::CheckoutCompleted { paid: true, .. }
    ));

    let failed = parse(
        "checkout.session.async_payment_failed",
        paid_session("unpaid"),
    );
    assert_eq!(failed.order_id.as_deref(), Some("ord_1"));
    assert_eq!(
        failed.kind,
        PaymentEventKind::PaymentFailed {
            payment_id: SESSION_PI.into(),
            code: Some("async_payment_failed".into()),
            message: None,
            decline_code: None,
            decline_class: None,
            card: None,
        }
    );
}

#[test]
fn checkout_expired() {
    let session = fixture(
        "checkout.session",
        json!({"status": "expired", "metadata": {"bursar_order_id": "ord_3"}}),
    );
    let event = parse("checkout.session.expired", session);
    assert_eq!(event.order_id.as_deref(), Some("ord_3"));
    assert_eq!(
        event.kind,
        PaymentEventKind::CheckoutExpired {
            session_id: SESSION_ID.into()
        }
    );
}

#[test]
fn a_completed_session_without_its_amount_is_refused() {
    // The fixture as published has `amount_total: null`.
    let session = fixture("checkout.session", json!({}));
    assert!(matches!(
        parse_err("checkout.session.completed", session),
        WebhookError::BadPayload(_)
    ));
    // The right type with the wrong object.
    assert!(matches!(
        parse_err("checkout.session.completed", fixture("refund", json!({}))),
        WebhookError::BadPayload(_)
    ));
}

fn intent(changes: Value) -> Value {
    let mut object = fixture(
        "payment_intent",
        json!({"metadata": {"bursar_order_id": "ord_1"}}),
    );
    for (key, value) in changes.as_object().unwrap() {
        object[key] = value.clone();
    }
    object
}

#[test]
fn payment_intent_processing() {
    let event = parse(
        "payment_intent.processing",
        intent(json!({"status": "processing", "last_payment_error": null})),
    );
    assert_eq!(event.order_id.as_deref(), Some("ord_1"));
    assert_eq!(
        event.kind,
        PaymentEventKind::PaymentProcessing {
            payment_id: SESSION_PI.into()
        }
    );
}

#[test]
fn payment_intent_succeeded_with_and_without_the_fee() {
    let balance_transaction = fixture("balance_transaction", json!({"fee": 62, "amount": 1099}));
    let charge = fixture(
        "charge",
        json!({"balance_transaction": balance_transaction, "payment_intent": SESSION_PI}),
    );
    let succeeded = json!({
        "status": "succeeded",
        "amount_received": 1099,
        "last_payment_error": null,
        "payment_method": "pm_1",
        "customer": "cus_1",
        "latest_charge": charge,
    });
    let event = parse("payment_intent.succeeded", intent(succeeded.clone()));
    assert_eq!(event.order_id.as_deref(), Some("ord_1"));
    assert_eq!(
        event.kind,
        PaymentEventKind::PaymentSucceeded {
            payment_id: SESSION_PI.into(),
            amount: 1099,
            currency: "USD".into(),
            fee: Some(62),
            payment_method: Some("pm_1".into()),
            provider_customer: Some("cus_1".into()),
        }
    );

    // As webhooks normally arrive: the charge and its balance transaction are ids.
    let mut plain = succeeded;
    plain["latest_charge"] = json!("ch_1PgafuB7WZ01zgkWXYmPNZs8");
    plain["customer"] = Value::Null;
    let event = parse("payment_intent.succeeded", intent(plain));
    assert!(matches!(
        event.kind,
        PaymentEventKind::PaymentSucceeded {
            fee: None,
            provider_customer: None,
            ..
        }
    ));
}

#[test]
fn payment_intent_failed_and_canceled() {
    let failed = parse(
        "payment_intent.payment_failed",
        intent(json!({
            "status": "requires_payment_method",
            "last_payment_error": {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "insufficient_funds",
                "message": "Your card has insufficient funds.",
                "payment_method": {
                    "id": "pm_1QfQ2n2eZvKYlo2CwZ8x9ZtB", "object": "payment_method", "type": "card",
                    "card": {"brand": "visa", "country": "US", "exp_month": 12, "exp_year": 2030,
                             "fingerprint": "Xt5EWLLDS7FJjR1c", "funding": "credit", "last4": "9995"},
                    "customer": null, "livemode": false
                }
            }
        })),
    );
    assert_eq!(
        failed.kind,
        PaymentEventKind::PaymentFailed {
            payment_id: SESSION_PI.into(),
            code: Some("card_declined".into()),
            message: Some("Your card has insufficient funds.".into()),
            decline_code: Some("insufficient_funds".into()),
            decline_class: Some(DeclineClass::Soft),
            card: Some(DeclinedCard {
                fingerprint: Some("Xt5EWLLDS7FJjR1c".into()),
                payment_method: Some("pm_1QfQ2n2eZvKYlo2CwZ8x9ZtB".into()),
            }),
        }
    );
    // The class is the decline code's; the issuer's advice not to retry makes a soft one hard.
    for (error, class) in [
        (
            json!({"type": "card_error", "code": "card_declined", "decline_code": "lost_card"}),
            DeclineClass::Hard,
        ),
        (
            json!({"type": "card_error", "code": "card_declined", "decline_code": "do_not_honor",
                "advice_code": "do_not_try_again"}),
            DeclineClass::Hard,
        ),
        (
            json!({"type": "card_error", "code": "card_declined",
                "decline_code": "authentication_required"}),
            DeclineClass::AuthenticationRequired,
        ),
        (
            json!({"type": "card_error", "code": "card_declined", "decline_code": "do_not_honor",
                "advice_code": "try_again_later"}),
            DeclineClass::Soft,
        ),
    ] {
        let event = parse(
            "payment_intent.payment_failed",
            intent(json!({"status": "requires_payment_method", "last_payment_error": error})),
        );
        assert!(
            matches!(event.kind, PaymentEventKind::PaymentFailed { decline_class: Some(c), .. } if c == class),
            "{error}: {:?}",
            event.kind
        );
    }
    // The fixture's own error has only a type.
    let typed = parse("payment_intent.payment_failed", intent(json!({})));
    assert!(matches!(
        typed.kind,
        PaymentEventKind::PaymentFailed { code: Some(ref c), message: None, decline_class: None, .. } if c == "idempotency_error"
    ));

    let canceled = parse(
        "payment_intent.canceled",
        intent(json!({
            "status": "canceled",
            "cancellation_reason": "abandoned",
            "last_payment_error": null
        })),
    );
    assert_eq!(
        canceled.kind,
        PaymentEventKind::PaymentFailed {
            payment_id: SESSION_PI.into(),
            code: Some("abandoned".into()),
            message: None,
            decline_code: None,
            decline_class: None,
            card: None,
        }
    );
    // A cancellation is no decline, even after a declined attempt.
    let canceled = parse(
        "payment_intent.canceled",
        intent(json!({
            "status": "canceled",
            "cancellation_reason": "requested_by_customer",
            "last_payment_error": {"type": "card_error", "code": "card_declined",
                "decline_code": "stolen_card"}
        })),
    );
    assert!(matches!(
        canceled.kind,
        PaymentEventKind::PaymentFailed {
            decline_code: None,
            decline_class: None,
            ..
        }
    ));
}

#[test]
fn refund_events() {
    let cases = [
        ("refund.created", "pending", RefundStatus::Pending),
        ("refund.updated", "succeeded", RefundStatus::Succeeded),
        ("refund.failed", "failed", RefundStatus::Failed),
        ("charge.refund.updated", "canceled", RefundStatus::Canceled),
        ("refund.updated", "requires_action", RefundStatus::Pending),
    ];
    for (event_type, status, expected) in cases {
        let refund = fixture(
            "refund",
            json!({
                "status": status,
                "payment_intent": "pi_1",
                "currency": "eur",
                "metadata": {"bursar_refund_id": "rf_1", "bursar_order_id": "ord_1"},
            }),
        );
        let event = parse(event_type, refund);
        assert_eq!(event.provider_event_type, event_type);
        assert_eq!(event.order_id.as_deref(), Some("ord_1"));
        assert_eq!(
            event.kind,
            PaymentEventKind::Refund {
                refund_id: "re_1Pgc72B7WZ01zgkWqPvrRrPE".into(),
                payment_id: Some("pi_1".into()),
                amount: 100,
                currency: "EUR".into(),
                status: expected,
                bursar_refund_id: Some("rf_1".into()),
            },
            "{event_type} {status}"
        );
    }
    // A refund made in the Dashboard: no Bursar ids.
    let event = parse("refund.created", fixture("refund", json!({})));
    assert!(event.order_id.is_none());
    assert!(matches!(
        event.kind,
        PaymentEventKind::Refund {
            payment_id: None,
            bursar_refund_id: None,
            status: RefundStatus::Succeeded,
            ..
        }
    ));
}

#[test]
fn dispute_opened_and_closed() {
    let opened = parse(
        "charge.dispute.created",
        fixture("dispute", json!({"payment_intent": "pi_1"})),
    );
    assert_eq!(
        opened.kind,
        PaymentEventKind::DisputeOpened {
            dispute_id: "dp_1Pgc71B7WZ01zgkWMevJiAUx".into(),
            payment_id: Some("pi_1".into()),
            amount: 1000,
            currency: "USD".into(),
            reason: Some("general".into()),
            // The fixture's dispute has no balance transactions yet.
            fee: None,
        }
    );
    let with_fee = parse(
        "charge.dispute.created",
        fixture(
            "dispute",
            json!({"balance_transactions": [{"object": "balance_transaction", "amount": -1000, "fee": 1500}]}),
        ),
    );
    assert!(matches!(
        with_fee.kind,
        PaymentEventKind::DisputeOpened {
            fee: Some(1500),
            ..
        }
    ));
    for (status, won) in [("won", true), ("lost", false), ("warning_closed", false)] {
        let closed = parse(
            "charge.dispute.closed",
            fixture("dispute", json!({"status": status})),
        );
        assert_eq!(
            closed.kind,
            PaymentEventKind::DisputeClosed {
                dispute_id: "dp_1Pgc71B7WZ01zgkWMevJiAUx".into(),
                payment_id: None,
                amount: 1000,
                currency: "USD".into(),
                won,
            },
            "{status}"
        );
    }
}

#[test]
fn setup_intent_succeeded() {
    let setup = fixture(
        "setup_intent",
        json!({
            "status": "succeeded",
            "payment_method": "pm_1",
            "customer": "cus_1",
            "last_setup_error": null,
        }),
    );
    let event = parse("setup_intent.succeeded", setup);
    assert_eq!(
        event.kind,
        PaymentEventKind::PaymentMethodSaved {
            setup_id: "seti_1Pgag7B7WZ01zgkWSgwGdb8Z".into(),
            payment_method: "pm_1".into(),
            provider_customer: Some("cus_1".into()),
            customer_id: None,
        }
    );
    // As published the fixture has no payment method yet.
    assert!(matches!(
        parse_err("setup_intent.succeeded", fixture("setup_intent", json!({}))),
        WebhookError::BadPayload(_)
    ));
}

/// The `bursar_customer_id` Bursar put in `setup_intent_data[metadata]` names the customer.
#[test]
fn setup_intent_succeeded_names_the_bursar_customer() {
    let setup = fixture(
        "setup_intent",
        json!({
            "status": "succeeded",
            "payment_method": {"id": "pm_2", "object": "payment_method"},
            "customer": "cus_QXg1o8vcGmoR32",
            "last_setup_error": null,
            "metadata": {"bursar_customer_id": "cus_bursar_7"},
        }),
    );
    let event = parse("setup_intent.succeeded", setup);
    assert_eq!(event.order_id, None);
    assert_eq!(
        event.kind,
        PaymentEventKind::PaymentMethodSaved {
            setup_id: "seti_1Pgag7B7WZ01zgkWSgwGdb8Z".into(),
            payment_method: "pm_2".into(),
            provider_customer: Some("cus_QXg1o8vcGmoR32".into()),
            customer_id: Some("cus_bursar_7".into()),
        }
    );
}

#[test]
fn other_events_are_kept_as_other() {
    // Stripe's own example event (`plan.created`, `api_version: null`).
    let all: Value = serde_json::from_str(FIXTURES).unwrap();
    let body = all["resources"]["event"].to_string();
    let event = parse_event(body.as_bytes()).unwrap();
    assert_eq!(event.provider_event_id, "evt_1Pgc76B7WZ01zgkWwyRHS12y");
    assert_eq!(event.provider_event_type, "plan.created");
    assert_eq!(event.created, 1_234_567_890);
    assert_eq!(event.order_id, None);
    assert_eq!(event.kind, PaymentEventKind::Other);
}

#[test]
fn bodies_that_are_not_events_are_bad_payloads() {
    for body in [
        &b"not json"[..],
        b"[]",
        br#"{"type":"x","created":1,"data":{"object":{}}}"#,
        br#"{"id":"evt_1","created":1,"data":{"object":{}}}"#,
        br#"{"id":"evt_1","type":"x","created":1,"data":{}}"#,
        br#"{"id":"evt_1","type":"x","created":1}"#,
    ] {
        assert!(
            matches!(parse_event(body), Err(WebhookError::BadPayload(_))),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

fn provider() -> StripeProvider {
    StripeProvider::new(
        StripeConfig::new("sk_test_unused"),
        HttpExecutor::new(
            ExecutorConfig::default(),
            bursar_outbound::Guard::new(Default::default()),
        )
        .unwrap(),
    )
}

const SECRET: &str = "whsec_test_signing";
const NOW: i64 = 1_721_000_100;

fn headers(value: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(signature::HEADER.to_owned(), value.to_owned())])
}

#[test]
fn parse_webhook_verifies_before_it_parses() {
    let provider = provider();
    let secrets = vec![SECRET.to_owned()];
    assert_eq!(provider.kind(), "stripe");

    // An unparsable body under a wrong signature: the signature is what is reported.
    let garbage = b"{ this is not json";
    let wrong = signature::header(&["whsec_someone_else"], NOW, garbage);
    assert_eq!(
        provider.parse_webhook(&headers(&wrong), garbage, &secrets, NOW),
        Err(WebhookError::BadSignature)
    );
    assert_eq!(
        provider.parse_webhook(&BTreeMap::new(), garbage, &secrets, NOW),
        Err(WebhookError::MissingSignature)
    );
    let stale = signature::header(&[SECRET], NOW - 1_000, garbage);
    assert!(matches!(
        provider.parse_webhook(&headers(&stale), garbage, &secrets, NOW),
        Err(WebhookError::Expired { .. })
    ));

    // Correctly signed garbage gets as far as the parser.
    let signed = signature::header(&[SECRET], NOW, garbage);
    assert!(matches!(
        provider.parse_webhook(&headers(&signed), garbage, &secrets, NOW),
        Err(WebhookError::BadPayload(_))
    ));

    // A correctly signed event is read.
    let body = event_json(
        "evt_9",
        "checkout.session.completed",
        NOW,
        paid_session("paid"),
    )
    .to_string()
    .into_bytes();
    let signed = signature::header(&[SECRET], NOW, &body);
    let event = provider
        .parse_webhook(&headers(&signed), &body, &secrets, NOW)
        .unwrap();
    assert_eq!(event.provider_event_id, "evt_9");
    assert_eq!(event.order_id.as_deref(), Some("ord_1"));
}
