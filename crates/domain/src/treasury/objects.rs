//! Treasury objects as the API shows them — expected payments, bank transactions and the
//! reconciliation review queue — and the rules of their states.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ValidationError;
use crate::id::{BankTransactionId, CustomerId, ExpectedPaymentId, ReconciliationItemId};
use crate::money::Currency;
use crate::time::Timestamp;
use crate::treasury::matching::{Direction, Expectation, Review, Rule};

/// Where an expected payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExpectedPaymentStatus {
    /// Nothing has arrived yet.
    Unreconciled,
    /// Part of it has arrived (below its lower bound).
    PartiallyReconciled,
    /// At least its lower bound has arrived.
    Reconciled,
    /// Its window passed without it arriving in full: it is in review.
    Overdue,
}

impl ExpectedPaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unreconciled => "unreconciled",
            Self::PartiallyReconciled => "partially_reconciled",
            Self::Reconciled => "reconciled",
            Self::Overdue => "overdue",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::Unreconciled,
            Self::PartiallyReconciled,
            Self::Reconciled,
            Self::Overdue,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }

    /// Still waiting for money: matching considers it.
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Reconciled)
    }
}

/// Money a payer will push (a wire, RTP) and the rule its arrival must fit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExpectedPayment {
    pub id: ExpectedPaymentId,
    /// Always `expected_payment`.
    pub object: String,
    pub status: ExpectedPaymentStatus,
    pub currency: Currency,
    pub direction: Direction,
    /// Minor units: at least this much completes it.
    pub amount_lower: i64,
    /// Minor units: no more than this in all.
    pub amount_upper: i64,
    #[schema(value_type = String, format = Date)]
    pub date_lower: Date,
    #[schema(value_type = String, format = Date)]
    pub date_upper: Date,
    /// The payer as the bank names it (matching rule 2 and 3).
    pub counterparty: Option<String>,
    /// What the payer is asked to quote (matching rule 1).
    pub reference: Option<String>,
    /// The party whose AVAILABLE balance is credited on arrival.
    #[schema(value_type = Option<String>)]
    pub party_id: Option<CustomerId>,
    pub description: Option<String>,
    /// Minor units matched so far.
    pub reconciled_amount: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl ExpectedPayment {
    /// As the matcher sees it.
    pub fn expectation(&self) -> Expectation {
        Expectation {
            id: self.id.to_string(),
            currency: self.currency,
            direction: self.direction,
            amount_lower: self.amount_lower,
            amount_upper: self.amount_upper,
            date_lower: self.date_lower,
            date_upper: self.date_upper,
            counterparty: self.counterparty.clone(),
            reference: self.reference.clone(),
            reconciled: self.reconciled_amount,
        }
    }

    /// The status once `reconciled_amount` has arrived, on `today`.
    pub fn status_for(&self, reconciled_amount: i64, today: Date) -> ExpectedPaymentStatus {
        if reconciled_amount >= self.amount_lower {
            ExpectedPaymentStatus::Reconciled
        } else if today > self.date_upper {
            ExpectedPaymentStatus::Overdue
        } else if reconciled_amount > 0 {
            ExpectedPaymentStatus::PartiallyReconciled
        } else {
            ExpectedPaymentStatus::Unreconciled
        }
    }
}

/// Checks an expected payment's bounds: positive amounts, lower ≤ upper, a window that ends
/// no earlier than it starts.
pub fn validate_bounds(
    amount_lower: i64,
    amount_upper: i64,
    date_lower: Date,
    date_upper: Date,
) -> Result<(), ValidationError> {
    if amount_lower <= 0 {
        return Err(ValidationError::invalid(
            "amount_lower",
            "Must be a positive amount in minor units.",
        ));
    }
    if amount_upper < amount_lower {
        return Err(ValidationError::invalid(
            "amount_upper",
            "Must be at least amount_lower.",
        ));
    }
    if date_upper < date_lower {
        return Err(ValidationError::invalid(
            "date_upper",
            "Must be on or after date_lower.",
        ));
    }
    Ok(())
}

/// A bank transaction's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BankTransactionStatus {
    /// Matched to an expected payment (by a rule, or by a person resolving its review item).
    Matched,
    /// No rule decided it: a reconciliation item holds it.
    InReview,
    /// A person accepted it as it is, with a note.
    Accepted,
}

impl BankTransactionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Matched => "matched",
            Self::InReview => "in_review",
            Self::Accepted => "accepted",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Matched, Self::InReview, Self::Accepted]
            .into_iter()
            .find(|s| s.as_str() == value)
    }
}

