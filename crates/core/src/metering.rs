//! Usage metering, as OpenMeter models it: meters ([`create_meter`], [`delete_meter`]), the
//! usage events they count ([`prepare_ingest`], then [`ingest`]), and which customer a usage
//! subject belongs to ([`add_usage_subject`], [`close_usage`]); [`usage_total`] is what billing
//! rates, read through the same aggregation as the meter query (`crate::meter_query`).

use std::collections::{BTreeMap, BTreeSet};

use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::id::{CustomerId, WorkspaceId};
use bursar_domain::metering::{
    group_values, level_for, Aggregation, CompiledMeter, Contribution, Meter, MeterCreate,
    UsageEvent, UsageSubjects,
};
use bursar_domain::time::Timestamp;
use bursar_store::metering::{self, Metered, Subjects};
use bursar_store::{customers, Tx};
use serde_json::{json, Value};

use crate::error::{Error, ErrorKind};
use crate::meter_query::aggregate;
use crate::write::Context;
use crate::App;

/// At most this many events per request.
pub const BATCH_MAX: usize = 10_000;

pub type Contributions = Vec<Vec<(usize, Contribution, String)>>;

/// What each event adds to each meter; an event a meter cannot take refuses the request.
pub fn contributions_of(
    meters: &[CompiledMeter],
    events: &[UsageEvent],
    param: &impl Fn(usize, &str) -> String,
) -> Result<Contributions, Error> {
    let mut all = Vec::with_capacity(events.len());
    for (index, event) in events.iter().enumerate() {
        let mut contributions = Vec::new();
        for (at, meter) in meters.iter().enumerate() {
            match meter.contribution(event) {
                Ok(Some((contribution, group))) => contributions.push((at, contribution, group)),
                Ok(None) => {}
                Err(message) => {
                    return Err(Error::invalid(
                        "event_invalid",
                        Some(param(index, "data")),
                        format!("Event {index} (id '{}'): {message}", event.id),
                    ))
                }
            }
        }
        all.push(contributions);
    }
    Ok(all)
}

/// The workspace's live meters, compiled.
pub async fn live_meters(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
) -> Result<Vec<CompiledMeter>, Error> {
    metering::list_meters(tx, workspace_id, false)
        .await?
        .into_iter()
        .map(|m| {
            CompiledMeter::new(m).map_err(|e| {
                tracing::error!(error = %e, "BUG: a stored meter does not compile");
                Error::internal()
            })
        })
        .collect()
}

/// A meter by id or slug, live or deleted.
pub async fn find_meter(
    state: &App,
    workspace_id: &WorkspaceId,
    id_or_slug: &str,
) -> Result<Meter, Error> {
    let (ws, key) = (workspace_id.clone(), id_or_slug.to_owned());
    state
        .db
        .read(move |tx: &mut Tx| Box::pin(async move { metering::find_meter(tx, &ws, &key).await }))
        .await?
        .ok_or_else(|| Error::not_found("meter", id_or_slug).with_param("meterIdOrSlug"))
}

/// The refusal of a slug a live meter has.
pub fn slug_taken(slug: &str) -> Error {
    Error::new(
        ErrorKind::Conflict,
        "meter_slug_taken",
        format!("A meter with slug '{slug}' already exists."),
    )
    .with_param("slug")
}

/// A customer's usage subjects and where its usage is closed.
pub async fn usage_subjects(
    tx: &mut Tx,
    ws: &WorkspaceId,
    customer: &str,
) -> Result<UsageSubjects, Error> {
    Ok(UsageSubjects {
        object: "usage_subjects",
        customer_id: customer.to_owned(),
        subjects: metering::subjects_of(tx, ws, customer).await?,
        closed_until: metering::closed_until(tx, ws, customer).await?,
    })
}

/// Refuses an id that is no customer of the workspace.
pub async fn existing_customer(tx: &mut Tx, ws: &WorkspaceId, id: &str) -> Result<(), Error> {
    let missing = || Error::not_found("customer", id);
    let parsed = CustomerId::parse(id, "id").map_err(|_| missing())?;
    customers::get(tx, ws, &parsed, false)
        .await?
        .ok_or_else(missing)?;
    Ok(())
}

/// A meter's usage by `subjects` in `[from, to)` (unix seconds on whole minutes), counting only
/// buckets whose group-by values include `filters`: the value of the meter's aggregation (for
/// UNIQUE_COUNT, the distinct values). Billing rates this.
/// Reads through [`crate::meter_query::aggregate`], as the meter query does.
pub async fn usage_total(
    tx: &mut Tx,
    meter: &Meter,
    subjects: &[String],
    (from, to): (i64, i64),
    filters: &BTreeMap<String, String>,
) -> Result<f64, Error> {
    if subjects.is_empty() || to <= from {
        return Ok(0.0);
    }
    let level = level_for(&[from, to]).ok_or_else(|| {
        Error::invalid(
            "parameter_invalid",
            None,
            "A usage period falls on whole minutes.",
        )
    })?;
    let distinct = meter.aggregation == Aggregation::UniqueCount;
    let buckets = metering::buckets(
        tx,
        meter.key,
        level,
        Subjects::Only(subjects),
        (from, to),
        distinct,
    )
    .await?;
    let period = aggregate(&buckets, meter.aggregation, |bucket| {
        // Group values are parsed only for a filtered line (most lines have no filter).
        let wanted = filters.is_empty() || {
            let values = group_values(&bucket.group_key);
            filters.iter().all(|(k, v)| values.get(k) == Some(v))
        };
        wanted.then_some(())
    });
    Ok(period.get(&()).copied().unwrap_or(0.0))
}

