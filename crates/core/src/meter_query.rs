//! Meter queries, as OpenMeter answers them: a meter's usage per window, subject and group-by
//! value, read from the rollups (never raw events) through [`aggregate`], the one aggregation
//! that billing reads usage through too: an invoice and a query of the same customer and
//! period agree.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hash;

use bursar_domain::id::{CustomerId, WorkspaceId};
use bursar_domain::metering::{
    group_values, level_for, time_zone, window_bounds, window_floor, window_next, Agg, Aggregation,
    FilterString, Meter, MeterQueryResult, MeterQueryRow, WindowSize,
};
use bursar_domain::time::Timestamp;
use bursar_store::metering::{self, Bucket, Subjects};
use bursar_store::{customers, Tx};
use jiff::tz::TimeZone;

use crate::error::Error;
use crate::App;

/// What a meter query asks for, its parameters parsed.
#[derive(Debug, Clone)]
pub struct MeterQuery {
    /// Only these subjects' usage (none: every subject's).
    pub subjects: Vec<String>,
    /// Only the usage of these customers' subjects (none: every customer's).
    pub customers: Vec<String>,
    /// `subject`, `customer_id` or group-by keys of the meter, one row per value of each.
    pub group_by: Vec<String>,
    /// Group-by key → the values allowed.
    pub filters: BTreeMap<String, HashSet<String>>,
    /// Group-by key → an OpenMeter filter on its value.
    pub advanced: Vec<(String, FilterString)>,
    pub window: Option<WindowSize>,
    pub time_zone: TimeZone,
    /// Unix seconds.
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// The one aggregation of stored usage: `buckets` merged into cells by `cell_of` (a bucket it
/// maps to `None` is left out), each cell's value by the meter's `aggregation` (distinct values
/// for a unique count).
pub fn aggregate<'a, K: Eq + Hash>(
    buckets: &'a [Bucket],
    aggregation: Aggregation,
    mut cell_of: impl FnMut(&'a Bucket) -> Option<K>,
) -> HashMap<K, f64> {
    let mut cells: HashMap<K, (Agg, HashSet<&'a str>)> = HashMap::new();
    for bucket in buckets {
        let Some(cell) = cell_of(bucket) else {
            continue;
        };
        let entry = cells.entry(cell).or_default();
        entry.0.merge(&bucket.agg);
        if let Some(value) = &bucket.value {
            entry.1.insert(value.as_str());
        }
    }
    cells
        .into_iter()
        .map(|(cell, (agg, distinct))| (cell, value_of(aggregation, &agg, distinct.len())))
        .collect()
}

#[allow(clippy::cast_precision_loss)]
fn value_of(aggregation: Aggregation, agg: &Agg, distinct_values: usize) -> f64 {
    if aggregation == Aggregation::UniqueCount {
        distinct_values as f64
    } else if agg.count == 0 {
        0.0
    } else {
        agg.value(aggregation)
    }
}

/// Unix seconds as RFC 3339.
pub fn rfc3339(seconds: i64) -> String {
    bursar_domain::time::Timestamp::from_unix_micros(seconds.saturating_mul(1_000_000)).to_rfc3339()
}

/// A query's parameters, as name and value pairs in the order given.
pub type Params = [(String, String)];

/// The first value of parameter `name`.
fn param<'p>(params: &'p Params, name: &str) -> Option<&'p str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Reads a meter query's parameters (`subject`, `filterCustomerId`, `groupBy`,
/// `filterGroupBy[key]`, `advancedMeterGroupByFilters`, `windowSize`, `windowTimeZone`,
/// `from`, `to`), checking group-by keys against `meter`.
pub fn parse_query(meter: &Meter, params: &Params) -> Result<MeterQuery, Error> {
    let mut query = MeterQuery {
        subjects: Vec::new(),
        customers: Vec::new(),
        group_by: Vec::new(),
        filters: BTreeMap::new(),
        advanced: Vec::new(),
        window: None,
        time_zone: TimeZone::UTC,
        from: None,
        to: None,
    };
    for (name, value) in params {
        match name.as_str() {
            "subject" if !value.is_empty() => query.subjects.push(value.clone()),
            "filterCustomerId" => query.customers.push(value.clone()),
            "groupBy" => group_by_param(meter, value, &mut query.group_by)?,
            "advancedMeterGroupByFilters" => {
                query.advanced.extend(advanced_param(meter, name, value)?);
            }
            "from" | "to" | "windowSize" | "windowTimeZone" | "clientId" => {}
            other => {
                let group = filter_group(meter, other)?;
                query
                    .filters
                    .entry(group.to_owned())
                    .or_default()
                    .insert(value.clone());
            }
        }
    }
    query.window = param(params, "windowSize").map(window_param).transpose()?;
    query.time_zone = time_zone(param(params, "windowTimeZone").unwrap_or("UTC"))?;
    query.from = seconds_param(params, "from")?;
    query.to = seconds_param(params, "to")?;
    Ok(query)
}

fn group_by_param(meter: &Meter, value: &str, group_by: &mut Vec<String>) -> Result<(), Error> {
    if value != "subject" && value != "customer_id" && !meter.group_by.contains_key(value) {
        return Err(Error::invalid(
            "parameter_invalid",
            Some("groupBy".into()),
            format!(
                "groupBy '{value}' is neither 'subject' nor a group-by key of meter '{}'.",
                meter.slug
            ),
        ));
    }
    if !group_by.iter().any(|g| g == value) {
        group_by.push(value.to_owned());
    }
    Ok(())
}

fn advanced_param(
    meter: &Meter,
    name: &str,
    value: &str,
) -> Result<Vec<(String, FilterString)>, Error> {
    let parsed: BTreeMap<String, FilterString> = serde_json::from_str(value).map_err(|e| {
        Error::invalid(
            "parameter_invalid",
            Some(name.to_owned()),
            format!(
                "advancedMeterGroupByFilters must be a JSON object of group-by key to filter ({e})."
            ),
        )
    })?;
    let mut advanced = Vec::with_capacity(parsed.len());
    for (key, filter) in parsed {
        if !meter.group_by.contains_key(&key) {
            return Err(Error::invalid(
                "parameter_invalid",
                Some(name.to_owned()),
                format!("'{key}' is not a group-by key of meter '{}'.", meter.slug),
            ));
        }
        advanced.push((key, filter));
    }
    Ok(advanced)
}

/// The group-by key of a `filterGroupBy[key]` parameter; any other name is unknown.
fn filter_group<'n>(meter: &Meter, name: &'n str) -> Result<&'n str, Error> {
    match name
        .strip_prefix("filterGroupBy[")
        .and_then(|k| k.strip_suffix(']'))
    {
        Some(group) if meter.group_by.contains_key(group) => Ok(group),
        _ => Err(Error::invalid(
            "parameter_unknown",
            Some(name.to_owned()),
            format!(
                "Unknown query parameter '{name}' (filterGroupBy keys must be group-by keys of \
                 the meter)."
            ),
        )),
    }
}

