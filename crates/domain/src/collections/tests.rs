use super::*;
use crate::billing_status::{Access, BillingStatus};
use crate::contract::{
    apply, BillingTerms, Contract, ContractDraft, Operation, Proration, Term, Timing,
};
use crate::id::{ContractId, CustomerId, DunningPolicyId, InvoiceId};
use crate::invoice::{Invoice, InvoiceStatus};
use crate::money::Currency;
use crate::time::Timestamp;
use std::collections::BTreeMap;

const DAY: i64 = 86_400_000_000;

fn t(days: i64) -> Timestamp {
    Timestamp::from_unix_micros(1_767_225_600_000_000 + days * DAY)
}

fn usd() -> Currency {
    Currency::from_code("USD").unwrap()
}

/// An issued invoice of `amount` due on day `due`.
fn invoice(amount: i64, due: i64) -> Invoice {
    let mut invoice =
        Invoice::draft(CustomerId::new(), usd(), Vec::new(), 30, t(due - 30)).unwrap();
    invoice.status = InvoiceStatus::Issued;
    invoice.number = Some(format!("INV-{}", invoice.id));
    invoice.total = amount;
    invoice.amount_due = amount;
    invoice.due_at = Some(t(due));
    invoice
}

fn pay(invoice: &mut Invoice, amount: i64) {
    invoice.amount_paid += amount;
    invoice.amount_due -= amount;
    if invoice.amount_due == 0 {
        invoice.status = InvoiceStatus::Paid;
    }
}

fn step(at_days: u16, actions: &[DunningAction]) -> DunningStep {
    DunningStep {
        at_days,
        actions: actions.to_vec(),
    }
}

fn notify(template: NoticeTemplate) -> DunningAction {
    DunningAction::Notify { template }
}

/// The demo's policy: reminder at 1, retries at 3, 7, 14, limit at 15, suspend at 30, cancel
/// and write off at 60.
fn demo_policy() -> DunningPolicy {
    use DunningAction::*;
    DunningPolicy {
        id: Some(DunningPolicyId::new()),
        object: "dunning_policy".into(),
        version: 1,
        name: "Standard".into(),
        steps: vec![
            step(1, &[notify(NoticeTemplate::Reminder)]),
            step(3, &[RetryPayment]),
            step(7, &[RetryPayment]),
            step(14, &[RetryPayment, notify(NoticeTemplate::FinalNotice)]),
            step(15, &[LimitEntitlements, BlockChanges]),
            step(
                30,
                &[SuspendEntitlements, notify(NoticeTemplate::Suspension)],
            ),
            step(60, &[CancelContracts, WriteOff, HandToCollections]),
        ],
        minimum_balances: BTreeMap::new(),
        default: true,
        created_at: t(0),
    }
}

struct Account {
    invoices: Vec<Invoice>,
    contracts: Vec<Contract>,
    policy: DunningPolicy,
    dunning: Option<Dunning>,
    method: Option<String>,
}

impl Account {
    fn new(policy: DunningPolicy, invoices: Vec<Invoice>) -> Self {
        Account {
            invoices,
            contracts: Vec::new(),
            policy,
            dunning: None,
            method: Some("spm_1".into()),
        }
    }

    fn assess(&self, day: i64) -> Health {
        assess(&AccountFacts {
            now: t(day),
            closed: false,
            invoices: &self.invoices,
            contracts: &self.contracts,
            policy: Some(&self.policy),
            dunning: self.dunning.as_ref().map(|d| (d, &self.policy)),
            payment_method: self.method.as_deref(),
        })
    }

