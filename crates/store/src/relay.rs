//! The relay's state: one delivery per (event, subscriber), claimed, attempted, completed.
//!
//! * **Fan-out**: events not yet fanned out (in insertion order) get a pending delivery for
//!   every subscriber, and are marked fanned out. No cursor is kept: on PostgreSQL an event
//!   with a smaller position can commit after one with a larger position, and a cursor would
//!   skip it; a flag with a partial index cannot.
//! * **Claim**: due pending deliveries are claimed for a lease, in insertion order, except
//!   those behind an earlier delivery of the same aggregate to the same subscriber that is
//!   waiting for a retry or held by a relay (per-aggregate order). Claims of concurrent relays
//!   are serialised (an advisory lock on PostgreSQL, the single writer on SQLite), so two relays
//!   never hold the same delivery, and the order rule sees every claim.
//! * **Complete**: each attempted delivery is delivered, retried later, or dead-lettered; an
//!   event whose deliveries are all delivered or dead is published.

use bursar_domain::event::Event;
use bursar_domain::id::WorkspaceId;
use bursar_domain::time::Timestamp;

use crate::events::event_from;
use crate::sql::Param;
use crate::{params, Backend, StoreError, Tx};

/// Serialises claims of relays sharing one PostgreSQL database.
const CLAIM_LOCK_KEY: i64 = 0x7265_6c61_7921;

/// A delivery a relay holds: the event and the subscriber it is for.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub workspace_id: WorkspaceId,
    pub subscriber: String,
    pub event: Event,
    /// Attempts made before this one.
    pub attempts: i64,
}

/// What became of an attempted (or skipped) delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Failed; try again at `next_attempt_at`.
    Retry {
        error: String,
        next_attempt_at: Timestamp,
    },
    /// Failed for the last time: a dead letter, until an admin replays it.
    Dead {
        error: String,
    },
    /// Not attempted (an earlier event of its aggregate failed in the same round): back to
    /// pending as it was.
    Released,
}

/// A dead-lettered delivery, as an admin lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub event: Event,
    pub subscriber: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub dead_at: Timestamp,
}

/// Gives every subscriber a pending delivery of up to `limit` events not yet fanned out;
/// returns how many events were fanned out.
pub async fn fan_out(
    tx: &mut Tx,
    subscribers: &[&str],
    now: Timestamp,
    limit: i64,
) -> Result<usize, StoreError> {
    lock_claims(tx).await?;
    let rows = tx
        .fetch_all(
            "select event_id, workspace_id, position, aggregate_type, aggregate_id, sequence \
             from domain_event where fanned_out = 0 order by position limit $1",
            params![limit],
        )
        .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut events = Vec::with_capacity(rows.len());
    for row in &rows {
        events.push((
            row.text("event_id")?,
            row.text("workspace_id")?,
            row.i64("position")?,
            format!(
                "{}:{}:{}",
                row.str("workspace_id")?,
                row.str("aggregate_type")?,
                row.str("aggregate_id")?
            ),
            row.i64("sequence")?,
        ));
    }
    let mut deliveries: Vec<Param<'_>> = Vec::with_capacity(events.len() * subscribers.len() * 9);
    for (event_id, workspace_id, position, aggregate_key, sequence) in &events {
        for subscriber in subscribers {
            deliveries.extend([
                Param::from(event_id.as_str()),
                (*subscriber).into(),
                workspace_id.as_str().into(),
                (*position).into(),
                aggregate_key.as_str().into(),
                (*sequence).into(),
                now.unix_micros().into(),
                0_i64.into(),
                now.unix_micros().into(),
            ]);
        }
    }
    if !deliveries.is_empty() {
        tx.execute_each(
            "insert into event_delivery (event_id, subscriber, workspace_id, position, \
             aggregate_key, sequence, status, attempts, next_attempt_at, claimed_until, updated_at) \
             values ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $8, $9) \
             on conflict (event_id, subscriber) do nothing",
            9,
            &deliveries,
        )
        .await?;
    }
    let ids: Vec<Param<'_>> = events
        .iter()
        .map(|(id, ..)| Param::from(id.as_str()))
        .collect();
    tx.execute_each(
        "update domain_event set fanned_out = 1 where event_id = $1",
        1,
        &ids,
    )
    .await?;
    // With no subscriber at all, an event is published as soon as it is fanned out.
    if subscribers.is_empty() {
        tx.execute_each(
            "update domain_event set published_at = $2 where event_id = $1",
            2,
            &events
                .iter()
                .flat_map(|(id, ..)| [Param::from(id.as_str()), now.unix_micros().into()])
                .collect::<Vec<_>>(),
        )
        .await?;
    }
    Ok(events.len())
}

