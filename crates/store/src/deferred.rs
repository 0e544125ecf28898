//! The work a SQLite group commit defers to its end, carried by the transaction (`Tx`): the
//! ledger requests whose events are recorded once per group, and the metering rollups written
//! once before the commit. The ledger and metering fill them; the writer flushes them.

use std::collections::{HashMap, HashSet};

use bursar_domain::event::Cause;
use bursar_domain::id::WorkspaceId;
use bursar_domain::ledger::{NewTransfer, Transfer, TransferResult};
use bursar_domain::metering::{bucket_of, Agg, Contribution, LEVELS};
use bursar_domain::time::Timestamp;

pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

pub(crate) type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// The subject whose rollups hold the totals over all subjects (no event has an empty subject).
pub const ALL_SUBJECTS: &str = "";

/// One request's transfers waiting for the end of the group commit.
#[derive(Debug, Clone)]
pub(crate) struct DeferredRequest {
    pub(crate) workspace_id: WorkspaceId,
    pub(crate) transfers: Vec<(NewTransfer, TransferOutcome)>,
    pub(crate) cause: Cause,
    pub(crate) now: Timestamp,
}

/// Ledger request events of the SQLite writer's current job and group.
#[derive(Debug, Default)]
pub struct DeferredEvents {
    pub(crate) job: Vec<DeferredRequest>,
    pub(crate) group: Vec<DeferredRequest>,
}

impl DeferredEvents {
    /// A job's requests join the group if its savepoint was kept.
    pub(crate) fn job_ended(&mut self, kept: bool) {
        if kept {
            self.group.append(&mut self.job);
        } else {
            self.job.clear();
        }
    }

    pub(crate) fn clear(&mut self) {
        self.job.clear();
        self.group.clear();
    }
}

/// A transfer's result, with the transfer when it was created or already existed.
pub type TransferOutcome = (TransferResult, Option<Transfer>);

/// The rollup changes of a set of events, merged in memory before they are written. Each
/// contribution counts for its subject and for all subjects.
#[derive(Default)]
pub(crate) struct Deltas<'a> {
    pub(crate) aggs: FastMap<(i64, i64, &'a str, i64, &'a str), Agg>,
    pub(crate) uniques: FastSet<(i64, i64, &'a str, i64, &'a str, &'a str)>,
}

impl<'a> Deltas<'a> {
    pub(crate) fn add(
        &mut self,
        meter: i64,
        subject: &'a str,
        counted_at: Timestamp,
        contribution: &'a Contribution,
        group: &'a str,
    ) {
        for level in LEVELS {
            let bucket = bucket_of(counted_at, level);
            for subject in [subject, ALL_SUBJECTS] {
                self.aggs
                    .entry((meter, level, subject, bucket, group))
                    .or_default()
                    .add(contribution, counted_at);
                if let Contribution::Unique(value) = contribution {
                    self.uniques
                        .insert((meter, level, subject, bucket, group, value.as_str()));
                }
            }
        }
    }
}

/// The SQLite writer's rollup changes of the running group commit, merged across its jobs and
/// written once before the commit ([`flush_deferred`]): concurrent batches update the same
/// buckets, and one upsert per bucket and group costs less than one per job. Layers follow the
/// writer's transactions: a job that fails drops its changes.
#[derive(Debug, Default)]
pub(crate) struct DeferredRollups {
    pub(crate) names: Vec<String>,
    pub(crate) ids: FastMap<String, u32>,
    pub(crate) job: Layer,
    pub(crate) group: Layer,
}

#[derive(Debug, Default)]
pub(crate) struct Layer {
    pub(crate) aggs: FastMap<(i64, i64, u32, i64, u32), Agg>,
    pub(crate) uniques: FastSet<(i64, i64, u32, i64, u32, u32)>,
}

impl DeferredRollups {
    pub(crate) fn id(&mut self, name: &str) -> u32 {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(name.to_owned());
        self.ids.insert(name.to_owned(), id);
        id
    }

    pub(crate) fn add(&mut self, deltas: &Deltas<'_>) {
        for ((meter, level, subject, bucket, group), agg) in &deltas.aggs {
            let key = (*meter, *level, self.id(subject), *bucket, self.id(group));
            self.job.aggs.entry(key).or_default().merge(agg);
        }
        for (meter, level, subject, bucket, group, value) in &deltas.uniques {
            let key = (
                *meter,
                *level,
                self.id(subject),
                *bucket,
                self.id(group),
                self.id(value),
            );
            self.job.uniques.insert(key);
        }
    }

    /// Rollup changes not yet written for these buckets (of the group's kept jobs and the
    /// running one), as buckets to merge with the stored ones.
    pub(crate) fn pending(
        &self,
        meter_key: i64,
        level: i64,
        subjects: Subjects<'_>,
        (from, to): (i64, i64),
        distinct: bool,
    ) -> Vec<Bucket> {
        let wanted = |meter: i64, lvl: i64, subject: u32, bucket: i64| {
            let name = self.names[subject as usize].as_str();
            meter == meter_key
                && lvl == level
                && (from..to).contains(&bucket)
                && match subjects {
                    Subjects::Total => name == ALL_SUBJECTS,
                    Subjects::Each => name != ALL_SUBJECTS,
                    Subjects::Only(list) => list.iter().any(|s| s == name),
                }
        };
        let name = |id: u32| self.names[id as usize].clone();
        let mut found = Vec::new();
        for layer in [&self.group, &self.job] {
            if distinct {
                for (meter, lvl, subject, bucket, group, value) in &layer.uniques {
                    if wanted(*meter, *lvl, *subject, *bucket) {
                        found.push(Bucket {
                            subject: name(*subject),
                            bucket: *bucket,
                            group_key: name(*group),
                            agg: Agg {
                                count: 1,
                                ..Agg::default()
                            },
                            value: Some(name(*value)),
                        });
                    }
                }
            } else {
                for ((meter, lvl, subject, bucket, group), agg) in &layer.aggs {
                    if wanted(*meter, *lvl, *subject, *bucket) {
                        found.push(Bucket {
                            subject: name(*subject),
                            bucket: *bucket,
                            group_key: name(*group),
                            agg: *agg,
                            value: None,
                        });
                    }
                }
            }
        }
        found
    }

    /// The running job ended; `kept` when its savepoint was released rather than rolled back.
    pub(crate) fn job_ended(&mut self, kept: bool) {
        let job = std::mem::take(&mut self.job);
        if !kept {
            return;
        }
        if self.group.aggs.is_empty() {
            self.group = job;
            return;
        }
        for (key, agg) in job.aggs {
            self.group.aggs.entry(key).or_default().merge(&agg);
        }
        self.group.uniques.extend(job.uniques);
    }

    /// The group's transaction ended (after [`flush_deferred`] wrote what it kept).
    pub(crate) fn group_ended(&mut self) {
        self.job = Layer::default();
        self.group = Layer::default();
        self.names.clear();
        self.ids.clear();
    }
}

/// One rollup bucket of a meter.
#[derive(Debug, Clone)]
pub struct Bucket {
    pub subject: String,
    pub bucket: i64,
    pub group_key: String,
    pub agg: Agg,
    /// UNIQUE_COUNT meters: the distinct value this row stands for (one row per value).
    pub value: Option<String>,
}

/// Whose buckets to read.
#[derive(Debug, Clone, Copy)]
pub enum Subjects<'a> {
    /// The totals over all subjects.
    Total,
    /// Every subject's own buckets.
    Each,
    /// These subjects' buckets.
    Only(&'a [String]),
}
