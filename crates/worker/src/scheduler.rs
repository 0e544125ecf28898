//! The periodic jobs of a server: each a loop at its own pace that calls a use case of the
//! core, logs what it did, and stops between runs when the token is cancelled.

use std::time::Duration;

use bursar_core::App;
use bursar_store::{Db, Tx};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often expired idempotency keys are swept, and how many per sweep.
const IDEMPOTENCY_SWEEP_INTERVAL: Duration = Duration::from_secs(60);
const IDEMPOTENCY_SWEEP_KEYS_MAX: i64 = 10_000;
/// How often pending transfers past their timeout are released.
const PENDING_EXPIRY_INTERVAL: Duration = Duration::from_secs(1);
/// How often due wallet holdings are seasoned.
const SEASONING_INTERVAL: Duration = Duration::from_secs(1);
/// How often the drift job runs the checks retried from the job monitor (every workspace's
/// is checked once a day, `drift::CHECK_INTERVAL`).
const DRIFT_QUEUED_INTERVAL: Duration = Duration::from_secs(60);
/// How often the test provider looks for checkout sessions whose time is up.
const CHECKOUT_EXPIRY_INTERVAL: Duration = Duration::from_secs(5);
/// How often contracts' renewals, expiries and scheduled terminations are looked for, due
/// contracts billed and due accounts evaluated (a failed contract or account is tried again
/// on the next pass).
const CONTRACT_SCHEDULER_INTERVAL: Duration = bursar_core::billing::PASS_INTERVAL;
const _: () = assert!(
    bursar_core::billing::PASS_INTERVAL.as_secs()
        == bursar_core::collections::SWEEP_INTERVAL.as_secs()
);

/// How often every account's stored health is checked against its facts.
const HEALTH_CHECK_INTERVAL: Duration = Duration::from_secs(3600);

/// How often the sandbox test banks are brought to now (their wires arrive in seconds).
const TEST_BANK_INTERVAL: Duration = Duration::from_millis(500);

/// How often expected payments past their window and snoozed review items are looked for.
const TREASURY_SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// How often payout schedules are looked at (a due one pays its seller out).
const PAYOUT_SCHEDULE_INTERVAL: Duration = bursar_core::payouts::SCHEDULE_INTERVAL;
/// How often payouts due at the bank (delayed, unreachable, or retried) are sent.
const PAYOUT_SEND_INTERVAL: Duration = Duration::from_secs(5);
/// How often the tracking worker looks for shipments whose poll is due (each shipment's own
/// interval is set by where it is; see `bursar_domain::shipping::next_poll`).
const TRACKING_POLL_INTERVAL: Duration = Duration::from_secs(30);
/// How often due automation steps are attempted.
const AUTOMATION_INTERVAL: Duration = Duration::from_secs(5);
/// How often the velocity counts of past windows are forgotten.
const VELOCITY_SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// How often due onboarding emails (the welcome, tips days later) are looked for.
const ONBOARDING_INTERVAL: Duration = Duration::from_secs(30);
/// Shipments asked about per pass, at most.
const TRACKING_POLL_BATCH: i64 = 500;

/// Starts every periodic job of a server over `app`, until `stop` is cancelled.
pub fn spawn_all(app: &App, stop: &CancellationToken) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(sweep_idempotency_keys(app.db.clone(), stop.clone())),
        tokio::spawn(expire_pending_transfers(app.db.clone(), stop.clone())),
        tokio::spawn(season_due_holdings(app.db.clone(), stop.clone())),
        tokio::spawn(expire_test_checkouts(app.clone(), stop.clone())),
        tokio::spawn(schedule_contracts(app.clone(), stop.clone())),
        tokio::spawn(finish_stale_refunds(app.clone(), stop.clone())),
        tokio::spawn(check_account_health(app.clone(), stop.clone())),
        tokio::spawn(sweep_treasury(app.clone(), stop.clone())),
        tokio::spawn(drive_test_banks(app.clone(), stop.clone())),
        tokio::spawn(run_payout_schedules(app.clone(), stop.clone())),
        tokio::spawn(send_due_payouts(app.clone(), stop.clone())),
        tokio::spawn(check_bank_drift(app.clone(), stop.clone())),
        tokio::spawn(poll_tracking(app.clone(), stop.clone())),
        tokio::spawn(run_automation(app.clone(), stop.clone())),
        tokio::spawn(send_onboarding(app.clone(), stop.clone())),
        tokio::spawn(forget_velocity(app.clone(), stop.clone())),
    ]
}

