//! Metadata: a small map of string keys to string values that callers attach to objects.
//!
//! Limits follow what payment platforms document, so metadata copied from one of them fits.

use std::collections::BTreeMap;

use crate::ValidationError;

pub const METADATA_KEYS_MAX: usize = 50;
pub const METADATA_KEY_LENGTH_MAX: usize = 40;
pub const METADATA_VALUE_LENGTH_MAX: usize = 500;

/// Validated metadata. Keys are ordered so the stored JSON is deterministic.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Metadata(BTreeMap<String, String>);

impl utoipa::PartialSchema for Metadata {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Object)
            .additional_properties(Some(
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String),
            ))
            .into()
    }
}

impl utoipa::ToSchema for Metadata {}

impl Metadata {
    pub fn parse(entries: BTreeMap<String, String>) -> Result<Self, ValidationError> {
        for (key, value) in &entries {
            check_entry(key, value)?;
        }
        check_count(entries.len())?;
        Ok(Self(entries))
    }

    /// Applies an update: `Some(value)` sets a key, `None` (JSON `null`) or an empty string
    /// removes it. The result obeys the same limits as a new map.
    pub fn merged(
        &self,
        changes: BTreeMap<String, Option<String>>,
    ) -> Result<Self, ValidationError> {
        let mut entries = self.0.clone();
        for (key, value) in changes {
            match value {
                Some(value) if !value.is_empty() => {
                    check_entry(&key, &value)?;
                    entries.insert(key, value);
                }
                _ => {
                    entries.remove(&key);
                }
            }
        }
        check_count(entries.len())?;
        Ok(Self(entries))
    }

    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".to_owned())
    }

    /// Reads metadata back from storage, where only validated maps are written.
    pub fn from_stored_json(text: &str) -> Self {
        Self(serde_json::from_str(text).unwrap_or_default())
    }
}

fn check_entry(key: &str, value: &str) -> Result<(), ValidationError> {
    if key.is_empty() || key.chars().count() > METADATA_KEY_LENGTH_MAX {
        return Err(ValidationError::invalid(
            format!("metadata[{key}]"),
            format!("Metadata keys must be 1 to {METADATA_KEY_LENGTH_MAX} characters long."),
        ));
    }
    if key.contains(['[', ']']) {
        return Err(ValidationError::invalid(
            format!("metadata[{key}]"),
            "Metadata keys must not contain square brackets.",
        ));
    }
    if value.chars().count() > METADATA_VALUE_LENGTH_MAX {
        return Err(ValidationError::invalid(
            format!("metadata[{key}]"),
            format!("Metadata values must be at most {METADATA_VALUE_LENGTH_MAX} characters long."),
        ));
    }
    Ok(())
}

fn check_count(count: usize) -> Result<(), ValidationError> {
    if count > METADATA_KEYS_MAX {
        return Err(ValidationError::invalid(
            "metadata",
            format!("Metadata may have at most {METADATA_KEYS_MAX} keys."),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn limits_name_the_offending_key() {
        let long_key = "k".repeat(41);
        let err = Metadata::parse(map(&[(&long_key, "v")])).unwrap_err();
        assert_eq!(err.param, format!("metadata[{long_key}]"));
        let err = Metadata::parse(map(&[("plan", &"v".repeat(501))])).unwrap_err();
        assert_eq!(err.param, "metadata[plan]");
        let many: BTreeMap<_, _> = (0..51).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        assert_eq!(Metadata::parse(many).unwrap_err().param, "metadata");
        assert!(Metadata::parse(map(&[("plan", "pro")])).is_ok());
    }

    #[test]
    fn merge_sets_and_removes_keys() {
        let base = Metadata::parse(map(&[("a", "1"), ("b", "2")])).unwrap();
        let changes = [
            ("a".to_owned(), None),
            ("b".to_owned(), Some("3".to_owned())),
            ("c".to_owned(), Some("4".to_owned())),
        ];
        let merged = base.merged(changes.into_iter().collect()).unwrap();
        assert_eq!(merged.as_map(), &map(&[("b", "3"), ("c", "4")]));
    }
}
