//! The account-health function: facts in, health out. Pure: the same facts at the same instant
//! always give the same answer, so a stored answer can be checked by recomputing it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::policy::{DunningAction, DunningPolicy};
use crate::billing_status::{Access, BillingStatus};
use crate::contract::{Contract, ContractStatus};
use crate::id::{DunningPolicyId, InvoiceId};
use crate::invoice::{Invoice, InvoiceStatus};
use crate::money::Currency;
use crate::time::Timestamp;

const DAY_MICROS: i64 = 86_400_000_000;
/// Days before its due date an unpaid invoice is reminded of (`invoice.due_soon`).
pub const DUE_SOON_DAYS: i64 = 3;

/// How a declined charge may be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeclineClass {
    /// The issuer will never accept it (stolen card, closed account): never retried.
    Hard,
    /// It may pass later (insufficient funds, processing error): retried on schedule.
    Soft,
    /// The customer must authenticate: they pay through a hosted link.
    AuthenticationRequired,
}

/// What one off-session charge of a retry step came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum RetryOutcome {
    Succeeded {
        payment_id: String,
    },
    /// Accepted by the provider, to be confirmed by its webhook.
    Processing,
    Declined {
        class: DeclineClass,
        code: String,
    },
    /// Not attempted, and why (`no_payment_method`, `payment_disputed`, `hard_decline`,
    /// `authentication_required`, `provider_error`).
    Skipped {
        reason: String,
    },
}

/// One off-session charge a retry step made (or skipped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Retry {
    pub anchor_invoice_id: InvoiceId,
    pub step: u16,
    pub at: Timestamp,
    /// The saved method charged (`spm_…`).
    pub payment_method_id: Option<String>,
    pub amount: i64,
    pub currency: Currency,
    #[serde(flatten)]
    pub outcome: RetryOutcome,
}

/// A step that ran, once per anchor invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExecutedStep {
    pub anchor_invoice_id: InvoiceId,
    pub step: u16,
    pub at_days: u16,
    pub at: Timestamp,
    pub actions: Vec<DunningAction>,
}

/// An account's dunning as stored: from the day it entered until it recovers, under one
/// policy version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Dunning {
    pub policy_id: Option<DunningPolicyId>,
    pub policy_version: u32,
    pub started_at: Timestamp,
    pub executed: Vec<ExecutedStep>,
    pub retries: Vec<Retry>,
}

impl Dunning {
    pub fn ran(&self, anchor: &InvoiceId, step: u16) -> bool {
        self.executed
            .iter()
            .any(|e| e.step == step && &e.anchor_invoice_id == anchor)
    }
}

/// Everything [`assess`] reads about one customer.
#[derive(Debug, Clone, Copy)]
pub struct AccountFacts<'a> {
    pub now: Timestamp,
    /// Closed by hand: final.
    pub closed: bool,
    pub invoices: &'a [Invoice],
    pub contracts: &'a [Contract],
    /// The policy for an account not in dunning (its override, else the workspace's default);
    /// `None`: excluded from dunning.
    pub policy: Option<&'a DunningPolicy>,
    /// The dunning the account is in, with the policy version it runs under.
    pub dunning: Option<(&'a Dunning, &'a DunningPolicy)>,
    /// The default saved payment method (`spm_…`), if any.
    pub payment_method: Option<&'a str>,
}

/// Which fact put the account where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Reason {
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<String>,
    pub detail: String,
}

/// An amount per currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Balance {
    pub currency: Currency,
    pub amount: i64,
}

/// Where an account in dunning stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Position {
    pub policy_id: Option<DunningPolicyId>,
    pub policy_version: u32,
    /// The oldest unpaid invoice over the minimum balance: the schedule's anchor.
    pub anchor_invoice_id: InvoiceId,
    pub anchor_due_at: Timestamp,
    pub days_overdue: i64,
    /// The last step the calendar reached (index into the policy's steps), if any.
    pub step: Option<u16>,
    /// The last step whose actions ran, with every step before it: its consequences are in
    /// force. Behind `step` only while a step waits (a retry at the provider), so a retry
    /// always comes before the consequences it could prevent.
    pub applied: Option<u16>,
    pub at_days: Option<u16>,
    /// Overdue balances at or over the policy's minimum.
    pub overdue: Vec<Balance>,
    /// The last step ran.
    pub exhausted: bool,
}

