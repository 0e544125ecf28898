//! The job monitor's view of background work. A job run is the work on one subject of one
//! kind — a shipment's tracking polls, an automation run's step attempts, an event's delivery
//! to a subscriber, a contract's billing, an account's dunning evaluation, a seller's payout
//! schedule, the bank balance check — from its first failed attempt on: each attempt's outcome, when it is
//! tried next, and what support did (asked for a retry now, or cancelled it). Work that never
//! fails is counted in the metrics, not stored: the monitor is where failures are found.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::id::JobRunId;
use crate::time::Timestamp;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Asking a carrier about a shipment (subject: the shipment).
    TrackingPoll,
    /// A post-delivery automation step (subject: the automation run).
    AutomationStep,
    /// An event's delivery to a subscriber, e.g. the webhooks (subject: `event:subscriber`).
    RelayDelivery,
    /// Billing a contract whose period started (subject: the contract).
    Billing,
    /// Evaluating an account's health and dunning (subject: the customer).
    DunningEvaluation,
    /// Running a seller's payout schedule (subject: the seller).
    PayoutSchedule,
    /// Comparing what the workspace's banks hold with the ledger (subject: `bank_balances`).
    Reconciliation,
}

impl JobKind {
    pub const ALL: [JobKind; 7] = [
        JobKind::TrackingPoll,
        JobKind::AutomationStep,
        JobKind::RelayDelivery,
        JobKind::Billing,
        JobKind::DunningEvaluation,
        JobKind::PayoutSchedule,
        JobKind::Reconciliation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::TrackingPoll => "tracking_poll",
            JobKind::AutomationStep => "automation_step",
            JobKind::RelayDelivery => "relay_delivery",
            JobKind::Billing => "billing",
            JobKind::DunningEvaluation => "dunning_evaluation",
            JobKind::PayoutSchedule => "payout_schedule",
            JobKind::Reconciliation => "reconciliation",
        }
    }

    /// Work a scheduler attempts on every pass while it is due, with no attempts to spend:
    /// a failure is tried again on the next pass; cancelled, it is skipped until retried.
    pub fn is_periodic(self) -> bool {
        matches!(
            self,
            JobKind::Billing
                | JobKind::DunningEvaluation
                | JobKind::PayoutSchedule
                | JobKind::Reconciliation
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// The last attempt failed; it is tried again at `next_attempt_at`.
    Failed,
    /// Attempts are spent: nothing more happens until a person retries or cancels it.
    Dead,
    /// A retry was asked for: due now.
    Queued,
    /// The last attempt succeeded.
    Succeeded,
    /// Stopped by a person.
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Failed => "failed",
            JobStatus::Dead => "dead",
            JobStatus::Queued => "queued",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobEventKind {
    AttemptSucceeded,
    AttemptFailed,
    /// The last attempt failed and no more are made.
    GaveUp,
    RetryRequested,
    Cancelled,
}

/// One thing that happened to a job run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobRunEvent {
    pub kind: JobEventKind,
    pub at: Timestamp,
    pub error: Option<String>,
    /// How long the attempt took.
    pub duration_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobRun {
    pub id: JobRunId,
    /// Always `job_run`.
    pub object: String,
    pub kind: JobKind,
    /// What the work is about: a shipment id, an automation run id, `event_id:subscriber`.
    pub subject: String,
    pub status: JobStatus,
    /// Failed attempts since the last success (or retry request).
    pub attempts: u32,
    /// Every attempt recorded, successes included.
    pub total_attempts: u32,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<Timestamp>,
    pub last_duration_ms: Option<i64>,
    /// When the work is tried again (none once dead, cancelled or succeeded).
    pub next_attempt_at: Option<Timestamp>,
    /// The newest events, oldest first (at most [`EVENTS_KEPT`]).
    pub events: Vec<JobRunEvent>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Events a job run keeps.
pub const EVENTS_KEPT: usize = 50;

/// An attempt's outcome, as the job that made it reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub at: Timestamp,
    pub duration_ms: i64,
    /// None: succeeded.
    pub error: Option<String>,
    /// After a failure: when it is tried again; none: it gave up.
    pub next_attempt_at: Option<Timestamp>,
}

/// A retry or cancel the job run's status does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAllowed {
    pub status: JobStatus,
    pub message: &'static str,
}

impl JobRun {
    /// A job run opened by its first failed attempt.
    pub fn open(kind: JobKind, subject: String, now: Timestamp) -> Self {
        JobRun {
            id: JobRunId::new(),
            object: "job_run".into(),
            kind,
            subject,
            status: JobStatus::Failed,
            attempts: 0,
            total_attempts: 0,
            last_error: None,
            last_attempt_at: None,
            last_duration_ms: None,
            next_attempt_at: None,
            events: Vec::new(),
            created_at: now,
            updated_at: now,
        }
    }

    fn push(&mut self, kind: JobEventKind, at: Timestamp, error: Option<String>, ms: Option<i64>) {
        self.events.push(JobRunEvent {
            kind,
            at,
            error,
            duration_ms: ms,
        });
        if self.events.len() > EVENTS_KEPT {
            let excess = self.events.len() - EVENTS_KEPT;
            self.events.drain(..excess);
        }
        self.updated_at = at;
    }

    /// Records an attempt. A cancelled run stays cancelled (an attempt already under way when
    /// it was cancelled is recorded, nothing more).
    pub fn attempted(&mut self, attempt: Attempt) {
        self.total_attempts = self.total_attempts.saturating_add(1);
        self.last_attempt_at = Some(attempt.at);
        self.last_duration_ms = Some(attempt.duration_ms);
        let ms = Some(attempt.duration_ms);
        let Some(error) = attempt.error else {
            self.attempts = 0;
            self.next_attempt_at = None;
            if self.status != JobStatus::Cancelled {
                self.status = JobStatus::Succeeded;
            }
            self.push(JobEventKind::AttemptSucceeded, attempt.at, None, ms);
            return;
        };
        self.attempts = self.attempts.saturating_add(1);
        self.last_error = Some(error.clone());
        self.next_attempt_at = attempt.next_attempt_at;
        let kind = if attempt.next_attempt_at.is_some() {
            JobEventKind::AttemptFailed
        } else {
            JobEventKind::GaveUp
        };
        if self.status != JobStatus::Cancelled {
            self.status = match kind {
                JobEventKind::GaveUp => JobStatus::Dead,
                _ => JobStatus::Failed,
            };
        }
        self.push(kind, attempt.at, Some(error), ms);
    }

    /// A person asks for the work again now: failed, dead or cancelled work only.
    pub fn retry(&mut self, now: Timestamp) -> Result<(), NotAllowed> {
        if !matches!(
            self.status,
            JobStatus::Failed | JobStatus::Dead | JobStatus::Cancelled
        ) {
            return Err(NotAllowed {
                status: self.status,
                message: "Only failed, dead or cancelled work is retried.",
            });
        }
        self.status = JobStatus::Queued;
        self.attempts = 0;
        self.next_attempt_at = Some(now);
        self.push(JobEventKind::RetryRequested, now, None, None);
        Ok(())
    }

    /// A person stops the work: anything not finished.
    pub fn cancel(&mut self, now: Timestamp) -> Result<(), NotAllowed> {
        if matches!(self.status, JobStatus::Succeeded | JobStatus::Cancelled) {
            return Err(NotAllowed {
                status: self.status,
                message: "Only unfinished work (failed, dead or queued) is cancelled.",
            });
        }
        self.status = JobStatus::Cancelled;
        self.next_attempt_at = None;
        self.push(JobEventKind::Cancelled, now, None, None);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix_micros(seconds * 1_000_000)
    }

    fn failed(seconds: i64, next: Option<i64>) -> Attempt {
        Attempt {
            at: at(seconds),
            duration_ms: 12,
            error: Some("HTTP 500".into()),
            next_attempt_at: next.map(at),
        }
    }

    #[test]
    fn failures_count_until_a_success_and_spent_attempts_are_dead() {
        let mut run = JobRun::open(JobKind::TrackingPoll, "shp_1".into(), at(0));
        run.attempted(failed(1, Some(60)));
        run.attempted(failed(60, None));
        assert_eq!(
            (run.status, run.attempts, run.next_attempt_at),
            (JobStatus::Dead, 2, None)
        );
        assert_eq!(run.events.last().unwrap().kind, JobEventKind::GaveUp);
        run.retry(at(100)).unwrap();
        assert_eq!(
            (run.status, run.attempts, run.next_attempt_at),
            (JobStatus::Queued, 0, Some(at(100)))
        );
        run.attempted(Attempt {
            at: at(101),
            duration_ms: 5,
            error: None,
            next_attempt_at: None,
        });
        assert_eq!((run.status, run.total_attempts), (JobStatus::Succeeded, 3));
        assert_eq!(
            run.last_error.as_deref(),
            Some("HTTP 500"),
            "the last error stays to read"
        );
        let refused = run.retry(at(102)).unwrap_err();
        assert_eq!(refused.status, JobStatus::Succeeded);
        assert!(run.cancel(at(102)).is_err());
    }

    #[test]
    fn cancelled_work_stays_cancelled_until_retried() {
        let mut run = JobRun::open(JobKind::AutomationStep, "arun_1".into(), at(0));
        run.attempted(failed(1, Some(60)));
        run.cancel(at(2)).unwrap();
        run.attempted(failed(3, Some(60)));
        assert_eq!(run.status, JobStatus::Cancelled);
        assert!(run.cancel(at(4)).is_err());
        run.retry(at(5)).unwrap();
        assert_eq!(run.status, JobStatus::Queued);
    }

    #[test]
    fn only_the_newest_events_are_kept() {
        let mut run = JobRun::open(JobKind::RelayDelivery, "evt_1:webhooks".into(), at(0));
        for i in 0..(EVENTS_KEPT as i64 + 10) {
            run.attempted(failed(i, Some(i + 1)));
        }
        assert_eq!(run.events.len(), EVENTS_KEPT);
        assert_eq!(run.events[0].at, at(10));
    }
}
