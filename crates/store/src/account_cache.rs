//! The SQLite writer's memory of ledger accounts.
//!
//! A batch of transfers reads every account it touches; on SQLite, where one writer owns the
//! database, those reads can come from memory instead of the b-tree. The cache keeps what the
//! writer itself wrote, in three layers that follow the writer's transactions:
//!
//! * `job`: accounts written by the job running now (inside its savepoint);
//! * `group`: accounts written by the jobs of this group commit that kept their savepoint;
//! * `committed`: accounts as they are in the committed database.
//!
//! A job that fails drops its layer; a group that commits moves its layer into `committed`; a
//! group that fails drops it. Every write of `ledger_account` goes through the ledger store,
//! which records it here, so an account not in the upper layers reads the same from the
//! database as from `committed`. Another connection committing to the file (another process)
//! is noticed through `pragma data_version` before each group, and empties the cache.

use bursar_domain::id::WorkspaceId;
use bursar_domain::ledger::engine::Map;
use bursar_domain::ledger::{Account, AccountId};

/// Accounts kept before the committed layer is emptied (a bound on memory, ~200 bytes each).
const COMMITTED_ACCOUNTS_MAX: usize = 250_000;

type Layer = Map<WorkspaceId, Map<AccountId, Account>>;

#[derive(Debug, Default)]
pub(crate) struct AccountCache {
    committed: Layer,
    committed_len: usize,
    group: Layer,
    job: Layer,
    data_version: Option<i64>,
}

impl AccountCache {
    /// The account as the current transaction sees it, if the cache knows it.
    pub(crate) fn get(&self, workspace: &WorkspaceId, id: &str) -> Option<&Account> {
        [&self.job, &self.group, &self.committed]
            .into_iter()
            .find_map(|layer| layer.get(workspace).and_then(|accounts| accounts.get(id)))
    }

    /// An account read from the database that the cache did not know: as committed.
    pub(crate) fn loaded(&mut self, workspace: &WorkspaceId, account: &Account) {
        debug_assert!(
            self.get(workspace, account.id.as_str()).is_none(),
            "BUG: loaded an account the cache knows"
        );
        if self.committed_len >= COMMITTED_ACCOUNTS_MAX {
            self.committed.clear();
            self.committed_len = 0;
        }
        let previous = self
            .committed
            .entry(workspace.clone())
            .or_default()
            .insert(account.id.clone(), account.clone());
        self.committed_len += usize::from(previous.is_none());
    }

    /// An account the running job wrote (created or changed its balances).
    pub(crate) fn wrote(&mut self, workspace: &WorkspaceId, account: &Account) {
        self.job
            .entry(workspace.clone())
            .or_default()
            .insert(account.id.clone(), account.clone());
    }

    /// The running job ended; `kept` when its savepoint was released rather than rolled back.
    pub(crate) fn job_ended(&mut self, kept: bool) {
        let job = std::mem::take(&mut self.job);
        if kept {
            merge(&mut self.group, job);
        }
    }

    /// The group's transaction ended; `committed` when it was committed.
    pub(crate) fn group_ended(&mut self, committed: bool) {
        self.job.clear();
        let group = std::mem::take(&mut self.group);
        if committed {
            for accounts in group.values() {
                self.committed_len += accounts.len();
            }
            merge(&mut self.committed, group);
        }
    }

    /// Before a group: the database's `data_version`, which changes when another connection
    /// commits. Then the committed layer may be stale, and is dropped.
    pub(crate) fn check_version(&mut self, data_version: i64) {
        if self.data_version != Some(data_version) {
            self.committed.clear();
            self.committed_len = 0;
            self.data_version = Some(data_version);
        }
    }
}

impl AccountCache {
    /// Forgets every committed account (read again on next use): after a transaction that
    /// changed accounts without telling the cache.
    pub(crate) fn forget(&mut self) {
        self.committed.clear();
        self.committed_len = 0;
    }
}

fn merge(into: &mut Layer, mut from: Layer) {
    if into.is_empty() {
        // The usual case of a job's layer into an empty group: a move, not a copy.
        std::mem::swap(into, &mut from);
        return;
    }
    for (workspace, accounts) in from {
        into.entry(workspace).or_default().extend(accounts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bursar_domain::ledger::{AccountFlags, Balances};
    use bursar_domain::money::Currency;
    use bursar_domain::time::Timestamp;

    fn account(id: &str, credits: i64) -> Account {
        Account {
            id: AccountId::from_trusted(id.to_owned()),
            currency: Currency::from_code("USD").unwrap(),
            code: 1,
            flags: AccountFlags::default(),
            metadata: Default::default(),
            balances: Balances {
                credits_posted: credits,
                ..Balances::default()
            },
            timestamp: Timestamp::from_unix_micros(0),
        }
    }

    fn credits(cache: &AccountCache, ws: &WorkspaceId, id: &str) -> Option<i64> {
        cache.get(ws, id).map(|a| a.balances.credits_posted)
    }

    #[test]
    fn layers_follow_savepoints_and_commits() {
        let ws = WorkspaceId::new();
        let mut cache = AccountCache::default();
        cache.check_version(1);
        cache.loaded(&ws, &account("a", 1));
        // A job writes, then fails: its write is gone.
        cache.wrote(&ws, &account("a", 2));
        assert_eq!(credits(&cache, &ws, "a"), Some(2));
        cache.job_ended(false);
        assert_eq!(credits(&cache, &ws, "a"), Some(1));
        // A job writes and keeps it; the next job of the group sees it; the group fails.
        cache.wrote(&ws, &account("a", 3));
        cache.job_ended(true);
        assert_eq!(credits(&cache, &ws, "a"), Some(3));
        cache.group_ended(false);
        assert_eq!(credits(&cache, &ws, "a"), Some(1));
        // Kept and committed: now the committed value.
        cache.wrote(&ws, &account("a", 4));
        cache.wrote(&ws, &account("b", 5));
        cache.job_ended(true);
        cache.group_ended(true);
        assert_eq!(credits(&cache, &ws, "a"), Some(4));
        assert_eq!(credits(&cache, &ws, "b"), Some(5));
        // Another workspace does not see them.
        assert_eq!(credits(&cache, &WorkspaceId::new(), "a"), None);
        // Same data_version: kept; another connection committed: dropped.
        cache.check_version(1);
        assert_eq!(credits(&cache, &ws, "a"), Some(4));
        cache.check_version(2);
        assert_eq!(credits(&cache, &ws, "a"), None);
    }
}
