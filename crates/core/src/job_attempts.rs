//! What background jobs record of each attempt for the job monitor ([`crate::jobs`]): the job
//! run of its kind and subject, and the attempt counted in the metrics.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bursar_domain::event::Cause;
use bursar_domain::id::WorkspaceId;
use bursar_domain::jobs::{Attempt, JobKind, JobRun, JobStatus};
use bursar_store::Tx;

use crate::error::Error;
use crate::write::Context;
use crate::App;

/// Records an attempt of `kind` about `subject` in the write `cx`, and counts it in the
/// metrics (`bursar_job_attempts_total`, `bursar_job_duration_seconds`).
pub async fn record(
    cx: &mut Context<'_>,
    kind: JobKind,
    subject: &str,
    attempt: Attempt,
) -> Result<Option<JobRun>, Error> {
    observe(kind, &attempt);
    Ok(bursar_store::jobs::record(cx.tx, cx.workspace_id, kind, subject, attempt).await?)
}

/// Counts an attempt in the metrics.
pub fn observe(kind: JobKind, attempt: &Attempt) {
    let outcome = match (&attempt.error, attempt.next_attempt_at) {
        (None, _) => "succeeded",
        (Some(_), Some(_)) => "failed",
        (Some(_), None) => "gave_up",
    };
    metrics::counter!("bursar_job_attempts_total", "kind" => kind.as_str(), "outcome" => outcome)
        .increment(1);
    let seconds = Duration::from_millis(u64::try_from(attempt.duration_ms).unwrap_or(0));
    metrics::histogram!("bursar_job_duration_seconds", "kind" => kind.as_str())
        .record(seconds.as_secs_f64());
}

/// The subject of an event's delivery to a subscriber.
pub fn delivery_subject(event_id: &str, subscriber: &str) -> String {
    format!("{event_id}:{subscriber}")
}

/// One pass of a periodic job ([`JobKind::is_periodic`]) over the subjects due: which it skips
/// (cancelled from the monitor), which it attempts now although not due (queued by a retry),
/// and the record of each attempt.
///
/// A failure is recorded in a write of its own (the work's write rolled back), tried again on
/// the next pass; a success is recorded only for a subject that failed before, so work that
/// never fails costs no write.
pub struct Pass {
    kind: JobKind,
    /// When a failure is tried again: the job's next pass.
    retry_after_seconds: i64,
    unfinished: HashMap<(WorkspaceId, String), JobStatus>,
}

impl Pass {
    /// Reads the kind's unfinished job runs.
    pub async fn begin(app: &App, kind: JobKind, retry_after: Duration) -> Result<Self, Error> {
        let rows = app
            .db
            .read(move |tx: &mut Tx| Box::pin(bursar_store::jobs::unfinished(tx, kind)))
            .await?;
        let unfinished = rows
            .into_iter()
            .map(|(workspace, subject, status)| ((workspace, subject), status))
            .collect();
        Ok(Self {
            kind,
            retry_after_seconds: i64::try_from(retry_after.as_secs()).unwrap_or(i64::MAX),
            unfinished,
        })
    }

    fn status(&self, workspace_id: &WorkspaceId, subject: &str) -> Option<JobStatus> {
        self.unfinished
            .get(&(workspace_id.clone(), subject.to_owned()))
            .copied()
    }

    /// Whether support cancelled the work: not attempted until retried.
    pub fn skips(&self, workspace_id: &WorkspaceId, subject: &str) -> bool {
        self.status(workspace_id, subject) == Some(JobStatus::Cancelled)
    }

    /// The subjects support asked to run again now.
    pub fn queued(&self) -> Vec<(WorkspaceId, String)> {
        let mut queued: Vec<(WorkspaceId, String)> = self
            .unfinished
            .iter()
            .filter(|(_, status)| **status == JobStatus::Queued)
            .map(|(key, _)| key.clone())
            .collect();
        queued.sort();
        queued
    }

    /// Records an attempt that began at `started` (logged as well when it failed).
    pub async fn record(
        &self,
        app: &App,
        workspace_id: &WorkspaceId,
        subject: &str,
        started: Instant,
        outcome: Result<(), &Error>,
    ) {
        let now = app.now();
        let attempt = Attempt {
            at: now,
            duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            error: outcome.err().map(|e| e.message.clone()),
            next_attempt_at: Some(now.plus_seconds(self.retry_after_seconds)),
        };
        let Some(error) = &attempt.error else {
            if self.status(workspace_id, subject).is_none() {
                observe(self.kind, &attempt);
                return;
            }
            return self.write(app, workspace_id, subject, attempt).await;
        };
        tracing::warn!(kind = self.kind.as_str(), workspace = %workspace_id, subject, %error,
            "background work failed");
        self.write(app, workspace_id, subject, attempt).await;
    }

    async fn write(&self, app: &App, workspace_id: &WorkspaceId, subject: &str, attempt: Attempt) {
        let (kind, subject_owned) = (self.kind, subject.to_owned());
        let cause = Cause {
            request_id: None,
            actor: Some(format!("system:{}", kind.as_str())),
        };
        let written = app
            .write(workspace_id.clone(), cause, move |mut cx| {
                Box::pin(async move { record(&mut cx, kind, &subject_owned, attempt).await })
            })
            .await;
        if let Err(error) = written {
            tracing::warn!(kind = kind.as_str(), subject, %error, "recording a job attempt failed");
        }
    }
}