    /// What an evaluation does with the facts: enter or leave dunning, run the due steps.
    /// Returns the steps run, as (anchor index in `invoices`, step).
    fn evaluate(&mut self, day: i64) -> Vec<(usize, u16)> {
        let health = self.assess(day);
        let Some(position) = &health.position else {
            self.dunning = None;
            return Vec::new();
        };
        let dunning = self.dunning.get_or_insert_with(|| Dunning {
            policy_id: position.policy_id.clone(),
            policy_version: position.policy_version,
            started_at: t(day),
            executed: Vec::new(),
            retries: Vec::new(),
        });
        let anchor = self
            .invoices
            .iter()
            .position(|i| i.id == position.anchor_invoice_id)
            .unwrap();
        let mut ran = Vec::new();
        for due in &health.due {
            dunning.executed.push(ExecutedStep {
                anchor_invoice_id: position.anchor_invoice_id.clone(),
                step: due.step,
                at_days: due.at_days,
                at: t(day),
                actions: due.actions.clone(),
            });
            ran.push((anchor, due.step));
        }
        ran
    }
}

#[test]
fn the_built_in_policy_keeps_the_old_lifecycle() {
    let mut account = Account::new(DunningPolicy::built_in(), Vec::new());
    assert_eq!(account.assess(0).status, BillingStatus::Pending);
    account.invoices.push(invoice(10_000, 10));
    assert_eq!(account.assess(0).status, BillingStatus::Active);
    let late = account.assess(11);
    assert_eq!(
        (late.status, late.access),
        (BillingStatus::PastDue, Access::Full)
    );
    assert_eq!(late.position.as_ref().unwrap().days_overdue, 1);
    account.evaluate(40);
    let handed = account.assess(40);
    assert_eq!(
        (
            handed.status,
            handed.access,
            handed.transition_reason(BillingStatus::PastDue)
        ),
        (
            BillingStatus::Collections,
            Access::Limited,
            "handed_to_collections"
        )
    );
    let amount = account.invoices[0].amount_due;
    pay(&mut account.invoices[0], amount);
    let paid = account.assess(41);
    assert_eq!(
        (
            paid.status,
            paid.access,
            paid.position.clone(),
            paid.transition_reason(BillingStatus::Collections)
        ),
        (
            BillingStatus::Active,
            Access::Full,
            None,
            "overdue_invoices_paid"
        )
    );
}

#[test]
fn every_step_runs_once_in_order_even_when_an_evaluation_is_late() {
    let mut account = Account::new(demo_policy(), vec![invoice(5_000, 0)]);
    assert!(account.evaluate(0).is_empty(), "day 0: no step at 0");
    assert_eq!(account.evaluate(1), vec![(0, 0)]);
    assert!(account.evaluate(2).is_empty());
    // The scheduler was down from day 3 to day 15: every missed step runs, in order.
    assert_eq!(account.evaluate(15), vec![(0, 1), (0, 2), (0, 3), (0, 4)]);
    assert!(account.evaluate(15).is_empty(), "never twice");
    let health = account.assess(16);
    assert_eq!(
        (health.status, health.access, health.changes_blocked),
        (BillingStatus::PastDue, Access::Limited, true)
    );
    let reached = account.assess(30);
    assert_eq!(
        (
            reached.access,
            reached.position.unwrap().step,
            reached.due.len()
        ),
        (Access::Limited, Some(5), 1),
        "a step's consequences hold only once it ran"
    );
    account.evaluate(30);
    assert_eq!(account.assess(30).access, Access::None);
    account.evaluate(60);
    let end = account.assess(60);
    assert_eq!(end.status, BillingStatus::Collections);
    assert!(end.position.unwrap().exhausted);
}