/// Claims up to `limit` due deliveries until `lease_until`, in insertion order, keeping each
/// subscriber's per-aggregate order (see the module's documentation).
pub async fn claim(
    tx: &mut Tx,
    now: Timestamp,
    lease_until: Timestamp,
    limit: i64,
) -> Result<Vec<Delivery>, StoreError> {
    lock_claims(tx).await?;
    let rows = tx
        .fetch_all(
            "select d.subscriber, d.workspace_id, d.attempts, e.event_id, e.event_type, \
             e.version, e.aggregate_type, e.aggregate_id, e.sequence, e.payload, e.occurred_at, \
             e.request_id, e.actor \
             from event_delivery d join domain_event e on e.event_id = d.event_id \
             where d.status = 'pending' and d.next_attempt_at <= $1 and d.claimed_until <= $1 \
             and not exists (select 1 from event_delivery b where b.status = 'pending' \
                 and b.subscriber = d.subscriber and b.aggregate_key = d.aggregate_key \
                 and b.sequence < d.sequence and (b.next_attempt_at > $1 or b.claimed_until > $1)) \
             order by d.position, d.subscriber limit $2",
            params![now.unix_micros(), limit],
        )
        .await?;
    let mut claimed = Vec::with_capacity(rows.len());
    for row in &rows {
        claimed.push(Delivery {
            workspace_id: WorkspaceId::from_trusted(row.text("workspace_id")?),
            subscriber: row.text("subscriber")?,
            event: event_from(row)?,
            attempts: row.i64("attempts")?,
        });
    }
    let keys: Vec<Param<'_>> = claimed
        .iter()
        .flat_map(|d| {
            [
                Param::from(lease_until.unix_micros()),
                d.event.id.as_str().into(),
                d.subscriber.as_str().into(),
            ]
        })
        .collect();
    if !keys.is_empty() {
        tx.execute_each(
            "update event_delivery set claimed_until = $1 where event_id = $2 and subscriber = $3",
            3,
            &keys,
        )
        .await?;
    }
    Ok(claimed)
}

/// Records what became of claimed deliveries, and publishes the events they complete.
pub async fn complete(
    tx: &mut Tx,
    outcomes: &[(&Delivery, Outcome)],
    now: Timestamp,
) -> Result<(), StoreError> {
    for (delivery, outcome) in outcomes {
        let (status, attempts, next, error) = match outcome {
            Outcome::Delivered => ("delivered", delivery.attempts + 1, None, None),
            Outcome::Retry {
                error,
                next_attempt_at,
            } => (
                "pending",
                delivery.attempts + 1,
                Some(next_attempt_at.unix_micros()),
                Some(error.as_str()),
            ),
            Outcome::Dead { error } => ("dead", delivery.attempts + 1, None, Some(error.as_str())),
            Outcome::Released => ("pending", delivery.attempts, None, None),
        };
        tx.execute(
            "update event_delivery set status = $1, attempts = $2, \
             next_attempt_at = coalesce($3, next_attempt_at), claimed_until = 0, \
             last_error = coalesce($4, last_error), updated_at = $5 \
             where event_id = $6 and subscriber = $7",
            params![
                status,
                attempts,
                next,
                error,
                now.unix_micros(),
                delivery.event.id.as_str(),
                delivery.subscriber.as_str()
            ],
        )
        .await?;
    }
    let mut finished: Vec<&str> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Delivered | Outcome::Dead { .. }))
        .map(|(d, _)| d.event.id.as_str())
        .collect();
    finished.sort_unstable();
    finished.dedup();
    let publish: Vec<Param<'_>> = finished
        .iter()
        .flat_map(|id| [Param::from(now.unix_micros()), Param::from(*id)])
        .collect();
    if !publish.is_empty() {
        tx.execute_each(
            "update domain_event set published_at = $1 where event_id = $2 \
             and published_at is null and not exists (select 1 from event_delivery \
             where event_delivery.event_id = $2 and event_delivery.status = 'pending')",
            2,
            &publish,
        )
        .await?;
    }
    Ok(())
}