/// What a contract may use now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ContractAccess {
    pub contract_id: String,
    /// The account's access, or `full` while a period already paid runs.
    pub access: Access,
    /// End of the last period paid for, if any.
    pub paid_through: Option<Timestamp>,
    pub features: Vec<String>,
}

/// A step due and not yet run for the current anchor, with its actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueStep {
    pub step: u16,
    pub at_days: u16,
    pub actions: Vec<DunningAction>,
    /// A `retry_payment` of this step that must not charge, and why.
    pub retry_skipped: Option<&'static str>,
}

/// A per-invoice reminder not yet sent: `due_soon` or `overdue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceNotice {
    pub invoice_id: InvoiceId,
    pub kind: &'static str,
}

/// The health of an account at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub status: BillingStatus,
    pub reasons: Vec<Reason>,
    pub position: Option<Position>,
    pub access: Access,
    pub changes_blocked: bool,
    pub contracts: Vec<ContractAccess>,
    pub due: Vec<DueStep>,
    pub notices: Vec<InvoiceNotice>,
    /// The next instant the facts as they are would give another answer (a step's day, a due
    /// date, a paid period's end); now while steps are due. `None`: nothing will change.
    pub next_check_at: Option<Timestamp>,
}

impl Health {
    /// The reason recorded with a change to this status from `from`.
    pub fn transition_reason(&self, from: BillingStatus) -> &'static str {
        match self.status {
            BillingStatus::Pending => "no_invoice_yet",
            BillingStatus::Active if from == BillingStatus::Pending => "first_invoice_issued",
            BillingStatus::Active => "overdue_invoices_paid",
            BillingStatus::PastDue => "invoice_overdue",
            BillingStatus::Collections if self.has_reason("invoice_uncollectible") => {
                "invoice_uncollectible"
            }
            BillingStatus::Collections => "handed_to_collections",
            BillingStatus::Closed => "closed",
        }
    }

    pub fn has_reason(&self, code: &str) -> bool {
        self.reasons.iter().any(|r| r.code == code)
    }

    /// Products the account may use: those of contracts with full access.
    pub fn features(&self) -> Vec<String> {
        let mut features: Vec<String> = self
            .contracts
            .iter()
            .filter(|c| c.access == Access::Full)
            .flat_map(|c| c.features.iter().cloned())
            .collect();
        features.sort();
        features.dedup();
        features
    }
}

fn reason(code: &str, invoice_id: Option<&InvoiceId>, detail: String) -> Reason {
    Reason {
        code: code.to_owned(),
        invoice_id: invoice_id.map(|i| i.to_string()),
        detail,
    }
}

/// An invoice the customer still owes: issued (or written off) with an amount due.
pub fn unpaid(invoice: &Invoice) -> bool {
    matches!(
        invoice.status,
        InvoiceStatus::Issued | InvoiceStatus::Uncollectible
    ) && invoice.amount_due > 0
}

/// Whole days `now` is past `due` (0 on the day it falls due), if it is past it.
pub fn days_past(due: Timestamp, now: Timestamp) -> Option<i64> {
    (due < now).then(|| (now.unix_micros() - due.unix_micros()) / DAY_MICROS)
}

