//! Modern Treasury webhooks, from the public payloads in `fixtures/` (copied from
//! `shared/data/banks/`), read into rail-neutral `BankEvent`s field by field; and the
//! signature checked with the test vector before anything is read.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use bursar_banks::modern_treasury::{ModernTreasuryAdapter, ModernTreasuryConfig};
use bursar_banks::signature;
use bursar_banks::{
    BankEvent, BankEventKind, BankReturn, Direction, FailureReason, Headers, IncomingPayment,
    PaymentOrder, PaymentOrderStatus, Rail, ReconciliationRule, ReturnStatus, WebhookError,
};
use serde_json::{json, Value};

const KEY: &str = "whsec_bursar_test_key_not_secret";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

/// The recorded headers (lower-cased names), with `topic` and a signature of `body` by `KEY`.
fn headers_for(topic: &str, body: &[u8]) -> Headers {
    let recorded = fixture_json("mt-webhook-headers.json");
    let mut headers: Headers = recorded
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap().to_owned()))
        .collect();
    headers.insert("x-topic".into(), topic.into());
    headers.insert("x-signature".into(), signature::sign(KEY, body));
    headers
}

fn adapter() -> ModernTreasuryAdapter {
    ModernTreasuryAdapter::new(ModernTreasuryConfig::new("org_1", "test-key"))
}

fn parse(topic: &str, body: &[u8]) -> BankEvent {
    adapter()
        .parse_webhook(&headers_for(topic, body), body, &[KEY.to_owned()])
        .unwrap()
}

/// A raw object fixture wrapped as Modern Treasury delivers it.
fn wrapped(event: &str, object_fixture: &str) -> Vec<u8> {
    json!({"event": event, "data": fixture_json(object_fixture)})
        .to_string()
        .into_bytes()
}

#[test]
fn the_test_vector_verifies_byte_for_byte() {
    let vector = fixture_json("mt-webhook-signature-vector.json");
    let body = fixture(vector["body_file"].as_str().unwrap());
    assert_eq!(body.last(), Some(&b'\n'), "the trailing newline is signed");
    assert_eq!(vector["key"], KEY);
    let expected = vector["x_signature"].as_str().unwrap();
    assert_eq!(signature::sign(KEY, &body), expected);
    let mut headers = headers_for("payment_order", &body);
    headers.insert("x-signature".into(), expected.to_owned());
    let event = adapter()
        .parse_webhook(&headers, &body, &[KEY.to_owned()])
        .unwrap();
    assert_eq!(event.webhook_id, "7b5bc00751e4c9760974ee85");
    // Without the newline the body is another body.
    assert_eq!(
        signature::verify(Some(expected), &body[..body.len() - 1], &[KEY.to_owned()]),
        Err(WebhookError::BadSignature)
    );
}

#[test]
fn forged_and_unsigned_webhooks_are_refused_each_with_its_reason() {
    let body = fixture("mt-payment-order-webhook-completed.json");
    let headers = headers_for("payment_order", &body);
    let keys = [KEY.to_owned()];
    let adapter = adapter();
    // A tampered body: one amount digit changed.
    let tampered = String::from_utf8(body.clone())
        .unwrap()
        .replace("123100", "923100");
    assert_eq!(
        adapter.parse_webhook(&headers, tampered.as_bytes(), &keys),
        Err(WebhookError::BadSignature)
    );
    // Signed with another key.
    assert_eq!(
        adapter.parse_webhook(&headers, &body, &["whsec_someone_else".to_owned()]),
        Err(WebhookError::BadSignature)
    );
    assert_eq!(
        adapter.parse_webhook(&headers, &body, &[]),
        Err(WebhookError::BadSignature)
    );
    // No signature at all.
    let mut unsigned = headers.clone();
    unsigned.remove("x-signature");
    assert_eq!(
        adapter.parse_webhook(&unsigned, &body, &keys),
        Err(WebhookError::MissingSignature)
    );
    // Not an HMAC-SHA256 in hex.
    for malformed in ["", "zz", &"ab".repeat(31)] {
        let mut bad = headers.clone();
        bad.insert("x-signature".into(), malformed.to_owned());
        assert!(
            matches!(
                adapter.parse_webhook(&bad, &body, &keys),
                Err(WebhookError::MalformedSignature(_))
            ),
            "{malformed:?}"
        );
    }
    // Signed, but without the id that makes a redelivery recognisable.
    let mut anonymous = headers.clone();
    anonymous.remove("x-webhook-id");
    assert_eq!(
        adapter.parse_webhook(&anonymous, &body, &keys),
        Err(WebhookError::MissingWebhookId)
    );
    // Signed, but the topic header contradicts the body.
    let confused = headers_for("expected_payment", &body);
    assert!(matches!(
        adapter.parse_webhook(&confused, &body, &keys),
        Err(WebhookError::BadPayload(m)) if m.contains("payment_order")
    ));
}

