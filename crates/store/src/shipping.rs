//! Courier tracking events: append-only rows, one per (carrier, tracking number, code,
//! instant), so a pushed and a polled copy of an event are recorded once. Shipments themselves
//! are documents ([`crate::documents::SHIPMENT`]).

use bursar_domain::id::{ShipmentId, TrackingEventId, WorkspaceId};
use bursar_domain::shipping::{Carrier, Shipment, TrackingEvent, TrackingSource, TrackingStatus};
use bursar_domain::time::Timestamp;

use crate::sql::Row;
use crate::{params, StoreError, Tx};

/// Records `event` unless the same event is recorded already; returns whether it was new.
pub async fn insert_event(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    event: &TrackingEvent,
) -> Result<bool, StoreError> {
    let inserted = tx
        .execute(
            "insert into tracking_event (workspace_id, id, shipment_id, carrier, tracking_number, \
             code, description, status, occurred_at, utc_offset, location, source, recorded_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             on conflict (workspace_id, carrier, tracking_number, code, occurred_at) do nothing",
            params![
                workspace_id.as_str(),
                event.id.as_str(),
                event.shipment_id.as_str(),
                event.carrier.as_str(),
                event.tracking_number.as_str(),
                event.code.as_str(),
                event.description.as_str(),
                event.status.as_str(),
                event.occurred_at.unix_micros(),
                event.utc_offset.as_deref(),
                event.location.as_deref(),
                event.source.as_str(),
                event.recorded_at.unix_micros(),
            ],
        )
        .await?;
    Ok(inserted == 1)
}

/// A shipment's events, oldest first (ties in the order they were recorded). They are found
/// by the shipment's carrier and tracking number (the table's key), then narrowed to the
/// shipment (a cancelled parcel's number may have been used again).
pub async fn events_of(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    shipment: &Shipment,
) -> Result<Vec<TrackingEvent>, StoreError> {
    let rows = tx
        .fetch_all(
            "select * from tracking_event where workspace_id = $1 and carrier = $2 \
             and tracking_number = $3 and shipment_id = $4",
            params![
                workspace_id.as_str(),
                shipment.carrier.as_str(),
                shipment.tracking_number.as_str(),
                shipment.id.as_str()
            ],
        )
        .await?;
    let mut events = rows
        .iter()
        .map(event_of_row)
        .collect::<Result<Vec<_>, _>>()?;
    events.sort_by(|a, b| {
        (a.occurred_at, a.recorded_at, a.id.as_str()).cmp(&(
            b.occurred_at,
            b.recorded_at,
            b.id.as_str(),
        ))
    });
    Ok(events)
}

fn event_of_row(row: &Row) -> Result<TrackingEvent, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("tracking_event: bad {what}"));
    Ok(TrackingEvent {
        id: TrackingEventId::from_trusted(row.text("id")?),
        object: "tracking_event".into(),
        shipment_id: ShipmentId::from_trusted(row.text("shipment_id")?),
        carrier: Carrier::parse(row.str("carrier")?).ok_or_else(|| corrupt("carrier"))?,
        tracking_number: row.text("tracking_number")?,
        code: row.text("code")?,
        description: row.text("description")?,
        status: TrackingStatus::parse(row.str("status")?).ok_or_else(|| corrupt("status"))?,
        occurred_at: Timestamp::from_unix_micros(row.i64("occurred_at")?),
        utc_offset: row.opt_text("utc_offset")?,
        location: row.opt_text("location")?,
        source: TrackingSource::parse(row.str("source")?).ok_or_else(|| corrupt("source"))?,
        recorded_at: Timestamp::from_unix_micros(row.i64("recorded_at")?),
    })
}

/// Shipments whose poll is due at `now`, across workspaces, soonest first.
/// The workspace's live (not cancelled) shipment at `carrier` with `tracking_number` (the
/// newest, should there be several): its id and its order's, read from the columns without
/// the document.
pub async fn live_shipment_id(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    carrier: Carrier,
    tracking_number: &str,
) -> Result<Option<(String, String)>, StoreError> {
    // No `order by object_id` in the query: SQLite's planner would walk the primary key
    // backwards through every shipment of the workspace instead of using the tracking index.
    let rows = tx
        .fetch_all(
            "select object_id, order_id from shipment where workspace_id = $1 \
             and tracking_number = $2 and carrier = $3 and status <> 'cancelled'",
            params![workspace_id.as_str(), tracking_number, carrier.as_str()],
        )
        .await?;
    let ids: Vec<(String, String)> = rows
        .iter()
        .map(|row| Ok((row.text("object_id")?, row.text("order_id")?)))
        .collect::<Result<_, StoreError>>()?;
    Ok(ids.into_iter().max())
}

/// Locks a shipment's row for the rest of the write (PostgreSQL; SQLite has one writer).
pub async fn lock_shipment(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    id: &str,
) -> Result<(), StoreError> {
    if tx.backend() == crate::Backend::Postgres {
        tx.fetch_optional(
            "select object_id from shipment where workspace_id = $1 and object_id = $2 for update",
            params![workspace_id.as_str(), id],
        )
        .await?;
    }
    Ok(())
}

