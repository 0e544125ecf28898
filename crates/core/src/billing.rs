//! Billing runs: each active contract's periods become draft invoices — a period's fixed fees
//! in advance (at least each line's minimum commitment), and for the period before: the fees
//! billed in arrears, the usage of the meters rated by each usage line's pricing model, and the
//! prorations of changes — once; a contract that ends gets a final invoice for its last
//! period's arrears.
//!
//! Once is guaranteed three ways: the contract's row is locked while it is billed (PostgreSQL;
//! SQLite has one writer), the run checks for an invoice with the period's billing key, and a
//! unique index on that key refuses a second one. Contracts are billed in batches, each batch
//! in one transaction together with each contract's `mark_billed` operation (its periods before
//! the billed one are closed to back-dated changes) and the close of the usage it billed, so a
//! run killed part-way leaves whole batches billed or not, and a rerun finishes the rest.

use bursar_domain::contract::{
    self as contracts_domain, line_amount, ContractLine, ContractStatus, LogEntry, Operation,
    Timing, UsagePricing,
};
use bursar_domain::event::{Cause, NewEvent};
use bursar_domain::event_type;
use bursar_domain::id::*;
use bursar_domain::invoice::*;
use bursar_domain::jobs::JobKind;
use bursar_domain::metering::Meter;
use bursar_domain::money::Currency;
use bursar_domain::proration::{prorate, span, ProrationOverflow};
use bursar_domain::rating::{true_up, Dec};
use bursar_domain::subscription::{derive, period_of};
use bursar_domain::time::Timestamp;
use bursar_store::documents::{self, INVOICE, PRODUCT, TAX_RATE};
use bursar_store::{contracts, invoices, metering, Tx};
use futures::StreamExt;
use serde_json::json;

use crate::error::Error;
use crate::job_attempts::Pass;
use crate::write::Context;
use crate::App;

pub enum Outcome {
    /// Draft invoices made, one per period billed (usually one).
    Created(Vec<InvoiceId>),
    AlreadyBilled,
    Skipped,
}

pub fn day(at: Timestamp) -> String {
    at.to_rfc3339()[..10].to_owned()
}

/// At most this many periods of one contract are billed by one run: a contract whose billing
/// fell behind (no run over a period's start) catches up over the next runs.
pub const CATCH_UP_PERIODS: usize = 12;

