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

pub mod challenge;
pub mod executor;
pub mod paypal;
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

/// A payment method saved at the provider, ready for [`OffSessionCharge`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedMethod {
    /// The provider's id of the saved method: [`OffSessionCharge::payment_method`] of later
    /// charges (Stripe `pm_…`, PayPal's vault id).
    pub payment_method: String,
    /// The customer at the provider the method is saved on, when the provider names one.
    pub provider_customer: Option<String>,
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
    /// The issuer's reason for a decline, when the provider gave one (Stripe's `decline_code`:
    /// `insufficient_funds`, `stolen_card`); `last_error` is then often just `card_declined`.
    pub decline_code: Option<String>,
    /// Whether retrying may help: set only when the payment failed or needs the customer to
    /// authenticate, from `decline_code`, else `last_error` (see [`failure_class`]).
    pub decline_class: Option<DeclineClass>,
}

/// What a declined payment means for the next attempt on the same payment method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclineClass {
    /// The issuer will not approve this method again (lost, stolen, closed, expired, not
    /// allowed, wrong card data): stop retrying; the customer must give another method.
    Hard,
    /// It may succeed later (no funds today, issuer unavailable, an unexplained decline): retry
    /// on a schedule.
    Soft,
    /// The issuer wants the cardholder to authenticate (3-D Secure): an off-session retry fails
    /// the same way; the customer must come back and pay on-session.
    AuthenticationRequired,
}

impl DeclineClass {
    /// `hard`, `soft`, `authentication_required`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeclineClass::Hard => "hard",
            DeclineClass::Soft => "soft",
            DeclineClass::AuthenticationRequired => "authentication_required",
        }
    }
}

/// Classifies a Stripe decline code (<https://docs.stripe.com/declines/codes>), or an error code
/// given without one (`expired_card`, `incorrect_cvc`).
///
/// Hard: the card network's "never retry" reasons, and card data that is wrong or unsupported
/// (a wrong CVC, number, expiry or postal code, a PIN the card-not-present charge cannot give):
/// the same charge on the same method cannot succeed. Authentication: `authentication_required`,
/// `mobile_device_authentication_required`, and a failed authentication
/// (`payment_intent_authentication_failure`). Everything else is soft, unknown codes included:
/// issuers and Stripe add codes, and a retry on a schedule costs little, while wrongly calling a
/// card dead loses a customer who would have paid.
pub fn decline_class(code: &str) -> DeclineClass {
    match code {
        "authentication_required"
        | "mobile_device_authentication_required"
        | "payment_intent_authentication_failure" => DeclineClass::AuthenticationRequired,
        // The issuer's "never retry": the card is gone or the account closed.
        "stolen_card"
        | "lost_card"
        | "pickup_card"
        | "restricted_card"
        | "fraudulent"
        | "merchant_blacklist"
        | "invalid_account"
        | "new_account_information_available"
        | "do_not_try_again"
        | "revocation_of_authorization"
        | "revocation_of_authorizations"
        | "revocation_of_all_authorizations"
        | "stop_payment_order"
        | "security_violation"
        // The card cannot be used for this charge at all.
        | "card_not_supported"
        | "currency_not_supported"
        | "transaction_not_allowed"
        | "not_permitted"
        | "service_not_allowed"
        | "invalid_amount"
        | "testmode_decline"
        // The saved card data is wrong or out of date: only the customer can fix it.
        | "expired_card"
        | "incorrect_number"
        | "invalid_number"
        | "invalid_expiry_month"
        | "invalid_expiry_year"
        | "incorrect_cvc"
        | "invalid_cvc"
        | "incorrect_zip"
        | "incorrect_pin"
        | "invalid_pin"
        | "pin_try_exceeded"
        | "offline_pin_required"
        | "online_or_offline_pin_required" => DeclineClass::Hard,
        _ => DeclineClass::Soft,
    }
}

