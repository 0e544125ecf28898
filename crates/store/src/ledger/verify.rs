//! `bursar ledger verify`: every balance recomputed from the transfers and compared.

use super::*;

/// What `bursar ledger verify` found.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    pub accounts: u64,
    pub transfers: u64,
    pub problems: Vec<String>,
}

/// Recomputes every account's balances from the transfers and checks them against the stored
/// balances, the last history entry, the account's flags, and that debits equal credits per
/// workspace and currency.
pub async fn verify(tx: &mut Tx) -> Result<VerifyReport, StoreError> {
    type Key = (String, String);
    let mut computed: BTreeMap<Key, Balances> = BTreeMap::new();
    let sums = [
        ("debit_account_id", "kind in ('single', 'post_pending')", 0),
        ("credit_account_id", "kind in ('single', 'post_pending')", 1),
    ];
    for (side, filter, which) in sums {
        let sql = format!(
            "select workspace_id, {side} as account_id, cast(sum(amount) as bigint) as total \
             from ledger_transfer where {filter} group by workspace_id, {side}"
        );
        for row in tx.fetch_all(&sql, &[]).await? {
            let entry = computed
                .entry((row.text("workspace_id")?, row.text("account_id")?))
                .or_default();
            let total = row.i64("total")?;
            if which == 0 {
                entry.debits_posted = total
            } else {
                entry.credits_posted = total
            }
        }
    }
    for (side, which) in [("debit_account_id", 0), ("credit_account_id", 1)] {
        let sql = format!(
            "select t.workspace_id, t.{side} as account_id, cast(sum(t.amount) as bigint) as total \
             from ledger_transfer t join ledger_pending p \
             on p.workspace_id = t.workspace_id and p.transfer_id = t.transfer_id \
             where p.status = 'pending' group by t.workspace_id, t.{side}"
        );
        for row in tx.fetch_all(&sql, &[]).await? {
            let entry = computed
                .entry((row.text("workspace_id")?, row.text("account_id")?))
                .or_default();
            let total = row.i64("total")?;
            if which == 0 {
                entry.debits_pending = total
            } else {
                entry.credits_pending = total
            }
        }
    }
    let mut report = VerifyReport::default();
    let mut per_currency: BTreeMap<(String, String), [i128; 4]> = BTreeMap::new();
    let sql = format!("select workspace_id, {ACCOUNT_COLUMNS} from ledger_account order by workspace_id, account_id");
    for row in tx.fetch_all(&sql, &[]).await? {
        let workspace = row.text("workspace_id")?;
        let account = account_from(&row)?;
        report.accounts += 1;
        let key = (workspace.clone(), account.id.to_string());
        let expected = computed.remove(&key).unwrap_or_default();
        let b = account.balances;
        if b != expected {
            report.problems.push(format!(
                "{workspace}/{}: stored balances {b:?} differ from the transfers' {expected:?}",
                account.id
            ));
        }
        if account.flags.debits_must_not_exceed_credits
            && i128::from(b.debits_pending) + i128::from(b.debits_posted)
                > i128::from(b.credits_posted)
        {
            report.problems.push(format!(
                "{workspace}/{}: debits exceed credits: {b:?}",
                account.id
            ));
        }
        if account.flags.credits_must_not_exceed_debits
            && i128::from(b.credits_pending) + i128::from(b.credits_posted)
                > i128::from(b.debits_posted)
        {
            report.problems.push(format!(
                "{workspace}/{}: credits exceed debits: {b:?}",
                account.id
            ));
        }
        // Only accounts that keep a history have entries to check.
        let last = if account.flags.history {
            let workspace_id = WorkspaceId::from_trusted(workspace.clone());
            balances_as_of(
                tx,
                &workspace_id,
                &account.id,
                Timestamp::from_unix_micros(i64::MAX),
            )
            .await?
        } else {
            b
        };
        if last != b {
            report.problems.push(format!(
                "{workspace}/{}: history ends at {last:?}, not at the stored {b:?}",
                account.id
            ));
        }
        let sums = per_currency
            .entry((workspace, account.currency.code().to_owned()))
            .or_default();
        sums[0] += i128::from(b.debits_pending);
        sums[1] += i128::from(b.credits_pending);
        sums[2] += i128::from(b.debits_posted);
        sums[3] += i128::from(b.credits_posted);
    }
    for ((workspace, account), balances) in computed {
        report.problems.push(format!(
            "{workspace}/{account}: transfers {balances:?} name a missing account"
        ));
    }
    for ((workspace, currency), [dp, cp, dpo, cpo]) in per_currency {
        if dp != cp || dpo != cpo {
            report.problems.push(format!(
                "{workspace} {currency}: debits ≠ credits (pending {dp} vs {cp}, posted {dpo} vs {cpo})"
            ));
        }
    }
    report.transfers = u64::try_from(
        tx.fetch_one("select count(*) as n from ledger_transfer", &[])
            .await?
            .i64("n")?,
    )
    .unwrap_or(0);
    Ok(report)
}
