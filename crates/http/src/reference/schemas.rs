//! Types as the reference page names them (`string`, `array of Customer`, `Status | null`,
//! with links to component schemas), and the "Schemas" section: each component schema's
//! properties with type, requiredness and description.

use std::collections::HashMap;

use serde_json::Value;

use super::example::{is_null, resolve, types};
use super::markdown;

/// A piece of a type's label: text, linked to a schema's anchor when it names one.
pub struct TypePart {
    pub text: String,
    pub anchor: Option<String>,
}

impl TypePart {
    fn text(text: impl Into<String>) -> Self {
        TypePart {
            text: text.into(),
            anchor: None,
        }
    }
}

/// The anchor of a component schema's entry in the "Schemas" section.
pub fn schema_anchor(name: &str) -> String {
    format!("schema-{}", slug(name))
}

/// An id-safe form of a name: ASCII letters, digits, `-` and `_`.
pub fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The document with every inline copy of a component schema (utoipa inlines the type
/// argument of a generic, such as `ListResponse<Invoice>`'s items) turned into a `$ref` to it,
/// so that the page links the schema instead of listing its properties again.
pub fn link_inline_copies(spec: &Value) -> Value {
    let mut spec = spec.clone();
    let Some(schemas) = spec
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    else {
        return spec;
    };
    let named: HashMap<String, String> = schemas
        .iter()
        .filter(|(_, schema)| {
            ["properties", "oneOf", "allOf", "anyOf"]
                .iter()
                .any(|key| schema.get(key).is_some())
        })
        .map(|(name, schema)| (schema.to_string(), name.clone()))
        .collect();
    if let Some(paths) = spec.get_mut("paths") {
        replace_copies(paths, &named);
    }
    if let Some(Value::Object(schemas)) = spec.pointer_mut("/components/schemas") {
        // A component's own top level is not a copy of itself; what is inside it may be.
        for schema in schemas.values_mut() {
            match schema {
                Value::Object(fields) => {
                    fields.values_mut().for_each(|v| replace_copies(v, &named))
                }
                other => replace_copies(other, &named),
            }
        }
    }
    spec
}

fn replace_copies(value: &mut Value, named: &HashMap<String, String>) {
    if let Some(name) = value
        .is_object()
        .then(|| named.get(&value.to_string()))
        .flatten()
    {
        *value = serde_json::json!({"$ref": format!("#/components/schemas/{name}")});
        return;
    }
    match value {
        Value::Object(fields) => fields.values_mut().for_each(|v| replace_copies(v, named)),
        Value::Array(items) => items.iter_mut().for_each(|v| replace_copies(v, named)),
        _ => {}
    }
}

/// The component schema a `$ref` names, if it is one: `#/components/schemas/Customer`.
pub fn ref_name(schema: &Value) -> Option<&str> {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
}

/// A short label for a schema's type.
pub fn type_label(schema: &Value) -> Vec<TypePart> {
    let mut parts = Vec::new();
    label_into(schema, &mut parts, 0);
    parts
}

fn label_into(schema: &Value, parts: &mut Vec<TypePart>, depth: usize) {
    if depth > 4 {
        parts.push(TypePart::text("…"));
        return;
    }
    if let Some(name) = ref_name(schema) {
        parts.push(TypePart {
            text: name.to_owned(),
            anchor: Some(schema_anchor(name)),
        });
        return;
    }
    for (key, joiner) in [("oneOf", " | "), ("anyOf", " | "), ("allOf", " & ")] {
        if let Some(variants) = schema.get(key).and_then(Value::as_array) {
            // `null` last: `Status | null`.
            let mut ordered: Vec<&Value> = variants.iter().filter(|v| !is_null(v)).collect();
            ordered.extend(variants.iter().filter(|v| is_null(v)));
            for (i, variant) in ordered.into_iter().enumerate() {
                if i > 0 {
                    parts.push(TypePart::text(joiner));
                }
                label_into(variant, parts, depth + 1);
            }
            if variants.is_empty() {
                parts.push(TypePart::text("any"));
            }
            return;
        }
    }
    let kinds = types(schema);
    let nullable =
        matches!(schema.get("type"), Some(Value::Array(ts)) if ts.iter().any(|t| t == "null"));
    match kinds.first().copied() {
        Some("array") => {
            parts.push(TypePart::text("array of "));
            match schema.get("items") {
                Some(items) => label_into(items, parts, depth + 1),
                None => parts.push(TypePart::text("any")),
            }
        }
        Some("object") => match schema.get("additionalProperties") {
            Some(extra @ Value::Object(_)) if schema.get("properties").is_none() => {
                parts.push(TypePart::text("map of "));
                label_into(extra, parts, depth + 1);
            }
            _ => parts.push(TypePart::text("object")),
        },
        Some(kind) => {
            let format = schema.get("format").and_then(Value::as_str);
            parts.push(TypePart::text(match format {
                Some(format) if !matches!(format, "int32" | "int64" | "double" | "float") => {
                    format!("{kind} ({format})")
                }
                _ => kind.to_owned(),
            }));
        }
        None if is_null(schema) => parts.push(TypePart::text("null")),
        None if schema.get("properties").is_some() => parts.push(TypePart::text("object")),
        None => parts.push(TypePart::text("any")),
    }
    if nullable {
        parts.push(TypePart::text(" | null"));
    }
}

/// One row of a schema's property table.
pub struct FieldView {
    pub name: String,
    pub ty: Vec<TypePart>,
    pub required: bool,
    pub description_html: String,
    /// A heading row that starts one variant of a `oneOf` (only the description is shown).
    pub variant: bool,
}

/// A component schema in the "Schemas" section.
pub struct SchemaView {
    pub anchor: String,
    pub name: String,
    pub description_html: String,
    /// The type, for schemas without properties (`string`, `A | B`).
    pub ty: Vec<TypePart>,
    pub fields: Vec<FieldView>,
}

/// Every component schema, in the document's order.
pub fn schema_views(spec: &Value) -> Vec<SchemaView> {
    let Some(schemas) = spec
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    else {
        return Vec::new();
    };
    schemas
        .iter()
        .map(|(name, schema)| {
            let mut fields = Vec::new();
            fields_into(spec, schema, "", &mut fields, 0);
            SchemaView {
                anchor: schema_anchor(name),
                name: name.clone(),
                description_html: markdown::render(text(schema, "description")),
                ty: if fields.is_empty() {
                    type_label(schema)
                } else {
                    Vec::new()
                },
                fields,
            }
        })
        .collect()
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The properties of an object schema as rows; an inline object's own properties follow it as
/// `parent.child`, and `allOf` parts are merged. Variants of a `oneOf` of inline objects are
/// listed one after the other, each headed by its discriminating constant when it has one.
fn fields_into(spec: &Value, schema: &Value, prefix: &str, out: &mut Vec<FieldView>, depth: usize) {
    if depth > 3 {
        return;
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        for part in parts {
            match ref_name(part) {
                // A named part is merged in when it is an object of our own.
                Some(_) => {
                    let target = part
                        .get("$ref")
                        .and_then(Value::as_str)
                        .and_then(|r| resolve(spec, r));
                    if let Some(target) = target.filter(|t| t.get("properties").is_some()) {
                        fields_into(spec, target, prefix, out, depth + 1);
                    }
                }
                None => fields_into(spec, part, prefix, out, depth + 1),
            }
        }
        return;
    }
    if let Some(variants) = schema.get("oneOf").and_then(Value::as_array) {
        let inline: Vec<&Value> = variants
            .iter()
            .filter(|v| v.get("properties").is_some())
            .collect();
        if !inline.is_empty() && prefix.is_empty() {
            for variant in inline {
                let tag = variant_tag(variant);
                let mut rows = Vec::new();
                fields_into(spec, variant, "", &mut rows, depth + 1);
                let heading = match &tag {
                    Some((key, value)) => format!("When `{key}` is `{value}`"),
                    None => "Or".to_owned(),
                };
                let description = text(variant, "description");
                let heading = if description.is_empty() {
                    format!("{heading}:")
                } else {
                    format!("{heading}: {description}")
                };
                out.push(FieldView {
                    name: String::new(),
                    ty: Vec::new(),
                    required: false,
                    description_html: markdown::render_cell(&heading),
                    variant: true,
                });
                out.extend(rows);
            }
        }
        return;
    }
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (key, property) in properties {
        let name = format!("{prefix}{key}");
        let mut description = text(property, "description").to_owned();
        if let Some(values) = property.get("enum").and_then(Value::as_array) {
            let listed: Vec<String> = values
                .iter()
                .map(|v| {
                    format!(
                        "`{}`",
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                    )
                })
                .collect();
            if !description.is_empty() {
                description.push(' ');
            }
            description.push_str(&match listed.as_slice() {
                [only] => format!("Always {only}."),
                _ => format!("One of {}.", listed.join(", ")),
            });
        }
        out.push(FieldView {
            name: name.clone(),
            ty: type_label(property),
            required: required.contains(&key.as_str()),
            description_html: markdown::render_cell(&description),
            variant: false,
        });
        let nested = property
            .get("items")
            .filter(|_| types(property).contains(&"array"))
            .unwrap_or(property);
        if nested.get("properties").is_some() && ref_name(nested).is_none() {
            let infix = if std::ptr::eq(nested, property) {
                "."
            } else {
                "[]."
            };
            fields_into(spec, nested, &format!("{name}{infix}"), out, depth + 1);
        }
    }
}

/// The property a `oneOf` variant is told apart by: one whose schema is a single constant.
fn variant_tag(variant: &Value) -> Option<(String, String)> {
    let properties = variant.get("properties")?.as_object()?;
    properties.iter().find_map(|(key, p)| {
        let value = p.get("const").or_else(|| {
            p.get("enum")
                .and_then(Value::as_array)
                .filter(|e| e.len() == 1)?
                .first()
        })?;
        Some((key.clone(), value.as_str()?.to_owned()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn label(schema: &Value) -> String {
        type_label(schema).into_iter().map(|p| p.text).collect()
    }

    #[test]
    fn labels_name_types_and_link_schemas() {
        let nullable =
            json!({"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Status"}]});
        assert_eq!(label(&nullable), "Status | null");
        let parts = type_label(&nullable);
        assert_eq!(parts[0].anchor.as_deref(), Some("schema-Status"));
        assert_eq!(
            label(&json!({"type": ["string", "null"], "format": "date-time"})),
            "string (date-time) | null"
        );
        assert_eq!(
            label(&json!({"type": "array", "items": {"$ref": "#/components/schemas/Line"}})),
            "array of Line"
        );
        assert_eq!(
            label(&json!({"type": "object", "additionalProperties": {"type": "string"}})),
            "map of string"
        );
    }

    #[test]
    fn tagged_unions_list_each_variant_under_a_heading() {
        let spec = json!({"components": {"schemas": {"Pricing": {"oneOf": [
            {"type": "object", "description": "Flat.", "required": ["model"], "properties": {
                "model": {"type": "string", "enum": ["flat"]}, "amount": {"type": "integer"}}},
            {"type": "object", "properties": {
                "model": {"type": "string", "enum": ["tiered"]}, "tiers": {"type": "array", "items": {"type": "integer"}}}},
        ]}}}});
        let views = schema_views(&spec);
        let rows: Vec<(bool, &str, &str)> = views[0]
            .fields
            .iter()
            .map(|f| (f.variant, f.name.as_str(), f.description_html.as_str()))
            .collect();
        assert_eq!(
            rows,
            [
                (
                    true,
                    "",
                    "When <code>model</code> is <code>flat</code>: Flat."
                ),
                (false, "amount", ""),
                (false, "model", "Always <code>flat</code>."),
                (true, "", "When <code>model</code> is <code>tiered</code>:"),
                (false, "model", "Always <code>tiered</code>."),
                (false, "tiers", ""),
            ]
        );
        assert!(views[0].fields[2].required && !views[0].fields[1].required);
    }

    #[test]
    fn inline_copies_of_components_become_links() {
        let invoice = json!({"type": "object", "properties": {"id": {"type": "string"}}});
        let spec = json!({"components": {"schemas": {
            "Invoice": invoice,
            "InvoiceList": {"type": "object", "properties": {"data": {"type": "array", "items": invoice}}},
        }}});
        let linked = link_inline_copies(&spec);
        assert_eq!(
            linked.pointer("/components/schemas/InvoiceList/properties/data/items"),
            Some(&json!({"$ref": "#/components/schemas/Invoice"}))
        );
        assert_eq!(
            linked.pointer("/components/schemas/Invoice"),
            Some(&invoice)
        );
    }
}