#[test]
fn during_key_rotation_either_key_verifies() {
    let body = fixture("mt-return-webhook-created.json");
    let headers = headers_for("return", &body);
    let keys = ["whsec_new".to_owned(), KEY.to_owned()];
    assert!(adapter().parse_webhook(&headers, &body, &keys).is_ok());
}

#[test]
fn a_redelivery_carries_the_same_webhook_id() {
    let body = fixture("mt-return-webhook-created.json");
    let first = parse("return", &body);
    let again = parse("return", &body);
    assert_eq!(first.webhook_id, again.webhook_id);
    assert_eq!(first, again);
}

#[test]
fn a_completed_payment_order_is_read_field_by_field() {
    let event = parse(
        "payment_order",
        &fixture("mt-payment-order-webhook-completed.json"),
    );
    assert_eq!(event.webhook_id, "7b5bc00751e4c9760974ee85");
    assert_eq!(
        event.event_id.as_deref(),
        Some("f8651bc8-6862-49c1-9a1a-7ff5ea7aa228")
    );
    assert_eq!(event.topic, "payment_order");
    assert_eq!(event.event, "completed");
    assert_eq!(event.live_mode, Some(true));
    let order = PaymentOrder {
        id: "9f7e0efa-aeb7-4378-ae18-b4bb038e5495".into(),
        status: PaymentOrderStatus::Completed,
        rail: Rail::Ach,
        direction: Direction::Credit,
        amount: 123_100,
        currency: "USD".into(),
        originating_account_id: Some("b9fc1ae0-d493-4f01-a7b3-b39104e802b5".into()),
        counterparty_id: Some("928db55e-6552-4aaf-96d7-10c693922b1f".into()),
        receiving_account_id: Some("71fae619-afa6-45e6-8630-ce4d0b3d6387".into()),
        effective_date: Some("2019-12-13".into()),
        reference: Some("December Rent".into()),
        metadata: BTreeMap::new(),
    };
    assert_eq!(
        event.kind,
        BankEventKind::PaymentOrderStatusChanged {
            payment_order_id: "9f7e0efa-aeb7-4378-ae18-b4bb038e5495".into(),
            status: PaymentOrderStatus::Completed,
            failure: None,
            order: Some(order),
        }
    );
}

#[test]
fn a_failed_payment_order_carries_its_reason() {
    let event = parse(
        "payment_order",
        &fixture("mt-payment-order-webhook-failed.json"),
    );
    assert_eq!(event.event, "failed");
    assert_eq!(
        event.kind,
        BankEventKind::PaymentOrderStatusChanged {
            payment_order_id: "fd3c1f59-6d5b-466c-9126-7f8c82ad6e1c".into(),
            status: PaymentOrderStatus::Failed,
            failure: Some(FailureReason {
                code: Some("parameter_invalid".into()),
                message: Some("amount is invalid".into()),
                parameter: Some("amount".into()),
            }),
            order: None,
        }
    );
}