/// Bills one contract, in the caller's transaction: its period holding `as_of` and any period
/// since the last one billed that no run billed yet.
pub async fn bill_contract(
    cx: &mut Context<'_>,
    contract_id: &str,
    as_of: Timestamp,
    batch: &mut Batch,
) -> Result<Outcome, Error> {
    let mut log = contracts::log(cx.tx, cx.workspace_id, contract_id, true).await?;
    // Not billable now: looked at again when its next operation takes effect, or in a day.
    let later = |log: &[LogEntry]| {
        log.iter()
            .map(|e| e.effective_at)
            .filter(|at| *at > as_of)
            .min()
            .unwrap_or(as_of.plus_seconds(86_400))
            .min(as_of.plus_seconds(86_400))
    };
    let Some(contract) = project(contract_id, &log, as_of, as_of)? else {
        invoices::set_bill_at(cx.tx, cx.workspace_id, contract_id, later(&log)).await?;
        return Ok(Outcome::Skipped);
    };
    if let (Some(billed), Some(ended)) =
        (contract.billed_through, ended_at(contract_id, &log, as_of)?)
    {
        // Ended after it was billed: its last period's arrears (usage, fees billed after the
        // period, changes) on a final invoice, once.
        let (last_start, last_end) = period_of(
            contract.billing.anchor_day,
            Timestamp::from_unix_micros(ended.unix_micros() - 1),
        );
        let outcome =
            if ended > billed && last_start >= billed && contract.buyer_id.starts_with("cus_") {
                let period = Period {
                    start: ended,
                    end: last_end,
                    last: true,
                };
                match bill_period(cx, contract_id, &mut log, period, as_of, batch).await? {
                    Some(id) => Outcome::Created(vec![id]),
                    None => Outcome::AlreadyBilled,
                }
            } else {
                Outcome::Skipped
            };
        // Nothing more to bill unless the contract changes (which makes it due again).
        let never = as_of.plus_seconds(10 * 365 * 86_400);
        invoices::set_bill_at(cx.tx, cx.workspace_id, contract_id, never).await?;
        return Ok(outcome);
    }
    if contract.status != ContractStatus::Active || !contract.buyer_id.starts_with("cus_") {
        invoices::set_bill_at(cx.tx, cx.workspace_id, contract_id, later(&log)).await?;
        return Ok(Outcome::Skipped);
    }
    let anchor = contract.billing.anchor_day;
    let (current, _) = period_of(anchor, as_of);
    // A contract's first billing bills the period holding `as_of` (with the period before it
    // in arrears); later runs bill every period after the last one billed.
    let mut start = match contract.billed_through {
        Some(billed) if billed < current => period_of(anchor, billed).1,
        _ => current,
    };
    let mut created = Vec::new();
    let mut billable = false;
    for _ in 0..CATCH_UP_PERIODS {
        if start > current {
            break;
        }
        let (_, end) = period_of(anchor, start);
        if contract.trial_ends_at.is_none_or(|t| t <= start) {
            billable = true;
            if let Some(id) = bill_period(
                cx,
                contract_id,
                &mut log,
                Period {
                    start,
                    end,
                    last: false,
                },
                as_of,
                batch,
            )
            .await?
            {
                created.push(id);
            }
        }
        start = end;
    }
    // Due again when the next period starts (at once if it has periods left to catch up on).
    let next = if start > current {
        period_of(anchor, as_of).1
    } else {
        as_of
    };
    let next = contract
        .trial_ends_at
        .filter(|t| *t > as_of)
        .map_or(next, |t| t.min(next));
    invoices::set_bill_at(cx.tx, cx.workspace_id, contract_id, next).await?;
    Ok(if !created.is_empty() {
        Outcome::Created(created)
    } else if billable {
        Outcome::AlreadyBilled
    } else {
        Outcome::Skipped
    })
}

pub fn project(
    contract_id: &str,
    log: &[LogEntry],
    at: Timestamp,
    as_of: Timestamp,
) -> Result<Option<contracts_domain::Contract>, Error> {
    contracts_domain::project(contract_id, log, at, as_of).map_err(|_| Error::internal())
}

pub async fn product_name(
    cx: &mut Context<'_>,
    batch: &mut Batch,
    product_id: &str,
) -> Result<String, Error> {
    if let Some(name) = batch.products.get(product_id) {
        return Ok(name.clone());
    }
    let name =
        documents::get::<serde_json::Value>(cx.tx, PRODUCT, cx.workspace_id, product_id, false)
            .await?
            .and_then(|p| p["name"].as_str().map(str::to_owned))
            .unwrap_or_else(|| product_id.to_owned());
    batch.products.insert(product_id.to_owned(), name.clone());
    Ok(name)
}

/// What the contracts billed in one transaction share.
pub struct Batch {
    /// Customers whose usage is closed, and until when.
    closes: Vec<(String, Timestamp)>,
    /// The invoice settings' tax rate for billed lines.
    tax: Option<TaxRate>,
    /// Product names and meters, read once per batch.
    products: std::collections::HashMap<String, String>,
    meters: std::collections::HashMap<String, Option<Meter>>,
    /// Usage subjects this transaction holds locked (PostgreSQL).
    locked: std::collections::HashSet<String>,
}

/// A fixed fee's invoice line for a period: unit amount × quantity, or the line's minimum
/// commitment when that is more.
pub fn fixed_line(
    line: &ContractLine,
    product: &str,
    (start, end): (Timestamp, Timestamp),
    tax: Option<&TaxRate>,
) -> Result<InvoiceLine, Error> {
    let amount = line_amount(line).ok_or_else(|| {
        Error::invalid(
            "amount_overflow",
            None,
            "A contract line's amount overflows.",
        )
    })?;
    let period = format!("{} to {}", day(start), day(end));
    let plain = line.unit_amount.checked_mul(line.quantity) == Some(amount);
    let (description, quantity, unit) = if plain {
        (
            format!("{product}, {period}"),
            line.quantity,
            line.unit_amount,
        )
    } else {
        (
            format!("{product}, {period} (minimum commitment)"),
            1,
            amount,
        )
    };
    let mut invoice_line = InvoiceLine::new(
        LineKind::Fixed,
        description,
        quantity,
        unit,
        0,
        tax,
        Some((start, end)),
        "lines",
    )?;
    invoice_line.rating = Some(json!({
        "model": "flat_per_period", "contract_line_id": line.id, "timing": line.timing,
        "unit_amount": line.unit_amount, "quantity": line.quantity,
        "minimum_commitment": line.minimum_commitment,
    }));
    Ok(invoice_line)
}

