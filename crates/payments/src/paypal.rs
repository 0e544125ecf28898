//! The PayPal adapter (REST: Orders v2, Payments v2, Payment Method Tokens v3).
//!
//! [`PayPalAdapter`] is pure: it builds [`ProviderRequest`]s with PayPal's JSON bodies
//! (`requests`) and reads PayPal's answers (`responses`); [`parse_event`] reads a webhook event
//! (`webhook`). [`PayPalProvider`] (`provider`) joins it to the shared [`HttpExecutor`] behind
//! [`PaymentProvider`] and keeps the OAuth2 access token.
//!
//! * Every call but the token's carries a bearer token from `POST /v1/oauth2/token`
//!   (client credentials), cached until shortly before it expires and fetched again once if
//!   PayPal answers 401.
//! * Calls with an effect carry `PayPal-Request-Id`, derived from Bursar's ids, so a retry
//!   (the executor's, or Bursar's) replays the first result instead of acting twice; the same
//!   key is the executor's idempotency key, which makes those calls safe to retry on 5xx.
//! * Amounts: Bursar counts integer minor units, PayPal writes decimal strings. [`paypal_value`]
//!   and [`minor_units`] convert exactly, per currency ([`CURRENCIES`]), with integers only
//!   (`money`).
//!
//! A PayPal checkout is an order the customer approves on PayPal; nothing is charged until
//! Bursar captures it. So `CHECKOUT.ORDER.APPROVED` is `CheckoutCompleted { paid: false }`, and
//! core then calls [`PaymentProvider::capture_checkout`] with the session (order) id. The order
//! carries the Bursar order id as the purchase unit's `custom_id`, which PayPal copies onto the
//! capture, so capture webhooks name the order too.
//!
//! Saving a wallet takes two calls: [`PaymentProvider::create_setup`] opens a setup token the
//! payer approves, and [`PaymentProvider::complete_setup`] ([`PayPalProvider::confirm_setup`])
//! turns the approved token into the payment token charges use (PayPal then also sends
//! `VAULT.PAYMENT-TOKEN.CREATED`, read as `PaymentMethodSaved`).
//!
//! [`ProviderRequest`]: crate::executor::ProviderRequest
//! [`HttpExecutor`]: crate::executor::HttpExecutor
//! [`PaymentProvider`]: crate::PaymentProvider
//! [`PaymentProvider::capture_checkout`]: crate::PaymentProvider::capture_checkout
//! [`PaymentProvider::create_setup`]: crate::PaymentProvider::create_setup
//! [`PaymentProvider::complete_setup`]: crate::PaymentProvider::complete_setup

mod money;
mod provider;
mod requests;
mod responses;
mod webhook;

use std::fmt;
use std::time::Duration;

pub use money::{currency, format_minor, minor_units, parse_minor, paypal_value, CURRENCIES};
pub use provider::PayPalProvider;
pub use responses::{decline_of, refund_status};
pub use webhook::{
    check_cert_url, parse_event, seller_kept_the_money, signed_message, unix_seconds, verify,
    AUTH_ALGO, AUTH_ALGO_HEADER, CERT_URL, TOLERANCE_SECONDS, TRANSMISSION_ID, TRANSMISSION_SIG,
    TRANSMISSION_TIME,
};

/// PayPal's live REST API.
pub const DEFAULT_API_BASE: &str = "https://api-m.paypal.com";

/// PayPal's sandbox REST API.
pub const SANDBOX_API_BASE: &str = "https://api-m.sandbox.paypal.com";

/// This provider's name in logs, metrics and
/// [`PaymentProvider::kind`](crate::PaymentProvider::kind).
pub const KIND: &str = "paypal";

/// PayPal's idempotency header.
pub const REQUEST_ID_HEADER: &str = "PayPal-Request-Id";

/// Asks PayPal for the whole resource in answers (not only its id, status and links).
pub const PREFER_REPRESENTATION: &str = "return=representation";

/// A cached access token is fetched again this long before PayPal says it expires (or halfway
/// through its life, if that is shorter).
pub const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// One PayPal REST app and the webhook it sends to.
#[derive(Clone, PartialEq, Eq)]
pub struct PayPalConfig {
    /// The REST app's client id.
    pub client_id: String,
    /// The REST app's secret; never printed.
    pub client_secret: String,
    /// The id PayPal gave the webhook Bursar listens on: part of every signed message.
    pub webhook_id: String,
    /// [`DEFAULT_API_BASE`] live, [`SANDBOX_API_BASE`] in the sandbox; tests point it at a fake.
    pub api_base: String,
}

impl PayPalConfig {
    /// A live configuration.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        webhook_id: impl Into<String>,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            webhook_id: webhook_id.into(),
            api_base: DEFAULT_API_BASE.to_owned(),
        }
    }
}

/// Never prints the secret.
impl fmt::Debug for PayPalConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PayPalConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("webhook_id", &self.webhook_id)
            .field("api_base", &self.api_base)
            .finish()
    }
}

/// An OAuth2 access token and its lifetime.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// The bearer token; never printed.
    pub value: String,
    /// How long PayPal says it is good for (`expires_in`).
    pub expires_in: Duration,
}

/// Never prints the token.
impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// What a charge or capture answer cannot tell and the request can: amount, currency, order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// The payment id to report when PayPal gives none (a refused charge has no capture).
    pub id: String,
    /// Minor units.
    pub amount: i64,
    /// ISO 4217, upper case.
    pub currency: String,
    /// The Bursar order, when PayPal's answer does not name it.
    pub order_id: Option<String>,
}

/// Builds PayPal requests and reads PayPal responses; no I/O.
#[derive(Debug, Clone)]
pub struct PayPalAdapter {
    config: PayPalConfig,
}

impl PayPalAdapter {
    /// An adapter for one PayPal app.
    pub fn new(config: PayPalConfig) -> Self {
        Self { config }
    }

    /// The app it speaks for.
    pub fn config(&self) -> &PayPalConfig {
        &self.config
    }
}

#[cfg(test)]
mod tests;
