//! Orders and their one state machine.
//!
//! ```text
//! draft ──► checkout_open ──► payment_processing ──► paid ──► fulfilled
//!   │            │  ▲               │                 │ ▲        │
//!   │            │  └── payment_failed / checkout_expired (retry)  │
//!   ▼            ▼                                    ▼ │        ▼
//! canceled    canceled                  partially_refunded / refunded, disputed
//! ```
//!
//! Every change of an order's status goes through [`OrderStatus::transition`]; anything else
//! is refused with the current status. Provider events that arrive late or twice are checked
//! against the same table: a stale `payment_failed` after `paid` is an illegal transition and
//! is ignored, never applied.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::pricing::{PricedLine, Totals};
use crate::id::*;
use crate::metadata::Metadata;
use crate::money::Currency;
use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Draft,
    CheckoutOpen,
    PaymentProcessing,
    PaymentFailed,
    CheckoutExpired,
    Paid,
    Fulfilled,
    PartiallyRefunded,
    Refunded,
    Disputed,
    Canceled,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 11] = [
        OrderStatus::Draft,
        OrderStatus::CheckoutOpen,
        OrderStatus::PaymentProcessing,
        OrderStatus::PaymentFailed,
        OrderStatus::CheckoutExpired,
        OrderStatus::Paid,
        OrderStatus::Fulfilled,
        OrderStatus::PartiallyRefunded,
        OrderStatus::Refunded,
        OrderStatus::Disputed,
        OrderStatus::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Draft => "draft",
            OrderStatus::CheckoutOpen => "checkout_open",
            OrderStatus::PaymentProcessing => "payment_processing",
            OrderStatus::PaymentFailed => "payment_failed",
            OrderStatus::CheckoutExpired => "checkout_expired",
            OrderStatus::Paid => "paid",
            OrderStatus::Fulfilled => "fulfilled",
            OrderStatus::PartiallyRefunded => "partially_refunded",
            OrderStatus::Refunded => "refunded",
            OrderStatus::Disputed => "disputed",
            OrderStatus::Canceled => "canceled",
        }
    }

    pub fn parse(value: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// Whether the order's payment is confirmed (money was received at some point).
    pub fn is_paid(self) -> bool {
        matches!(
            self,
            OrderStatus::Paid
                | OrderStatus::Fulfilled
                | OrderStatus::PartiallyRefunded
                | OrderStatus::Refunded
                | OrderStatus::Disputed
        )
    }

    /// The one table of legal transitions.
    pub fn can_become(self, to: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, to),
            (Draft, CheckoutOpen | Canceled)
                // An off-session charge of a saved payment method, without a checkout.
                | (Draft, PaymentProcessing | Paid | PaymentFailed)
                | (PaymentFailed, PaymentFailed)
                | (CheckoutOpen, PaymentProcessing | Paid | PaymentFailed | CheckoutExpired | Canceled)
                | (PaymentProcessing, Paid | PaymentFailed)
                // A declined card, then another that succeeds in the same checkout; or a retry.
                | (PaymentFailed, PaymentProcessing | Paid | CheckoutOpen | Canceled)
                // Money captured just as the session expired still pays the order.
                | (CheckoutExpired, Paid | CheckoutOpen | Canceled)
                | (Paid, Fulfilled | PartiallyRefunded | Refunded | Disputed)
                | (Fulfilled, PartiallyRefunded | Refunded | Disputed)
                | (PartiallyRefunded, PartiallyRefunded | Refunded | Fulfilled | Disputed)
                // Won: back to where it was; lost: the money is gone.
                | (Disputed, Paid | Fulfilled | PartiallyRefunded | Refunded)
        )
    }

    pub fn transition(self, to: OrderStatus) -> Result<OrderStatus, IllegalTransition> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("An order that is {} cannot become {}.", from.as_str(), to.as_str())]