/// A usage line's invoice lines for a window: the meter's usage by the customer, rated by the
/// line's pricing model, and a true-up to its minimum commitment if the usage came to less.
pub async fn usage_lines(
    cx: &mut Context<'_>,
    line: &ContractLine,
    usage: &UsagePricing,
    customer: &str,
    (from, to): (Timestamp, Timestamp),
    period: (Timestamp, Timestamp),
    batch: &mut Batch,
) -> Result<Vec<InvoiceLine>, Error> {
    if !batch.meters.contains_key(&usage.meter) {
        let found = metering::find_meter(cx.tx, cx.workspace_id, &usage.meter)
            .await?
            .filter(|m| m.deleted_at.is_none());
        batch.meters.insert(usage.meter.clone(), found);
    }
    let meter = batch
        .meters
        .get(&usage.meter)
        .cloned()
        .flatten()
        .ok_or_else(|| {
            Error::invalid(
                "meter_missing",
                None,
                format!(
                    "Contract line {} rates meter '{}', which does not exist.",
                    line.id, usage.meter
                ),
            )
        })?;
    let subjects = metering::subjects_of(cx.tx, cx.workspace_id, customer).await?;
    // No event of these subjects is counted while their usage is read and closed (locked when
    // the batch began; here only a subject registered since).
    let unlocked: Vec<&str> = subjects
        .iter()
        .filter(|s| !batch.locked.contains(*s))
        .map(String::as_str)
        .collect();
    metering::lock_subjects(cx.tx, cx.workspace_id, &unlocked, true).await?;
    batch
        .locked
        .extend(unlocked.iter().map(|s| (*s).to_owned()));
    let seconds = |at: Timestamp| at.unix_micros().div_euclid(1_000_000);
    let value = crate::metering::usage_total(
        cx.tx,
        &meter,
        &subjects,
        (seconds(from), seconds(to.max(from))),
        &usage.filter_group_by,
    )
    .await?;
    let quantity = Dec::from_f64(value).unwrap_or(Dec::ZERO);
    let rated = usage.pricing.rate(quantity);
    let product = product_name(cx, batch, &line.product_id).await?;
    let tax = batch.tax.as_ref();
    let mut lines = Vec::new();
    let mut rated_line = InvoiceLine::new(
        LineKind::Usage,
        format!(
            "{product}: {} {} ({}), {} to {}",
            rated.quantity,
            meter.name,
            rated.model.replace('_', " "),
            day(from),
            day(to)
        ),
        1,
        rated.amount,
        0,
        tax,
        Some(period),
        "lines",
    )?;
    rated_line.rating = Some(json!({
        "contract_line_id": line.id, "meter": meter.slug, "aggregation": meter.aggregation,
        "usage_from": from, "usage_to": to, "filter_group_by": usage.filter_group_by,
        "pricing": usage.pricing, "rated": rated,
    }));
    lines.push(rated_line);
    let top_up = true_up(rated.amount, line.minimum_commitment);
    if top_up > 0 {
        let mut commitment = InvoiceLine::new(
            LineKind::Usage,
            format!("{product}: minimum commitment true-up"),
            1,
            top_up,
            0,
            tax,
            Some(period),
            "lines",
        )?;
        commitment.rating = Some(json!({
            "model": "minimum_commitment", "contract_line_id": line.id,
            "minimum_commitment": line.minimum_commitment, "rated": rated.amount, "true_up": top_up,
        }));
        lines.push(commitment);
    }
    Ok(lines)
}

