//! Treasury rows: expected payments, bank transactions and reconciliation items. Imports write
//! many rows at once: one prepared statement run in place per row on SQLite, one statement over
//! arrays on PostgreSQL.

use std::collections::HashSet;

use bursar_domain::id::{
    BankTransactionId, CustomerId, ExpectedPaymentId, ReconciliationItemId, WorkspaceId,
};
use bursar_domain::money::Currency;
use bursar_domain::time::Timestamp;
use bursar_domain::treasury::matching::{Direction, Rule};
use bursar_domain::treasury::objects::{
    BankTransactionObject, BankTransactionStatus, ExpectedPayment, ExpectedPaymentStatus,
    ReconciliationItem, ReviewReason, ReviewStatus,
};
use jiff::civil::Date;

use crate::ledger::insert_rows;
use crate::sql::{Param, Row};
use crate::{params, Backend, StoreError, Tx, Value};

const EXPECTED_COLUMNS: &[&str] = &[
    "workspace_id",
    "id",
    "status",
    "currency",
    "direction",
    "amount_lower",
    "amount_upper",
    "date_lower",
    "date_upper",
    "counterparty",
    "reference",
    "reference_key",
    "party_id",
    "description",
    "reconciled_amount",
    "event_seq",
    "created_at",
    "updated_at",
];

const TRANSACTION_COLUMNS: &[&str] = &[
    "workspace_id",
    "id",
    "external_id",
    "source",
    "status",
    "currency",
    "direction",
    "amount",
    "value_date",
    "counterparty",
    "reference",
    "expected_payment_id",
    "rule",
    "created_at",
];

const ITEM_COLUMNS: &[&str] = &[
    "workspace_id",
    "id",
    "status",
    "reason",
    "bank_transaction_id",
    "expected_payment_id",
    "candidates",
    "note",
    "snoozed_until",
    "event_seq",
    "created_at",
    "updated_at",
];

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("BUG: stored {what} '{value}'"))
}

fn direction_text(direction: Direction) -> &'static str {
    match direction {
        Direction::Credit => "credit",
        Direction::Debit => "debit",
    }
}

fn direction_from(value: &str) -> Result<Direction, StoreError> {
    match value {
        "credit" => Ok(Direction::Credit),
        "debit" => Ok(Direction::Debit),
        other => Err(corrupt("direction", other)),
    }
}

fn rule_text(rule: Rule) -> &'static str {
    match rule {
        Rule::Reference => "reference",
        Rule::AmountDateCounterparty => "amount_date_counterparty",
        Rule::PartOfSum => "part_of_sum",
    }
}

fn rule_from(value: &str) -> Result<Rule, StoreError> {
    match value {
        "reference" => Ok(Rule::Reference),
        "amount_date_counterparty" => Ok(Rule::AmountDateCounterparty),
        "part_of_sum" => Ok(Rule::PartOfSum),
        other => Err(corrupt("rule", other)),
    }
}

fn date_from(row: &Row, column: &str) -> Result<Date, StoreError> {
    let text = row.text(column)?;
    text.parse().map_err(|_| corrupt("date", &text))
}

fn currency_from(row: &Row) -> Result<Currency, StoreError> {
    let code = row.text("currency")?;
    Currency::parse(&code, "currency").map_err(|_| corrupt("currency", &code))
}

fn expected_from(row: &Row) -> Result<ExpectedPayment, StoreError> {
    let status = row.text("status")?;
    Ok(ExpectedPayment {
        id: ExpectedPaymentId::from_trusted(row.text("id")?),
        object: "expected_payment".into(),
        status: ExpectedPaymentStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        currency: currency_from(row)?,
        direction: direction_from(&row.text("direction")?)?,
        amount_lower: row.i64("amount_lower")?,
        amount_upper: row.i64("amount_upper")?,
        date_lower: date_from(row, "date_lower")?,
        date_upper: date_from(row, "date_upper")?,
        counterparty: row.opt_text("counterparty")?,
        reference: row.opt_text("reference")?,
        party_id: row.opt_text("party_id")?.map(CustomerId::from_trusted),
        description: row.opt_text("description")?,
        reconciled_amount: row.i64("reconciled_amount")?,
        created_at: Timestamp::from_unix_micros(row.i64("created_at")?),
        updated_at: Timestamp::from_unix_micros(row.i64("updated_at")?),
    })
}

