//! Example values generated from JSON Schemas of the OpenAPI document, for the request and
//! response examples of the reference page.
//!
//! A schema's own `example`, `examples`, `const`, `default` or first `enum` value wins; then
//! `$ref`s are followed to `#/components/schemas`, `allOf` parts are merged, the first non-null
//! `oneOf`/`anyOf` variant is taken, and a placeholder is made per type and format (hinted by
//! the property's name). A schema met again inside itself becomes `{}`/`[]`, and nesting stops
//! at [`MAX_DEPTH`], so cyclic schemas terminate.

use serde_json::{json, Map, Value};

/// How deep examples nest before the rest is left out (`null`).
pub const MAX_DEPTH: usize = 8;

/// An example value for `schema`, resolving references against `spec`: every property.
pub fn example(spec: &Value, schema: &Value) -> Value {
    Generator {
        spec,
        stack: Vec::new(),
        minimal: false,
    }
    .value(schema, "", 0)
}

/// An example request body: the required properties and those the document gives an example
/// for (the ones a caller is likeliest to send as shown), or every property when that leaves
/// an object empty.
pub fn request_example(spec: &Value, schema: &Value) -> Value {
    Generator {
        spec,
        stack: Vec::new(),
        minimal: true,
    }
    .value(schema, "", 0)
}

struct Generator<'a> {
    spec: &'a Value,
    /// The `$ref`s being expanded, outermost first.
    stack: Vec<&'a str>,
    /// Leave out optional properties without an example of their own.
    minimal: bool,
}

/// The schema a local `$ref` points at.
pub fn resolve<'a>(spec: &'a Value, reference: &str) -> Option<&'a Value> {
    spec.pointer(reference.strip_prefix('#')?)
}

/// The types a schema allows, `null` left out: `"string"` or `["string", "null"]`.
pub fn types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether a schema is only `{"type": "null"}`.
pub fn is_null(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
}

impl<'a> Generator<'a> {
    fn value(&mut self, schema: &'a Value, name: &str, depth: usize) -> Value {
        if depth > MAX_DEPTH {
            return Value::Null;
        }
        if let Some(given) = given_example(schema) {
            return given;
        }
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let Some(target) = resolve(self.spec, reference) else {
                return Value::Null;
            };
            if self.stack.contains(&reference) {
                return empty_like(target);
            }
            self.stack.push(reference);
            let value = self.value(target, name, depth + 1);
            self.stack.pop();
            return value;
        }
        if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
            let mut merged = Map::new();
            let mut other = None;
            for part in parts {
                match self.value(part, name, depth + 1) {
                    Value::Object(fields) => merged.extend(fields),
                    value => other = other.or(Some(value)),
                }
            }
            return match other {
                Some(value) if merged.is_empty() => value,
                _ => Value::Object(merged),
            };
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(variants) = schema.get(key).and_then(Value::as_array) {
                let variant = variants.iter().find(|v| !is_null(v)).or(variants.first());
                return match variant {
                    Some(variant) => self.value(variant, name, depth + 1),
                    None => Value::Null,
                };
            }
        }
        let types = types(schema);
        let kind = types.first().copied().unwrap_or_else(|| {
            if schema.get("properties").is_some() {
                "object"
            } else if schema.get("items").is_some() {
                "array"
            } else if is_null(schema) {
                "null"
            } else {
                ""
            }
        });
        match kind {
            "object" => self.object(schema, depth),
            "array" => match schema.get("items") {
                Some(items) => {
                    let item = self.value(items, name, depth + 1);
                    Value::Array(if item.is_null() {
                        Vec::new()
                    } else {
                        vec![item]
                    })
                }
                None => json!([]),
            },
            "string" => string_placeholder(schema, name),
            "integer" => json!(number_placeholder(schema, name) as i64),
            "number" => json!(number_placeholder(schema, name)),
            "boolean" => json!(false),
            "null" => Value::Null,
            // `{}`: any JSON value.
            _ => json!({}),
        }
    }

    fn object(&mut self, schema: &'a Value, depth: usize) -> Value {
        let mut fields = Map::new();
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let shown = |(key, property): &(&String, &Value)| {
                !self.minimal
                    || required.contains(&key.as_str())
                    || given_example(property).is_some()
            };
            let mut chosen: Vec<(&String, &Value)> = properties.iter().filter(shown).collect();
            if chosen.is_empty() {
                chosen = properties.iter().collect();
            }
            for (key, property) in chosen {
                fields.insert(key.clone(), self.value(property, key, depth + 1));
            }
        }
        match schema.get("additionalProperties") {
            Some(extra @ Value::Object(_)) if fields.is_empty() => {
                let value = self.value(extra, "", depth + 1);
                fields.insert("key".to_owned(), value);
            }
            _ => {}
        }
        Value::Object(fields)
    }
}

