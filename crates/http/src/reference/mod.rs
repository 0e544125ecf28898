//! The API reference page at `/docs`, rendered from the OpenAPI document (as JSON: simpler to
//! walk than utoipa's typed model, and exactly what clients see).
//!
//! Operations are grouped by tag in the document's tag order; each shows its parameters, a
//! curl request (with a JSON body generated from the request schema), an example of its
//! success response and its responses; schema names link to the "Schemas" section. The page is
//! self-contained (inline CSS and a small inline script for the filter box) and works without
//! JavaScript. Text from the document is escaped: askama escapes fields, and the markdown
//! renderer ([`markdown`]) and the code blocks escape what they turn into HTML.

pub mod example;
pub mod markdown;
pub mod schemas;

use std::collections::HashSet;

use askama::Template;
use serde_json::Value;

use schemas::{slug, type_label, SchemaView, TypePart};

/// Where the examples send requests until the page's script puts in the page's own origin
/// (the script looks for this string).
const EXAMPLE_ORIGIN: &str = "http://127.0.0.1:8080";

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

#[derive(Template)]
#[template(path = "reference.html")]
struct Page {
    title: String,
    version: String,
    intro_html: String,
    tags: Vec<TagView>,
    schemas: Vec<SchemaView>,
}

struct TagView {
    anchor: String,
    name: String,
    description_html: String,
    ops: Vec<OpView>,
}

struct OpView {
    anchor: String,
    /// `get`, `post`, ...: the badge's class.
    method: String,
    path: String,
    /// The summary (inline markdown, as HTML), or the method and path when there is none.
    title_html: String,
    description_html: String,
    secured: bool,
    deprecated: bool,
    params: Vec<ParamView>,
    body: Option<BodyView>,
    /// The curl command, escaped for a `<pre>`.
    curl_html: String,
    success: Option<SuccessView>,
    responses: Vec<ResponseView>,
}

struct ParamView {
    name: String,
    location: String,
    required: bool,
    ty: Vec<TypePart>,
    description_html: String,
}

struct BodyView {
    content_type: String,
    ty: Vec<TypePart>,
    required: bool,
    description_html: String,
}

struct SuccessView {
    status: String,
    content_type: String,
    ty: Vec<TypePart>,
    /// The example's pretty JSON, escaped for a `<pre>`; empty when the body is not JSON.
    example_html: String,
}

struct ResponseView {
    status: String,
    /// `2`, `4`, `5`...: the first digit, for the status badge's colour.
    class: String,
    description_html: String,
    ty: Vec<TypePart>,
}

/// Renders the reference page.
pub fn render(spec: &Value) -> String {
    let spec = &schemas::link_inline_copies(spec);
    let info = spec.get("info").unwrap_or(&Value::Null);
    let mut intro = text(info, "description").to_owned();
    intro.push_str(
        "\n\nAuthenticate with an API key: `Authorization: Bearer sk_…`. \
         Every POST accepts an `Idempotency-Key` header: a retry with the same key returns the \
         first response instead of acting twice. Every error has the shape \
         `{\"error\": {\"type\", \"code\", \"message\", \"param\"}}` ([ErrorBody](#schema-ErrorBody)). \
         The curl examples call the server this page came from \
         (`http://127.0.0.1:8080`, the default address of `bursar serve`, when read offline). \
         The machine-readable document is at [/openapi.json](/openapi.json).",
    );
    let page = Page {
        title: text(info, "title").to_owned(),
        version: text(info, "version").to_owned(),
        intro_html: markdown::render(&intro),
        tags: tag_views(spec),
        schemas: schemas::schema_views(spec),
    };
    page.render()
        .unwrap_or_else(|e| format!("reference page failed to render: {e}"))
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A local `$ref` followed (once), or the value itself.
fn deref<'a>(spec: &'a Value, value: &'a Value) -> &'a Value {
    value
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| example::resolve(spec, r))
        .unwrap_or(value)
}

/// Operations grouped by their first tag: the document's tags first, in its order, then any
/// other tag in the order it first appears.
fn tag_views(spec: &Value) -> Vec<TagView> {
    let mut tags: Vec<TagView> = spec
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| TagView {
            anchor: format!("tag-{}", slug(text(t, "name"))),
            name: text(t, "name").to_owned(),
            description_html: markdown::render(text(t, "description")),
            ops: Vec::new(),
        })
        .collect();
    let mut anchors = HashSet::new();
    let paths = spec.get("paths").and_then(Value::as_object);
    for (path, item) in paths.into_iter().flatten() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let tag = op
                .pointer("/tags/0")
                .and_then(Value::as_str)
                .unwrap_or("other");
            let index = match tags.iter().position(|t| t.name == tag) {
                Some(index) => index,
                None => {
                    tags.push(TagView {
                        anchor: format!("tag-{}", slug(tag)),
                        name: tag.to_owned(),
                        description_html: String::new(),
                        ops: Vec::new(),
                    });
                    tags.len() - 1
                }
            };
            let mut view = op_view(spec, path, method, item, op);
            while !anchors.insert(view.anchor.clone()) {
                view.anchor.push('_');
            }
            tags[index].ops.push(view);
        }
    }
    tags.retain(|t| !t.ops.is_empty());
    tags
}

