//! Stored documents (orders, invoices, products, ...): one way to get one, one way to page
//! through them.

use bursar_domain::id::WorkspaceId;
use bursar_domain::page::{Page, PageRequest};
use bursar_store::documents::{self, Table};
use bursar_store::{Tx, Value};
use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::write::Context;
use crate::App;

/// A document of `workspace_id`, or not found naming `resource`.
pub async fn get<T: DeserializeOwned + Send + 'static>(
    app: &App,
    workspace_id: &WorkspaceId,
    table: Table,
    resource: &'static str,
    id: String,
) -> Result<T, Error> {
    let workspace_id = workspace_id.clone();
    let lookup = id.clone();
    app.db
        .read(move |tx: &mut Tx| {
            Box::pin(
                async move { documents::get::<T>(tx, table, &workspace_id, &lookup, false).await },
            )
        })
        .await?
        .ok_or_else(|| Error::not_found(resource, &id))
}

/// A document inside a write (locked on PostgreSQL), or not found naming `resource` and
/// `param`.
pub async fn get_in<T: DeserializeOwned>(
    cx: &mut Context<'_>,
    table: Table,
    resource: &'static str,
    id: &str,
    param: &str,
) -> Result<T, Error> {
    documents::get::<T>(cx.tx, table, cx.workspace_id, id, true)
        .await?
        .ok_or_else(|| Error::not_found(resource, id).with_param(param))
}

/// One page of documents, newest first, optionally only those whose `column` equals a value.
pub async fn page<T: DeserializeOwned + Send + 'static>(
    app: &App,
    workspace_id: &WorkspaceId,
    table: Table,
    page: PageRequest,
    condition: Option<(&'static str, Value)>,
) -> Result<Page<T>, Error> {
    let workspace_id = workspace_id.clone();
    Ok(app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                documents::list::<T>(tx, table, &workspace_id, &page, condition).await
            })
        })
        .await?)
}
