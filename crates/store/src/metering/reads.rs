//! Reading usage back: rollup buckets, extents, subjects and their customers, closed periods.

use super::*;

/// The buckets of `level` in `[from, to)` (unix seconds) of `subjects`. For UNIQUE_COUNT
/// meters, `distinct` reads the value sets.
pub async fn buckets(
    tx: &mut Tx,
    meter_key: i64,
    level: i64,
    subjects: Subjects<'_>,
    (from, to): (i64, i64),
    distinct: bool,
) -> Result<Vec<Bucket>, StoreError> {
    let (table, columns) = if distinct {
        ("meter_unique", "subject, bucket, group_key, value")
    } else {
        (
            "meter_rollup",
            "subject, bucket, group_key, events, total, lowest, highest, latest_time, latest_value",
        )
    };
    let base = format!(
        "select {columns} from {table} where meter_key = $1 and level = $2 \
         and bucket >= $3 and bucket < $4"
    );
    let rows = match subjects {
        Subjects::Each => {
            tx.fetch_all(
                &format!("{base} and subject <> ''"),
                params![meter_key, level, from, to],
            )
            .await?
        }
        Subjects::Total | Subjects::Only(_) => {
            let total = [ALL_SUBJECTS.to_owned()];
            let list = match subjects {
                Subjects::Only(list) => list,
                _ => &total[..],
            };
            let mut params: Vec<Param<'_>> = Vec::with_capacity(list.len() * 5);
            for subject in list {
                params.extend([
                    Param::from(meter_key),
                    Param::from(level),
                    Param::from(from),
                    Param::from(to),
                    Param::from(subject.as_str()),
                ]);
            }
            if params.is_empty() {
                return Ok(Vec::new());
            }
            // One subject's buckets: by the primary key (meter, level, subject, bucket). Written
            // so no planner picks the by-bucket index instead (PostgreSQL did, before its
            // statistics caught up with fresh rows, scanning every subject's buckets).
            let only = format!(
                "select {columns} from {table} where meter_key = $1 and level = $2 \
                 and subject = $5 and bucket + 0 >= $3 and bucket + 0 < $4"
            );
            tx.fetch_each(&only, 5, &params).await?
        }
    };
    rows.iter()
        .map(|row| {
            let agg = if distinct {
                Agg {
                    count: 1,
                    ..Agg::default()
                }
            } else {
                Agg {
                    count: row.i64("events")?,
                    sum: row.f64("total")?,
                    min: row.opt_f64("lowest")?,
                    max: row.opt_f64("highest")?,
                    latest: match (row.opt_i64("latest_time")?, row.opt_f64("latest_value")?) {
                        (Some(t), Some(v)) => Some((t, v)),
                        _ => None,
                    },
                }
            };
            Ok(Bucket {
                subject: row.text("subject")?,
                bucket: row.i64("bucket")?,
                group_key: row.text("group_key")?,
                agg,
                value: if distinct {
                    Some(row.text("value")?)
                } else {
                    None
                },
            })
        })
        .chain(
            // Inside the SQLite writer: what earlier jobs of this group commit added and has
            // not been written yet (billing reads the usage it closes).
            tx.rollups
                .as_ref()
                .map(|d| d.pending(meter_key, level, subjects, (from, to), distinct))
                .unwrap_or_default()
                .into_iter()
                .map(Ok),
        )
        .collect()
}

/// The subjects with usage of a meter in `[from, to)` (hour buckets), sorted.
pub async fn subjects_between(
    tx: &mut Tx,
    meter_key: i64,
    (from, to): (i64, i64),
) -> Result<Vec<String>, StoreError> {
    let rows = tx
        .fetch_all(
            "select distinct subject from meter_rollup where meter_key = $1 and level = 3600 \
             and bucket >= $2 and bucket < $3 and subject <> '' order by subject",
            params![meter_key, from, to],
        )
        .await?;
    rows.iter().map(|r| r.text("subject")).collect()
}