/// A transaction the bank reported (a statement line or a webhook).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BankTransactionObject {
    pub id: BankTransactionId,
    /// Always `bank_transaction`.
    pub object: String,
    /// `import` or `webhook`.
    pub source: String,
    /// The bank's id for it, or its fingerprint in the statement.
    pub external_id: String,
    pub status: BankTransactionStatus,
    pub currency: Currency,
    pub direction: Direction,
    /// Positive minor units.
    pub amount: i64,
    #[schema(value_type = String, format = Date)]
    pub value_date: Date,
    pub counterparty: Option<String>,
    pub reference: Option<String>,
    #[schema(value_type = Option<String>)]
    pub expected_payment_id: Option<ExpectedPaymentId>,
    /// The rule that matched it; absent when a person did.
    pub rule: Option<Rule>,
    pub created_at: Timestamp,
}

/// Why something is in review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewReason {
    Unmatched,
    Ambiguous,
    OutOfWindow,
    Overpays,
    /// An expected payment's window passed without it arriving in full.
    Overdue,
    /// A payout came back after it was paid (an ACH return): the money is back in the seller's
    /// AVAILABLE, and someone should see why.
    PayoutReturned,
    /// A pay-in (an ACH debit) came back after it settled.
    PayInReturned,
    /// What a bank reports the platform's account holds differs from the ledger (the daily
    /// drift check); `candidates` names the currency, `note` both figures.
    BalanceDrift,
}

impl ReviewReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unmatched => "unmatched",
            Self::Ambiguous => "ambiguous",
            Self::OutOfWindow => "out_of_window",
            Self::Overpays => "overpays",
            Self::Overdue => "overdue",
            Self::PayoutReturned => "payout_returned",
            Self::PayInReturned => "pay_in_returned",
            Self::BalanceDrift => "balance_drift",
        }
    }

    /// The reason and the expectations it names, for a matcher's review.
    pub fn of(review: &Review) -> (ReviewReason, Vec<String>) {
        match review {
            Review::Unmatched => (Self::Unmatched, Vec::new()),
            Review::Ambiguous(ids) => (Self::Ambiguous, ids.clone()),
            Review::OutOfWindow(id) => (Self::OutOfWindow, vec![id.clone()]),
            Review::Overpays(id) => (Self::Overpays, vec![id.clone()]),
        }
    }
}

/// Where a review item stands: `open → acknowledged → resolved | accepted`, or `snoozed`
/// (from open or acknowledged) until a date, when it opens again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    Open,
    Acknowledged,
    Snoozed,
    /// Linked to what it matched.
    Resolved,
    /// Accepted as it is, with a note.
    Accepted,
}

impl ReviewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Acknowledged => "acknowledged",
            Self::Snoozed => "snoozed",
            Self::Resolved => "resolved",
            Self::Accepted => "accepted",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::Open,
            Self::Acknowledged,
            Self::Snoozed,
            Self::Resolved,
            Self::Accepted,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }

    pub fn is_closed(self) -> bool {
        matches!(self, Self::Resolved | Self::Accepted)
    }
}

/// What a person does to a review item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewAction {
    Acknowledge,
    /// Link it to this expected payment.
    Resolve(ExpectedPaymentId),
    /// Accept it as it is; the note is required.
    Accept(String),
    Snooze(Date),
}

impl ReviewAction {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Acknowledge => "acknowledge",
            Self::Resolve(_) => "resolve",
            Self::Accept(_) => "accept",
            Self::Snooze(_) => "snooze",
        }
    }

    /// The status after this action from `from` on `today`, or why it is refused.
    pub fn apply(&self, from: ReviewStatus, today: Date) -> Result<ReviewStatus, ValidationError> {
        if from.is_closed() || (matches!(self, Self::Acknowledge) && from != ReviewStatus::Open) {
            return Err(ValidationError::invalid(
                "status",
                format!(
                    "A reconciliation item that is {} cannot be {}d.",
                    from.as_str(),
                    self.name()
                ),
            ));
        }
        match self {
            Self::Acknowledge => Ok(ReviewStatus::Acknowledged),
            Self::Resolve(_) => Ok(ReviewStatus::Resolved),
            Self::Accept(note) if note.trim().is_empty() => Err(ValidationError::missing("note")),
            Self::Accept(_) => Ok(ReviewStatus::Accepted),
            Self::Snooze(until) if *until <= today => Err(ValidationError::invalid(
                "until",
                "A reconciliation item is snoozed until a later date.",
            )),
            Self::Snooze(_) => Ok(ReviewStatus::Snoozed),
        }
    }
}

