//! Importing bank transactions and matching them to expected payments.
//!
//! One import is one transaction under the workspace's treasury lock: the open expectations
//! its lines can reach (named by their references, or of the counterparties of lines the
//! reference rule may not decide) are read once into a [`Matcher`], every new line is decided in
//! order (each match seen by the lines after it), and the rows and events are written in
//! chunks. A line recorded before (same bank id or fingerprint) is skipped, so importing a
//! statement twice changes nothing. A large import gives the SQLite writer a larger page cache
//! for its transaction.

use std::collections::{HashMap, HashSet};

use bursar_domain::event::{Cause, NewEvent};
use bursar_domain::event_type as types;
use bursar_domain::id::{BankTransactionId, ExpectedPaymentId, ReconciliationItemId};
use bursar_domain::ledger::TransferId;
use bursar_domain::treasury::matching::{
    normalize_reference, BankTransaction, Decision, Direction, Matcher,
};
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
    /// Loaded expectations by normalised reference (indexes into `open`).
    by_reference: HashMap<String, Vec<usize>>,
    /// Counterparties whose every open expectation is loaded.
    parties: HashSet<String>,
    today: jiff::civil::Date,
    summary: ImportSummary,
}

impl Run {
    /// Loads the open expectations `lines` can reach, not the workspace's every one: those
    /// their references name, and those of the counterparties of every line that may fall
    /// through to the rules by amount and date (see [`Run::may_fall_through`]). Decisions are
    /// those a matcher over every open expectation would take.
    async fn load(cx: &mut Context<'_>, lines: &[StatementLine]) -> Result<Run, Error> {
        let mut run = Run {
            matcher: Matcher::default(),
            open: Vec::new(),
            by_id: HashMap::new(),
            by_reference: HashMap::new(),
            parties: HashSet::new(),
            today: super::today(cx.now),
            summary: ImportSummary {
                object: "bank_transaction_import".into(),
                ..Default::default()
            },
        };
        let quoted = quoted_references(lines);
        let keys: Vec<String> = quoted.keys().cloned().collect();
        run.add(treasury::open_expected_by_references(cx.tx, cx.workspace_id, &keys).await?);
        loop {
            let wanted = run.parties_wanted(lines, &quoted);
            if wanted.is_empty() {
                return Ok(run);
            }
            let rows =
                treasury::open_expected_by_counterparties(cx.tx, cx.workspace_id, &wanted).await?;
            run.parties.extend(wanted);
            run.add(rows);
        }
    }

    fn add(&mut self, rows: Vec<treasury::Sequenced<ExpectedPayment>>) {
        for (payment, seq) in rows {
            if self.by_id.contains_key(payment.id.as_str()) {
                continue;
            }
            let index = self.open.len();
            self.by_id.insert(payment.id.to_string(), index);
            if let Some(reference) = &payment.reference {
                self.by_reference
                    .entry(normalize_reference(reference))
                    .or_default()
                    .push(index);
            }
            self.matcher.add(payment.expectation());
            self.open.push(Open {
                was_overdue: payment.status == ExpectedPaymentStatus::Overdue,
                payment,
                seq,
                changed: false,
            });
        }
    }

    /// Counterparties not loaded yet of the lines that may fall through to the rules by amount
    /// and date.
    fn parties_wanted(
        &self,
        lines: &[StatementLine],
        quoted: &HashMap<String, usize>,
    ) -> Vec<String> {
        let mut wanted: Vec<String> = lines
            .iter()
            .filter_map(|line| {
                let party = line.transaction.counterparty.as_ref()?;
                (!self.parties.contains(party) && self.may_fall_through(line, quoted))
                    .then(|| party.clone())
            })
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        wanted
    }

    /// Whether the reference rule may not decide `line`: it has no reference, or its reference
    /// names no open expectation of its currency and direction, or what it names may be
    /// completed by another line first (by one quoting the same reference, or by the rules by
    /// amount and date through a counterparty loaded whole). Decided lines only complete
    /// expectations these reach, so every line that falls through has its counterparty loaded.
    fn may_fall_through(&self, line: &StatementLine, quoted: &HashMap<String, usize>) -> bool {
        let transaction = &line.transaction;
        let Some(reference) = transaction.reference.as_deref() else {
            return true;
        };
        let key = normalize_reference(reference);
        if quoted.get(&key).copied().unwrap_or(0) > 1 {
            return true;
        }
        let named: Vec<&ExpectedPayment> = self
            .by_reference
            .get(&key)
            .into_iter()
            .flatten()
            .map(|&i| &self.open[i].payment)
            .filter(|p| p.currency == transaction.currency && p.direction == transaction.direction)
            .collect();
        named.is_empty()
            || named.iter().any(|p| {
                p.counterparty
                    .as_ref()
                    .is_some_and(|party| self.parties.contains(party))
            })
    }
}

/// How many lines quote each normalised reference.
fn quoted_references(lines: &[StatementLine]) -> HashMap<String, usize> {
    let mut quoted = HashMap::new();
    for line in lines {
        if let Some(reference) = line.transaction.reference.as_deref() {
            *quoted.entry(normalize_reference(reference)).or_default() += 1;
        }
    }
    quoted
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
    // Small imports (a webhook's line) keep the writer's hot cache as it is.
    let large = lines.len() > CHUNK;
    if large {
        treasury::import_page_cache(cx.tx, true).await?;
    }
    let imported = import_lines(cx, source, lines).await;
    if large {
        treasury::import_page_cache(cx.tx, false).await?;
    }
    imported
}

async fn import_lines(
    cx: &mut Context<'_>,
    source: &str,
    lines: Vec<StatementLine>,
) -> Result<ImportSummary, Error> {
    super::lock(cx.tx, cx.workspace_id).await?;
    let mut run = Run::load(cx, &lines).await?;
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