/// An expected payment and the sequence of its latest event.
pub type Sequenced<T> = (T, i64);

/// Inserts new expected payments (their first event is sequence 1).
pub async fn insert_expected(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    payments: &[ExpectedPayment],
) -> Result<(), StoreError> {
    let keys: Vec<Option<String>> = payments
        .iter()
        .map(|p| {
            p.reference
                .as_deref()
                .map(bursar_domain::treasury::matching::normalize_reference)
        })
        .collect();
    let dates: Vec<(String, String)> = payments
        .iter()
        .map(|p| (p.date_lower.to_string(), p.date_upper.to_string()))
        .collect();
    let mut params: Vec<Param<'_>> = Vec::with_capacity(payments.len() * EXPECTED_COLUMNS.len());
    for (i, p) in payments.iter().enumerate() {
        params.extend([
            Param::from(workspace_id.as_str()),
            p.id.as_str().into(),
            p.status.as_str().into(),
            p.currency.code().into(),
            direction_text(p.direction).into(),
            p.amount_lower.into(),
            p.amount_upper.into(),
            dates[i].0.as_str().into(),
            dates[i].1.as_str().into(),
            p.counterparty.as_deref().into(),
            p.reference.as_deref().into(),
            keys[i].as_deref().into(),
            p.party_id.as_ref().map(|c| c.as_str()).into(),
            p.description.as_deref().into(),
            p.reconciled_amount.into(),
            1_i64.into(),
            p.created_at.unix_micros().into(),
            p.updated_at.unix_micros().into(),
        ]);
    }
    insert_rows(tx, "expected_payment", EXPECTED_COLUMNS, &params).await
}

fn expected_select() -> String {
    format!(
        "select {} from expected_payment",
        EXPECTED_COLUMNS[1..].join(", ")
    )
}

fn sequenced_expected(row: &Row) -> Result<Sequenced<ExpectedPayment>, StoreError> {
    Ok((expected_from(row)?, row.i64("event_seq")?))
}

/// The open expected payments whose normalised reference (`reference_key`) is one of `keys`,
/// by id: those a statement quoting these references can match by reference.
pub async fn open_expected_by_references(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    keys: &[String],
) -> Result<Vec<Sequenced<ExpectedPayment>>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let select = expected_select();
    let mut rows = if tx.backend() == Backend::Postgres {
        let list = Value::TextList(keys.iter().map(|k| Some(k.clone())).collect());
        let sql = format!(
            "{select} where workspace_id = $1 and reference_key = any($2) \
             and status <> 'reconciled'"
        );
        tx.fetch_all(&sql, &[workspace_id.as_str().into(), list])
            .await?
    } else {
        let params: Vec<Param<'_>> = keys
            .iter()
            .flat_map(|k| [Param::from(workspace_id.as_str()), Param::from(k.as_str())])
            .collect();
        let sql = format!(
            "{select} where workspace_id = $1 and reference_key = $2 and status <> 'reconciled'"
        );
        tx.fetch_each(&sql, 2, &params).await?
    }
    .iter()
    .map(sequenced_expected)
    .collect::<Result<Vec<_>, _>>()?;
    rows.sort_by(|a, b| a.0.id.as_str().cmp(b.0.id.as_str()));
    Ok(rows)
}

/// The open expected payments of the counterparties `parties` (every currency and direction),
/// by id: those a statement from these counterparties can match by amount and date.
pub async fn open_expected_by_counterparties(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    parties: &[String],
) -> Result<Vec<Sequenced<ExpectedPayment>>, StoreError> {
    if parties.is_empty() {
        return Ok(Vec::new());
    }
    let select = expected_select();
    let list = if tx.backend() == Backend::Postgres {
        Value::TextList(parties.iter().map(|p| Some(p.clone())).collect())
    } else {
        // One pass over the open expectations, the names looked up in SQLite's own set.
        serde_json::to_string(parties)
            .map_err(|e| StoreError::Corrupt(format!("BUG: counterparties as JSON: {e}")))?
            .into()
    };
    let among = if tx.backend() == Backend::Postgres {
        "= any($2)"
    } else {
        "in (select value from json_each($2))"
    };
    let sql = format!(
        "{select} where workspace_id = $1 and status <> 'reconciled' and counterparty {among} \
         order by id"
    );
    let rows = tx
        .fetch_all(&sql, &[workspace_id.as_str().into(), list])
        .await?;
    rows.iter().map(sequenced_expected).collect()
}

