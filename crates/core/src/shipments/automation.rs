//! Post-delivery automation: when a parcel is delivered, its scenario (if the workspace
//! defines it) starts a run in the same transaction; the automation job attempts each due
//! step outside any transaction (a callback to the workspace's system through the outbound
//! checks) and records the outcome in one; a step that spends its attempts leaves a manual
//! task for support. The order is fulfilled only when every delivered parcel's run is done.

use bursar_domain::event::{Cause, NewEvent};
use bursar_domain::event_type;
use bursar_domain::id::{AutomationRunId, WorkspaceId};
use bursar_domain::jobs::{Attempt, JobKind};
use bursar_domain::page::PageRequest;
use bursar_domain::shipping::*;
use bursar_domain::ValidationError;
use bursar_payments::executor::{Method, ProviderRequest};
use bursar_store::documents::{self, AUTOMATION_RUN, AUTOMATION_SCENARIO, SHIPMENT};
use bursar_store::{Tx, Value};
use serde_json::json;

use crate::error::Error;
use crate::write::Context;
use crate::App;

/// The scenario a shipment runs unless it names another.
pub fn default_key(direction: ShipmentDirection) -> &'static str {
    match direction {
        ShipmentDirection::Outbound => "first_time",
        ShipmentDirection::Return => "return",
    }
}

/// A scenario named on a new shipment must exist.
pub async fn check_named(cx: &mut Context<'_>, key: &str) -> Result<String, Error> {
    let found: Option<AutomationScenario> =
        documents::get(cx.tx, AUTOMATION_SCENARIO, cx.workspace_id, key, false).await?;
    found.map(|s| s.key).ok_or_else(|| {
        Error::not_found("automation scenario", key).with_param("automation_scenario")
    })
}

/// Creates or replaces the workspace's scenario `key` (`automation_scenario.updated`).
pub async fn put_scenario(
    cx: &mut Context<'_>,
    key: String,
    steps: Vec<AutomationStep>,
    fallback_instructions: String,
) -> Result<AutomationScenario, Error> {
    check_scenario(&key, &steps)?;
    let exists: Option<AutomationScenario> =
        documents::get(cx.tx, AUTOMATION_SCENARIO, cx.workspace_id, &key, false).await?;
    if exists.is_none() && count_scenarios(cx).await? >= SCENARIOS_MAX {
        return Err(ValidationError::invalid(
            "key",
            format!("A workspace has at most {SCENARIOS_MAX} scenarios; replace one."),
        )
        .into());
    }
    for (i, step) in steps.iter().enumerate() {
        let StepAction::Callback { url } = &step.action else {
            continue;
        };
        if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2048 {
            return Err(ValidationError::invalid(
                format!("steps[{i}].action.url"),
                "A callback is an http(s) URL of at most 2,048 characters.",
            )
            .into());
        }
    }
    let scenario = AutomationScenario {
        key,
        object: "automation_scenario".into(),
        steps,
        fallback_instructions,
        updated_at: cx.now,
    };
    let key = scenario.key.as_str();
    documents::upsert(
        cx.tx,
        AUTOMATION_SCENARIO,
        cx.workspace_id,
        key,
        &scenario,
        &[],
    )
    .await?;
    cx.emit_object(
        event_type::AUTOMATION_SCENARIO_UPDATED,
        "automation_scenario",
        key,
        &scenario,
    )
    .await?;
    Ok(scenario)
}

async fn count_scenarios(cx: &mut Context<'_>) -> Result<i64, Error> {
    let row = cx
        .tx
        .fetch_one(
            "select count(*) as n from automation_scenario where workspace_id = $1",
            bursar_store::params![cx.workspace_id.as_str()],
        )
        .await?;
    Ok(row.i64("n")?)
}

fn columns(run: &AutomationRun) -> [(&'static str, Value); 4] {
    [
        ("shipment_id", run.shipment_id.as_str().into()),
        ("order_id", run.order_id.as_str().into()),
        ("status", status_name(run.status).into()),
        (
            "next_attempt_at",
            run.next_attempt_at.map(|t| t.unix_micros()).into(),
        ),
    ]
}

fn status_name(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "running",
        RunStatus::Succeeded => "succeeded",
        RunStatus::ManualTask => "manual_task",
        RunStatus::CompletedManually => "completed_manually",
    }
}

