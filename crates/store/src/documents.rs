//! Documents, stored whole.
//!
//! Catalog objects, companies, agreements, discounts, orders, refunds, contracts, invoices and
//! more are documents: the API's JSON shape in `body`, plus the few columns Bursar finds or
//! counts them by. Each table has the same core (`workspace_id`, `object_id`, `body`), so one
//! set of functions serves all of them. Columns that must be exact under concurrency
//! (redemption counts, in [`crate::discounts`]) are changed only by conditional updates.

use bursar_domain::commerce::OrderStatus;
use bursar_domain::id::WorkspaceId;
use bursar_domain::page::{Cursor, Page, PageRequest};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{params, Backend, StoreError, Tx, Value};

/// A table of documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table(pub(crate) &'static str);

pub const PRODUCT: Table = Table("product");
pub const PRICE: Table = Table("price");
pub const PRICE_BOOK: Table = Table("price_book");
pub const COMPANY: Table = Table("company");
pub const PRICE_AGREEMENT: Table = Table("price_agreement");
pub const COUPON: Table = Table("coupon");
pub const PROMOTION_CODE: Table = Table("promotion_code");
pub const ORDER: Table = Table("commerce_order");
pub const REFUND: Table = Table("order_refund");
pub const PAYMENT_PROVIDER: Table = Table("payment_provider");
pub const PAYMENT_METHOD: Table = Table("payment_method");
pub const CONTRACT: Table = Table("contract");
pub const SUBSCRIPTION: Table = Table("subscription");
pub const ARTIFACT: Table = Table("artifact");
pub const LICENSE: Table = Table("license");
pub const DOWNLOAD_LINK: Table = Table("download_link");
pub const TAX_RATE: Table = Table("tax_rate");
pub const INVOICE: Table = Table("invoice");
pub const INVOICE_PAYMENT: Table = Table("invoice_payment");
pub const BILLING_STATUS: Table = Table("billing_status");
pub const CREDIT_NOTE: Table = Table("credit_note");
pub const DUNNING_POLICY: Table = Table("dunning_policy");
pub const DUNNING_ASSIGNMENT: Table = Table("dunning_assignment");
pub const SHIPMENT: Table = Table("shipment");
pub const COURIER_CONNECTION: Table = Table("courier_connection");
pub const AUTOMATION_SCENARIO: Table = Table("automation_scenario");
pub const AUTOMATION_RUN: Table = Table("automation_run");
pub const DEVICE: Table = Table("device");
pub const DEVICE_ASSIGNMENT: Table = Table("device_assignment");
pub const JOB_RUN: Table = Table("job_run");

fn encode<T: Serialize>(object: &T) -> Result<String, StoreError> {
    serde_json::to_string(object)
        .map_err(|e| StoreError::Corrupt(format!("BUG: unserializable: {e}")))
}

fn decode<T: DeserializeOwned>(table: Table, body: &str) -> Result<T, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt(format!("{}: {e}", table.0)))
}

/// The `insert` of a document with its extra columns: (columns, placeholders, values).
fn insert_parts<T: Serialize>(
    workspace_id: &WorkspaceId,
    id: &str,
    object: &T,
    extra: &[(&str, Value)],
) -> Result<(String, String, Vec<Value>), StoreError> {
    let mut columns = String::from("workspace_id, object_id, body");
    let mut placeholders = String::from("$1, $2, $3");
    let mut values: Vec<Value> = vec![
        workspace_id.as_str().into(),
        id.into(),
        encode(object)?.into(),
    ];
    for (i, (column, value)) in extra.iter().enumerate() {
        columns.push_str(&format!(", {column}"));
        placeholders.push_str(&format!(", ${}", i + 4));
        values.push(value.clone());
    }
    Ok((columns, placeholders, values))
}

/// Inserts a document with its extra columns.
pub async fn insert<T: Serialize>(
    tx: &mut Tx,
    table: Table,
    workspace_id: &WorkspaceId,
    id: &str,
    object: &T,
    extra: &[(&str, Value)],
) -> Result<(), StoreError> {
    let (columns, placeholders, values) = insert_parts(workspace_id, id, object, extra)?;
    let sql = format!(
        "insert into {} ({columns}) values ({placeholders})",
        table.0
    );
    tx.execute(&sql, &values).await?;
    Ok(())
}

/// Inserts a document, or replaces the one stored under its id (with its extra columns): one
/// statement on both databases.
pub async fn upsert<T: Serialize>(
    tx: &mut Tx,
    table: Table,
    workspace_id: &WorkspaceId,
    id: &str,
    object: &T,
    extra: &[(&str, Value)],
) -> Result<(), StoreError> {
    let (columns, placeholders, values) = insert_parts(workspace_id, id, object, extra)?;
    let mut sets = String::from("body = excluded.body");
    for (column, _) in extra {
        sets.push_str(&format!(", {column} = excluded.{column}"));
    }
    let sql = format!(
        "insert into {} ({columns}) values ({placeholders}) \
         on conflict (workspace_id, object_id) do update set {sets}",
        table.0
    );
    tx.execute(&sql, &values).await?;
    Ok(())
}

