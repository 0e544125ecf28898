//! A deliberately simple reference model of the ledger, for tests only. It keeps the list of transfers and the status of each pending one and
//! recomputes balances from scratch; linked chains are undone by restoring a clone. The engine
//! updates balances incrementally with an undo log: the two agreeing is the evidence that both
//! are right. Instants are microseconds.

#![allow(clippy::needless_range_loop)]

use std::collections::BTreeMap;

use super::*;

#[derive(Clone, Debug)]
pub struct ModelTransfer {
    fingerprint: String,
    kind: char, // 'S' single, 'P' pending, 'A' post (apply), 'V' void
    debit: String,
    credit: String,
    amount: i64,
    expires_at: Option<i64>,
}

#[derive(Clone, Debug, Default)]
pub struct Model {
    pub accounts: BTreeMap<String, (String, AccountFlags)>,
    transfers: BTreeMap<String, ModelTransfer>,
    status: BTreeMap<String, PendingStatus>,
    failed: BTreeMap<String, TransferResult>,
    last_timestamp: i64,
}

impl Model {
    pub fn balances(&self, account: &str) -> Balances {
        let mut b = Balances::default();
        for (id, t) in &self.transfers {
            let (debits, credits) = match t.kind {
                'S' | 'A' => (&mut b.debits_posted, &mut b.credits_posted),
                'P' if self.status[id] == PendingStatus::Pending => {
                    (&mut b.debits_pending, &mut b.credits_pending)
                }
                _ => continue,
            };
            if t.debit == account {
                *debits += t.amount;
            }
            if t.credit == account {
                *credits += t.amount;
            }
        }
        b
    }

