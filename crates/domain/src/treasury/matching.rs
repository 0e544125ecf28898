//! Matching bank transactions to expected payments, deterministically, and never by guessing.
//!
//! A transaction is tried against the open expectations of its currency and direction, rule by
//! rule, and the first rule with candidates decides:
//! 1. **reference**: the expectation whose reference equals the transaction's (case and spaces
//!    ignored);
//! 2. **amount, date, counterparty**: the expectation of the same counterparty whose remaining
//!    amount bounds hold the transaction's amount and whose date window holds its value date;
//! 3. **part of a sum**: the expectation of the same counterparty, in its window, for which the
//!    transaction is a part (below the remaining lower bound): several transactions summing to
//!    one expectation.
//!
//! One candidate matches. Two or more are **ambiguous** and go to review, as does a
//! transaction no rule fits, one that would take an expectation past its upper bound, and one
//! that names an expectation by reference but arrives outside its window.

use std::collections::HashMap;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::money::Currency;

/// Money into (`credit`) or out of (`debit`) the platform's bank account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Credit,
    Debit,
}

/// What an expected payment expects, and how much of it has arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    pub id: String,
    pub currency: Currency,
    pub direction: Direction,
    pub amount_lower: i64,
    pub amount_upper: i64,
    pub date_lower: Date,
    pub date_upper: Date,
    pub counterparty: Option<String>,
    pub reference: Option<String>,
    /// Matched so far.
    pub reconciled: i64,
}

impl Expectation {
    /// Fully arrived: at least its lower bound.
    pub fn is_reconciled(&self) -> bool {
        self.reconciled >= self.amount_lower
    }

    /// Past its window with less than its lower bound arrived: to review.
    pub fn is_overdue(&self, today: Date) -> bool {
        !self.is_reconciled() && today > self.date_upper
    }

    fn in_window(&self, date: Date) -> bool {
        self.date_lower <= date && date <= self.date_upper
    }

    /// Whether `amount` more stays within the bounds: `Some(true)` completes it, `Some(false)`
    /// is a part of it, `None` would take it past its upper bound.
    fn takes(&self, amount: i64) -> Option<bool> {
        let total = self.reconciled.checked_add(amount)?;
        (total <= self.amount_upper).then_some(total >= self.amount_lower)
    }
}

/// A transaction the bank reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankTransaction {
    pub id: String,
    pub currency: Currency,
    pub direction: Direction,
    /// Positive minor units.
    pub amount: i64,
    pub value_date: Date,
    pub counterparty: Option<String>,
    pub reference: Option<String>,
}

/// The rule that matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    Reference,
    AmountDateCounterparty,
    PartOfSum,
}

/// Why a transaction goes to review instead of matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Review {
    /// No rule fits.
    Unmatched,
    /// Several expectations fit equally: never a guess.
    Ambiguous(Vec<String>),
    /// Its reference names this expectation, but it arrived outside the window.
    OutOfWindow(String),
    /// It would take this expectation past its upper bound.
    Overpays(String),
}

/// What became of one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Matched {
        expectation: String,
        rule: Rule,
        /// The expectation is now reconciled.
        complete: bool,
    },
    Review(Review),
}

type PartyKey = (Currency, Direction, String);

/// Open expectations, indexed by reference and by counterparty; matching a transaction records
/// what arrived, so later transactions see it.
#[derive(Debug, Default)]
pub struct Matcher {
    expectations: Vec<Expectation>,
    by_id: HashMap<String, usize>,
    by_reference: HashMap<String, Vec<usize>>,
    by_party: HashMap<PartyKey, Vec<usize>>,
}