/// One request's usage events, parsed, with what each adds to each live meter (computed off
/// the writer; [`ingest`] checks the meters are still these).
pub struct Ingest {
    /// Whether the events came as a batch (an array): errors name `[index].field`.
    batch: bool,
    events: Vec<UsageEvent>,
    /// Each event's `data`, as stored.
    data: Vec<Option<String>>,
    meters: Vec<CompiledMeter>,
    contributions: Contributions,
}

/// The field of event `index` at fault: `[index].field` in a batch, `field` for one event.
fn event_param(batch: bool, index: usize, field: &str) -> String {
    let field = if field.is_empty() {
        String::new()
    } else {
        format!(".{field}")
    };
    if batch {
        format!("[{index}]{field}")
    } else {
        field.trim_start_matches('.').to_owned()
    }
}

/// Parses CloudEvents (`batch`: sent as an array), at most [`BATCH_MAX`]; the first invalid
/// one refuses them all, naming it.
pub fn parse_events(
    values: &[Value],
    batch: bool,
    now: Timestamp,
) -> Result<Vec<UsageEvent>, Error> {
    if values.len() > BATCH_MAX {
        return Err(Error::invalid(
            "batch_too_large",
            None,
            format!(
                "A batch holds at most {BATCH_MAX} events; this one has {}.",
                values.len()
            ),
        ));
    }
    let mut events = Vec::with_capacity(values.len());
    for (index, value) in values.iter().enumerate() {
        let event = UsageEvent::parse(value, now).map_err(|(field, message)| {
            let which = value
                .get("id")
                .and_then(Value::as_str)
                .map(|id| format!(" (id '{id}')"))
                .unwrap_or_default();
            Error::invalid(
                "event_invalid",
                Some(event_param(batch, index, &field)),
                format!("Event {index}{which}: {message}"),
            )
        })?;
        events.push(event);
    }
    Ok(events)
}

/// Parses a request's events and reads what each adds to each live meter of the workspace,
/// before the write: an event a meter cannot take refuses the request.
pub async fn prepare_ingest(
    app: &App,
    workspace_id: &WorkspaceId,
    values: Vec<Value>,
    batch: bool,
) -> Result<Ingest, Error> {
    let events = parse_events(&values, batch, app.db.now())?;
    drop(values);
    let ws = workspace_id.clone();
    let meters = app
        .db
        .read(move |tx: &mut Tx| Box::pin(async move { live_meters(tx, &ws).await }))
        .await?;
    let contributions = contributions_of(&meters, &events, &|i, f| event_param(batch, i, f))?;
    let data = events
        .iter()
        .map(|e| e.data.as_ref().map(Value::to_string))
        .collect();
    Ok(Ingest {
        batch,
        events,
        data,
        meters,
        contributions,
    })
}

/// Stores the events (a resent one counts once) and adds them to the meters' rollups; one
/// `usage.ingested` event per request that brought anything new.
pub async fn ingest(cx: &mut Context<'_>, ingest: Ingest) -> Result<(), Error> {
    let Ingest {
        batch,
        events,
        data,
        meters,
        contributions,
    } = ingest;
    let mut keys: Vec<i64> = meters.iter().map(|m| m.meter.key).collect();
    keys.sort_unstable();
    let (meters, contributions) = if metering::live_meter_keys(cx.tx, cx.workspace_id).await?
        == keys
    {
        (meters, contributions)
    } else {
        let meters = live_meters(cx.tx, cx.workspace_id).await?;
        let contributions = contributions_of(&meters, &events, &|i, f| event_param(batch, i, f))?;
        (meters, contributions)
    };
    let metered: Vec<Metered<'_>> = events
        .iter()
        .zip(&data)
        .zip(&contributions)
        .map(|((event, data), contributions)| Metered {
            event,
            data: data.as_deref(),
            contributions,
        })
        .collect();
    let ingested = metering::ingest(cx.tx, cx.workspace_id, &meters, &metered, cx.now).await?;
    metrics::counter!("bursar_usage_events_ingested_total").increment(ingested.accepted as u64);
    metrics::counter!("bursar_usage_events_duplicate_total").increment(ingested.duplicates as u64);
    if ingested.accepted > 0 {
        // One event per request, not per usage event: what arrived, for the timeline and
        // subscribers.
        let subjects: BTreeSet<&str> = events.iter().map(|e| e.subject.as_str()).collect();
        cx.emit(NewEvent::new(
            event_type::USAGE_INGESTED,
            "usage_batch",
            ulid::Ulid::new().to_string(),
            json!({"accepted": ingested.accepted, "duplicates": ingested.duplicates,
                   "subjects": subjects.into_iter().take(100).collect::<Vec<_>>()}),
        ))
        .await?;
    }
    Ok(())
}

