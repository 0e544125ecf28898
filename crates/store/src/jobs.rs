//! The job monitor's rows: background work that failed at least once, one row per workspace,
//! kind and subject, and the queues' health across workspaces.

use bursar_domain::id::WorkspaceId;
use bursar_domain::jobs::{Attempt, JobKind, JobRun, JobStatus};
use bursar_domain::time::Timestamp;

use crate::documents::{self, JOB_RUN};
use crate::{params, Backend, StoreError, Tx, Value};

fn columns(run: &JobRun) -> [(&'static str, Value); 3] {
    [
        ("kind", run.kind.as_str().into()),
        ("subject", run.subject.as_str().into()),
        ("status", run.status.as_str().into()),
    ]
}

/// The job run of `kind` about `subject`, locked (PostgreSQL) for the rest of the write.
pub async fn find(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    kind: JobKind,
    subject: &str,
) -> Result<Option<JobRun>, StoreError> {
    let lock = if tx.backend() == Backend::Postgres {
        " for update"
    } else {
        ""
    };
    let row = tx
        .fetch_optional(
            &format!(
                "select body from job_run where workspace_id = $1 and kind = $2 \
                 and subject = $3{lock}"
            ),
            params![workspace_id.as_str(), kind.as_str(), subject],
        )
        .await?;
    row.map(|row| {
        serde_json::from_str(&row.text("body")?).map_err(|e| StoreError::Corrupt(e.to_string()))
    })
    .transpose()
}

/// Saves a job run (new or changed).
pub async fn save(tx: &mut Tx, workspace_id: &WorkspaceId, run: &JobRun) -> Result<(), StoreError> {
    documents::upsert(
        tx,
        JOB_RUN,
        workspace_id,
        run.id.as_str(),
        run,
        &columns(run),
    )
    .await
}

/// Records an attempt of `kind` about `subject`: a failure opens the job run if there is none;
/// a success changes only a run that exists (work that never failed is not stored). The run
/// as it is now, if there is one.
pub async fn record(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    kind: JobKind,
    subject: &str,
    attempt: Attempt,
) -> Result<Option<JobRun>, StoreError> {
    let existing = find(tx, workspace_id, kind, subject).await?;
    let mut run = match existing {
        Some(run) => run,
        None if attempt.error.is_none() => return Ok(None),
        None => JobRun::open(kind, subject.to_owned(), attempt.at),
    };
    run.attempted(attempt);
    save(tx, workspace_id, &run).await?;
    Ok(Some(run))
}

/// The subjects of `kind` whose job run is unfinished, across workspaces, with its status:
/// what a periodic job closes when it succeeds, skips while cancelled, or runs now when queued.
pub async fn unfinished(
    tx: &mut Tx,
    kind: JobKind,
) -> Result<Vec<(WorkspaceId, String, JobStatus)>, StoreError> {
    let rows = tx
        .fetch_all(
            "select workspace_id, subject, status from job_run where kind = $1 \
             and status in ('failed', 'dead', 'queued', 'cancelled')",
            params![kind.as_str()],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                WorkspaceId::from_trusted(r.text("workspace_id")?),
                r.text("subject")?,
                status_of(&r.text("status")?)?,
            ))
        })
        .collect()
}

fn status_of(text: &str) -> Result<JobStatus, StoreError> {
    STATUSES
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| StoreError::Corrupt(format!("job_run: bad status {text}")))
}

/// One queue's health: work due now and the instant the oldest of it fell due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueHealth {
    pub kind: JobKind,
    pub depth: i64,
    pub oldest_due: Option<Timestamp>,
}

/// Every queue's health at `now`, across workspaces.
pub async fn queue_health(tx: &mut Tx, now: Timestamp) -> Result<Vec<QueueHealth>, StoreError> {
    let queues = [
        (JobKind::TrackingPoll, "select count(*) as n, min(next_poll_at) as oldest from shipment where next_poll_at <= $1"),
        (JobKind::AutomationStep, "select count(*) as n, min(next_attempt_at) as oldest from automation_run where next_attempt_at <= $1"),
        (JobKind::RelayDelivery, "select count(*) as n, min(next_attempt_at) as oldest from event_delivery where status = 'pending' and next_attempt_at <= $1"),
        (JobKind::Billing, "select count(*) as n, min(bill_at) as oldest from contract where bill_at <= $1"),
        (JobKind::DunningEvaluation, "select count(*) as n, min(next_check_at) as oldest from billing_status where next_check_at <= $1 and object_id like 'cus_%'"),
        (JobKind::PayoutSchedule, "select count(*) as n, min(next_run_at) as oldest from payout_schedule where next_run_at <= $1"),
        // The bank balance check runs daily; what waits is what support asked to run again.
        (JobKind::Reconciliation, "select count(*) as n, cast(null as bigint) as oldest from job_run where kind = 'reconciliation' and status = 'queued' and $1 > 0"),
    ];
    let mut health = Vec::with_capacity(queues.len());
    for (kind, sql) in queues {
        let row = tx.fetch_one(sql, params![now.unix_micros()]).await?;
        health.push(QueueHealth {
            kind,
            depth: row.i64("n")?,
            oldest_due: row.opt_i64("oldest")?.map(Timestamp::from_unix_micros),
        });
    }
    Ok(health)
}

/// Job runs per kind and status, across workspaces.
pub async fn counts(tx: &mut Tx) -> Result<Vec<(String, String, i64)>, StoreError> {
    let rows = tx
        .fetch_all(
            "select kind, status, count(*) as n from job_run group by kind, status",
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| Ok((r.text("kind")?, r.text("status")?, r.i64("n")?)))
        .collect()
}

/// The statuses counted in the metrics (every one, so a gauge drops to zero when its last run
/// leaves it).
pub const STATUSES: [JobStatus; 5] = [
    JobStatus::Failed,
    JobStatus::Dead,
    JobStatus::Queued,
    JobStatus::Succeeded,
    JobStatus::Cancelled,
];
