//! Payout schedules: when a seller is paid out automatically, and the run that pays out every
//! seller whose schedule is due (all of AVAILABLE per currency, when at least the minimum).

use std::collections::BTreeMap;

use bursar_domain::event::Cause;
use bursar_domain::id::{CustomerId, WorkspaceId};
use bursar_domain::jobs::JobKind;
use bursar_domain::money::{check_amount_cap, Currency};
use bursar_domain::treasury::payout_objects::{PayoutOrigin, PayoutScheduleObject};
use bursar_domain::treasury::payouts::{next_run, scheduled_amount, Interval};
use bursar_store::{payouts as rows, wallet, Tx};

use super::{available, create, PayoutInput};
use crate::error::Error;
use crate::job_attempts::Pass;
use crate::write::Context;
use crate::App;

/// Days a scheduled payout may wait before it is sent, at most.
pub const DELAY_DAYS_MAX: i64 = 30;

/// A schedule as asked for.
#[derive(Debug, Clone)]
pub struct ScheduleInput {
    pub interval: Interval,
    pub delay_days: i64,
    /// Per currency (`USD`) or `*` for any.
    pub minimum_amounts: BTreeMap<String, i64>,
}

fn check(input: &ScheduleInput) -> Result<(), Error> {
    if !(0..=DELAY_DAYS_MAX).contains(&input.delay_days) {
        return Err(Error::invalid(
            "parameter_invalid",
            Some("delay_days".into()),
            format!("delay_days must be 0 to {DELAY_DAYS_MAX}."),
        ));
    }
    for (currency, amount) in &input.minimum_amounts {
        let param = format!("minimum_amount.{currency}");
        if currency != "*" {
            Currency::parse(currency, &param)?;
        }
        if *amount < 0 {
            return Err(Error::invalid(
                "parameter_invalid",
                Some(param),
                "A minimum amount is zero or more minor units.",
            ));
        }
        check_amount_cap(*amount, &param)?;
    }
    Ok(())
}

/// Sets a seller's payout schedule (replacing any), its next run computed from now.
pub async fn set_schedule(
    cx: &mut Context<'_>,
    party: &CustomerId,
    input: ScheduleInput,
) -> Result<PayoutScheduleObject, Error> {
    check(&input)?;
    crate::wallets::require_party(cx.tx, cx.workspace_id, party, "id").await?;
    let (interval, weekday, day_of_month) = PayoutScheduleObject::interval_fields(input.interval);
    let schedule = PayoutScheduleObject {
        object: "payout_schedule".into(),
        party_id: party.clone(),
        interval,
        weekday,
        day_of_month,
        delay_days: input.delay_days,
        minimum_amounts: input.minimum_amounts,
        next_run_at: next_run(input.interval, cx.now),
        updated_at: Some(cx.now),
    };
    rows::save_schedule(cx.tx, cx.workspace_id, &schedule).await?;
    let event_type = bursar_domain::event_type::PAYOUT_SCHEDULE_UPDATED;
    cx.emit_object(event_type, "party", party.as_str(), &schedule)
        .await?;
    Ok(schedule)
}

/// One due schedule's run: a payout of AVAILABLE in each currency that reaches the minimum,
/// sent `delay_days` later; then the schedule's next run.
async fn run_one(cx: &mut Context<'_>, party: CustomerId) -> Result<usize, Error> {
    // Read again in the run's transaction: another run may have taken it.
    let Some(mut schedule) = rows::get_schedule(cx.tx, cx.workspace_id, &party).await? else {
        return Ok(0);
    };
    if schedule.next_run_at.is_none_or(|at| at > cx.now) {
        return Ok(0);
    }
    let mut currencies: Vec<Currency> = wallet::wallet(cx.tx, cx.workspace_id, &party)
        .await?
        .into_iter()
        .map(|a| a.currency)
        .collect();
    currencies.sort_by(|a, b| a.code().cmp(b.code()));
    currencies.dedup();
    let send_at = cx
        .now
        .plus_seconds(schedule.delay_days.saturating_mul(86_400));
    let has_account = rows::active_bank_account(cx.tx, cx.workspace_id, &party)
        .await?
        .is_some();
    let mut created = 0;
    for currency in currencies.into_iter().filter(|_| has_account) {
        let balance = available(cx.tx, cx.workspace_id, &party, currency).await?;
        let Some(amount) = scheduled_amount(balance, schedule.minimum(currency.code())) else {
            continue;
        };
        let input = PayoutInput {
            party: party.clone(),
            amount,
            currency,
        };
        create(cx, &input, PayoutOrigin::Schedule, Some(send_at)).await?;
        created += 1;
    }
    schedule.next_run_at = next_run(schedule.interval(), cx.now);
    schedule.updated_at = Some(cx.now);
    rows::save_schedule(cx.tx, cx.workspace_id, &schedule).await?;
    Ok(created)
}

/// How often the server looks at payout schedules: one whose run failed is tried again on the
/// next pass (its `payout_schedule` job run shows why).
pub const SCHEDULE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs every due schedule (the background job); answers how many payouts it created. They
/// are sent to the bank by `retry_due` once their delay has passed. A seller whose run fails
/// does not hold up the others; one cancelled from the job monitor is skipped until retried.
pub async fn run_schedules(app: &App) -> Result<usize, Error> {
    let now = app.now();
    let due = app
        .db
        .read(move |tx| Box::pin(async move { rows::due_schedules(tx, now).await }))
        .await?;
    let cause = Cause {
        request_id: None,
        actor: Some("system:payout_schedule".into()),
    };
    let pass = Pass::begin(app, JobKind::PayoutSchedule, SCHEDULE_INTERVAL).await?;
    let mut created = 0;
    for (workspace_id, schedule) in due {
        let party = schedule.party_id.to_string();
        if pass.skips(&workspace_id, &party) {
            continue;
        }
        let started = std::time::Instant::now();
        let result = run_in(app, workspace_id.clone(), cause.clone(), schedule).await;
        let outcome = result.as_ref().map(|_| ());
        pass.record(app, &workspace_id, &party, started, outcome)
            .await;
        created += result.unwrap_or(0);
    }
    Ok(created)
}

async fn run_in(
    app: &App,
    workspace_id: WorkspaceId,
    cause: Cause,
    schedule: PayoutScheduleObject,
) -> Result<usize, Error> {
    app.write(workspace_id, cause, move |mut cx| {
        Box::pin(async move { run_one(&mut cx, schedule.party_id).await })
    })
    .await
}

/// A seller's payout schedule: `manual` (paid out only when asked) until one is set.
pub async fn get_schedule(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    party: &CustomerId,
) -> Result<PayoutScheduleObject, Error> {
    crate::wallets::require_party(tx, workspace_id, party, "id").await?;
    let stored = rows::get_schedule(tx, workspace_id, party).await?;
    Ok(stored.unwrap_or_else(|| PayoutScheduleObject {
        object: "payout_schedule".into(),
        party_id: party.clone(),
        interval: Interval::Manual.name().into(),
        weekday: None,
        day_of_month: None,
        delay_days: 0,
        minimum_amounts: BTreeMap::new(),
        next_run_at: None,
        updated_at: None,
    }))
}
