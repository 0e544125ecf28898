//! One monitor for background work: each job records its attempts ([`crate::job_attempts`], in
//! the write that records the work's own outcome), support retries or cancels a job run here, and
//! `/metrics` shows every queue's depth, the age of its oldest due item, the job runs by status
//! and each kind's attempt latency.
//!
//! What retry and cancel do depends on the kind: a tracking poll is due now, or polling stops
//! (pushes are still recorded); an automation step is attempted now (a manual task gets its
//! failed step back with one more attempt), or the run is handed to support as a manual task;
//! a relay delivery is due now (a dead letter replayed), or dead-lettered. Periodic work
//! (billing a contract, evaluating an account, a payout schedule, the bank balance check) is
//! due now, or skipped by its job until retried.

use std::time::Duration;

use bursar_domain::event_type;
use bursar_domain::id::CustomerId;
use bursar_domain::jobs::{JobKind, JobRun, NotAllowed};
use bursar_domain::shipping::{AutomationRun, Shipment};
use bursar_domain::time::Timestamp;
use bursar_store::documents::{self, AUTOMATION_RUN, JOB_RUN, SHIPMENT};
use bursar_store::Tx;

use crate::error::Error;
use crate::write::Context;
use crate::App;

fn refused(refusal: NotAllowed) -> Error {
    Error::state(
        "job_run_state_invalid",
        refusal.status.as_str(),
        refusal.message,
    )
}

fn subject_gone(run: &JobRun, what: &str) -> Error {
    Error::state(
        "job_run_state_invalid",
        run.status.as_str(),
        format!(
            "{} {what}: there is nothing to retry or cancel.",
            run.subject
        ),
    )
}

/// Asks for the work again now (`job_run.retry_requested`).
pub async fn retry(cx: &mut Context<'_>, id: &str) -> Result<JobRun, Error> {
    let mut run: JobRun = crate::lookup::get_in(cx, JOB_RUN, "job run", id, "id").await?;
    run.retry(cx.now).map_err(refused)?;
    match run.kind {
        JobKind::TrackingPoll => {
            let mut shipment = shipment(cx, &run).await?;
            if shipment.status.is_terminal() {
                return Err(subject_gone(&run, "is final and is not polled"));
            }
            shipment.next_poll_at = Some(cx.now);
            crate::shipments::save(cx, &shipment).await?;
        }
        JobKind::AutomationStep => {
            let mut automation = automation_run(cx, &run).await?;
            if !automation.retry_now(cx.now) {
                return Err(subject_gone(&run, "is done"));
            }
            crate::shipments::automation::save_run(cx, &automation).await?;
        }
        JobKind::RelayDelivery => {
            let (event, subscriber) = delivery_of(&run)?;
            let waiting =
                bursar_store::relay::retry_now(cx.tx, cx.workspace_id, event, subscriber, cx.now)
                    .await?;
            if !waiting {
                return Err(subject_gone(&run, "was delivered"));
            }
        }
        JobKind::Billing
        | JobKind::DunningEvaluation
        | JobKind::PayoutSchedule
        | JobKind::Reconciliation => due_now(cx, &run).await?,
    }
    finish(cx, &run, event_type::JOB_RUN_RETRY_REQUESTED).await?;
    Ok(run)
}

/// Stops the work (`job_run.cancelled`).
pub async fn cancel(cx: &mut Context<'_>, id: &str) -> Result<JobRun, Error> {
    let mut run: JobRun = crate::lookup::get_in(cx, JOB_RUN, "job run", id, "id").await?;
    run.cancel(cx.now).map_err(refused)?;
    match run.kind {
        JobKind::TrackingPoll => {
            let mut shipment = shipment(cx, &run).await?;
            shipment.next_poll_at = None;
            crate::shipments::save(cx, &shipment).await?;
        }
        JobKind::AutomationStep => {
            let mut automation = automation_run(cx, &run).await?;
            let instructions = "Cancelled from the job monitor: finish this parcel's automation \
                                by hand, then complete the task.";
            if automation.hand_over(instructions, cx.now) {
                crate::shipments::automation::save_run(cx, &automation).await?;
                cx.emit_object(
                    event_type::AUTOMATION_RUN_MANUAL_TASK,
                    "automation_run",
                    automation.id.as_str(),
                    &automation,
                )
                .await?;
            }
        }
        JobKind::RelayDelivery => {
            let (event, subscriber) = delivery_of(&run)?;
            bursar_store::relay::abandon(cx.tx, cx.workspace_id, event, subscriber, cx.now).await?;
        }
        // Its job skips the subject while the run is cancelled (`job_attempts::Pass`).
        JobKind::Billing
        | JobKind::DunningEvaluation
        | JobKind::PayoutSchedule
        | JobKind::Reconciliation => {}
    }
    finish(cx, &run, event_type::JOB_RUN_CANCELLED).await?;
    Ok(run)
}

