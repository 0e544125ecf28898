//! Usage metering storage: meters, raw usage events, and the rollups queries read.
//!
//! Ingesting a batch is one write job: the events are inserted with their deduplication claim
//! and the rollups they feed are updated, in the same transaction. A batch that fails part-way
//! leaves nothing behind, so a retry counts every event exactly once; a resent event meets its
//! claim and counts nothing. On PostgreSQL (concurrent writers) the claim is the unique
//! `(workspace, source, id)` key; on SQLite (one writer) the writer keeps the claims in memory
//! (`claims.rs`), loaded from the 128-bit claims stored with the events.
//!
//! Rollups are kept at two levels (minute and hour buckets) per meter, subject and group, and
//! merged on ingest (`events + excluded.events`, …); subject `''` holds the totals over all
//! subjects. UNIQUE_COUNT meters also keep the set of distinct values per bucket. Queries read
//! the coarsest level their windows align to.

use std::collections::{HashMap, HashSet};

use bursar_domain::id::WorkspaceId;
use bursar_domain::metering::{Agg, CompiledMeter, Contribution, Meter, UsageEvent};
use bursar_domain::time::Timestamp;

pub use crate::deferred::{Bucket, Subjects};
use crate::deferred::{Deltas, FastSet, ALL_SUBJECTS};
use crate::sql::{unnest, Param, Row};
use crate::{params, Backend, StoreError, Tx, Value};

mod reads;

pub use reads::*;

fn decode(row: &Row) -> Result<Meter, StoreError> {
    let mut meter: Meter = serde_json::from_str(row.str("body")?)
        .map_err(|e| StoreError::Corrupt(format!("meter: {e}")))?;
    meter.key = row.i64("meter_key")?;
    Ok(meter)
}

fn encode(meter: &Meter) -> Result<String, StoreError> {
    serde_json::to_string(meter).map_err(|e| StoreError::Corrupt(format!("meter: {e}")))
}

/// The claim of an event: the first 128 bits of SHA-256 over (workspace, source, id).
fn claim_of(workspace_id: &str, source: &str, id: &str) -> u128 {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    for part in [workspace_id, source, id] {
        hasher.update(part.as_bytes());
        hasher.update([0xff]);
    }
    let digest = hasher.finalize();
    let mut first = [0_u8; 16];
    first.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(first)
}

/// The two stored halves of a claim.
#[allow(clippy::cast_possible_truncation)]
fn halves(claim: u128) -> (i64, i64) {
    ((claim >> 64) as u64 as i64, claim as u64 as i64)
}

/// Inserts a meter and sets its key; a live meter with the same slug is a unique violation
/// (`meter_slug`).
pub async fn insert_meter(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    meter: &mut Meter,
) -> Result<(), StoreError> {
    let row = tx
        .fetch_one(
            "insert into meter (workspace_id, object_id, slug, event_type, deleted_at, body) \
             values ($1, $2, $3, $4, null, $5) returning meter_key",
            params![
                workspace_id.as_str(),
                meter.id.as_str(),
                meter.slug.as_str(),
                meter.event_type.as_str(),
                encode(meter)?
            ],
        )
        .await?;
    meter.key = row.i64("meter_key")?;
    Ok(())
}

/// The meter with this id (live or deleted) or this slug (live only).
pub async fn find_meter(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    id_or_slug: &str,
) -> Result<Option<Meter>, StoreError> {
    let row = tx
        .fetch_optional(
            "select meter_key, body from meter where workspace_id = $1 \
             and (object_id = $2 or (slug = $2 and deleted_at is null))",
            params![workspace_id.as_str(), id_or_slug],
        )
        .await?;
    row.as_ref().map(decode).transpose()
}