/// A value the schema itself gives.
fn given_example(schema: &Value) -> Option<Value> {
    if let Some(example) = schema.get("example") {
        return Some(example.clone());
    }
    if let Some(first) = schema
        .get("examples")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return Some(first.clone());
    }
    if let Some(value) = schema.get("const").or_else(|| schema.get("default")) {
        return Some(value.clone());
    }
    let values = schema.get("enum").and_then(Value::as_array)?;
    values
        .iter()
        .find(|v| !v.is_null())
        .or(values.first())
        .cloned()
}

/// How wide a line of [`pretty`] JSON may grow by keeping a small array or object on it.
pub const WIDTH: usize = 60;

/// Indented JSON, as `serde_json::to_string_pretty` writes it, except that an array or object
/// that fits on its line stays on one line: `"metadata": {"key": "string"}`.
pub fn pretty(value: &Value) -> String {
    pretty_at(value, 0)
}

/// [`pretty`] JSON that starts `column` characters into its first line.
pub fn pretty_at(value: &Value, column: usize) -> String {
    let mut out = String::new();
    write_pretty(value, 0, column, &mut out);
    out
}

/// `value` at `indent`, `used` columns of its line already taken.
fn write_pretty(value: &Value, indent: usize, used: usize, out: &mut String) {
    let flat = flat(value);
    let fits = indent + used + flat.len() <= WIDTH;
    let pad = |n: usize| " ".repeat(n);
    match value {
        Value::Array(items) if !fits && !items.is_empty() => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                out.push_str(&pad(indent + 2));
                write_pretty(item, indent + 2, 0, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(indent));
            out.push(']');
        }
        Value::Object(fields) if !fits && !fields.is_empty() => {
            out.push_str("{\n");
            for (i, (key, field)) in fields.iter().enumerate() {
                let key = flat_string(key);
                out.push_str(&pad(indent + 2));
                out.push_str(&key);
                out.push_str(": ");
                write_pretty(field, indent + 2, key.len() + 2, out);
                out.push_str(if i + 1 < fields.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(indent));
            out.push('}');
        }
        _ => out.push_str(&flat),
    }
}

/// One-line JSON with a space after each `,` and `:`.
fn flat(value: &Value) -> String {
    match value {
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(flat).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{}: {}", flat_string(k), flat(v)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
        other => other.to_string(),
    }
}