/// `post-v1-customers-id` for `POST /v1/customers/{id}`.
fn op_anchor(method: &str, path: &str) -> String {
    let mut anchor = method.to_owned();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        anchor.push('-');
        anchor.push_str(&slug(segment.trim_matches(['{', '}'])));
    }
    anchor
}

fn is_json(content_type: &str) -> bool {
    content_type == "application/json" || content_type.ends_with("+json")
}

fn op_view(spec: &Value, path: &str, method: &str, item: &Value, op: &Value) -> OpView {
    let summary = text(op, "summary");
    let title_html = if summary.is_empty() {
        markdown::escape(&format!("{} {path}", method.to_uppercase()))
    } else {
        markdown::inline(summary)
    };
    let params: Vec<ParamView> = item
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(
            op.get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        )
        .map(|p| deref(spec, p))
        .map(|p| ParamView {
            name: text(p, "name").to_owned(),
            location: text(p, "in").to_owned(),
            required: p.get("required").and_then(Value::as_bool).unwrap_or(false),
            ty: p.get("schema").map(type_label).unwrap_or_default(),
            description_html: markdown::render_cell(text(p, "description")),
        })
        .collect();

    let request = op.get("requestBody").map(|b| deref(spec, b));
    let request_content = request
        .and_then(|b| b.get("content"))
        .and_then(Value::as_object)
        .and_then(|c| c.iter().next());
    let body = request_content.map(|(content_type, media)| BodyView {
        content_type: content_type.clone(),
        ty: media.get("schema").map(type_label).unwrap_or_default(),
        required: request
            .and_then(|b| b.get("required"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        description_html: markdown::render(request.map_or("", |b| text(b, "description"))),
    });

    let responses = op.get("responses").and_then(Value::as_object);
    let success = responses
        .into_iter()
        .flatten()
        .find(|(status, _)| status.starts_with('2'))
        .map(|(status, response)| {
            let response = deref(spec, response);
            let content = response
                .get("content")
                .and_then(Value::as_object)
                .and_then(|c| c.iter().next());
            let schema = content.and_then(|(_, media)| media.get("schema"));
            let example_html = match (content, schema) {
                (Some((content_type, _)), Some(schema)) if is_json(content_type) => {
                    markdown::escape_text(&example::pretty(&example::example(spec, schema)))
                }
                _ => String::new(),
            };
            SuccessView {
                status: status.clone(),
                content_type: content.map(|(t, _)| t.clone()).unwrap_or_default(),
                ty: schema.map(type_label).unwrap_or_default(),
                example_html,
            }
        });
    let responses = responses
        .into_iter()
        .flatten()
        .map(|(status, response)| {
            let response = deref(spec, response);
            let schema = response
                .get("content")
                .and_then(Value::as_object)
                .and_then(|c| c.values().next())
                .and_then(|media| media.get("schema"));
            let description = match text(response, "description") {
                "" => markdown::escape(reason(status)),
                given => markdown::render_cell(given),
            };
            ResponseView {
                status: status.clone(),
                class: status.chars().take(1).collect(),
                description_html: description,
                ty: schema.map(type_label).unwrap_or_default(),
            }
        })
        .collect();

    let secured = op
        .get("security")
        .or_else(|| spec.get("security"))
        .and_then(Value::as_array)
        .is_some_and(|s| {
            s.iter()
                .any(|r| r.as_object().is_some_and(|r| !r.is_empty()))
        });
    let curl_html = curl(spec, method, path, secured, request_content);
    OpView {
        anchor: op_anchor(method, path),
        method: method.to_owned(),
        path: path.to_owned(),
        title_html,
        description_html: markdown::render(text(op, "description")),
        secured,
        deprecated: op.get("deprecated").and_then(Value::as_bool) == Some(true),
        params,
        body,
        curl_html,
        success,
        responses,
    }
}

/// What a status code means, for responses the document gives no description.
fn reason(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted",
        "204" => "No content",
        "301" | "302" | "303" | "307" => "Redirect",
        "304" => "Not modified",
        "400" => "Invalid request",
        "401" => "No valid API key",
        "402" => "Payment required",
        "403" => "The key may not do this",
        "404" => "Not found",
        "405" => "Method not allowed",
        "409" => "Conflict with the current state",
        "410" => "Gone",
        "413" => "Body too large",
        "415" => "Unsupported content type",
        "422" => "Cannot be processed",
        "429" => "Too many requests",
        "500" => "Internal error",
        "502" => "Upstream error",
        "503" => "Unavailable",
        "504" => "Upstream timeout",
        _ => "",
    }
}

/// The curl command for an operation, as HTML for a `<pre>`.
fn curl(
    spec: &Value,
    method: &str,
    path: &str,
    secured: bool,
    body: Option<(&String, &Value)>,
) -> String {
    let mut lines = vec![format!(
        "curl{} \"{EXAMPLE_ORIGIN}{}\"",
        if method == "get" {
            String::new()
        } else {
            format!(" -X {}", method.to_uppercase())
        },
        markdown::escape(path),
    )];
    if secured {
        lines.push("  -H \"Authorization: Bearer sk_…\"".to_owned());
    }
    if method == "post" {
        lines.push("  -H \"Idempotency-Key: $(uuidgen)\"".to_owned());
    }
    if let Some((content_type, media)) = body {
        lines.push(format!(
            "  -H \"Content-Type: {}\"",
            markdown::escape(content_type)
        ));
        match media.get("schema") {
            Some(schema) if is_json(content_type) => {
                // The body's own object always opens on its own lines.
                let json =
                    example::pretty_at(&example::request_example(spec, schema), example::WIDTH)
                        .replace('\'', "'\\''")
                        .replace('\n', "\n  ");
                lines.push(format!("  -d '{}'", markdown::escape_text(&json)));
            }
            _ => lines.push("  --data-binary @file".to_owned()),
        }
    }
    lines.join(" \\\n")
}

/// The names of component schemas an operation's request and success response use.
#[cfg(test)]
fn linked_schemas(view: &OpView) -> Vec<String> {
    let names = |ty: &[TypePart]| -> Vec<String> {
        ty.iter()
            .filter(|p| p.anchor.is_some())
            .map(|p| p.text.clone())
            .collect()
    };
    let mut out = Vec::new();
    if let Some(body) = &view.body {
        out.extend(names(&body.ty));
    }
    if let Some(success) = &view.success {
        out.extend(names(&success.ty));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_document_renders_with_examples_and_links() {
        let spec = serde_json::to_value(crate::openapi()).unwrap_or_default();
        let html = render(&spec);
        println!("reference page: {} bytes", html.len());
        if let Some(path) = std::env::var_os("BURSAR_REFERENCE_OUT") {
            std::fs::write(path, &html).unwrap_or_default();
        }
        // About 820 KB since devices, job runs, two-lane timelines and the KPI bar (it was
        // 690 KB for 190 operations and 328 schemas; 74 KB gzip-compressed, as sent); the bound
        // grows with the API on purpose, not by accident.
        assert!(
            html.len() < 900_000,
            "the page stays small: {} bytes",
            html.len()
        );
        assert!(
            html.contains("id=\"post-v1-customers\""),
            "anchor of POST /v1/customers"
        );
        assert!(html.contains("id=\"schema-CustomerObject\""));
        assert!(!html.contains("<script>alert"), "no raw text");
        // Every link to a schema has its anchor on the page.
        for link in html.split("href=\"#").skip(1) {
            let anchor = link.split('"').next().unwrap_or("");
            assert!(
                html.contains(&format!("id=\"{anchor}\"")),
                "dangling link #{anchor}"
            );
        }
        // Descriptions render their backticks as code.
        let customers = tag_views(&spec);
        let create = customers
            .iter()
            .flat_map(|t| &t.ops)
            .find(|o| o.anchor == "post-v1-customers");
        let Some(create) = create else {
            unreachable!("POST /v1/customers is documented")
        };
        assert!(
            create.curl_html.contains("&quot;email&quot;")
                || create.curl_html.contains("\"email\"")
        );
        assert!(create.curl_html.contains("Idempotency-Key"));
        assert!(create.curl_html.contains("Authorization: Bearer sk_…"));
        assert_eq!(
            linked_schemas(create),
            ["CreateCustomerRequest", "CustomerObject"]
        );
    }

    #[test]
    fn hostile_descriptions_are_escaped_everywhere() {
        let spec = serde_json::json!({
            "info": {"title": "<script>t</script>", "version": "1", "description": "<img onerror=x>"},
            "tags": [{"name": "a<b", "description": "<script>alert(1)</script>"}],
            "paths": {"/x/{id}": {"post": {
                "tags": ["a<b"], "summary": "<b>sum</b>", "description": "`<script>`",
                "parameters": [{"name": "<x-p>", "in": "query", "description": "<x-d>"}],
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/S"}}}},
                "responses": {"200": {"description": "<i>ok</i>", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/S"}}}}}
            }}},
            "components": {"schemas": {"S": {"type": "object", "description": "<script>s</script>",
                "properties": {"<k>": {"type": "string", "example": "</pre><script>x</script>'"}}}}}
        });
        let html = render(&spec);
        for raw in [
            "<script>t",
            "<script>alert",
            "<script>s",
            "<script>x",
            "<img",
            "<b>sum",
            "<i>ok",
            "<x-p>",
            "<x-d>",
            "<k>",
        ] {
            assert!(!html.contains(raw), "{raw} came through unescaped");
        }
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(
            html.contains("'\\''"),
            "a quote in the curl body is shell-escaped"
        );
    }
}
