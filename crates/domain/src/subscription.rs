//! Subscriptions: what a contract bills each period, derived from the contract's log. Pure.
//!
//! A subscription exists once its contract was activated. Its status follows the contract's
//! (`active`, or `trialing` before the trial ends; `paused` while suspended; `canceled` once
//! terminated or expired); its items are the contract's lines; and every change to what the
//! contract bills (a line added or removed, a quantity or price changed) made inside a billing
//! period after activation leaves a proration item for the rest of that period.
//!
//! **Proration rule** (per contract, `billing.proration`): the change in the period amount
//! (Σ max(unit amount × quantity, commitment)) times the share of the period left after the
//! change takes effect — by the second (`second`), by whole days counting the day of the change
//! (`day`), or not at all (`none`: the change bills from the next period). Amounts are rounded
//! half away from zero to minor units. The derivation is a function of the log alone, so the
//! subscription rebuilt from the log is the one projected event by event.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::contract::{
    add_months, apply, line_amount, Contract, ContractStatus, LogEntry, Operation, Proration,
};
use crate::proration::{prorate, span};
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SubscriptionItem {
    pub line_id: String,
    pub product_id: String,
    pub unit_amount: i64,
    pub quantity: i64,
    pub minimum_commitment: Option<i64>,
}

/// A charge or credit for the rest of a period after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProrationItem {
    /// The contract operation (log position) that caused it.
    pub contract_seq: u64,
    pub effective_at: Timestamp,
    pub period_start: Timestamp,
    pub period_end: Timestamp,
    /// Minor units: positive is owed by the buyer, negative is a credit.
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Subscription {
    pub id: String,
    pub object: String,
    pub contract_id: String,
    pub buyer_id: String,
    pub currency: String,
    /// `trialing`, `active`, `paused` or `canceled`.
    pub status: String,
    pub items: Vec<SubscriptionItem>,
    pub current_period_start: Timestamp,
    pub current_period_end: Timestamp,
    pub proration_items: Vec<ProrationItem>,
    /// The contract's log position the subscription reflects.
    pub contract_version: u64,
}

/// The billing period holding `at`: from the last anchor day (00:00 UTC) at or before it, one
/// month long.
pub fn period_of(anchor_day: u8, at: Timestamp) -> (Timestamp, Timestamp) {
    let seconds = at.unix_micros().div_euclid(1_000_000);
    let date = time::OffsetDateTime::from_unix_timestamp(seconds)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    // Days 1-28 exist in every month.
    let day = anchor_day.clamp(1, 28);
    let anchor = date
        .replace_time(time::Time::MIDNIGHT)
        .replace_day(day)
        .unwrap_or(date);
    let start = if anchor <= date {
        anchor
    } else {
        let (year, month) = match anchor.month() {
            time::Month::January => (anchor.year() - 1, time::Month::December),
            m => (anchor.year(), m.previous()),
        };
        anchor
            .replace_year(year)
            .and_then(|d| d.replace_month(month))
            .unwrap_or(anchor)
    };
    let start = Timestamp::from_unix_micros(start.unix_timestamp() * 1_000_000);
    (start, add_months(start, 1))
}

fn period_amount(contract: &Contract) -> i64 {
    contract
        .lines
        .iter()
        .map(|l| line_amount(l).unwrap_or(i64::MAX))
        .fold(0_i64, i64::saturating_add)
}

/// `amount × part / whole`, rounded half away from zero (i128, no overflow).
fn changes_billing(operation: &Operation) -> bool {
    matches!(
        operation,
        Operation::AddLine { .. }
            | Operation::RemoveLine { .. }
            | Operation::ChangeQuantity { .. }
            | Operation::ChangePrice { .. }
            | Operation::SetCommitment { .. }
    )
}

