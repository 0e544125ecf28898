//! What the parameters many operations share accept, declared once in the OpenAPI document:
//! the `Idempotency-Key` header (read by [`crate::extract::idempotency_key`]) and the page
//! size `limit` (read by [`crate::list`]). Routes name these parameters; this fills in their
//! bounds, so no route's annotation can say less than the extractors check.

use bursar_domain::page::PAGE_LIMIT_MAX;
use bursar_store::idempotency::IDEMPOTENCY_KEY_LENGTH_MAX;
use utoipa::openapi::path::{Operation, Parameter, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{OpenApi, RefOr};

use crate::list::LIMIT_MAX;

/// The characters an `Idempotency-Key` may hold: printable ASCII, without surrounding spaces
/// (HTTP drops those before the server sees the value).
const IDEMPOTENCY_KEY_PATTERN: &str = "^[!-~]([ -~]*[!-~])?$";

/// Fills in the schema of every shared parameter.
pub fn declare(spec: &mut OpenApi) {
    // Both kinds of list read `limit` with the same bounds.
    debug_assert_eq!(i64::from(PAGE_LIMIT_MAX), LIMIT_MAX);
    for item in spec.paths.paths.values_mut() {
        let operations = [
            item.get.as_mut(),
            item.post.as_mut(),
            item.put.as_mut(),
            item.patch.as_mut(),
            item.delete.as_mut(),
        ];
        for operation in operations.into_iter().flatten() {
            declare_operation(operation);
        }
    }
}

fn declare_operation(operation: &mut Operation) {
    for parameter in operation.parameters.iter_mut().flatten() {
        match (&parameter.parameter_in, parameter.name.as_str()) {
            (ParameterIn::Header, "Idempotency-Key") => idempotency_key(parameter),
            (ParameterIn::Query, "limit") => limit(parameter),
            _ => {}
        }
    }
}

fn idempotency_key(parameter: &mut Parameter) {
    parameter.schema = Some(RefOr::T(Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(IDEMPOTENCY_KEY_LENGTH_MAX))
            .pattern(Some(IDEMPOTENCY_KEY_PATTERN))
            .build(),
    )));
    if parameter.description.is_none() {
        parameter.description = Some(
            "Makes retries safe: a repeat with the same key and body returns the first \
             response; the same key with another body is refused."
                .to_owned(),
        );
    }
}

fn limit(parameter: &mut Parameter) {
    parameter.schema = Some(RefOr::T(Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int64,
            )))
            .minimum(Some(1))
            .maximum(Some(LIMIT_MAX))
            .build(),
    )));
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    fn references(value: &serde_json::Value, found: &mut BTreeSet<String>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(target)) = map.get("$ref") {
                    found.insert(target.clone());
                }
                map.values().for_each(|v| references(v, found));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| references(v, found)),
            _ => {}
        }
    }

    /// A parameter typed by a schema-only type (an id, a version) names a component, which
    /// must exist: nothing registers it unless a request body or the document's own list does.
    #[test]
    fn every_schema_the_document_references_exists() {
        let spec = serde_json::to_value(crate::openapi()).unwrap_or_default();
        let mut found = BTreeSet::new();
        references(&spec, &mut found);
        let missing: Vec<&String> = found
            .iter()
            .filter(|target| {
                let name = target.trim_start_matches("#/components/schemas/");
                spec["components"]["schemas"].get(name).is_none()
            })
            .collect();
        assert!(missing.is_empty(), "unresolved references: {missing:?}");
    }

    /// The shared parameters carry the bounds the extractors check, on every operation.
    #[test]
    fn shared_parameters_declare_their_bounds() {
        let spec = serde_json::to_value(crate::openapi()).unwrap_or_default();
        let mut keys = 0;
        let mut limits = 0;
        for item in spec["paths"]
            .as_object()
            .into_iter()
            .flat_map(|p| p.values())
        {
            for operation in item.as_object().into_iter().flat_map(|o| o.values()) {
                for parameter in operation["parameters"].as_array().into_iter().flatten() {
                    let schema = &parameter["schema"];
                    match parameter["name"].as_str() {
                        Some("Idempotency-Key") => {
                            keys += 1;
                            assert_eq!(schema["maxLength"], 255, "{parameter}");
                            assert_eq!(schema["minLength"], 1, "{parameter}");
                        }
                        Some("limit") => {
                            limits += 1;
                            assert_eq!(schema["maximum"], 100, "{parameter}");
                            assert_eq!(schema["minimum"], 1, "{parameter}");
                        }
                        _ => {}
                    }
                }
            }
        }
        assert!(keys > 50 && limits > 20, "{keys} keys, {limits} limits");
    }
}
