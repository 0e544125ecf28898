//! The bank-rails boundary.
//!
//! Bursar speaks to banks through one small trait, [`BankRails`]: create a counterparty with its
//! bank accounts, create a payment order (a payout or an originated pull), create an expected
//! payment (money Bursar cannot pull: a buyer's wire or RTP), fetch a payment order's status,
//! and turn a signed inbound webhook into a rail-neutral [`BankEvent`]. Nothing outside this
//! crate knows a bank's wire format.
//!
//! It is shaped like the payment-provider boundary (`bursar_payments`): adapters only build
//! requests and parse responses ([`modern_treasury::ModernTreasuryAdapter`]), and the one
//! [`HttpExecutor`] of `bursar_payments::executor` does the I/O (timeouts, retries with the same
//! idempotency key, masked logs, metrics). Account numbers never print in full
//! ([`types::BankNumber`]). [`test_bank::TestBank`] is a simulated bank for sandbox workspaces
//! that emits Modern Treasury-format webhooks.

pub mod event;
pub mod modern_treasury;
pub mod signature;
pub mod test_bank;
pub mod types;

pub use bursar_payments::executor::HttpExecutor;
pub use bursar_payments::{Headers, ProviderError};
pub use event::{
    BankEvent, BankEventKind, BankReturn, Corrections, IncomingPayment, NotificationOfChange,
    ReturnStatus,
};
pub use types::{
    AccountBalance, AccountType, BankNumber, Counterparty, CounterpartyAccount,
    CounterpartyRequest, Direction, ExpectedPayment, ExpectedPaymentRequest, ExpectedPaymentStatus,
    ExternalAccount, FailureReason, PartyType, PaymentOrder, PaymentOrderRequest,
    PaymentOrderStatus, Rail, ReceivingAccount, ReconciliationRule,
};

use futures::future::BoxFuture;

/// Why an inbound bank webhook was refused. Nothing is processed for a refused webhook.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the signature header is missing")]
    MissingSignature,
    #[error("the signature header is malformed: {0}")]
    MalformedSignature(String),
    #[error("no webhook key's signature matches the payload")]
    BadSignature,
    /// Without the bank's webhook id, a redelivery could not be recognised.
    #[error("the webhook id header is missing")]
    MissingWebhookId,
    #[error("the payload is not a valid event: {0}")]
    BadPayload(String),
}

/// The boundary every bank implements.
pub trait BankRails: Send + Sync {
    /// `modern_treasury`, `test_bank`.
    fn kind(&self) -> &'static str;

    /// Creates a counterparty and its external accounts.
    fn create_counterparty<'a>(
        &'a self,
        request: &'a CounterpartyRequest,
    ) -> BoxFuture<'a, Result<Counterparty, ProviderError>>;

    /// Asks the bank to move money. The answer is the order as created (usually `Pending`);
    /// its outcome arrives later as [`BankEventKind::PaymentOrderStatusChanged`].
    fn create_payment_order<'a>(
        &'a self,
        request: &'a PaymentOrderRequest,
    ) -> BoxFuture<'a, Result<PaymentOrder, ProviderError>>;

    /// Tells the bank a payment is coming, with the rule it must fit.
    fn create_expected_payment<'a>(
        &'a self,
        request: &'a ExpectedPaymentRequest,
    ) -> BoxFuture<'a, Result<ExpectedPayment, ProviderError>>;

    /// A payment order as the bank holds it now.
    fn payment_order<'a>(
        &'a self,
        payment_order_id: &'a str,
    ) -> BoxFuture<'a, Result<PaymentOrder, ProviderError>>;

    /// What the bank reports `internal_account_id` holds now, per currency (the drift check
    /// compares it with the ledger).
    fn balances<'a>(
        &'a self,
        internal_account_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<AccountBalance>, ProviderError>>;

    /// Verifies an inbound webhook against `secrets` (any of them may have signed it: key
    /// rotation), then parses it. Verification comes first: nothing of an unverified body is
    /// read.
    fn parse_webhook(
        &self,
        headers: &Headers,
        body: &[u8],
        secrets: &[String],
    ) -> Result<BankEvent, WebhookError>;
}
