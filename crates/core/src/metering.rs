//! Usage metering, as OpenMeter models it: meters, the usage events they count, and which
//! customer a usage subject belongs to; [`usage_total`] is what billing rates, read through the
//! same aggregation as the meter query (`crate::meter_query`).

use std::collections::BTreeMap;

use bursar_domain::id::{CustomerId, WorkspaceId};
use bursar_domain::metering::{
    group_values, level_for, Aggregation, CompiledMeter, Contribution, Meter, UsageEvent,
    UsageSubjects,
};
use bursar_store::metering::{self, Subjects};
use bursar_store::{customers, Tx};

use crate::error::{Error, ErrorKind};
use crate::meter_query::aggregate;
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

pub fn slug_taken(slug: &str) -> Error {
    Error::new(
        ErrorKind::Conflict,
        "meter_slug_taken",
        format!("A meter with slug '{slug}' already exists."),
    )
    .with_param("slug")
}

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