/// Makes periodic work due now, so the job's next pass attempts it (the bank balance check,
/// daily, also runs what is queued on its next pass).
async fn due_now(cx: &mut Context<'_>, run: &JobRun) -> Result<(), Error> {
    let (tx, workspace_id, subject) = (&mut *cx.tx, cx.workspace_id, run.subject.as_str());
    match run.kind {
        JobKind::Billing => {
            bursar_store::invoices::set_bill_at(tx, workspace_id, subject, cx.now).await?;
        }
        JobKind::DunningEvaluation => {
            bursar_store::collections::set_next_check(tx, workspace_id, subject, Some(cx.now))
                .await?;
        }
        JobKind::PayoutSchedule => {
            let party = CustomerId::from_trusted(subject.to_owned());
            let Some(mut schedule) =
                bursar_store::payouts::get_schedule(tx, workspace_id, &party).await?
            else {
                return Err(subject_gone(run, "has no payout schedule"));
            };
            schedule.next_run_at = Some(cx.now);
            bursar_store::payouts::save_schedule(tx, workspace_id, &schedule).await?;
        }
        _ => {}
    }
    Ok(())
}

async fn finish(cx: &mut Context<'_>, run: &JobRun, event: &'static str) -> Result<(), Error> {
    bursar_store::jobs::save(cx.tx, cx.workspace_id, run).await?;
    cx.emit_object(event, "job_run", run.id.as_str(), run).await
}

async fn shipment(cx: &mut Context<'_>, run: &JobRun) -> Result<Shipment, Error> {
    documents::get(cx.tx, SHIPMENT, cx.workspace_id, &run.subject, true)
        .await?
        .ok_or_else(|| subject_gone(run, "is gone"))
}

async fn automation_run(cx: &mut Context<'_>, run: &JobRun) -> Result<AutomationRun, Error> {
    documents::get(cx.tx, AUTOMATION_RUN, cx.workspace_id, &run.subject, true)
        .await?
        .ok_or_else(|| subject_gone(run, "is gone"))
}

/// A relay delivery's subject: (event id, subscriber).
fn delivery_of(run: &JobRun) -> Result<(&str, &str), Error> {
    run.subject
        .split_once(':')
        .ok_or_else(|| subject_gone(run, "names no delivery"))
}

/// Sets the queue gauges: per kind, work due now (`bursar_job_queue_depth`), the age of the
/// oldest of it (`bursar_job_queue_oldest_age_seconds`), and job runs per status
/// (`bursar_job_runs`).
pub async fn refresh_gauges(app: &App) -> Result<(), Error> {
    for queue in queue_health(app).await? {
        let kind = queue.kind.as_str();
        metrics::gauge!("bursar_job_queue_depth", "kind" => kind).set(queue.depth as f64);
        metrics::gauge!("bursar_job_queue_oldest_age_seconds", "kind" => kind)
            .set(queue.oldest_age_seconds);
    }
    let counts = app
        .db
        .read(|tx: &mut Tx| Box::pin(bursar_store::jobs::counts(tx)))
        .await?;
    for kind in JobKind::ALL {
        for status in bursar_store::jobs::STATUSES {
            let n = counts
                .iter()
                .find(|(k, s, _)| k == kind.as_str() && s == status.as_str())
                .map_or(0, |(_, _, n)| *n);
            metrics::gauge!("bursar_job_runs", "kind" => kind.as_str(), "status" => status.as_str())
                .set(n as f64);
        }
    }
    Ok(())
}

/// A queue's health: work due now, and how long the oldest of it has waited.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueHealth {
    pub kind: JobKind,
    pub depth: i64,
    pub oldest_age_seconds: f64,
}

/// Every queue's health now, across workspaces.
pub async fn queue_health(app: &App) -> Result<Vec<QueueHealth>, Error> {
    let now = app.now();
    let health = app
        .db
        .read(move |tx: &mut Tx| Box::pin(bursar_store::jobs::queue_health(tx, now)))
        .await?;
    Ok(health
        .into_iter()
        .map(|queue| QueueHealth {
            kind: queue.kind,
            depth: queue.depth,
            oldest_age_seconds: queue.oldest_due.map_or(0.0, |due| age_seconds(due, now)),
        })
        .collect())
}

fn age_seconds(due: Timestamp, now: Timestamp) -> f64 {
    let micros = now.unix_micros().saturating_sub(due.unix_micros()).max(0);
    Duration::from_micros(u64::try_from(micros).unwrap_or(0)).as_secs_f64()
}
