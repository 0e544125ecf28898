//! The test bank: a simulated bank with a clock, for **sandbox workspaces only** (connections
//! to it are refused in live mode where bank connections are created; nothing here moves
//! money).
//!
//! It holds its counterparties, payment orders and expected payments in memory and answers
//! [`BankRails`] calls from them (ids `tb_cp_1`, `tb_ea_1`, `tb_po_1`, `tb_ep_1`…, counted per
//! kind; a repeated attempt id answers the object it created, and is refused with other
//! parameters). Its [`Clock`] drives it: [`TestBank::advance`] returns every webhook that has
//! fallen due since the last call, in time order. Webhooks are **Modern Treasury's**: the same
//! body shapes and headers (`X-Signature` is the hex HMAC-SHA256 of the body under the webhook
//! secret, `X-Webhook-ID` unique and kept on redelivery, `X-Event-ID`, `X-Topic`,
//! `X-Live-Mode: false`), read by the same parser, so sandbox events take the live ingestion
//! path.
//!
//! # Timing
//! - Every payment order starts `processing` 1 s after creation and is `sent` 2 s after.
//! - Wire, RTP and book orders complete 2 s after creation.
//! - ACH credits (payouts) complete on the next banking day (T+1), ACH debits (pulls) on the
//!   second (T+2), at [`SETTLEMENT_HOUR_UTC`]:00 UTC, counted from the effective date (today
//!   when none or a past one is given). Banking days are Monday to Friday
//!   ([`returns::add_banking_days`]); Saturday's T+1 is Monday.
//! - Incoming wires and RTP: `incoming_payment_detail` `created` 1 s after
//!   [`TestBank::send_incoming`], `completed` 2 s after; incoming ACH completes the next banking
//!   day at the settlement hour.
//!
//! # Magic receiving account numbers
//! Like Modern Treasury's sandbox (whose numbers these mirror) and Stripe's test cards:
//!
//! | account number | effect |
//! |---|---|
//! | `123456789` (or any other) | succeeds |
//! | `11111111` + digits (`111111110`) | every order `failed` 2 s after creation, with a failure reason |
//! | `22222222` + digits (`222222220`) | the first order to it fails; a retry with a new attempt id succeeds |
//! | `100XX` (`10001`, `10003`) | an ACH order settles, then is returned with `RXX` (R01 insufficient funds, R03 no account…) the next banking day; other rails succeed |
//!
//! [`TestBank::fail_next_requests`] scripts an outage: the next `n` API calls answer
//! [`ProviderError::Unavailable`] and change nothing.
//!
//! # Returns
//! [`TestBank::return_payment_order`] returns a completed ACH order with any NACHA code whose
//! window ([`returns::return_deadline`]: 2 banking days after settlement for most codes, 60
//! calendar days for the unauthorized R05, R07, R10, R11, R51) is still open today; codes NACHA
//! gives no window are accepted at any time, and the dishonored/contested codes (R61–R77),
//! which answer a return, are refused. The return arrives as `return` `created` (pending), the
//! order `returned`, then `return` `completed`.
//!
//! # Expected payments
//! A completed incoming payment reconciles the first open expected payment it fits (see
//! `records::ExpectedRecord::fits`: amount bounds, direction, internal account, currency, rail,
//! date bounds, custom identifiers, reference), with an `expected_payment` `reconciled` webhook
//! right after its `completed` one.

mod api;
mod calendar;
mod payloads;
mod records;
mod scripted;
mod state;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use bursar_domain::time::Clock;
#[cfg(doc)]
use bursar_domain::treasury::returns;
use futures::future::BoxFuture;
use futures::FutureExt;

pub use calendar::{
    scenario, Scenario, INSTANT_AFTER_SECONDS, PROCESSING_AFTER_SECONDS, SETTLEMENT_HOUR_UTC,
};

use crate::event::BankEvent;
use crate::modern_treasury::{parse_event, TOPIC_HEADER, WEBHOOK_ID_HEADER};
use crate::types::{
    AccountBalance, BankNumber, Counterparty, CounterpartyRequest, Direction, ExpectedPayment,
    ExpectedPaymentRequest, PaymentOrder, PaymentOrderRequest, Rail,
};
use crate::{signature, BankRails, Headers, ProviderError, WebhookError};
use state::State;

/// This bank's name in logs, metrics and [`BankRails::kind`].
pub const KIND: &str = "test_bank";