/// A meter to create, as asked at `now`: refused unless its definition compiles.
pub fn new_meter(create: MeterCreate, now: Timestamp) -> Result<Meter, Error> {
    let meter = create.into_meter(now)?;
    CompiledMeter::new(meter.clone()).map_err(|e| Error::invalid("parameter_invalid", None, e))?;
    Ok(meter)
}

/// Creates a meter (its slug unused among live meters) and counts the events already
/// ingested with its event type into it.
pub async fn create_meter(cx: &mut Context<'_>, mut meter: Meter) -> Result<Meter, Error> {
    (meter.created_at, meter.updated_at) = (cx.now, cx.now);
    if metering::find_meter(cx.tx, cx.workspace_id, &meter.slug)
        .await?
        .is_some()
    {
        return Err(slug_taken(&meter.slug));
    }
    let slug = meter.slug.clone();
    metering::insert_meter(cx.tx, cx.workspace_id, &mut meter)
        .await
        .map_err(|e| match e.unique_violation() {
            Some(_) => slug_taken(&slug),
            None => Error::from(e),
        })?;
    let compiled = CompiledMeter::new(meter.clone())
        .map_err(|e| Error::invalid("parameter_invalid", None, e))?;
    let rebuilt = metering::rebuild(cx.tx, cx.workspace_id, &compiled).await?;
    cx.emit(NewEvent::new(
        event_type::METER_CREATED,
        "meter",
        &meter.id,
        json!({"object": meter, "backfilled_events": rebuilt.events, "skipped_events": rebuilt.skipped}),
    ))
    .await?;
    Ok(meter)
}

/// Deletes a live meter (by id or slug): it stops counting and its slug is free again; its
/// events stay stored.
pub async fn delete_meter(cx: &mut Context<'_>, id_or_slug: &str) -> Result<(), Error> {
    let mut meter = metering::find_meter(cx.tx, cx.workspace_id, id_or_slug)
        .await?
        .filter(|m| m.deleted_at.is_none())
        .ok_or_else(|| Error::not_found("meter", id_or_slug).with_param("meterIdOrSlug"))?;
    (meter.deleted_at, meter.updated_at) = (Some(cx.now), cx.now);
    metering::delete_meter(cx.tx, cx.workspace_id, &meter).await?;
    cx.emit(NewEvent::new(
        event_type::METER_DELETED,
        "meter",
        &meter.id,
        json!({"object": meter}),
    ))
    .await
}

/// A usage subject as given: trimmed, 1 to 1024 bytes.
pub fn parse_subject(text: &str) -> Result<String, Error> {
    let subject = text.trim().to_owned();
    if subject.is_empty() || subject.len() > 1024 {
        return Err(Error::invalid(
            "parameter_invalid",
            Some("subject".into()),
            "subject must be 1-1024 bytes.",
        ));
    }
    Ok(subject)
}

/// Registers `subject` to a customer: its events count as the customer's usage. Refused if
/// the subject belongs to another customer.
pub async fn add_usage_subject(
    cx: &mut Context<'_>,
    customer: &str,
    subject: &str,
) -> Result<UsageSubjects, Error> {
    existing_customer(cx.tx, cx.workspace_id, customer).await?;
    // Another customer's id is that customer's own subject.
    let other_customer = match CustomerId::parse(subject, "subject") {
        Ok(id) if subject != customer => customers::get(cx.tx, cx.workspace_id, &id, false)
            .await?
            .is_some(),
        _ => false,
    };
    let taken = match other_customer {
        true => Some(subject.to_owned()),
        false => metering::add_subject(cx.tx, cx.workspace_id, subject, customer, cx.now).await?,
    };
    if let Some(other) = taken {
        return Err(Error::new(
            ErrorKind::Conflict,
            "usage_subject_taken",
            format!("Subject '{subject}' belongs to customer {other}."),
        )
        .with_param("subject"));
    }
    cx.emit(NewEvent::new(
        event_type::CUSTOMER_USAGE_SUBJECT_ADDED,
        "customer",
        customer,
        json!({"subject": subject}),
    ))
    .await?;
    usage_subjects(cx.tx, cx.workspace_id, customer).await
}

/// Closes a customer's usage before `until`: that period's queries never change again, and
/// its late events count at `until`.
pub async fn close_usage(
    cx: &mut Context<'_>,
    customer: &str,
    until: Timestamp,
) -> Result<UsageSubjects, Error> {
    existing_customer(cx.tx, cx.workspace_id, customer).await?;
    let closed = metering::close_usage(cx.tx, cx.workspace_id, customer, until).await?;
    cx.emit(NewEvent::new(
        event_type::CUSTOMER_USAGE_CLOSED,
        "customer",
        customer,
        json!({"closed_until": closed}),
    ))
    .await?;
    usage_subjects(cx.tx, cx.workspace_id, customer).await
}
