//! The tracking worker's polls: shipments whose `next_poll_at` has come are asked about at
//! their carrier, within the carrier's published rate limit per workspace account, and never
//! before a `Retry-After` the carrier gave has passed. How often a shipment is asked depends on
//! where it is ([`bursar_domain::shipping::next_poll`]): often near the door, rarely before the
//! carrier has it, never once final.

use std::collections::HashMap;
use std::sync::Mutex;

use bursar_couriers::{adapter, CarrierAdapter, CourierError, Credentials, Tracking};
use bursar_domain::event::Cause;
use bursar_domain::id::WorkspaceId;
use bursar_domain::jobs::{Attempt, JobKind};
use bursar_domain::shipping::*;
use bursar_domain::time::Timestamp;
use bursar_store::documents::{self, SHIPMENT};
use bursar_store::Tx;

use super::tracking::{record, reschedule};
use crate::error::Error;
use crate::write::Context;
use crate::App;

/// After a failed poll (the carrier unreachable, the credentials refused), the next one waits
/// this long.
pub const FAILED_POLL_BACKOFF_SECONDS: i64 = 30 * 60;

/// Requests sent and refused per workspace account at each carrier, and OAuth2 tokens.
#[derive(Default)]
pub struct Gates {
    windows: Mutex<HashMap<(WorkspaceId, Carrier), Window>>,
    tokens: Mutex<HashMap<(WorkspaceId, Carrier), (String, Timestamp)>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Timestamp,
    sent: u32,
    /// The carrier said 429 with `Retry-After`: nothing goes before this.
    blocked_until: Option<Timestamp>,
}

impl Gates {
    /// Takes one request of the carrier's allowance at `now`; when the window is used up or the
    /// carrier asked to wait, the instant the next request may go.
    fn take(
        &self,
        key: &(WorkspaceId, Carrier),
        limit: bursar_couriers::RateLimit,
        now: Timestamp,
    ) -> Result<(), Timestamp> {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let window = windows.entry(key.clone()).or_insert(Window {
            started: now,
            sent: 0,
            blocked_until: None,
        });
        if let Some(until) = window.blocked_until.filter(|until| now < *until) {
            return Err(until);
        }
        let per = i64::try_from(limit.per.as_micros()).unwrap_or(i64::MAX);
        let elapsed = now
            .unix_micros()
            .saturating_sub(window.started.unix_micros());
        if elapsed >= per {
            window.started = now;
            window.sent = 0;
        }
        if window.sent >= limit.requests {
            return Err(window.started.plus_micros(per));
        }
        window.sent += 1;
        Ok(())
    }

    fn block(&self, key: &(WorkspaceId, Carrier), until: Timestamp) {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(window) = windows.get_mut(key) {
            window.blocked_until = Some(until);
        }
    }

    fn token(&self, key: &(WorkspaceId, Carrier), now: Timestamp) -> Option<String> {
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens
            .get(key)
            .filter(|(_, expires)| now < *expires)
            .map(|(token, _)| token.clone())
    }

    fn remember_token(&self, key: (WorkspaceId, Carrier), token: String, expires: Timestamp) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.insert(key, (token, expires));
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Shipments asked about.
    pub asked: usize,
    /// Events recorded (new ones).
    pub recorded: usize,
    /// Shipments left for a later pass: the carrier's allowance was used up, or it asked to
    /// wait.
    pub deferred: usize,
    /// Polls that failed (rescheduled after [`FAILED_POLL_BACKOFF_SECONDS`]).
    pub failed: usize,
}

/// Polls up to `limit` shipments whose poll is due.
pub async fn poll_due(app: &App, limit: i64) -> Result<PollReport, Error> {
    let now = app.now();
    let due = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { bursar_store::shipping::due_for_poll(tx, now, limit).await })
        })
        .await?;
    let mut report = PollReport::default();
    for (workspace_id, shipment_id) in due {
        poll_one(app, &workspace_id, &shipment_id, &mut report).await?;
    }
    Ok(report)
}