/// killbill#2297: paying the older of several unpaid invoices moves the earliest unpaid date
/// forward; Kill Bill's next check stays where it was scheduled and skips a state. Here the
/// schedule is recomputed from the new anchor every day: every step is reached, in order.
#[test]
fn a_partial_payment_re_anchors_the_schedule_and_no_step_is_skipped() {
    use DunningAction::*;
    let mut policy = demo_policy();
    policy.steps = vec![
        step(5, &[notify(NoticeTemplate::Reminder)]),
        step(7, &[BlockChanges]),
        step(11, &[CancelContracts]),
    ];
    let mut account = Account::new(
        policy,
        vec![invoice(1_000, 0), invoice(1_000, 4), invoice(1_000, 8)],
    );
    let mut observed: Vec<(usize, u16)> = Vec::new();
    for day in 0..40 {
        if day == 6 {
            // Pays the two older invoices: the anchor moves from day 0 to day 8.
            pay(&mut account.invoices[0], 1_000);
            pay(&mut account.invoices[1], 1_000);
        }
        observed.extend(account.evaluate(day));
        let health = account.assess(day);
        if let Some(position) = &health.position {
            let anchor_due = position.anchor_due_at;
            assert_eq!(
                position.days_overdue,
                (t(day).unix_micros() - anchor_due.unix_micros()) / DAY
            );
        }
    }
    assert_eq!(
        observed,
        vec![(0, 0), (2, 0), (2, 1), (2, 2)],
        "the old anchor reached step 1; the new one walks every step from the first"
    );
    let blocked_first = account.assess(39);
    assert!(blocked_first.changes_blocked);
    assert_eq!(
        account.assess(14).position.unwrap().anchor_invoice_id,
        account.invoices[2].id
    );
}

fn contract(id: &str) -> Contract {
    let draft = Operation::Create(ContractDraft {
        buyer_id: "cus_1".into(),
        seller_id: None,
        seasoning_days: None,
        referrer_id: None,
        referral_share_bps: None,
        currency: "USD".into(),
        term: Term {
            start: t(-60),
            end: Some(t(300)),
            auto_renew: true,
            renewal_months: 12,
            notice_days: 30,
        },
        billing: BillingTerms {
            anchor_day: 1,
            payment_terms_days: 0,
            invoice_delivery: "email".into(),
            proration: Proration::Day,
        },
        trial_ends_at: None,
        trial_converts: true,
    });
    let line = Operation::AddLine {
        line_id: "l1".into(),
        product_id: "prod_api".into(),
        unit_amount: 1000,
        quantity: 1,
        timing: Timing::InAdvance,
        usage: None,
    };
    let mut c = apply(None, id, &draft, t(-60)).unwrap();
    c = apply(Some(c), id, &line, t(-60)).unwrap();
    apply(Some(c), id, &Operation::Activate, t(-60)).unwrap()
}

/// killbill#1997: a block must not take away a period the customer already paid for.
#[test]
fn a_suspension_respects_a_period_already_paid() {
    let id = ContractId::new().to_string();
    let contract_id = ContractId::parse(&id, "id").unwrap();
    let mut old = invoice(1_000, -40);
    old.contract_id = Some(contract_id.clone());
    // The next period (day 0 to 45) is prepaid; an older one-off charge stays unpaid.
    let mut prepaid = invoice(3_000, 0);
    prepaid.contract_id = Some(contract_id);
    prepaid.period_end = Some(t(45));
    pay(&mut prepaid, 3_000);
    let mut account = Account::new(demo_policy(), vec![old, prepaid]);
    account.contracts.push(contract(&id));
    account.evaluate(0);
    let suspended = account.assess(0);
    assert_eq!(suspended.access, Access::None, "40 days overdue: suspended");
    assert_eq!(
        (suspended.contracts[0].access, suspended.features()),
        (Access::Full, vec!["prod_api".to_owned()]),
        "paid through day 45"
    );
    assert!(suspended.has_reason("period_paid"));
    let after = account.assess(46);
    assert_eq!(
        (after.contracts[0].access, after.features()),
        (Access::None, vec![])
    );
}

fn retry(class: DeclineClass, method: &str) -> Retry {
    Retry {
        anchor_invoice_id: InvoiceId::new(),
        step: 1,
        at: t(3),
        payment_method_id: Some(method.into()),
        amount: 5_000,
        currency: usd(),
        outcome: RetryOutcome::Declined {
            class,
            code: "x".into(),
        },
    }
}