/// The account's health at `facts.now`.
pub fn assess(facts: &AccountFacts<'_>) -> Health {
    let mut reasons = Vec::new();
    let notices = if facts.closed {
        Vec::new()
    } else {
        invoice_notices(facts.invoices, facts.now)
    };
    let issued = facts.invoices.iter().any(|i| i.number.is_some());
    let uncollectible = facts
        .invoices
        .iter()
        .find(|i| i.status == InvoiceStatus::Uncollectible && i.amount_due > 0);
    if let Some(invoice) = uncollectible {
        reasons.push(reason(
            "invoice_uncollectible",
            Some(&invoice.id),
            "An invoice was written off and is still unpaid.".into(),
        ));
    }
    let policy = facts.dunning.map(|(_, p)| p).or(facts.policy);
    let position = policy.and_then(|p| position(facts, p, &mut reasons));
    if policy.is_none() {
        reasons.push(reason(
            "excluded_from_dunning",
            None,
            "The customer is excluded from dunning.".into(),
        ));
    }
    let reached: Vec<DunningAction> = match (&position, policy) {
        (Some(pos), Some(p)) => reached_actions(p, pos.applied),
        _ => Vec::new(),
    };
    let status = if facts.closed {
        BillingStatus::Closed
    } else if uncollectible.is_some()
        || reached.contains(&DunningAction::HandToCollections)
        || reached.contains(&DunningAction::WriteOff)
    {
        BillingStatus::Collections
    } else if position.is_some() {
        BillingStatus::PastDue
    } else if issued {
        BillingStatus::Active
    } else {
        reasons.push(reason(
            "no_invoice_yet",
            None,
            "No invoice was issued yet.".into(),
        ));
        BillingStatus::Pending
    };
    let access = account_access(status, &reached, uncollectible.is_some());
    let contracts = contract_access(facts, access, &mut reasons);
    let disputed = dispute_reasons(facts.invoices, &mut reasons);
    let due = match (&position, facts.dunning, policy) {
        (Some(pos), dunning, Some(p)) if !facts.closed => {
            let dunning = dunning.map(|(d, _)| d);
            due_steps(p, pos, dunning, facts.payment_method, disputed)
        }
        _ => Vec::new(),
    };
    let next_check_at = if !due.is_empty() || !notices.is_empty() {
        Some(facts.now)
    } else if facts.closed {
        None
    } else {
        next_change(facts, policy, position.as_ref(), &contracts)
    };
    Health {
        next_check_at,
        status,
        reasons,
        changes_blocked: reached.contains(&DunningAction::BlockChanges),
        position,
        access,
        contracts,
        due,
        notices,
    }
}

/// The disputes among the facts, as reasons; whether the customer is contesting a card payment
/// (a dispute open, or one lost on an invoice still unpaid): no off-session charge then.
fn dispute_reasons(invoices: &[Invoice], reasons: &mut Vec<Reason>) -> bool {
    let mut disputed = false;
    for invoice in invoices {
        for dispute in invoice.open_disputes() {
            disputed = true;
            reasons.push(reason(
                "payment_disputed",
                Some(&invoice.id),
                format!(
                    "The customer's bank contests {} paid toward this invoice (dispute {}).",
                    invoice.currency.format(dispute.amount),
                    dispute.dispute_id
                ),
            ));
        }
        if unpaid(invoice) && invoice.reinstated_by_dispute() {
            disputed = true;
            reasons.push(reason(
                "dispute_lost",
                Some(&invoice.id),
                "A lost dispute took back a payment of this invoice: it is owed again from the \
                 day the dispute was lost."
                    .into(),
            ));
        }
    }
    disputed
}

