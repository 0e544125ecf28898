//! Post-delivery automation: what happens once a parcel arrives (a device provisioned, the
//! customer's system told), as configured scenarios of steps with attempts, delays between
//! them and fallback instructions. An order is fulfilled only when every delivered parcel's
//! automation has succeeded, or a person finished what it could not (the seed team found
//! orders completed while their automation was still running).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::id::{AutomationRunId, OrderId, RefundId, ShipmentId};
use crate::time::Timestamp;
use crate::ValidationError;

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StepAction {
    /// POSTs the run (JSON) to the workspace's system at `url` (outbound-request checks
    /// apply); a 2xx answer is success, anything else a failed attempt with its status.
    Callback { url: String },
    /// Updates the devices' assignment history from the parcel (no request is sent): an
    /// outbound parcel's devices are assigned to the customer (a replacement's first closing
    /// the windows of the devices it replaces, its devices taking their assets); a return's
    /// devices go back to stock, their windows closed. Run first, even when a scenario names
    /// no such step, for every parcel that carries devices.
    Devices,
    /// Refunds a received return through the order's refund path (the provider that took
    /// the payment): each unit it brought back at what the customer paid for it, its line's
    /// total shared over the line's units, and at most what is still refundable. The run
    /// keeps the refund it asked for, so a retried attempt never refunds twice. An outbound
    /// parcel refunds nothing: the step fails.
    Refund,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AutomationStep {
    /// Names the step in the run (`provision`).
    #[schema(pattern = "^[a-z0-9_]{1,40}$")]
    pub key: String,
    pub action: StepAction,
    /// Attempts before the step fails (1 to 10).
    #[schema(minimum = 1, maximum = 10)]
    pub max_attempts: u32,
    /// Seconds between attempts (0 to a day).
    #[schema(minimum = 0, maximum = 86_400)]
    pub retry_delay_seconds: i64,
}

/// A named list of steps, run when a parcel it applies to is delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AutomationScenario {
    /// `first_time` (run for outbound parcels unless the shipment names another), `return`
    /// (for returns), `replacement`, or the workspace's own.
    #[schema(pattern = "^[a-z0-9_]{1,40}$")]
    pub key: String,
    /// Always `automation_scenario`.
    pub object: String,
    pub steps: Vec<AutomationStep>,
    /// What support does when a step fails all its attempts: the manual task's instructions.
    pub fallback_instructions: String,
    pub updated_at: Timestamp,
}

/// The devices step a parcel carrying devices runs first when its scenario names none.
pub fn devices_step() -> AutomationStep {
    AutomationStep {
        key: "devices".into(),
        action: StepAction::Devices,
        max_attempts: 1,
        retry_delay_seconds: 0,
    }
}

/// The steps a run follows: the scenario's, after a devices step when the parcel carries
/// devices and the scenario names none (the assignment history is kept for every parcel).
pub fn plan_for(steps: &[AutomationStep], carries_devices: bool) -> Vec<AutomationStep> {
    let mut plan = steps.to_vec();
    if carries_devices && !plan.iter().any(|s| s.action == StepAction::Devices) {
        plan.insert(0, devices_step());
    }
    plan
}

/// What support does when the built-in devices step fails (a parcel with devices whose
/// scenario the workspace does not define).
pub const DEVICES_FALLBACK: &str = "The devices in this parcel could not be assigned: check     each device's status and assignments (GET /v1/devices?shipment_id=...), fix what is wrong,     then complete this task.";

/// The most steps a scenario has.
pub const STEPS_MAX: usize = 10;

fn check_key(param: &str, key: &str) -> Result<(), ValidationError> {
    let ok = (1..=40).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ValidationError::invalid(
            param,
            "A key is 1 to 40 lower-case letters, digits and underscores.",
        ))
    }
}

