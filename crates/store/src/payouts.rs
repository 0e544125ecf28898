//! Payout rows: parties' bank accounts (numbers sealed by the caller), payouts and payout
//! schedules.

use std::collections::BTreeMap;

use bursar_domain::id::{BankAccountId, CustomerId, PayoutId, WorkspaceId};
use bursar_domain::money::Currency;
use bursar_domain::time::Timestamp;
use bursar_domain::treasury::payout_objects::{
    BankAccountObject, BankAccountStatus, PayoutObject, PayoutOrigin, PayoutScheduleObject,
};
use bursar_domain::treasury::payouts::PayoutStatus;

use crate::sql::Row;
use crate::{params, StoreError, Tx};

/// Most due payouts or schedules one background pass takes.
pub const DUE_PER_PASS_MAX: i64 = 500;

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("BUG: stored {what} '{value}'"))
}

fn at(micros: i64) -> Timestamp {
    Timestamp::from_unix_micros(micros)
}

/// A bank account's numbers as stored: sealed.
#[derive(Clone)]
pub struct SealedNumbers {
    pub routing_number: String,
    pub account_number: String,
}

impl std::fmt::Debug for SealedNumbers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedNumbers(…)")
    }
}

const ACCOUNT_COLUMNS: &str = "id, party_id, status, disabled_reason, routing_number_sealed, \
     account_number_sealed, routing_number_masked, account_number_masked, account_type, \
     holder_name, counterparty_id, external_account_id, created_at, updated_at";

fn account_from(row: &Row) -> Result<(BankAccountObject, SealedNumbers), StoreError> {
    let status = row.text("status")?;
    let account = BankAccountObject {
        id: BankAccountId::from_trusted(row.text("id")?),
        object: "bank_account".into(),
        party_id: CustomerId::from_trusted(row.text("party_id")?),
        status: BankAccountStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        disabled_reason: row.opt_text("disabled_reason")?,
        routing_number: row.text("routing_number_masked")?,
        account_number: row.text("account_number_masked")?,
        account_type: row.text("account_type")?,
        holder_name: row.text("holder_name")?,
        counterparty_id: row.opt_text("counterparty_id")?,
        external_account_id: row.opt_text("external_account_id")?,
        created_at: at(row.i64("created_at")?),
        updated_at: at(row.i64("updated_at")?),
    };
    let sealed = SealedNumbers {
        routing_number: row.text("routing_number_sealed")?,
        account_number: row.text("account_number_sealed")?,
    };
    Ok((account, sealed))
}

