//! The transfer engine: decides every transfer's outcome and its effect on balances.
//!
//! The caller loads into a [`Snapshot`] everything a batch can touch (its accounts, existing
//! transfers with the batch's ids, the pending transfers it posts or voids, and recorded
//! failures), runs [`apply_batch`], and persists the [`BatchOutcome`] in one transaction. The
//! engine is pure and deterministic: the same snapshot and batch give the same outcome.
//!
//! Linked chains are applied with an undo log: effects of a chain are recorded as they happen
//! and reversed if any transfer of the chain fails.

use std::collections::{BTreeMap, BTreeSet};

use super::types::*;
use crate::time::Timestamp;

/// The maps of the engine: keyed by ids the ledger's own clients chose, hashed with a fast
/// hasher that is still seeded per process (foldhash), as SipHash's cost shows in every batch.
pub type Map<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// The ledger state a batch may read or change. It must hold every account the batch names and
/// the accounts of every pending transfer it holds; a missing one is a bug of the loader.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub accounts: Map<AccountId, Account>,
    pub transfers: Map<TransferId, Transfer>,
    pub pending: Map<TransferId, PendingStatus>,
    pub failed: Map<TransferId, TransferResult>,
    /// The latest timestamp the ledger assigned; new ones are strictly greater.
    pub last_timestamp: Timestamp,
}

/// What a batch did, to persist and to answer with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// One result per transfer of the batch, in order.
    pub results: Vec<TransferResult>,
    /// Transfers created, in timestamp order (they are in the snapshot too).
    pub created: Vec<TransferId>,
    /// Pending transfers whose status changed, with their new status.
    pub pending_changes: BTreeMap<TransferId, PendingStatus>,
    /// Ids that failed in a way retries must keep seeing (`id_already_failed`).
    pub failed: Vec<(TransferId, TransferResult)>,
    /// Accounts whose balances changed.
    pub touched_accounts: BTreeSet<AccountId>,
    /// One history entry per balance change: the account's balances after it.
    pub entries: Vec<Entry>,
}

/// An account's balances right after a transfer (or an expiry) changed them: the account's
/// history, from which balances at any past instant are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub account_id: AccountId,
    pub timestamp: Timestamp,
    /// The transfer that changed the balances (for an expiry, the pending transfer).
    pub transfer_id: TransferId,
    pub balances: Balances,
}

enum Undo {
    Balances(AccountId, Balances),
    Entry,
    Created(TransferId),
    Pending(TransferId, Option<PendingStatus>),
}

struct Engine<'s> {
    state: &'s mut Snapshot,
    outcome: BatchOutcome,
    undo: Vec<Undo>,
    now: Timestamp,
}

/// Voids (as expired) pending transfers whose timeout has passed by `now`. `due` lists the
/// candidates the caller found; ones already resolved or not yet due are left alone.
pub fn expire_due(state: &mut Snapshot, due: &[TransferId], now: Timestamp) -> BatchOutcome {
    let mut engine = Engine {
        state,
        outcome: BatchOutcome::default(),
        undo: Vec::new(),
        now,
    };
    for id in due {
        engine.expire_if_due(id);
    }
    engine.finish()
}

/// Applies a batch of transfers at `now`.
pub fn apply_batch(state: &mut Snapshot, batch: &[NewTransfer], now: Timestamp) -> BatchOutcome {
    let mut engine = Engine {
        state,
        outcome: BatchOutcome::default(),
        undo: Vec::new(),
        now,
    };
    engine.outcome.results = vec![TransferResult::Ok; batch.len()];
    let mut start = 0;
    while start < batch.len() {
        let mut end = start;
        while batch[end].linked && end + 1 < batch.len() {
            end += 1;
        }
        if batch[end].linked {
            // The batch ended inside a chain: nothing of the chain is applied.
            for result in &mut engine.outcome.results[start..=end] {
                *result = TransferResult::LinkedEventChainOpen;
            }
        } else {
            engine.apply_chain(batch, start, end);
        }
        start = end + 1;
    }
    engine.finish()
}