#[test]
fn payment_order_events_map_to_neutral_statuses() {
    let cases = [
        ("created", Some(PaymentOrderStatus::Pending)),
        ("approved", Some(PaymentOrderStatus::Pending)),
        ("begin_processing", Some(PaymentOrderStatus::Processing)),
        ("processing", Some(PaymentOrderStatus::Processing)),
        ("sent", Some(PaymentOrderStatus::Sent)),
        ("finished_processing", Some(PaymentOrderStatus::Sent)),
        ("completed", Some(PaymentOrderStatus::Completed)),
        ("failed", Some(PaymentOrderStatus::Failed)),
        ("denied", Some(PaymentOrderStatus::Failed)),
        ("returned", Some(PaymentOrderStatus::Returned)),
        ("reversed", Some(PaymentOrderStatus::Returned)),
        ("cancelled", Some(PaymentOrderStatus::Cancelled)),
        ("reconciled", None),
        ("updated", None),
    ];
    for (name, expected) in cases {
        let body = json!({"event": name, "data": {"id": "po_1"}})
            .to_string()
            .into_bytes();
        let kind = parse("payment_order", &body).kind;
        match expected {
            Some(status) => assert!(
                matches!(&kind, BankEventKind::PaymentOrderStatusChanged { status: s, .. } if *s == status),
                "{name}: {kind:?}"
            ),
            None => assert_eq!(kind, BankEventKind::Other, "{name}"),
        }
    }
}

#[test]
fn a_return_is_read_with_its_nacha_code() {
    let event = parse("return", &fixture("mt-return-webhook-created.json"));
    assert_eq!(event.event, "created");
    assert_eq!(
        event.kind,
        BankEventKind::Return(BankReturn {
            return_id: "59981d98-7573-4e82-981e-acb1aaf4801e".into(),
            status: ReturnStatus::Pending,
            code: Some("R03".into()),
            reason: Some("No Account/Unable to Locate Account".into()),
            amount: 20_000,
            currency: "USD".into(),
            returnable_id: Some("0383a613-1439-4ff8-992c-5e8691dfcc19".into()),
            returnable_type: Some("payment_order".into()),
            role: Some("originating".into()),
            rail: Some(Rail::Ach),
        })
    );
}

#[test]
fn a_notification_of_change_carries_the_corrected_data_masked() {
    let event = parse("return", &wrapped("completed", "mt-return-noc-c07.json"));
    let BankEventKind::NotificationOfChange(noc) = event.kind else {
        panic!("not a NOC: {:?}", event.kind);
    };
    assert_eq!(noc.return_id, "fd402803-7d7d-402c-929a-0a8026d0b34a");
    assert_eq!(noc.code, "C07");
    assert_eq!(
        noc.reason.as_deref(),
        Some("Incorrect DFI Account Number, Routing Number, Account Type")
    );
    assert_eq!(
        noc.returnable_id.as_deref(),
        Some("012a3af3-6d82-454c-b555-9162e4a583be")
    );
    assert_eq!(noc.returnable_type.as_deref(), Some("payment_order"));
    let corrections = &noc.corrections;
    assert_eq!(
        corrections.routing_number.as_ref().map(|n| n.expose()),
        Some("000111000")
    );
    assert_eq!(corrections.account_number, None);
    assert_eq!(corrections.transaction_code.as_deref(), Some("22"));
    assert_eq!(corrections.company_id, None);
    assert_eq!(corrections.company_name, None);
    assert_eq!(corrections.individual_identification_number, None);
    let shown = format!("{noc:?}");
    assert!(!shown.contains("000111000"), "{shown}");
    assert!(shown.contains("••••1000"), "{shown}");
    assert_eq!(event.live_mode, Some(true));
}

