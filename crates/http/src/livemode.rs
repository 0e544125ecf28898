//! `livemode` on every object the API answers: [`Json`], the answer of a workspace, writes it
//! after the `object` field of every object while serializing (see
//! [`bursar_domain::livemode`]); idempotent writes store their answers the same way (in the
//! core's `write_once`), so replays carry it too. [`declare`] puts it in the OpenAPI document:
//! every schema with an `object` property gets a required boolean `livemode`.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use bursar_domain::auth::WorkspaceMode;
use bursar_domain::livemode;
use bytes::{BufMut, BytesMut};
use serde::Serialize;
use utoipa::openapi::schema::{AdditionalProperties, ArrayItems, Object, Schema, Type};
use utoipa::openapi::{ObjectBuilder, OpenApi, RefOr};

use crate::error::ApiError;

/// A JSON answer of a workspace: every object in it says whether the workspace is live.
/// Built by [`crate::extract::Principal::json`] (or [`Json::new`] where the workspace is known
/// otherwise), never without a mode.
#[derive(Debug)]
pub struct Json<T> {
    value: T,
    live: bool,
}

impl<T> Json<T> {
    pub fn new(value: T, mode: WorkspaceMode) -> Self {
        Json {
            value,
            live: mode == WorkspaceMode::Live,
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        let mut body = BytesMut::with_capacity(128).writer();
        if let Err(error) = livemode::to_writer(&mut body, &self.value, self.live) {
            tracing::error!(%error, "BUG: an answer did not serialize");
            return ApiError::internal().into_response();
        }
        let mut response = body.into_inner().freeze().into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

/// What the `livemode` property says, in the document.
const DESCRIPTION: &str =
    "Whether the object belongs to a live workspace (true) or a sandbox (false).";

/// Declares `livemode` (a required boolean) on every schema of `spec` with an `object`
/// property: the named schemas and those written inline in operations' answers.
pub fn declare(spec: &mut OpenApi) {
    if let Some(components) = spec.components.as_mut() {
        components.schemas.values_mut().for_each(declare_in);
    }
    for item in spec.paths.paths.values_mut() {
        let operations = [
            item.get.as_mut(),
            item.post.as_mut(),
            item.put.as_mut(),
            item.patch.as_mut(),
            item.delete.as_mut(),
        ];
        for operation in operations.into_iter().flatten() {
            for response in operation.responses.responses.values_mut() {
                let RefOr::T(response) = response else {
                    continue;
                };
                for content in response.content.values_mut() {
                    content.schema.iter_mut().for_each(declare_in);
                }
            }
        }
    }
}

fn declare_in(schema: &mut RefOr<Schema>) {
    let RefOr::T(schema) = schema else {
        return;
    };
    match schema {
        Schema::Object(object) => declare_in_object(object),
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                declare_in(items);
            }
        }
        Schema::AllOf(all) => all.items.iter_mut().for_each(declare_in),
        Schema::OneOf(one) => one.items.iter_mut().for_each(declare_in),
        Schema::AnyOf(any) => any.items.iter_mut().for_each(declare_in),
        _ => {}
    }
}

fn declare_in_object(object: &mut Object) {
    object.properties.values_mut().for_each(declare_in);
    if let Some(AdditionalProperties::RefOr(values)) = object.additional_properties.as_deref_mut() {
        declare_in(values);
    }
    if !object.properties.contains_key("object") || object.properties.contains_key(livemode::FIELD)
    {
        return;
    }
    let property = ObjectBuilder::new()
        .schema_type(Type::Boolean)
        .description(Some(DESCRIPTION))
        .build();
    object.properties.insert(
        livemode::FIELD.to_owned(),
        RefOr::T(Schema::Object(property)),
    );
    object.required.push(livemode::FIELD.to_owned());
}