/// When an ended (terminated or expired) contract ended, as known at `as_of`.
pub fn ended_at(
    contract_id: &str,
    log: &[LogEntry],
    as_of: Timestamp,
) -> Result<Option<Timestamp>, Error> {
    let mut ends: Vec<Timestamp> = log
        .iter()
        .filter(|e| e.recorded_at <= as_of && e.effective_at <= as_of)
        .filter(|e| {
            matches!(
                e.operation,
                Operation::Terminate { at: None, .. } | Operation::Expire | Operation::EndTrial
            )
        })
        .map(|e| e.effective_at)
        .collect();
    ends.sort();
    for at in ends {
        let ended = project(contract_id, log, at, as_of)?.is_some_and(|c| {
            matches!(
                c.status,
                ContractStatus::Terminated | ContractStatus::Expired
            )
        });
        if ended {
            return Ok(Some(at));
        }
    }
    Ok(None)
}

/// What `bill_period` bills: the period `[start, end)` (fees in advance, and the period
/// before in arrears); or, `last`, only the arrears of the period the contract ended in, up to
/// `start` (its end).
pub struct Period {
    start: Timestamp,
    end: Timestamp,
    last: bool,
}

/// When the contract was first activated.
pub fn activated_at(log: &[LogEntry], as_of: Timestamp) -> Option<Timestamp> {
    log.iter()
        .filter(|e| e.recorded_at <= as_of && matches!(e.operation, Operation::Activate))
        .map(|e| e.effective_at)
        .min()
}