/// A reference as compared: case and whitespace ignored.
pub fn normalize_reference(reference: &str) -> String {
    reference
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

impl Matcher {
    pub fn new(expectations: Vec<Expectation>) -> Matcher {
        let mut matcher = Matcher::default();
        for expectation in expectations {
            matcher.add(expectation);
        }
        matcher
    }

    pub fn add(&mut self, expectation: Expectation) {
        let index = self.expectations.len();
        self.by_id.insert(expectation.id.clone(), index);
        if let Some(reference) = &expectation.reference {
            self.by_reference
                .entry(normalize_reference(reference))
                .or_default()
                .push(index);
        }
        if let Some(party) = &expectation.counterparty {
            let key = (expectation.currency, expectation.direction, party.clone());
            self.by_party.entry(key).or_default().push(index);
        }
        self.expectations.push(expectation);
    }

    pub fn expectations(&self) -> &[Expectation] {
        &self.expectations
    }

    /// Decides one transaction and records what it matched.
    pub fn apply(&mut self, transaction: &BankTransaction) -> Decision {
        let decision = self.decide(transaction);
        if let Decision::Matched { expectation, .. } = &decision {
            if let Some(index) = self.by_id.get(expectation) {
                let matched = &mut self.expectations[*index];
                matched.reconciled = matched.reconciled.saturating_add(transaction.amount);
            }
        }
        decision
    }

    /// The decision for `transaction`, changing nothing.
    pub fn decide(&self, transaction: &BankTransaction) -> Decision {
        if let Some(decision) = self.by_reference_rule(transaction) {
            return decision;
        }
        let Some(party) = &transaction.counterparty else {
            return Decision::Review(Review::Unmatched);
        };
        let key = (transaction.currency, transaction.direction, party.clone());
        let candidates: Vec<&Expectation> = self
            .by_party
            .get(&key)
            .into_iter()
            .flatten()
            .map(|i| &self.expectations[*i])
            .filter(|e| !e.is_reconciled() && e.in_window(transaction.value_date))
            .collect();
        let completing: Vec<&Expectation> = candidates
            .iter()
            .copied()
            .filter(|e| e.takes(transaction.amount) == Some(true))
            .collect();
        if !completing.is_empty() {
            return one_of(&completing, Rule::AmountDateCounterparty, true);
        }
        let parts: Vec<&Expectation> = candidates
            .iter()
            .copied()
            .filter(|e| e.takes(transaction.amount) == Some(false))
            .collect();
        if !parts.is_empty() {
            return one_of(&parts, Rule::PartOfSum, false);
        }
        Decision::Review(Review::Unmatched)
    }

    fn by_reference_rule(&self, transaction: &BankTransaction) -> Option<Decision> {
        let reference = normalize_reference(transaction.reference.as_deref()?);
        let named: Vec<&Expectation> = self
            .by_reference
            .get(&reference)?
            .iter()
            .map(|i| &self.expectations[*i])
            .filter(|e| e.currency == transaction.currency && e.direction == transaction.direction)
            .filter(|e| !e.is_reconciled())
            .collect();
        match named.as_slice() {
            [] => None,
            [one] if !one.in_window(transaction.value_date) => {
                Some(Decision::Review(Review::OutOfWindow(one.id.clone())))
            }
            [one] => Some(match one.takes(transaction.amount) {
                Some(complete) => Decision::Matched {
                    expectation: one.id.clone(),
                    rule: Rule::Reference,
                    complete,
                },
                None => Decision::Review(Review::Overpays(one.id.clone())),
            }),
            several => Some(Decision::Review(Review::Ambiguous(ids(several)))),
        }
    }
}

fn ids(expectations: &[&Expectation]) -> Vec<String> {
    expectations.iter().map(|e| e.id.clone()).collect()
}

fn one_of(candidates: &[&Expectation], rule: Rule, complete: bool) -> Decision {
    match candidates {
        [one] => Decision::Matched {
            expectation: one.id.clone(),
            rule,
            complete,
        },
        several => Decision::Review(Review::Ambiguous(ids(several))),
    }
}

#[cfg(test)]
#[path = "matching_tests.rs"]
mod tests;
