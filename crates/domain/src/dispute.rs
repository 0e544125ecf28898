//! Disputes of invoice payments: a customer contests a card payment at their bank (a
//! chargeback). The provider withholds the amount while the dispute is open; a won dispute
//! returns it; a lost one takes it for good, and what that payment paid is owed again.
//!
//! ```text
//! open ──► won    the money comes back; nothing is owed
//!   └────► lost   the payment's unallocated credit shrinks first, then the invoices it paid
//!                 (newest allocation first) are reopened for their part, due again from the
//!                 day the dispute was lost
//! ```
//!
//! The rules over invoices and payments are their methods: [`crate::invoice::Payment::reversal`],
//! `Invoice::falls_due`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::id::{InvoiceId, PaymentId};
use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DisputeStatus {
    Open,
    Won,
    Lost,
}

impl DisputeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DisputeStatus::Open => "open",
            DisputeStatus::Won => "won",
            DisputeStatus::Lost => "lost",
        }
    }
}

/// A dispute of a received payment, as the provider reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PaymentDispute {
    /// The provider's dispute id (`dp_…`).
    pub dispute_id: String,
    pub amount: i64,
    pub status: DisputeStatus,
    /// The provider's reason (`fraudulent`, `product_not_received`, …).
    pub reason: Option<String>,
    pub opened_at: Timestamp,
    pub closed_at: Option<Timestamp>,
    /// What a lost dispute took from the customer's credit (the rest reopened invoices).
    #[serde(default)]
    pub credit_reversed: i64,
}

/// A dispute of a payment that paid (part of) this invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InvoiceDispute {
    pub dispute_id: String,
    pub payment_id: PaymentId,
    /// The part of this invoice's payment the dispute contests.
    pub amount: i64,
    pub status: DisputeStatus,
    pub opened_at: Timestamp,
    pub closed_at: Option<Timestamp>,
    /// Owed again because the dispute was lost.
    #[serde(default)]
    pub reinstated: i64,
}

/// Where a lost dispute's amount comes back from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reversal {
    /// From the payment's credit the customer still holds.
    pub credit: i64,
    /// From invoices the payment paid, newest allocation first: owed again.
    pub invoices: Vec<(InvoiceId, i64)>,
    /// Beyond what the payment holds or paid: the merchant's loss.
    pub loss: i64,
}