/// The workspace's meters by slug, live ones only unless `include_deleted`.
pub async fn list_meters(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    include_deleted: bool,
) -> Result<Vec<Meter>, StoreError> {
    let sql = if include_deleted {
        "select meter_key, body from meter where workspace_id = $1 order by slug, object_id"
    } else {
        "select meter_key, body from meter where workspace_id = $1 and deleted_at is null \
         order by slug"
    };
    let rows = tx.fetch_all(sql, params![workspace_id.as_str()]).await?;
    rows.iter().map(decode).collect()
}

/// Every live meter of every workspace (for `bursar meters rebuild`).
pub async fn all_live_meters(tx: &mut Tx) -> Result<Vec<(WorkspaceId, Meter)>, StoreError> {
    let rows = tx
        .fetch_all(
            "select workspace_id, meter_key, body from meter where deleted_at is null \
             order by workspace_id, slug",
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                WorkspaceId::from_trusted(r.text("workspace_id")?),
                decode(r)?,
            ))
        })
        .collect()
}

/// The keys of the workspace's live meters, in key order: a write job checks that the meters
/// its contributions were computed with are still the live ones.
pub async fn live_meter_keys(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
) -> Result<Vec<i64>, StoreError> {
    let rows = tx
        .fetch_all(
            "select meter_key from meter where workspace_id = $1 and deleted_at is null \
             order by meter_key",
            params![workspace_id.as_str()],
        )
        .await?;
    rows.iter().map(|r| r.i64("meter_key")).collect()
}

/// Marks a meter deleted (its slug becomes free) and drops its rollups; the raw events stay.
pub async fn delete_meter(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    meter: &Meter,
) -> Result<(), StoreError> {
    tx.execute(
        "update meter set deleted_at = $3, body = $4 where workspace_id = $1 and object_id = $2",
        params![
            workspace_id.as_str(),
            meter.id.as_str(),
            meter.deleted_at.map(Timestamp::unix_micros),
            encode(meter)?
        ],
    )
    .await?;
    drop_rollups(tx, meter.key).await
}

async fn drop_rollups(tx: &mut Tx, meter_key: i64) -> Result<(), StoreError> {
    for table in ["meter_rollup", "meter_unique"] {
        tx.execute(
            &format!("delete from {table} where meter_key = $1"),
            params![meter_key],
        )
        .await?;
    }
    Ok(())
}

/// An event with its stored `data` (JSON text) and what it adds to each meter that takes it
/// (index into the meters given to [`ingest`], contribution, group key).
pub struct Metered<'a> {
    pub event: &'a UsageEvent,
    pub data: Option<&'a str>,
    pub contributions: &'a [(usize, Contribution, String)],
}

/// Writes the rollup changes the group's kept jobs deferred, in its transaction.
pub(crate) async fn flush_deferred(tx: &mut Tx) -> Result<(), StoreError> {
    let Some(mut deferred) = tx.rollups.take() else {
        return Ok(());
    };
    let group = std::mem::take(&mut deferred.group);
    let result = if group.aggs.is_empty() {
        Ok(())
    } else {
        // A meter deleted by a later job of the group has no rollups any more.
        let mut live = FastSet::default();
        let keys: FastSet<i64> = group.aggs.keys().map(|k| k.0).collect();
        for key in keys {
            let row = tx
                .fetch_optional(
                    "select meter_key from meter where meter_key = $1 and deleted_at is null",
                    params![key],
                )
                .await;
            match row {
                Ok(Some(_)) => {
                    live.insert(key);
                }
                Ok(None) => {}
                Err(error) => {
                    tx.rollups = Some(deferred);
                    return Err(error);
                }
            }
        }
        let names = &deferred.names;
        let name = |id: u32| names[id as usize].as_str();
        let mut deltas = Deltas::default();
        for ((meter, level, subject, bucket, group_key), agg) in
            group.aggs.iter().filter(|(k, _)| live.contains(&k.0))
        {
            deltas.aggs.insert(
                (*meter, *level, name(*subject), *bucket, name(*group_key)),
                *agg,
            );
        }
        for (meter, level, subject, bucket, group_key, value) in
            group.uniques.iter().filter(|k| live.contains(&k.0))
        {
            deltas.uniques.insert((
                *meter,
                *level,
                name(*subject),
                *bucket,
                name(*group_key),
                name(*value),
            ));
        }
        write_deltas(tx, &deltas).await
    };
    tx.rollups = Some(deferred);
    result
}

