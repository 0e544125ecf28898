//! The test bank, driven by a manual clock: ACH settling T+1/T+2 on banking days, wires and
//! RTP in seconds, the magic account numbers, returns inside and outside NACHA's windows,
//! incoming payments reconciling expected payments, scripted outages; every webhook verified
//! and read by Modern Treasury's parser.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bursar_banks::modern_treasury::{ModernTreasuryAdapter, ModernTreasuryConfig};
use bursar_banks::test_bank::{IncomingRequest, TestBank, TestBankError, Webhook};
use bursar_banks::{
    AccountType, BankEvent, BankEventKind, BankNumber, BankRails, CounterpartyRequest, Direction,
    ExpectedPaymentRequest, ExternalAccount, PaymentOrder, PaymentOrderRequest, PaymentOrderStatus,
    ProviderError, Rail, ReceivingAccount, ReconciliationRule, ReturnStatus, WebhookError,
};
use bursar_domain::time::{ManualClock, Timestamp};

const SECRET: &str = "whsec_test_bank";
/// A Monday.
const MONDAY: &str = "2026-05-04T10:00:00Z";

/// Polls a test-bank future once: it answers at once.
fn block<T>(future: impl Future<Output = T>) -> T {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("the test bank answers at once"),
    }
}

struct Setup {
    bank: TestBank,
    clock: ManualClock,
}

fn setup(start: &str) -> Setup {
    let clock = ManualClock::new(Timestamp::parse_rfc3339(start).unwrap());
    let bank = TestBank::new(Arc::new(clock.clone()), SECRET);
    Setup { bank, clock }
}

impl Setup {
    /// Moves the clock to `at` (never back).
    fn at(&self, at: &str) -> &Self {
        let target = Timestamp::parse_rfc3339(at).unwrap().unix_micros();
        let delta = target - bursar_domain::time::Clock::now(&self.clock).unix_micros();
        assert!(delta >= 0, "the clock only moves forward");
        self.clock.advance_seconds(delta / 1_000_000);
        self
    }

    fn later(&self, seconds: i64) -> &Self {
        self.clock.advance_seconds(seconds);
        self
    }

    /// The webhooks due now, each verified and read by Modern Treasury's parser.
    fn events(&self) -> Vec<BankEvent> {
        self.bank.advance().iter().map(parse).collect()
    }

    fn order(
        &self,
        attempt: &str,
        rail: Rail,
        direction: Direction,
        account: &str,
    ) -> PaymentOrder {
        block(
            self.bank
                .create_payment_order(&order_request(attempt, rail, direction, account)),
        )
        .unwrap()
    }
}

fn parse(webhook: &Webhook) -> BankEvent {
    let adapter = ModernTreasuryAdapter::new(ModernTreasuryConfig::new("org", "key"));
    let event = adapter
        .parse_webhook(&webhook.headers, &webhook.body, &[SECRET.to_owned()])
        .unwrap();
    assert_eq!(event.live_mode, Some(false));
    assert_eq!(event.webhook_id, webhook.webhook_id());
    event
}

fn account(number: &str) -> ExternalAccount {
    ExternalAccount {
        account_type: AccountType::Checking,
        party_name: Some("Ada Lovelace".into()),
        party_type: None,
        routing_number: BankNumber::new("021000021"),
        account_number: BankNumber::new(number),
    }
}

fn order_request(
    attempt: &str,
    rail: Rail,
    direction: Direction,
    number: &str,
) -> PaymentOrderRequest {
    PaymentOrderRequest {
        attempt_id: attempt.into(),
        rail,
        direction,
        amount: 12_345,
        currency: "USD".into(),
        originating_account_id: "ia_platform".into(),
        counterparty_id: None,
        receiving_account: ReceivingAccount::Inline(account(number)),
        effective_date: None,
        reference: Some("payout 7".into()),
        description: None,
        metadata: BTreeMap::new(),
    }
}