/// One webhook as the test bank delivers it: headers (lower-case names) and the raw body.
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl Webhook {
    /// `X-Webhook-ID`.
    pub fn webhook_id(&self) -> &str {
        self.header(WEBHOOK_ID_HEADER)
    }

    /// `X-Topic`: `payment_order`, `return`, `incoming_payment_detail`, `expected_payment`.
    pub fn topic(&self) -> &str {
        self.header(TOPIC_HEADER)
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
}

/// The body is shown as text: it carries only masked account numbers.
impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("headers", &self.headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

/// Money someone else sends to (or pulls from) one of the platform's internal accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingRequest {
    /// Minor units, positive.
    pub amount: i64,
    /// ISO 4217, upper case.
    pub currency: String,
    /// `Ach`, `Wire` or `Rtp`.
    pub rail: Rail,
    /// `Credit`: money in.
    pub direction: Direction,
    pub internal_account_id: String,
    pub virtual_account_id: Option<String>,
    pub originator_name: Option<String>,
    /// Shown in events as its last four digits only.
    pub originator_account_number: Option<BankNumber>,
    pub originator_routing_number: Option<BankNumber>,
    /// The payer's reference (remittance information).
    pub reference: Option<String>,
    /// Identifiers the payer gave, matched against expected payments' custom identifiers.
    pub custom_identifiers: BTreeMap<String, String>,
}

impl IncomingRequest {
    /// A credit of `amount` `currency` by `rail` into `internal_account_id`, nothing else said.
    pub fn credit(amount: i64, currency: &str, rail: Rail, internal_account_id: &str) -> Self {
        Self {
            amount,
            currency: currency.to_owned(),
            rail,
            direction: Direction::Credit,
            internal_account_id: internal_account_id.to_owned(),
            virtual_account_id: None,
            originator_name: None,
            originator_account_number: None,
            originator_routing_number: None,
            reference: None,
            custom_identifiers: BTreeMap::new(),
        }
    }
}

/// Why the test bank refused a scripted action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TestBankError {
    #[error("no payment order '{0}'")]
    UnknownPaymentOrder(String),
    #[error("'{0}' is not a NACHA return code")]
    UnknownReturnCode(String),
    #[error("{0} answers a return (dishonored or contested); it does not return a payment")]
    NotAReturn(String),
    #[error(
        "payment order '{id}' went by {rail}: only ACH payments are returned with a NACHA code"
    )]
    NotAch { id: String, rail: String },
    #[error("payment order '{id}' is {status}: only a completed payment can be returned")]
    NotCompleted { id: String, status: &'static str },
    #[error("payment order '{0}' was already returned")]
    AlreadyReturned(String),
    #[error("the window to return payment order '{id}' with {code} closed on {deadline} (settled {settled}, today is {today})")]
    WindowClosed {
        id: String,
        code: String,
        settled: String,
        deadline: String,
        today: String,
    },
    #[error("invalid {field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}

/// The simulated bank (see the module documentation). Sandbox only.
pub struct TestBank {
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

/// Never prints the webhook secret.
impl fmt::Debug for TestBank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestBank")
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl TestBank {
    /// A bank with nothing in it, signing its webhooks with `webhook_secret`.
    pub fn new(clock: Arc<dyn Clock>, webhook_secret: impl Into<String>) -> Self {
        Self {
            clock,
            state: Mutex::new(State::new(webhook_secret.into())),
        }
    }

    /// Brings the bank up to the clock's now, then runs `action` on its state.
    fn at_now<T>(&self, action: impl FnOnce(&mut State, bursar_domain::time::Timestamp) -> T) -> T {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.clock.now();
        state.tick(now);
        action(&mut state, now)
    }

    /// Every webhook fallen due since the last call, in time order; nothing twice.
    pub fn advance(&self) -> Vec<Webhook> {
        self.at_now(|state, _| state.drain())
    }

    /// A webhook already delivered, byte for byte (a redelivery keeps its `X-Webhook-ID`).
    pub fn redeliver(&self, webhook_id: &str) -> Option<Webhook> {
        self.at_now(|state, _| state.delivered(webhook_id))
    }

    /// Returns a completed ACH payment order with a NACHA `code` (see "Returns" above).
    pub fn return_payment_order(
        &self,
        payment_order_id: &str,
        code: &str,
    ) -> Result<(), TestBankError> {
        self.at_now(|state, now| state.return_payment_order(payment_order_id, code, now))
    }

    /// Money in that Bursar did not originate; answers the incoming payment detail's id.
    pub fn send_incoming(&self, request: &IncomingRequest) -> Result<String, TestBankError> {
        self.at_now(|state, now| state.send_incoming(request, now))
    }

    /// The next `count` API calls answer [`ProviderError::Unavailable`].
    pub fn fail_next_requests(&self, count: u32) {
        self.at_now(|state, _| state.outage = count);
    }

    /// Runs an API call unless a scripted outage refuses it.
    fn call<T: Send + 'static>(
        &self,
        action: impl FnOnce(&mut State, bursar_domain::time::Timestamp) -> Result<T, ProviderError>,
    ) -> BoxFuture<'static, Result<T, ProviderError>> {
        let result = self.at_now(|state, now| {
            state.outage_check()?;
            action(state, now)
        });
        futures::future::ready(result).boxed()
    }
}

impl BankRails for TestBank {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn create_counterparty<'a>(
        &'a self,
        request: &'a CounterpartyRequest,
    ) -> BoxFuture<'a, Result<Counterparty, ProviderError>> {
        self.call(|state, _| state.create_counterparty(request))
    }

    fn create_payment_order<'a>(
        &'a self,
        request: &'a PaymentOrderRequest,
    ) -> BoxFuture<'a, Result<PaymentOrder, ProviderError>> {
        self.call(|state, now| state.create_payment_order(request, now))
    }

    fn create_expected_payment<'a>(
        &'a self,
        request: &'a ExpectedPaymentRequest,
    ) -> BoxFuture<'a, Result<ExpectedPayment, ProviderError>> {
        self.call(|state, now| state.create_expected_payment(request, now))
    }

    fn payment_order<'a>(
        &'a self,
        payment_order_id: &'a str,
    ) -> BoxFuture<'a, Result<PaymentOrder, ProviderError>> {
        self.call(|state, _| state.payment_order(payment_order_id))
    }

    fn balances<'a>(
        &'a self,
        internal_account_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<AccountBalance>, ProviderError>> {
        self.call(|state, now| Ok(state.balances(internal_account_id, now)))
    }

    /// Modern Treasury's check and parser: the test bank's webhooks are Modern Treasury's.
    fn parse_webhook(
        &self,
        headers: &Headers,
        body: &[u8],
        secrets: &[String],
    ) -> Result<BankEvent, WebhookError> {
        signature::verify(
            headers.get(signature::HEADER).map(String::as_str),
            body,
            secrets,
        )?;
        parse_event(headers, body)
    }
}