/// The subscription of a contract at `now` (as known now), from its log; None before the
/// contract was first activated.
pub fn derive(contract_id: &str, log: &[LogEntry], now: Timestamp) -> Option<Subscription> {
    let mut ordered: Vec<&LogEntry> = log
        .iter()
        .filter(|e| e.recorded_at <= now && e.effective_at <= now)
        .collect();
    ordered.sort_by_key(|e| (e.effective_at, e.seq));
    let mut contract: Option<Contract> = None;
    let mut activated = false;
    let mut prorations = Vec::new();
    for entry in ordered {
        let before = contract.clone();
        let after = apply(contract, contract_id, &entry.operation, entry.effective_at).ok()?;
        activated |= matches!(entry.operation, Operation::Activate);
        if activated && changes_billing(&entry.operation) && after.status != ContractStatus::Draft {
            if let Some(before) = &before {
                let delta = period_amount(&after).saturating_sub(period_amount(before));
                let (start, end) = period_of(after.billing.anchor_day, entry.effective_at);
                let at = entry.effective_at.unix_micros();
                let (part, whole) = match after.billing.proration {
                    Proration::Second => (
                        span(at, end.unix_micros()).ok()? / 1_000_000,
                        span(start.unix_micros(), end.unix_micros()).ok()? / 1_000_000,
                    ),
                    Proration::Day => {
                        let day = 86_400_000_000;
                        let day_start = at.div_euclid(day) * day;
                        (
                            (end.unix_micros() - day_start + day - 1) / day,
                            (end.unix_micros() - start.unix_micros() + day - 1) / day,
                        )
                    }
                    Proration::None => (0, 1),
                };
                let amount = prorate(delta, part, whole);
                if amount != 0 {
                    prorations.push(ProrationItem {
                        contract_seq: entry.seq,
                        effective_at: entry.effective_at,
                        period_start: start,
                        period_end: end,
                        amount,
                    });
                }
            }
        }
        contract = Some(after);
    }
    let contract = contract?;
    if !activated {
        return None;
    }
    let status = match contract.status {
        ContractStatus::Active
            if contract.trial_ends_at.is_some_and(|t| now < t) && !contract.trial_ended =>
        {
            "trialing"
        }
        ContractStatus::Active | ContractStatus::Draft => "active",
        ContractStatus::Suspended => "paused",
        ContractStatus::Terminated | ContractStatus::Expired => "canceled",
    };
    let (current_period_start, current_period_end) = period_of(contract.billing.anchor_day, now);
    Some(Subscription {
        id: format!("sub_{}", contract_id.trim_start_matches("ctr_")),
        object: "subscription".into(),
        contract_id: contract_id.to_owned(),
        buyer_id: contract.buyer_id.clone(),
        currency: contract.currency.clone(),
        status: status.into(),
        items: contract
            .lines
            .iter()
            .map(|l| SubscriptionItem {
                line_id: l.id.clone(),
                product_id: l.product_id.clone(),
                unit_amount: l.unit_amount,
                quantity: l.quantity,
                minimum_commitment: l.minimum_commitment,
            })
            .collect(),
        current_period_start,
        current_period_end,
        proration_items: prorations,
        contract_version: log
            .iter()
            .filter(|e| e.recorded_at <= now)
            .map(|e| e.seq)
            .max()
            .unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{BillingTerms, ContractDraft, Term};

    const DAY: i64 = 86_400;
    /// 2026-01-01T00:00:00Z plus days.
    fn t(days: i64) -> Timestamp {
        Timestamp::from_unix_micros((1_767_225_600 + days * DAY) * 1_000_000)
    }

    fn entry(seq: u64, day: i64, operation: Operation) -> LogEntry {
        LogEntry {
            seq,
            effective_at: t(day),
            recorded_at: t(day),
            operation,
        }
    }

    fn log(proration: Proration) -> Vec<LogEntry> {
        vec![
            entry(
                1,
                0,
                Operation::Create(ContractDraft {
                    buyer_id: "cus_1".into(),
                    seller_id: None,
                    seasoning_days: None,
                    referrer_id: None,
                    referral_share_bps: None,
                    currency: "USD".into(),
                    term: Term {
                        start: t(0),
                        end: None,
                        auto_renew: false,
                        renewal_months: 12,
                        notice_days: 30,
                    },
                    billing: BillingTerms {
                        anchor_day: 1,
                        payment_terms_days: 30,
                        invoice_delivery: "email".into(),
                        proration,
                    },
                    trial_ends_at: Some(t(14)),
                    trial_converts: true,
                }),
            ),
            entry(
                2,
                0,
                Operation::AddLine {
                    line_id: "l".into(),
                    product_id: "p".into(),
                    unit_amount: 3_100,
                    quantity: 1,
                    timing: Default::default(),
                    usage: None,
                },
            ),
        ]
    }

    #[test]
    fn periods_start_on_the_anchor_day() {
        assert_eq!(period_of(1, t(40)), (t(31), t(59)), "February 2026");
        assert_eq!(period_of(15, t(5)), (t(-17), t(14)), "Dec 15 → Jan 15");
    }

    #[test]
    fn changes_after_activation_are_prorated_by_the_rule() {
        let mut entries = log(Proration::Day);
        assert_eq!(
            derive("ctr_x", &entries, t(1)),
            None,
            "no subscription before activation"
        );
        entries.push(entry(3, 0, Operation::Activate));
        let trial = derive("ctr_x", &entries, t(1)).unwrap();
        assert_eq!(
            (trial.status.as_str(), trial.id.as_str()),
            ("trialing", "sub_x")
        );
        // Quantity 1 → 3 on January 11: 21 of 31 days left (the 11th counts), +6,200 × 21/31.
        entries.push(entry(
            4,
            10,
            Operation::ChangeQuantity {
                line_id: "l".into(),
                quantity: 3,
            },
        ));
        let sub = derive("ctr_x", &entries, t(20)).unwrap();
        assert_eq!(sub.status, "active");
        assert_eq!(sub.proration_items.len(), 1);
        assert_eq!(sub.proration_items[0].amount, 4_200);
        let mut by_second = log(Proration::Second);
        by_second.push(entry(3, 0, Operation::Activate));
        by_second.push(entry(
            4,
            10,
            Operation::ChangeQuantity {
                line_id: "l".into(),
                quantity: 3,
            },
        ));
        assert_eq!(
            derive("ctr_x", &by_second, t(20)).unwrap().proration_items[0].amount,
            4_200
        );
        let mut none = log(Proration::None);
        none.push(entry(3, 0, Operation::Activate));
        none.push(entry(
            4,
            10,
            Operation::ChangeQuantity {
                line_id: "l".into(),
                quantity: 3,
            },
        ));
        assert!(derive("ctr_x", &none, t(20))
            .unwrap()
            .proration_items
            .is_empty());
        entries.push(entry(5, 20, Operation::Suspend));
        assert_eq!(derive("ctr_x", &entries, t(21)).unwrap().status, "paused");
        entries.push(entry(
            6,
            25,
            Operation::Terminate {
                at: None,
                reason: None,
            },
        ));
        assert_eq!(derive("ctr_x", &entries, t(26)).unwrap().status, "canceled");
    }
}