/// The scenario a delivered shipment runs: the workspace's, or (for a parcel carrying
/// devices) one with only the devices step.
async fn scenario_of(
    cx: &mut Context<'_>,
    shipment: &Shipment,
) -> Result<Option<AutomationScenario>, Error> {
    let carries_devices = !shipment.devices.is_empty();
    let key = shipment.automation_scenario.clone();
    let key = match key {
        Some(key) => key,
        None if carries_devices => default_key(shipment.direction).to_owned(),
        None => return Ok(None),
    };
    let stored: Option<AutomationScenario> =
        documents::get(cx.tx, AUTOMATION_SCENARIO, cx.workspace_id, &key, false).await?;
    Ok(match stored {
        Some(mut scenario) => {
            scenario.steps = plan_for(&scenario.steps, carries_devices);
            Some(scenario)
        }
        None if carries_devices => Some(AutomationScenario {
            key,
            object: "automation_scenario".into(),
            steps: vec![devices_step()],
            fallback_instructions: DEVICES_FALLBACK.into(),
            updated_at: cx.now,
        }),
        None => None,
    })
}

/// Starts the shipment's scenario, if the workspace defines it or the parcel carries devices
/// (`automation_run.started`), and does its leading devices step at once; false when there is
/// nothing to run.
pub async fn start(cx: &mut Context<'_>, shipment: &Shipment) -> Result<bool, Error> {
    let Some(scenario) = scenario_of(cx, shipment).await? else {
        return Ok(false);
    };
    let mut run = AutomationRun {
        id: AutomationRunId::new(),
        object: "automation_run".into(),
        shipment_id: shipment.id.clone(),
        order_id: shipment.order_id.clone(),
        scenario: scenario.key.clone(),
        status: RunStatus::Running,
        steps: scenario
            .steps
            .iter()
            .map(|s| StepState {
                key: s.key.clone(),
                status: StepStatus::Pending,
                attempts: Vec::new(),
            })
            .collect(),
        plan: scenario.steps,
        next_attempt_at: Some(cx.now),
        manual_task: None,
        refund_id: None,
        created_at: cx.now,
        updated_at: cx.now,
    };
    let id = run.id.as_str();
    documents::insert(
        cx.tx,
        AUTOMATION_RUN,
        cx.workspace_id,
        id,
        &run,
        &columns(&run),
    )
    .await?;
    cx.emit_object(
        event_type::AUTOMATION_RUN_STARTED,
        "automation_run",
        id,
        &run,
    )
    .await?;
    let fallback = scenario.fallback_instructions;
    advance_in_process(cx, &mut run, shipment, &fallback).await?;
    Ok(true)
}

/// Does the run's due devices steps (no request leaves Bursar: they run inside the write).
async fn advance_in_process(
    cx: &mut Context<'_>,
    run: &mut AutomationRun,
    shipment: &Shipment,
    fallback: &str,
) -> Result<(), Error> {
    while run.status == RunStatus::Running
        && run.next_attempt_at.is_some_and(|at| at <= cx.now)
        && run
            .current()
            .is_some_and(|(_, step)| step.action == StepAction::Devices)
    {
        let outcome = devices_outcome(cx, shipment, run).await?;
        conclude(cx, run, outcome, fallback).await?;
    }
    Ok(())
}

/// The devices step's outcome: a refusal is a failed attempt (nothing written), any other
/// error fails the write.
async fn devices_outcome(
    cx: &mut Context<'_>,
    shipment: &Shipment,
    run: &AutomationRun,
) -> Result<Result<(), (Option<u16>, String)>, Error> {
    match super::devices::apply(cx, shipment, &run.id).await {
        Ok(()) => Ok(Ok(())),
        Err(refused) if refused.kind == crate::error::ErrorKind::State => {
            Ok(Err((None, refused.message)))
        }
        Err(error) => Err(error),
    }
}