/// Replaces a document (and sets extra columns); returns whether it existed.
pub async fn save<T: Serialize>(
    tx: &mut Tx,
    table: Table,
    workspace_id: &WorkspaceId,
    id: &str,
    object: &T,
    extra: &[(&str, Value)],
) -> Result<bool, StoreError> {
    let mut sets = String::from("body = $3");
    let mut values: Vec<Value> = vec![
        workspace_id.as_str().into(),
        id.into(),
        encode(object)?.into(),
    ];
    for (i, (column, value)) in extra.iter().enumerate() {
        sets.push_str(&format!(", {column} = ${}", i + 4));
        values.push(value.clone());
    }
    let sql = format!(
        "update {} set {sets} where workspace_id = $1 and object_id = $2",
        table.0
    );
    Ok(tx.execute(&sql, &values).await? == 1)
}

/// Deletes a document; returns whether it existed.
pub async fn delete(
    tx: &mut Tx,
    table: Table,
    workspace_id: &WorkspaceId,
    id: &str,
) -> Result<bool, StoreError> {
    let sql = format!(
        "delete from {} where workspace_id = $1 and object_id = $2",
        table.0
    );
    Ok(tx.execute(&sql, params![workspace_id.as_str(), id]).await? == 1)
}

/// Reads a document. Inside a write job on PostgreSQL, `for_update` locks the row until commit
/// (SQLite has a single writer already).
pub async fn get<T: DeserializeOwned>(
    tx: &mut Tx,
    table: Table,
    workspace_id: &WorkspaceId,
    id: &str,
    for_update: bool,
) -> Result<Option<T>, StoreError> {
    let lock = if for_update && tx.backend() == Backend::Postgres {
        " for update"
    } else {
        ""
    };
    let sql = format!(
        "select body from {} where workspace_id = $1 and object_id = $2{lock}",
        table.0
    );
    let row = tx
        .fetch_optional(&sql, params![workspace_id.as_str(), id])
        .await?;
    row.map(|row| decode(table, row.str("body")?)).transpose()
}

/// Every document whose `column` is one of `keys`, in id order.
pub async fn find_in<T: DeserializeOwned>(
    tx: &mut Tx,
    table: Table,
    workspace_id: &WorkspaceId,
    column: &str,
    keys: &[&str],
) -> Result<Vec<T>, StoreError> {
    let mut found = Vec::new();
    // Sorted here, not by the query: with `order by object_id` SQLite's planner may walk the
    // whole workspace in key order instead of using the column's index.
    let sql = format!(
        "select object_id, body from {} where workspace_id = $1 and {column} = $2",
        table.0
    );
    for key in keys {
        let mut rows = tx
            .fetch_all(&sql, params![workspace_id.as_str(), *key])
            .await?;
        rows.sort_by(|a, b| a.str("object_id").ok().cmp(&b.str("object_id").ok()));
        for row in rows {
            found.push(decode(table, row.str("body")?)?);
        }
    }
    Ok(found)
}

/// The newest documents (by id, descending) whose `column` is one of `keys`, older than
/// `before` when given: at most `limit`, one query per key, each reading only its page through
/// the index on `(workspace_id, column, object_id)`.
pub async fn newest_for<T: DeserializeOwned>(
    tx: &mut Tx,
    table: Table,
    workspace_id: &WorkspaceId,
    column: &str,
    keys: &[&str],
    before: Option<&str>,
    limit: usize,
) -> Result<Vec<T>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let sql = match before {
        Some(_) => format!(
            "select object_id, body from {} where workspace_id = $1 and {column} = $2 \
             and object_id < $4 order by object_id desc limit $3",
            table.0
        ),
        None => format!(
            "select object_id, body from {} where workspace_id = $1 and {column} = $2 \
             order by object_id desc limit $3",
            table.0
        ),
    };
    let mut rows = Vec::new();
    for key in keys {
        let mut values: Vec<Value> = params![workspace_id.as_str(), *key, limit].to_vec();
        if let Some(before) = before {
            values.push(before.into());
        }
        for row in tx.fetch_all(&sql, &values).await? {
            rows.push((row.text("object_id")?, row.text("body")?));
        }
    }
    rows.sort_by(|a, b| b.0.cmp(&a.0));
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    rows.iter().map(|(_, body)| decode(table, body)).collect()
}

