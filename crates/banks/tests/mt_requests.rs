//! Modern Treasury requests built field by field (method, path, Basic auth, idempotency key,
//! JSON body), and its answers read: the public `mt-expected-payment.json` as a create answer,
//! the payment order inside the completed webhook as a payment-order answer, and its errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use base64::Engine;
use bursar_banks::modern_treasury::{ModernTreasuryAdapter, ModernTreasuryConfig};
use bursar_banks::{
    AccountType, BankNumber, CounterpartyAccount, CounterpartyRequest, Direction,
    ExpectedPaymentRequest, ExpectedPaymentStatus, ExternalAccount, PartyType, PaymentOrderRequest,
    PaymentOrderStatus, ProviderError, Rail, ReceivingAccount, ReconciliationRule,
};
use bursar_payments::executor::{Method, ProviderRequest, ProviderResponse};
use serde_json::{json, Value};

fn fixture_json(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn adapter() -> ModernTreasuryAdapter {
    let mut config = ModernTreasuryConfig::new("org_123", "live-abc");
    config.api_base = "https://mt.example/".into();
    ModernTreasuryAdapter::new(config)
}

fn header<'a>(request: &'a ProviderRequest, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn body(request: &ProviderRequest) -> Value {
    assert_eq!(request.form, None);
    serde_json::from_str(request.json.as_deref().unwrap()).unwrap()
}

fn answer(status: u16, body: &Value) -> ProviderResponse {
    ProviderResponse {
        status,
        headers: BTreeMap::new(),
        body: body.to_string().into_bytes(),
    }
}

fn account() -> ExternalAccount {
    ExternalAccount {
        account_type: AccountType::Checking,
        party_name: Some("Seller Co".into()),
        party_type: Some(PartyType::Business),
        routing_number: BankNumber::new("021000021"),
        account_number: BankNumber::new("000123456789"),
    }
}

#[test]
fn requests_carry_basic_auth_and_json() {
    let request = adapter().payment_order_fetch_request("9f7e/../x");
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("org_123:live-abc")
    );
    assert_eq!(header(&request, "authorization"), Some(expected.as_str()));
    assert_eq!(header(&request, "accept"), Some("application/json"));
    assert_eq!(request.method, Method::GET);
    assert_eq!(
        request.url,
        "https://mt.example/api/payment_orders/9f7e%2F..%2Fx"
    );
    assert_eq!(request.operation, "payment_order.retrieve");
    assert_eq!((request.json, request.form), (None, None));
    assert_eq!(request.idempotency_key, None);
}

#[test]
fn a_counterparty_request_has_its_accounts_and_prints_no_numbers() {
    let request = adapter().counterparty_request(&CounterpartyRequest {
        attempt_id: "att_1".into(),
        party_id: "pty_seller".into(),
        name: "Seller Co".into(),
        email: Some("pay@seller.example".into()),
        accounts: vec![account()],
        metadata: [("bursar_party_id".to_owned(), "forged".to_owned())].into(),
    });
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.url, "https://mt.example/api/counterparties");
    assert_eq!(request.operation, "counterparty.create");
    assert_eq!(
        request.idempotency_key.as_deref(),
        Some("bursar-counterparty-att_1")
    );
    assert_eq!(
        body(&request),
        json!({
            "name": "Seller Co",
            "email": "pay@seller.example",
            "metadata": {"bursar_party_id": "pty_seller"},
            "accounts": [{
                "account_type": "checking",
                "party_name": "Seller Co",
                "party_type": "business",
                "account_details": [{"account_number": "000123456789", "account_number_type": "other"}],
                "routing_details": [{"routing_number": "021000021", "routing_number_type": "aba"}],
            }],
        })
    );
    let shown = format!("{request:?}");
    assert!(!shown.contains("000123456789"), "{shown}");
    assert!(!shown.contains("live-abc"), "{shown}");
}

