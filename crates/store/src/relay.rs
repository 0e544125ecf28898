//! The relay's state: events through their first round, then deliveries that need more.
//!
//! * **First round** ([`claim_new`], [`settle_new`]): events not yet through it are taken in
//!   insertion order and held for a lease. The relay delivers each to every subscriber; when
//!   all succeed the event is simply marked published — no per-subscriber rows, so the
//!   common case costs two row updates per event. No cursor is kept: on PostgreSQL an event
//!   with a smaller position can commit after one with a larger position, and a cursor would
//!   skip it; a flag with a partial index cannot.
//! * **Deliveries**: when a subscriber fails (or an earlier event of the same aggregate is
//!   still waiting somewhere), the event gets one delivery row per subscriber saying where
//!   each stands. Due pending deliveries are claimed for a lease ([`claim`]), in insertion
//!   order, except those behind an earlier delivery of the same aggregate to the same
//!   subscriber that waits for a retry or is held by a relay (per-aggregate order). Claims of
//!   concurrent relays are serialised (an advisory lock on PostgreSQL, the single writer on
//!   SQLite), so two relays never hold the same event or delivery, and the order rule sees
//!   every claim.
//! * **Complete** ([`complete`]): each attempted delivery is delivered, retried later, or
//!   dead-lettered; an event whose deliveries are all delivered or dead is published.
//!
//! A relay that dies mid-round leaves its leases to expire; the events are delivered again
//! (at least once), and subscribers apply each once by its id.

use bursar_domain::event::Event;
use bursar_domain::id::WorkspaceId;
use bursar_domain::time::Timestamp;

use crate::events::event_from;
use crate::sql::Param;
use crate::{params, Backend, StoreError, Tx};

/// Publishes event `$2` at `$1` unless a delivery of it is still pending.
const PUBLISH_WHEN_NOTHING_PENDING: &str = "update domain_event set published_at = $1 \
    where event_id = $2 and published_at is null and not exists (select 1 from event_delivery \
    where event_delivery.event_id = $2 and event_delivery.status = 'pending')";

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

/// An event in its first round, with its workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub workspace_id: WorkspaceId,
    pub event: Event,
}

fn aggregate_key(workspace_id: &str, aggregate_type: &str, aggregate_id: &str) -> String {
    format!("{workspace_id}:{aggregate_type}:{aggregate_id}")
}

/// Takes up to `limit` events not yet through their first round, in insertion order, and
/// holds them until `lease_until`.
///
/// The first round needs no delivery rows: the relay delivers the event to every subscriber
/// and, when all succeed, [`settle_new`] only marks it published. An event whose aggregate
/// still has a delivery waiting (an earlier event failed somewhere) cannot overtake it: it gets
/// its pending delivery rows here, and [`claim`] delivers it in order. Those events are not
/// returned.
pub async fn claim_new(
    tx: &mut Tx,
    subscribers: &[&str],
    now: Timestamp,
    lease_until: Timestamp,
    limit: i64,
) -> Result<Vec<NewEvent>, StoreError> {
    lock_claims(tx).await?;
    let rows = tx
        .fetch_all(
            "select workspace_id, position, event_id, event_type, version, aggregate_type, \
             aggregate_id, sequence, payload, occurred_at, request_id, actor from domain_event \
             where fanned_out = 0 and claimed_until <= $1 order by position limit $2",
            params![now.unix_micros(), limit],
        )
        .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut events = Vec::with_capacity(rows.len());
    for row in &rows {
        events.push((
            row.i64("position")?,
            NewEvent {
                workspace_id: WorkspaceId::from_trusted(row.text("workspace_id")?),
                event: event_from(row)?,
            },
        ));
    }
    let keys: Vec<String> = events
        .iter()
        .map(|(_, e)| {
            aggregate_key(
                e.workspace_id.as_str(),
                &e.event.aggregate_type,
                &e.event.aggregate_id,
            )
        })
        .collect();
    let mut distinct: Vec<&str> = keys.iter().map(String::as_str).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let waiting_rows = if tx.backend() == Backend::Postgres {
        tx.fetch_all(
            "select distinct aggregate_key from event_delivery where status = 'pending' \
             and aggregate_key = any($1)",
            &[text_list(&distinct)],
        )
        .await?
    } else {
        let lookups: Vec<Param<'_>> = distinct.iter().map(|k| Param::from(*k)).collect();
        tx.fetch_each(
            "select aggregate_key from event_delivery where aggregate_key = $1 \
             and status = 'pending' limit 1",
            1,
            &lookups,
        )
        .await?
    };
    let waiting: std::collections::HashSet<String> = waiting_rows
        .iter()
        .map(|r| r.text("aggregate_key"))
        .collect::<Result<_, _>>()?;
    let mut fast = Vec::with_capacity(events.len());
    let mut deliveries: Vec<Param<'_>> = Vec::new();
    let mut fanned: Vec<&str> = Vec::new();
    for ((position, event), key) in events.iter().zip(&keys) {
        if waiting.contains(key) {
            for subscriber in subscribers {
                deliveries.extend([
                    Param::from(event.event.id.as_str()),
                    (*subscriber).into(),
                    event.workspace_id.as_str().into(),
                    (*position).into(),
                    key.as_str().into(),
                    event.event.sequence.into(),
                    now.unix_micros().into(),
                ]);
            }
            fanned.push(event.event.id.as_str());
        } else {
            fast.push(event.clone());
        }
    }
    let held: Vec<&str> = fast.iter().map(|e| e.event.id.as_str()).collect();
    update_events(tx, "claimed_until = $1", lease_until.unix_micros(), &held).await?;
    tx.execute_each(
        "insert into event_delivery (event_id, subscriber, workspace_id, position, \
         aggregate_key, sequence, status, attempts, next_attempt_at, claimed_until, updated_at) \
         values ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, 0, $7) \
         on conflict (event_id, subscriber) do nothing",
        7,
        &deliveries,
    )
    .await?;
    update_events(tx, "fanned_out = 1, claimed_until = $1", 0, &fanned).await?;
    Ok(fast)
}