/// What a batch did: events new to the workspace, and resends of events it already had.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ingested {
    pub accepted: usize,
    pub duplicates: usize,
}

const EVENT_COLUMNS: &str = "workspace_id, source, event_id, claim_hi, claim_lo, event_type, \
                             subject, event_time, counted_at, ingested_at, data";

/// Columns of a stored event.
const WIDTH: usize = 11;

/// Stores a batch of events and updates the rollups of the new ones, in the caller's
/// transaction. Events already stored (same source and id) are skipped, as are repeats within
/// the batch. `meters` are the workspace's live meters the contributions refer to.
pub async fn ingest(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    meters: &[CompiledMeter],
    batch: &[Metered<'_>],
    now: Timestamp,
) -> Result<Ingested, StoreError> {
    let mut seen = FastSet::default();
    let unique: Vec<&Metered<'_>> = batch
        .iter()
        .filter(|m| seen.insert((m.event.source.as_str(), m.event.id.as_str())))
        .collect();
    let counted = counted_at(tx, workspace_id, &unique).await?;
    let claims: Vec<u128> = unique
        .iter()
        .map(|m| claim_of(workspace_id.as_str(), &m.event.source, &m.event.id))
        .collect();
    let mut rows: Vec<Param<'_>> = Vec::with_capacity(unique.len() * WIDTH);
    for ((m, at), claim) in unique.iter().zip(&counted).zip(&claims) {
        let e = m.event;
        let (hi, lo) = halves(*claim);
        rows.extend([
            Param::from(workspace_id.as_str()),
            Param::from(e.source.as_str()),
            Param::from(e.id.as_str()),
            Param::from(hi),
            Param::from(lo),
            Param::from(e.event_type.as_str()),
            Param::from(e.subject.as_str()),
            Param::from(e.time.unix_micros()),
            Param::from(at.unix_micros()),
            Param::from(now.unix_micros()),
            Param::from(m.data),
        ]);
    }
    let fresh = if rows.is_empty() {
        Vec::new()
    } else if tx.backend() == Backend::Postgres {
        claim_postgres(tx, &unique, &rows).await?
    } else {
        claim_sqlite(tx, &claims, &rows).await?
    };
    let mut deltas = Deltas::default();
    let mut accepted = 0;
    for ((m, at), new) in unique.iter().zip(&counted).zip(&fresh) {
        if !new {
            continue;
        }
        accepted += 1;
        for (meter, contribution, group) in m.contributions {
            deltas.add(
                meters[*meter].meter.key,
                &m.event.subject,
                *at,
                contribution,
                group,
            );
        }
    }
    match tx.rollups.as_mut() {
        // The SQLite writer merges the rollups of a group's jobs and writes them once.
        Some(deferred) => deferred.add(&deltas),
        None => write_deltas(tx, &deltas).await?,
    }
    Ok(Ingested {
        accepted,
        duplicates: batch.len() - accepted,
    })
}

/// PostgreSQL: one insert; the unique key refuses the claims other transactions hold.
async fn claim_postgres(
    tx: &mut Tx,
    unique: &[&Metered<'_>],
    rows: &[Param<'_>],
) -> Result<Vec<bool>, StoreError> {
    // In key order, as the rollups: concurrent transactions never deadlock on claims.
    let mut order: Vec<usize> = (0..unique.len()).collect();
    order.sort_unstable_by_key(|i| (&unique[*i].event.source, &unique[*i].event.id));
    let sorted: Vec<Param<'_>> = order
        .iter()
        .flat_map(|i| rows[i * WIDTH..(i + 1) * WIDTH].iter().copied())
        .collect();
    let (select, arrays) = unnest(WIDTH, &sorted, 1);
    let inserted = tx
        .fetch_all(
            &format!(
                "insert into usage_event ({EVENT_COLUMNS}) {select} \
                 on conflict (workspace_id, source, event_id) do nothing returning source, event_id"
            ),
            &arrays,
        )
        .await?;
    let new: HashSet<(String, String)> = inserted
        .iter()
        .map(|r| Ok((r.text("source")?, r.text("event_id")?)))
        .collect::<Result<_, StoreError>>()?;
    Ok(unique
        .iter()
        .map(|m| new.contains(&(m.event.source.clone(), m.event.id.clone())))
        .collect())
}

/// SQLite, the single writer: claims are checked and taken in its memory (loaded from the
/// stored events on first use), and the new events inserted.
async fn claim_sqlite(
    tx: &mut Tx,
    claims: &[u128],
    rows: &[Param<'_>],
) -> Result<Vec<bool>, StoreError> {
    let loaded = tx.claims.as_ref().map(crate::claims::ClaimSet::is_loaded);
    match loaded {
        None => {
            return Err(StoreError::Corrupt(
                "BUG: usage events are ingested on the SQLite writer only".into(),
            ))
        }
        // Loaded in the first job of a group that ingests, before it inserts: the transaction
        // then holds no uncommitted events, so the set is exactly the committed claims.
        Some(false) => {
            let stored = tx
                .fetch_all("select claim_hi, claim_lo from usage_event", &[])
                .await?;
            let mut set = crate::claims::new_set(stored.len() + claims.len());
            for row in &stored {
                let (hi, lo) = (row.i64("claim_hi")?, row.i64("claim_lo")?);
                set.insert((u128::from(hi as u64) << 64) | u128::from(lo as u64));
            }
            if let Some(memory) = tx.claims.as_mut() {
                memory.load(set);
            }
        }
        Some(true) => {}
    }
    let memory = tx
        .claims
        .as_mut()
        .ok_or_else(|| StoreError::Corrupt("BUG: no claim set".into()))?;
    let fresh: Vec<bool> = claims.iter().map(|c| memory.claim(*c)).collect();
    let new_rows: Vec<Param<'_>> = rows
        .chunks(WIDTH)
        .zip(&fresh)
        .filter(|(_, new)| **new)
        .flat_map(|(row, _)| row.iter().copied())
        .collect();
    if !new_rows.is_empty() {
        tx.execute_each(
            &format!(
                "insert into usage_event ({EVENT_COLUMNS}) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            ),
            WIDTH,
            &new_rows,
        )
        .await?;
    }
    Ok(fresh)
}

/// Orders ingestion and billing of the same usage subjects (PostgreSQL; SQLite's one writer
/// orders them already): ingestion holds a shared lock on each subject of its batch from before
/// it reads where usage is closed until it commits; billing holds an exclusive lock on the
/// customer's subjects from before it reads their usage until its close commits. So an event is
/// either in what billing reads, or counted after the close — never in a closed period unbilled.
/// Transaction-scoped advisory locks, taken in subject order.
pub async fn lock_subjects(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    subjects: &[&str],
    exclusive: bool,
) -> Result<(), StoreError> {
    if tx.backend() != Backend::Postgres || subjects.is_empty() {
        return Ok(());
    }
    let mut list: Vec<&str> = subjects.to_vec();
    list.sort_unstable();
    list.dedup();
    let lock = if exclusive {
        "pg_advisory_xact_lock"
    } else {
        "pg_advisory_xact_lock_shared"
    };
    tx.execute(
        &format!(
            "select count({lock}(hashtext($1), hashtext(s))) \
             from (select s from unnest($2::text[]) s order by s) subjects"
        ),
        &[
            workspace_id.as_str().into(),
            Value::TextList(list.iter().map(|s| Some((*s).to_owned())).collect()),
        ],
    )
    .await?;
    Ok(())
}

/// The instant each event is counted at: its own time, unless its customer's usage was closed
/// past it (then the start of the open period).
async fn counted_at(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    batch: &[&Metered<'_>],
) -> Result<Vec<Timestamp>, StoreError> {
    let subjects: Vec<&str> = batch.iter().map(|m| m.event.subject.as_str()).collect();
    lock_subjects(tx, workspace_id, &subjects, false).await?;
    let any = tx
        .fetch_optional(
            "select 1 as one from usage_close where workspace_id = $1 limit 1",
            params![workspace_id.as_str()],
        )
        .await?
        .is_some();
    if !any {
        return Ok(batch.iter().map(|m| m.event.time).collect());
    }
    let subjects: HashSet<&str> = batch.iter().map(|m| m.event.subject.as_str()).collect();
    let mut closed: HashMap<&str, Timestamp> = HashMap::new();
    for subject in subjects {
        let customer = customer_of(tx, workspace_id, subject).await?;
        if let Some(until) = closed_until(tx, workspace_id, &customer).await? {
            closed.insert(subject, until);
        }
    }
    Ok(batch
        .iter()
        .map(|m| match closed.get(m.event.subject.as_str()) {
            Some(until) if m.event.time < *until => *until,
            _ => m.event.time,
        })
        .collect())
}

async fn write_deltas(tx: &mut Tx, deltas: &Deltas<'_>) -> Result<(), StoreError> {
    if deltas.aggs.is_empty() {
        return Ok(());
    }
    let pg = tx.backend() == Backend::Postgres;
    // In key order: concurrent transactions (PostgreSQL) then lock shared rows in the same
    // order and never deadlock.
    let mut aggs: Vec<_> = deltas
        .aggs
        .iter()
        .map(|((meter, level, subject, bucket, group), agg)| {
            ((*meter, *level, *subject, *bucket, *group), agg)
        })
        .collect();
    aggs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut rows: Vec<Param<'_>> = Vec::with_capacity(aggs.len() * 11);
    for ((meter_key, level, subject, bucket, group), agg) in aggs {
        rows.extend([
            Param::from(meter_key),
            Param::from(level),
            Param::from(subject),
            Param::from(bucket),
            Param::from(group),
            Param::from(agg.count),
            Param::from(agg.sum),
            Param::Real(agg.min),
            Param::Real(agg.max),
            Param::Int(agg.latest.map(|(t, _)| t)),
            Param::Real(agg.latest.map(|(_, v)| v)),
        ]);
    }
    let (least, greatest) = if pg {
        ("least", "greatest")
    } else {
        ("min", "max")
    };
    let columns = "meter_key, level, subject, bucket, group_key, events, total, lowest, highest, \
                   latest_time, latest_value";
    // Every right-hand side reads the row as it was before the update.
    let merge = format!(
        "on conflict (meter_key, level, subject, bucket, group_key) do update set \
         events = meter_rollup.events + excluded.events, \
         total = meter_rollup.total + excluded.total, \
         lowest = coalesce({least}(meter_rollup.lowest, excluded.lowest), meter_rollup.lowest, excluded.lowest), \
         highest = coalesce({greatest}(meter_rollup.highest, excluded.highest), meter_rollup.highest, excluded.highest), \
         latest_value = case when excluded.latest_time is not null and (meter_rollup.latest_time is null \
           or excluded.latest_time >= meter_rollup.latest_time) then excluded.latest_value else meter_rollup.latest_value end, \
         latest_time = coalesce({greatest}(meter_rollup.latest_time, excluded.latest_time), meter_rollup.latest_time, excluded.latest_time)"
    );
    if pg {
        let (select, arrays) = unnest(11, &rows, 1);
        tx.execute(
            &format!("insert into meter_rollup ({columns}) {select} {merge}"),
            &arrays,
        )
        .await?;
    } else {
        tx.execute_each(
            &format!(
                "insert into meter_rollup ({columns}) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) {merge}"
            ),
            11,
            &rows,
        )
        .await?;
    }
    if deltas.uniques.is_empty() {
        return Ok(());
    }
    let mut uniques: Vec<_> = deltas
        .uniques
        .iter()
        .map(|(meter, level, subject, bucket, group, value)| {
            (*meter, *level, *subject, *bucket, *group, *value)
        })
        .collect();
    uniques.sort_unstable();
    let mut rows: Vec<Param<'_>> = Vec::with_capacity(uniques.len() * 6);
    for (meter_key, level, subject, bucket, group, value) in uniques {
        rows.extend([
            Param::from(meter_key),
            Param::from(level),
            Param::from(subject),
            Param::from(bucket),
            Param::from(group),
            Param::from(value),
        ]);
    }
    let columns = "meter_key, level, subject, bucket, group_key, value";
    if pg {
        let (select, arrays) = unnest(6, &rows, 1);
        tx.execute(
            &format!("insert into meter_unique ({columns}) {select} on conflict do nothing"),
            &arrays,
        )
        .await?;
    } else {
        tx.execute_each(
            &format!(
                "insert into meter_unique ({columns}) values ($1, $2, $3, $4, $5, $6) \
                 on conflict do nothing"
            ),
            6,
            &rows,
        )
        .await?;
    }
    Ok(())
}

/// Recomputes a meter's rollups from the raw events (after it is created, or by `bursar meters
/// rebuild`). Events whose data cannot feed the meter (it did not exist when they arrived) are
/// skipped and counted.
pub async fn rebuild(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    meter: &CompiledMeter,
) -> Result<Rebuilt, StoreError> {
    const CHUNK: i64 = 10_000;
    drop_rollups(tx, meter.meter.key).await?;
    let mut outcome = Rebuilt::default();
    let mut after = 0_i64;
    loop {
        let rows = tx
            .fetch_all(
                "select seq, source, event_id, subject, event_time, counted_at, data from usage_event \
                 where workspace_id = $1 and event_type = $2 and seq > $3 order by seq limit $4",
                params![workspace_id.as_str(), meter.meter.event_type.as_str(), after, CHUNK],
            )
            .await?;
        let mut taken = Vec::with_capacity(rows.len());
        for row in &rows {
            after = row.i64("seq")?;
            let event = stored_event(row, &meter.meter.event_type)?;
            let counted = Timestamp::from_unix_micros(row.i64("counted_at")?);
            match meter.contribution(&event) {
                Ok(Some((contribution, group))) => {
                    taken.push((event, counted, contribution, group))
                }
                Ok(None) => {}
                Err(_) => outcome.skipped += 1,
            }
        }
        outcome.events += taken.len() as u64;
        let mut deltas = Deltas::default();
        for (event, counted, contribution, group) in &taken {
            deltas.add(
                meter.meter.key,
                &event.subject,
                *counted,
                contribution,
                group,
            );
        }
        write_deltas(tx, &deltas).await?;
        if rows.len() < CHUNK as usize {
            break;
        }
    }
    Ok(outcome)
}

fn stored_event(row: &Row, event_type: &str) -> Result<UsageEvent, StoreError> {
    let data = row
        .opt_text("data")?
        .map(|d| serde_json::from_str(&d))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("usage event data: {e}")))?;
    Ok(UsageEvent {
        id: row.text("event_id")?,
        source: row.text("source")?,
        event_type: event_type.to_owned(),
        subject: row.text("subject")?,
        time: Timestamp::from_unix_micros(row.i64("event_time")?),
        data,
    })
}

/// What a rebuild counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rebuilt {
    pub events: u64,
    pub skipped: u64,
}

#[cfg(test)]
mod tests;