/// Every document whose `column` is one of `keys`, by id within each 500 keys (one query
/// each), for reading many accounts at once.
pub async fn find_in_many<T: DeserializeOwned>(
    tx: &mut Tx,
    table: Table,
    workspace_id: &WorkspaceId,
    column: &str,
    keys: &[&str],
) -> Result<Vec<T>, StoreError> {
    let mut found = Vec::new();
    for chunk in keys.chunks(500) {
        let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "select object_id, body from {} where workspace_id = $1 and {column} in ({})",
            table.0,
            placeholders.join(", ")
        );
        let mut values: Vec<Value> = vec![workspace_id.as_str().into()];
        values.extend(chunk.iter().map(|k| Value::from(*k)));
        // Sorted here, as in `find_in`: the column's index, not a walk in key order.
        let mut rows = tx.fetch_all(&sql, &values).await?;
        rows.sort_by(|a, b| a.str("object_id").ok().cmp(&b.str("object_id").ok()));
        for row in rows {
            found.push(decode(table, row.str("body")?)?);
        }
    }
    Ok(found)
}

/// The documents with these ids, each with its id (one query per 500 ids).
pub async fn get_many<T: DeserializeOwned>(
    tx: &mut Tx,
    table: Table,
    workspace_id: &WorkspaceId,
    ids: &[&str],
) -> Result<Vec<(String, T)>, StoreError> {
    let mut found = Vec::new();
    for chunk in ids.chunks(500) {
        let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "select object_id, body from {} where workspace_id = $1 and object_id in ({})",
            table.0,
            placeholders.join(", ")
        );
        let mut values: Vec<Value> = vec![workspace_id.as_str().into()];
        values.extend(chunk.iter().map(|k| Value::from(*k)));
        for row in tx.fetch_all(&sql, &values).await? {
            found.push((row.text("object_id")?, decode(table, row.str("body")?)?));
        }
    }
    Ok(found)
}

/// The document whose `column` (unique across workspaces) is `value`, with its workspace:
/// for callers that hold no API key (a shipped program's license key, a download token).
pub async fn find_anywhere<T: DeserializeOwned>(
    tx: &mut Tx,
    table: Table,
    column: &str,
    value: &str,
    for_update: bool,
) -> Result<Option<(WorkspaceId, T)>, StoreError> {
    let lock = if for_update && tx.backend() == Backend::Postgres {
        " for update"
    } else {
        ""
    };
    let sql = format!(
        "select workspace_id, body from {} where {column} = $1{lock}",
        table.0
    );
    let row = tx.fetch_optional(&sql, params![value]).await?;
    row.map(|row| {
        Ok((
            WorkspaceId::from_trusted(row.text("workspace_id")?),
            decode(table, row.str("body")?)?,
        ))
    })
    .transpose()
}

/// One page of documents, newest first, optionally where `column = value`.
pub async fn list<T: DeserializeOwned>(
    tx: &mut Tx,
    table: Table,
    workspace_id: &WorkspaceId,
    page: &PageRequest,
    filter: Option<(&str, Value)>,
) -> Result<Page<T>, StoreError> {
    let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
    let mut values: Vec<Value> = vec![
        workspace_id.as_str().into(),
        (i64::from(page.limit) + 1).into(),
    ];
    let mut conditions = String::new();
    if let Some((column, value)) = filter {
        values.push(value);
        conditions.push_str(&format!(" and {column} = ${}", values.len()));
    }
    let order = match &page.cursor {
        Cursor::First => "desc",
        Cursor::After(id) => {
            values.push(id.as_str().into());
            conditions.push_str(&format!(" and object_id < ${}", values.len()));
            "desc"
        }
        Cursor::Before(id) => {
            values.push(id.as_str().into());
            conditions.push_str(&format!(" and object_id > ${}", values.len()));
            "asc"
        }
    };
    let sql = format!(
        "select body from {} where workspace_id = $1{conditions} order by object_id {order} limit $2",
        table.0
    );
    let rows = tx.fetch_all(&sql, &values).await?;
    let mut data = rows
        .iter()
        .map(|row| decode(table, row.str("body")?))
        .collect::<Result<Vec<T>, _>>()?;
    let has_more = data.len() > limit;
    data.truncate(limit);
    if matches!(page.cursor, Cursor::Before(_)) {
        data.reverse();
    }
    Ok(Page { data, has_more })
}

/// The status column of an order, for `list` filters.
pub fn status_value(status: OrderStatus) -> Value {
    status.as_str().into()
}

/// Documents of `table` in any workspace whose JSON body contains `fragment` (e.g.
/// `"status":"pending"`), at most `limit`, with their workspace: for background jobs that
/// look for work left behind. A scan: for small tables and rare jobs only.
pub async fn everywhere_containing<T: DeserializeOwned>(
    tx: &mut Tx,
    table: Table,
    fragment: &str,
    limit: i64,
) -> Result<Vec<(WorkspaceId, T)>, StoreError> {
    let sql = format!(
        "select workspace_id, body from {} where body like $1 order by object_id limit $2",
        table.0
    );
    let pattern = format!("%{fragment}%");
    let mut found = Vec::new();
    for row in tx.fetch_all(&sql, params![pattern, limit]).await? {
        let workspace = WorkspaceId::from_trusted(row.text("workspace_id")?);
        found.push((workspace, decode(table, row.str("body")?)?));
    }
    Ok(found)
}