/// The class of a failed attempt from its error `code` and `decline_code` (the decline code
/// first: Stripe says `card_declined` with the issuer's reason in it); `None` without either.
pub fn failure_class(code: Option<&str>, decline_code: Option<&str>) -> Option<DeclineClass> {
    decline_code.or(code).map(decline_class)
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
        /// The issuer's reason, when the failure was a decline that gave one (Stripe's
        /// `last_payment_error.decline_code`).
        decline_code: Option<String>,
        /// Whether retrying may help, when the failure was the payment's error (not a
        /// cancellation or an asynchronous bank debit).
        decline_class: Option<DeclineClass>,
        /// The declined card, when the provider names it: its fingerprint (the same for every
        /// use of one card number) and the payment method it was used as (Stripe's
        /// `last_payment_error.payment_method.card.fingerprint` and `.id`).
        card: Option<DeclinedCard>,
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

/// A declined card as the provider names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclinedCard {
    pub fingerprint: Option<String>,
    /// The provider's payment method (`pm_…`).
    pub payment_method: Option<String>,
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

    /// Captures a checkout the customer approved but the provider has not charged yet
    /// (PayPal: after `CheckoutCompleted { paid: false }`, capture the order named by its
    /// `session_id`). The answer is the payment's state, as for [`Self::charge_saved`]: a
    /// decline is a state, not an error. Providers whose checkouts charge on completion
    /// (Stripe) never need it.
    fn capture_checkout<'a>(
        &'a self,
        session_id: &'a str,
    ) -> BoxFuture<'a, Result<PaymentState, ProviderError>> {
        let _ = session_id;
        Box::pin(async { Err(ProviderError::Unsupported("capture")) })
    }

    /// After the customer approved a hosted setup that the provider does not finish by itself
    /// (PayPal's setup tokens), exchanges it for a saved method. `setup_id` is the
    /// [`SetupSession::id`] the customer approved. The provider also announces the method with a
    /// `PaymentMethodSaved` webhook; the answer lets Bursar record it without waiting for one.
    /// Providers whose hosted setups save the method themselves (Stripe: the SetupIntent
    /// succeeds on the page) never need it.
    fn complete_setup<'a>(
        &'a self,
        setup_id: &'a str,
    ) -> BoxFuture<'a, Result<SavedMethod, ProviderError>> {
        let _ = setup_id;
        Box::pin(async { Err(ProviderError::Unsupported("complete setup")) })
    }

    /// Detaches saved method `provider_method_id` from its customer at the provider, so it can
    /// no longer be charged. A method the provider no longer has is already detached.
    fn detach_method<'a>(
        &'a self,
        provider_method_id: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        let _ = provider_method_id;
        Box::pin(async { Err(ProviderError::Unsupported("detach")) })
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decline_codes_are_classed_by_whether_a_retry_can_succeed() {
        use DeclineClass::*;
        let table = [
            // The issuer says never again, or the card data is wrong: only the customer can fix it.
            ("stolen_card", Hard),
            ("lost_card", Hard),
            ("pickup_card", Hard),
            ("restricted_card", Hard),
            ("fraudulent", Hard),
            ("merchant_blacklist", Hard),
            ("invalid_account", Hard),
            ("new_account_information_available", Hard),
            ("do_not_try_again", Hard),
            ("revocation_of_authorization", Hard),
            ("revocation_of_all_authorizations", Hard),
            ("stop_payment_order", Hard),
            ("security_violation", Hard),
            ("card_not_supported", Hard),
            ("currency_not_supported", Hard),
            ("transaction_not_allowed", Hard),
            ("not_permitted", Hard),
            ("expired_card", Hard),
            ("incorrect_number", Hard),
            ("invalid_number", Hard),
            ("invalid_expiry_month", Hard),
            ("invalid_expiry_year", Hard),
            ("incorrect_cvc", Hard),
            ("invalid_cvc", Hard),
            ("testmode_decline", Hard),
            // The cardholder must be present.
            ("authentication_required", AuthenticationRequired),
            (
                "mobile_device_authentication_required",
                AuthenticationRequired,
            ),
            (
                "payment_intent_authentication_failure",
                AuthenticationRequired,
            ),
            // May succeed later.
            ("insufficient_funds", Soft),
            ("processing_error", Soft),
            ("try_again_later", Soft),
            ("issuer_not_available", Soft),
            ("reenter_transaction", Soft),
            ("generic_decline", Soft),
            ("card_velocity_exceeded", Soft),
            ("withdrawal_count_limit_exceeded", Soft),
            ("do_not_honor", Soft),
            ("call_issuer", Soft),
            ("approve_with_id", Soft),
            ("duplicate_transaction", Soft),
            ("card_declined", Soft),
            // Unknown codes: a scheduled retry costs little; calling a card dead loses a payer.
            ("a_code_stripe_adds_tomorrow", Soft),
            ("", Soft),
            ("STOLEN_CARD", Soft),
        ];
        for (code, class) in table {
            assert_eq!(decline_class(code), class, "{code}");
        }
    }

    #[test]
    fn a_failure_is_classed_by_its_decline_code_first() {
        assert_eq!(
            failure_class(Some("card_declined"), Some("stolen_card")),
            Some(DeclineClass::Hard)
        );
        assert_eq!(
            failure_class(Some("expired_card"), None),
            Some(DeclineClass::Hard)
        );
        assert_eq!(
            failure_class(None, Some("insufficient_funds")),
            Some(DeclineClass::Soft)
        );
        assert_eq!(failure_class(None, None), None);
    }

    #[test]
    fn classes_serialize_as_their_names() {
        for class in [
            DeclineClass::Hard,
            DeclineClass::Soft,
            DeclineClass::AuthenticationRequired,
        ] {
            let json = serde_json::to_value(class).unwrap();
            assert_eq!(json, serde_json::json!(class.as_str()));
            assert_eq!(serde_json::from_value::<DeclineClass>(json).unwrap(), class);
        }
    }
}
