//! The payment-provider boundary.
//!
//! Bursar speaks to payment providers through one small trait, [`PaymentProvider`]: create a
//! checkout, refund a payment, fetch a payment's status, and turn a signed inbound webhook into
//! provider-neutral [`PaymentEvent`]s. Nothing outside this crate knows a provider's wire format.
//!
//! Adapters only build requests and parse responses ([`stripe::StripeAdapter`]); the one
//! [`executor::HttpExecutor`] owns timeouts, retries, request ids, masked logging and metrics.
//! The embedded `test` provider lives with the server (it needs its database) and implements the
//! same trait; it signs its webhooks exactly as Stripe does ([`signature`]).

pub mod executor;
pub mod signature;
pub mod stripe;

use std::collections::BTreeMap;

use futures::future::BoxFuture;

/// What Bursar asks a provider to collect: one order's amount, on a hosted page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutRequest {
    /// Bursar's id for this checkout attempt. Adapters derive the provider's idempotency key from
    /// it, so a retried call creates one session, never two.
    pub attempt_id: String,
    /// The order being paid (`ord_…`); travels in the provider's metadata so every later webhook
    /// names it.
    pub order_id: String,
    /// ISO 4217, upper case (`USD`).
    pub currency: String,
    /// Total to collect in minor units, after discounts; always the sum of `lines`' amounts.
    pub amount: i64,
    pub lines: Vec<CheckoutLine>,
    pub customer_email: Option<String>,
    /// A customer already known to the provider (Stripe `cus_…`), if any.
    pub provider_customer: Option<String>,
    pub success_url: String,
    pub cancel_url: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// Extra metadata (string values) copied onto the session and the payment.
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutLine {
    pub name: String,
    pub quantity: i64,
    /// Amount of one unit in minor units (after any discount applied to the line).
    pub unit_amount: i64,
}

/// A hosted checkout the customer is sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSession {
    /// The provider's id (`cs_…`).
    pub id: String,
    /// Where to send the customer.
    pub url: String,
    /// The provider's payment id when it is known at creation (`pi_…`).
    pub payment_id: Option<String>,
    /// Unix seconds.
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    /// Bursar's refund id (`rf_…`): the idempotency key of the provider call.
    pub refund_id: String,
    /// The provider's payment id (`pi_…`).
    pub payment_id: String,
    pub amount: i64,
    pub currency: String,
    pub reason: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStatus {
    Pending,
    Succeeded,
    Failed,
    Canceled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundResult {
    /// The provider's refund id (`re_…`).
    pub id: String,
    pub status: RefundStatus,
    pub amount: i64,
}

/// Bursar asks to save a customer's payment method for later off-session charges, on a hosted
/// page (Stripe: a Checkout Session in `setup` mode creating a SetupIntent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupRequest {
    /// Bursar's id for this attempt: the idempotency key of the provider calls.
    pub attempt_id: String,
    /// The Bursar customer (`cus_…`); travels as `bursar_customer_id` metadata.
    pub customer_id: String,
    /// The customer at the provider, when already created (Stripe `cus_…`); otherwise the
    /// adapter creates one first.
    pub provider_customer: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    /// ISO 4217, upper case: the currency later charges will be in.
    pub currency: String,
    pub success_url: String,
    pub cancel_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupSession {
    /// The provider's id of the hosted setup (`cs_…`).
    pub id: String,
    pub url: String,
    /// The customer at the provider the method will be saved on.
    pub provider_customer: String,
}

/// A charge of a saved payment method without the customer present (a renewal, an invoice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffSessionCharge {
    /// Bursar's id for this attempt: the idempotency key, so a retry never charges twice.
    pub attempt_id: String,
    /// The order being paid; travels as `bursar_order_id` metadata.
    pub order_id: String,
    pub provider_customer: String,
    /// The saved method (`pm_…`).
    pub payment_method: String,
    pub amount: i64,
    /// ISO 4217, upper case.
    pub currency: String,
    pub metadata: BTreeMap<String, String>,
}

/// Where a payment stands at the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    /// Waiting for the customer (no payment method yet, or action required).
    Open,
    Processing,
    Succeeded,
    Failed,
    Canceled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentState {
    pub id: String,
    pub status: PaymentStatus,
    pub amount: i64,
    pub amount_received: i64,
    pub currency: String,
    pub order_id: Option<String>,
    /// Why the last attempt failed or needs the customer (`card_declined`,
    /// `authentication_required`), when it did.
    pub last_error: Option<String>,
}

