//! Ledger storage: loads what a batch touches, runs the engine, writes the outcome.
//!
//! Every batch of transfers of a workspace runs in one transaction that first takes the
//! workspace's ledger clock row (on PostgreSQL `for update`, which serialises ledger batches of
//! one workspace across connections and processes; SQLite has a single writer already). The
//! snapshot is loaded by key (on PostgreSQL one `= any($2)` query per table; on SQLite one
//! prepared point lookup per id, accounts mostly from the writer's cache), the pure engine
//! decides every outcome, and the writes go out in bulk (PostgreSQL: `unnest` arrays; SQLite:
//! one prepared statement re-bound per row).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bursar_domain::event::{Cause, NewEvent};
use bursar_domain::id::WorkspaceId;
use bursar_domain::ledger::engine::{self, BatchOutcome, Snapshot};
use bursar_domain::ledger::*;
use bursar_domain::money::Currency;
use bursar_domain::page::{Cursor, Page, PageRequest};
use bursar_domain::time::Timestamp;

use crate::sql::Param;
use crate::{params, Backend, Row, StoreError, Tx, Value};

mod verify;
pub use verify::*;

mod batcher;

pub use crate::deferred::TransferOutcome;
pub use batcher::*;

/// Expired pending transfers released per batch (the rest wait for the next one).
pub const EXPIRIES_PER_BATCH_MAX: i64 = 1024;

const ACCOUNT_COLUMNS: &str = "account_id, currency, code, debits_must_not_exceed_credits, \
     credits_must_not_exceed_debits, history, metadata, debits_pending, debits_posted, credits_pending, \
     credits_posted, created_at";

const TRANSFER_COLUMNS: &str = "transfer_id, debit_account_id, credit_account_id, currency, \
     amount, code, kind, pending_id, timeout_seconds, expires_at, flags, metadata, fingerprint, \
     created_at";

fn metadata_json(metadata: &BTreeMap<String, String>) -> String {
    serde_json::to_string(metadata).unwrap_or_else(|_| "{}".into())
}

fn metadata_from(text: &str) -> BTreeMap<String, String> {
    if text == "{}" {
        return BTreeMap::new();
    }
    serde_json::from_str(text).unwrap_or_default()
}

fn currency_from(row: &Row) -> Result<Currency, StoreError> {
    let code = row.str("currency")?;
    Currency::from_code(code).ok_or_else(|| StoreError::Corrupt(format!("currency {code}")))
}

fn account_from(row: &Row) -> Result<Account, StoreError> {
    Ok(Account {
        id: AccountId::from_trusted(row.text("account_id")?),
        currency: currency_from(row)?,
        code: row.i64("code")?,
        flags: AccountFlags {
            debits_must_not_exceed_credits: row.i64("debits_must_not_exceed_credits")? != 0,
            credits_must_not_exceed_debits: row.i64("credits_must_not_exceed_debits")? != 0,
            history: row.i64("history")? != 0,
        },
        metadata: metadata_from(row.str("metadata")?),
        balances: Balances {
            debits_pending: row.i64("debits_pending")?,
            debits_posted: row.i64("debits_posted")?,
            credits_pending: row.i64("credits_pending")?,
            credits_posted: row.i64("credits_posted")?,
        },
        timestamp: Timestamp::from_unix_micros(row.i64("created_at")?),
    })
}

