//! Customers, always read and written within one workspace.

use bursar_domain::customer::{Customer, CustomerName, Email};
use bursar_domain::id::{CompanyId, CustomerId, PriceBookId, WorkspaceId};
use bursar_domain::metadata::Metadata;
use bursar_domain::page::{Cursor, Page, PageRequest};
use bursar_domain::time::Timestamp;

use crate::{params, Backend, Row, StoreError, Tx, Value};

const COLUMNS: &str =
    "customer_id, email, name, metadata, company_id, price_book_id, created_at, updated_at";

fn from_row(row: &Row) -> Result<Customer, StoreError> {
    Ok(Customer {
        id: CustomerId::from_trusted(row.text("customer_id")?),
        email: row.opt_text("email")?.map(Email::from_trusted),
        name: row.opt_text("name")?.map(CustomerName::from_trusted),
        metadata: Metadata::from_stored_json(&row.text("metadata")?),
        company_id: row.opt_text("company_id")?.map(CompanyId::from_trusted),
        price_book_id: row
            .opt_text("price_book_id")?
            .map(PriceBookId::from_trusted),
        created_at: Timestamp::from_unix_micros(row.i64("created_at")?),
        updated_at: Timestamp::from_unix_micros(row.i64("updated_at")?),
    })
}

pub async fn insert(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    customer: &Customer,
) -> Result<(), StoreError> {
    tx.execute(
        "insert into customer (workspace_id, customer_id, email, name, metadata, created_at, \
         updated_at, company_id, price_book_id) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        params![
            workspace_id.as_str(),
            customer.id.as_str(),
            customer.email.as_ref().map(Email::as_str),
            customer.name.as_ref().map(CustomerName::as_str),
            customer.metadata.to_json(),
            customer.created_at.unix_micros(),
            customer.updated_at.unix_micros(),
            customer.company_id.as_ref().map(CompanyId::as_str),
            customer.price_book_id.as_ref().map(PriceBookId::as_str),
        ],
    )
    .await?;
    Ok(())
}

/// Reads a customer; inside a write job on PostgreSQL the row stays locked until commit, so a
/// read-modify-write cannot lose a concurrent update (SQLite has a single writer already).
pub async fn get(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    id: &CustomerId,
    for_update: bool,
) -> Result<Option<Customer>, StoreError> {
    let lock = if for_update && tx.backend() == Backend::Postgres {
        " for update"
    } else {
        ""
    };
    let sql = format!(
        "select {COLUMNS} from customer where workspace_id = $1 and customer_id = $2{lock}"
    );
    let row = tx
        .fetch_optional(&sql, params![workspace_id.as_str(), id.as_str()])
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn update(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    customer: &Customer,
) -> Result<(), StoreError> {
    let changed = tx
        .execute(
            "update customer set email = $1, name = $2, metadata = $3, updated_at = $4, \
             company_id = $7, price_book_id = $8 where workspace_id = $5 and customer_id = $6",
            params![
                customer.email.as_ref().map(Email::as_str),
                customer.name.as_ref().map(CustomerName::as_str),
                customer.metadata.to_json(),
                customer.updated_at.unix_micros(),
                workspace_id.as_str(),
                customer.id.as_str(),
                customer.company_id.as_ref().map(CompanyId::as_str),
                customer.price_book_id.as_ref().map(PriceBookId::as_str),
            ],
        )
        .await?;
    assert_eq!(
        changed, 1,
        "BUG: updating a customer that was not read first"
    );
    Ok(())
}

/// One page of customers, newest first.
pub async fn list(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    page: &PageRequest,
) -> Result<Page<Customer>, StoreError> {
    let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
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
    let mut values: Vec<Value> = vec![workspace_id.as_str().into(), fetch.into()];
    values.extend(cursor.map(Value::from));
    let rows = tx.fetch_all(&sql, &values).await?;
    let mut data = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    let has_more = data.len() > limit;
    data.truncate(limit);
    if matches!(page.cursor, Cursor::Before(_)) {
        data.reverse();
    }
    Ok(Page { data, has_more })
}

pub async fn count(tx: &mut Tx, workspace_id: &WorkspaceId) -> Result<i64, StoreError> {
    tx.fetch_one(
        "select count(*) as n from customer where workspace_id = $1",
        params![workspace_id.as_str()],
    )
    .await?
    .i64("n")
}