/// The anchor and step of an account over the policy's minimum balances, if it is in dunning.
fn position(
    facts: &AccountFacts<'_>,
    policy: &DunningPolicy,
    reasons: &mut Vec<Reason>,
) -> Option<Position> {
    let overdue: Vec<(&Invoice, i64)> = facts
        .invoices
        .iter()
        .filter(|i| unpaid(i))
        .filter_map(|i| Some((i, days_past(i.falls_due()?, facts.now)?)))
        .collect();
    let mut balances: BTreeMap<Currency, i64> = BTreeMap::new();
    for (invoice, _) in &overdue {
        let total = balances.entry(invoice.currency).or_insert(0);
        *total = total.saturating_add(invoice.amount_due);
    }
    let dunned: Vec<Balance> = balances
        .iter()
        .filter(|(currency, amount)| **amount >= policy.minimum_balance(**currency))
        .map(|(currency, amount)| Balance {
            currency: *currency,
            amount: *amount,
        })
        .collect();
    for (currency, amount) in &balances {
        if *amount < policy.minimum_balance(*currency) {
            reasons.push(reason(
                "balance_below_minimum",
                None,
                format!(
                    "{} overdue is below the policy's minimum of {}.",
                    currency.format(*amount),
                    currency.format(policy.minimum_balance(*currency))
                ),
            ));
        }
    }
    let (anchor, days) = overdue
        .iter()
        .filter(|(i, _)| dunned.iter().any(|b| b.currency == i.currency))
        .min_by_key(|(i, _)| (i.falls_due(), i.id.clone()))?;
    let step = policy
        .steps
        .iter()
        .rposition(|s| i64::from(s.at_days) <= *days)
        .and_then(|i| u16::try_from(i).ok());
    let ran = |s: u16| facts.dunning.is_some_and(|(d, _)| d.ran(&anchor.id, s));
    let applied = step.and_then(|last| (0..=last).take_while(|s| ran(*s)).last());
    reasons.push(reason(
        "invoice_overdue",
        Some(&anchor.id),
        format!("The oldest unpaid invoice is {days} days past due: the schedule's anchor."),
    ));
    if let Some(step) = step {
        let at_days = policy.steps[usize::from(step)].at_days;
        reasons.push(reason(
            "dunning_step_reached",
            Some(&anchor.id),
            format!(
                "Step {} of policy version {} (day {at_days}) is reached.",
                step + 1,
                policy.version
            ),
        ));
    }
    Some(Position {
        policy_id: policy.id.clone(),
        policy_version: policy.version,
        anchor_invoice_id: anchor.id.clone(),
        anchor_due_at: anchor.falls_due().unwrap_or(facts.now),
        days_overdue: *days,
        at_days: step.map(|s| policy.steps[usize::from(s)].at_days),
        exhausted: applied.is_some_and(|s| usize::from(s) + 1 == policy.steps.len()),
        step,
        applied,
        overdue: dunned,
    })
}

/// Every action of the steps up to and including `step`.
fn reached_actions(policy: &DunningPolicy, step: Option<u16>) -> Vec<DunningAction> {
    let Some(step) = step else { return Vec::new() };
    policy.steps[..=usize::from(step)]
        .iter()
        .flat_map(|s| s.actions.iter().copied())
        .collect()
}

fn account_access(status: BillingStatus, reached: &[DunningAction], written_off: bool) -> Access {
    if status == BillingStatus::Closed || reached.contains(&DunningAction::SuspendEntitlements) {
        Access::None
    } else if reached.contains(&DunningAction::LimitEntitlements) || written_off {
        Access::Limited
    } else {
        Access::Full
    }
}

/// Each active contract's access: the account's, or full while a period paid for runs.
fn contract_access(
    facts: &AccountFacts<'_>,
    access: Access,
    reasons: &mut Vec<Reason>,
) -> Vec<ContractAccess> {
    // The end of the last period paid, per contract: one pass over the invoices.
    let mut paid_until: BTreeMap<&str, Timestamp> = BTreeMap::new();
    for invoice in facts
        .invoices
        .iter()
        .filter(|i| i.status == InvoiceStatus::Paid)
    {
        if let (Some(contract), Some(end)) = (&invoice.contract_id, invoice.period_end) {
            let until = paid_until.entry(contract.as_str()).or_insert(end);
            *until = (*until).max(end);
        }
    }
    let mut out = Vec::new();
    for contract in facts
        .contracts
        .iter()
        .filter(|c| c.status == ContractStatus::Active)
    {
        let paid_through = paid_until.get(contract.id.as_str()).copied();
        let paid = paid_through.is_some_and(|t| t > facts.now);
        let access = if paid && access != Access::Full && !facts.closed {
            reasons.push(reason(
                "period_paid",
                None,
                format!(
                    "Contract {} is paid through {}: full access until then.",
                    contract.id,
                    paid_through.map(|t| t.to_rfc3339()).unwrap_or_default()
                ),
            ));
            Access::Full
        } else {
            access
        };
        let mut features: Vec<String> = contract
            .lines
            .iter()
            .map(|l| l.product_id.clone())
            .collect();
        features.sort();
        features.dedup();
        out.push(ContractAccess {
            contract_id: contract.id.clone(),
            access,
            paid_through,
            features,
        });
    }
    out
}