/// Bills one period of a contract (`None`: billed before): a draft invoice with the period's
/// fees in advance, and the period before's fees in arrears, rated usage and prorations.
pub async fn bill_period(
    cx: &mut Context<'_>,
    contract_id: &str,
    log: &mut Vec<LogEntry>,
    Period { start, end, last }: Period,
    as_of: Timestamp,
    batch: &mut Batch,
) -> Result<Option<InvoiceId>, Error> {
    let billing_key = if last {
        format!("{contract_id}:final")
    } else {
        format!("{contract_id}:{}", start.to_rfc3339())
    };
    if invoices::billed(cx.tx, cx.workspace_id, &billing_key).await? {
        return Ok(None);
    }
    let Some(contract) = project(contract_id, log, as_of, as_of)? else {
        return Ok(None);
    };
    let currency = Currency::parse(&contract.currency, "currency")?;
    let anchor = contract.billing.anchor_day;
    let began = contract
        .term
        .start
        .max(activated_at(log, as_of).unwrap_or(contract.term.start));
    let mut lines = Vec::new();
    // This period's fixed fees, in advance, as the contract stands at its start (or when it
    // began, inside it).
    let at_start = project(contract_id, log, start.max(began), as_of)?.unwrap_or(contract.clone());
    for line in at_start
        .lines
        .iter()
        .filter(|l| !last && l.usage.is_none() && l.timing == Timing::InAdvance)
    {
        let product = product_name(cx, batch, &line.product_id).await?;
        lines.push(fixed_line(
            line,
            &product,
            (start, end),
            batch.tax.as_ref(),
        )?);
    }
    // The period before, in arrears: its fees billed after it, its usage, its changes.
    let before = Timestamp::from_unix_micros(start.unix_micros() - 1);
    let (previous_start, _) = period_of(anchor, before);
    // When the period before was billed in advance (its fees then reflected every change at its
    // start known by then).
    // (Log positions order what was recorded, also within one instant.)
    let previous_billed = log
        .iter()
        .filter(|e| matches!(e.operation, Operation::MarkBilled { through } if through == previous_start))
        .map(|e| e.seq)
        .min();
    let mut closes_usage = false;
    if began < start {
        let from = previous_start.max(began);
        // In-arrears fees at the period's start as known when the period was billed in
        // advance: a change at that very instant recorded later is a proration below.
        let known_then: Vec<LogEntry> = log
            .iter()
            .filter(|e| previous_billed.is_none_or(|billed| e.seq < billed))
            .cloned()
            .collect();
        let at_previous = project(contract_id, &known_then, from, as_of)?;
        let at_end = project(contract_id, log, before, as_of)?;
        // A period spent in trial owes no fees.
        let in_trial = contract.trial_ends_at.is_some_and(|t| t >= start);
        if let Some(previous) = at_previous.as_ref().filter(|_| !in_trial) {
            for line in previous
                .lines
                .iter()
                .filter(|l| l.usage.is_none() && l.timing == Timing::InArrears)
            {
                let product = product_name(cx, batch, &line.product_id).await?;
                let mut fee =
                    fixed_line(line, &product, (previous_start, start), batch.tax.as_ref())?;
                if last {
                    // The period the contract ended in: its share of the fee, by the second.
                    let overflow = |e: ProrationOverflow| {
                        Error::invalid("period_invalid", None, e.to_string())
                    };
                    let used = span(previous_start.unix_micros(), start.unix_micros());
                    let whole = span(previous_start.unix_micros(), end.unix_micros());
                    let share = prorate(
                        fee.amount,
                        used.map_err(overflow)?,
                        whole.map_err(overflow)?,
                    );
                    let rating = fee.rating.take();
                    fee = InvoiceLine::new(
                        LineKind::Fixed,
                        format!("{} (to the contract's end)", fee.description),
                        1,
                        share,
                        0,
                        batch.tax.as_ref(),
                        Some((previous_start, start)),
                        "lines",
                    )?;
                    fee.rating = rating;
                }
                lines.push(fee);
            }
        }
        // Usage lines in effect at any time of the period; usage counts from the trial's end.
        let mut usage_lines_seen: Vec<&ContractLine> = Vec::new();
        for line in at_end
            .iter()
            .chain(at_previous.iter())
            .flat_map(|c| &c.lines)
        {
            if line.usage.is_some() && !usage_lines_seen.iter().any(|l| l.id == line.id) {
                usage_lines_seen.push(line);
            }
        }
        let usage_from = contract.trial_ends_at.map_or(from, |t| t.max(from));
        for line in usage_lines_seen {
            let Some(usage) = &line.usage else { continue };
            lines.extend(
                usage_lines(
                    cx,
                    line,
                    usage,
                    &contract.buyer_id,
                    (usage_from, start),
                    (previous_start, start),
                    batch,
                )
                .await?,
            );
            closes_usage = true;
        }
    }
    // The period before's changes, as known now: back-dated changes recorded since count too.
    let known_now: Vec<_> = log
        .iter()
        .filter(|e| e.recorded_at <= as_of && e.effective_at <= before)
        .map(|e| LogEntry {
            recorded_at: e.recorded_at.min(before),
            ..e.clone()
        })
        .collect();
    if let Some(previous) = derive(contract_id, &known_now, before) {
        for item in previous
            .proration_items
            .iter()
            .filter(|i| i.period_start == previous_start && i.amount != 0)
            // A change at the period's first instant is in the fees billed for it, unless it
            // was recorded after they were.
            .filter(|i| {
                i.effective_at > previous_start
                    || previous_billed.is_some_and(|billed| i.contract_seq > billed)
            })
        {
            lines.push(InvoiceLine::new(
                LineKind::Proration,
                format!(
                    "Change on {} (prorated to {})",
                    day(item.effective_at),
                    day(item.period_end)
                ),
                1,
                item.amount,
                0,
                batch.tax.as_ref(),
                Some((item.effective_at, item.period_end)),
                "lines",
            )?);
        }
    }
    if closes_usage {
        // The billed usage is final: events for it arriving later count in the open period
        // (closed at the end of the batch).
        batch.closes.push((contract.buyer_id.clone(), start));
    }
    let customer_id = CustomerId::from_trusted(contract.buyer_id.clone());
    let mut invoice = Invoice::draft(
        customer_id,
        currency,
        lines,
        contract.billing.payment_terms_days,
        cx.now,
    )?;
    invoice.contract_id = ContractId::parse(contract_id, "contract_id").ok();
    if last {
        invoice.period_start = Some(previous_start);
        invoice.period_end = Some(start);
    } else {
        invoice.period_start = Some(start);
        invoice.period_end = Some(end);
    }
    documents::insert(
        cx.tx,
        INVOICE,
        cx.workspace_id,
        invoice.id.as_str(),
        &invoice,
        &[
            ("customer_id", invoice.customer_id.as_str().into()),
            ("status", "draft".into()),
            ("billing_key", billing_key.as_str().into()),
        ],
    )
    .await?;
    cx.emit(NewEvent::new(
        event_type::INVOICE_CREATED,
        "invoice",
        invoice.id.as_str(),
        json!({ "object": invoice, "billing_key": billing_key }),
    ))
    .await?;
    // The periods before this one are closed to back-dated changes.
    if !last && contract.billed_through.is_none_or(|b| b < start) {
        crate::contracts::append(
            cx,
            contract_id,
            log,
            Operation::MarkBilled { through: start },
            cx.now,
        )
        .await?;
    }
    Ok(Some(invoice.id))
}

