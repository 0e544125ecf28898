//! Customers, always read and written within one workspace.

use bursar_domain::customer::{Customer, CustomerName, Email};
use bursar_domain::id::{CustomerId, WorkspaceId};
use bursar_domain::metadata::Metadata;
use bursar_domain::page::{Cursor, Page, PageRequest};
use bursar_domain::time::Timestamp;
use sqlx::any::AnyRow;

use crate::{get_i64, get_opt_text, get_text, Backend, Conn, StoreError};

const COLUMNS: &str = "customer_id, email, name, metadata, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<Customer, StoreError> {
    Ok(Customer {
        id: CustomerId::from_trusted(get_text(row, "customer_id")?),
        email: get_opt_text(row, "email")?.map(Email::from_trusted),
        name: get_opt_text(row, "name")?.map(CustomerName::from_trusted),
        metadata: Metadata::from_stored_json(&get_text(row, "metadata")?),
        created_at: Timestamp::from_unix_micros(get_i64(row, "created_at")?),
        updated_at: Timestamp::from_unix_micros(get_i64(row, "updated_at")?),
    })
}

pub async fn insert(
    conn: &mut Conn,
    workspace_id: &WorkspaceId,
    customer: &Customer,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into customer (workspace_id, customer_id, email, name, metadata, created_at, \
         updated_at) values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(workspace_id.as_str())
    .bind(customer.id.as_str())
    .bind(customer.email.as_ref().map(|e| e.as_str().to_owned()))
    .bind(customer.name.as_ref().map(|n| n.as_str().to_owned()))
    .bind(customer.metadata.to_json())
    .bind(customer.created_at.unix_micros())
    .bind(customer.updated_at.unix_micros())
    .execute(conn)
    .await?;
    Ok(())
}

/// Reads a customer; inside a write job on PostgreSQL the row stays locked until commit, so a
/// read-modify-write cannot lose a concurrent update (SQLite has a single writer already).
pub async fn get(
    conn: &mut Conn,
    workspace_id: &WorkspaceId,
    id: &CustomerId,
    for_update: bool,
) -> Result<Option<Customer>, StoreError> {
    let lock = if for_update && Backend::of(conn) == Backend::Postgres {
        " for update"
    } else {
        ""
    };
    let sql = format!(
        "select {COLUMNS} from customer where workspace_id = $1 and customer_id = $2{lock}"
    );
    let row = sqlx::query(&sql)
        .bind(workspace_id.as_str())
        .bind(id.as_str())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn update(
    conn: &mut Conn,
    workspace_id: &WorkspaceId,
    customer: &Customer,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "update customer set email = $1, name = $2, metadata = $3, updated_at = $4 \
         where workspace_id = $5 and customer_id = $6",
    )
    .bind(customer.email.as_ref().map(|e| e.as_str().to_owned()))
    .bind(customer.name.as_ref().map(|n| n.as_str().to_owned()))
    .bind(customer.metadata.to_json())
    .bind(customer.updated_at.unix_micros())
    .bind(workspace_id.as_str())
    .bind(customer.id.as_str())
    .execute(conn)
    .await?;
    assert_eq!(
        done.rows_affected(),
        1,
        "BUG: updating a customer that was not read first"
    );
    Ok(())
}

/// One page of customers, newest first.
pub async fn list(
    conn: &mut Conn,
    workspace_id: &WorkspaceId,
    page: &PageRequest,
) -> Result<Page<Customer>, StoreError> {
    let fetch = i64::from(page.limit) + 1;
    let (filter, order, cursor) = match &page.cursor {
        Cursor::First => ("", "desc", None),
        Cursor::After(id) => (" and customer_id < $3", "desc", Some(id.as_str())),
        Cursor::Before(id) => (" and customer_id > $3", "asc", Some(id.as_str())),
    };
    let sql = format!(
        "select {COLUMNS} from customer where workspace_id = $1{filter} \
         order by customer_id {order} limit $2"
    );
    let mut query = sqlx::query(&sql).bind(workspace_id.as_str()).bind(fetch);
    if let Some(cursor) = cursor {
        query = query.bind(cursor);
    }
    let rows = query.fetch_all(conn).await?;
    let mut data = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    let has_more = data.len() > usize::try_from(page.limit).unwrap_or(usize::MAX);
    data.truncate(usize::try_from(page.limit).unwrap_or(usize::MAX));
    if matches!(page.cursor, Cursor::Before(_)) {
        data.reverse();
    }
    Ok(Page { data, has_more })
}

pub async fn count(conn: &mut Conn, workspace_id: &WorkspaceId) -> Result<i64, StoreError> {
    let row = sqlx::query("select count(*) as n from customer where workspace_id = $1")
        .bind(workspace_id.as_str())
        .fetch_one(conn)
        .await?;
    get_i64(&row, "n")
}