fn window_param(text: &str) -> Result<WindowSize, Error> {
    WindowSize::parse(text).ok_or_else(|| {
        Error::invalid(
            "parameter_invalid",
            Some("windowSize".into()),
            format!("windowSize '{text}' is not one of MINUTE, HOUR, DAY, MONTH."),
        )
    })
}

/// Parameter `name` as unix seconds: an RFC 3339 instant on a whole second.
fn seconds_param(params: &Params, name: &str) -> Result<Option<i64>, Error> {
    let Some(text) = param(params, name) else {
        return Ok(None);
    };
    let at = Timestamp::parse_rfc3339(text).ok_or_else(|| {
        Error::invalid(
            "parameter_invalid",
            Some(name.into()),
            format!("{name} '{text}' is not an RFC 3339 timestamp."),
        )
    })?;
    let micros = at.unix_micros();
    if micros.rem_euclid(1_000_000) != 0 {
        return Err(Error::invalid(
            "parameter_invalid",
            Some(name.into()),
            format!("{name} must be a whole second."),
        ));
    }
    Ok(Some(micros.div_euclid(1_000_000)))
}

/// A live meter's usage (by id or slug) as the query's `params` ask.
pub async fn query_meter(
    app: &App,
    workspace_id: &WorkspaceId,
    id_or_slug: &str,
    params: &Params,
) -> Result<MeterQueryResult, Error> {
    let (ws, key) = (workspace_id.clone(), id_or_slug.to_owned());
    let meter = app
        .db
        .read(move |tx: &mut Tx| Box::pin(async move { metering::find_meter(tx, &ws, &key).await }))
        .await?
        .filter(|m| m.deleted_at.is_none())
        .ok_or_else(|| Error::not_found("meter", id_or_slug).with_param("meterIdOrSlug"))?;
    let parsed = parse_query(&meter, params)?;
    query(app, workspace_id, &meter, parsed).await
}