/// Ends the first round of events from [`claim_new`], given each subscriber's outcome (in
/// the order of `subscribers`). Delivered everywhere: published. Otherwise each subscriber gets
/// a delivery row saying where it stands, and [`claim`] takes over.
pub async fn settle_new(
    tx: &mut Tx,
    subscribers: &[&str],
    settled: &[(&NewEvent, Vec<Outcome>)],
    now: Timestamp,
) -> Result<(), StoreError> {
    let mut published: Vec<&str> = Vec::new();
    let mut rows: Vec<Param<'_>> = Vec::new();
    let mut fanned: Vec<&str> = Vec::new();
    let keys: Vec<String> = settled
        .iter()
        .map(|(e, _)| {
            aggregate_key(
                e.workspace_id.as_str(),
                &e.event.aggregate_type,
                &e.event.aggregate_id,
            )
        })
        .collect();
    for ((event, outcomes), key) in settled.iter().zip(&keys) {
        if outcomes.iter().all(|o| *o == Outcome::Delivered) {
            published.push(event.event.id.as_str());
            continue;
        }
        for (subscriber, outcome) in subscribers.iter().zip(outcomes) {
            let (status, attempts, next, error) = match outcome {
                Outcome::Delivered => ("delivered", 1, now.unix_micros(), None),
                Outcome::Retry {
                    error,
                    next_attempt_at,
                } => (
                    "pending",
                    1,
                    next_attempt_at.unix_micros(),
                    Some(error.as_str()),
                ),
                Outcome::Dead { error } => ("dead", 1, now.unix_micros(), Some(error.as_str())),
                Outcome::Released => ("pending", 0, now.unix_micros(), None),
            };
            rows.extend([
                Param::from(event.event.id.as_str()),
                (*subscriber).into(),
                event.workspace_id.as_str().into(),
                event.event.sequence.into(),
                key.as_str().into(),
                status.into(),
                i64::from(attempts).into(),
                next.into(),
                error.into(),
                now.unix_micros().into(),
            ]);
        }
        fanned.push(event.event.id.as_str());
    }
    update_events(
        tx,
        "fanned_out = 1, claimed_until = 0, published_at = $1",
        now.unix_micros(),
        &published,
    )
    .await?;
    // The position orders claims; it is read from the event itself.
    tx.execute_each(
        "insert into event_delivery (event_id, subscriber, workspace_id, position, \
         aggregate_key, sequence, status, attempts, next_attempt_at, claimed_until, last_error, \
         updated_at) select $1, $2, $3, position, $5, $4, $6, $7, $8, 0, $9, $10 \
         from domain_event where event_id = $1 \
         on conflict (event_id, subscriber) do nothing",
        10,
        &rows,
    )
    .await?;
    update_events(tx, "fanned_out = 1, claimed_until = $1", 0, &fanned).await?;
    // Events whose every subscriber is done (delivered or dead) are published.
    tx.execute_each(
        "update domain_event set published_at = $2 where event_id = $1 and published_at is null \
         and not exists (select 1 from event_delivery where event_delivery.event_id = $1 \
         and event_delivery.status = 'pending')",
        2,
        &fanned
            .iter()
            .flat_map(|id| [Param::from(*id), Param::from(now.unix_micros())])
            .collect::<Vec<_>>(),
    )
    .await?;
    Ok(())
}