/// `(topic, event)` of each event.
fn names(events: &[BankEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| (e.topic.clone(), e.event.clone()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(t, e)| (t.to_string(), e.to_string()))
        .collect()
}

/// The status and order of a payment order event.
fn order_change(event: &BankEvent) -> (PaymentOrderStatus, PaymentOrder) {
    match &event.kind {
        BankEventKind::PaymentOrderStatusChanged {
            status,
            order,
            payment_order_id,
            ..
        } => {
            let order = order.clone().expect("the whole order travels");
            assert_eq!(&order.id, payment_order_id);
            (*status, order)
        }
        other => panic!("not a payment order change: {other:?}"),
    }
}

const SENT: [(&str, &str); 2] = [
    ("payment_order", "begin_processing"),
    ("payment_order", "finished_processing"),
];

#[test]
fn an_ach_credit_settles_the_next_banking_day_at_the_settlement_hour() {
    let s = setup(MONDAY);
    let order = s.order("po-1", Rail::Ach, Direction::Credit, "123456789");
    assert_eq!(order.id, "tb_po_1");
    assert_eq!(order.status, PaymentOrderStatus::Pending);
    assert_eq!(order.effective_date.as_deref(), Some("2026-05-05"));
    assert_eq!(order.metadata["bursar_attempt_id"], "po-1");
    assert!(s.events().is_empty(), "nothing before a second has passed");
    let sent = s.later(2).events();
    assert_eq!(names(&sent), pairs(&SENT));
    assert_eq!(order_change(&sent[1]).0, PaymentOrderStatus::Sent);
    assert!(s.at("2026-05-05T13:59:59Z").events().is_empty());
    let fetched = block(s.bank.payment_order("tb_po_1")).unwrap();
    assert_eq!(fetched.status, PaymentOrderStatus::Sent);
    let done = s.at("2026-05-05T14:00:00Z").events();
    assert_eq!(names(&done), pairs(&[("payment_order", "completed")]));
    let (status, settled) = order_change(&done[0]);
    assert_eq!(status, PaymentOrderStatus::Completed);
    assert_eq!((settled.amount, settled.currency.as_str()), (12_345, "USD"));
    assert_eq!(settled.reference.as_deref(), Some("payout 7"));
    assert_eq!(settled.metadata["bursar_attempt_id"], "po-1");
    assert_eq!(
        block(s.bank.payment_order("tb_po_1")).unwrap().status,
        PaymentOrderStatus::Completed
    );
    assert!(
        s.bank.advance().is_empty(),
        "a replayed advance returns nothing new"
    );
}

#[test]
fn a_friday_ach_credit_settles_on_monday() {
    let s = setup("2026-05-08T16:00:00Z");
    s.order("po-fri", Rail::Ach, Direction::Credit, "123456789");
    assert_eq!(s.later(2).events().len(), 2);
    assert!(
        s.at("2026-05-10T23:59:59Z").events().is_empty(),
        "no settlement on the weekend"
    );
    let done = s.at("2026-05-11T14:00:00Z").events();
    assert_eq!(order_change(&done[0]).0, PaymentOrderStatus::Completed);
}

#[test]
fn an_ach_debit_settles_on_the_second_banking_day() {
    let s = setup(MONDAY);
    let order = s.order("pull-1", Rail::Ach, Direction::Debit, "123456789");
    assert_eq!(order.effective_date.as_deref(), Some("2026-05-06"));
    assert_eq!(
        s.at("2026-05-05T14:00:00Z").events().len(),
        2,
        "only processing and sent"
    );
    let done = s.at("2026-05-06T14:00:00Z").events();
    let (status, settled) = order_change(&done[0]);
    assert_eq!(
        (status, settled.direction),
        (PaymentOrderStatus::Completed, Direction::Debit)
    );
}

#[test]
fn wires_and_rtp_complete_within_seconds() {
    let s = setup(MONDAY);
    s.order("wire-1", Rail::Wire, Direction::Credit, "123456789");
    s.order("rtp-1", Rail::Rtp, Direction::Credit, "123456789");
    assert_eq!(s.later(1).events().len(), 2, "both processing after 1 s");
    let events = s.later(1).events();
    let completed: Vec<_> = events
        .iter()
        .map(order_change)
        .filter(|(st, _)| *st == PaymentOrderStatus::Completed)
        .collect();
    assert_eq!(completed.len(), 2);
    assert_eq!(completed[0].1.rail, Rail::Wire);
    assert_eq!(completed[1].1.rail, Rail::Rtp);
    let wire_events: Vec<_> = events
        .iter()
        .map(order_change)
        .filter(|(_, o)| o.id == "tb_po_1")
        .map(|(s, _)| s)
        .collect();
    assert_eq!(
        wire_events,
        [PaymentOrderStatus::Sent, PaymentOrderStatus::Completed],
        "in time order"
    );
}

#[test]
fn an_account_of_ones_fails_every_order_with_a_reason() {
    let s = setup(MONDAY);
    s.order("po-fail", Rail::Ach, Direction::Credit, "111111110");
    let events = s.later(2).events();
    assert_eq!(
        names(&events),
        pairs(&[
            ("payment_order", "begin_processing"),
            ("payment_order", "failed")
        ])
    );
    match &events[1].kind {
        BankEventKind::PaymentOrderStatusChanged {
            status, failure, ..
        } => {
            assert_eq!(*status, PaymentOrderStatus::Failed);
            let failure = failure.clone().expect("a failure reason");
            assert_eq!(failure.code.as_deref(), Some("receiving_account_rejected"));
            assert!(failure.message.is_some());
        }
        other => panic!("{other:?}"),
    }
    s.order("po-fail-2", Rail::Wire, Direction::Credit, "111111110");
    let again = s.later(2).events();
    assert_eq!(
        order_change(&again[1]).0,
        PaymentOrderStatus::Failed,
        "every time, every rail"
    );
    assert!(
        s.at("2026-05-06T15:00:00Z").events().is_empty(),
        "a failed order never settles"
    );
}

#[test]
fn an_account_of_twos_fails_once_and_a_new_attempt_succeeds() {
    let s = setup(MONDAY);
    let first = s.order("try-1", Rail::Wire, Direction::Credit, "222222220");
    let events = s.later(2).events();
    assert_eq!(
        order_change(events.last().unwrap()).0,
        PaymentOrderStatus::Failed
    );
    let same = s.order("try-1", Rail::Wire, Direction::Credit, "222222220");
    assert_eq!(
        (same.id.as_str(), same.status),
        (first.id.as_str(), PaymentOrderStatus::Failed)
    );
    let retry = s.order("try-2", Rail::Wire, Direction::Credit, "222222220");
    assert_ne!(retry.id, first.id);
    let events = s.later(2).events();
    let (status, order) = order_change(events.last().unwrap());
    assert_eq!(
        (status, order.id),
        (PaymentOrderStatus::Completed, retry.id)
    );
}

/// Return, order returned, return completed: the return's code, amount and order.
fn assert_returned(events: &[BankEvent], order_id: &str, code: &str) {
    assert_eq!(
        names(events),
        pairs(&[
            ("return", "created"),
            ("payment_order", "returned"),
            ("return", "completed")
        ])
    );
    for (event, status) in [
        (&events[0], ReturnStatus::Pending),
        (&events[2], ReturnStatus::Completed),
    ] {
        let BankEventKind::Return(ret) = &event.kind else {
            panic!("{event:?}")
        };
        assert_eq!(ret.status, status);
        assert_eq!(ret.code.as_deref(), Some(code));
        assert_eq!(ret.amount, 12_345);
        assert_eq!(ret.returnable_id.as_deref(), Some(order_id));
        assert_eq!(ret.returnable_type.as_deref(), Some("payment_order"));
        assert_eq!(ret.role.as_deref(), Some("originating"));
        assert_eq!(ret.rail, Some(Rail::Ach));
    }
    assert_eq!(order_change(&events[1]).0, PaymentOrderStatus::Returned);
}

#[test]
fn account_10001_settles_then_returns_r01_the_next_banking_day() {
    let s = setup(MONDAY);
    let order = s.order("po-r01", Rail::Ach, Direction::Credit, "10001");
    let done = s.at("2026-05-05T14:00:00Z").events();
    assert_eq!(
        order_change(done.last().unwrap()).0,
        PaymentOrderStatus::Completed
    );
    assert!(s.at("2026-05-06T13:59:59Z").events().is_empty());
    let returned = s.at("2026-05-06T14:00:00Z").events();
    assert_returned(&returned, &order.id, "R01");
    let BankEventKind::Return(ret) = &returned[0].kind else {
        panic!()
    };
    assert_eq!(ret.reason.as_deref(), Some("Insufficient Funds"));
    assert_eq!(
        s.bank.return_payment_order(&order.id, "R02"),
        Err(TestBankError::AlreadyReturned(order.id.clone()))
    );
}

#[test]
fn account_10003_of_a_counterparty_returns_r03_no_account() {
    let s = setup(MONDAY);
    let counterparty = block(s.bank.create_counterparty(&CounterpartyRequest {
        attempt_id: "cp-1".into(),
        party_id: "pty_1".into(),
        name: "Ada".into(),
        email: None,
        accounts: vec![account("10003")],
        metadata: BTreeMap::new(),
    }))
    .unwrap();
    assert_eq!(counterparty.id, "tb_cp_1");
    assert_eq!(counterparty.metadata["bursar_party_id"], "pty_1");
    let shown = &counterparty.accounts[0];
    assert_eq!(shown.account_number_masked.as_deref(), Some("••••0003"));
    let mut request = order_request("pull-r03", Rail::Ach, Direction::Debit, "unused");
    request.receiving_account = ReceivingAccount::Id(shown.id.clone());
    request.counterparty_id = Some(counterparty.id.clone());
    let order = block(s.bank.create_payment_order(&request)).unwrap();
    assert_eq!(order.receiving_account_id.as_ref(), Some(&shown.id));
    s.at("2026-05-06T14:00:00Z").events();
    assert_returned(&s.at("2026-05-07T14:00:00Z").events(), &order.id, "R03");
}

/// ACH credits created Monday and settled Tuesday 2026-05-05, by attempt.
fn settled<const N: usize>(s: &Setup, attempts: [&str; N]) -> [String; N] {
    let ids = attempts.map(|a| s.order(a, Rail::Ach, Direction::Credit, "123456789").id);
    s.at("2026-05-05T14:00:00Z").events();
    ids
}

#[test]
fn r01_is_accepted_until_the_second_banking_day_after_settlement() {
    let s = setup(MONDAY);
    let [inside, outside] = settled(&s, ["po-a", "po-b"]);
    s.at("2026-05-07T23:00:00Z");
    assert_eq!(s.bank.return_payment_order(&inside, "R01"), Ok(()));
    assert_returned(&s.events(), &inside, "R01");
    s.at("2026-05-08T09:00:00Z");
    let refused = s.bank.return_payment_order(&outside, "R01").unwrap_err();
    assert_eq!(
        refused,
        TestBankError::WindowClosed {
            id: outside.clone(),
            code: "R01".into(),
            settled: "2026-05-05".into(),
            deadline: "2026-05-07".into(),
            today: "2026-05-08".into(),
        }
    );
    assert!(s.events().is_empty(), "a refused return emits nothing");
}

#[test]
fn r10_unauthorized_is_accepted_for_sixty_calendar_days() {
    let s = setup(MONDAY);
    let [inside, outside] = settled(&s, ["po-a", "po-b"]);
    s.at("2026-07-04T12:00:00Z");
    assert!(matches!(
        s.bank.return_payment_order(&inside, "R01"),
        Err(TestBankError::WindowClosed { .. })
    ));
    assert_eq!(s.bank.return_payment_order(&inside, "R10"), Ok(()));
    assert_returned(&s.events(), &inside, "R10");
    s.at("2026-07-05T00:00:00Z");
    let refused = s.bank.return_payment_order(&outside, "r10").unwrap_err();
    assert!(
        matches!(&refused, TestBankError::WindowClosed { deadline, .. } if deadline == "2026-07-04"),
        "{refused}"
    );
}

#[test]
fn returns_the_bank_cannot_make_are_refused() {
    let s = setup(MONDAY);
    let [order] = settled(&s, ["po-a"]);
    let refused = |id: &str, code: &str| s.bank.return_payment_order(id, code).unwrap_err();
    assert_eq!(
        refused(&order, "R99"),
        TestBankError::UnknownReturnCode("R99".into())
    );
    assert_eq!(
        refused(&order, "C07"),
        TestBankError::UnknownReturnCode("C07".into())
    );
    assert_eq!(
        refused(&order, "R61"),
        TestBankError::NotAReturn("R61".into())
    );
    assert_eq!(
        refused("tb_po_404", "R01"),
        TestBankError::UnknownPaymentOrder("tb_po_404".into())
    );
    let pending = s.order("po-b", Rail::Ach, Direction::Credit, "123456789");
    assert_eq!(
        refused(&pending.id, "R01"),
        TestBankError::NotCompleted {
            id: pending.id.clone(),
            status: "pending"
        }
    );
    let wire = s.order("wire", Rail::Wire, Direction::Credit, "123456789");
    s.later(2).events();
    assert!(
        matches!(refused(&wire.id, "R01"), TestBankError::NotAch { rail, .. } if rail == "wire")
    );
    assert_eq!(s.bank.return_payment_order(&order, "R02"), Ok(()));
    assert_eq!(
        refused(&order, "R02"),
        TestBankError::AlreadyReturned(order.clone())
    );
    assert_eq!(s.events().len(), 3, "one return");
    assert!(refused(&order, "R99").to_string().contains("R99"));
}

fn expected_request(attempt: &str, amount: i64, reference: &str) -> ExpectedPaymentRequest {
    ExpectedPaymentRequest {
        attempt_id: attempt.into(),
        rule: ReconciliationRule {
            amount_lower_bound: amount,
            amount_upper_bound: amount,
            direction: Direction::Credit,
            internal_account_id: "ia_platform".into(),
            currency: Some("USD".into()),
            rail: Some(Rail::Wire),
            date_lower_bound: Some("2026-05-04".into()),
            date_upper_bound: Some("2026-05-05".into()),
            counterparty_id: None,
            custom_identifiers: BTreeMap::from([("order".into(), "ord_9".into())]),
        },
        reference: Some(reference.into()),
        description: Some("buyer wire".into()),
        metadata: BTreeMap::new(),
    }
}

fn incoming_wire(amount: i64, reference: &str) -> IncomingRequest {
    let mut request = IncomingRequest::credit(amount, "USD", Rail::Wire, "ia_platform");
    request.originator_name = Some("Buyer Co".into());
    request.originator_account_number = Some(BankNumber::new("000123456789"));
    request.originator_routing_number = Some(BankNumber::new("021000021"));
    request.reference = Some(format!("{reference} ord_9"));
    request
}

#[test]
fn an_incoming_wire_arrives_in_seconds_and_reconciles_its_expected_payment() {
    let s = setup(MONDAY);
    let expected = block(
        s.bank
            .create_expected_payment(&expected_request("ep-1", 50_000, "INV-7")),
    )
    .unwrap();
    assert_eq!(expected.id, "tb_ep_1");
    assert_eq!(expected.metadata["bursar_attempt_id"], "ep-1");
    let id = s
        .bank
        .send_incoming(&incoming_wire(50_000, "Payment inv 7 / INV-7"))
        .unwrap();
    assert_eq!(id, "tb_ipd_1");
    let created = s.later(1).events();
    assert_eq!(
        names(&created),
        pairs(&[("incoming_payment_detail", "created")])
    );
    let events = s.later(1).events();
    assert_eq!(
        names(&events),
        pairs(&[
            ("incoming_payment_detail", "completed"),
            ("expected_payment", "reconciled")
        ])
    );
    let BankEventKind::IncomingPayment(incoming) = &events[0].kind else {
        panic!()
    };
    assert_eq!(
        (
            incoming.id.as_str(),
            incoming.amount,
            incoming.status.as_str()
        ),
        ("tb_ipd_1", 50_000, "completed")
    );
    assert_eq!(
        (incoming.rail.clone(), incoming.direction),
        (Rail::Wire, Direction::Credit)
    );
    assert_eq!(incoming.as_of_date.as_deref(), Some("2026-05-04"));
    assert_eq!(incoming.internal_account_id.as_deref(), Some("ia_platform"));
    assert_eq!(incoming.originator_name.as_deref(), Some("Buyer Co"));
    assert_eq!(
        incoming.originating_account_number_masked.as_deref(),
        Some("••••6789")
    );
    assert_eq!(
        incoming.reference.as_deref(),
        Some("Payment inv 7 / INV-7 ord_9")
    );
    let transaction = incoming
        .transaction_id
        .clone()
        .expect("a transaction once completed");
    let BankEventKind::ExpectedPaymentReconciled {
        expected_payment_id,
        transaction_id,
        rules,
        metadata,
        method,
        ..
    } = &events[1].kind
    else {
        panic!()
    };
    assert_eq!(expected_payment_id, "tb_ep_1");
    assert_eq!(transaction_id.as_ref(), Some(&transaction));
    assert_eq!(method.as_deref(), Some("automatic"));
    assert_eq!(rules, &expected.rules);
    assert_eq!(metadata["bursar_attempt_id"], "ep-1");
}

#[test]
fn an_incoming_payment_that_fits_no_rule_reconciles_nothing() {
    let s = setup(MONDAY);
    block(
        s.bank
            .create_expected_payment(&expected_request("ep-1", 50_000, "INV-7")),
    )
    .unwrap();
    let misses = [
        incoming_wire(49_999, "INV-7"),
        incoming_wire(50_000, "INV-8"),
        IncomingRequest {
            rail: Rail::Rtp,
            ..incoming_wire(50_000, "INV-7")
        },
        IncomingRequest {
            internal_account_id: "ia_other".into(),
            ..incoming_wire(50_000, "INV-7")
        },
        IncomingRequest {
            reference: Some("INV-7".into()),
            ..incoming_wire(50_000, "INV-7")
        },
    ];
    for miss in &misses {
        s.bank.send_incoming(miss).unwrap();
    }
    let events = s.later(2).events();
    assert_eq!(events.len(), 2 * misses.len());
    assert!(events.iter().all(|e| e.topic == "incoming_payment_detail"));
    s.at("2026-05-06T00:00:00Z");
    s.bank
        .send_incoming(&incoming_wire(50_000, "INV-7"))
        .unwrap();
    let late = s.later(2).events();
    assert_eq!(late.len(), 2, "after the date bounds: {:?}", names(&late));
}

#[test]
fn an_incoming_ach_completes_the_next_banking_day() {
    let s = setup("2026-05-08T18:00:00Z");
    let request = IncomingRequest::credit(700, "USD", Rail::Ach, "ia_platform");
    s.bank.send_incoming(&request).unwrap();
    let created = s.later(2).events();
    let BankEventKind::IncomingPayment(pending) = &created[0].kind else {
        panic!()
    };
    assert_eq!(
        (pending.status.as_str(), pending.rail.clone()),
        ("pending", Rail::Ach)
    );
    assert!(s.at("2026-05-11T13:59:59Z").events().is_empty());
    let done = s.at("2026-05-11T14:00:00Z").events();
    let BankEventKind::IncomingPayment(completed) = &done[0].kind else {
        panic!()
    };
    assert_eq!(
        (completed.status.as_str(), completed.as_of_date.as_deref()),
        ("completed", Some("2026-05-11"))
    );
}

#[test]
fn bad_incoming_payments_are_refused_naming_the_field() {
    let s = setup(MONDAY);
    let field = |request: IncomingRequest| match s.bank.send_incoming(&request) {
        Err(TestBankError::Invalid { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    let good = IncomingRequest::credit(700, "USD", Rail::Wire, "ia_platform");
    assert_eq!(
        field(IncomingRequest {
            amount: 0,
            ..good.clone()
        }),
        "amount"
    );
    assert_eq!(
        field(IncomingRequest {
            currency: "usd".into(),
            ..good.clone()
        }),
        "currency"
    );
    assert_eq!(
        field(IncomingRequest {
            rail: Rail::Book,
            ..good.clone()
        }),
        "rail"
    );
    assert_eq!(
        field(IncomingRequest {
            internal_account_id: " ".into(),
            ..good
        }),
        "internal_account_id"
    );
}

#[test]
fn every_webhook_is_signed_and_a_tampered_or_foreign_one_is_refused() {
    let s = setup(MONDAY);
    s.order("po-1", Rail::Wire, Direction::Credit, "000123456789");
    let webhooks = s.later(2).bank.advance();
    assert_eq!(webhooks.len(), 3);
    let mut ids = std::collections::BTreeSet::new();
    for webhook in &webhooks {
        let body = String::from_utf8(webhook.body.clone()).unwrap();
        assert!(
            !body.contains("000123456789"),
            "no account number in {body}"
        );
        assert!(!format!("{webhook:?}").contains("000123456789"));
        assert_eq!(webhook.headers["x-live-mode"], "false");
        assert_eq!(webhook.topic(), "payment_order");
        assert!(
            ids.insert(webhook.webhook_id().to_owned()),
            "unique webhook ids"
        );
        assert!(webhook.headers["x-event-id"].starts_with("tb_evt_"));
        // The bank's own parse_webhook is Modern Treasury's.
        let event = s
            .bank
            .parse_webhook(&webhook.headers, &webhook.body, &[SECRET.to_owned()])
            .unwrap();
        assert_eq!(event, parse(webhook));
    }
    let webhook = &webhooks[2];
    let mut tampered = webhook.body.clone();
    let at = tampered.windows(5).position(|w| w == b"12345").unwrap();
    tampered[at] = b'9';
    let secrets = [SECRET.to_owned()];
    assert_eq!(
        s.bank.parse_webhook(&webhook.headers, &tampered, &secrets),
        Err(WebhookError::BadSignature)
    );
    let other = ["whsec_other".to_owned()];
    assert_eq!(
        s.bank
            .parse_webhook(&webhook.headers, &webhook.body, &other),
        Err(WebhookError::BadSignature)
    );
    assert_eq!(
        s.bank.redeliver(webhook.webhook_id()).as_ref(),
        Some(webhook),
        "a redelivery is the same webhook"
    );
    assert!(s.bank.advance().is_empty());
    assert_eq!(s.bank.kind(), "test_bank");
    assert!(!format!("{:?}", s.bank).contains(SECRET));
}

#[test]
fn a_repeated_attempt_answers_the_same_order_and_moves_money_once() {
    let s = setup(MONDAY);
    let first = s.order("po-1", Rail::Ach, Direction::Credit, "123456789");
    let again = s.order("po-1", Rail::Ach, Direction::Credit, "123456789");
    assert_eq!(first, again);
    assert_eq!(
        s.at("2026-05-05T14:00:00Z").events().len(),
        3,
        "one lifecycle"
    );
    let mut changed = order_request("po-1", Rail::Ach, Direction::Credit, "123456789");
    changed.amount += 1;
    match block(s.bank.create_payment_order(&changed)) {
        Err(ProviderError::Refused {
            status: 422, code, ..
        }) => assert_eq!(code, "idempotency_key_reused"),
        other => panic!("{other:?}"),
    }
    let expected = expected_request("ep-1", 100, "INV-1");
    let one = block(s.bank.create_expected_payment(&expected)).unwrap();
    assert_eq!(
        block(s.bank.create_expected_payment(&expected)).unwrap(),
        one
    );
}

#[test]
fn a_scripted_outage_refuses_calls_as_unavailable_and_creates_nothing() {
    let s = setup(MONDAY);
    s.bank.fail_next_requests(2);
    let request = order_request("po-1", Rail::Wire, Direction::Credit, "123456789");
    for _ in 0..2 {
        let refused = block(s.bank.create_payment_order(&request));
        assert!(
            matches!(refused, Err(ProviderError::Unavailable(_))),
            "{refused:?}"
        );
    }
    let order = block(s.bank.create_payment_order(&request)).unwrap();
    assert_eq!(order.id, "tb_po_1", "the refused calls created nothing");
    s.bank.fail_next_requests(1);
    assert!(matches!(
        block(s.bank.payment_order("tb_po_1")),
        Err(ProviderError::Unavailable(_))
    ));
    assert_eq!(
        block(s.bank.payment_order("tb_po_1")).unwrap().id,
        "tb_po_1"
    );
}

#[test]
fn bad_requests_are_refused_naming_the_parameter() {
    let s = setup(MONDAY);
    let parameter =
        |request: PaymentOrderRequest| match block(s.bank.create_payment_order(&request)) {
            Err(ProviderError::Refused {
                status: 422,
                message,
                ..
            }) => message,
            other => panic!("{other:?}"),
        };
    let good = || order_request("po-1", Rail::Ach, Direction::Credit, "123456789");
    assert!(parameter(PaymentOrderRequest {
        amount: 0,
        ..good()
    })
    .contains("(parameter: amount)"));
    assert!(parameter(PaymentOrderRequest {
        currency: "usd".into(),
        ..good()
    })
    .contains("(parameter: currency)"));
    assert!(parameter(PaymentOrderRequest {
        rail: Rail::Wire,
        direction: Direction::Debit,
        ..good()
    })
    .contains("(parameter: direction)"));
    assert!(parameter(PaymentOrderRequest {
        effective_date: Some("5/5/26".into()),
        ..good()
    })
    .contains("(parameter: effective_date)"));
    let unknown = ReceivingAccount::Id("tb_ea_404".into());
    assert!(parameter(PaymentOrderRequest {
        receiving_account: unknown,
        ..good()
    })
    .contains("(parameter: receiving_account_id)"));
    let short = ReceivingAccount::Inline(account("12"));
    assert!(parameter(PaymentOrderRequest {
        receiving_account: short,
        ..good()
    })
    .contains("receiving_account.account_number"));
    match block(s.bank.payment_order("tb_po_404")) {
        Err(ProviderError::Refused { status: 404, .. }) => {}
        other => panic!("{other:?}"),
    }
    let mut bounds = expected_request("ep-1", 100, "INV-1");
    bounds.rule.amount_upper_bound = 99;
    let refused = block(s.bank.create_expected_payment(&bounds)).unwrap_err();
    assert!(
        refused.to_string().contains("amount_upper_bound"),
        "{refused}"
    );
}

#[test]
fn an_effective_date_ahead_moves_ach_settlement() {
    let s = setup(MONDAY);
    let mut request = order_request("po-later", Rail::Ach, Direction::Credit, "123456789");
    request.effective_date = Some("2026-05-08".into());
    let order = block(s.bank.create_payment_order(&request)).unwrap();
    assert_eq!(
        order.effective_date.as_deref(),
        Some("2026-05-11"),
        "Friday's T+1 is Monday"
    );
    assert_eq!(s.at("2026-05-08T15:00:00Z").events().len(), 2);
    assert_eq!(s.at("2026-05-11T14:00:00Z").events().len(), 1);
}