pub async fn due_for_poll(
    tx: &mut Tx,
    now: Timestamp,
    limit: i64,
) -> Result<Vec<(WorkspaceId, String)>, StoreError> {
    due(tx, "shipment", "next_poll_at", now, limit).await
}

/// The (workspace, object) of `table`'s rows whose `column` instant has come, soonest first.
async fn due(
    tx: &mut Tx,
    table: &str,
    column: &str,
    now: Timestamp,
    limit: i64,
) -> Result<Vec<(WorkspaceId, String)>, StoreError> {
    let sql = format!(
        "select workspace_id, object_id from {table} where {column} <= $1 \
         order by {column} limit $2"
    );
    let rows = tx
        .fetch_all(&sql, params![now.unix_micros(), limit])
        .await?;
    rows.iter()
        .map(|row| {
            Ok((
                WorkspaceId::from_trusted(row.text("workspace_id")?),
                row.text("object_id")?,
            ))
        })
        .collect()
}

/// The sealed credentials of a courier connection: (its body, the sealed secrets), by the
/// workspace's carrier.
pub async fn connection_of_carrier(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    carrier: Carrier,
) -> Result<Option<(String, String)>, StoreError> {
    let row = tx
        .fetch_optional(
            "select body, secrets_sealed from courier_connection \
             where workspace_id = $1 and carrier = $2",
            params![workspace_id.as_str(), carrier.as_str()],
        )
        .await?;
    row.map(|row| Ok((row.text("body")?, row.text("secrets_sealed")?)))
        .transpose()
}

/// The same, by the connection's id (pushed events name it in their URL).
pub async fn connection_by_id(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    id: &str,
) -> Result<Option<(String, String)>, StoreError> {
    let row = tx
        .fetch_optional(
            "select body, secrets_sealed from courier_connection \
             where workspace_id = $1 and object_id = $2",
            params![workspace_id.as_str(), id],
        )
        .await?;
    row.map(|row| Ok((row.text("body")?, row.text("secrets_sealed")?)))
        .transpose()
}

/// The workspace a courier connection belongs to (pushed events carry only its id).
pub async fn workspace_of_connection(
    tx: &mut Tx,
    id: &str,
) -> Result<Option<WorkspaceId>, StoreError> {
    let row = tx
        .fetch_optional(
            "select workspace_id from courier_connection where object_id = $1",
            params![id],
        )
        .await?;
    row.map(|row| Ok(WorkspaceId::from_trusted(row.text("workspace_id")?)))
        .transpose()
}

/// Automation runs whose next attempt is due at `now`, across workspaces, soonest first.
pub async fn runs_due(
    tx: &mut Tx,
    now: Timestamp,
    limit: i64,
) -> Result<Vec<(WorkspaceId, String)>, StoreError> {
    due(tx, "automation_run", "next_attempt_at", now, limit).await
}

/// What a support team's KPI bar counts in a workspace (see `bursar_core::shipments::metrics`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderCounts {
    /// Orders per status.
    pub orders: Vec<(String, i64)>,
    /// Shipments per (direction, status).
    pub shipments: Vec<(String, String, i64)>,
    /// Automation runs waiting on a manual task.
    pub manual_tasks: i64,
}

/// Counts a workspace's orders by status, shipments by direction and status, and the manual
/// tasks waiting: three indexed counts.
pub async fn order_counts(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
) -> Result<OrderCounts, StoreError> {
    let ws = workspace_id.as_str();
    let orders = tx
        .fetch_all(
            "select status, count(*) as n from commerce_order where workspace_id = $1 \
             group by status",
            params![ws],
        )
        .await?;
    let shipments = tx
        .fetch_all(
            "select direction, status, count(*) as n from shipment where workspace_id = $1 \
             group by direction, status",
            params![ws],
        )
        .await?;
    let manual = tx
        .fetch_one(
            "select count(*) as n from automation_run where workspace_id = $1 \
             and status = 'manual_task'",
            params![ws],
        )
        .await?;
    Ok(OrderCounts {
        orders: orders
            .iter()
            .map(|r| Ok((r.text("status")?, r.i64("n")?)))
            .collect::<Result<_, StoreError>>()?,
        shipments: shipments
            .iter()
            .map(|r| Ok((r.text("direction")?, r.text("status")?, r.i64("n")?)))
            .collect::<Result<_, StoreError>>()?,
        manual_tasks: manual.i64("n")?,
    })
}

/// The workspace a shipment belongs to (for tools that are given only its id).
pub async fn workspace_of_shipment(
    tx: &mut Tx,
    shipment_id: &str,
) -> Result<Option<WorkspaceId>, StoreError> {
    let row = tx
        .fetch_optional(
            "select workspace_id from shipment where object_id = $1",
            params![shipment_id],
        )
        .await?;
    row.map(|row| Ok(WorkspaceId::from_trusted(row.text("workspace_id")?)))
        .transpose()
}