/// How often the server's billing loop runs: a contract whose billing failed is tried again
/// on the next pass (its job run shows why).
pub const PASS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Bills the contracts due at the clock's now, in every workspace (the server's billing loop):
/// each contract's period starts are billed within a minute, and contracts not due are not
/// visited. A contract that fails is a `billing` job run; one cancelled from the job monitor
/// is skipped until retried. Returns the invoices made.
pub async fn run_due_billing(state: &App) -> Result<usize, Error> {
    let cause = Cause {
        request_id: None,
        actor: Some("system:billing".into()),
    };
    let pass = Pass::begin(state, JobKind::Billing, PASS_INTERVAL).await?;
    let mut made = 0;
    loop {
        let now = state.db.now();
        let due = state
            .db
            .read(move |tx: &mut Tx| {
                Box::pin(async move { invoices::contracts_due(tx, now, DUE_BATCH).await })
            })
            .await?;
        let count = due.len();
        let mut by_workspace: std::collections::BTreeMap<WorkspaceId, Vec<String>> =
            std::collections::BTreeMap::new();
        let mut skipped = 0;
        for (workspace_id, contract_id) in due {
            if pass.skips(&workspace_id, &contract_id) {
                skipped += 1;
                continue;
            }
            by_workspace
                .entry(workspace_id)
                .or_default()
                .push(contract_id);
        }
        let mut failed = 0;
        for (workspace_id, ids) in by_workspace {
            let started = std::time::Instant::now();
            let (run, errors) = bill_each(state, &workspace_id, ids.clone(), now, &cause).await;
            made += run.invoices_created.len();
            failed += errors.len();
            for id in &ids {
                let error = errors
                    .iter()
                    .find(|(failed, _)| failed == id)
                    .map(|(_, e)| e);
                let outcome = error.map_or(Ok(()), Err);
                pass.record(state, &workspace_id, id, started, outcome)
                    .await;
            }
        }
        // A full batch may have more behind it; failures and skipped contracts wait for the
        // next tick.
        if count < DUE_BATCH as usize || failed > 0 || skipped > 0 {
            return Ok(made);
        }
    }
}

/// Issues the drafts billing runs made once they are older than their workspace's
/// `auto_issue_after_hours` (the server's billing loop), each in its own transaction; a draft
/// that cannot be issued is logged and left for a person. Returns the invoices issued.
pub async fn issue_due_drafts(state: &App) -> Result<usize, Error> {
    let workspaces = state
        .db
        .read(|tx: &mut Tx| {
            Box::pin(async move { invoices::workspaces_with_billed_drafts(tx).await })
        })
        .await?;
    let cause = Cause {
        request_id: None,
        actor: Some("system:billing".into()),
    };
    let mut issued = 0;
    for workspace_id in workspaces {
        // Only workspaces that issue automatically have their drafts read.
        let ws = workspace_id.clone();
        let drafts = state
            .db
            .read(move |tx: &mut Tx| {
                Box::pin(async move {
                    let settings = crate::invoices::load_settings(tx, &ws).await?;
                    let Some(hours) = settings.auto_issue_after_hours else {
                        return Ok(Vec::new());
                    };
                    let drafts = invoices::billed_drafts(tx, &ws).await?;
                    Ok::<_, Error>(drafts.into_iter().map(|d| (hours, d)).collect::<Vec<_>>())
                })
            })
            .await?;
        for (hours, (invoice_id, body)) in drafts {
            let Ok(draft) = serde_json::from_str::<Invoice>(&body) else {
                continue;
            };
            let now = state.db.now();
            if draft.created_at.plus_seconds(i64::from(hours) * 3600) > now {
                continue;
            }
            let (ws, cause, id) = (workspace_id.clone(), cause.clone(), invoice_id.clone());
            let result = state
                .db
                .write(move |tx: &mut Tx| {
                    Box::pin(async move {
                        let mut cx = Context {
                            tx,
                            workspace_id: &ws,
                            now,
                            cause: &cause,
                        };
                        crate::invoices::issue(&mut cx, &id).await
                    })
                })
                .await;
            match result {
                Ok(_) => issued += 1,
                Err(error) => {
                    tracing::warn!(invoice = %invoice_id, code = error.code, message = %error.message, "issuing a billed draft failed")
                }
            }
        }
    }
    Ok(issued)
}