fn transfer_from(row: &Row) -> Result<Transfer, StoreError> {
    let pending_id = row.opt_text("pending_id")?.map(TransferId::from_trusted);
    let kind = match (row.text("kind")?.as_str(), pending_id) {
        ("single", None) => TransferKind::Single,
        ("pending", None) => TransferKind::Pending {
            timeout_seconds: row.opt_i64("timeout_seconds")?,
        },
        ("post_pending", Some(pending_id)) => TransferKind::PostPending { pending_id },
        ("void_pending", Some(pending_id)) => TransferKind::VoidPending { pending_id },
        (other, _) => return Err(StoreError::Corrupt(format!("ledger_transfer.kind {other}"))),
    };
    let flags = row.i64("flags")?;
    Ok(Transfer {
        id: TransferId::from_trusted(row.text("transfer_id")?),
        debit_account_id: AccountId::from_trusted(row.text("debit_account_id")?),
        credit_account_id: AccountId::from_trusted(row.text("credit_account_id")?),
        currency: currency_from(row)?,
        amount: row.i64("amount")?,
        code: row.i64("code")?,
        kind,
        expires_at: row.opt_i64("expires_at")?.map(Timestamp::from_unix_micros),
        linked: flags & 1 != 0,
        balancing_debit: flags & 2 != 0,
        balancing_credit: flags & 4 != 0,
        metadata: metadata_from(row.str("metadata")?),
        timestamp: Timestamp::from_unix_micros(row.i64("created_at")?),
        fingerprint: row.text("fingerprint")?,
    })
}

/// Rows of `select {columns} from {table} where workspace_id = $1 and {key} = <id>` for every id.
async fn select_in(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    columns: &str,
    table: &str,
    key: &str,
    ids: &[&str],
) -> Result<Vec<Row>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    if tx.backend() == Backend::Postgres {
        // One statement with an array: a plan that does not depend on the number of ids.
        let sql =
            format!("select {columns} from {table} where workspace_id = $1 and {key} = any($2)");
        let list = Value::TextList(ids.iter().map(|id| Some((*id).to_owned())).collect());
        return tx
            .fetch_all(&sql, &[workspace_id.as_str().into(), list])
            .await;
    }
    // SQLite: one prepared point lookup, run in place per id.
    let sql = format!("select {columns} from {table} where workspace_id = $1 and {key} = $2");
    let params: Vec<Param<'_>> = ids
        .iter()
        .flat_map(|id| [Param::from(workspace_id.as_str()), Param::from(*id)])
        .collect();
    tx.fetch_each(&sql, 2, &params).await
}