async fn poll_one(
    app: &App,
    workspace_id: &WorkspaceId,
    shipment_id: &str,
    report: &mut PollReport,
) -> Result<(), Error> {
    let (workspace, id) = (workspace_id.clone(), shipment_id.to_owned());
    let sealer = app.db.sealer()?.clone();
    let loaded = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let shipment: Option<Shipment> =
                    documents::get(tx, SHIPMENT, &workspace, &id, false).await?;
                let Some(shipment) = shipment else {
                    return Ok::<_, bursar_store::StoreError>(None);
                };
                let unsealed =
                    super::connections::credentials(tx, &sealer, &workspace, shipment.carrier)
                        .await
                        .map_err(|e| bursar_store::StoreError::Corrupt(e.to_string()))?;
                Ok(Some((shipment, unsealed.map(|u| u.credentials))))
            })
        })
        .await?;
    let Some((shipment, credentials)) = loaded else {
        return Ok(());
    };
    let now = app.now();
    let Some(credentials) = credentials.filter(|c| !c.api_base.is_empty()) else {
        report.failed += 1;
        tracing::warn!(
            shipment = shipment_id,
            carrier = shipment.carrier.as_str(),
            "no courier connection to poll with"
        );
        let error = "no courier connection with an API base for this carrier".to_owned();
        return reschedule_after_failure(app, workspace_id, shipment_id, now, (error, 0)).await;
    };
    let carrier = adapter(shipment.carrier);
    let key = (workspace_id.clone(), shipment.carrier);
    if let Err(open_at) = app.couriers.take(&key, carrier.rate_limit(), now) {
        // Moved to when the allowance opens again: a carrier whose allowance is spent never
        // holds back the shipments of the others.
        report.deferred += 1;
        return set_next_poll(app, workspace_id, shipment_id, Some(open_at), None).await;
    }
    report.asked += 1;
    let started = std::time::Instant::now();
    let asked = ask(
        app,
        carrier,
        &key,
        &credentials,
        &shipment.tracking_number,
        now,
    )
    .await;
    let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    match asked {
        Ok(tracking) => {
            let recorded = apply(app, workspace_id, shipment_id, tracking, duration_ms).await?;
            report.recorded += recorded;
            Ok(())
        }
        Err(CourierError::RateLimited { retry_after }) => {
            let seconds = i64::try_from(retry_after.as_secs()).unwrap_or(i64::MAX);
            let open_at = now.plus_seconds(seconds);
            app.couriers.block(&key, open_at);
            report.deferred += 1;
            set_next_poll(app, workspace_id, shipment_id, Some(open_at), None).await
        }
        Err(CourierError::NotFound(_)) => {
            // Not scanned yet: the carrier learns of a label when it gets the parcel.
            let at = next_poll(TrackingStatus::PreTransit, now);
            set_next_poll(app, workspace_id, shipment_id, at, None).await
        }
        Err(error) => {
            report.failed += 1;
            tracing::warn!(shipment = shipment_id, carrier = shipment.carrier.as_str(),
                %error, "tracking poll failed");
            let failed = (error.to_string(), duration_ms);
            reschedule_after_failure(app, workspace_id, shipment_id, now, failed).await
        }
    }
}

/// Sends the tracking request (fetching an OAuth2 token first when the carrier needs one and
/// none is cached) and reads the answer.
async fn ask(
    app: &App,
    carrier: &dyn CarrierAdapter,
    key: &(WorkspaceId, Carrier),
    credentials: &Credentials,
    tracking_number: &str,
    now: Timestamp,
) -> Result<Tracking, CourierError> {
    let executor = app
        .payments
        .executor()
        .map_err(|e| CourierError::Unavailable(e.to_string()))?;
    let name = carrier.carrier().as_str();
    let mut token = app.couriers.token(key, now);
    if token.is_none() {
        if let Some(request) = carrier.token_request(credentials) {
            let answer = executor.execute(name, &request).await?;
            let issued = carrier.parse_token(&answer)?;
            let seconds = i64::try_from(issued.expires_in.as_secs()).unwrap_or(3_600);
            // Renewed a minute early, so no request goes out with a token about to lapse.
            let expires = now.plus_seconds(seconds.saturating_sub(60));
            app.couriers
                .remember_token(key.clone(), issued.token.clone(), expires);
            token = Some(issued.token);
        }
    }
    let request = carrier.tracking_request(credentials, token.as_deref(), tracking_number);
    let answer = executor.execute(name, &request).await?;
    carrier.parse_tracking(tracking_number, &answer)
}