/// Contracts read per batch of the billing loop.
pub const DUE_BATCH: i64 = 1_000;

/// Records a finished billing run (`billing_run.completed`) under a fresh id: each run is its
/// own aggregate, so concurrent runs never contend for one event sequence.
pub async fn record_run(cx: &mut Context<'_>, mut run: BillingRun) -> Result<BillingRun, Error> {
    let run_id = format!(
        "brun_{}",
        ulid::Ulid::new().to_string().to_ascii_lowercase()
    );
    run.id = Some(run_id.clone());
    cx.emit(NewEvent::new(
        event_type::BILLING_RUN_COMPLETED,
        "billing_run",
        &run_id,
        json!({ "object": run }),
    ))
    .await?;
    Ok(run)
}

/// Bills every contract of a workspace for the period holding `as_of` (and periods missed
/// since its last billing), in batches; what was billed before is left alone.
pub async fn run_billing(
    state: &App,
    workspace_id: &WorkspaceId,
    as_of: Timestamp,
    cause: &Cause,
) -> Result<BillingRun, Error> {
    let ws = workspace_id.clone();
    let ids = state
        .db
        .read(move |tx: &mut Tx| Box::pin(async move { invoices::open_contracts(tx, &ws).await }))
        .await?;
    Ok(bill_contracts(state, workspace_id, ids, as_of, cause).await)
}

/// Contracts billed per transaction: fewer commits; a batch that fails is retried one contract
/// per transaction, so one contract's failure holds up no other.
pub const BATCH: usize = 64;

pub type BatchResult = Result<Vec<Outcome>, Error>;

/// Batches billed at once.
pub const PARALLEL_BATCHES: usize = 4;

pub async fn bill_contracts(
    state: &App,
    workspace_id: &WorkspaceId,
    ids: Vec<String>,
    as_of: Timestamp,
    cause: &Cause,
) -> BillingRun {
    bill_each(state, workspace_id, ids, as_of, cause).await.0
}

/// Bills contracts as [`bill_contracts`] does; also answers why each failed contract failed.
pub async fn bill_each(
    state: &App,
    workspace_id: &WorkspaceId,
    ids: Vec<String>,
    as_of: Timestamp,
    cause: &Cause,
) -> (BillingRun, Vec<(String, Error)>) {
    let mut run = BillingRun {
        object: "billing_run".into(),
        as_of: Some(as_of),
        contracts: ids.len(),
        ..BillingRun::default()
    };
    // Batches in parallel (PostgreSQL bills them on several connections; SQLite's one writer
    // takes them in turn).
    let batches: Vec<Vec<String>> = ids.chunks(BATCH).map(<[String]>::to_vec).collect();
    let results: Vec<(Vec<String>, BatchResult)> = futures::stream::iter(batches)
        .map(|batch| {
            let (state, workspace_id, cause) = (state.clone(), workspace_id.clone(), cause.clone());
            async move {
                let result = bill_batch(&state, &workspace_id, batch.clone(), as_of, &cause).await;
                (batch, result)
            }
        })
        .buffered(PARALLEL_BATCHES)
        .collect()
        .await;
    let mut errors = Vec::new();
    for (batch, result) in results {
        let retried = match result {
            Ok(outcomes) => {
                outcomes.into_iter().for_each(|o| tally(&mut run, o));
                continue;
            }
            // One contract failed the batch: each alone finds which.
            Err(_) if batch.len() > 1 => {
                let mut alone = Vec::with_capacity(batch.len());
                for id in batch {
                    let result = bill_batch(state, workspace_id, vec![id.clone()], as_of, cause);
                    alone.push((id, result.await));
                }
                alone
            }
            Err(error) => vec![(batch[0].clone(), Err(error))],
        };
        for (id, result) in retried {
            match result {
                Ok(outcomes) => outcomes.into_iter().for_each(|o| tally(&mut run, o)),
                Err(error) => {
                    tracing::warn!(contract = %id, code = error.code, message = %error.message, "billing a contract failed");
                    run.failed.push(id.clone());
                    errors.push((id, error));
                }
            }
        }
    }
    (run, errors)
}