/// Inserts rows given as one flat list of parameters, `columns.len()` per row.
pub(crate) async fn insert_rows(
    tx: &mut Tx,
    table: &str,
    columns: &[&str],
    params: &[Param<'_>],
) -> Result<(), StoreError> {
    if params.is_empty() {
        return Ok(());
    }
    if tx.backend() == Backend::Postgres {
        return insert_rows_unnest(tx, table, columns, params).await;
    }
    // SQLite: one prepared single-row insert, run in place per row.
    let placeholders: Vec<String> = (1..=columns.len()).map(|n| format!("${n}")).collect();
    let sql = format!(
        "insert into {table} ({}) values ({})",
        columns.join(", "),
        placeholders.join(", ")
    );
    tx.execute_each(&sql, columns.len(), params).await?;
    Ok(())
}

/// Writes new balances: on PostgreSQL one statement over arrays, on SQLite one prepared update
/// per account.
async fn update_balances(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    balances: &[(&AccountId, Balances)],
) -> Result<(), StoreError> {
    if balances.is_empty() {
        return Ok(());
    }
    let changed = if tx.backend() == Backend::Postgres {
        let ids = Value::TextList(
            balances
                .iter()
                .map(|(id, _)| Some(id.to_string()))
                .collect(),
        );
        let column = |f: fn(&Balances) -> i64| {
            Value::IntList(balances.iter().map(|(_, b)| Some(f(b))).collect())
        };
        tx.execute(
            "update ledger_account set debits_pending = v.dp, debits_posted = v.dpo, \
             credits_pending = v.cp, credits_posted = v.cpo \
             from unnest($2::text[], $3::int8[], $4::int8[], $5::int8[], $6::int8[]) \
             as v(account_id, dp, dpo, cp, cpo) \
             where ledger_account.workspace_id = $1 and ledger_account.account_id = v.account_id",
            &[
                workspace_id.as_str().into(),
                ids,
                column(|b| b.debits_pending),
                column(|b| b.debits_posted),
                column(|b| b.credits_pending),
                column(|b| b.credits_posted),
            ],
        )
        .await?
    } else {
        let params: Vec<Param<'_>> = balances
            .iter()
            .flat_map(|(id, b)| {
                [
                    Param::from(b.debits_pending),
                    b.debits_posted.into(),
                    b.credits_pending.into(),
                    b.credits_posted.into(),
                    workspace_id.as_str().into(),
                    id.as_str().into(),
                ]
            })
            .collect();
        tx.execute_each(
            "update ledger_account set debits_pending = $1, debits_posted = $2, \
             credits_pending = $3, credits_posted = $4 where workspace_id = $5 and account_id = $6",
            6,
            &params,
        )
        .await?
    };
    assert_eq!(
        changed,
        balances.len() as u64,
        "BUG: a balance update missed its account"
    );
    Ok(())
}

/// PostgreSQL: all rows in one statement, one array per column (`insert … select from unnest`).
async fn insert_rows_unnest(
    tx: &mut Tx,
    table: &str,
    columns: &[&str],
    params: &[Param<'_>],
) -> Result<(), StoreError> {
    let (select, arrays) = crate::sql::unnest(columns.len(), params, 1);
    let sql = format!("insert into {table} ({}) {select}", columns.join(", "));
    tx.execute(&sql, &arrays).await?;
    Ok(())
}

/// Takes the workspace's ledger clock (locking it on PostgreSQL) and returns its last timestamp.
async fn lock_clock(tx: &mut Tx, workspace_id: &WorkspaceId) -> Result<Timestamp, StoreError> {
    let lock = if tx.backend() == Backend::Postgres {
        " for update"
    } else {
        ""
    };
    let sql = format!("select last_timestamp from ledger_clock where workspace_id = $1{lock}");
    if let Some(row) = tx
        .fetch_optional(&sql, params![workspace_id.as_str()])
        .await?
    {
        return Ok(Timestamp::from_unix_micros(row.i64("last_timestamp")?));
    }
    // The workspace's first batch: create the clock row (a concurrent first batch on
    // PostgreSQL waits here for ours, then reads the row it finds).
    tx.execute(
        "insert into ledger_clock (workspace_id, last_timestamp) values ($1, 0) \
         on conflict (workspace_id) do nothing",
        params![workspace_id.as_str()],
    )
    .await?;
    let row = tx.fetch_one(&sql, params![workspace_id.as_str()]).await?;
    Ok(Timestamp::from_unix_micros(row.i64("last_timestamp")?))
}

/// Creates accounts; each gets its own result.
pub async fn create_accounts(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    accounts: &[NewAccount],
    now: Timestamp,
) -> Result<Vec<(AccountResult, Option<Account>)>, StoreError> {
    let ids: Vec<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
    let mut known: HashMap<AccountId, Account> = HashMap::new();
    for row in select_in(
        tx,
        workspace_id,
        ACCOUNT_COLUMNS,
        "ledger_account",
        "account_id",
        &ids,
    )
    .await?
    {
        let account = account_from(&row)?;
        known.insert(account.id.clone(), account);
    }
    let mut results = Vec::with_capacity(accounts.len());
    let mut created: Vec<(Account, String)> = Vec::new();
    for request in accounts {
        if let Some(existing) = known.get(&request.id) {
            let result = if existing.same_as(request) {
                AccountResult::Exists
            } else {
                AccountResult::ExistsWithDifferentFields
            };
            results.push((result, Some(existing.clone())));
            continue;
        }
        if request.flags.debits_must_not_exceed_credits
            && request.flags.credits_must_not_exceed_debits
        {
            results.push((AccountResult::FlagsAreMutuallyExclusive, None));
            continue;
        }
        let account = Account {
            id: request.id.clone(),
            currency: request.currency,
            code: request.code,
            flags: request.flags,
            metadata: request.metadata.clone(),
            balances: Balances::default(),
            timestamp: now,
        };
        created.push((account.clone(), metadata_json(&account.metadata)));
        known.insert(account.id.clone(), account.clone());
        results.push((AccountResult::Ok, Some(account)));
    }
    let columns = [
        "workspace_id",
        "account_id",
        "currency",
        "code",
        "debits_must_not_exceed_credits",
        "credits_must_not_exceed_debits",
        "history",
        "metadata",
        "debits_pending",
        "debits_posted",
        "credits_pending",
        "credits_posted",
        "created_at",
    ];
    let params: Vec<Param<'_>> = created
        .iter()
        .flat_map(|(account, metadata)| {
            [
                Param::from(workspace_id.as_str()),
                account.id.as_str().into(),
                account.currency.code().into(),
                account.code.into(),
                i64::from(account.flags.debits_must_not_exceed_credits).into(),
                i64::from(account.flags.credits_must_not_exceed_debits).into(),
                i64::from(account.flags.history).into(),
                metadata.as_str().into(),
                0_i64.into(),
                0_i64.into(),
                0_i64.into(),
                0_i64.into(),
                now.unix_micros().into(),
            ]
        })
        .collect();
    insert_rows(tx, "ledger_account", &columns, &params).await?;
    if let Some(cache) = tx.accounts.as_mut() {
        for (account, _) in &created {
            cache.wrote(workspace_id, account);
        }
    }
    Ok(results)
}

/// Accounts whose id starts with `prefix`, in id order.
pub async fn accounts_with_prefix(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    prefix: &str,
) -> Result<Vec<Account>, StoreError> {
    // An exact prefix test (`like` would read `_` as a wildcard; a key range depends on the
    // collation).
    let sql = format!(
        "select {ACCOUNT_COLUMNS} from ledger_account where workspace_id = $1 \
         and substr(account_id, 1, length($2)) = $2 order by account_id"
    );
    let rows = tx
        .fetch_all(&sql, params![workspace_id.as_str(), prefix])
        .await?;
    rows.iter().map(account_from).collect()
}

pub async fn get_account(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    id: &AccountId,
) -> Result<Option<Account>, StoreError> {
    let sql = format!(
        "select {ACCOUNT_COLUMNS} from ledger_account where workspace_id = $1 and account_id = $2"
    );
    let row = tx
        .fetch_optional(&sql, params![workspace_id.as_str(), id.as_str()])
        .await?;
    row.as_ref().map(account_from).transpose()
}

/// Loads everything `batch` can touch, plus pending transfers due to expire.
async fn load_snapshot(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    batch: &[NewTransfer],
    now: Timestamp,
) -> Result<(Snapshot, Vec<TransferId>), StoreError> {
    if tx.backend() == Backend::Postgres {
        // Every lookup of a batch is by key. A table that grew fast since it was last analyzed
        // looks small to the planner, which then prefers scanning it whole; within this
        // transaction, tell it not to.
        tx.execute_batch("set local enable_seqscan = off").await?;
    }
    let mut snapshot = Snapshot {
        last_timestamp: lock_clock(tx, workspace_id).await?,
        ..Snapshot::default()
    };
    let due_rows = tx
        .fetch_all(
            "select transfer_id from ledger_pending where workspace_id = $1 and status = 'pending' \
             and expires_at <= $2 order by expires_at limit $3",
            params![workspace_id.as_str(), now.unix_micros(), EXPIRIES_PER_BATCH_MAX],
        )
        .await?;
    let due: Vec<TransferId> = due_rows
        .iter()
        .map(|r| r.text("transfer_id").map(TransferId::from_trusted))
        .collect::<Result<_, _>>()?;

    let mut transfer_ids: BTreeSet<&str> = batch.iter().map(|t| t.id.as_str()).collect();
    transfer_ids.extend(
        batch
            .iter()
            .filter_map(|t| t.kind.pending_id())
            .map(TransferId::as_str),
    );
    transfer_ids.extend(due.iter().map(TransferId::as_str));
    let transfer_ids: Vec<&str> = transfer_ids.into_iter().collect();
    let batch_ids: Vec<&str> = batch.iter().map(|t| t.id.as_str()).collect();
    if tx.backend() == Backend::Sqlite {
        // One point lookup per id finds both a transfer and a recorded failure (an id is one
        // or the other, never both): half the statements of two separate lookups.
        let columns: Vec<String> = TRANSFER_COLUMNS
            .split(',')
            .map(|c| format!("t.{}", c.trim()))
            .collect();
        let sql = format!(
            "select k.id as key_id, f.result as failed_result, {} from (select $2 as id) k \
             left join ledger_transfer t on t.workspace_id = $1 and t.transfer_id = k.id \
             left join ledger_failed_id f on f.workspace_id = $1 and f.transfer_id = k.id \
             where t.transfer_id is not null or f.result is not null",
            columns.join(", ")
        );
        let params: Vec<Param<'_>> = transfer_ids
            .iter()
            .flat_map(|id| [Param::from(workspace_id.as_str()), Param::from(*id)])
            .collect();
        for row in tx.fetch_each(&sql, 2, &params).await? {
            if let Some(result) = row.opt_text("failed_result")? {
                let code = TransferResult::parse(&result).ok_or_else(|| {
                    StoreError::Corrupt(format!("ledger_failed_id.result {result}"))
                })?;
                snapshot
                    .failed
                    .insert(TransferId::from_trusted(row.text("key_id")?), code);
            }
            if row.opt_text("transfer_id")?.is_some() {
                let transfer = transfer_from(&row)?;
                snapshot.transfers.insert(transfer.id.clone(), transfer);
            }
        }
    } else {
        for row in select_in(
            tx,
            workspace_id,
            TRANSFER_COLUMNS,
            "ledger_transfer",
            "transfer_id",
            &transfer_ids,
        )
        .await?
        {
            let transfer = transfer_from(&row)?;
            snapshot.transfers.insert(transfer.id.clone(), transfer);
        }
        snapshot.failed = load_codes(
            tx,
            workspace_id,
            "ledger_failed_id",
            "result",
            &batch_ids,
            TransferResult::parse,
        )
        .await?;
    }
    // Only pending transfers have a status row.
    let pending_ids: Vec<TransferId> = snapshot
        .transfers
        .values()
        .filter(|t| matches!(t.kind, TransferKind::Pending { .. }))
        .map(|t| t.id.clone())
        .collect();
    let pending_ids: Vec<&str> = pending_ids.iter().map(TransferId::as_str).collect();
    snapshot.pending = load_codes(
        tx,
        workspace_id,
        "ledger_pending",
        "status",
        &pending_ids,
        PendingStatus::parse,
    )
    .await?;
    let mut account_ids: BTreeSet<&str> = BTreeSet::new();
    for request in batch {
        account_ids.extend(request.debit_account_id.iter().map(AccountId::as_str));
        account_ids.extend(request.credit_account_id.iter().map(AccountId::as_str));
    }
    for transfer in snapshot.transfers.values() {
        account_ids.insert(transfer.debit_account_id.as_str());
        account_ids.insert(transfer.credit_account_id.as_str());
    }
    // The SQLite writer remembers accounts; only the others are read.
    let mut missing: Vec<&str> = Vec::with_capacity(account_ids.len());
    for id in account_ids {
        match tx.accounts.as_ref().and_then(|c| c.get(workspace_id, id)) {
            Some(account) => {
                snapshot
                    .accounts
                    .insert(account.id.clone(), account.clone());
            }
            None => missing.push(id),
        }
    }
    for row in select_in(
        tx,
        workspace_id,
        ACCOUNT_COLUMNS,
        "ledger_account",
        "account_id",
        &missing,
    )
    .await?
    {
        let account = account_from(&row)?;
        if let Some(cache) = tx.accounts.as_mut() {
            cache.loaded(workspace_id, &account);
        }
        snapshot.accounts.insert(account.id.clone(), account);
    }
    Ok((snapshot, due))
}

/// `transfer_id → code` from a table that stores one code per transfer id.
async fn load_codes<T>(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    table: &str,
    column: &str,
    ids: &[&str],
    parse: fn(&str) -> Option<T>,
) -> Result<engine::Map<TransferId, T>, StoreError> {
    let columns = format!("transfer_id, {column}");
    let mut codes = engine::Map::default();
    for row in select_in(tx, workspace_id, &columns, table, "transfer_id", ids).await? {
        let text = row.text(column)?;
        let code =
            parse(&text).ok_or_else(|| StoreError::Corrupt(format!("{table}.{column} {text}")))?;
        codes.insert(TransferId::from_trusted(row.text("transfer_id")?), code);
    }
    Ok(codes)
}

/// Writes what the engine decided.
async fn persist(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    snapshot: &Snapshot,
    outcomes: &[&BatchOutcome],
    now: Timestamp,
) -> Result<(), StoreError> {
    let ws = workspace_id.as_str();
    let created: Vec<&Transfer> = outcomes
        .iter()
        .flat_map(|outcome| outcome.created.iter().map(|id| &snapshot.transfers[id]))
        .collect();
    // Most transfers carry no metadata; only the others need their JSON written out.
    let metadata: Vec<Option<String>> = created
        .iter()
        .map(|t| (!t.metadata.is_empty()).then(|| metadata_json(&t.metadata)))
        .collect();
    let mut transfer_rows: Vec<Param<'_>> = Vec::with_capacity(created.len() * 15);
    let mut pending_rows: Vec<Param<'_>> = Vec::new();
    for (t, metadata) in created.iter().zip(&metadata) {
        let flags = i64::from(t.linked)
            | i64::from(t.balancing_debit) << 1
            | i64::from(t.balancing_credit) << 2;
        let timeout = match t.kind {
            TransferKind::Pending { timeout_seconds } => timeout_seconds,
            _ => None,
        };
        let expires_at = t.expires_at.map(Timestamp::unix_micros);
        transfer_rows.extend([
            Param::from(ws),
            t.id.as_str().into(),
            t.debit_account_id.as_str().into(),
            t.credit_account_id.as_str().into(),
            t.currency.code().into(),
            t.amount.into(),
            t.code.into(),
            t.kind.as_str().into(),
            t.kind.pending_id().map(TransferId::as_str).into(),
            timeout.into(),
            expires_at.into(),
            flags.into(),
            metadata.as_deref().unwrap_or("{}").into(),
            t.fingerprint.as_str().into(),
            t.timestamp.unix_micros().into(),
        ]);
        if matches!(t.kind, TransferKind::Pending { .. }) {
            pending_rows.extend([
                Param::from(ws),
                t.id.as_str().into(),
                "pending".into(),
                expires_at.into(),
            ]);
        }
    }
    let transfer_columns = [
        "workspace_id",
        "transfer_id",
        "debit_account_id",
        "credit_account_id",
        "currency",
        "amount",
        "code",
        "kind",
        "pending_id",
        "timeout_seconds",
        "expires_at",
        "flags",
        "metadata",
        "fingerprint",
        "created_at",
    ];
    insert_rows(tx, "ledger_transfer", &transfer_columns, &transfer_rows).await?;
    insert_rows(
        tx,
        "ledger_pending",
        &["workspace_id", "transfer_id", "status", "expires_at"],
        &pending_rows,
    )
    .await?;

    let mut statuses: BTreeMap<&TransferId, PendingStatus> = BTreeMap::new();
    let mut failed_rows: Vec<Param<'_>> = Vec::new();
    let mut entry_rows: Vec<Param<'_>> = Vec::new();
    let mut touched: BTreeSet<&AccountId> = BTreeSet::new();
    for outcome in outcomes {
        for (id, status) in &outcome.pending_changes {
            statuses.insert(id, *status);
        }
        for (id, result) in &outcome.failed {
            failed_rows.extend([
                Param::from(ws),
                id.as_str().into(),
                result.as_str().into(),
                now.unix_micros().into(),
            ]);
        }
        // Only accounts that keep a history get entries (see AccountFlags::history).
        for entry in outcome
            .entries
            .iter()
            .filter(|e| snapshot.accounts[&e.account_id].flags.history)
        {
            let b = entry.balances;
            entry_rows.extend([
                Param::from(ws),
                entry.account_id.as_str().into(),
                entry.timestamp.unix_micros().into(),
                entry.transfer_id.as_str().into(),
                b.debits_pending.into(),
                b.debits_posted.into(),
                b.credits_pending.into(),
                b.credits_posted.into(),
            ]);
        }
        touched.extend(outcome.touched_accounts.iter());
    }
    for (id, status) in statuses {
        if status != PendingStatus::Pending {
            tx.execute(
                "update ledger_pending set status = $1 where workspace_id = $2 and transfer_id = $3",
                params![status.as_str(), ws, id.as_str()],
            )
            .await?;
        }
    }
    insert_rows(
        tx,
        "ledger_failed_id",
        &["workspace_id", "transfer_id", "result", "created_at"],
        &failed_rows,
    )
    .await?;
    let entry_columns = [
        "workspace_id",
        "account_id",
        "created_at",
        "transfer_id",
        "debits_pending",
        "debits_posted",
        "credits_pending",
        "credits_posted",
    ];
    insert_rows(tx, "ledger_entry", &entry_columns, &entry_rows).await?;
    let balances: Vec<(&AccountId, Balances)> = touched
        .into_iter()
        .map(|id| (id, snapshot.accounts[id].balances))
        .collect();
    update_balances(tx, workspace_id, &balances).await?;
    if let Some(cache) = tx.accounts.as_mut() {
        for (id, _) in &balances {
            cache.wrote(workspace_id, &snapshot.accounts[*id]);
        }
    }
    tx.execute(
        "update ledger_clock set last_timestamp = $1 where workspace_id = $2",
        params![snapshot.last_timestamp.unix_micros(), ws],
    )
    .await?;
    Ok(())
}

/// Applies a batch of transfers; one result per transfer, with the transfer when it was
/// created (`ok`) or already existed (`exists`).
pub async fn create_transfers(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    batch: &[NewTransfer],
    now: Timestamp,
) -> Result<Vec<(TransferResult, Option<Transfer>)>, StoreError> {
    let (mut snapshot, due) = load_snapshot(tx, workspace_id, batch, now).await?;
    let expired = engine::expire_due(&mut snapshot, &due, now);
    let outcome = engine::apply_batch(&mut snapshot, batch, now);
    persist(tx, workspace_id, &snapshot, &[&expired, &outcome], now).await?;
    Ok(outcome
        .results
        .iter()
        .zip(batch)
        .map(|(result, request)| {
            let transfer = match result {
                TransferResult::Ok | TransferResult::Exists => {
                    snapshot.transfers.get(&request.id).cloned()
                }
                _ => None,
            };
            (*result, transfer)
        })
        .collect())
}

/// Releases pending transfers whose timeout passed; returns how many.
pub async fn expire_pending(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    now: Timestamp,
) -> Result<usize, StoreError> {
    let (mut snapshot, due) = load_snapshot(tx, workspace_id, &[], now).await?;
    let expired = engine::expire_due(&mut snapshot, &due, now);
    let count = expired.pending_changes.len();
    if count > 0 {
        persist(tx, workspace_id, &snapshot, &[&expired], now).await?;
    }
    Ok(count)
}

/// Workspaces with pending transfers due to expire by `now`.
pub async fn workspaces_with_due_pending(
    tx: &mut Tx,
    now: Timestamp,
) -> Result<Vec<WorkspaceId>, StoreError> {
    let rows = tx
        .fetch_all(
            "select distinct workspace_id from ledger_pending where status = 'pending' and expires_at <= $1",
            params![now.unix_micros()],
        )
        .await?;
    rows.iter()
        .map(|r| r.text("workspace_id").map(WorkspaceId::from_trusted))
        .collect()
}

pub async fn get_transfer(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    id: &TransferId,
) -> Result<Option<(Transfer, Option<PendingStatus>)>, StoreError> {
    let sql = format!("select {TRANSFER_COLUMNS} from ledger_transfer where workspace_id = $1 and transfer_id = $2");
    let Some(row) = tx
        .fetch_optional(&sql, params![workspace_id.as_str(), id.as_str()])
        .await?
    else {
        return Ok(None);
    };
    let transfer = transfer_from(&row)?;
    let status = tx
        .fetch_optional(
            "select status from ledger_pending where workspace_id = $1 and transfer_id = $2",
            params![workspace_id.as_str(), id.as_str()],
        )
        .await?
        .map(|r| r.text("status"))
        .transpose()?
        .and_then(|s| PendingStatus::parse(&s));
    Ok(Some((transfer, status)))
}

/// An account's balances as they were at `at` (after every change up to and including it).
pub async fn balances_as_of(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    account_id: &AccountId,
    at: Timestamp,
) -> Result<Balances, StoreError> {
    let row = tx
        .fetch_optional(
            "select debits_pending, debits_posted, credits_pending, credits_posted from ledger_entry \
             where workspace_id = $1 and account_id = $2 and created_at <= $3 \
             order by created_at desc limit 1",
            params![workspace_id.as_str(), account_id.as_str(), at.unix_micros()],
        )
        .await?;
    let Some(row) = row else {
        return Ok(Balances::default());
    };
    Ok(Balances {
        debits_pending: row.i64("debits_pending")?,
        debits_posted: row.i64("debits_posted")?,
        credits_pending: row.i64("credits_pending")?,
        credits_posted: row.i64("credits_posted")?,
    })
}

/// Transfers that changed an account, newest first. The cursor is a transfer id.
pub async fn list_account_transfers(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    account_id: &AccountId,
    page: &PageRequest,
) -> Result<Page<Transfer>, StoreError> {
    let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
    let ws = workspace_id.as_str();
    // Cursors name a transfer; its entry's timestamp is the position in the history.
    let cursor_at = match &page.cursor {
        Cursor::First => None,
        Cursor::After(id) | Cursor::Before(id) => {
            let sql =
                "select created_at from ledger_entry where workspace_id = $1 and account_id = $2 \
                       and transfer_id = $3 order by created_at desc limit 1";
            let row = tx
                .fetch_optional(sql, params![ws, account_id.as_str(), id.as_str()])
                .await?;
            Some(row.map(|r| r.i64("created_at")).transpose()?.unwrap_or(0))
        }
    };
    let (filter, order) = match (&page.cursor, cursor_at) {
        (Cursor::After(_), Some(_)) => (" and e.created_at < $4", "desc"),
        (Cursor::Before(_), Some(_)) => (" and e.created_at > $4", "asc"),
        _ => ("", "desc"),
    };
    let columns: Vec<String> = TRANSFER_COLUMNS
        .split(", ")
        .map(|c| format!("t.{c}"))
        .collect();
    let sql = format!(
        "select {} from ledger_entry e join ledger_transfer t \
         on t.workspace_id = e.workspace_id and t.transfer_id = e.transfer_id \
         where e.workspace_id = $1 and e.account_id = $2{filter} \
         order by e.created_at {order} limit $3",
        columns.join(", ")
    );
    let mut values: Vec<Value> = vec![
        ws.into(),
        account_id.as_str().into(),
        (i64::from(page.limit) + 1).into(),
    ];
    values.extend(cursor_at.map(Value::from));
    let rows = tx.fetch_all(&sql, &values).await?;
    let mut data: Vec<Transfer> = rows.iter().map(transfer_from).collect::<Result<_, _>>()?;
    let has_more = data.len() > limit;
    data.truncate(limit);
    if matches!(page.cursor, Cursor::Before(_)) {
        data.reverse();
    }
    Ok(Page { data, has_more })
}
