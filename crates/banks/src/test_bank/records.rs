//! What the test bank remembers of each object it holds.

use bursar_domain::time::Timestamp;
use bursar_domain::treasury::returns::ReturnCode;
use jiff::civil::Date;

use super::IncomingRequest;
use crate::types::{BankNumber, ExpectedPayment, FailureReason, PaymentOrder};

/// An external account the bank knows: a counterparty's or one given inline with an order.
#[derive(Debug, Clone)]
pub(super) struct AccountRecord {
    pub account_number: BankNumber,
}

#[derive(Debug, Clone)]
pub(super) struct OrderRecord {
    pub order: PaymentOrder,
    pub description: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The date it completed, once it has.
    pub settled_on: Option<Date>,
    /// Why it fails, when its receiving account makes it fail.
    pub failure: Option<FailureReason>,
    /// The code it comes back with after settling, when its receiving account says so.
    pub auto_return: Option<&'static ReturnCode>,
    /// Set as soon as a return is scheduled: a payment is returned once.
    pub return_id: Option<String>,
}

#[derive(Debug, Clone)]
pub(super) struct ReturnRecord {
    pub id: String,
    pub order_id: String,
    pub code: &'static ReturnCode,
    pub amount: i64,
    pub currency: String,
    pub internal_account_id: Option<String>,
    pub status: &'static str,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub(super) struct IncomingRecord {
    pub id: String,
    pub request: IncomingRequest,
    /// `pending`, then `completed`.
    pub status: &'static str,
    pub as_of_date: Date,
    pub transaction_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub(super) struct ExpectedRecord {
    pub expected: ExpectedPayment,
    pub description: Option<String>,
    pub line_item_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl ExpectedRecord {
    /// Whether a completed incoming payment fits this expectation's rule: amount within the
    /// bounds, same direction and internal account, same currency and rail when the rule names
    /// them, its date within the date bounds, every custom identifier given by the payer (or
    /// quoted in its reference), and the expectation's reference quoted in the payer's.
    /// The counterparty is not checked: the test bank does not know who pushed the money.
    pub fn fits(&self, incoming: &IncomingRecord) -> bool {
        let request = &incoming.request;
        let reference = normalize(request.reference.as_deref().unwrap_or_default());
        let quoted = |text: &str| reference.contains(&normalize(text));
        let identifiers = |rule: &crate::types::ReconciliationRule| {
            rule.custom_identifiers.iter().all(|(key, value)| {
                request.custom_identifiers.get(key) == Some(value) || quoted(value)
            })
        };
        let reference_ok = self.expected.reference.as_deref().is_none_or(quoted);
        reference_ok
            && self.expected.rules.iter().any(|rule| {
                (rule.amount_lower_bound..=rule.amount_upper_bound).contains(&request.amount)
                    && rule.direction == request.direction
                    && rule.internal_account_id == request.internal_account_id
                    && rule
                        .currency
                        .as_ref()
                        .is_none_or(|c| c.eq_ignore_ascii_case(&request.currency))
                    && rule.rail.as_ref().is_none_or(|rail| rail == &request.rail)
                    && in_dates(rule, incoming.as_of_date)
                    && identifiers(rule)
            })
    }
}

fn in_dates(rule: &crate::types::ReconciliationRule, date: Date) -> bool {
    let bound = |text: &Option<String>| text.as_deref().and_then(super::calendar::parse_date);
    bound(&rule.date_lower_bound).is_none_or(|lower| lower <= date)
        && bound(&rule.date_upper_bound).is_none_or(|upper| date <= upper)
}

/// Lower case, without spaces: how references are compared.
fn normalize(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}