#[test]
fn a_payment_order_request_is_built_field_by_field() {
    let adapter = adapter();
    let mut order = PaymentOrderRequest {
        attempt_id: "po_att_7".into(),
        rail: Rail::Ach,
        direction: Direction::Credit,
        amount: 123_100,
        currency: "USD".into(),
        originating_account_id: "b9fc1ae0".into(),
        counterparty_id: Some("928db55e".into()),
        receiving_account: ReceivingAccount::Id("71fae619".into()),
        effective_date: Some("2019-12-13".into()),
        reference: Some("December Rent".into()),
        description: Some("payout pay_1".into()),
        metadata: [("bursar_payout_id".to_owned(), "pay_1".to_owned())].into(),
    };
    let request = adapter.payment_order_request(&order);
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.url, "https://mt.example/api/payment_orders");
    assert_eq!(request.operation, "payment_order.create");
    assert_eq!(
        request.idempotency_key.as_deref(),
        Some("bursar-payment-order-po_att_7")
    );
    assert_eq!(
        body(&request),
        json!({
            "type": "ach",
            "amount": 123100,
            "direction": "credit",
            "currency": "USD",
            "originating_account_id": "b9fc1ae0",
            "receiving_account_id": "71fae619",
            "counterparty_id": "928db55e",
            "effective_date": "2019-12-13",
            "remittance_information": "December Rent",
            "description": "payout pay_1",
            "metadata": {"bursar_payout_id": "pay_1", "bursar_attempt_id": "po_att_7"},
        })
    );
    // The same attempt, retried, is the same request: the bank moves the money once.
    assert_eq!(
        adapter.payment_order_request(&order).idempotency_key,
        request.idempotency_key
    );
    // An account given inline, and the optional fields left out.
    order.receiving_account = ReceivingAccount::Inline(account());
    order.rail = Rail::Rtp;
    order.counterparty_id = None;
    order.effective_date = None;
    order.reference = None;
    order.description = None;
    let inline = body(&adapter.payment_order_request(&order));
    assert_eq!(inline["type"], "rtp");
    assert_eq!(inline.get("receiving_account_id"), None);
    assert_eq!(
        inline["receiving_account"]["account_details"][0]["account_number"],
        "000123456789"
    );
    for absent in [
        "counterparty_id",
        "effective_date",
        "remittance_information",
        "description",
    ] {
        assert_eq!(inline.get(absent), None, "{absent}");
    }
}

#[test]
fn an_expected_payment_request_carries_its_rule_twice() {
    let request = adapter().expected_payment_request(&ExpectedPaymentRequest {
        attempt_id: "ep_att_1".into(),
        rule: ReconciliationRule {
            amount_lower_bound: 20_000,
            amount_upper_bound: 20_000,
            direction: Direction::Credit,
            internal_account_id: "0f8e3719".into(),
            currency: Some("USD".into()),
            rail: Some(Rail::Wire),
            date_lower_bound: Some("2024-05-15".into()),
            date_upper_bound: Some("2024-05-20".into()),
            counterparty_id: Some("37ba4454".into()),
            custom_identifiers: [("bursar_reference".to_owned(), "BUR-7K2Q".to_owned())].into(),
        },
        reference: Some("BUR-7K2Q".into()),
        description: None,
        metadata: BTreeMap::new(),
    });
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.url, "https://mt.example/api/expected_payments");
    assert_eq!(
        request.idempotency_key.as_deref(),
        Some("bursar-expected-payment-ep_att_1")
    );
    let rule = json!({
        "amount_lower_bound": 20000,
        "amount_upper_bound": 20000,
        "direction": "credit",
        "internal_account_id": "0f8e3719",
        "currency": "USD",
        "type": "wire",
        "date_lower_bound": "2024-05-15",
        "date_upper_bound": "2024-05-20",
        "counterparty_id": "37ba4454",
    });
    let mut with_identifiers = rule.clone();
    with_identifiers["custom_identifiers"] = json!({"bursar_reference": "BUR-7K2Q"});
    let mut expected = rule;
    expected["remittance_information"] = json!("BUR-7K2Q");
    expected["reconciliation_rule_variables"] = json!([with_identifiers]);
    expected["metadata"] = json!({"bursar_attempt_id": "ep_att_1"});
    assert_eq!(body(&request), expected);
}

