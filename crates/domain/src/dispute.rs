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

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::id::{InvoiceId, PaymentId};
use crate::invoice::{Invoice, Payment};
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

/// How a dispute of `amount` against `payment` splits over what the payment funded: its
/// unallocated credit first, then its allocations, newest first.
pub fn reversal(payment: &Payment, amount: i64) -> Reversal {
    let credit = amount.min(payment.unallocated).max(0);
    let mut left = amount - credit;
    let mut invoices: Vec<(InvoiceId, i64)> = Vec::new();
    for allocation in payment.allocations.iter().rev() {
        if left == 0 {
            break;
        }
        let part = allocation.amount.min(left);
        left -= part;
        match invoices
            .iter_mut()
            .find(|(id, _)| id == &allocation.invoice_id)
        {
            Some((_, total)) => *total += part,
            None => invoices.push((allocation.invoice_id.clone(), part)),
        }
    }
    Reversal {
        credit,
        invoices,
        loss: left,
    }
}

/// The instant an unpaid invoice falls due: its due date, or the day a lost dispute made part
/// of it owed again, whichever is later.
pub fn falls_due(invoice: &Invoice) -> Option<Timestamp> {
    let reinstated = invoice
        .disputes
        .iter()
        .filter(|d| d.status == DisputeStatus::Lost && d.reinstated > 0)
        .filter_map(|d| d.closed_at)
        .max();
    match (invoice.due_at, reinstated) {
        (Some(due), Some(at)) => Some(due.max(at)),
        (due, at) => due.or(at),
    }
}

/// The invoice's disputes that are open.
pub fn open_disputes(invoice: &Invoice) -> impl Iterator<Item = &InvoiceDispute> {
    invoice
        .disputes
        .iter()
        .filter(|d| d.status == DisputeStatus::Open)
}

/// Whether a lost dispute made part of this invoice owed again.
pub fn reinstated_by_dispute(invoice: &Invoice) -> bool {
    invoice
        .disputes
        .iter()
        .any(|d| d.status == DisputeStatus::Lost && d.reinstated > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::CustomerId;
    use crate::invoice::{Allocation, PaymentMethodKind};
    use crate::money::Currency;

    fn payment(unallocated: i64, allocations: &[(&InvoiceId, i64)]) -> Payment {
        let now = Timestamp::from_unix_micros(0);
        Payment {
            id: PaymentId::new(),
            object: "payment".into(),
            customer_id: CustomerId::new(),
            currency: Currency::from_code("USD").unwrap(),
            amount: unallocated + allocations.iter().map(|(_, a)| a).sum::<i64>(),
            method: PaymentMethodKind::Card,
            reference: None,
            allocations: allocations
                .iter()
                .map(|(id, amount)| Allocation {
                    invoice_id: (*id).clone(),
                    amount: *amount,
                    allocated_at: now,
                    transfer_id: String::new(),
                })
                .collect(),
            unallocated,
            transfer_id: String::new(),
            received_at: now,
            created_at: now,
            dispute: None,
        }
    }

    #[test]
    fn a_lost_dispute_takes_the_credit_first_then_the_newest_allocations() {
        let (a, b) = (InvoiceId::new(), InvoiceId::new());
        let paid = payment(300, &[(&a, 1_000), (&b, 700)]);
        let split = reversal(&paid, 1_200);
        assert_eq!(split.credit, 300);
        assert_eq!(split.invoices, vec![(b.clone(), 700), (a.clone(), 200)]);
        assert_eq!(split.loss, 0);
        let all = reversal(&paid, 2_500);
        assert_eq!((all.credit, all.loss), (300, 500));
        assert_eq!(all.invoices, vec![(b, 700), (a, 1_000)]);
    }

    #[test]
    fn a_partial_dispute_of_credit_only_reopens_nothing() {
        let a = InvoiceId::new();
        let split = reversal(&payment(500, &[(&a, 1_000)]), 400);
        assert_eq!(
            (split.credit, split.invoices.len(), split.loss),
            (400, 0, 0)
        );
    }
}