/// One provider event, reduced to what Bursar acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentEvent {
    /// The provider's event id (`evt_…`): the unit of exactly-once processing.
    pub provider_event_id: String,
    /// The provider's event type, as sent (`checkout.session.completed`).
    pub provider_event_type: String,
    /// Unix seconds the provider created the event at.
    pub created: i64,
    /// The Bursar order it concerns, from the metadata Bursar set (`bursar_order_id`).
    pub order_id: Option<String>,
    pub kind: PaymentEventKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentEventKind {
    /// The customer finished the hosted checkout; `paid` when the money is already confirmed.
    CheckoutCompleted {
        session_id: String,
        payment_id: Option<String>,
        paid: bool,
        amount: i64,
        currency: String,
        provider_customer: Option<String>,
    },
    /// The hosted checkout expired unpaid.
    CheckoutExpired { session_id: String },
    /// The payment was submitted and awaits confirmation (bank debits, 3-D Secure…).
    PaymentProcessing { payment_id: String },
    /// The money is confirmed. `fee` when the provider reports it.
    PaymentSucceeded {
        payment_id: String,
        amount: i64,
        currency: String,
        fee: Option<i64>,
        payment_method: Option<String>,
        provider_customer: Option<String>,
    },
    PaymentFailed {
        payment_id: String,
        code: Option<String>,
        message: Option<String>,
    },
    /// A refund reached a final or new state.
    Refund {
        refund_id: String,
        payment_id: Option<String>,
        amount: i64,
        currency: String,
        status: RefundStatus,
        /// Bursar's refund id when Bursar asked for it (`bursar_refund_id` metadata).
        bursar_refund_id: Option<String>,
    },
    DisputeOpened {
        dispute_id: String,
        payment_id: Option<String>,
        amount: i64,
        currency: String,
        reason: Option<String>,
        /// The provider's dispute fee, when its balance transactions report one.
        fee: Option<i64>,
    },
    DisputeClosed {
        dispute_id: String,
        payment_id: Option<String>,
        amount: i64,
        currency: String,
        won: bool,
    },
    /// A saved payment method (SetupIntent succeeded).
    PaymentMethodSaved {
        setup_id: String,
        payment_method: String,
        provider_customer: Option<String>,
        /// The Bursar customer (`bursar_customer_id` metadata Bursar set on the setup).
        customer_id: Option<String>,
    },
    /// An event Bursar does not act on; it is stored and acknowledged.
    Other,
}

/// Why an inbound webhook was refused. Nothing is processed for a refused webhook.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the signature header is missing")]
    MissingSignature,
    #[error("the signature header is malformed: {0}")]
    MalformedSignature(String),
    #[error("no signature matches the payload and the signing secret")]
    BadSignature,
    #[error("the signature's timestamp is outside the tolerance ({age_seconds} s from now)")]
    Expired { age_seconds: i64 },
    #[error("the payload is not a valid event: {0}")]
    BadPayload(String),
}

/// A failed call to a provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider refused the request (4xx): retrying the same request will not help.
    #[error("the provider refused the request ({status}): {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// The provider could not be reached or failed (5xx, timeout) after the executor's retries.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider answered with something this adapter cannot read.
    #[error("the provider's response could not be read: {0}")]
    BadResponse(String),
    #[error("this provider does not support {0}")]
    Unsupported(&'static str),
}

/// Headers of an inbound webhook, lower-cased names.
pub type Headers = BTreeMap<String, String>;

/// The boundary every payment provider implements.
pub trait PaymentProvider: Send + Sync {
    /// `stripe`, `test`.
    fn kind(&self) -> &'static str;

    fn create_checkout<'a>(
        &'a self,
        request: &'a CheckoutRequest,
    ) -> BoxFuture<'a, Result<CheckoutSession, ProviderError>>;

    fn refund<'a>(
        &'a self,
        request: &'a RefundRequest,
    ) -> BoxFuture<'a, Result<RefundResult, ProviderError>>;

    fn payment<'a>(
        &'a self,
        payment_id: &'a str,
    ) -> BoxFuture<'a, Result<PaymentState, ProviderError>>;

    /// Opens a hosted page where the customer saves a payment method.
    fn create_setup<'a>(
        &'a self,
        request: &'a SetupRequest,
    ) -> BoxFuture<'a, Result<SetupSession, ProviderError>>;

    /// Charges a saved payment method, off-session and confirmed at once. The answer is the
    /// payment's state: Bursar commits the order as paid only on `Succeeded` (or on the
    /// webhook that confirms it later); a decline or a required authentication is a state,
    /// not an error.
    fn charge_saved<'a>(
        &'a self,
        request: &'a OffSessionCharge,
    ) -> BoxFuture<'a, Result<PaymentState, ProviderError>>;

    /// Verifies an inbound webhook against `secrets` (any of them may have signed it: secret
    /// rotation) at `now` (Unix seconds), then parses it. Verification comes first: nothing of an
    /// unverified body is read.
    fn parse_webhook(
        &self,
        headers: &Headers,
        body: &[u8],
        secrets: &[String],
        now: i64,
    ) -> Result<PaymentEvent, WebhookError>;
}