impl Engine<'_> {
    fn finish(mut self) -> BatchOutcome {
        // Derived from the history, which chain rollbacks keep exact.
        self.outcome.touched_accounts = self
            .outcome
            .entries
            .iter()
            .map(|e| e.account_id.clone())
            .collect();
        self.outcome
    }

    fn apply_chain(&mut self, batch: &[NewTransfer], start: usize, end: usize) {
        self.undo.clear();
        for (offset, request) in batch[start..=end].iter().enumerate() {
            let index = start + offset;
            let result = self.apply_one(request);
            self.outcome.results[index] = result;
            if !matches!(result, TransferResult::Ok | TransferResult::Exists) {
                if start != end {
                    self.roll_back();
                    for (other, slot) in self.outcome.results[start..=end].iter_mut().enumerate() {
                        if start + other != index {
                            *slot = TransferResult::LinkedEventFailed;
                        }
                    }
                }
                if result.is_transient() {
                    let id = request.id.clone();
                    self.state.failed.insert(id.clone(), result);
                    self.outcome.failed.push((id, result));
                }
                break;
            }
        }
        self.undo.clear();
    }

    fn roll_back(&mut self) {
        while let Some(entry) = self.undo.pop() {
            match entry {
                Undo::Balances(id, balances) => {
                    if let Some(account) = self.state.accounts.get_mut(&id) {
                        account.balances = balances;
                    }
                }
                Undo::Entry => {
                    self.outcome.entries.pop();
                }
                Undo::Created(id) => {
                    self.state.transfers.remove(&id);
                    let popped = self.outcome.created.pop();
                    assert_eq!(popped.as_ref(), Some(&id), "BUG: undo out of order");
                }
                Undo::Pending(id, previous) => match previous {
                    Some(status) => {
                        self.state.pending.insert(id.clone(), status);
                        self.outcome.pending_changes.insert(id, status);
                    }
                    None => {
                        self.state.pending.remove(&id);
                        self.outcome.pending_changes.remove(&id);
                    }
                },
            }
        }
    }

    fn next_timestamp(&mut self) -> Timestamp {
        let next = self.now.max(Timestamp::from_unix_micros(
            self.state.last_timestamp.unix_micros().saturating_add(1),
        ));
        self.state.last_timestamp = next;
        next
    }

    /// Sets an account's balances as of `timestamp`, because of `transfer_id`.
    fn set_balances(
        &mut self,
        id: &AccountId,
        balances: Balances,
        transfer_id: &TransferId,
        timestamp: Timestamp,
    ) {
        let Some(account) = self.state.accounts.get_mut(id) else {
            unreachable!("BUG: balances set on an account that was not checked")
        };
        self.undo.push(Undo::Balances(id.clone(), account.balances));
        account.balances = balances;
        self.outcome.entries.push(Entry {
            account_id: id.clone(),
            timestamp,
            transfer_id: transfer_id.clone(),
            balances,
        });
        self.undo.push(Undo::Entry);
    }

    fn set_pending(&mut self, id: &TransferId, status: PendingStatus) {
        let previous = self.state.pending.insert(id.clone(), status);
        self.undo.push(Undo::Pending(id.clone(), previous));
        self.outcome.pending_changes.insert(id.clone(), status);
    }

    fn expire_if_due(&mut self, id: &TransferId) {
        let Some(PendingStatus::Pending) = self.state.pending.get(id).copied() else {
            return;
        };
        let Some(pending) = self.state.transfers.get(id) else {
            return;
        };
        if pending.expires_at.is_none_or(|at| at > self.now) {
            return;
        }
        let (debit_id, credit_id, amount) = (
            pending.debit_account_id.clone(),
            pending.credit_account_id.clone(),
            pending.amount,
        );
        let mut debit = self.state.accounts[&debit_id].balances;
        let mut credit = self.state.accounts[&credit_id].balances;
        debit.debits_pending -= amount;
        credit.credits_pending -= amount;
        assert!(
            debit.debits_pending >= 0 && credit.credits_pending >= 0,
            "BUG: negative pending"
        );
        let timestamp = self.next_timestamp();
        self.set_balances(&debit_id, debit, id, timestamp);
        self.set_balances(&credit_id, credit, id, timestamp);
        self.set_pending(id, PendingStatus::Expired);
    }

    fn apply_one(&mut self, request: &NewTransfer) -> TransferResult {
        if self.state.failed.contains_key(&request.id) {
            return TransferResult::IdAlreadyFailed;
        }
        if let Some(existing) = self.state.transfers.get(&request.id) {
            return if existing.request_fingerprint() == request.fingerprint() {
                TransferResult::Exists
            } else {
                TransferResult::ExistsWithDifferentFields
            };
        }
        if let Err(result) = check_request(request) {
            return result;
        }
        match request.kind.clone() {
            TransferKind::Single | TransferKind::Pending { .. } => self.apply_new(request),
            TransferKind::PostPending { pending_id } => self.resolve(request, &pending_id, true),
            TransferKind::VoidPending { pending_id } => self.resolve(request, &pending_id, false),
        }
    }

    /// A single or pending transfer.
    fn apply_new(&mut self, request: &NewTransfer) -> TransferResult {
        let (Some(debit_id), Some(credit_id)) = (
            request.debit_account_id.clone(),
            request.credit_account_id.clone(),
        ) else {
            unreachable!("BUG: checked by check_request")
        };
        let Some(debit) = self.state.accounts.get(&debit_id) else {
            return TransferResult::DebitAccountNotFound;
        };
        let Some(credit) = self.state.accounts.get(&credit_id) else {
            return TransferResult::CreditAccountNotFound;
        };
        if debit.currency != credit.currency {
            return TransferResult::CurrencyMismatch;
        }
        let currency = debit.currency;
        let (debit_flags, credit_flags) = (debit.flags, credit.flags);
        let (mut debit_balances, mut credit_balances) = (debit.balances, credit.balances);
        let mut amount = request.amount.unwrap_or(i64::MAX);
        if request.balancing_debit {
            let room = i128::from(debit_balances.credits_posted)
                - i128::from(debit_balances.debits_posted)
                - i128::from(debit_balances.debits_pending);
            amount = clamp(amount, room);
        }
        if request.balancing_credit {
            let room = i128::from(credit_balances.debits_posted)
                - i128::from(credit_balances.credits_posted)
                - i128::from(credit_balances.credits_pending);
            amount = clamp(amount, room);
        }
        let pending = matches!(request.kind, TransferKind::Pending { .. });
        let (debit_side, credit_side) = if pending {
            (
                &mut debit_balances.debits_pending,
                &mut credit_balances.credits_pending,
            )
        } else {
            (
                &mut debit_balances.debits_posted,
                &mut credit_balances.credits_posted,
            )
        };
        let Some(new_debit) = debit_side.checked_add(amount) else {
            return TransferResult::OverflowsDebits;
        };
        let Some(new_credit) = credit_side.checked_add(amount) else {
            return TransferResult::OverflowsCredits;
        };
        *debit_side = new_debit;
        *credit_side = new_credit;
        if let Err(result) =
            check_limits(&debit_balances, debit_flags, &credit_balances, credit_flags)
        {
            return result;
        }
        let timestamp = self.next_timestamp();
        let expires_at = match request.kind {
            TransferKind::Pending {
                timeout_seconds: Some(seconds),
            } => Some(timestamp.plus_seconds(seconds)),
            _ => None,
        };
        self.set_balances(&debit_id, debit_balances, &request.id, timestamp);
        self.set_balances(&credit_id, credit_balances, &request.id, timestamp);
        self.create(
            request, debit_id, credit_id, currency, amount, expires_at, timestamp,
        );
        if pending {
            self.set_pending(&request.id, PendingStatus::Pending);
        }
        TransferResult::Ok
    }

    /// A post (`post == true`) or void of a pending transfer.
    fn resolve(
        &mut self,
        request: &NewTransfer,
        pending_id: &TransferId,
        post: bool,
    ) -> TransferResult {
        let Some(pending) = self.state.transfers.get(pending_id) else {
            return TransferResult::PendingTransferNotFound;
        };
        if !matches!(pending.kind, TransferKind::Pending { .. }) {
            return TransferResult::PendingTransferNotPending;
        }
        match self.state.pending.get(pending_id) {
            Some(PendingStatus::Pending) => {}
            Some(PendingStatus::Posted) => return TransferResult::PendingTransferAlreadyPosted,
            Some(PendingStatus::Voided) => return TransferResult::PendingTransferAlreadyVoided,
            Some(PendingStatus::Expired) => return TransferResult::PendingTransferExpired,
            None => return TransferResult::PendingTransferNotFound,
        }
        if pending.expires_at.is_some_and(|at| at <= self.now) {
            return TransferResult::PendingTransferExpired;
        }
        if request
            .debit_account_id
            .as_ref()
            .is_some_and(|id| *id != pending.debit_account_id)
        {
            return TransferResult::PendingTransferHasDifferentDebitAccount;
        }
        if request
            .credit_account_id
            .as_ref()
            .is_some_and(|id| *id != pending.credit_account_id)
        {
            return TransferResult::PendingTransferHasDifferentCreditAccount;
        }
        let amount = match (post, request.amount) {
            (true, Some(amount)) if amount > pending.amount => {
                return TransferResult::ExceedsPendingTransferAmount;
            }
            (false, Some(amount)) if amount != pending.amount => {
                return TransferResult::VoidAmountMustMatchPending;
            }
            (_, Some(amount)) => amount,
            (_, None) => pending.amount,
        };
        let (debit_id, credit_id) = (
            pending.debit_account_id.clone(),
            pending.credit_account_id.clone(),
        );
        let (reserved, currency) = (pending.amount, pending.currency);
        let mut debit = self.state.accounts[&debit_id].balances;
        let mut credit = self.state.accounts[&credit_id].balances;
        debit.debits_pending -= reserved;
        credit.credits_pending -= reserved;
        if post {
            let Some(posted) = debit.debits_posted.checked_add(amount) else {
                return TransferResult::OverflowsDebits;
            };
            debit.debits_posted = posted;
            let Some(posted) = credit.credits_posted.checked_add(amount) else {
                return TransferResult::OverflowsCredits;
            };
            credit.credits_posted = posted;
        }
        let timestamp = self.next_timestamp();
        self.set_balances(&debit_id, debit, &request.id, timestamp);
        self.set_balances(&credit_id, credit, &request.id, timestamp);
        self.create(
            request, debit_id, credit_id, currency, amount, None, timestamp,
        );
        let status = if post {
            PendingStatus::Posted
        } else {
            PendingStatus::Voided
        };
        self.set_pending(pending_id, status);
        TransferResult::Ok
    }

    #[allow(clippy::too_many_arguments)]
    fn create(
        &mut self,
        request: &NewTransfer,
        debit_account_id: AccountId,
        credit_account_id: AccountId,
        currency: crate::money::Currency,
        amount: i64,
        expires_at: Option<Timestamp>,
        timestamp: Timestamp,
    ) {
        let transfer = Transfer {
            id: request.id.clone(),
            debit_account_id,
            credit_account_id,
            currency,
            amount,
            code: request.code,
            kind: request.kind.clone(),
            expires_at,
            linked: request.linked,
            balancing_debit: request.balancing_debit,
            balancing_credit: request.balancing_credit,
            metadata: request.metadata.clone(),
            timestamp,
            fingerprint: if request.is_plain() {
                String::new()
            } else {
                request.fingerprint()
            },
        };
        self.state.transfers.insert(request.id.clone(), transfer);
        self.undo.push(Undo::Created(request.id.clone()));
        self.outcome.created.push(request.id.clone());
    }
}

