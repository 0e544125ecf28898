//! Rail-neutral inbound events: what a bank's webhook means for Bursar, whatever the bank.

use std::collections::BTreeMap;

use crate::types::{
    BankNumber, Direction, FailureReason, PaymentOrder, PaymentOrderStatus, Rail,
    ReconciliationRule,
};

/// One verified inbound bank webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankEvent {
    /// The bank's id of this webhook, the same on every redelivery: the unit of exactly-once
    /// processing (Modern Treasury's `X-Webhook-ID`).
    pub webhook_id: String,
    /// The bank's id of the underlying event, when it sends one (`X-Event-ID`).
    pub event_id: Option<String>,
    /// The kind of object concerned, as the bank names it (`payment_order`, `return`).
    pub topic: String,
    /// What happened to it, as the bank names it (`completed`, `created`).
    pub event: String,
    /// Whether it happened in the bank's live environment, when the bank says.
    pub live_mode: Option<bool>,
    pub kind: BankEventKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BankEventKind {
    /// A payment order moved to `status`.
    PaymentOrderStatusChanged {
        payment_order_id: String,
        status: PaymentOrderStatus,
        /// Why, when it failed and the bank said.
        failure: Option<FailureReason>,
        /// The whole order, when the webhook carries it.
        order: Option<PaymentOrder>,
    },
    /// A payment was returned (an ACH return with its NACHA R-code), or the return moved on.
    Return(BankReturn),
    /// The receiving bank corrected an account's details (NACHA C-code); the payment went through.
    NotificationOfChange(NotificationOfChange),
    /// An expected payment was matched to a bank transaction.
    ExpectedPaymentReconciled {
        expected_payment_id: String,
        transaction_id: Option<String>,
        transaction_line_item_id: Option<String>,
        /// `automatic` or `manual`, when the bank says.
        method: Option<String>,
        rules: Vec<ReconciliationRule>,
        metadata: BTreeMap<String, String>,
    },
    /// Money arrived (or left) that Bursar did not originate: an inbound wire, ACH or RTP.
    IncomingPayment(IncomingPayment),
    /// An event Bursar does not act on; acknowledged and kept.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnStatus {
    Pending,
    Completed,
    Failed,
    /// Any other state the bank reports (`sent`, `returned`…).
    Other,
}

/// A returned payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankReturn {
    pub return_id: String,
    pub status: ReturnStatus,
    /// The NACHA return code (`R03`), when the rail has them.
    pub code: Option<String>,
    pub reason: Option<String>,
    pub amount: i64,
    pub currency: String,
    /// What was returned: its id and kind (`payment_order`, `incoming_payment_detail`).
    pub returnable_id: Option<String>,
    pub returnable_type: Option<String>,
    /// `originating` when Bursar's payment came back, `receiving` when Bursar returned one.
    pub role: Option<String>,
    pub rail: Option<Rail>,
}

/// A NACHA notification of change: the payment settled, but later ones must use the corrected
/// details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationOfChange {
    pub return_id: String,
    /// The NACHA change code (`C07`).
    pub code: String,
    pub reason: Option<String>,
    pub returnable_id: Option<String>,
    pub returnable_type: Option<String>,
    pub corrections: Corrections,
}

/// The corrected details of a notification of change; `None` where nothing changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Corrections {
    pub routing_number: Option<BankNumber>,
    pub account_number: Option<BankNumber>,
    /// The ACH transaction code (`22` checking credit, `32` savings credit…).
    pub transaction_code: Option<String>,
    pub company_id: Option<String>,
    pub company_name: Option<String>,
    pub individual_identification_number: Option<String>,
}

/// A payment the bank saw arrive (or leave) without Bursar originating it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingPayment {
    pub id: String,
    pub rail: Rail,
    pub direction: Direction,
    pub amount: i64,
    pub currency: String,
    /// The bank's state of it (`pending`, `completed`, `returned`).
    pub status: String,
    /// `YYYY-MM-DD` the bank dated it.
    pub as_of_date: Option<String>,
    /// The platform's internal account it landed in.
    pub internal_account_id: Option<String>,
    /// The virtual account the payer pushed to, which names the party.
    pub virtual_account_id: Option<String>,
    pub originator_name: Option<String>,
    /// The payer's reference (remittance information), for matching.
    pub reference: Option<String>,
    /// The payer's account, masked (`••••6789`).
    pub originating_account_number_masked: Option<String>,
    pub originating_routing_number: Option<String>,
    pub transaction_id: Option<String>,
    pub metadata: BTreeMap<String, String>,
}