    /// Expires every due pending transfer; each expiry is an event with its own timestamp.
    pub fn expire(&mut self, now: i64) {
        let due: Vec<String> = self
            .transfers
            .iter()
            .filter(|(id, t)| {
                t.kind == 'P'
                    && self.status[*id] == PendingStatus::Pending
                    && t.expires_at.is_some_and(|e| e <= now)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            self.status.insert(id, PendingStatus::Expired);
            self.tick(now);
        }
    }

    pub fn apply_batch(&mut self, batch: &[NewTransfer], now: i64) -> Vec<TransferResult> {
        let mut results = vec![TransferResult::Ok; batch.len()];
        let mut start = 0;
        while start < batch.len() {
            let mut end = start;
            while batch[end].linked && end + 1 < batch.len() {
                end += 1;
            }
            if batch[end].linked {
                results[start..=end].fill(TransferResult::LinkedEventChainOpen);
                start = end + 1;
                continue;
            }
            let saved = self.clone();
            for index in start..=end {
                let result = self.apply_one(&batch[index], now);
                results[index] = result;
                if result != TransferResult::Ok && result != TransferResult::Exists {
                    if start != end {
                        let last_timestamp = self.last_timestamp;
                        *self = saved;
                        // Timestamps are never reused, even after a rollback.
                        self.last_timestamp = last_timestamp;
                        for other in start..=end {
                            if other != index {
                                results[other] = TransferResult::LinkedEventFailed;
                            }
                        }
                    }
                    if result.is_transient() {
                        self.failed.insert(batch[index].id.to_string(), result);
                    }
                    break;
                }
            }
            start = end + 1;
        }
        results
    }

    fn apply_one(&mut self, t: &NewTransfer, now: i64) -> TransferResult {
        use TransferResult as R;
        if self.failed.contains_key(t.id.as_str()) {
            return R::IdAlreadyFailed;
        }
        if let Some(existing) = self.transfers.get(t.id.as_str()) {
            return if existing.fingerprint == t.fingerprint() {
                R::Exists
            } else {
                R::ExistsWithDifferentFields
            };
        }
        if t.amount.is_some_and(|a| a <= 0) {
            return R::AmountMustBePositive;
        }
        let balancing = t.balancing_debit || t.balancing_credit;
        let debit = t.debit_account_id.as_ref().map(|a| a.to_string());
        let credit = t.credit_account_id.as_ref().map(|a| a.to_string());
        match &t.kind {
            TransferKind::Single | TransferKind::Pending { .. } => {
                if let TransferKind::Pending {
                    timeout_seconds: Some(s),
                } = t.kind
                {
                    if s <= 0 || s > PENDING_TIMEOUT_SECONDS_MAX {
                        return R::TimeoutOutOfRange;
                    }
                }
                let Some(debit) = debit else {
                    return R::DebitAccountIdRequired;
                };
                let Some(credit) = credit else {
                    return R::CreditAccountIdRequired;
                };
                if debit == credit {
                    return R::AccountsMustBeDifferent;
                }
                if t.amount.is_none() && !balancing {
                    return R::AmountRequired;
                }
                let Some((debit_currency, debit_flags)) = self.accounts.get(&debit).cloned() else {
                    return R::DebitAccountNotFound;
                };
                let Some((credit_currency, credit_flags)) = self.accounts.get(&credit).cloned()
                else {
                    return R::CreditAccountNotFound;
                };
                if debit_currency != credit_currency {
                    return R::CurrencyMismatch;
                }
                let db = self.balances(&debit);
                let cb = self.balances(&credit);
                let mut amount = t.amount.unwrap_or(i64::MAX);
                if t.balancing_debit {
                    amount = amount
                        .min((db.credits_posted - db.debits_posted - db.debits_pending).max(0));
                }
                if t.balancing_credit {
                    amount = amount
                        .min((cb.debits_posted - cb.credits_posted - cb.credits_pending).max(0));
                }
                // Amounts in this test are small: no overflow is possible except through the
                // "unlimited" balancing amount, which the flags clamp.
                let debits = i128::from(db.debits_pending)
                    + i128::from(db.debits_posted)
                    + i128::from(amount);
                let credits = i128::from(cb.credits_pending)
                    + i128::from(cb.credits_posted)
                    + i128::from(amount);
                if debits > i128::from(i64::MAX) {
                    return R::OverflowsDebits;
                }
                if credits > i128::from(i64::MAX) {
                    return R::OverflowsCredits;
                }
                if debit_flags.debits_must_not_exceed_credits
                    && debits > i128::from(db.credits_posted)
                {
                    return R::ExceedsCredits;
                }
                if credit_flags.credits_must_not_exceed_debits
                    && credits > i128::from(cb.debits_posted)
                {
                    return R::ExceedsDebits;
                }
                let timestamp = self.tick(now);
                let (kind, expires_at) = match t.kind {
                    TransferKind::Pending { timeout_seconds } => {
                        ('P', timeout_seconds.map(|s| timestamp + s * 1_000_000))
                    }
                    _ => ('S', None),
                };
                if kind == 'P' {
                    self.status.insert(t.id.to_string(), PendingStatus::Pending);
                }
                self.transfers.insert(
                    t.id.to_string(),
                    ModelTransfer {
                        fingerprint: t.fingerprint(),
                        kind,
                        debit,
                        credit,
                        amount,
                        expires_at,
                    },
                );
                R::Ok
            }
            TransferKind::PostPending { pending_id } | TransferKind::VoidPending { pending_id } => {
                let post = matches!(t.kind, TransferKind::PostPending { .. });
                if balancing {
                    return R::BalancingOnlyForSingleOrPending;
                }
                let Some(p) = self.transfers.get(pending_id.as_str()).cloned() else {
                    return R::PendingTransferNotFound;
                };
                if p.kind != 'P' {
                    return R::PendingTransferNotPending;
                }
                match self.status[pending_id.as_str()] {
                    PendingStatus::Posted => return R::PendingTransferAlreadyPosted,
                    PendingStatus::Voided => return R::PendingTransferAlreadyVoided,
                    PendingStatus::Expired => return R::PendingTransferExpired,
                    PendingStatus::Pending => {}
                }
                if p.expires_at.is_some_and(|e| e <= now) {
                    return R::PendingTransferExpired;
                }
                if debit.is_some_and(|d| d != p.debit) {
                    return R::PendingTransferHasDifferentDebitAccount;
                }
                if credit.is_some_and(|c| c != p.credit) {
                    return R::PendingTransferHasDifferentCreditAccount;
                }
                let amount = t.amount.unwrap_or(p.amount);
                if post && amount > p.amount {
                    return R::ExceedsPendingTransferAmount;
                }
                if !post && amount != p.amount {
                    return R::VoidAmountMustMatchPending;
                }
                self.tick(now);
                let status = if post {
                    PendingStatus::Posted
                } else {
                    PendingStatus::Voided
                };
                self.status.insert(pending_id.to_string(), status);
                self.transfers.insert(
                    t.id.to_string(),
                    ModelTransfer {
                        fingerprint: t.fingerprint(),
                        kind: if post { 'A' } else { 'V' },
                        debit: p.debit,
                        credit: p.credit,
                        amount,
                        expires_at: None,
                    },
                );
                R::Ok
            }
        }
    }

    fn tick(&mut self, now: i64) -> i64 {
        self.last_timestamp = now.max(self.last_timestamp + 1);
        self.last_timestamp
    }
}