#[test]
fn the_public_expected_payment_reads_as_a_create_answer() {
    let expected = adapter()
        .parse_expected_payment(&answer(200, &fixture_json("mt-expected-payment.json")))
        .unwrap();
    assert_eq!(expected.id, "afc256b0-dab8-4b9a-98c1-735fc23204ce");
    assert_eq!(expected.status, ExpectedPaymentStatus::Unreconciled);
    assert_eq!(expected.amount_reconciled, Some(0));
    assert_eq!(expected.amount_unreconciled, Some(20_000));
    assert_eq!(expected.transaction_id, None);
    assert_eq!(expected.external_id.as_deref(), Some("237aebcb2bad"));
    assert_eq!(expected.reference, None);
    assert_eq!(expected.metadata, BTreeMap::new());
    assert_eq!(
        expected.rules,
        vec![ReconciliationRule {
            amount_lower_bound: 20_000,
            amount_upper_bound: 20_000,
            direction: Direction::Credit,
            internal_account_id: "0f8e3719-3dfd-4613-9bbf-c0333781b59f".into(),
            currency: Some("USD".into()),
            rail: Some(Rail::Wire),
            date_lower_bound: Some("2024-05-15".into()),
            date_upper_bound: Some("2024-05-15".into()),
            counterparty_id: Some("37ba4454-dd33-4aa0-8906-0e2e4103e45c".into()),
            custom_identifiers: BTreeMap::new(),
        }]
    );
}

#[test]
fn the_webhooks_payment_order_reads_as_a_payment_order_answer() {
    let webhook = fixture_json("mt-payment-order-webhook-completed.json");
    let order = adapter()
        .parse_payment_order(&answer(200, &webhook["data"]))
        .unwrap();
    assert_eq!(order.id, "9f7e0efa-aeb7-4378-ae18-b4bb038e5495");
    assert_eq!(order.status, PaymentOrderStatus::Completed);
    assert_eq!(order.rail, Rail::Ach);
    assert_eq!(order.direction, Direction::Credit);
    assert_eq!(order.amount, 123_100);
    assert_eq!(order.currency, "USD");
    assert_eq!(
        order.originating_account_id.as_deref(),
        Some("b9fc1ae0-d493-4f01-a7b3-b39104e802b5")
    );
    assert_eq!(
        order.counterparty_id.as_deref(),
        Some("928db55e-6552-4aaf-96d7-10c693922b1f")
    );
    assert_eq!(
        order.receiving_account_id.as_deref(),
        Some("71fae619-afa6-45e6-8630-ce4d0b3d6387")
    );
    assert_eq!(order.effective_date.as_deref(), Some("2019-12-13"));
    assert_eq!(order.reference.as_deref(), Some("December Rent"));
    // The wrong kind of object is not read as an order.
    let not_an_order =
        adapter().parse_payment_order(&answer(200, &fixture_json("mt-expected-payment.json")));
    assert!(
        matches!(not_an_order, Err(ProviderError::BadResponse(m)) if m.contains("expected_payment"))
    );
}

#[test]
fn a_counterparty_answer_keeps_only_masked_numbers() {
    // Modern Treasury's counterparty shape (no public fixture of one is stored).
    let counterparty = adapter()
        .parse_counterparty(&answer(
            201,
            &json!({
                "id": "cp_1",
                "object": "counterparty",
                "name": "Seller Co",
                "metadata": {"bursar_party_id": "pty_seller"},
                "accounts": [{
                    "id": "ea_1",
                    "object": "external_account",
                    "party_name": "Seller Co",
                    "account_details": [{"account_number_safe": "6789", "account_number_type": "other"}],
                    "routing_details": [{"routing_number": "021000021", "routing_number_type": "aba"}],
                }],
            }),
        ))
        .unwrap();
    assert_eq!(counterparty.id, "cp_1");
    assert_eq!(counterparty.name.as_deref(), Some("Seller Co"));
    assert_eq!(counterparty.metadata["bursar_party_id"], "pty_seller");
    assert_eq!(
        counterparty.accounts,
        vec![CounterpartyAccount {
            id: "ea_1".into(),
            party_name: Some("Seller Co".into()),
            account_number_masked: Some("••••6789".into()),
            routing_number_masked: Some("••••0021".into()),
        }]
    );
}