/// Forgets the velocity counts of past windows.
async fn forget_velocity(app: App, stop: CancellationToken) {
    while tick(VELOCITY_SWEEP_INTERVAL, &stop).await {
        report(
            bursar_core::velocity::sweep(&app)
                .await
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            "velocity keys forgotten",
            "forgetting velocity keys failed",
        );
    }
}

/// Records the onboarding steps of fulfilled orders that came due (their emails follow).
async fn send_onboarding(app: App, stop: CancellationToken) {
    while tick(ONBOARDING_INTERVAL, &stop).await {
        report(
            bursar_core::onboarding::send_due(&app).await,
            "onboarding steps recorded",
            "onboarding failed",
        );
    }
}

/// Attempts the due steps of post-delivery automation runs.
async fn run_automation(app: App, stop: CancellationToken) {
    while tick(AUTOMATION_INTERVAL, &stop).await {
        let attempted = bursar_core::shipments::automation::run_due(&app, 100).await;
        report(
            attempted.map(|r| r.attempted),
            "automation steps attempted",
            "automation failed",
        );
    }
}

/// Asks carriers about shipments whose poll is due, within each carrier's rate limit.
async fn poll_tracking(app: App, stop: CancellationToken) {
    while tick(TRACKING_POLL_INTERVAL, &stop).await {
        let polled = bursar_core::shipments::poll::poll_due(&app, TRACKING_POLL_BATCH).await;
        report(
            polled.map(|r| r.asked),
            "shipments polled",
            "tracking poll failed",
        );
    }
}

/// Moves the sandbox test banks to now: what falls due (a wire arriving, an ACH settling, a
/// return) comes in as their webhooks, through the same ingestion as a real bank's.
async fn drive_test_banks(app: App, stop: CancellationToken) {
    while tick(TEST_BANK_INTERVAL, &stop).await {
        if let Err(error) = bursar_core::bank_events::drive_test_banks(&app).await {
            tracing::warn!(%error, "driving the test banks failed");
        }
    }
}

/// Marks expected payments overdue once their window has passed (each goes to review) and
/// reopens snoozed reconciliation items whose date has come.
async fn sweep_treasury(app: App, stop: CancellationToken) {
    while tick(TREASURY_SWEEP_INTERVAL, &stop).await {
        report(
            bursar_core::treasury::sweep(&app).await,
            "treasury rows swept",
            "treasury sweep failed",
        );
    }
}

/// Once a day: what the banks report the platform's accounts hold against the ledger; a
/// difference opens a `balance_drift` review item. Between, the checks retried from the job
/// monitor.
async fn check_bank_drift(app: App, stop: CancellationToken) {
    use bursar_core::treasury::drift;
    let mut last_full = std::time::Instant::now();
    while tick(DRIFT_QUEUED_INTERVAL, &stop).await {
        let checked = if last_full.elapsed() >= drift::CHECK_INTERVAL {
            last_full = std::time::Instant::now();
            drift::check_all(&app).await
        } else {
            drift::check_queued(&app).await
        };
        report(checked, "balance drift items opened", "drift check failed");
    }
}

/// Pays out every seller whose payout schedule is due (AVAILABLE at least the minimum).
async fn run_payout_schedules(app: App, stop: CancellationToken) {
    while tick(PAYOUT_SCHEDULE_INTERVAL, &stop).await {
        report(
            bursar_core::payouts::run_schedules(&app).await,
            "scheduled payouts created",
            "payout schedules failed",
        );
    }
}

/// Sends payouts whose time came: delayed ones, ones the bank could not take, and failed ones
/// retried as new attempts.
async fn send_due_payouts(app: App, stop: CancellationToken) {
    while tick(PAYOUT_SEND_INTERVAL, &stop).await {
        report(
            send_payouts(&app).await,
            "payouts sent",
            "sending payouts failed",
        );
    }
}

/// One pass of [`send_due_payouts`], each workspace's payouts to its own bank.
pub async fn send_payouts(app: &App) -> Result<usize, bursar_core::Error> {
    bursar_core::payouts::retry_due(app).await
}

/// The disagreement detector: recomputes every account's health, sets
/// `bursar_account_health_disagreements` and logs each account that disagrees (repair with
/// `bursar collections check --repair`); then sets the collections summary's gauges.
async fn check_account_health(app: App, stop: CancellationToken) {
    while tick(HEALTH_CHECK_INTERVAL, &stop).await {
        match bursar_core::collections::check(&app, None).await {
            Ok(report) => {
                for d in &report.disagreements {
                    tracing::error!(workspace = %d.workspace_id, customer = %d.customer_id,
                        stored = ?d.stored, recomputed = ?d.recomputed,
                        "account health disagrees with its facts");
                }
            }
            Err(error) => tracing::warn!(error = %error, "account health check failed"),
        }
        if let Err(error) = bursar_core::collections::refresh_gauges(&app).await {
            tracing::warn!(error = %error, "refreshing the collections gauges failed");
        }
    }
}

