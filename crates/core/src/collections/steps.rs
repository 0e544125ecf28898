//! What an evaluation does beyond storing the answer: per-invoice reminders, entering and
//! leaving dunning, and running the steps due.

use bursar_domain::collections::DunningPolicy;
use bursar_domain::collections::{
    CustomerBillingStatus, DeclineClass, Dunning, DunningAction, ExecutedStep, Health,
    NoticeTemplate, Retry, RetryOutcome,
};
use bursar_domain::contract::{ContractStatus, Operation};
use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::invoice::{Invoice, InvoiceStatus};
use serde_json::json;

use super::Account;
use crate::error::Error;
use crate::write::Context;

/// Keeps the first outcome of each (anchor, step): a retry is recorded once.
pub(super) fn record_retry(dunning: &mut Dunning, retry: Retry) {
    let known = dunning
        .retries
        .iter()
        .any(|r| r.anchor_invoice_id == retry.anchor_invoice_id && r.step == retry.step);
    if !known {
        dunning.retries.push(retry);
    }
}

/// Records `invoice.due_soon` and `invoice.overdue` for the invoices the health names, each
/// once per invoice (noted on `invoices` too): the email subscriber turns them into reminders.
pub(super) async fn send_reminders(
    cx: &mut Context<'_>,
    health: &Health,
    invoices: &mut [Invoice],
) -> Result<(), Error> {
    for notice in &health.notices {
        let Some(invoice) = invoices.iter_mut().find(|i| i.id == notice.invoice_id) else {
            continue;
        };
        invoice.reminders.push(notice.kind.to_owned());
        crate::invoices::save(cx, invoice).await?;
        let kind = if notice.kind == "overdue" {
            event_type::INVOICE_OVERDUE
        } else {
            event_type::INVOICE_DUE_SOON
        };
        cx.emit_object(kind, "invoice", invoice.id.as_str(), &*invoice)
            .await?;
    }
    Ok(())
}

/// Starts the account's dunning under the policy version in effect when it falls behind
/// (`dunning.started`), or ends it when nothing over the minimum is overdue any more
/// (`dunning.recovered`).
pub(super) async fn enter_or_leave(
    cx: &mut Context<'_>,
    stored: &mut CustomerBillingStatus,
    health: &Health,
    policy: Option<&DunningPolicy>,
) -> Result<(), Error> {
    let id = stored.customer_id.to_string();
    match (&health.position, &stored.dunning) {
        (Some(position), None) => {
            let dunning = Dunning {
                policy_id: position.policy_id.clone(),
                policy_version: position.policy_version,
                started_at: cx.now,
                executed: Vec::new(),
                retries: Vec::new(),
            };
            cx.emit(NewEvent::new(
                event_type::DUNNING_STARTED,
                "customer",
                &id,
                json!({ "customer_id": id, "policy_id": dunning.policy_id,
                        "policy_version": dunning.policy_version,
                        "policy_name": policy.map(|p| p.name.clone()),
                        "position": position, "reasons": health.reasons }),
            ))
            .await?;
            stored.dunning = Some(dunning);
            metrics::counter!("bursar_dunning_started_total").increment(1);
        }
        (None, Some(dunning)) => {
            let recovered = recovered_amount(dunning);
            cx.emit(NewEvent::new(
                event_type::DUNNING_RECOVERED,
                "customer",
                &id,
                json!({ "customer_id": id, "policy_id": dunning.policy_id,
                        "policy_version": dunning.policy_version,
                        "started_at": dunning.started_at,
                        "seconds_in_dunning": (cx.now.unix_micros() - dunning.started_at.unix_micros()) / 1_000_000,
                        "steps_run": dunning.executed.len(),
                        "recovered_by_retries": recovered,
                        "reasons": health.reasons }),
            ))
            .await?;
            stored.dunning = None;
            metrics::counter!("bursar_dunning_recovered_total").increment(1);
        }
        _ => {}
    }
    Ok(())
}

/// What retries collected, per currency code.
fn recovered_amount(dunning: &Dunning) -> serde_json::Value {
    let mut by_currency = serde_json::Map::new();
    for retry in &dunning.retries {
        if matches!(retry.outcome, RetryOutcome::Succeeded { .. }) {
            let entry = by_currency
                .entry(retry.currency.code().to_owned())
                .or_insert(json!(0));
            *entry = json!(entry.as_i64().unwrap_or(0).saturating_add(retry.amount));
        }
    }
    serde_json::Value::Object(by_currency)
}