/// Page cache of the SQLite writer while a large import runs (KiB): its random index
/// inserts (external ids, expected payments' events) fit, instead of spilling to the WAL and
/// being read back. Nothing on PostgreSQL.
const IMPORT_PAGE_CACHE_KIB: i64 = 262_144;
/// The writer's usual page cache (KiB), as every connection opens with.
const USUAL_PAGE_CACHE_KIB: i64 = 16_384;

/// Gives the SQLite writer the large import page cache (`large`), or its usual one back.
pub async fn import_page_cache(tx: &mut Tx, large: bool) -> Result<(), StoreError> {
    if tx.backend() == Backend::Sqlite {
        let kib = if large {
            IMPORT_PAGE_CACHE_KIB
        } else {
            USUAL_PAGE_CACHE_KIB
        };
        tx.execute_batch(&format!("pragma cache_size = -{kib}"))
            .await?;
    }
    Ok(())
}

/// One expected payment, locked for update on PostgreSQL when `lock`.
pub async fn get_expected(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    id: &str,
    lock: bool,
) -> Result<Option<Sequenced<ExpectedPayment>>, StoreError> {
    let lock = tx.for_update(lock);
    let sql = format!(
        "{} where workspace_id = $1 and id = $2{lock}",
        expected_select()
    );
    let row = tx
        .fetch_optional(&sql, params![workspace_id.as_str(), id])
        .await?;
    row.as_ref().map(sequenced_expected).transpose()
}

/// Expected payments newest first, after the cursor `after` (an id), `status` when given.
pub async fn list_expected(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    status: Option<ExpectedPaymentStatus>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<ExpectedPayment>, StoreError> {
    let status = status.map(|s| s.as_str());
    let rows = page(tx, &expected_select(), workspace_id, status, after, limit).await?;
    rows.iter().map(expected_from).collect()
}

/// Rows of `select` (a `select … from` one table) of the workspace, newest first, after the
/// cursor `after` (an id), of `status` when given.
async fn page(
    tx: &mut Tx,
    select: &str,
    workspace_id: &WorkspaceId,
    status: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Row>, StoreError> {
    let sql = format!(
        "{select} where workspace_id = $1 and ($2 is null or status = $2) \
         and ($3 is null or id < $3) order by id desc limit $4"
    );
    tx.fetch_all(&sql, params![workspace_id.as_str(), status, after, limit])
        .await
}

/// Expected payments past their window (`date_upper` before `today`) and not reconciled nor yet
/// marked overdue, of every workspace, at most `limit`.
pub async fn newly_overdue(
    tx: &mut Tx,
    workspace_id: Option<&WorkspaceId>,
    today: Date,
    limit: i64,
) -> Result<Vec<(WorkspaceId, Sequenced<ExpectedPayment>)>, StoreError> {
    let sql = format!(
        "select workspace_id, {} from expected_payment \
         where status in ('unreconciled', 'partially_reconciled') and date_upper < $1 \
         and ($3 is null or workspace_id = $3) limit $2",
        EXPECTED_COLUMNS[1..].join(", ")
    );
    let workspace = workspace_id.map(|w| w.as_str().to_owned());
    let rows = tx
        .fetch_all(&sql, params![today.to_string(), limit, workspace])
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                WorkspaceId::from_trusted(r.text("workspace_id")?),
                sequenced_expected(r)?,
            ))
        })
        .collect()
}

/// What changed on an expected payment: its status, the amount arrived, its event sequence.
#[derive(Debug, Clone)]
pub struct ExpectedUpdate<'a> {
    pub id: &'a str,
    pub status: ExpectedPaymentStatus,
    pub reconciled_amount: i64,
    pub event_seq: i64,
}

