//! Payment-provider connections and the embedded test provider, as the API shows them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::id::{InvoiceId, OrderId, ProviderId};
use crate::time::Timestamp;

/// Signing secrets a connection accepts at once (more than one while rotating).
pub const SIGNING_SECRETS_MAX: usize = 5;
/// Shortest and longest signing secret, in bytes.
pub const SIGNING_SECRET_LENGTH: std::ops::RangeInclusive<usize> = 16..=200;

crate::schema_only!(
    /// The schema of a provider's webhook signing secret (`whsec_…` at Stripe).
    ProviderSigningSecret => utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some("16 to 200 bytes, e.g. Stripe's `whsec_…`"))
        .min_length(Some(*SIGNING_SECRET_LENGTH.start()))
        .max_length(Some(*SIGNING_SECRET_LENGTH.end()))
        .into()
);

/// A connection to a payment provider as the API shows it; secrets never leave Bursar.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PaymentProviderObject {
    pub id: ProviderId,
    /// Always `payment_provider`.
    pub object: String,
    /// `test` or `stripe`.
    pub kind: String,
    pub name: String,
    /// Stripe's API base (tests point it at a local fake).
    pub api_base: Option<String>,
    /// Where the provider sends its webhooks.
    pub webhook_path: String,
    /// The last four characters of the secret API key.
    pub secret_key_last4: Option<String>,
    /// How many signing secrets are accepted (more than one while rotating).
    pub webhook_secrets: usize,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The cards a person can save on the test provider's setup page, named like Stripe's test
/// cards: the saved method's id says how off-session charges of it behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TestCard {
    /// Charges succeed.
    Visa,
    /// Charges are declined (`card_declined`).
    Declined,
    /// Charges need the customer to authenticate (`authentication_required`).
    AuthenticationRequired,
}

impl TestCard {
    pub fn slug(self) -> &'static str {
        match self {
            TestCard::Visa => "visa",
            TestCard::Declined => "declined",
            TestCard::AuthenticationRequired => "authreq",
        }
    }

    pub fn of_method(method: &str) -> Option<TestCard> {
        let rest = method.strip_prefix("pm_test_")?;
        [
            TestCard::Visa,
            TestCard::Declined,
            TestCard::AuthenticationRequired,
        ]
        .into_iter()
        .find(|card| rest.starts_with(&format!("{}_", card.slug())))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TestOutcome {
    /// The card is charged: `checkout.session.completed` and `payment_intent.succeeded`.
    Succeeded,
    /// The card is declined: `payment_intent.payment_failed`; the session stays open.
    Declined,
    /// An asynchronous method: `checkout.session.completed` unpaid, `payment_intent.processing`.
    Processing,
    /// Nobody paid: `checkout.session.expired`.
    Expired,
    /// The card holder disputes the paid charge: `charge.dispute.created` (amount and a 15.00
    /// fee withdrawn).
    Disputed,
    /// The dispute is decided for the merchant: `charge.dispute.closed`, status `won`.
    DisputeWon,
    /// The dispute is lost: `charge.dispute.closed`, status `lost`.
    DisputeLost,
}

/// One signed event of the test provider, exactly as it would be POSTed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SignedEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// The raw body.
    pub payload: String,
    /// The `Stripe-Signature` header value.
    pub signature: String,
    /// Where it is delivered.
    pub webhook_path: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompleteSessionResponse {
    pub session_id: String,
    pub status: String,
    pub events: Vec<SignedEvent>,
    /// The receipts of the delivered events (empty when not delivered).
    pub receipts: Vec<WebhookReceipt>,
}

/// The answer to a provider's webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookReceipt {
    pub received: bool,
    /// The provider's event id.
    pub event_id: String,
    /// False when this event had been received before (nothing happened again).
    pub first_delivery: bool,
    /// `applied`, `ignored` (with the reason in `detail`) or `unmatched`.
    pub outcome: String,
    pub detail: Option<String>,
    pub order_id: Option<String>,
}

/// What a provider payment pays for: the reference Bursar put in the payment's metadata (its
/// order-id key), read by its id's type, never by testing a prefix at the call site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentTarget {
    Order(OrderId),
    /// An invoice, through its payment link.
    Invoice(InvoiceId),
}

impl PaymentTarget {
    /// The target `reference` names; `None` when it is neither an order's nor an invoice's id.
    pub fn of_reference(reference: &str) -> Option<PaymentTarget> {
        if let Ok(invoice) = InvoiceId::parse(reference, "order_id") {
            return Some(PaymentTarget::Invoice(invoice));
        }
        OrderId::parse(reference, "order_id")
            .ok()
            .map(PaymentTarget::Order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_names_an_order_or_an_invoice_by_its_type() {
        let (order, invoice) = (OrderId::new(), InvoiceId::new());
        assert_eq!(
            PaymentTarget::of_reference(order.as_str()),
            Some(PaymentTarget::Order(order))
        );
        assert_eq!(
            PaymentTarget::of_reference(invoice.as_str()),
            Some(PaymentTarget::Invoice(invoice))
        );
        assert_eq!(PaymentTarget::of_reference("in_not-an-id"), None);
        assert_eq!(
            PaymentTarget::of_reference("cus_01m94xj0tx0qza6ynkctnwmk1n"),
            None
        );
    }
}