/// Runs the steps due for the current anchor, in order, each once; stops at a retry the sweep
/// has not charged yet, so nothing after it runs before it. Returns whether any step ran.
pub(super) async fn run_due(
    cx: &mut Context<'_>,
    stored: &mut CustomerBillingStatus,
    health: &Health,
    account: &Account,
) -> Result<bool, Error> {
    let Some(position) = &health.position else {
        return Ok(false);
    };
    let last_step = account
        .pinned
        .as_ref()
        .map_or(0, |p| p.steps.len().saturating_sub(1));
    let mut ran = false;
    for due in &health.due {
        let Some(dunning) = stored.dunning.as_mut() else {
            break;
        };
        let mut notices: Vec<NoticeTemplate> = Vec::new();
        let mut retry = None;
        if due.actions.contains(&DunningAction::RetryPayment) {
            let recorded = dunning
                .retries
                .iter()
                .find(|r| r.anchor_invoice_id == position.anchor_invoice_id && r.step == due.step)
                .cloned();
            let outcome = match (recorded, due.retry_skipped) {
                (Some(recorded), _) => recorded,
                (None, Some(reason)) => {
                    let skipped = skipped_retry(cx, position, due.step, account, reason);
                    dunning.retries.push(skipped.clone());
                    skipped
                }
                (None, None) => break,
            };
            notices.extend(notice_after(&outcome.outcome));
            retry = Some(outcome);
        }
        for action in &due.actions {
            match action {
                DunningAction::Notify { template } => notices.push(*template),
                DunningAction::WriteOff => write_off(cx, account).await?,
                DunningAction::CancelContracts => cancel_contracts(cx, account).await?,
                _ => {}
            }
        }
        notices.dedup();
        dunning.executed.push(ExecutedStep {
            anchor_invoice_id: position.anchor_invoice_id.clone(),
            step: due.step,
            at_days: due.at_days,
            at: cx.now,
            actions: due.actions.clone(),
        });
        let id = stored.customer_id.to_string();
        let payload = json!({
            "customer_id": id, "policy_id": dunning.policy_id,
            "policy_name": account.pinned.as_ref().map(|p| p.name.as_str()),
            "policy_version": dunning.policy_version, "dunning_started_at": dunning.started_at,
            "step": due.step, "at_days": due.at_days,
            "actions": due.actions, "notices": notices, "retry": retry,
            "anchor_invoice_id": position.anchor_invoice_id, "days_overdue": position.days_overdue,
            "overdue": position.overdue, "reasons": health.reasons,
        });
        cx.emit(NewEvent::new(
            event_type::DUNNING_STEP_EXECUTED,
            "customer",
            &id,
            payload.clone(),
        ))
        .await?;
        if usize::from(due.step) == last_step {
            cx.emit(NewEvent::new(
                event_type::DUNNING_EXHAUSTED,
                "customer",
                &id,
                payload,
            ))
            .await?;
        }
        metrics::counter!("bursar_dunning_steps_total").increment(1);
        ran = true;
    }
    Ok(ran)
}

fn skipped_retry(
    cx: &Context<'_>,
    position: &bursar_domain::collections::Position,
    step: u16,
    account: &Account,
    reason: &str,
) -> Retry {
    let currency = account
        .invoices
        .iter()
        .find(|i| i.id == position.anchor_invoice_id)
        .map(|i| i.currency);
    let amount = position
        .overdue
        .iter()
        .find(|b| Some(b.currency) == currency)
        .map_or(0, |b| b.amount);
    Retry {
        anchor_invoice_id: position.anchor_invoice_id.clone(),
        step,
        at: cx.now,
        payment_method_id: account.payment_method.as_ref().map(|m| m.id.to_string()),
        amount,
        currency: currency.unwrap_or_else(|| position.overdue[0].currency),
        outcome: RetryOutcome::Skipped {
            reason: reason.to_owned(),
        },
    }
}

/// The email a retry's outcome calls for: fix the card (soft), a new method (hard, or none
/// saved), pay through the link (authentication).
fn notice_after(outcome: &RetryOutcome) -> Option<NoticeTemplate> {
    match outcome {
        RetryOutcome::Declined { class, .. } => Some(match class {
            DeclineClass::Soft => NoticeTemplate::PaymentFailed,
            DeclineClass::Hard => NoticeTemplate::UpdatePaymentMethod,
            DeclineClass::AuthenticationRequired => NoticeTemplate::AuthenticationRequired,
        }),
        RetryOutcome::Skipped { reason } if reason == "no_payment_method" => {
            Some(NoticeTemplate::UpdatePaymentMethod)
        }
        _ => None,
    }
}

/// Writes off every overdue unpaid invoice (bad debt); a later payment still pays them.
async fn write_off(cx: &mut Context<'_>, account: &Account) -> Result<(), Error> {
    let now = cx.now;
    for invoice in account.invoices.iter().filter(|i| {
        i.status == InvoiceStatus::Issued
            && i.amount_due > 0
            && i.due_at.is_some_and(|due| due < now)
    }) {
        crate::invoice_voids::write_off_for_dunning(cx, invoice.id.as_str()).await?;
    }
    Ok(())
}

/// Terminates the customer's active contracts through their logs (reason `dunning`): now, or
/// at the end of the period already invoiced.
async fn cancel_contracts(cx: &mut Context<'_>, account: &Account) -> Result<(), Error> {
    for contract in account
        .contracts
        .iter()
        .filter(|c| c.status == ContractStatus::Active && c.terminates_at.is_none())
    {
        let at = contract.billed_through.filter(|t| *t > cx.now);
        let operation = Operation::Terminate {
            at,
            reason: Some("dunning".into()),
        };
        crate::contracts::operate(cx, &contract.id, operation, None).await?;
    }
    Ok(())
}