/// Records an attempt's outcome on the run and announces it (`automation_run.step_succeeded`
/// or `.step_failed`, then `.succeeded` or `.manual_task_created` when the run ends).
async fn conclude(
    cx: &mut Context<'_>,
    run: &mut AutomationRun,
    outcome: Result<(), (Option<u16>, String)>,
    fallback: &str,
) -> Result<(), Error> {
    let succeeded = outcome.is_ok();
    run.record_attempt(outcome, fallback, cx.now);
    save_run(cx, run).await?;
    let step_event = if succeeded {
        event_type::AUTOMATION_RUN_STEP_SUCCEEDED
    } else {
        event_type::AUTOMATION_RUN_STEP_FAILED
    };
    emit(cx, step_event, run).await?;
    match run.status {
        RunStatus::Succeeded => emit(cx, event_type::AUTOMATION_RUN_SUCCEEDED, run).await,
        RunStatus::ManualTask => emit(cx, event_type::AUTOMATION_RUN_MANUAL_TASK, run).await,
        _ => Ok(()),
    }
}

/// The most scenarios a workspace has.
pub const SCENARIOS_MAX: i64 = 100;

/// The workspace's scenarios, by key.
pub async fn scenarios(
    app: &App,
    workspace_id: &WorkspaceId,
) -> Result<Vec<AutomationScenario>, Error> {
    let workspace = workspace_id.clone();
    let mut found: Vec<AutomationScenario> = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let page =
                    PageRequest::parse(Some(SCENARIOS_MAX), None, None, |v, _| Ok(v.to_owned()))
                        .map_err(|e| bursar_store::StoreError::Corrupt(e.to_string()))?;
                documents::list(tx, AUTOMATION_SCENARIO, &workspace, &page, None).await
            })
        })
        .await?
        .data;
    found.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(found)
}

/// The runs of an order's shipments.
pub async fn runs_of_order(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    order_id: &str,
) -> Result<Vec<AutomationRun>, Error> {
    Ok(documents::find_in(tx, AUTOMATION_RUN, workspace_id, "order_id", &[order_id]).await?)
}

/// What one pass of the automation job did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AutomationReport {
    pub attempted: usize,
    pub succeeded: usize,
    pub failed: usize,
}

/// Attempts the due step of up to `limit` runs.
pub async fn run_due(app: &App, limit: i64) -> Result<AutomationReport, Error> {
    let now = app.now();
    let due = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { bursar_store::shipping::runs_due(tx, now, limit).await })
        })
        .await?;
    let mut report = AutomationReport::default();
    for (workspace_id, run_id) in due {
        let run: AutomationRun = crate::lookup::get(
            app,
            &workspace_id,
            AUTOMATION_RUN,
            "automation run",
            run_id.clone(),
        )
        .await?;
        let Some((index, step)) = run.current().map(|(i, s)| (i, s.clone())) else {
            continue;
        };
        report.attempted += 1;
        let attempt = run.steps[index].attempts.len();
        let started = std::time::Instant::now();
        let outcome = attempt_step(app, &workspace_id, &run, &step).await;
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        if outcome.is_ok() {
            report.succeeded += 1;
        } else {
            report.failed += 1;
        }
        let attempt = (index, attempt, duration_ms);
        record_outcome(app, &workspace_id, &run_id, attempt, outcome).await?;
    }
    Ok(report)
}

/// Does a step: a callback POSTs the run to the workspace's system (a 2xx answer is
/// success); a refund step refunds the return ([`super::returns`]). A devices step is done
/// when its outcome is recorded, inside that write.
async fn attempt_step(
    app: &App,
    workspace_id: &WorkspaceId,
    run: &AutomationRun,
    step: &AutomationStep,
) -> Result<(), (Option<u16>, String)> {
    let url = match &step.action {
        StepAction::Callback { url } => url,
        StepAction::Refund => {
            return super::returns::refund_step(app, workspace_id, run.id.as_str()).await
        }
        StepAction::Devices => return Ok(()),
    };
    let executor = app.payments.executor().map_err(|e| (None, e.message))?;
    let body = json!({
        "object": "automation_callback", "run": run, "step": step.key,
        "attempt": run.current().map_or(0, |(i, _)| run.steps[i].attempts.len() + 1),
    });
    let request = ProviderRequest {
        operation: "automation.callback",
        method: Method::POST,
        url: url.clone(),
        headers: Vec::new(),
        form: None,
        json: Some(body.to_string()),
        idempotency_key: None,
    };
    match executor.execute("automation", &request).await {
        Ok(answer) if answer.is_success() => Ok(()),
        Ok(answer) => Err((
            Some(answer.status),
            format!("the callback answered HTTP {}", answer.status),
        )),
        Err(error) => Err((None, error.to_string())),
    }
}

