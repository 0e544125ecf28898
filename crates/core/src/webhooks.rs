//! Outbound webhook endpoints: register, change, rotate the secret, re-enable, read the log.

use bursar_domain::id::WebhookEndpointId;
use bursar_domain::webhook::{WebhookEndpoint, WebhookSecret, SECRET_BYTES};
use bursar_store::{seal, webhooks};

use crate::error::Error;
use crate::write::Context;

/// How long the previous secret keeps signing after a rotation.
pub const ROTATION_GRACE_SECONDS: i64 = 24 * 3600;

pub fn parse_endpoint_id(id: &str) -> Result<WebhookEndpointId, Error> {
    WebhookEndpointId::parse(id, "id").map_err(|_| Error::not_found("webhook endpoint", id))
}

pub fn new_secret(given: Option<&str>) -> Result<WebhookSecret, Error> {
    match given {
        Some(text) => Ok(WebhookSecret::parse(text, "secret")?),
        None => Ok(WebhookSecret::from_bytes(seal::random_bytes(SECRET_BYTES))),
    }
}

pub async fn locked(
    cx: &mut Context<'_>,
    id: &WebhookEndpointId,
) -> Result<WebhookEndpoint, Error> {
    webhooks::get(cx.tx, cx.workspace_id, id, true)
        .await?
        .ok_or_else(|| Error::not_found("webhook endpoint", id.as_str()))
}