/// Writes the new state of expected payments.
pub async fn update_expected(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    updates: &[ExpectedUpdate<'_>],
    now: Timestamp,
) -> Result<(), StoreError> {
    if updates.is_empty() {
        return Ok(());
    }
    if tx.backend() == Backend::Postgres {
        let texts = |f: &dyn Fn(&ExpectedUpdate) -> String| {
            Value::TextList(updates.iter().map(|u| Some(f(u))).collect())
        };
        let ints = |f: &dyn Fn(&ExpectedUpdate) -> i64| {
            Value::IntList(updates.iter().map(|u| Some(f(u))).collect())
        };
        tx.execute(
            "update expected_payment set status = v.status, reconciled_amount = v.amount, \
             event_seq = v.seq, updated_at = $2 \
             from unnest($3::text[], $4::text[], $5::int8[], $6::int8[]) as v(id, status, amount, seq) \
             where expected_payment.workspace_id = $1 and expected_payment.id = v.id",
            &[
                workspace_id.as_str().into(),
                now.unix_micros().into(),
                texts(&|u| u.id.to_owned()),
                texts(&|u| u.status.as_str().to_owned()),
                ints(&|u| u.reconciled_amount),
                ints(&|u| u.event_seq),
            ],
        )
        .await?;
        return Ok(());
    }
    let params: Vec<Param<'_>> = updates
        .iter()
        .flat_map(|u| {
            [
                Param::from(u.status.as_str()),
                u.reconciled_amount.into(),
                u.event_seq.into(),
                now.unix_micros().into(),
                workspace_id.as_str().into(),
                u.id.into(),
            ]
        })
        .collect();
    tx.execute_each(
        "update expected_payment set status = $1, reconciled_amount = $2, event_seq = $3, \
         updated_at = $4 where workspace_id = $5 and id = $6",
        6,
        &params,
    )
    .await?;
    Ok(())
}

/// Of `external_ids`, those the workspace already recorded.
pub async fn known_external_ids(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    external_ids: &[&str],
) -> Result<HashSet<String>, StoreError> {
    if external_ids.is_empty() {
        return Ok(HashSet::new());
    }
    let rows = if tx.backend() == Backend::Postgres {
        let list = Value::TextList(
            external_ids
                .iter()
                .map(|id| Some((*id).to_owned()))
                .collect(),
        );
        tx.fetch_all(
            "select external_id from bank_transaction where workspace_id = $1 \
             and external_id = any($2)",
            &[workspace_id.as_str().into(), list],
        )
        .await?
    } else {
        let params: Vec<Param<'_>> = external_ids
            .iter()
            .flat_map(|id| [Param::from(workspace_id.as_str()), Param::from(*id)])
            .collect();
        tx.fetch_each(
            "select external_id from bank_transaction where workspace_id = $1 and external_id = $2",
            2,
            &params,
        )
        .await?
    };
    rows.iter().map(|r| r.text("external_id")).collect()
}

/// Inserts bank transactions; their external ids must be new to the workspace.
pub async fn insert_transactions(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    transactions: &[BankTransactionObject],
) -> Result<(), StoreError> {
    let dates: Vec<String> = transactions
        .iter()
        .map(|t| t.value_date.to_string())
        .collect();
    let mut params: Vec<Param<'_>> =
        Vec::with_capacity(transactions.len() * TRANSACTION_COLUMNS.len());
    for (i, t) in transactions.iter().enumerate() {
        params.extend([
            Param::from(workspace_id.as_str()),
            t.id.as_str().into(),
            t.external_id.as_str().into(),
            t.source.as_str().into(),
            t.status.as_str().into(),
            t.currency.code().into(),
            direction_text(t.direction).into(),
            t.amount.into(),
            dates[i].as_str().into(),
            t.counterparty.as_deref().into(),
            t.reference.as_deref().into(),
            t.expected_payment_id.as_ref().map(|e| e.as_str()).into(),
            t.rule.map(rule_text).into(),
            t.created_at.unix_micros().into(),
        ]);
    }
    insert_rows(tx, "bank_transaction", TRANSACTION_COLUMNS, &params).await
}

fn transaction_from(row: &Row) -> Result<BankTransactionObject, StoreError> {
    let status = row.text("status")?;
    Ok(BankTransactionObject {
        id: BankTransactionId::from_trusted(row.text("id")?),
        object: "bank_transaction".into(),
        source: row.text("source")?,
        external_id: row.text("external_id")?,
        status: BankTransactionStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        currency: currency_from(row)?,
        direction: direction_from(&row.text("direction")?)?,
        amount: row.i64("amount")?,
        value_date: date_from(row, "value_date")?,
        counterparty: row.opt_text("counterparty")?,
        reference: row.opt_text("reference")?,
        expected_payment_id: row
            .opt_text("expected_payment_id")?
            .map(ExpectedPaymentId::from_trusted),
        rule: row
            .opt_text("rule")?
            .as_deref()
            .map(rule_from)
            .transpose()?,
        created_at: Timestamp::from_unix_micros(row.i64("created_at")?),
    })
}

/// One bank transaction.
pub async fn get_transaction(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    id: &str,
) -> Result<Option<BankTransactionObject>, StoreError> {
    let sql = format!(
        "select {} from bank_transaction where workspace_id = $1 and id = $2",
        TRANSACTION_COLUMNS[1..].join(", ")
    );
    let row = tx
        .fetch_optional(&sql, params![workspace_id.as_str(), id])
        .await?;
    row.as_ref().map(transaction_from).transpose()
}

/// Bank transactions newest first, after the cursor `after`, `status` when given.
pub async fn list_transactions(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    status: Option<BankTransactionStatus>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<BankTransactionObject>, StoreError> {
    let select = format!(
        "select {} from bank_transaction",
        TRANSACTION_COLUMNS[1..].join(", ")
    );
    let status = status.map(|s| s.as_str());
    let rows = page(tx, &select, workspace_id, status, after, limit).await?;
    rows.iter().map(transaction_from).collect()
}

/// Records a person's decision on a transaction in review.
pub async fn settle_transaction(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    id: &str,
    status: BankTransactionStatus,
    expected_payment_id: Option<&str>,
) -> Result<(), StoreError> {
    tx.execute(
        "update bank_transaction set status = $3, expected_payment_id = $4 \
         where workspace_id = $1 and id = $2",
        params![
            workspace_id.as_str(),
            id,
            status.as_str(),
            expected_payment_id
        ],
    )
    .await?;
    Ok(())
}

/// Whether an item of `reason` naming exactly `candidates` is still open (not resolved or
/// accepted).
pub async fn open_item_exists(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    reason: ReviewReason,
    candidates: &[String],
) -> Result<bool, StoreError> {
    let candidates = serde_json::to_string(candidates).unwrap_or_else(|_| "[]".into());
    let row = tx
        .fetch_optional(
            "select id from reconciliation_item where workspace_id = $1 and reason = $2 \
             and candidates = $3 and status not in ('resolved', 'accepted') limit 1",
            params![workspace_id.as_str(), reason.as_str(), candidates.as_str()],
        )
        .await?;
    Ok(row.is_some())
}

/// Inserts new reconciliation items (their first event is sequence 1).
pub async fn insert_items(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    items: &[ReconciliationItem],
) -> Result<(), StoreError> {
    let candidates: Vec<String> = items
        .iter()
        .map(|i| serde_json::to_string(&i.candidates).unwrap_or_else(|_| "[]".into()))
        .collect();
    let snoozed: Vec<Option<String>> = items
        .iter()
        .map(|i| i.snoozed_until.map(|d| d.to_string()))
        .collect();
    let mut params: Vec<Param<'_>> = Vec::with_capacity(items.len() * ITEM_COLUMNS.len());
    for (n, i) in items.iter().enumerate() {
        params.extend([
            Param::from(workspace_id.as_str()),
            i.id.as_str().into(),
            i.status.as_str().into(),
            i.reason.as_str().into(),
            i.bank_transaction_id.as_ref().map(|b| b.as_str()).into(),
            i.expected_payment_id.as_ref().map(|e| e.as_str()).into(),
            candidates[n].as_str().into(),
            i.note.as_deref().into(),
            snoozed[n].as_deref().into(),
            1_i64.into(),
            i.created_at.unix_micros().into(),
            i.updated_at.unix_micros().into(),
        ]);
    }
    insert_rows(tx, "reconciliation_item", ITEM_COLUMNS, &params).await
}

fn item_from(row: &Row) -> Result<Sequenced<ReconciliationItem>, StoreError> {
    let status = row.text("status")?;
    let reason = row.text("reason")?;
    let reasons = [
        ReviewReason::Unmatched,
        ReviewReason::Ambiguous,
        ReviewReason::OutOfWindow,
        ReviewReason::Overpays,
        ReviewReason::Overdue,
        ReviewReason::PayoutReturned,
        ReviewReason::PayInReturned,
        ReviewReason::BalanceDrift,
    ];
    let candidates = row.text("candidates")?;
    let item = ReconciliationItem {
        id: ReconciliationItemId::from_trusted(row.text("id")?),
        object: "reconciliation_item".into(),
        status: ReviewStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        reason: reasons
            .into_iter()
            .find(|r| r.as_str() == reason)
            .ok_or_else(|| corrupt("reason", &reason))?,
        bank_transaction_id: row
            .opt_text("bank_transaction_id")?
            .map(BankTransactionId::from_trusted),
        expected_payment_id: row
            .opt_text("expected_payment_id")?
            .map(ExpectedPaymentId::from_trusted),
        candidates: serde_json::from_str(&candidates)
            .map_err(|_| corrupt("candidates", &candidates))?,
        note: row.opt_text("note")?,
        snoozed_until: match row.opt_text("snoozed_until")? {
            Some(d) => Some(d.parse().map_err(|_| corrupt("date", &d))?),
            None => None,
        },
        created_at: Timestamp::from_unix_micros(row.i64("created_at")?),
        updated_at: Timestamp::from_unix_micros(row.i64("updated_at")?),
    };
    Ok((item, row.i64("event_seq")?))
}

fn item_select() -> String {
    format!(
        "select {} from reconciliation_item",
        ITEM_COLUMNS[1..].join(", ")
    )
}

/// One reconciliation item, locked for update on PostgreSQL when `lock`.
pub async fn get_item(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    id: &str,
    lock: bool,
) -> Result<Option<Sequenced<ReconciliationItem>>, StoreError> {
    let lock = tx.for_update(lock);
    let sql = format!(
        "{} where workspace_id = $1 and id = $2{lock}",
        item_select()
    );
    let row = tx
        .fetch_optional(&sql, params![workspace_id.as_str(), id])
        .await?;
    row.as_ref().map(item_from).transpose()
}

/// The overdue item of expected payment `expected_payment_id`, if it has one.
pub async fn overdue_item(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    expected_payment_id: &str,
) -> Result<Option<Sequenced<ReconciliationItem>>, StoreError> {
    let sql = format!(
        "{} where workspace_id = $1 and expected_payment_id = $2 and reason = 'overdue'",
        item_select()
    );
    let row = tx
        .fetch_optional(&sql, params![workspace_id.as_str(), expected_payment_id])
        .await?;
    row.as_ref().map(item_from).transpose()
}

/// Reconciliation items newest first, after the cursor `after`, `status` when given.
pub async fn list_items(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    status: Option<ReviewStatus>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<ReconciliationItem>, StoreError> {
    let status = status.map(|s| s.as_str());
    let rows = page(tx, &item_select(), workspace_id, status, after, limit).await?;
    rows.iter().map(|r| item_from(r).map(|(i, _)| i)).collect()
}

/// Snoozed items whose date has come, of every workspace, at most `limit`.
pub async fn items_waking(
    tx: &mut Tx,
    workspace_id: Option<&WorkspaceId>,
    today: Date,
    limit: i64,
) -> Result<Vec<(WorkspaceId, Sequenced<ReconciliationItem>)>, StoreError> {
    let sql = format!(
        "select workspace_id, {} from reconciliation_item \
         where status = 'snoozed' and snoozed_until <= $1 and ($3 is null or workspace_id = $3) \
         limit $2",
        ITEM_COLUMNS[1..].join(", ")
    );
    let workspace = workspace_id.map(|w| w.as_str().to_owned());
    let rows = tx
        .fetch_all(&sql, params![today.to_string(), limit, workspace])
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                WorkspaceId::from_trusted(r.text("workspace_id")?),
                item_from(r)?,
            ))
        })
        .collect()
}

/// Writes an item's new state and the sequence of its latest event.
pub async fn update_item(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    item: &ReconciliationItem,
    event_seq: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "update reconciliation_item set status = $3, expected_payment_id = $4, note = $5, \
         snoozed_until = $6, event_seq = $7, updated_at = $8 where workspace_id = $1 and id = $2",
        params![
            workspace_id.as_str(),
            item.id.as_str(),
            item.status.as_str(),
            item.expected_payment_id
                .as_ref()
                .map(|e| e.as_str().to_owned()),
            item.note.clone(),
            item.snoozed_until.map(|d| d.to_string()),
            event_seq,
            item.updated_at.unix_micros(),
        ],
    )
    .await?;
    Ok(())
}