/// Inserts a new bank account.
pub async fn insert_bank_account(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    account: &BankAccountObject,
    sealed: &SealedNumbers,
) -> Result<(), StoreError> {
    let sql = format!(
        "insert into party_bank_account (workspace_id, {ACCOUNT_COLUMNS}) values \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    );
    tx.execute(
        &sql,
        params![
            workspace_id.as_str(),
            account.id.as_str(),
            account.party_id.as_str(),
            account.status.as_str(),
            account.disabled_reason.as_deref(),
            sealed.routing_number.as_str(),
            sealed.account_number.as_str(),
            account.routing_number.as_str(),
            account.account_number.as_str(),
            account.account_type.as_str(),
            account.holder_name.as_str(),
            account.counterparty_id.as_deref(),
            account.external_account_id.as_deref(),
            account.created_at.unix_micros(),
            account.updated_at.unix_micros(),
        ],
    )
    .await?;
    Ok(())
}

/// One bank account with its sealed numbers.
pub async fn get_bank_account(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    id: &str,
) -> Result<Option<(BankAccountObject, SealedNumbers)>, StoreError> {
    let sql = format!(
        "select {ACCOUNT_COLUMNS} from party_bank_account where workspace_id = $1 and id = $2"
    );
    let row = tx
        .fetch_optional(&sql, params![workspace_id.as_str(), id])
        .await?;
    row.as_ref().map(account_from).transpose()
}

/// A party's bank accounts, oldest first.
pub async fn list_bank_accounts(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    party: &CustomerId,
) -> Result<Vec<BankAccountObject>, StoreError> {
    let sql = format!(
        "select {ACCOUNT_COLUMNS} from party_bank_account where workspace_id = $1 \
         and party_id = $2 order by id"
    );
    let rows = tx
        .fetch_all(&sql, params![workspace_id.as_str(), party.as_str()])
        .await?;
    rows.iter()
        .map(|r| account_from(r).map(|(a, _)| a))
        .collect()
}

/// The party's newest active bank account, where payouts go.
pub async fn active_bank_account(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    party: &CustomerId,
) -> Result<Option<BankAccountObject>, StoreError> {
    let accounts = list_bank_accounts(tx, workspace_id, party).await?;
    Ok(accounts
        .into_iter()
        .rev()
        .find(|a| a.status == BankAccountStatus::Active))
}

/// Saves a bank account's status, reason and bank ids.
pub async fn update_bank_account(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    account: &BankAccountObject,
) -> Result<(), StoreError> {
    tx.execute(
        "update party_bank_account set status = $1, disabled_reason = $2, counterparty_id = $3, \
         external_account_id = $4, updated_at = $5 where workspace_id = $6 and id = $7",
        params![
            account.status.as_str(),
            account.disabled_reason.as_deref(),
            account.counterparty_id.as_deref(),
            account.external_account_id.as_deref(),
            account.updated_at.unix_micros(),
            workspace_id.as_str(),
            account.id.as_str(),
        ],
    )
    .await?;
    Ok(())
}

const PAYOUT_COLUMNS: &str = "id, party_id, bank_account_id, status, amount, currency, origin, \
     attempts, transfer_id, payment_order_id, failure_code, failure_message, return_code, \
     next_attempt_at, created_at, updated_at";

fn payout_from(row: &Row) -> Result<PayoutObject, StoreError> {
    let status = row.text("status")?;
    let origin = row.text("origin")?;
    let code = row.text("currency")?;
    Ok(PayoutObject {
        id: PayoutId::from_trusted(row.text("id")?),
        object: "payout".into(),
        party_id: CustomerId::from_trusted(row.text("party_id")?),
        bank_account_id: BankAccountId::from_trusted(row.text("bank_account_id")?),
        status: PayoutStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        amount: row.i64("amount")?,
        currency: Currency::parse(&code, "currency").map_err(|_| corrupt("currency", &code))?,
        origin: PayoutOrigin::parse(&origin).ok_or_else(|| corrupt("origin", &origin))?,
        attempts: row.i64("attempts")?,
        transfer_id: row.text("transfer_id")?,
        payment_order_id: row.opt_text("payment_order_id")?,
        failure_code: row.opt_text("failure_code")?,
        failure_message: row.opt_text("failure_message")?,
        return_code: row.opt_text("return_code")?,
        next_attempt_at: row.opt_i64("next_attempt_at")?.map(at),
        created_at: at(row.i64("created_at")?),
        updated_at: at(row.i64("updated_at")?),
    })
}

/// Inserts a new payout.
pub async fn insert_payout(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    payout: &PayoutObject,
) -> Result<(), StoreError> {
    let sql = format!(
        "insert into payout (workspace_id, {PAYOUT_COLUMNS}) values ($1, $2, $3, $4, $5, $6, \
         $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    );
    tx.execute(
        &sql,
        params![
            workspace_id.as_str(),
            payout.id.as_str(),
            payout.party_id.as_str(),
            payout.bank_account_id.as_str(),
            payout.status.as_str(),
            payout.amount,
            payout.currency.code(),
            payout.origin.as_str(),
            payout.attempts,
            payout.transfer_id.as_str(),
            payout.payment_order_id.as_deref(),
            payout.failure_code.as_deref(),
            payout.failure_message.as_deref(),
            payout.return_code.as_deref(),
            payout.next_attempt_at.map(Timestamp::unix_micros),
            payout.created_at.unix_micros(),
            payout.updated_at.unix_micros(),
        ],
    )
    .await?;
    Ok(())
}

/// Saves what changes on a payout: status, attempt, bank ids, failure, return, next attempt.
pub async fn update_payout(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    payout: &PayoutObject,
) -> Result<(), StoreError> {
    tx.execute(
        "update payout set status = $1, attempts = $2, transfer_id = $3, payment_order_id = $4, \
         failure_code = $5, failure_message = $6, return_code = $7, next_attempt_at = $8, \
         updated_at = $9 where workspace_id = $10 and id = $11",
        params![
            payout.status.as_str(),
            payout.attempts,
            payout.transfer_id.as_str(),
            payout.payment_order_id.as_deref(),
            payout.failure_code.as_deref(),
            payout.failure_message.as_deref(),
            payout.return_code.as_deref(),
            payout.next_attempt_at.map(Timestamp::unix_micros),
            payout.updated_at.unix_micros(),
            workspace_id.as_str(),
            payout.id.as_str(),
        ],
    )
    .await?;
    Ok(())
}

/// One payout, locked for update on PostgreSQL when `lock`.
pub async fn get_payout(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    id: &str,
    lock: bool,
) -> Result<Option<PayoutObject>, StoreError> {
    let sql = format!(
        "select {PAYOUT_COLUMNS} from payout where workspace_id = $1 and id = $2{}",
        tx.for_update(lock)
    );
    let row = tx
        .fetch_optional(&sql, params![workspace_id.as_str(), id])
        .await?;
    row.as_ref().map(payout_from).transpose()
}

/// The payout whose current attempt is the bank's payment order `order_id`, locked.
pub async fn payout_by_order(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    order_id: &str,
) -> Result<Option<PayoutObject>, StoreError> {
    let sql = format!(
        "select {PAYOUT_COLUMNS} from payout where workspace_id = $1 and payment_order_id = $2{}",
        tx.for_update(true)
    );
    let row = tx
        .fetch_optional(&sql, params![workspace_id.as_str(), order_id])
        .await?;
    row.as_ref().map(payout_from).transpose()
}

/// Payouts newest first (of one party when given), after the cursor `after` (an id).
pub async fn list_payouts(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    party: Option<&CustomerId>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<PayoutObject>, StoreError> {
    let sql = format!(
        "select {PAYOUT_COLUMNS} from payout where workspace_id = $1 \
         and ($2 = '' or party_id = $2) and ($3 = '' or id < $3) order by id desc limit $4"
    );
    let party = party.map_or("", CustomerId::as_str);
    let rows = tx
        .fetch_all(
            &sql,
            params![workspace_id.as_str(), party, after.unwrap_or(""), limit],
        )
        .await?;
    rows.iter().map(payout_from).collect()
}

/// Payouts (pending or failed) whose next attempt is due by `now`, of every workspace.
pub async fn due_payouts(
    tx: &mut Tx,
    now: Timestamp,
) -> Result<Vec<(WorkspaceId, PayoutId)>, StoreError> {
    let rows = tx
        .fetch_all(
            "select workspace_id, id from payout where next_attempt_at <= $1 \
             order by next_attempt_at limit $2",
            params![now.unix_micros(), DUE_PER_PASS_MAX],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                WorkspaceId::from_trusted(r.text("workspace_id")?),
                PayoutId::from_trusted(r.text("id")?),
            ))
        })
        .collect()
}

