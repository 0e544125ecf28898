//! The outbox: domain events recorded in the transaction of the change they describe.

use bursar_domain::event::{Cause, Event, NewEvent, EVENT_VERSION};
use bursar_domain::id::{EventId, WorkspaceId};
use bursar_domain::time::Timestamp;

use crate::{audit, params, Row, StoreError, Tx};

const EVENT_COLUMNS: &str = "event_id, event_type, version, aggregate_type, aggregate_id, \
     sequence, payload, occurred_at, request_id, actor";

pub(crate) fn event_from(row: &Row) -> Result<Event, StoreError> {
    let payload = row.str("payload")?;
    Ok(Event {
        id: EventId::from_trusted(row.text("event_id")?),
        event_type: row.text("event_type")?,
        version: row.i64("version")?,
        aggregate_type: row.text("aggregate_type")?,
        aggregate_id: row.text("aggregate_id")?,
        sequence: row.i64("sequence")?,
        payload: serde_json::from_str(payload)
            .map_err(|e| StoreError::Corrupt(format!("domain_event.payload: {e}")))?,
        occurred_at: Timestamp::from_unix_micros(row.i64("occurred_at")?),
        cause: Cause {
            request_id: row.opt_text("request_id")?,
            actor: row.opt_text("actor")?,
        },
    })
}

/// Records `event` in the current transaction, numbered after the aggregate's last event.
///
/// Changes to one aggregate are serialised by the change itself (its row is locked, or the
/// SQLite writer runs one job at a time); should two ever race, the unique sequence makes one
/// of them fail rather than both claim the same place.
pub async fn record(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    event: &NewEvent,
    cause: &Cause,
    now: Timestamp,
) -> Result<Event, StoreError> {
    let mut recorded = Event {
        id: EventId::new(),
        event_type: event.event_type.to_owned(),
        version: EVENT_VERSION,
        aggregate_type: event.aggregate_type.to_owned(),
        aggregate_id: event.aggregate_id.clone(),
        sequence: 0,
        payload: event.payload.clone(),
        occurred_at: now,
        cause: cause.clone(),
    };
    recorded.sequence = append(tx, workspace_id, event, &recorded).await?;
    tx.events_recorded += 1;
    audit_event(tx, workspace_id, event, cause, now).await?;
    Ok(recorded)
}

/// The insert of one event row, its sequence last (the two forms of [`append`] supply it).
macro_rules! insert_event_columns {
    () => {
        "insert into domain_event (event_id, workspace_id, event_type, version, aggregate_type, \
         aggregate_id, payload, occurred_at, request_id, actor, sequence)"
    };
}

