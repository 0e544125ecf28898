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

/// What the schemas say of metadata keys: 1 to 40 characters, no square brackets.
fn key_schema() -> utoipa::openapi::ObjectBuilder {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .min_length(Some(1))
        .max_length(Some(METADATA_KEY_LENGTH_MAX))
        .pattern(Some(r"^[^\[\]]*$"))
}

fn value_schema(nullable: bool) -> utoipa::openapi::ObjectBuilder {
    let kind = if nullable {
        utoipa::openapi::schema::SchemaType::from_iter([
            utoipa::openapi::schema::Type::String,
            utoipa::openapi::schema::Type::Null,
        ])
    } else {
        utoipa::openapi::schema::SchemaType::Type(utoipa::openapi::schema::Type::String)
    };
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(kind)
        .max_length(Some(METADATA_VALUE_LENGTH_MAX))
}

impl utoipa::PartialSchema for Metadata {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Object)
            .description(Some(
                "Up to 50 keys of 1 to 40 characters (no square brackets), values of at most \
                 500 characters.",
            ))
            .max_properties(Some(METADATA_KEYS_MAX))
            .property_names(Some(key_schema()))
            .additional_properties(Some(value_schema(false)))
            .into()
    }
}

impl utoipa::ToSchema for Metadata {}

/// The OpenAPI schema of a metadata update ([`Metadata::merged`]): keys to set, or to remove
/// with `null` or `""`; keys and values as in [`Metadata`], and at most 50 keys once merged.
pub struct MetadataUpdate;

impl utoipa::PartialSchema for MetadataUpdate {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Object)
            .description(Some(
                "Keys to set; a key set to `null` or `\"\"` is removed, other keys are kept. \
                 Keys of 1 to 40 characters (no square brackets), values of at most 500 \
                 characters; at most 50 keys once merged.",
            ))
            .property_names(Some(key_schema()))
            .additional_properties(Some(value_schema(true)))
            .into()
    }
}

impl utoipa::ToSchema for MetadataUpdate {}

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
            check_key(&key)?;
            match value {
                Some(value) if !value.is_empty() => {
                    check_value(&key, &value)?;
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
    check_key(key)?;
    check_value(key, value)
}

fn check_value(key: &str, value: &str) -> Result<(), ValidationError> {
    if value.chars().count() > METADATA_VALUE_LENGTH_MAX {
        return Err(ValidationError::invalid(
            format!("metadata[{key}]"),
            format!("Metadata values must be at most {METADATA_VALUE_LENGTH_MAX} characters long."),
        ));
    }
    Ok(())
}

/// A key is checked even where it only removes an entry, so the schema's key rules hold for
/// every request.
fn check_key(key: &str) -> Result<(), ValidationError> {
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

    #[test]
    fn removing_a_malformed_key_is_refused_as_setting_it_is() {
        let base = Metadata::parse(map(&[("a", "1")])).unwrap();
        for key in ["", "a]"] {
            let err = base
                .merged([(key.to_owned(), None)].into_iter().collect())
                .unwrap_err();
            assert_eq!(err.param, format!("metadata[{key}]"));
        }
    }
}
