//! Importing bank transactions and matching them to expected payments.
//!
//! One import is one transaction under the workspace's treasury lock: the open expectations
//! are read once into a [`Matcher`], every new line is decided in order (each match seen by the
//! lines after it), and the rows and events are written in chunks. A line recorded before (same
//! bank id or fingerprint) is skipped, so importing a statement twice changes nothing.

use std::collections::{HashMap, HashSet};

use bursar_domain::event::{Cause, NewEvent};
use bursar_domain::event_type as types;
use bursar_domain::id::{BankTransactionId, ExpectedPaymentId, ReconciliationItemId};
use bursar_domain::ledger::TransferId;
use bursar_domain::treasury::matching::{BankTransaction, Decision, Direction, Matcher};
use bursar_domain::treasury::objects::{
    BankTransactionObject, BankTransactionStatus, ExpectedPayment, ExpectedPaymentStatus,
    ImportSummary, ReconciliationItem, ReviewReason, ReviewStatus,
};
use bursar_domain::treasury::statement::StatementLine;
use bursar_store::events;
use bursar_store::treasury::{self, ExpectedUpdate};
use bursar_store::wallet::{self, Recipe, RecipeRequest};

use crate::error::Error;
use crate::write::Context;

/// Lines decided and written per round (bounded memory for any statement size).
const CHUNK: usize = 10_000;

/// An open expected payment as the import changes it.
struct Open {
    payment: ExpectedPayment,
    seq: i64,
    was_overdue: bool,
    changed: bool,
}

/// Everything an import reads once and changes as it goes.
struct Run {
    matcher: Matcher,
    open: Vec<Open>,
    by_id: HashMap<String, usize>,
    today: jiff::civil::Date,
    summary: ImportSummary,
}

impl Run {
    async fn load(cx: &mut Context<'_>) -> Result<Run, Error> {
        let rows = treasury::open_expected(cx.tx, cx.workspace_id).await?;
        let matcher = Matcher::new(rows.iter().map(|(p, _)| p.expectation()).collect());
        let by_id = rows
            .iter()
            .enumerate()
            .map(|(i, (p, _))| (p.id.to_string(), i))
            .collect();
        let open = rows
            .into_iter()
            .map(|(payment, seq)| Open {
                was_overdue: payment.status == ExpectedPaymentStatus::Overdue,
                payment,
                seq,
                changed: false,
            })
            .collect();
        Ok(Run {
            matcher,
            open,
            by_id,
            today: super::today(cx.now),
            summary: ImportSummary {
                object: "bank_transaction_import".into(),
                ..Default::default()
            },
        })
    }
}

/// What one chunk writes.
#[derive(Default)]
struct Written {
    transactions: Vec<BankTransactionObject>,
    items: Vec<ReconciliationItem>,
    firsts: Vec<(NewEvent, Cause)>,
    expected_events: Vec<(NewEvent, Cause)>,
    expected_sequences: Vec<i64>,
    funds: Vec<RecipeRequest>,
}

/// Records `lines` from `source` (`import`, `webhook`) and matches each new one; answers what
/// the import did.
pub async fn import(
    cx: &mut Context<'_>,
    source: &str,
    lines: Vec<StatementLine>,
) -> Result<ImportSummary, Error> {
    super::lock(cx.tx, cx.workspace_id).await?;
    let mut run = Run::load(cx).await?;
    run.summary.lines = lines.len();
    let mut seen: HashSet<String> = HashSet::new();
    for chunk in lines.chunks(CHUNK) {
        let ids: Vec<&str> = chunk.iter().map(|l| l.external_id.as_str()).collect();
        let known = treasury::known_external_ids(cx.tx, cx.workspace_id, &ids).await?;
        let mut written = Written::default();
        for line in chunk {
            if known.contains(&line.external_id) || !seen.insert(line.external_id.clone()) {
                run.summary.duplicates += 1;
                continue;
            }
            decide(&mut run, cx, source, line, &mut written);
        }
        write(cx, written).await?;
    }
    finish(cx, &mut run).await?;
    Ok(run.summary)
}

fn decide(run: &mut Run, cx: &Context<'_>, source: &str, line: &StatementLine, out: &mut Written) {
    let id = BankTransactionId::new();
    let transaction = BankTransaction {
        id: id.to_string(),
        ..line.transaction.clone()
    };
    let decision = run.matcher.apply(&transaction);
    let mut object = BankTransactionObject {
        id: id.clone(),
        object: "bank_transaction".into(),
        source: source.to_owned(),
        external_id: line.external_id.clone(),
        status: BankTransactionStatus::InReview,
        currency: transaction.currency,
        direction: transaction.direction,
        amount: transaction.amount,
        value_date: transaction.value_date,
        counterparty: transaction.counterparty.clone(),
        reference: transaction.reference.clone(),
        expected_payment_id: None,
        rule: None,
        created_at: cx.now,
    };
    match decision {
        Decision::Matched {
            expectation, rule, ..
        } => {
            run.summary.matched += 1;
            run.summary.matched_by_rule.count(rule);
            object.status = BankTransactionStatus::Matched;
            object.rule = Some(rule);
            object.expected_payment_id = Some(ExpectedPaymentId::from_trusted(expectation.clone()));
            if let Some(&index) = run.by_id.get(&expectation) {
                arrive(run, index, &object, cx, out);
            }
            out.firsts.push((
                transaction_event(types::BANK_TRANSACTION_MATCHED, &object),
                cx.cause.clone(),
            ));
        }
        Decision::Review(review) => {
            run.summary.in_review += 1;
            let (reason, candidates) = ReviewReason::of(&review);
            let item = new_item(reason, Some(id), None, candidates, cx);
            out.firsts.push((
                transaction_event(types::BANK_TRANSACTION_UNMATCHED, &object),
                cx.cause.clone(),
            ));
            out.firsts.push((
                item_event(types::RECONCILIATION_ITEM_CREATED, &item),
                cx.cause.clone(),
            ));
            out.items.push(item);
        }
    }
    out.transactions.push(object);
}