/// The earliest instant a pending delivery becomes due, if any is pending.
pub async fn next_due(tx: &mut Tx) -> Result<Option<Timestamp>, StoreError> {
    let row = tx
        .fetch_one(
            "select min(case when claimed_until > next_attempt_at then claimed_until \
             else next_attempt_at end) as due from event_delivery where status = 'pending'",
            &[],
        )
        .await?;
    Ok(row.opt_i64("due")?.map(Timestamp::from_unix_micros))
}

/// Dead letters of a workspace, newest first.
pub async fn dead_letters(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    limit: i64,
) -> Result<Vec<DeadLetter>, StoreError> {
    let rows = tx
        .fetch_all(
            "select d.subscriber, d.attempts, d.last_error, d.updated_at, e.event_id, \
             e.event_type, e.version, e.aggregate_type, e.aggregate_id, e.sequence, e.payload, \
             e.occurred_at, e.request_id, e.actor \
             from event_delivery d join domain_event e on e.event_id = d.event_id \
             where d.workspace_id = $1 and d.status = 'dead' \
             order by d.updated_at desc, d.event_id desc limit $2",
            params![workspace_id.as_str(), limit],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(DeadLetter {
                event: event_from(row)?,
                subscriber: row.text("subscriber")?,
                attempts: row.i64("attempts")?,
                last_error: row.opt_text("last_error")?,
                dead_at: Timestamp::from_unix_micros(row.i64("updated_at")?),
            })
        })
        .collect()
}

/// Puts a dead letter back in line: pending, due now, attempts counted afresh. Returns false
/// when there is no such dead letter in the workspace.
pub async fn replay(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    event_id: &str,
    subscriber: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let changed = tx
        .execute(
            "update event_delivery set status = 'pending', attempts = 0, next_attempt_at = $1, \
             claimed_until = 0, updated_at = $1 \
             where workspace_id = $2 and event_id = $3 and subscriber = $4 and status = 'dead'",
            params![
                now.unix_micros(),
                workspace_id.as_str(),
                event_id,
                subscriber
            ],
        )
        .await?;
    if changed == 0 {
        return Ok(false);
    }
    tx.execute(
        "update domain_event set published_at = null where event_id = $1",
        params![event_id],
    )
    .await?;
    Ok(true)
}

/// Deliveries of an event, per subscriber: (subscriber, status, attempts, last error).
pub async fn deliveries_of(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    event_id: &str,
) -> Result<Vec<(String, String, i64, Option<String>)>, StoreError> {
    let rows = tx
        .fetch_all(
            "select subscriber, status, attempts, last_error from event_delivery \
             where workspace_id = $1 and event_id = $2 order by subscriber",
            params![workspace_id.as_str(), event_id],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.text("subscriber")?,
                r.text("status")?,
                r.i64("attempts")?,
                r.opt_text("last_error")?,
            ))
        })
        .collect()
}

async fn lock_claims(tx: &mut Tx) -> Result<(), StoreError> {
    if tx.backend() == Backend::Postgres {
        tx.execute("select pg_advisory_xact_lock($1)", params![CLAIM_LOCK_KEY])
            .await?;
    }
    Ok(())
}
