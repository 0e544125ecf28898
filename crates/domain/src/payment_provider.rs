//! Payment-provider connections and the embedded test provider, as the API shows them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::id::{InvoiceId, OrderId, ProviderId};
use crate::time::Timestamp;

/// Signing secrets a connection accepts at once (more than one while rotating).
pub const SIGNING_SECRETS_MAX: usize = 5;
/// Shortest and longest signing secret, in bytes (a PayPal signing certificate, PEM, is about
/// 2,000).
pub const SIGNING_SECRET_LENGTH: std::ops::RangeInclusive<usize> = 16..=4096;

crate::schema_only!(
    /// The schema of a provider's webhook signing secret (`whsec_…` at Stripe, the signing
    /// certificate in PEM at PayPal).
    ProviderSigningSecret => utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some("16 to 4,096 bytes: Stripe's `whsec_…`, or PayPal's signing certificate (PEM)"))
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
    /// `test`, `stripe` or `paypal`.
    pub kind: String,
    pub name: String,
    /// The provider's API base (tests point it at a local fake).
    pub api_base: Option<String>,
    /// PayPal: the REST app's client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// PayPal: the id of the webhook PayPal sends Bursar's events through (part of what it
    /// signs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<String>,
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
/// cards: the saved method's id (`pm_test_<slug>_…`) says how off-session charges of it behave,
/// answered as Stripe answers (an error `code` and the issuer's `decline_code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TestCard {
    /// Charges succeed.
    Visa,
    /// Charges are declined: `card_declined`, decline code `generic_decline` (soft).
    Declined,
    /// Charges are declined: `card_declined`, decline code `insufficient_funds` (soft).
    InsufficientFunds,
    /// Charges are declined: `card_declined`, decline code `stolen_card` (hard).
    Stolen,
    /// Charges need the customer to authenticate: `authentication_required`.
    AuthenticationRequired,
}

/// How the test provider declines a charge of a [`TestCard`], in Stripe's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestDecline {
    /// The error's `code` (`card_declined`, `authentication_required`).
    pub code: &'static str,
    /// The issuer's reason (`generic_decline`, `insufficient_funds`, `stolen_card`, …).
    pub decline_code: &'static str,
}

impl TestCard {
    /// Every card, in the order the setup page offers them.
    pub const ALL: [TestCard; 5] = [
        TestCard::Visa,
        TestCard::Declined,
        TestCard::InsufficientFunds,
        TestCard::Stolen,
        TestCard::AuthenticationRequired,
    ];

    /// The card's name in the API (`insufficient_funds`).
    pub fn name(self) -> &'static str {
        match self {
            TestCard::Visa => "visa",
            TestCard::Declined => "declined",
            TestCard::InsufficientFunds => "insufficient_funds",
            TestCard::Stolen => "stolen",
            TestCard::AuthenticationRequired => "authentication_required",
        }
    }

    /// The card named `name` in the API.
    pub fn from_name(name: &str) -> Option<TestCard> {
        TestCard::ALL.into_iter().find(|card| card.name() == name)
    }

    /// The card's part of a saved method id; no slug contains `_`, so none is mistaken for
    /// another in [`TestCard::of_method`].
    pub fn slug(self) -> &'static str {
        match self {
            TestCard::Visa => "visa",
            TestCard::Declined => "declined",
            TestCard::InsufficientFunds => "nofunds",
            TestCard::Stolen => "stolen",
            TestCard::AuthenticationRequired => "authreq",
        }
    }

    /// The card's fingerprint, as Stripe names a card number: the same for every use of it.
    pub fn fingerprint(self) -> String {
        format!("tfp{}", self.slug())
    }

    /// The card of a saved method id (`pm_test_<slug>_<random>`).
    pub fn of_method(method: &str) -> Option<TestCard> {
        let (slug, _) = method.strip_prefix("pm_test_")?.split_once('_')?;
        TestCard::ALL.into_iter().find(|card| card.slug() == slug)
    }

    /// How an off-session charge of this card is declined; `None` when it succeeds.
    pub fn decline(self) -> Option<TestDecline> {
        let (code, decline_code) = match self {
            TestCard::Visa => return None,
            TestCard::Declined => ("card_declined", "generic_decline"),
            TestCard::InsufficientFunds => ("card_declined", "insufficient_funds"),
            TestCard::Stolen => ("card_declined", "stolen_card"),
            TestCard::AuthenticationRequired => {
                ("authentication_required", "authentication_required")
            }
        };
        Some(TestDecline { code, decline_code })
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
    fn every_test_card_is_found_again_by_its_method_id_and_its_name() {
        for card in TestCard::ALL {
            assert!(!card.slug().contains('_'), "{card:?}");
            let method = format!("pm_test_{}_a1b2c3", card.slug());
            assert_eq!(TestCard::of_method(&method), Some(card), "{method}");
            assert_eq!(TestCard::from_name(card.name()), Some(card));
            let parsed: TestCard = serde_json::from_value(serde_json::json!(card.name())).unwrap();
            assert_eq!(parsed, card);
        }
        for other in [
            "pm_card_visa",
            "pm_test_visa",
            "pm_test_nofundsx_1",
            "pm_test_no_1",
        ] {
            assert_eq!(TestCard::of_method(other), None, "{other}");
        }
        assert_eq!(TestCard::from_name("amex"), None);
    }

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