/// `update domain_event set {assignments} where event_id = <id>` for every id, `$1` in
/// `assignments` being `value`: one statement over an array on PostgreSQL, one prepared
/// statement run per id on SQLite.
async fn update_events(
    tx: &mut Tx,
    assignments: &str,
    value: i64,
    ids: &[&str],
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    if tx.backend() == Backend::Postgres {
        tx.execute(
            &format!("update domain_event set {assignments} where event_id = any($2)"),
            &[value.into(), text_list(ids)],
        )
        .await?;
    } else {
        let params: Vec<Param<'_>> = ids
            .iter()
            .flat_map(|id| [Param::from(value), Param::from(*id)])
            .collect();
        tx.execute_each(
            &format!("update domain_event set {assignments} where event_id = $2"),
            2,
            &params,
        )
        .await?;
    }
    Ok(())
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
    let mut rows: Vec<Param<'_>> = Vec::with_capacity(outcomes.len() * 7);
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
        rows.extend([
            Param::from(status),
            attempts.into(),
            next.into(),
            error.into(),
            now.unix_micros().into(),
            delivery.event.id.as_str().into(),
            delivery.subscriber.as_str().into(),
        ]);
    }
    tx.execute_each(
        "update event_delivery set status = $1, attempts = $2, \
         next_attempt_at = coalesce($3, next_attempt_at), claimed_until = 0, \
         last_error = coalesce($4, last_error), updated_at = $5 \
         where event_id = $6 and subscriber = $7",
        7,
        &rows,
    )
    .await?;
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
        tx.execute_each(PUBLISH_WHEN_NOTHING_PENDING, 2, &publish)
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

/// A PostgreSQL `text[]` parameter.
fn text_list(items: &[&str]) -> crate::Value {
    crate::Value::TextList(items.iter().map(|s| Some((*s).to_owned())).collect())
}

async fn lock_claims(tx: &mut Tx) -> Result<(), StoreError> {
    if tx.backend() == Backend::Postgres {
        tx.execute("select pg_advisory_xact_lock($1)", params![CLAIM_LOCK_KEY])
            .await?;
    }
    Ok(())
}

/// Asked again from the job monitor: a dead delivery is replayed ([`replay`]); a pending one
/// is due now. False when the workspace has no such delivery waiting.
pub async fn retry_now(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    event_id: &str,
    subscriber: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    if replay(tx, workspace_id, event_id, subscriber, now).await? {
        return Ok(true);
    }
    let changed = tx
        .execute(
            "update event_delivery set next_attempt_at = $1, updated_at = $1 \
             where workspace_id = $2 and event_id = $3 and subscriber = $4 and status = 'pending'",
            params![
                now.unix_micros(),
                workspace_id.as_str(),
                event_id,
                subscriber
            ],
        )
        .await?;
    Ok(changed > 0)
}

/// Stopped from the job monitor: a pending delivery is dead-lettered (replayable later), and
/// its event published once nothing else waits. False when it was not pending.
pub async fn abandon(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    event_id: &str,
    subscriber: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let changed = tx
        .execute(
            "update event_delivery set status = 'dead', last_error = 'cancelled from the job \
             monitor', claimed_until = 0, updated_at = $1 \
             where workspace_id = $2 and event_id = $3 and subscriber = $4 and status = 'pending'",
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
        PUBLISH_WHEN_NOTHING_PENDING,
        params![now.unix_micros(), event_id],
    )
    .await?;
    Ok(true)
}