pub struct IllegalTransition {
    pub from: OrderStatus,
    pub to: OrderStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderCheckout {
    /// The provider connection (`pp_…`) and its kind (`test`, `stripe`).
    pub provider_id: ProviderId,
    pub provider: String,
    pub session_id: String,
    pub url: String,
    /// The provider's payment (`pi_…`) when the session has one from the start.
    pub payment_id: Option<String>,
    pub expires_at: Timestamp,
    /// Increments with each checkout of this order.
    pub attempt: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderPayment {
    /// The provider connection that took the payment (`pp_…`).
    pub provider_id: ProviderId,
    /// The provider's payment id (`pi_…`).
    pub payment_id: String,
    pub amount: i64,
    /// The provider's fee, when it reports one.
    pub fee: Option<i64>,
    pub paid_at: Timestamp,
    /// The ledger transfer that recorded it.
    pub transfer_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderDispute {
    pub dispute_id: String,
    pub amount: i64,
    /// `open`, `won`, `lost`.
    pub status: String,
    pub reason: Option<String>,
    /// The status to return to when the dispute is won.
    pub status_before: OrderStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Order {
    pub id: OrderId,
    /// Always `order`.
    pub object: String,
    pub customer_id: CustomerId,
    pub company_id: Option<CompanyId>,
    pub status: OrderStatus,
    pub currency: Currency,
    pub lines: Vec<PricedLine>,
    pub totals: Totals,
    /// The promotion code applied (upper case), and whether its redemption is counted: from
    /// checkout until the checkout expires or the order is canceled.
    pub promotion_code: Option<String>,
    pub coupon_id: Option<CouponId>,
    pub promotion_redeemed: bool,
    /// When prices were resolved.
    pub priced_at: Timestamp,
    pub checkout: Option<OrderCheckout>,
    pub payment: Option<OrderPayment>,
    pub amount_refunded: i64,
    /// Refunds asked of the provider and not yet settled: reserved so that concurrent refunds
    /// can never exceed what was paid.
    pub amount_refund_pending: i64,
    pub dispute: Option<OrderDispute>,
    /// Why the last payment attempt failed: the issuer's decline code when there was one
    /// (`insufficient_funds`), else the provider's error code.
    pub last_payment_error: Option<String>,
    /// Whether retrying that method may help: `soft` (it may succeed later), `hard` (the
    /// issuer will not approve it again) or `authentication_required` (the customer must pay
    /// on-session); when the provider said.
    #[serde(default)]
    pub last_decline_class: Option<String>,
    pub metadata: Metadata,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A customer's payment method saved at a provider, for off-session charges. Bursar keeps the
/// provider's references only, never card data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PaymentMethod {
    pub id: PaymentMethodId,
    /// Always `payment_method`.
    pub object: String,
    pub customer_id: CustomerId,
    pub provider_id: ProviderId,
    /// `test`, `stripe`.
    pub provider: String,
    /// The provider's method (`pm_…`).
    pub provider_method_id: String,
    /// The customer at the provider (`cus_…`).
    pub provider_customer: Option<String>,
    /// The method two-click checkouts charge (else the newest); at most one per customer.
    #[serde(default)]
    pub is_default: bool,
    pub created_at: Timestamp,
}

/// A hosted page where a customer saves a payment method.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentMethodSetup {
    /// Always `payment_method_setup`.
    pub object: &'static str,
    /// The provider's session id.
    pub id: String,
    pub url: String,
    pub customer_id: String,
    pub provider_id: String,
    pub provider_customer: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundState {
    /// Reserved against the order and asked of the provider; not settled yet.
    Pending,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Refund {
    pub id: RefundId,
    /// Always `refund`.
    pub object: String,
    pub order_id: OrderId,
    pub amount: i64,
    pub currency: Currency,
    pub reason: Option<String>,
    pub status: RefundState,
    /// The provider's refund (`re_…`).
    pub provider_refund_id: Option<String>,
    pub failure_reason: Option<String>,
    /// The ledger transfer of a succeeded refund.
    pub transfer_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Order {
    /// What can still be refunded.
    pub fn refundable(&self) -> i64 {
        self.payment.as_ref().map_or(0, |p| p.amount)
            - self.amount_refunded
            - self.amount_refund_pending
    }
}

#[cfg(test)]
mod tests {
    use super::OrderStatus::*;
    use super::*;

    #[test]
    fn the_happy_path_is_legal_and_nothing_leaves_a_terminal_state() {
        let path = [
            Draft,
            CheckoutOpen,
            PaymentProcessing,
            Paid,
            Fulfilled,
            PartiallyRefunded,
            Refunded,
        ];
        for pair in path.windows(2) {
            assert!(pair[0].can_become(pair[1]), "{:?} → {:?}", pair[0], pair[1]);
        }
        for to in OrderStatus::ALL {
            assert!(!Refunded.can_become(to));
            assert!(!Canceled.can_become(to));
        }
    }

    #[test]
    fn a_paid_order_never_regresses() {
        for to in [
            Draft,
            CheckoutOpen,
            PaymentProcessing,
            PaymentFailed,
            CheckoutExpired,
            Canceled,
        ] {
            for from in [Paid, Fulfilled, PartiallyRefunded, Disputed] {
                let error = from.transition(to).unwrap_err();
                assert_eq!(error.from, from);
            }
        }
        assert_eq!(
            Paid.transition(Draft).unwrap_err().to_string(),
            "An order that is paid cannot become draft."
        );
    }

    #[test]
    fn names_round_trip() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
    }
}
