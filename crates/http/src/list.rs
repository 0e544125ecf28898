//! List responses and their cursor parameters, shared by every list endpoint.

use bursar_domain::page::{Page, PageRequest};
use bursar_domain::ValidationError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::QueryParams;

/// A page of objects, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListResponse<T> {
    /// Always `list`.
    pub object: &'static str,
    pub url: &'static str,
    /// Whether more objects follow in this direction.
    pub has_more: bool,
    pub data: Vec<T>,
}

impl<T> ListResponse<T> {
    /// A whole list in one page.
    pub fn all(url: &'static str, data: Vec<T>) -> Self {
        ListResponse {
            object: "list",
            url,
            has_more: false,
            data,
        }
    }

    pub fn new<S>(url: &'static str, page: Page<S>, convert: impl Fn(S) -> T) -> Self {
        ListResponse {
            object: "list",
            url,
            has_more: page.has_more,
            data: page.data.into_iter().map(convert).collect(),
        }
    }
}

/// Reads `limit`, `starting_after` and `ending_before`, refusing any parameter not in `extra`.
pub fn page_params(
    query: &QueryParams,
    extra: &[&str],
    parse_id: impl Fn(&str, &str) -> Result<String, ValidationError>,
) -> Result<PageRequest, ApiError> {
    let mut allowed = vec!["limit", "starting_after", "ending_before"];
    allowed.extend_from_slice(extra);
    query.only(&allowed)?;
    Ok(PageRequest::parse(
        query.integer("limit")?,
        query.text("starting_after"),
        query.text("ending_before"),
        parse_id,
    )?)
}

/// Most objects in one page of the simple lists (timelines, logs, mailboxes).
pub const LIMIT_MAX: i64 = 100;

/// `?limit=1..=100` (default 100) of a simple list, refusing parameters other than `allowed`
/// (which names `limit` too).
pub fn limit_param(query: &QueryParams, allowed: &[&str]) -> Result<i64, ApiError> {
    query.only(allowed)?;
    let limit = query.integer("limit")?.unwrap_or(LIMIT_MAX);
    if !(1..=LIMIT_MAX).contains(&limit) {
        return Err(ApiError::invalid(
            "parameter_invalid",
            Some("limit".into()),
            format!("limit must be between 1 and {LIMIT_MAX}."),
        ));
    }
    Ok(limit)
}
