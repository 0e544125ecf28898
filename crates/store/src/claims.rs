//! The SQLite writer's memory of usage-event claims.
//!
//! Usage events are deduplicated by (workspace, source, id). A claim is the 128-bit key of that
//! triple (the first half of its SHA-256), stored with the event; on SQLite, where one writer
//! owns the database, the set of claims is kept in memory instead of in an index, whose random
//! keys would make every commit rewrite pages all over it. The set follows the writer's
//! transactions in three layers, as the account cache does (`job`, `group`, `committed`): a job
//! that fails drops its claims, a group that commits moves them into `committed`. It is loaded
//! from the stored events on first use, and dropped (to be loaded again) when another
//! connection commits to the file.

use std::collections::HashSet;

type Set = HashSet<u128, foldhash::fast::RandomState>;

#[derive(Debug, Default)]
pub(crate) struct ClaimSet {
    /// None until loaded.
    committed: Option<Set>,
    group: Set,
    job: Set,
    data_version: Option<i64>,
}

impl ClaimSet {
    pub(crate) fn is_loaded(&self) -> bool {
        self.committed.is_some()
    }

    /// The claims of the committed database, read by the caller.
    pub(crate) fn load(&mut self, claims: Set) {
        self.committed = Some(claims);
    }

    /// Claims `key` for the running job; false when it is claimed already (committed, by an
    /// earlier job of this group, or by this job).
    pub(crate) fn claim(&mut self, key: u128) -> bool {
        let taken =
            self.committed.as_ref().is_some_and(|c| c.contains(&key)) || self.group.contains(&key);
        !taken && self.job.insert(key)
    }

    /// The running job ended; `kept` when its savepoint was released rather than rolled back.
    pub(crate) fn job_ended(&mut self, kept: bool) {
        if kept {
            if self.group.is_empty() {
                std::mem::swap(&mut self.group, &mut self.job);
            } else {
                self.group.extend(self.job.drain());
            }
        }
        self.job.clear();
    }

    /// The group's transaction ended; `committed` when it was committed.
    pub(crate) fn group_ended(&mut self, committed: bool) {
        self.job.clear();
        if committed {
            if let Some(set) = self.committed.as_mut() {
                set.extend(self.group.drain());
            }
        }
        self.group.clear();
    }

    /// Before a group: the database's `data_version`, which changes when another connection
    /// commits. Then the committed claims may be stale, and are loaded again on next use.
    pub(crate) fn check_version(&mut self, data_version: i64) {
        if self.data_version != Some(data_version) {
            self.committed = None;
            self.data_version = Some(data_version);
        }
    }
}

impl ClaimSet {
    /// Forgets the committed claims (loaded again on next use): after a transaction that
    /// deleted usage events. Call between groups, when the database holds no uncommitted events.
    pub(crate) fn forget(&mut self) {
        self.committed = None;
    }
}

pub(crate) fn new_set(capacity: usize) -> Set {
    Set::with_capacity_and_hasher(capacity, foldhash::fast::RandomState::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_follow_jobs_and_groups() {
        let mut claims = ClaimSet::default();
        claims.check_version(1);
        claims.load(new_set(0));
        assert!(claims.claim(1));
        assert!(!claims.claim(1), "twice in one job");
        claims.job_ended(true);
        assert!(!claims.claim(1), "claimed by an earlier job of the group");
        assert!(claims.claim(2));
        claims.job_ended(false);
        assert!(claims.claim(2), "a failed job's claims are given back");
        claims.job_ended(true);
        claims.group_ended(false);
        assert!(claims.claim(1), "a failed group's claims are given back");
        claims.job_ended(true);
        claims.group_ended(true);
        assert!(!claims.claim(1), "committed");
        claims.check_version(2);
        assert!(
            !claims.is_loaded(),
            "another connection committed: load again"
        );
    }
}
