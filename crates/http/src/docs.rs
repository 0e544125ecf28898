//! Reading stored documents from handlers, over `bursar_core::lookup`: one way to get one, one
//! way to list them (the list parameters read here).

use bursar_core::lookup;
use bursar_domain::id::is_ulid;
use bursar_domain::page::PageRequest;
use bursar_domain::ValidationError;
use bursar_store::documents::Table;
use bursar_store::Value;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::extract::{Principal, QueryParams};
use crate::list::{page_params, ListResponse};
use crate::mutate::Context;
use crate::AppState;

/// A document of the caller's workspace, or 404 naming `resource`.
pub async fn get<T: DeserializeOwned + Send + 'static>(
    state: &AppState,
    principal: &Principal,
    table: Table,
    resource: &'static str,
    id: String,
) -> Result<T, ApiError> {
    Ok(lookup::get(state, &principal.workspace_id, table, resource, id).await?)
}

/// A document inside a mutation (locked on PostgreSQL), or 404 naming `resource` and `param`.
pub async fn get_in<T: DeserializeOwned>(
    cx: &mut Context<'_>,
    table: Table,
    resource: &'static str,
    id: &str,
    param: &str,
) -> Result<T, ApiError> {
    Ok(lookup::get_in(cx, table, resource, id, param).await?)
}

/// One page of documents, newest first; `filter` names an optional query parameter that
/// selects by a column.
pub async fn list<T: DeserializeOwned + Send + 'static>(
    state: &AppState,
    principal: &Principal,
    query: &QueryParams,
    table: Table,
    url: &'static str,
    id_prefix: &'static str,
    filter: Option<(&'static str, &'static str)>,
) -> Result<ListResponse<T>, ApiError> {
    let extra: Vec<&str> = filter.iter().map(|(param, _)| *param).collect();
    let page: PageRequest = page_params(query, &extra, |value, param| {
        // A cursor is an id of the listed kind, as the id types parse them.
        if let Some(ulid) = value.strip_prefix(id_prefix).filter(|u| is_ulid(u)) {
            Ok(format!("{id_prefix}{}", ulid.to_ascii_lowercase()))
        } else {
            Err(ValidationError::invalid(
                param,
                format!("Invalid id '{value}': expected an id starting with '{id_prefix}'."),
            ))
        }
    })?;
    let condition = filter
        .and_then(|(param, column)| query.text(param).map(|value| (column, Value::from(value))));
    let page = lookup::page(state, &principal.workspace_id, table, page, condition).await?;
    Ok(ListResponse::new(url, page, |object| object))
}