fn flat_string(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

/// What a schema met again inside itself stands for: an empty object or list.
fn empty_like(schema: &Value) -> Value {
    if types(schema).contains(&"array") || schema.get("items").is_some() {
        json!([])
    } else {
        json!({})
    }
}

fn string_placeholder(schema: &Value, name: &str) -> Value {
    let format = schema.get("format").and_then(Value::as_str).unwrap_or("");
    let text = match format {
        "date-time" => "2025-01-15T09:30:00Z",
        "date" => "2025-01-15",
        "time" => "09:30:00",
        "email" => "ada@example.com",
        "uri" | "url" => "https://example.com",
        "uuid" => "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
        "binary" | "byte" => "<bytes>",
        _ if name == "email" || name.ends_with("_email") => "ada@example.com",
        _ if name.ends_with("_at") => "2025-01-15T09:30:00Z",
        _ if name == "currency" => "USD",
        _ if name.ends_with("url") => "https://example.com",
        _ => "string",
    };
    json!(text)
}

fn number_placeholder(schema: &Value, name: &str) -> f64 {
    let minimum = schema.get("minimum").and_then(Value::as_f64);
    let maximum = schema.get("maximum").and_then(Value::as_f64);
    let mut value: f64 = if name.contains("amount") { 1000.0 } else { 1.0 };
    if let Some(minimum) = minimum {
        value = value.max(minimum);
    }
    if let Some(maximum) = maximum {
        value = value.min(maximum);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(schemas: Value) -> Value {
        json!({"components": {"schemas": schemas}})
    }

    #[test]
    fn refs_are_followed_and_examples_win() {
        let spec = spec(json!({
            "Customer": {"type": "object", "required": ["id"], "properties": {
                "id": {"type": "string", "example": "cus_1"},
                "email": {"type": ["string", "null"]},
                "created_at": {"type": "string"},
                "address": {"$ref": "#/components/schemas/Address"},
            }},
            "Address": {"type": "object", "properties": {"city": {"type": "string", "default": "Paris"}}},
        }));
        let value = example(&spec, &json!({"$ref": "#/components/schemas/Customer"}));
        assert_eq!(
            value,
            json!({"id": "cus_1", "email": "ada@example.com",
                   "created_at": "2025-01-15T09:30:00Z", "address": {"city": "Paris"}})
        );
    }

    #[test]
    fn arrays_enums_maps_and_nullable_variants() {
        let spec = spec(json!({
            "Status": {"type": "string", "enum": ["open", "paid"]},
            "Line": {"type": "object", "properties": {"quantity": {"type": "integer", "minimum": 0}}},
        }));
        let schema = json!({"type": "object", "properties": {
            "lines": {"type": "array", "items": {"$ref": "#/components/schemas/Line"}},
            "status": {"$ref": "#/components/schemas/Status"},
            "previous": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Status"}]},
            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
            "total": {"allOf": [{"type": "object", "properties": {"amount": {"type": "integer", "format": "int64"}}},
                                {"type": "object", "properties": {"currency": {"type": "string"}}}]},
            "any": {},
        }});
        assert_eq!(
            example(&spec, &schema),
            json!({
                "lines": [{"quantity": 1}],
                "status": "open",
                "previous": "open",
                "metadata": {"key": "string"},
                "total": {"amount": 1000, "currency": "USD"},
                "any": {},
            })
        );
    }

    #[test]
    fn pretty_keeps_small_containers_on_one_line() {
        let value = json!({"id": "cus_1", "metadata": {"key": "string"}, "tags": [],
            "lines": [{"description": "A rather long description of a line item", "quantity": 1}]});
        assert_eq!(
            pretty(&value),
            "{\n  \"id\": \"cus_1\",\n  \"lines\": [\n    {\n      \"description\": \"A rather long description of a line item\",\n      \"quantity\": 1\n    }\n  ],\n  \"metadata\": {\"key\": \"string\"},\n  \"tags\": []\n}"
        );
        assert_eq!(
            serde_json::from_str::<Value>(&pretty(&value)).ok(),
            Some(value)
        );
        assert_eq!(pretty(&json!("a<b")), "\"a<b\"");
    }

    #[test]
    fn request_examples_keep_required_and_exemplified_properties() {
        let spec = spec(json!({}));
        let schema = json!({"type": "object", "required": ["currency"], "properties": {
            "currency": {"type": "string"},
            "email": {"type": "string", "example": "ada@example.com"},
            "company_id": {"type": ["string", "null"]},
            "nested": {"type": "object", "properties": {"a": {"type": "string"}}},
        }});
        assert_eq!(
            request_example(&spec, &schema),
            json!({"currency": "USD", "email": "ada@example.com"})
        );
        // Nothing required and nothing exemplified: every property, so the example says something.
        let update = json!({"type": "object", "properties": {"name": {"type": "string"}}});
        assert_eq!(request_example(&spec, &update), json!({"name": "string"}));
        assert_eq!(example(&spec, &schema)["nested"], json!({"a": "string"}));
    }

    #[test]
    fn cyclic_schemas_terminate() {
        let spec = spec(json!({
            "Node": {"type": "object", "properties": {
                "name": {"type": "string"},
                "parent": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Node"}]},
                "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
            }},
            "A": {"type": "object", "properties": {"b": {"$ref": "#/components/schemas/B"}}},
            "B": {"type": "object", "properties": {"a": {"$ref": "#/components/schemas/A"}}},
        }));
        assert_eq!(
            example(&spec, &json!({"$ref": "#/components/schemas/Node"})),
            json!({"name": "string", "parent": {}, "children": [{}]})
        );
        assert_eq!(
            example(&spec, &json!({"$ref": "#/components/schemas/A"})),
            json!({"b": {"a": {}}})
        );
        // Deep nesting without references is cut at MAX_DEPTH.
        let mut deep = json!({"type": "string"});
        for _ in 0..50 {
            deep = json!({"type": "array", "items": deep});
        }
        let value = example(&spec, &deep);
        let mut levels = 0;
        let mut node = &value;
        while let Some(first) = node.as_array().and_then(|a| a.first()) {
            levels += 1;
            node = first;
        }
        assert!(levels <= MAX_DEPTH + 1, "{levels} levels");
        // A dangling reference gives null rather than failing.
        assert_eq!(
            example(&spec, &json!({"$ref": "#/components/schemas/Nope"})),
            Value::Null
        );
    }
}