#[test]
fn a_reconciled_expected_payment_names_its_transaction_and_rule() {
    let event = parse(
        "expected_payment",
        &fixture("mt-expected-payment-webhook-reconciled.json"),
    );
    assert_eq!(event.topic, "expected_payment");
    assert_eq!(event.event, "reconciled");
    assert_eq!(
        event.kind,
        BankEventKind::ExpectedPaymentReconciled {
            expected_payment_id: "46141eca-7362-4a25-8f71-cf942423e450".into(),
            transaction_id: Some("30dd4826-732f-4fe5-ab15-fc903f85ffdd".into()),
            transaction_line_item_id: Some("724ed2e9-5b8d-42f8-a56a-705bb6c802ae".into()),
            method: Some("automatic".into()),
            rules: vec![ReconciliationRule {
                amount_lower_bound: 400_000,
                amount_upper_bound: 400_000,
                direction: Direction::Credit,
                internal_account_id: "b9fc1ae0-d493-4f01-a7b3-b39104e802b5".into(),
                currency: Some("USD".into()),
                rail: Some(Rail::Ach),
                date_lower_bound: Some("2019-12-12".into()),
                date_upper_bound: Some("2019-12-13".into()),
                counterparty_id: None,
                custom_identifiers: [("payment_id".to_owned(), "12345".to_owned())].into(),
            }],
            metadata: BTreeMap::new(),
        }
    );
}

#[test]
fn an_incoming_wire_is_read_field_by_field() {
    let event = parse(
        "incoming_payment_detail",
        &wrapped("created", "mt-incoming-payment-detail.json"),
    );
    assert_eq!(event.event, "created");
    assert_eq!(
        event.kind,
        BankEventKind::IncomingPayment(IncomingPayment {
            id: "2f2233db-60f1-43dd-b86c-53da6a653e8e".into(),
            rail: Rail::Wire,
            direction: Direction::Credit,
            amount: 523,
            currency: "USD".into(),
            status: "pending".into(),
            as_of_date: Some("2026-01-23".into()),
            internal_account_id: Some("bf5f1df9-de01-40c2-9040-7ec10170a12b".into()),
            virtual_account_id: None,
            originator_name: None,
            reference: None,
            originating_account_number_masked: None,
            originating_routing_number: None,
            transaction_id: None,
            metadata: BTreeMap::new(),
        })
    );
}

#[test]
fn an_incoming_payment_shows_the_payers_account_only_masked() {
    let mut detail = fixture_json("mt-incoming-payment-detail.json");
    detail["originating_account_number_safe"] = json!("6789");
    detail["virtual_account_id"] = json!("va_1");
    let body = json!({"event": "completed", "data": detail})
        .to_string()
        .into_bytes();
    let BankEventKind::IncomingPayment(payment) = parse("incoming_payment_detail", &body).kind
    else {
        panic!("not an incoming payment");
    };
    assert_eq!(
        payment.originating_account_number_masked.as_deref(),
        Some("••••6789")
    );
    assert_eq!(payment.virtual_account_id.as_deref(), Some("va_1"));
}

#[test]
fn unknown_topics_are_other_and_broken_bodies_bad_payloads() {
    let body = br#"{"event":"created","data":{"id":"x","object":"ledger_transaction"}}"#;
    let event = parse("ledger_transaction", body);
    assert_eq!(event.kind, BankEventKind::Other);
    let keys = [KEY.to_owned()];
    for broken in [
        &b"not json"[..],
        br#"{"data":{"id":"x"}}"#,
        br#"{"event":"completed"}"#,
        br#"{"event":"created","data":{"object":"return","id":"r"}}"#,
    ] {
        let headers = headers_for("return", broken);
        assert!(
            matches!(
                adapter().parse_webhook(&headers, broken, &keys),
                Err(WebhookError::BadPayload(_))
            ),
            "{}",
            String::from_utf8_lossy(broken)
        );
    }
}