/// Money of `transaction` arrived on open expectation `index`: its amount and status move, its
/// event is recorded, its party is funded.
fn arrive(
    run: &mut Run,
    index: usize,
    transaction: &BankTransactionObject,
    cx: &Context<'_>,
    out: &mut Written,
) {
    let open = &mut run.open[index];
    let payment = &mut open.payment;
    payment.reconciled_amount = payment.reconciled_amount.saturating_add(transaction.amount);
    let status = payment.status_for(payment.reconciled_amount, run.today);
    if status == ExpectedPaymentStatus::Reconciled {
        run.summary.expected_payments_reconciled += 1;
    }
    payment.status = status;
    payment.updated_at = cx.now;
    open.seq += 1;
    open.changed = true;
    out.expected_events.push((
        super::event(super::status_event(status), payment),
        cx.cause.clone(),
    ));
    out.expected_sequences.push(open.seq);
    if let (Some(party), Direction::Credit) = (&payment.party_id, transaction.direction) {
        out.funds.push(RecipeRequest {
            id: TransferId::from_trusted(format!("fund_{}", transaction.id)),
            party: party.clone(),
            currency: transaction.currency,
            amount: transaction.amount,
            recipe: Recipe::Fund,
        });
    }
}

pub(super) fn new_item(
    reason: ReviewReason,
    bank_transaction_id: Option<BankTransactionId>,
    expected_payment_id: Option<ExpectedPaymentId>,
    candidates: Vec<String>,
    cx: &Context<'_>,
) -> ReconciliationItem {
    ReconciliationItem {
        id: ReconciliationItemId::new(),
        object: "reconciliation_item".into(),
        status: ReviewStatus::Open,
        reason,
        bank_transaction_id,
        expected_payment_id,
        candidates,
        note: None,
        snoozed_until: None,
        created_at: cx.now,
        updated_at: cx.now,
    }
}

pub(super) fn transaction_event(
    event_type: &'static str,
    object: &BankTransactionObject,
) -> NewEvent {
    NewEvent::new(
        event_type,
        "bank_transaction",
        object.id.as_str(),
        serde_json::json!({ "object": object }),
    )
}

pub(super) fn item_event(event_type: &'static str, item: &ReconciliationItem) -> NewEvent {
    NewEvent::new(
        event_type,
        "reconciliation_item",
        item.id.as_str(),
        serde_json::json!({ "object": item }),
    )
}

async fn write(cx: &mut Context<'_>, written: Written) -> Result<(), Error> {
    treasury::insert_transactions(cx.tx, cx.workspace_id, &written.transactions).await?;
    treasury::insert_items(cx.tx, cx.workspace_id, &written.items).await?;
    events::record_firsts(cx.tx, cx.workspace_id, &written.firsts, cx.now).await?;
    events::record_sequenced(
        cx.tx,
        cx.workspace_id,
        &written.expected_events,
        &written.expected_sequences,
        cx.now,
    )
    .await?;
    fund(cx, &written.funds).await
}

/// Credits each party's AVAILABLE with what arrived for it (once per bank transaction).
pub(super) async fn fund(cx: &mut Context<'_>, funds: &[RecipeRequest]) -> Result<(), Error> {
    for request in funds {
        wallet::run_recipe(cx.tx, cx.workspace_id, request, cx.now, cx.cause).await?;
    }
    Ok(())
}

/// Writes the final state of every expected payment the import changed, and closes the
/// overdue items of those it completed.
async fn finish(cx: &mut Context<'_>, run: &mut Run) -> Result<(), Error> {
    let changed: Vec<&Open> = run.open.iter().filter(|o| o.changed).collect();
    let updates: Vec<ExpectedUpdate<'_>> = changed
        .iter()
        .map(|o| ExpectedUpdate {
            id: o.payment.id.as_str(),
            status: o.payment.status,
            reconciled_amount: o.payment.reconciled_amount,
            event_seq: o.seq,
        })
        .collect();
    treasury::update_expected(cx.tx, cx.workspace_id, &updates, cx.now).await?;
    let late: Vec<ExpectedPaymentId> = changed
        .iter()
        .filter(|o| o.was_overdue && o.payment.status == ExpectedPaymentStatus::Reconciled)
        .map(|o| o.payment.id.clone())
        .collect();
    for id in late {
        super::review::close_overdue(cx, &id).await?;
    }
    Ok(())
}
