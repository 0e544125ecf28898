//! What background jobs record of each attempt for the job monitor ([`crate::jobs`]): the job
//! run of its kind and subject, and the attempt counted in the metrics.

use std::time::Duration;

use bursar_domain::jobs::{Attempt, JobKind, JobRun};

use crate::error::Error;
use crate::write::Context;

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
