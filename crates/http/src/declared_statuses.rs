//! What every operation can answer, declared in the OpenAPI document: the extractors and the
//! error mapping answer some statuses on every route of a kind (no key → 401, a read-only key
//! on a write → 403, an unknown id → 404, a malformed parameter → 400, past a rate limit →
//! 429, a body past the limit → 413), and the document must
//! say so for each operation, not only where a handler's own annotation remembered to.

use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};

/// Adds the statuses each operation answers by its kind, where not declared already.
pub fn declare(spec: &mut OpenApi) {
    for (path, item) in spec.paths.paths.iter_mut() {
        for (write, operation) in operations(item) {
            declare_operation(path, write, operation);
        }
    }
}

fn operations(item: &mut PathItem) -> Vec<(bool, &mut Operation)> {
    [
        (false, item.get.as_mut()),
        (true, item.post.as_mut()),
        (true, item.put.as_mut()),
        (true, item.patch.as_mut()),
        (true, item.delete.as_mut()),
    ]
    .into_iter()
    .filter_map(|(write, operation)| operation.map(|o| (write, o)))
    .collect()
}

fn declare_operation(path: &str, write: bool, operation: &mut Operation) {
    let secured = operation
        .security
        .as_ref()
        .is_some_and(|requirements| !requirements.is_empty());
    let takes_input = operation.request_body.is_some()
        || operation
            .parameters
            .as_ref()
            .is_some_and(|parameters| !parameters.is_empty());
    let mut add = |status: &str, description: &str| {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(error_response(description)));
    };
    if takes_input {
        add("400", "A parameter is invalid; the error names it.");
    }
    if secured {
        add("401", "No API key, or not a valid one.");
        add(
            "429",
            "Too many requests with this key, or failed authentications from this address; \
             retry after the Retry-After seconds.",
        );
        if write {
            add(
                "403",
                "The key may not do this (a read-only key on a write).",
            );
        }
    }
    if path.contains('{') || operation.request_body.is_some() {
        add(
            "404",
            "No such object in this workspace (in the path, or named by the body).",
        );
    }
    if operation.request_body.is_some() {
        add("413", "The body is larger than the server's limit.");
    }
}

fn error_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}