/// An item of the reconciliation review queue: a bank transaction no rule could decide, or an
/// expected payment that did not arrive in its window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReconciliationItem {
    pub id: ReconciliationItemId,
    /// Always `reconciliation_item`.
    pub object: String,
    pub status: ReviewStatus,
    pub reason: ReviewReason,
    #[schema(value_type = Option<String>)]
    pub bank_transaction_id: Option<BankTransactionId>,
    /// The overdue expected payment, or the one a resolution linked.
    #[schema(value_type = Option<String>)]
    pub expected_payment_id: Option<ExpectedPaymentId>,
    /// The expected payments the matcher could not choose between (or the one it named).
    pub candidates: Vec<String>,
    pub note: Option<String>,
    #[schema(value_type = Option<String>, format = Date)]
    pub snoozed_until: Option<Date>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// How many transactions each rule matched.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RuleCounts {
    pub reference: usize,
    pub amount_date_counterparty: usize,
    pub part_of_sum: usize,
}

impl RuleCounts {
    pub fn count(&mut self, rule: Rule) {
        match rule {
            Rule::Reference => self.reference += 1,
            Rule::AmountDateCounterparty => self.amount_date_counterparty += 1,
            Rule::PartOfSum => self.part_of_sum += 1,
        }
    }
}

/// What one statement import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportSummary {
    /// Always `bank_transaction_import`.
    pub object: String,
    /// Lines in the statement.
    pub lines: usize,
    /// Lines recorded before (same bank id or fingerprint): skipped.
    pub duplicates: usize,
    pub matched: usize,
    pub in_review: usize,
    pub matched_by_rule: RuleCounts,
    /// Expected payments this import completed.
    pub expected_payments_reconciled: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> Date {
        text.parse().unwrap()
    }

    #[test]
    fn review_items_move_only_forward() {
        let today = day("2026-03-02");
        let ack = ReviewAction::Acknowledge;
        assert_eq!(
            ack.apply(ReviewStatus::Open, today),
            Ok(ReviewStatus::Acknowledged)
        );
        assert!(ack.apply(ReviewStatus::Acknowledged, today).is_err());
        let accept = ReviewAction::Accept("bank fee, fine".into());
        assert_eq!(
            accept.apply(ReviewStatus::Snoozed, today),
            Ok(ReviewStatus::Accepted)
        );
        assert!(accept.apply(ReviewStatus::Resolved, today).is_err());
        assert_eq!(
            ReviewAction::Accept("  ".into())
                .apply(ReviewStatus::Open, today)
                .unwrap_err()
                .param,
            "note"
        );
        let snooze = |d| ReviewAction::Snooze(day(d));
        assert_eq!(
            snooze("2026-03-03").apply(ReviewStatus::Acknowledged, today),
            Ok(ReviewStatus::Snoozed)
        );
        assert_eq!(
            snooze("2026-03-02")
                .apply(ReviewStatus::Open, today)
                .unwrap_err()
                .param,
            "until"
        );
        for closed in [ReviewStatus::Resolved, ReviewStatus::Accepted] {
            assert_eq!(
                snooze("2026-04-01").apply(closed, today).unwrap_err().param,
                "status"
            );
        }
    }

    #[test]
    fn an_expected_payment_is_overdue_only_past_its_window_and_short() {
        let payment = ExpectedPayment {
            id: ExpectedPaymentId::new(),
            object: "expected_payment".into(),
            status: ExpectedPaymentStatus::Unreconciled,
            currency: Currency::parse("USD", "c").unwrap(),
            direction: Direction::Credit,
            amount_lower: 100,
            amount_upper: 120,
            date_lower: day("2026-03-01"),
            date_upper: day("2026-03-05"),
            counterparty: None,
            reference: None,
            party_id: None,
            description: None,
            reconciled_amount: 0,
            created_at: Timestamp::from_unix_micros(0),
            updated_at: Timestamp::from_unix_micros(0),
        };
        use ExpectedPaymentStatus::*;
        assert_eq!(payment.status_for(0, day("2026-03-05")), Unreconciled);
        assert_eq!(
            payment.status_for(40, day("2026-03-05")),
            PartiallyReconciled
        );
        assert_eq!(payment.status_for(40, day("2026-03-06")), Overdue);
        assert_eq!(payment.status_for(100, day("2026-04-06")), Reconciled);
        assert!(validate_bounds(100, 99, day("2026-03-01"), day("2026-03-01")).is_err());
        assert!(validate_bounds(0, 99, day("2026-03-01"), day("2026-03-01")).is_err());
        assert!(validate_bounds(1, 1, day("2026-03-02"), day("2026-03-01")).is_err());
    }
}