fn system_cause() -> Cause {
    Cause {
        request_id: None,
        actor: Some("system:tracking".into()),
    }
}

async fn apply(
    app: &App,
    workspace_id: &WorkspaceId,
    shipment_id: &str,
    tracking: Tracking,
    duration_ms: i64,
) -> Result<usize, Error> {
    let id = shipment_id.to_owned();
    app.write(
        workspace_id.clone(),
        system_cause(),
        move |mut cx: Context<'_>| {
            Box::pin(async move {
                let shipment: Shipment =
                    crate::lookup::get_in(&mut cx, SHIPMENT, "shipment", &id, "id").await?;
                let update =
                    record(&mut cx, shipment, tracking.events, TrackingSource::Poll).await?;
                let recorded = update.recorded.len();
                if recorded == 0 {
                    let at = next_poll(update.shipment.status, cx.now);
                    reschedule(&mut cx, update.shipment, at).await?;
                }
                let polled = Attempt {
                    at: cx.now,
                    duration_ms,
                    error: None,
                    next_attempt_at: None,
                };
                crate::job_attempts::record(&mut cx, JobKind::TrackingPoll, &id, polled).await?;
                Ok::<_, Error>(recorded)
            })
        },
    )
    .await
}

/// Sets when the shipment is next polled; a failed poll (its error and how long it took) is
/// recorded for the job monitor in the same write.
async fn set_next_poll(
    app: &App,
    workspace_id: &WorkspaceId,
    shipment_id: &str,
    at: Option<Timestamp>,
    failure: Option<(String, i64)>,
) -> Result<(), Error> {
    let id = shipment_id.to_owned();
    app.write(
        workspace_id.clone(),
        system_cause(),
        move |mut cx: Context<'_>| {
            Box::pin(async move {
                let shipment: Shipment =
                    crate::lookup::get_in(&mut cx, SHIPMENT, "shipment", &id, "id").await?;
                let final_ = shipment.status.is_terminal();
                reschedule(&mut cx, shipment, at).await?;
                let Some((error, duration_ms)) = failure else {
                    return Ok(());
                };
                let failed = Attempt {
                    at: cx.now,
                    duration_ms,
                    error: Some(error),
                    next_attempt_at: at.filter(|_| !final_),
                };
                crate::job_attempts::record(&mut cx, JobKind::TrackingPoll, &id, failed).await?;
                Ok(())
            })
        },
    )
    .await
}

/// Polls again after [`FAILED_POLL_BACKOFF_SECONDS`], the failure recorded.
async fn reschedule_after_failure(
    app: &App,
    workspace_id: &WorkspaceId,
    shipment_id: &str,
    now: Timestamp,
    failure: (String, i64),
) -> Result<(), Error> {
    let at = Some(now.plus_seconds(FAILED_POLL_BACKOFF_SECONDS));
    set_next_poll(app, workspace_id, shipment_id, at, Some(failure)).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_allowance_is_counted_per_window_and_a_block_holds_until_it_ends() {
        let gates = Gates::default();
        let key = (
            WorkspaceId::from_trusted("ws_1".to_owned()),
            Carrier::ChitChats,
        );
        let limit = bursar_couriers::RateLimit {
            requests: 2,
            per: Duration::from_secs(300),
        };
        let start = Timestamp::from_unix_micros(1_000_000_000_000);
        assert_eq!(gates.take(&key, limit, start), Ok(()));
        assert_eq!(gates.take(&key, limit, start.plus_seconds(1)), Ok(()));
        let window_end = start.plus_seconds(300);
        assert_eq!(
            gates.take(&key, limit, start.plus_seconds(2)),
            Err(window_end)
        );
        // Another account, or another carrier, has its own allowance.
        let other = (
            WorkspaceId::from_trusted("ws_2".to_owned()),
            Carrier::ChitChats,
        );
        assert_eq!(gates.take(&other, limit, start.plus_seconds(2)), Ok(()));
        assert_eq!(gates.take(&key, limit, window_end), Ok(()));
        // Retry-After: nothing before it, whatever the window says.
        let until = window_end.plus_seconds(30);
        gates.block(&key, until);
        assert_eq!(gates.take(&key, limit, until.plus_seconds(-1)), Err(until));
        assert_eq!(gates.take(&key, limit, until), Ok(()));
    }
}