pub(super) fn system_cause() -> Cause {
    Cause {
        request_id: None,
        actor: Some("system:automation".into()),
    }
}

/// Records an attempt's outcome, unless another process recorded that attempt already.
async fn record_outcome(
    app: &App,
    workspace_id: &WorkspaceId,
    run_id: &str,
    (index, attempt, duration_ms): (usize, usize, i64),
    outcome: Result<(), (Option<u16>, String)>,
) -> Result<(), Error> {
    let id = run_id.to_owned();
    app.write(
        workspace_id.clone(),
        system_cause(),
        move |mut cx: Context<'_>| {
            Box::pin(async move {
                let mut run: AutomationRun =
                    crate::lookup::get_in(&mut cx, AUTOMATION_RUN, "automation run", &id, "id")
                        .await?;
                let same = run.current().map(|(i, _)| i) == Some(index)
                    && run.steps[index].attempts.len() == attempt;
                if !same {
                    return Ok(());
                }
                let scenario: Option<AutomationScenario> = documents::get(
                    cx.tx,
                    AUTOMATION_SCENARIO,
                    cx.workspace_id,
                    &run.scenario,
                    false,
                )
                .await?;
                let fallback = scenario
                    .map(|s| s.fallback_instructions)
                    .unwrap_or_else(|| DEVICES_FALLBACK.to_owned());
                let shipment: Shipment = crate::lookup::get_in(
                    &mut cx,
                    SHIPMENT,
                    "shipment",
                    run.shipment_id.as_str(),
                    "id",
                )
                .await?;
                let in_process = run.plan[index].action == StepAction::Devices;
                let outcome = if in_process {
                    devices_outcome(&mut cx, &shipment, &run).await?
                } else {
                    outcome
                };
                let error = outcome.as_ref().err().map(|(_, e)| e.clone());
                conclude(&mut cx, &mut run, outcome, &fallback).await?;
                let tried = Attempt {
                    at: cx.now,
                    duration_ms,
                    next_attempt_at: run.next_attempt_at.filter(|_| error.is_some()),
                    error,
                };
                crate::job_attempts::record(&mut cx, JobKind::AutomationStep, &id, tried).await?;
                advance_in_process(&mut cx, &mut run, &shipment, &fallback).await?;
                if run.status == RunStatus::Succeeded {
                    super::tracking::settle_order(&mut cx, run.order_id.as_str()).await?;
                }
                Ok(())
            })
        },
    )
    .await
}

pub(crate) async fn save_run(cx: &mut Context<'_>, run: &AutomationRun) -> Result<(), Error> {
    let id = run.id.as_str();
    documents::save(
        cx.tx,
        AUTOMATION_RUN,
        cx.workspace_id,
        id,
        run,
        &columns(run),
    )
    .await?;
    Ok(())
}

async fn emit(
    cx: &mut Context<'_>,
    event_type: &'static str,
    run: &AutomationRun,
) -> Result<(), Error> {
    cx.emit(NewEvent::new(
        event_type,
        "automation_run",
        run.id.as_str(),
        json!({ "object": run }),
    ))
    .await
}

/// Support finished by hand what the automation could not (`automation_run.completed_manually`):
/// the run counts as done, and the order may be fulfilled.
pub async fn complete_manually(
    cx: &mut Context<'_>,
    id: &str,
    note: String,
) -> Result<AutomationRun, Error> {
    let mut run: AutomationRun =
        crate::lookup::get_in(cx, AUTOMATION_RUN, "automation run", id, "id").await?;
    let waiting = run.status == RunStatus::ManualTask;
    let Some(task) = run.manual_task.as_mut().filter(|_| waiting) else {
        return Err(Error::state(
            "automation_run_state_invalid",
            status_name(run.status),
            "Only a run waiting on a manual task can be completed by hand.",
        ));
    };
    task.completed_at = Some(cx.now);
    task.note = Some(note);
    run.status = RunStatus::CompletedManually;
    run.updated_at = cx.now;
    save_run(cx, &run).await?;
    emit(cx, event_type::AUTOMATION_RUN_COMPLETED_MANUALLY, &run).await?;
    super::tracking::settle_order(cx, run.order_id.as_str()).await?;
    Ok(run)
}