/// The first and last hour buckets a meter has data in, if any.
pub async fn extent(tx: &mut Tx, meter_key: i64) -> Result<Option<(i64, i64)>, StoreError> {
    // Two queries: SQLite answers a lone min() or max() from the index's ends.
    let mut ends = Vec::with_capacity(2);
    for order in ["asc", "desc"] {
        let row = tx
            .fetch_optional(
                &format!(
                    "select bucket from meter_rollup where meter_key = $1 and level = 3600 \
                     order by bucket {order} limit 1"
                ),
                params![meter_key],
            )
            .await?;
        match row {
            Some(row) => ends.push(row.i64("bucket")?),
            None => return Ok(None),
        }
    }
    Ok(Some((ends[0], ends[1])))
}

/// The subjects a meter has usage for, sorted.
pub async fn meter_subjects(tx: &mut Tx, meter_key: i64) -> Result<Vec<String>, StoreError> {
    subjects_between(tx, meter_key, (i64::MIN, i64::MAX)).await
}

/// The customer a usage subject belongs to: the one it is registered to, else the customer
/// whose id it is.
pub async fn customer_of(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    subject: &str,
) -> Result<String, StoreError> {
    let row = tx
        .fetch_optional(
            "select customer_id from usage_subject where workspace_id = $1 and subject = $2",
            params![workspace_id.as_str(), subject],
        )
        .await?;
    Ok(match row {
        Some(row) => row.text("customer_id")?,
        None => subject.to_owned(),
    })
}

/// Registers `subject` to a customer; returns the customer it already belongs to, if another.
/// A customer's own id is always its subject, so registering it records nothing.
pub async fn add_subject(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    subject: &str,
    customer_id: &str,
    now: Timestamp,
) -> Result<Option<String>, StoreError> {
    let owner = tx
        .fetch_optional(
            "select customer_id from usage_subject where workspace_id = $1 and subject = $2",
            params![workspace_id.as_str(), subject],
        )
        .await?;
    if let Some(row) = owner {
        let owner = row.text("customer_id")?;
        return Ok((owner != customer_id).then_some(owner));
    }
    if subject == customer_id {
        return Ok(None);
    }
    tx.execute(
        "insert into usage_subject (workspace_id, subject, customer_id, created_at) values ($1, $2, $3, $4)",
        params![workspace_id.as_str(), subject, customer_id, now.unix_micros()],
    )
    .await?;
    Ok(None)
}

/// A customer's usage subjects: its own id first, then the ones registered to it.
pub async fn subjects_of(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    customer_id: &str,
) -> Result<Vec<String>, StoreError> {
    let rows = tx
        .fetch_all(
            "select subject from usage_subject where workspace_id = $1 and customer_id = $2 order by subject",
            params![workspace_id.as_str(), customer_id],
        )
        .await?;
    let mut subjects = vec![customer_id.to_owned()];
    for row in rows {
        subjects.push(row.text("subject")?);
    }
    Ok(subjects)
}

/// Closes a customer's usage up to `until` (never moves an earlier close later back).
pub async fn close_usage(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    customer_id: &str,
    until: Timestamp,
) -> Result<Timestamp, StoreError> {
    let greatest = if tx.backend() == Backend::Postgres {
        "greatest"
    } else {
        "max"
    };
    let row = tx
        .fetch_one(
            &format!(
                "insert into usage_close (workspace_id, customer_id, closed_until) values ($1, $2, $3) \
                 on conflict (workspace_id, customer_id) do update set \
                 closed_until = {greatest}(usage_close.closed_until, excluded.closed_until) returning closed_until"
            ),
            params![workspace_id.as_str(), customer_id, until.unix_micros()],
        )
        .await?;
    Ok(Timestamp::from_unix_micros(row.i64("closed_until")?))
}

/// Where a customer's usage is closed up to, if it is.
pub async fn closed_until(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    customer_id: &str,
) -> Result<Option<Timestamp>, StoreError> {
    let row = tx
        .fetch_optional(
            "select closed_until from usage_close where workspace_id = $1 and customer_id = $2",
            params![workspace_id.as_str(), customer_id],
        )
        .await?;
    row.map(|r| Ok(Timestamp::from_unix_micros(r.i64("closed_until")?)))
        .transpose()
}