pub fn tally(run: &mut BillingRun, outcome: Outcome) {
    match outcome {
        Outcome::Created(made) => run.invoices_created.extend(made),
        Outcome::AlreadyBilled => run.already_billed += 1,
        Outcome::Skipped => run.skipped += 1,
    }
}

/// Closes the billed customers' usage, in customer order (concurrent batches on PostgreSQL
/// then wait for each other's rows instead of deadlocking), skipping closes already made.
pub async fn close_usage(
    cx: &mut Context<'_>,
    mut closes: Vec<(String, Timestamp)>,
) -> Result<(), Error> {
    closes.sort();
    closes.reverse();
    closes.dedup_by(|a, b| a.0 == b.0); // the latest close of each customer
    closes.reverse();
    for (customer, until) in closes {
        let closed = metering::closed_until(cx.tx, cx.workspace_id, &customer).await?;
        if closed.is_none_or(|c| c < until) {
            metering::close_usage(cx.tx, cx.workspace_id, &customer, until).await?;
        }
    }
    Ok(())
}

/// Bills `ids` in one transaction: all of them, or (on an error) none.
pub async fn bill_batch(
    state: &App,
    workspace_id: &WorkspaceId,
    ids: Vec<String>,
    as_of: Timestamp,
    cause: &Cause,
) -> Result<Vec<Outcome>, Error> {
    let (ws, cause) = (workspace_id.clone(), cause.clone());
    let now = state.db.now();
    state
        .db
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let mut cx = Context {
                    tx,
                    workspace_id: &ws,
                    now,
                    cause: &cause,
                };
                let mut outcomes = Vec::with_capacity(ids.len());
                if cx.tx.backend() == bursar_store::Backend::Postgres {
                    // The buyers' usage subjects, locked at once in one order: no event of
                    // theirs is counted while their usage is read and closed, and concurrent
                    // batches and ingestion never deadlock on them.
                    let mut subjects = Vec::new();
                    for buyer in invoices::buyers_of(cx.tx, cx.workspace_id, &ids).await? {
                        subjects
                            .extend(metering::subjects_of(cx.tx, cx.workspace_id, &buyer).await?);
                    }
                    let names: Vec<&str> = subjects.iter().map(String::as_str).collect();
                    metering::lock_subjects(cx.tx, cx.workspace_id, &names, true).await?;
                }
                let settings = crate::invoices::load_settings(cx.tx, cx.workspace_id).await?;
                let tax = match &settings.default_tax_rate_id {
                    Some(id) => {
                        documents::get(cx.tx, TAX_RATE, cx.workspace_id, id.as_str(), false).await?
                    }
                    None => None,
                };
                let mut batch = Batch {
                    closes: Vec::new(),
                    tax,
                    products: Default::default(),
                    meters: Default::default(),
                    locked: Default::default(),
                };
                if cx.tx.backend() == bursar_store::Backend::Postgres {
                    // The buyers' usage subjects, locked at once in one order: no event of
                    // theirs is counted while their usage is read and closed, and concurrent
                    // batches and ingestion never deadlock on them.
                    let mut subjects = Vec::new();
                    for buyer in invoices::buyers_of(cx.tx, cx.workspace_id, &ids).await? {
                        subjects
                            .extend(metering::subjects_of(cx.tx, cx.workspace_id, &buyer).await?);
                    }
                    let names: Vec<&str> = subjects.iter().map(String::as_str).collect();
                    metering::lock_subjects(cx.tx, cx.workspace_id, &names, true).await?;
                    batch.locked.extend(subjects);
                }
                for id in &ids {
                    outcomes.push(bill_contract(&mut cx, id, as_of, &mut batch).await?);
                }
                close_usage(&mut cx, batch.closes).await?;
                Ok::<_, Error>(outcomes)
            })
        })
        .await
}
