//! Outbound webhook endpoints: register, change, rotate the secret, re-enable, read the log.

use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::id::WebhookEndpointId;
use bursar_domain::webhook::{
    EndpointObject, EndpointStatus, EventFilter, WebhookEndpoint, WebhookSecret, SECRET_BYTES,
};
use bursar_store::{seal, webhooks};
use serde_json::json;

use crate::error::{Error, ErrorKind};
use crate::write::Context;
use crate::App;

/// How long the previous secret keeps signing after a rotation.
pub const ROTATION_GRACE_SECONDS: i64 = 24 * 3600;

/// Checks an endpoint URL being registered: absolute http(s), and to an address outbound
/// requests may reach ([`bursar_outbound::Guard::check`]); deliveries check it again.
pub async fn check_url(guard: &bursar_outbound::Guard, url: &str) -> Result<String, Error> {
    let url = bursar_domain::webhook::parse_url(url, "url")?;
    guard.check(&url).await.map_err(|refusal| {
        Error::invalid(
            "parameter_invalid",
            Some("url".into()),
            format!("url {refusal}."),
        )
    })?;
    Ok(url)
}

/// A new endpoint, its fields parsed.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub url: String,
    pub description: String,
    pub filter: EventFilter,
}

/// What an update changes; `None` keeps the field.
#[derive(Debug, Clone, Default)]
pub struct EndpointChanges {
    pub url: Option<String>,
    pub description: Option<String>,
    pub filter: Option<EventFilter>,
}

/// A signing secret, and the same sealed with the server's key for storage.
pub struct SealedSecret {
    pub secret: WebhookSecret,
    pub sealed: String,
}

/// An endpoint id from a path: one that cannot be an endpoint's is no such endpoint.
pub fn parse_endpoint_id(id: &str) -> Result<WebhookEndpointId, Error> {
    WebhookEndpointId::parse(id, "id").map_err(|_| Error::not_found("webhook endpoint", id))
}

/// The secret given (`whsec_…`), or a generated one.
pub fn new_secret(given: Option<&str>) -> Result<WebhookSecret, Error> {
    match given {
        Some(text) => Ok(WebhookSecret::parse(text, "secret")?),
        None => Ok(WebhookSecret::from_bytes(seal::random_bytes(SECRET_BYTES))),
    }
}

/// The secret given (or a generated one), sealed; refused when the server has no secret key.
pub fn sealed_secret(app: &App, given: Option<&str>) -> Result<SealedSecret, Error> {
    let secret = new_secret(given)?;
    let sealed = app.db.sealer()?.seal(&secret.expose())?;
    Ok(SealedSecret { secret, sealed })
}

/// The endpoint, locked for this write.
pub async fn locked(
    cx: &mut Context<'_>,
    id: &WebhookEndpointId,
) -> Result<WebhookEndpoint, Error> {
    webhooks::get(cx.tx, cx.workspace_id, id, true)
        .await?
        .ok_or_else(|| Error::not_found("webhook endpoint", id.as_str()))
}

/// The endpoint as events carry it: never with its secret.
fn in_event(endpoint: &WebhookEndpoint) -> serde_json::Value {
    json!({ "object": EndpointObject::new(endpoint, None) })
}

async fn emit(
    cx: &mut Context<'_>,
    event_type: &'static str,
    endpoint: &WebhookEndpoint,
    payload: serde_json::Value,
) -> Result<(), Error> {
    cx.emit(NewEvent::new(
        event_type,
        "webhook_endpoint",
        endpoint.id.as_str(),
        payload,
    ))
    .await
}

/// Registers an endpoint, enabled; the answer carries its secret.
pub async fn create(
    cx: &mut Context<'_>,
    new: NewEndpoint,
    secret: SealedSecret,
) -> Result<EndpointObject, Error> {
    let endpoint = WebhookEndpoint {
        id: WebhookEndpointId::new(),
        url: new.url,
        description: new.description,
        filter: new.filter,
        status: EndpointStatus::Enabled,
        disabled_reason: None,
        consecutive_failures: 0,
        created_at: cx.now,
        updated_at: cx.now,
    };
    webhooks::insert(cx.tx, cx.workspace_id, &endpoint, &secret.sealed).await?;
    let payload = in_event(&endpoint);
    emit(cx, event_type::WEBHOOK_ENDPOINT_CREATED, &endpoint, payload).await?;
    Ok(EndpointObject::new(&endpoint, Some(&secret.secret)))
}

/// Changes an endpoint's URL, description or event types.
pub async fn update(
    cx: &mut Context<'_>,
    id: &WebhookEndpointId,
    changes: EndpointChanges,
) -> Result<EndpointObject, Error> {
    let mut endpoint = locked(cx, id).await?;
    let previous = in_event(&endpoint);
    if let Some(url) = changes.url {
        endpoint.url = url;
    }
    if let Some(filter) = changes.filter {
        endpoint.filter = filter;
    }
    if let Some(description) = changes.description {
        endpoint.description = description;
    }
    endpoint.updated_at = cx.now;
    webhooks::update(cx.tx, cx.workspace_id, &endpoint).await?;
    let payload = json!({
        "object": EndpointObject::new(&endpoint, None),
        "previous": previous["object"],
    });
    emit(cx, event_type::WEBHOOK_ENDPOINT_UPDATED, &endpoint, payload).await?;
    Ok(EndpointObject::new(&endpoint, None))
}

/// Replaces the signing secret; the previous one keeps signing for
/// [`ROTATION_GRACE_SECONDS`]. The answer carries the new secret.
pub async fn rotate_secret(
    cx: &mut Context<'_>,
    id: &WebhookEndpointId,
    secret: SealedSecret,
) -> Result<EndpointObject, Error> {
    let mut endpoint = locked(cx, id).await?;
    endpoint.updated_at = cx.now;
    let grace_until = cx.now.plus_seconds(ROTATION_GRACE_SECONDS);
    webhooks::rotate_secret(
        cx.tx,
        cx.workspace_id,
        id,
        &secret.sealed,
        grace_until,
        cx.now,
    )
    .await?;
    let payload = in_event(&endpoint);
    emit(
        cx,
        event_type::WEBHOOK_ENDPOINT_SECRET_ROTATED,
        &endpoint,
        payload,
    )
    .await?;
    Ok(EndpointObject::new(&endpoint, Some(&secret.secret)))
}

/// Re-enables a disabled endpoint, its failure count afresh; refused if it is enabled.
pub async fn enable(cx: &mut Context<'_>, id: &WebhookEndpointId) -> Result<EndpointObject, Error> {
    let mut endpoint = locked(cx, id).await?;
    if endpoint.status == EndpointStatus::Enabled {
        return Err(Error::new(
            ErrorKind::Conflict,
            "endpoint_already_enabled",
            format!("Webhook endpoint '{id}' is enabled already (status: enabled)."),
        ));
    }
    endpoint.status = EndpointStatus::Enabled;
    endpoint.disabled_reason = None;
    endpoint.consecutive_failures = 0;
    endpoint.updated_at = cx.now;
    webhooks::update(cx.tx, cx.workspace_id, &endpoint).await?;
    let payload = in_event(&endpoint);
    emit(cx, event_type::WEBHOOK_ENDPOINT_ENABLED, &endpoint, payload).await?;
    Ok(EndpointObject::new(&endpoint, None))
}