#[test]
fn refusals_and_outages_are_told_apart() {
    let adapter = adapter();
    let refused = adapter.parse_payment_order(&answer(
        422,
        &json!({"errors": {"code": "parameter_invalid", "message": "amount is invalid", "parameter": "amount"}}),
    ));
    assert_eq!(
        refused,
        Err(ProviderError::Refused {
            status: 422,
            code: "parameter_invalid".into(),
            message: "amount is invalid (parameter: amount)".into(),
        })
    );
    let unauthorized = adapter.parse_payment_order(&ProviderResponse {
        status: 401,
        headers: BTreeMap::new(),
        body: b"Unauthorized".to_vec(),
    });
    assert!(
        matches!(unauthorized, Err(ProviderError::Refused { status: 401, code, .. }) if code == "http_401")
    );
    assert!(matches!(
        adapter.parse_payment_order(&answer(503, &json!({}))),
        Err(ProviderError::Unavailable(_))
    ));
    assert!(matches!(
        adapter.parse_payment_order(&answer(200, &json!({"id": "po_1", "object": "payment_order"}))),
        Err(ProviderError::BadResponse(m)) if m.contains("status")
    ));
}

/// A balance report in the shape of Modern Treasury's API reference (`object: balance_report`,
/// `balances[]` with `balance_type`, `amount`, `currency`); no public payload of one is in
/// `../shared/data/banks/`.
#[test]
fn the_latest_balance_report_gives_the_ledger_balance_per_currency() {
    let adapter = adapter();
    let request = adapter.balance_report_request("ia/1");
    assert_eq!(request.method, Method::GET);
    assert_eq!(
        request.url,
        "https://mt.example/api/internal_accounts/ia%2F1/balance_reports/latest"
    );
    assert_eq!(request.idempotency_key, None);
    assert_eq!(request.json, None);
    let report = json!({
        "id": "bd0b7c47-0d29-4a4b-9a0e-3bd8b1b1c6a4", "object": "balance_report",
        "balance_report_type": "intraday", "as_of_date": "2026-05-04", "as_of_time": "12:00:00",
        "internal_account_id": "ia/1", "live_mode": true,
        "balances": [
            {"id": "b1", "object": "balance", "amount": 900, "currency": "USD", "balance_type": "closing_ledger"},
            {"id": "b2", "object": "balance", "amount": 1_250, "currency": "USD", "balance_type": "current_ledger"},
            {"id": "b3", "object": "balance", "amount": 1_000, "currency": "USD", "balance_type": "current_available"},
            {"id": "b4", "object": "balance", "amount": 7_000, "currency": "EUR", "balance_type": "closing_ledger"},
        ],
    });
    let balances = adapter.parse_balance_report(&answer(200, &report)).unwrap();
    let read: Vec<(&str, i64, &str)> = balances
        .iter()
        .map(|b| (b.currency.as_str(), b.amount, b.as_of_date.as_str()))
        .collect();
    assert_eq!(
        read,
        [("EUR", 7_000, "2026-05-04"), ("USD", 1_250, "2026-05-04")]
    );
    let mut wrong = report.clone();
    wrong["object"] = json!("payment_order");
    assert!(adapter.parse_balance_report(&answer(200, &wrong)).is_err());
    let mut missing = report;
    missing["balances"][1]["amount"] = json!("1250");
    assert!(adapter
        .parse_balance_report(&answer(200, &missing))
        .is_err());
}