/// Writes `recorded`'s row with the aggregate's next sequence number and returns that number.
async fn append(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    event: &NewEvent,
    recorded: &Event,
) -> Result<i64, StoreError> {
    let mut fields = params![
        recorded.id.as_str(),
        workspace_id.as_str(),
        event.event_type,
        EVENT_VERSION,
        event.aggregate_type,
        event.aggregate_id.as_str(),
        event.payload.to_string(),
        recorded.occurred_at.unix_micros(),
        recorded.cause.request_id.clone(),
        recorded.cause.actor.clone(),
    ]
    .to_vec();
    if tx.backend() == crate::Backend::Postgres {
        // Two transactions appending to one aggregate would read the same max(sequence) and
        // collide; the second waits here until the first commits. Aggregates whose row is
        // locked anyway pay one uncontended lock; those with no row to lock need it.
        let aggregate = format!(
            "{}:{}:{}",
            workspace_id.as_str(),
            event.aggregate_type,
            event.aggregate_id
        );
        tx.execute(
            "select pg_advisory_xact_lock(hashtextextended($1, 0))",
            params![aggregate],
        )
        .await?;
        // One round trip: the next sequence number is taken as the row is written.
        let sql = concat!(
            insert_event_columns!(),
            " select $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, coalesce(max(sequence), 0) + 1 \
             from domain_event where workspace_id = $2 and aggregate_type = $5 \
             and aggregate_id = $6 returning sequence"
        );
        return tx.fetch_one(sql, &fields).await?.i64("sequence");
    }
    // SQLite reads the number apart from the insert: an `insert … select` from the table it
    // writes copies the read into a temporary table and opens a statement journal, on every
    // event. Its one writer serialises appends, and the unique index would refuse a sequence
    // taken twice all the same.
    let last = tx
        .fetch_one(
            "select coalesce(max(sequence), 0) as last from domain_event \
             where workspace_id = $1 and aggregate_type = $2 and aggregate_id = $3",
            params![
                workspace_id.as_str(),
                event.aggregate_type,
                event.aggregate_id.as_str()
            ],
        )
        .await?
        .i64("last")?;
    fields.push((last + 1).into());
    let sql = concat!(
        insert_event_columns!(),
        " values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    );
    tx.execute(sql, &fields).await?;
    Ok(last + 1)
}

/// The events of one aggregate in order, `limit` of them after sequence `after`.
pub async fn timeline(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    aggregate_type: &str,
    aggregate_id: &str,
    after: i64,
    limit: i64,
) -> Result<Vec<Event>, StoreError> {
    let rows = tx
        .fetch_all(
            &format!(
                "select {EVENT_COLUMNS} from domain_event where workspace_id = $1 \
                 and aggregate_type = $2 and aggregate_id = $3 and sequence > $4 \
                 order by sequence limit $5"
            ),
            params![
                workspace_id.as_str(),
                aggregate_type,
                aggregate_id,
                after,
                limit
            ],
        )
        .await?;
    rows.iter().map(event_from).collect()
}

/// One event of the workspace.
pub async fn get(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    event_id: &str,
) -> Result<Option<Event>, StoreError> {
    let row = tx
        .fetch_optional(
            &format!("select {EVENT_COLUMNS} from domain_event where workspace_id = $1 and event_id = $2"),
            params![workspace_id.as_str(), event_id],
        )
        .await?;
    row.as_ref().map(event_from).transpose()
}

/// Records events whose aggregates are new — each the first event of its aggregate, as for an
/// object created in this transaction — in one statement per backend round (sequence 1, no
/// lookup). Should an aggregate already have events, the unique sequence refuses the batch.
pub async fn record_firsts(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    events: &[(NewEvent, Cause)],
    now: Timestamp,
) -> Result<(), StoreError> {
    record_sequenced(tx, workspace_id, events, &vec![1; events.len()], now).await
}

/// Records events with the sequence each takes in its aggregate (`sequences[i]` for
/// `events[i]`), known to the caller from the row the aggregate keeps (its `event_seq`), in one
/// statement per backend round. A sequence already taken is refused by the unique index.
pub async fn record_sequenced(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    events: &[(NewEvent, Cause)],
    sequences: &[i64],
    now: Timestamp,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    assert_eq!(events.len(), sequences.len(), "BUG: one sequence per event");
    let ids: Vec<String> = events.iter().map(|_| EventId::new().to_string()).collect();
    let payloads: Vec<String> = events.iter().map(|(e, _)| e.payload.to_string()).collect();
    if tx.backend() == crate::Backend::Postgres {
        let text = |f: &dyn Fn(usize) -> Option<String>| {
            crate::Value::TextList((0..events.len()).map(f).collect())
        };
        tx.execute(
            "insert into domain_event (event_id, workspace_id, event_type, version, \
             aggregate_type, aggregate_id, sequence, payload, occurred_at, request_id, actor) \
             select id, $2, event_type, $3, aggregate_type, aggregate_id, sequence, payload, $4, \
             request_id, actor from unnest($1::text[], $5::text[], $6::text[], $7::text[], \
             $8::text[], $9::text[], $10::text[], $11::int8[]) \
             as e(id, event_type, aggregate_type, aggregate_id, payload, request_id, actor, sequence)",
            &[
                text(&|i| Some(ids[i].clone())),
                workspace_id.as_str().into(),
                EVENT_VERSION.into(),
                now.unix_micros().into(),
                text(&|i| Some(events[i].0.event_type.to_owned())),
                text(&|i| Some(events[i].0.aggregate_type.to_owned())),
                text(&|i| Some(events[i].0.aggregate_id.clone())),
                text(&|i| Some(payloads[i].clone())),
                text(&|i| events[i].1.request_id.clone()),
                text(&|i| events[i].1.actor.clone()),
                crate::Value::IntList(sequences.iter().map(|s| Some(*s)).collect()),
            ],
        )
        .await?;
    } else {
        let mut rows: Vec<crate::sql::Param<'_>> = Vec::with_capacity(events.len() * 12);
        for (i, (event, cause)) in events.iter().enumerate() {
            rows.extend([
                crate::sql::Param::from(ids[i].as_str()),
                workspace_id.as_str().into(),
                event.event_type.into(),
                EVENT_VERSION.into(),
                event.aggregate_type.into(),
                event.aggregate_id.as_str().into(),
                payloads[i].as_str().into(),
                now.unix_micros().into(),
                cause.request_id.as_deref().into(),
                cause.actor.as_deref().into(),
                sequences[i].into(),
            ]);
        }
        tx.execute_each(
            "insert into domain_event (event_id, workspace_id, event_type, version, \
             aggregate_type, aggregate_id, sequence, payload, occurred_at, request_id, actor) \
             values ($1, $2, $3, $4, $5, $6, $11, $7, $8, $9, $10)",
            11,
            &rows,
        )
        .await?;
    }
    tx.events_recorded += events.len();
    for (event, cause) in events {
        audit_event(tx, workspace_id, event, cause, now).await?;
    }
    Ok(())
}

/// Appends the audit entry of `event` when its type is audited: the object after, and what
/// the payload says it was before (`previous` or `previous_attributes`).
async fn audit_event(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    event: &NewEvent,
    cause: &Cause,
    now: Timestamp,
) -> Result<(), StoreError> {
    if !audit::audited(event.event_type) {
        return Ok(());
    }
    let payload = &event.payload;
    let before = payload
        .get("previous")
        .or_else(|| payload.get("previous_attributes"))
        .cloned();
    audit::append(
        tx,
        workspace_id,
        &audit::NewEntry {
            action: event.event_type,
            target_type: event.aggregate_type,
            target_id: &event.aggregate_id,
            before,
            after: Some(payload.get("object").unwrap_or(payload).clone()),
        },
        cause,
        now,
    )
    .await?;
    Ok(())
}