/// The steps reached for the current anchor and not yet run, in order: a late evaluation runs
/// every one it missed, none twice.
fn due_steps(
    policy: &DunningPolicy,
    position: &Position,
    dunning: Option<&Dunning>,
    payment_method: Option<&str>,
    disputed: bool,
) -> Vec<DueStep> {
    let Some(last) = position.step else {
        return Vec::new();
    };
    let retry_skipped = retry_block(dunning, payment_method, disputed);
    (0..=last)
        .filter(|step| !dunning.is_some_and(|d| d.ran(&position.anchor_invoice_id, *step)))
        .map(|step| {
            let s = &policy.steps[usize::from(step)];
            DueStep {
                step,
                at_days: s.at_days,
                actions: s.actions.clone(),
                retry_skipped: s
                    .actions
                    .contains(&DunningAction::RetryPayment)
                    .then_some(retry_skipped)
                    .flatten(),
            }
        })
        .collect()
}

/// Why a retry must not charge now: no saved method, a customer contesting a card payment
/// (a dispute open, or one lost and not yet repaid), or the last charge of the method it would
/// charge was declined for good (or needs the customer) in this dunning. A skipped retry
/// charged nothing, so it does not count.
fn retry_block(
    dunning: Option<&Dunning>,
    payment_method: Option<&str>,
    disputed: bool,
) -> Option<&'static str> {
    let Some(method) = payment_method else {
        return Some("no_payment_method");
    };
    if disputed {
        return Some("payment_disputed");
    }
    let last = dunning?.retries.iter().rev().find(|r| {
        r.payment_method_id.as_deref() == Some(method)
            && !matches!(r.outcome, RetryOutcome::Skipped { .. })
    })?;
    match &last.outcome {
        RetryOutcome::Declined {
            class: DeclineClass::Hard,
            ..
        } => Some("hard_decline"),
        RetryOutcome::Declined {
            class: DeclineClass::AuthenticationRequired,
            ..
        } => Some("authentication_required"),
        _ => None,
    }
}

/// The per-invoice reminders due and not yet sent: `due_soon` within [`DUE_SOON_DAYS`] of the
/// due date, `overdue` past it; each once per invoice.
fn invoice_notices(invoices: &[Invoice], now: Timestamp) -> Vec<InvoiceNotice> {
    let mut notices = Vec::new();
    for invoice in invoices
        .iter()
        .filter(|i| i.status == InvoiceStatus::Issued && i.amount_due > 0)
    {
        let Some(due) = invoice.due_at else { continue };
        let kind = if due < now {
            "overdue"
        } else if due.unix_micros() - now.unix_micros() <= DUE_SOON_DAYS * DAY_MICROS {
            "due_soon"
        } else {
            continue;
        };
        if !invoice.reminders.iter().any(|r| r == kind) {
            notices.push(InvoiceNotice {
                invoice_id: invoice.id.clone(),
                kind,
            });
        }
    }
    notices
}

/// The earliest instant after `facts.now` at which time alone changes the answer: the next
/// step's day for the anchor, an unpaid invoice falling due (or due soon), a paid period
/// ending.
fn next_change(
    facts: &AccountFacts<'_>,
    policy: Option<&DunningPolicy>,
    position: Option<&Position>,
    contracts: &[ContractAccess],
) -> Option<Timestamp> {
    let now = facts.now;
    let mut candidates: Vec<Timestamp> = Vec::new();
    if let (Some(pos), Some(policy)) = (position, policy) {
        let next = pos.step.map_or(0, |s| usize::from(s) + 1);
        if let Some(step) = policy.steps.get(next) {
            let at = pos
                .anchor_due_at
                .plus_micros((i64::from(step.at_days) * DAY_MICROS).max(1));
            candidates.push(at);
        }
    }
    for invoice in facts.invoices.iter().filter(|i| unpaid(i)) {
        if let Some(due) = invoice.falls_due() {
            candidates.push(due.plus_micros(1));
            // A contract's own status turns to collections this many days late.
            let late = crate::billing_status::COLLECTIONS_AFTER_DAYS * DAY_MICROS;
            candidates.push(due.plus_micros(late + 1));
            candidates.push(due.plus_micros(-DUE_SOON_DAYS * DAY_MICROS));
        }
    }
    candidates.extend(contracts.iter().filter_map(|c| c.paid_through));
    candidates.extend(facts.contracts.iter().filter_map(|c| c.terminates_at));
    candidates.into_iter().filter(|t| *t > now).min()
}
