//! The billing status of a customer, and what it entitles: one state machine, driven by the
//! customer's invoices.
//!
//! ```text
//! pending ──► active ──► past_due ──► collections
//!               ▲           │  │           │
//!               └───────────┘  └───────────┘ (paid: back to active)
//!   any ──► closed
//! ```
//!
//! `active` once an invoice was issued; `past_due` while an issued invoice is unpaid after its
//! due date; `collections` when one is more than [`COLLECTIONS_AFTER_DAYS`] overdue or written
//! off as uncollectible; back to `active` when nothing is overdue any more. `closed` is set by
//! hand and final. Every change carries its reason.

use serde::{Deserialize, Serialize};

use utoipa::ToSchema;

/// Days overdue after which a customer is handed to collections.
pub const COLLECTIONS_AFTER_DAYS: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BillingStatus {
    Pending,
    Active,
    PastDue,
    Collections,
    Closed,
}

impl BillingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BillingStatus::Pending => "pending",
            BillingStatus::Active => "active",
            BillingStatus::PastDue => "past_due",
            BillingStatus::Collections => "collections",
            BillingStatus::Closed => "closed",
        }
    }

    /// What the customer may use: everything while in good standing or merely late (a grace
    /// period), read-only access in collections, nothing once closed.
    pub fn access(self) -> Access {
        match self {
            BillingStatus::Pending | BillingStatus::Active | BillingStatus::PastDue => Access::Full,
            BillingStatus::Collections => Access::Limited,
            BillingStatus::Closed => Access::None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    Full,
    Limited,
    None,
}

/// What the invoices say about a customer now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Facts {
    /// An invoice was ever issued.
    pub issued: bool,
    /// Days the oldest unpaid invoice is past its due date, if one is.
    pub overdue_days: Option<i64>,
    /// An invoice is written off and unpaid.
    pub uncollectible: bool,
}

/// The status the facts call for from `current`, with the reason, or `None` to stay.
pub fn next(current: BillingStatus, facts: &Facts) -> Option<(BillingStatus, &'static str)> {
    use BillingStatus::*;
    if current == Closed {
        return None;
    }
    let (target, reason) = if facts.uncollectible {
        (Collections, "invoice_uncollectible")
    } else if facts
        .overdue_days
        .is_some_and(|d| d >= COLLECTIONS_AFTER_DAYS)
    {
        (Collections, "invoice_overdue_over_30_days")
    } else if facts.overdue_days.is_some() {
        (PastDue, "invoice_overdue")
    } else if facts.issued || current != Pending {
        // Never back to pending: with every invoice settled (or voided) the customer is active.
        let reason = match current {
            Pending => "first_invoice_issued",
            _ => "overdue_invoices_paid",
        };
        (Active, reason)
    } else {
        (Pending, "no_invoice_yet")
    };
    (target != current).then_some((target, reason))
}

#[cfg(test)]
mod tests {
    use super::BillingStatus::*;
    use super::*;

    fn facts(issued: bool, overdue_days: Option<i64>, uncollectible: bool) -> Facts {
        Facts {
            issued,
            overdue_days,
            uncollectible,
        }
    }

    #[test]
    fn the_lifecycle_moves_forward_and_back_on_payment() {
        assert_eq!(next(Pending, &facts(false, None, false)), None);
        assert_eq!(
            next(Pending, &facts(true, None, false)),
            Some((Active, "first_invoice_issued"))
        );
        assert_eq!(
            next(Active, &facts(true, Some(0), false)),
            Some((PastDue, "invoice_overdue"))
        );
        assert_eq!(next(PastDue, &facts(true, Some(29), false)), None);
        assert_eq!(
            next(PastDue, &facts(true, Some(30), false)),
            Some((Collections, "invoice_overdue_over_30_days"))
        );
        assert_eq!(
            next(Collections, &facts(true, None, false)),
            Some((Active, "overdue_invoices_paid"))
        );
        assert_eq!(
            next(PastDue, &facts(true, None, false)),
            Some((Active, "overdue_invoices_paid"))
        );
        assert_eq!(
            next(Active, &facts(true, None, true)),
            Some((Collections, "invoice_uncollectible"))
        );
        assert_eq!(
            next(Active, &facts(false, None, false)),
            None,
            "never back to pending"
        );
        for f in [facts(true, Some(90), true), facts(false, None, false)] {
            assert_eq!(next(Closed, &f), None, "closed is final");
        }
    }

    #[test]
    fn access_follows_the_status() {
        assert_eq!(PastDue.access(), Access::Full);
        assert_eq!(Collections.access(), Access::Limited);
        assert_eq!(Closed.access(), Access::None);
    }
}
