//! Pay-ins (originated ACH debits) and the mandates that authorize them.

use bursar_domain::id::{BankAccountId, CustomerId, PayInId, WorkspaceId};
use bursar_domain::money::Currency;
use bursar_domain::time::Timestamp;
use bursar_domain::treasury::pay_ins::{MandateObject, PayInObject, PayInStatus};

use crate::{params, Row, StoreError, Tx};

const COLUMNS: &str = "id, party_id, bank_account_id, status, amount, currency, transfer_id, \
     payment_order_id, failure_code, failure_message, return_code, returned, created_at, updated_at";

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("BUG: stored pay-in {what}"))
}

fn pay_in_from(row: &Row) -> Result<PayInObject, StoreError> {
    let status = row.text("status")?;
    let currency = row.text("currency")?;
    Ok(PayInObject {
        id: PayInId::from_trusted(row.text("id")?),
        object: "pay_in".into(),
        party_id: CustomerId::from_trusted(row.text("party_id")?),
        bank_account_id: BankAccountId::from_trusted(row.text("bank_account_id")?),
        status: PayInStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        amount: row.i64("amount")?,
        currency: Currency::parse(&currency, "currency").map_err(|_| corrupt("currency"))?,
        transfer_id: row.text("transfer_id")?,
        payment_order_id: row.opt_text("payment_order_id")?,
        failure_code: row.opt_text("failure_code")?,
        failure_message: row.opt_text("failure_message")?,
        return_code: row.opt_text("return_code")?,
        returned: match row.opt_text("returned")? {
            Some(json) => Some(serde_json::from_str(&json).map_err(|_| corrupt("return"))?),
            None => None,
        },
        created_at: Timestamp::from_unix_micros(row.i64("created_at")?),
        updated_at: Timestamp::from_unix_micros(row.i64("updated_at")?),
    })
}

pub async fn insert(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    p: &PayInObject,
) -> Result<(), StoreError> {
    tx.execute(
        &format!(
            "insert into pay_in (workspace_id, {COLUMNS}) values \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        ),
        params![
            workspace_id.as_str(),
            p.id.as_str(),
            p.party_id.as_str(),
            p.bank_account_id.as_str(),
            p.status.as_str(),
            p.amount,
            p.currency.code(),
            p.transfer_id.as_str(),
            p.payment_order_id.clone(),
            p.failure_code.clone(),
            p.failure_message.clone(),
            p.return_code.clone(),
            p.returned
                .map(|r| serde_json::to_string(&r).unwrap_or_default()),
            p.created_at.unix_micros(),
            p.updated_at.unix_micros(),
        ],
    )
    .await?;
    Ok(())
}

pub async fn update(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    p: &PayInObject,
) -> Result<(), StoreError> {
    tx.execute(
        "update pay_in set status = $3, payment_order_id = $4, failure_code = $5, \
         failure_message = $6, return_code = $7, returned = $8, updated_at = $9 \
         where workspace_id = $1 and id = $2",
        params![
            workspace_id.as_str(),
            p.id.as_str(),
            p.status.as_str(),
            p.payment_order_id.clone(),
            p.failure_code.clone(),
            p.failure_message.clone(),
            p.return_code.clone(),
            p.returned
                .map(|r| serde_json::to_string(&r).unwrap_or_default()),
            p.updated_at.unix_micros(),
        ],
    )
    .await?;
    Ok(())
}

/// One pay-in, locked for update on PostgreSQL when `lock`.
pub async fn get(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    id: &str,
    lock: bool,
) -> Result<Option<PayInObject>, StoreError> {
    let lock = tx.for_update(lock);
    let sql = format!("select {COLUMNS} from pay_in where workspace_id = $1 and id = $2{lock}");
    tx.fetch_optional(&sql, params![workspace_id.as_str(), id])
        .await?
        .as_ref()
        .map(pay_in_from)
        .transpose()
}

/// The pay-in a payment order belongs to, locked for update on PostgreSQL.
pub async fn by_order(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    order_id: &str,
) -> Result<Option<PayInObject>, StoreError> {
    let lock = tx.for_update(true);
    let sql = format!(
        "select {COLUMNS} from pay_in where workspace_id = $1 and payment_order_id = $2{lock}"
    );
    tx.fetch_optional(&sql, params![workspace_id.as_str(), order_id])
        .await?
        .as_ref()
        .map(pay_in_from)
        .transpose()
}

/// A party's pay-ins, newest first.
pub async fn of_party(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    party: &CustomerId,
) -> Result<Vec<PayInObject>, StoreError> {
    let sql = format!("select {COLUMNS} from pay_in where workspace_id = $1 and party_id = $2 order by id desc limit 100");
    tx.fetch_all(&sql, params![workspace_id.as_str(), party.as_str()])
        .await?
        .iter()
        .map(pay_in_from)
        .collect()
}

fn mandate_from(row: &Row) -> Result<MandateObject, StoreError> {
    Ok(MandateObject {
        object: "ach_mandate".into(),
        bank_account_id: BankAccountId::from_trusted(row.text("bank_account_id")?),
        party_id: CustomerId::from_trusted(row.text("party_id")?),
        status: row.text("status")?,
        stopped_reason: row.opt_text("stopped_reason")?,
        accepted_at: Timestamp::from_unix_micros(row.i64("accepted_at")?),
        updated_at: Timestamp::from_unix_micros(row.i64("updated_at")?),
    })
}

/// The mandate on a bank account, if the buyer gave one.
pub async fn mandate(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    bank_account_id: &str,
) -> Result<Option<MandateObject>, StoreError> {
    tx.fetch_optional(
        "select bank_account_id, party_id, status, stopped_reason, accepted_at, updated_at \
         from ach_mandate where workspace_id = $1 and bank_account_id = $2",
        params![workspace_id.as_str(), bank_account_id],
    )
    .await?
    .as_ref()
    .map(mandate_from)
    .transpose()
}

/// Writes a mandate (new, renewed or stopped).
pub async fn save_mandate(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    m: &MandateObject,
) -> Result<(), StoreError> {
    tx.execute(
        "insert into ach_mandate (workspace_id, bank_account_id, party_id, status, stopped_reason, \
         accepted_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7) \
         on conflict (workspace_id, bank_account_id) do update set status = excluded.status, \
         stopped_reason = excluded.stopped_reason, accepted_at = excluded.accepted_at, \
         updated_at = excluded.updated_at",
        params![
            workspace_id.as_str(),
            m.bank_account_id.as_str(),
            m.party_id.as_str(),
            m.status.as_str(),
            m.stopped_reason.clone(),
            m.accepted_at.unix_micros(),
            m.updated_at.unix_micros(),
        ],
    )
    .await?;
    Ok(())
}

/// The pay-ins of the workspace created since `since`: how many, and the return code of each
/// returned one.
pub async fn since(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    since: Timestamp,
) -> Result<(u64, Vec<String>), StoreError> {
    let rows = tx
        .fetch_all(
            "select return_code from pay_in where workspace_id = $1 and created_at >= $2",
            params![workspace_id.as_str(), since.unix_micros()],
        )
        .await?;
    let codes = rows
        .iter()
        .filter_map(|r| r.opt_text("return_code").transpose())
        .collect::<Result<_, _>>()?;
    Ok((rows.len() as u64, codes))
}