#[test]
fn a_hard_decline_is_never_retried_until_the_method_changes() {
    let mut account = Account::new(demo_policy(), vec![invoice(5_000, 0)]);
    account.evaluate(3);
    let retry_of = |account: &Account, day| {
        account
            .assess(day)
            .due
            .iter()
            .find(|d| d.actions.contains(&DunningAction::RetryPayment))
            .map(|d| d.retry_skipped)
    };
    let dunning = account.dunning.as_mut().unwrap();
    dunning.retries.push(retry(DeclineClass::Soft, "spm_1"));
    assert_eq!(
        retry_of(&account, 7),
        Some(None),
        "a soft decline is retried"
    );
    let dunning = account.dunning.as_mut().unwrap();
    dunning.retries.push(retry(DeclineClass::Hard, "spm_1"));
    assert_eq!(retry_of(&account, 7), Some(Some("hard_decline")));
    // A later step skipped for it (which charged nothing) does not forget the decline.
    let dunning = account.dunning.as_mut().unwrap();
    let mut skipped = retry(DeclineClass::Hard, "spm_1");
    skipped.outcome = RetryOutcome::Skipped {
        reason: "hard_decline".into(),
    };
    dunning.retries.push(skipped);
    assert_eq!(retry_of(&account, 7), Some(Some("hard_decline")));
    account.method = Some("spm_2".into());
    assert_eq!(retry_of(&account, 7), Some(None), "a new card is tried");
    account.method = None;
    assert_eq!(retry_of(&account, 7), Some(Some("no_payment_method")));
    let dunning = account.dunning.as_mut().unwrap();
    dunning
        .retries
        .push(retry(DeclineClass::AuthenticationRequired, "spm_3"));
    account.method = Some("spm_3".into());
    assert_eq!(retry_of(&account, 7), Some(Some("authentication_required")));
}

#[test]
fn balances_under_the_minimum_are_not_dunned() {
    let mut policy = demo_policy();
    policy.minimum_balances.insert(usd(), 500);
    let mut account = Account::new(policy, vec![invoice(499, 0)]);
    let health = account.assess(20);
    assert_eq!(
        (health.status, health.position.clone()),
        (BillingStatus::Active, None)
    );
    assert!(health.has_reason("balance_below_minimum"));
    account.invoices.push(invoice(1, 5));
    let health = account.assess(20);
    assert_eq!(health.status, BillingStatus::PastDue);
    assert_eq!(
        health.position.unwrap().anchor_invoice_id,
        account.invoices[0].id,
        "the anchor is the oldest unpaid invoice"
    );
}

#[test]
fn per_invoice_reminders_are_due_once() {
    let mut account = Account::new(demo_policy(), vec![invoice(100, 10)]);
    assert!(account.assess(0).notices.is_empty());
    assert_eq!(account.assess(8).notices[0].kind, "due_soon");
    account.invoices[0].reminders.push("due_soon".into());
    assert!(account.assess(9).notices.is_empty());
    assert_eq!(account.assess(11).notices[0].kind, "overdue");
}

#[test]
fn steps_are_validated() {
    use DunningAction::*;
    assert_eq!(validate_steps(&[]).unwrap_err().param, "steps");
    let unordered = [step(5, &[RetryPayment]), step(5, &[WriteOff])];
    assert_eq!(
        validate_steps(&unordered).unwrap_err().param,
        "steps[1].at_days"
    );
    let twice = [step(5, &[RetryPayment, RetryPayment])];
    assert_eq!(
        validate_steps(&twice).unwrap_err().param,
        "steps[0].actions[1]"
    );
    assert_eq!(
        validate_steps(&[step(731, &[WriteOff])]).unwrap_err().param,
        "steps[0].at_days"
    );
    assert!(validate_steps(&demo_policy().steps).is_ok());
    let json = serde_json::to_value(&demo_policy().steps[3]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"at_days": 14, "actions": [{"type": "retry_payment"},
            {"type": "notify", "template": "final_notice"}]})
    );
}