/// `amount` reduced to `room` (never below zero).
fn clamp(amount: i64, room: i128) -> i64 {
    let room = i64::try_from(room.max(0)).unwrap_or(i64::MAX);
    amount.min(room)
}

/// Checks that need only the request.
fn check_request(request: &NewTransfer) -> Result<(), TransferResult> {
    let balancing = request.balancing_debit || request.balancing_credit;
    if let Some(amount) = request.amount {
        if amount <= 0 {
            return Err(TransferResult::AmountMustBePositive);
        }
    }
    match &request.kind {
        TransferKind::Single | TransferKind::Pending { .. } => {
            if let TransferKind::Pending {
                timeout_seconds: Some(seconds),
            } = request.kind
            {
                if seconds <= 0 || seconds > PENDING_TIMEOUT_SECONDS_MAX {
                    return Err(TransferResult::TimeoutOutOfRange);
                }
            }
            let debit = request
                .debit_account_id
                .as_ref()
                .ok_or(TransferResult::DebitAccountIdRequired)?;
            let credit = request
                .credit_account_id
                .as_ref()
                .ok_or(TransferResult::CreditAccountIdRequired)?;
            if debit == credit {
                return Err(TransferResult::AccountsMustBeDifferent);
            }
            if request.amount.is_none() && !balancing {
                return Err(TransferResult::AmountRequired);
            }
        }
        TransferKind::PostPending { .. } | TransferKind::VoidPending { .. } => {
            if balancing {
                return Err(TransferResult::BalancingOnlyForSingleOrPending);
            }
        }
    }
    Ok(())
}

/// Checks the balance limits of both accounts after a change.
fn check_limits(
    debit: &Balances,
    debit_flags: AccountFlags,
    credit: &Balances,
    credit_flags: AccountFlags,
) -> Result<(), TransferResult> {
    let debits = i128::from(debit.debits_pending) + i128::from(debit.debits_posted);
    let credits = i128::from(credit.credits_pending) + i128::from(credit.credits_posted);
    if debits > i128::from(i64::MAX) {
        return Err(TransferResult::OverflowsDebits);
    }
    if credits > i128::from(i64::MAX) {
        return Err(TransferResult::OverflowsCredits);
    }
    if debit_flags.debits_must_not_exceed_credits && debits > i128::from(debit.credits_posted) {
        return Err(TransferResult::ExceedsCredits);
    }
    if credit_flags.credits_must_not_exceed_debits && credits > i128::from(credit.debits_posted) {
        return Err(TransferResult::ExceedsDebits);
    }
    Ok(())
}