const SCHEDULE_COLUMNS: &str = "party_id, payout_interval, weekday, day_of_month, delay_days, \
     minimum_amounts, next_run_at, updated_at";

fn schedule_from(row: &Row) -> Result<PayoutScheduleObject, StoreError> {
    let minimums = row.text("minimum_amounts")?;
    Ok(PayoutScheduleObject {
        object: "payout_schedule".into(),
        party_id: CustomerId::from_trusted(row.text("party_id")?),
        interval: row.text("payout_interval")?,
        weekday: row.opt_text("weekday")?,
        day_of_month: row.opt_i64("day_of_month")?,
        delay_days: row.i64("delay_days")?,
        minimum_amounts: serde_json::from_str::<BTreeMap<String, i64>>(&minimums)
            .map_err(|_| corrupt("minimum_amounts", &minimums))?,
        next_run_at: row.opt_i64("next_run_at")?.map(at),
        updated_at: Some(at(row.i64("updated_at")?)),
    })
}

/// Creates or replaces a party's payout schedule.
pub async fn save_schedule(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    schedule: &PayoutScheduleObject,
) -> Result<(), StoreError> {
    let minimums = serde_json::to_string(&schedule.minimum_amounts)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.execute(
        "delete from payout_schedule where workspace_id = $1 and party_id = $2",
        params![workspace_id.as_str(), schedule.party_id.as_str()],
    )
    .await?;
    let sql = format!(
        "insert into payout_schedule (workspace_id, {SCHEDULE_COLUMNS}) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    );
    tx.execute(
        &sql,
        params![
            workspace_id.as_str(),
            schedule.party_id.as_str(),
            schedule.interval.as_str(),
            schedule.weekday.as_deref(),
            schedule.day_of_month,
            schedule.delay_days,
            minimums.as_str(),
            schedule.next_run_at.map(Timestamp::unix_micros),
            schedule.updated_at.map_or(0, Timestamp::unix_micros),
        ],
    )
    .await?;
    Ok(())
}

/// A party's payout schedule, if it has one.
pub async fn get_schedule(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    party: &CustomerId,
) -> Result<Option<PayoutScheduleObject>, StoreError> {
    let sql = format!(
        "select {SCHEDULE_COLUMNS} from payout_schedule where workspace_id = $1 and party_id = $2"
    );
    let row = tx
        .fetch_optional(&sql, params![workspace_id.as_str(), party.as_str()])
        .await?;
    row.as_ref().map(schedule_from).transpose()
}

/// Schedules whose next run is due by `now`, of every workspace.
pub async fn due_schedules(
    tx: &mut Tx,
    now: Timestamp,
) -> Result<Vec<(WorkspaceId, PayoutScheduleObject)>, StoreError> {
    let sql = format!(
        "select workspace_id, {SCHEDULE_COLUMNS} from payout_schedule where next_run_at <= $1 \
         order by next_run_at limit $2"
    );
    let rows = tx
        .fetch_all(&sql, params![now.unix_micros(), DUE_PER_PASS_MAX])
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                WorkspaceId::from_trusted(r.text("workspace_id")?),
                schedule_from(r)?,
            ))
        })
        .collect()
}