fn disputed(invoice: &mut Invoice, status: crate::dispute::DisputeStatus, day: i64) {
    use crate::dispute::{DisputeStatus, InvoiceDispute};
    let amount = invoice.total;
    invoice.disputes.push(InvoiceDispute {
        dispute_id: "dp_1".into(),
        payment_id: crate::id::PaymentId::new(),
        amount,
        status,
        opened_at: t(day - 10),
        closed_at: (status != DisputeStatus::Open).then(|| t(day)),
        reinstated: if status == DisputeStatus::Lost {
            amount
        } else {
            0
        },
    });
}

#[test]
fn an_open_dispute_stops_retries_and_owes_nothing_yet() {
    use crate::dispute::DisputeStatus;
    let mut paid = invoice(5_000, 0);
    pay(&mut paid, 5_000);
    disputed(&mut paid, DisputeStatus::Open, 2);
    let account = Account::new(demo_policy(), vec![paid, invoice(2_000, 10)]);
    let health = account.assess(13);
    assert!(
        health.has_reason("payment_disputed"),
        "{:?}",
        health.reasons
    );
    let retry = health.due.iter().find(|d| d.step == 1).unwrap();
    assert_eq!(retry.retry_skipped, Some("payment_disputed"));
    assert_eq!(
        health.position.unwrap().overdue[0].amount,
        2_000,
        "only what is unpaid"
    );
}

#[test]
fn a_lost_dispute_is_owed_again_from_the_day_it_was_lost() {
    use crate::dispute::DisputeStatus;
    // Paid, then a dispute lost on day 100 reopened it: not 100 days late, but due that day.
    let mut reopened = invoice(5_000, 0);
    disputed(&mut reopened, DisputeStatus::Lost, 100);
    let mut account = Account::new(demo_policy(), vec![reopened]);
    assert!(
        account.assess(100).position.is_none(),
        "due today, not late"
    );
    let health = account.assess(104);
    let position = health.position.clone().unwrap();
    assert_eq!((position.days_overdue, position.step), (4, Some(1)));
    assert!(health.has_reason("dispute_lost"));
    assert_eq!(health.due[1].retry_skipped, Some("payment_disputed"));
    assert_eq!(
        account.evaluate(104),
        vec![(0, 0), (0, 1)],
        "day 1 and 3 steps, not the day-60 write-off"
    );
}

#[test]
fn summaries_add_up_across_workspaces_without_their_ids() {
    let one =
        |policy: &str, started: u64, recovered: u64, seconds: i64, step: u16| CollectionsSummary {
            object: "collections_summary".into(),
            statuses: BTreeMap::from([("past_due".to_owned(), 2)]),
            steps: vec![StepCount {
                policy_id: Some(policy.into()),
                policy_version: 2,
                step: Some(step),
                accounts: 2,
            }],
            recoveries: vec![Recoveries {
                policy_id: Some(policy.into()),
                policy_version: 2,
                started,
                recovered,
                recovered_by_retries: BTreeMap::from([("USD".to_owned(), 100)]),
                seconds_to_recovery: seconds,
                ..Recoveries::default()
            }],
            retries: BTreeMap::from([("soft".to_owned(), 1)]),
            bad_debt: BTreeMap::from([(
                "USD".to_owned(),
                Drift {
                    written_off: 30,
                    collectible_overdue: 70,
                    bad_debt_share: 0.3,
                },
            )]),
        };
    let mut totals = SummaryTotals::default();
    totals.add(&one("dpol_a", 3, 1, 100, 1));
    totals.add(&one("dpol_b", 1, 1, 300, 2));
    assert_eq!(totals.statuses["past_due"], 4);
    assert_eq!(totals.steps, BTreeMap::from([(Some(1), 2), (Some(2), 2)]));
    let v2 = &totals.recoveries[&2];
    assert_eq!(
        (v2.started, v2.recovered, v2.recovered_by_retries["USD"]),
        (4, 2, 200)
    );
    assert_eq!(
        (v2.recovery_rate(), v2.mean_seconds_to_recovery()),
        (0.5, 200.0)
    );
    assert_eq!(totals.retries["soft"], 2);
    assert_eq!(totals.bad_debt["USD"], (60, 140));
    assert_eq!(RecoveryTotals::default().recovery_rate(), 0.0);
}