/// Settles refunds a crash or a timeout left `pending`, with the provider idempotency key they
/// were first asked with.
async fn finish_stale_refunds(app: App, stop: CancellationToken) {
    while tick(Duration::from_secs(60), &stop).await {
        let result =
            bursar_core::refunds::finish_stale(&app, bursar_core::refunds::STALE_REFUND_SECONDS)
                .await;
        report(
            result,
            "stale refunds settled",
            "settling stale refunds failed",
        );
    }
}

/// Waits `interval`; false when `stop` was cancelled first.
async fn tick(interval: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(interval) => true,
    }
}

/// Logs what one run of a job did: nothing, a count, or its failure.
fn report<E: std::fmt::Display>(result: Result<usize, E>, done: &str, failed: &str) {
    match result {
        Ok(0) => {}
        Ok(count) => tracing::info!(count, "{done}"),
        Err(error) => tracing::warn!(error = %error, "{failed}"),
    }
}

async fn sweep_idempotency_keys(db: Db, stop: CancellationToken) {
    while tick(IDEMPOTENCY_SWEEP_INTERVAL, &stop).await {
        let now = db.now();
        let swept = db
            .write(move |tx: &mut Tx| {
                Box::pin(async move {
                    let count = bursar_store::idempotency::sweep_expired(
                        tx,
                        now,
                        IDEMPOTENCY_SWEEP_KEYS_MAX,
                    )
                    .await?;
                    Ok::<_, bursar_store::StoreError>(usize::try_from(count).unwrap_or(0))
                })
            })
            .await;
        report(
            swept,
            "swept expired idempotency keys",
            "idempotency key sweep failed",
        );
    }
}

/// Releases pending transfers whose timeout has passed, so their reserved amounts become
/// available again even when no new transfer touches them.
async fn expire_pending_transfers(db: Db, stop: CancellationToken) {
    use bursar_store::ledger;
    while tick(PENDING_EXPIRY_INTERVAL, &stop).await {
        let now = db.now();
        let due = db
            .read(move |tx: &mut Tx| Box::pin(ledger::workspaces_with_due_pending(tx, now)))
            .await;
        let workspaces = match due {
            Ok(workspaces) => workspaces,
            Err(error) => {
                tracing::warn!(error = %error, "pending expiry scan failed");
                continue;
            }
        };
        for workspace in workspaces {
            let expired = db
                .write(move |tx: &mut Tx| {
                    Box::pin(async move { ledger::expire_pending(tx, &workspace, now).await })
                })
                .await;
            match expired {
                Ok(count) => tracing::info!(count, "pending transfers expired"),
                Err(error) => tracing::warn!(error = %error, "pending expiry failed"),
            }
        }
    }
}

/// Moves wallet holdings whose `not_before` has passed from PAY_IN_HOLDING to AVAILABLE.
async fn season_due_holdings(db: Db, stop: CancellationToken) {
    use bursar_store::wallet;
    while tick(SEASONING_INTERVAL, &stop).await {
        let now = db.now();
        let seasoned = db
            .write(move |tx: &mut Tx| Box::pin(wallet::season_due(tx, now)))
            .await;
        report(seasoned, "wallet holdings seasoned", "seasoning failed");
    }
}

/// The embedded test provider expires its unpaid checkout sessions when their time is up.
async fn expire_test_checkouts(app: App, stop: CancellationToken) {
    while tick(CHECKOUT_EXPIRY_INTERVAL, &stop).await {
        report(
            bursar_core::test_provider::expire_due_sessions(&app).await,
            "test checkout sessions expired",
            "expiring test checkouts failed",
        );
    }
}

/// Renews, expires and terminates contracts when they are due, bills contracts whose period
/// started (unless billing is manual), and moves the billing status of customers whose
/// invoices fell due.
async fn schedule_contracts(app: App, stop: CancellationToken) {
    while tick(CONTRACT_SCHEDULER_INTERVAL, &stop).await {
        report(
            bursar_core::contracts::run_scheduler(&app).await,
            "contract operations scheduled",
            "contract scheduler failed",
        );
        if app.config.auto_billing {
            report(
                bursar_core::billing::run_due_billing(&app).await,
                "invoices drafted by billing",
                "billing failed",
            );
            report(
                bursar_core::billing::issue_due_drafts(&app).await,
                "billed drafts issued",
                "issuing billed drafts failed",
            );
        }
        report(
            bursar_core::collections::sweep(&app).await,
            "accounts evaluated",
            "collections sweep failed",
        );
    }
}