/// Answers `query` over `meter`'s usage in `workspace_id`.
pub async fn query(
    app: &App,
    workspace_id: &WorkspaceId,
    meter: &Meter,
    query: MeterQuery,
) -> Result<MeterQueryResult, Error> {
    let MeterQuery {
        subjects,
        customers: customers_filter,
        group_by,
        filters,
        advanced,
        window,
        time_zone: tz,
        from,
        to,
    } = query;
    let floor = |at: i64| match window {
        Some(size) => window_floor(size, &tz, at),
        None => Ok(at.div_euclid(60) * 60),
    };
    let bad = |e: String| Error::invalid("parameter_invalid", None, e);
    for (name, at) in [("from", from), ("to", to)] {
        if let Some(at) = at {
            if floor(at).map_err(bad)? != at {
                let unit = window.map_or("minute".to_owned(), |w| format!("{w:?}").to_lowercase());
                return Err(Error::invalid(
                    "parameter_invalid",
                    Some(name.into()),
                    format!(
                        "{name} must fall on a {unit} boundary in {} (windows are whole).",
                        tz.iana_name().unwrap_or("UTC")
                    ),
                ));
            }
        }
    }
    if let (Some(from), Some(to)) = (from, to) {
        if to < from {
            return Err(Error::invalid(
                "parameter_invalid",
                Some("to".into()),
                "to is before from.",
            ));
        }
    }
    let ws = workspace_id.clone();
    let (extent, customer_subjects) = {
        let (ws, meter_key, customers_filter) = (ws.clone(), meter.key, customers_filter.clone());
        app.db
            .read(move |tx: &mut Tx| {
                Box::pin(async move {
                    let extent = metering::extent(tx, meter_key).await?;
                    let mut subjects = Vec::new();
                    for customer in &customers_filter {
                        subjects.extend(metering::subjects_of(tx, &ws, customer).await?);
                    }
                    Ok::<_, bursar_store::StoreError>((extent, subjects))
                })
            })
            .await?
    };
    let subject_filter: Option<Vec<String>> =
        match (subjects.is_empty(), customers_filter.is_empty()) {
            (true, true) => None,
            (false, true) => Some(subjects.clone()),
            (true, false) => Some(customer_subjects),
            // Both: the subjects named that belong to the customers named.
            (false, false) => Some(
                subjects
                    .iter()
                    .filter(|s| customer_subjects.contains(s))
                    .cloned()
                    .collect(),
            ),
        };
    let group_subject = group_by
        .iter()
        .any(|g| g == "subject" || g == "customer_id")
        || subject_filter.is_some();
    let result = |data| MeterQueryResult {
        from: from.map(rfc3339),
        to: to.map(rfc3339),
        window_size: window,
        data,
    };
    let Some((first, last)) = extent else {
        return Ok(result(Vec::new()));
    };
    let now = app.db.now().unix_micros().div_euclid(1_000_000);
    let from_at = match from {
        Some(at) => at,
        None => floor(first).map_err(bad)?,
    };
    let to_at = match to {
        Some(at) => at,
        None => {
            let end = now.max(last + 3600);
            let start = floor(end).map_err(bad)?;
            if start == end {
                end
            } else {
                match window {
                    Some(size) => window_next(size, &tz, start).map_err(bad)?,
                    None => start + 60,
                }
            }
        }
    };
    let bounds = match window {
        Some(size) => window_bounds(size, &tz, from_at, to_at).map_err(bad)?,
        None => vec![from_at, to_at],
    };
    let level =
        level_for(&bounds).ok_or_else(|| bad("the windows do not fall on whole minutes".into()))?;
    let distinct = meter.aggregation == Aggregation::UniqueCount;
    let buckets = {
        let (meter_key, filter) = (meter.key, subject_filter.clone());
        app.db
            .read(move |tx: &mut Tx| {
                Box::pin(async move {
                    metering::buckets(
                        tx,
                        meter_key,
                        level,
                        match (&filter, group_subject) {
                            (Some(list), _) => Subjects::Only(list),
                            (None, true) => Subjects::Each,
                            (None, false) => Subjects::Total,
                        },
                        (from_at, to_at),
                        distinct,
                    )
                    .await
                })
            })
            .await?
    };
    // Aggregate buckets into (window, subject, group values) cells.
    type Cell = (usize, Option<String>, Vec<Option<String>>);
    let keys: Vec<&String> = group_by
        .iter()
        .filter(|g| *g != "subject" && *g != "customer_id")
        .collect();
    let mut groups_cache: HashMap<&str, BTreeMap<String, String>> = HashMap::new();
    let cells: HashMap<Cell, f64> = aggregate(&buckets, meter.aggregation, |bucket| {
        let values = groups_cache
            .entry(bucket.group_key.as_str())
            .or_insert_with(|| group_values(&bucket.group_key));
        let wanted = filters
            .iter()
            .all(|(k, allowed)| values.get(k).is_some_and(|v| allowed.contains(v)))
            && advanced
                .iter()
                .all(|(k, filter)| filter.matches(values.get(k).map(String::as_str)));
        let window_index = bounds
            .partition_point(|b| *b <= bucket.bucket)
            .saturating_sub(1);
        (wanted && window_index + 1 < bounds.len()).then(|| {
            (
                window_index,
                group_subject.then(|| bucket.subject.clone()),
                keys.iter()
                    .map(|k| values.get(k.as_str()).cloned())
                    .collect(),
            )
        })
    });
    let customer_of = if group_subject {
        let subjects: Vec<String> = cells
            .keys()
            .filter_map(|c| c.1.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let ws = ws.clone();
        app.db
            .read(move |tx: &mut Tx| {
                Box::pin(async move {
                    let mut found = HashMap::new();
                    for subject in subjects {
                        let customer = metering::customer_of(tx, &ws, &subject).await?;
                        if let Ok(id) = CustomerId::parse(&customer, "customer_id") {
                            if customers::get(tx, &ws, &id, false).await?.is_some() {
                                found.insert(subject, customer);
                            }
                        }
                    }
                    Ok::<_, bursar_store::StoreError>(found)
                })
            })
            .await?
    } else {
        HashMap::new()
    };
    let mut rows: Vec<(Cell, MeterQueryRow)> = cells
        .into_iter()
        .map(|(cell, value)| {
            let row = MeterQueryRow {
                value,
                window_start: rfc3339(bounds[cell.0]),
                window_end: rfc3339(bounds[cell.0 + 1]),
                customer_id: cell.1.as_ref().and_then(|s| customer_of.get(s).cloned()),
                subject: cell.1.clone(),
                group_by: keys
                    .iter()
                    .zip(&cell.2)
                    .map(|(k, v)| ((*k).clone(), v.clone()))
                    .collect(),
            };
            (cell, row)
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(result(rows.into_iter().map(|(_, row)| row).collect()))
}