/// Checks a scenario's key and steps, naming the field.
pub fn check_scenario(key: &str, steps: &[AutomationStep]) -> Result<(), ValidationError> {
    check_key("key", key)?;
    if steps.is_empty() || steps.len() > STEPS_MAX {
        return Err(ValidationError::invalid(
            "steps",
            format!("A scenario has 1 to {STEPS_MAX} steps."),
        ));
    }
    for (i, step) in steps.iter().enumerate() {
        check_key(&format!("steps[{i}].key"), &step.key)?;
        let built_in = matches!(step.action, StepAction::Devices | StepAction::Refund);
        if built_in && steps[..i].iter().any(|s| s.action == step.action) {
            return Err(ValidationError::invalid(
                format!("steps[{i}].action"),
                "A scenario has at most one devices step and one refund step.",
            ));
        }
        if steps[..i].iter().any(|s| s.key == step.key) {
            return Err(ValidationError::invalid(
                format!("steps[{i}].key"),
                "Each step's key appears once.",
            ));
        }
        if !(1..=10).contains(&step.max_attempts) {
            return Err(ValidationError::invalid(
                format!("steps[{i}].max_attempts"),
                "A step has 1 to 10 attempts.",
            ));
        }
        if !(0..=86_400).contains(&step.retry_delay_seconds) {
            return Err(ValidationError::invalid(
                format!("steps[{i}].retry_delay_seconds"),
                "Between attempts: 0 to 86,400 seconds.",
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Steps still to do; the next at `next_attempt_at`.
    Running,
    Succeeded,
    /// A step failed all its attempts: a manual task waits for support.
    ManualTask,
    /// Support finished by hand what the automation could not.
    CompletedManually,
}

impl RunStatus {
    /// Whether the order may count this parcel as done.
    pub fn is_done(self) -> bool {
        matches!(self, RunStatus::Succeeded | RunStatus::CompletedManually)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Pending,
    Succeeded,
    Failed,
}

/// One attempt's outcome: structured, never a blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StepAttempt {
    pub attempt: u32,
    pub at: Timestamp,
    pub succeeded: bool,
    /// The callback's HTTP status, when it answered.
    pub http_status: Option<u16>,
    /// Why it failed.
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StepState {
    pub key: String,
    pub status: StepStatus,
    pub attempts: Vec<StepAttempt>,
}

/// Work for support when automation gave up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ManualTask {
    pub instructions: String,
    /// The step that failed.
    pub failed_step: String,
    pub created_at: Timestamp,
    pub completed_at: Option<Timestamp>,
    /// What support did.
    pub note: Option<String>,
}

/// One scenario run for one delivered shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AutomationRun {
    pub id: AutomationRunId,
    /// Always `automation_run`.
    pub object: String,
    pub shipment_id: ShipmentId,
    pub order_id: OrderId,
    pub scenario: String,
    pub status: RunStatus,
    /// The scenario's steps as they were when the run began.
    pub plan: Vec<AutomationStep>,
    pub steps: Vec<StepState>,
    pub next_attempt_at: Option<Timestamp>,
    pub manual_task: Option<ManualTask>,
    /// The refund its refund step asked for (a return's run).
    #[serde(default)]
    pub refund_id: Option<RefundId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl AutomationRun {
    /// The step to attempt next, with its plan.
    pub fn current(&self) -> Option<(usize, &AutomationStep)> {
        let index = self
            .steps
            .iter()
            .position(|s| s.status == StepStatus::Pending)?;
        self.plan.get(index).map(|step| (index, step))
    }

    /// Records an attempt of the current step at `now` and moves the run on: the next step
    /// (at once), another attempt after the step's delay, success, or a manual task with the
    /// fallback instructions once the attempts are spent.
    pub fn record_attempt(
        &mut self,
        outcome: Result<(), (Option<u16>, String)>,
        fallback_instructions: &str,
        now: Timestamp,
    ) {
        let Some((index, step)) = self.current().map(|(i, s)| (i, s.clone())) else {
            return;
        };
        let state = &mut self.steps[index];
        let attempt = u32::try_from(state.attempts.len()).unwrap_or(u32::MAX) + 1;
        let (http_status, error) = match &outcome {
            Ok(()) => (None, None),
            Err((status, error)) => (*status, Some(error.clone())),
        };
        state.attempts.push(StepAttempt {
            attempt,
            at: now,
            succeeded: outcome.is_ok(),
            http_status,
            error,
        });
        self.updated_at = now;
        if outcome.is_ok() {
            state.status = StepStatus::Succeeded;
            if self.current().is_none() {
                self.status = RunStatus::Succeeded;
                self.next_attempt_at = None;
            } else {
                self.next_attempt_at = Some(now);
            }
        } else if attempt < step.max_attempts {
            self.next_attempt_at = Some(now.plus_seconds(step.retry_delay_seconds));
        } else {
            state.status = StepStatus::Failed;
            self.status = RunStatus::ManualTask;
            self.next_attempt_at = None;
            self.manual_task = Some(ManualTask {
                instructions: fallback_instructions.to_owned(),
                failed_step: step.key.clone(),
                created_at: now,
                completed_at: None,
                note: None,
            });
        }
    }
}

impl AutomationRun {
    /// Asked again from the job monitor: a running run's next attempt is now; a run waiting on
    /// its manual task gets its failed step back with one more attempt. False when the run is
    /// done.
    pub fn retry_now(&mut self, now: Timestamp) -> bool {
        match self.status {
            RunStatus::Running => {}
            RunStatus::ManualTask => {
                let Some(failed) = self
                    .steps
                    .iter_mut()
                    .find(|s| s.status == StepStatus::Failed)
                else {
                    return false;
                };
                failed.status = StepStatus::Pending;
                self.status = RunStatus::Running;
                self.manual_task = None;
            }
            RunStatus::Succeeded | RunStatus::CompletedManually => return false,
        }
        self.next_attempt_at = Some(now);
        self.updated_at = now;
        true
    }

    /// Stopped from the job monitor: no more attempts; support finishes by hand. False unless
    /// the run was running.
    pub fn hand_over(&mut self, instructions: &str, now: Timestamp) -> bool {
        if self.status != RunStatus::Running {
            return false;
        }
        let failed_step = match self.current() {
            Some((index, step)) => {
                let key = step.key.clone();
                self.steps[index].status = StepStatus::Failed;
                key
            }
            None => String::new(),
        };
        self.status = RunStatus::ManualTask;
        self.next_attempt_at = None;
        self.manual_task = Some(ManualTask {
            instructions: instructions.to_owned(),
            failed_step,
            created_at: now,
            completed_at: None,
            note: None,
        });
        self.updated_at = now;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(plan: Vec<AutomationStep>) -> AutomationRun {
        AutomationRun {
            id: AutomationRunId::new(),
            object: "automation_run".into(),
            shipment_id: ShipmentId::from_trusted("shp_1".into()),
            order_id: OrderId::from_trusted("ord_1".into()),
            scenario: "first_time".into(),
            status: RunStatus::Running,
            steps: plan
                .iter()
                .map(|s| StepState {
                    key: s.key.clone(),
                    status: StepStatus::Pending,
                    attempts: Vec::new(),
                })
                .collect(),
            plan,
            next_attempt_at: Some(Timestamp::from_unix_micros(0)),
            manual_task: None,
            refund_id: None,
            created_at: Timestamp::from_unix_micros(0),
            updated_at: Timestamp::from_unix_micros(0),
        }
    }

    fn step(key: &str, max_attempts: u32) -> AutomationStep {
        AutomationStep {
            key: key.into(),
            action: StepAction::Callback {
                url: "https://ops.example/provision".into(),
            },
            max_attempts,
            retry_delay_seconds: 60,
        }
    }

    #[test]
    fn steps_run_in_order_and_the_run_succeeds_after_the_last() {
        let now = Timestamp::from_unix_micros(1_000_000);
        let mut run = run(vec![step("a", 1), step("b", 2)]);
        run.record_attempt(Ok(()), "by hand", now);
        assert_eq!(
            (run.status, run.next_attempt_at),
            (RunStatus::Running, Some(now))
        );
        assert_eq!(run.current().map(|(i, _)| i), Some(1));
        run.record_attempt(Err((Some(503), "busy".into())), "by hand", now);
        assert_eq!(run.next_attempt_at, Some(now.plus_seconds(60)));
        run.record_attempt(Ok(()), "by hand", now.plus_seconds(60));
        assert_eq!(
            (run.status, run.next_attempt_at),
            (RunStatus::Succeeded, None)
        );
        assert_eq!(run.steps[1].attempts.len(), 2);
        assert_eq!(run.steps[1].attempts[0].http_status, Some(503));
    }

    #[test]
    fn spent_attempts_leave_a_manual_task_with_the_instructions() {
        let now = Timestamp::from_unix_micros(1_000_000);
        let mut run = run(vec![step("provision", 2), step("notify", 1)]);
        run.record_attempt(Err((None, "timeout".into())), "Provision by hand.", now);
        run.record_attempt(Err((Some(500), "boom".into())), "Provision by hand.", now);
        assert_eq!(run.status, RunStatus::ManualTask);
        let task = run.manual_task.as_ref().unwrap();
        assert_eq!(
            (task.failed_step.as_str(), task.instructions.as_str()),
            ("provision", "Provision by hand.")
        );
        assert_eq!(run.steps[0].status, StepStatus::Failed);
        assert_eq!(
            run.steps[1].status,
            StepStatus::Pending,
            "later steps are not attempted"
        );
        assert!(!run.status.is_done());
    }

    #[test]
    fn the_monitor_retries_a_manual_task_once_more_and_hands_a_running_run_over() {
        let now = Timestamp::from_unix_micros(1_000_000);
        let mut run = run(vec![step("provision", 1)]);
        run.record_attempt(Err((Some(500), "boom".into())), "By hand.", now);
        assert_eq!(run.status, RunStatus::ManualTask);
        assert!(run.retry_now(now.plus_seconds(5)));
        assert_eq!(
            (run.status, run.next_attempt_at),
            (RunStatus::Running, Some(now.plus_seconds(5)))
        );
        assert!(run.manual_task.is_none());
        assert!(run.hand_over("Cancelled: by hand.", now.plus_seconds(6)));
        assert_eq!(run.status, RunStatus::ManualTask);
        assert_eq!(run.manual_task.as_ref().unwrap().failed_step, "provision");
        assert!(
            !run.hand_over("again", now),
            "only a running run is handed over"
        );
        run.status = RunStatus::Succeeded;
        assert!(!run.retry_now(now));
    }

    #[test]
    fn scenarios_are_checked_naming_the_field() {
        assert!(check_scenario("first_time", &[step("a", 3)]).is_ok());
        assert_eq!(
            check_scenario("First", &[step("a", 3)]).unwrap_err().param,
            "key"
        );
        assert_eq!(check_scenario("x", &[]).unwrap_err().param, "steps");
        let twice = check_scenario("x", &[step("a", 1), step("a", 1)]).unwrap_err();
        assert_eq!(twice.param, "steps[1].key");
        assert_eq!(
            check_scenario("x", &[step("a", 0)]).unwrap_err().param,
            "steps[0].max_attempts"
        );
    }
}
