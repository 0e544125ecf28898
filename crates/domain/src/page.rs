//! Cursor pagination: `limit`, `starting_after`, `ending_before`, newest first.

use crate::ValidationError;

pub const PAGE_LIMIT_DEFAULT: u32 = 10;
pub const PAGE_LIMIT_MAX: u32 = 100;

/// Where a page starts. Lists are ordered newest first (descending id), as payment APIs do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// The newest objects.
    First,
    /// Objects older than this id (the next page).
    After(String),
    /// Objects newer than this id (the previous page).
    Before(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub cursor: Cursor,
}

impl PageRequest {
    /// `parse_id` checks a cursor is an id of the listed type, so a malformed cursor is a 4xx
    /// naming the parameter rather than an empty page.
    pub fn parse(
        limit: Option<i64>,
        starting_after: Option<String>,
        ending_before: Option<String>,
        parse_id: impl Fn(&str, &str) -> Result<String, ValidationError>,
    ) -> Result<Self, ValidationError> {
        let limit = match limit {
            None => PAGE_LIMIT_DEFAULT,
            Some(l) if (1..=i64::from(PAGE_LIMIT_MAX)).contains(&l) => {
                u32::try_from(l).unwrap_or(PAGE_LIMIT_DEFAULT)
            }
            Some(_) => {
                return Err(ValidationError::invalid(
                    "limit",
                    format!("limit must be between 1 and {PAGE_LIMIT_MAX}."),
                ));
            }
        };
        let cursor = match (starting_after, ending_before) {
            (Some(_), Some(_)) => {
                return Err(ValidationError::invalid(
                    "ending_before",
                    "starting_after and ending_before cannot be used together.",
                ));
            }
            (Some(after), None) => Cursor::After(parse_id(&after, "starting_after")?),
            (None, Some(before)) => Cursor::Before(parse_id(&before, "ending_before")?),
            (None, None) => Cursor::First,
        };
        Ok(Self { limit, cursor })
    }
}

/// One page of results, newest first.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub has_more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any_id(value: &str, _: &str) -> Result<String, ValidationError> {
        Ok(value.to_owned())
    }

    #[test]
    fn limit_bounds_are_enforced() {
        assert_eq!(
            PageRequest::parse(None, None, None, any_id).unwrap().limit,
            10
        );
        assert_eq!(
            PageRequest::parse(Some(100), None, None, any_id)
                .unwrap()
                .limit,
            100
        );
        assert_eq!(
            PageRequest::parse(Some(0), None, None, any_id)
                .unwrap_err()
                .param,
            "limit"
        );
        assert_eq!(
            PageRequest::parse(Some(101), None, None, any_id)
                .unwrap_err()
                .param,
            "limit"
        );
    }

    #[test]
    fn both_cursors_at_once_are_refused() {
        let err = PageRequest::parse(None, Some("a".into()), Some("b".into()), any_id);
        assert_eq!(err.unwrap_err().param, "ending_before");
    }
}
