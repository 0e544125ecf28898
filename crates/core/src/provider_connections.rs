//! A workspace's connections to payment providers, as the merchant manages them: connected
//! ([`create`]) and changed ([`update`]: name, API key, rotated signing secrets, API base),
//! their secrets sealed.

use bursar_domain::commerce::parse_text;
use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::id::ProviderId;
use bursar_domain::payment_provider::PaymentProviderObject;
use bursar_domain::ValidationError;
use bursar_store::payment_providers::{self, ProviderRow};
use bursar_store::seal::Sealer;
use serde_json::json;

use crate::app::Payments;
use crate::error::Error;
use crate::providers::{check_api_base, check_secrets, decode_object, last4, random_token};
use crate::write::Context;

/// A connection asked for, as given.
#[derive(Debug, Clone)]
pub struct ConnectionRequest {
    /// `stripe`, `paypal` or `test`.
    pub kind: String,
    pub name: Option<String>,
    /// Stripe's secret key; PayPal's client secret.
    pub secret_key: Option<String>,
    /// Stripe's signing secrets; PayPal's signing certificates (PEM).
    pub webhook_secrets: Option<Vec<String>>,
    pub api_base: Option<String>,
    /// PayPal's client id.
    pub client_id: Option<String>,
    /// PayPal's webhook id.
    pub webhook_id: Option<String>,
}

/// A connection checked and ready to store: its signing secrets known (a `test` connection
/// gets a random one when none is given).
#[derive(Debug, Clone)]
pub struct NewConnection {
    pub kind: String,
    pub name: Option<String>,
    pub secret_key: Option<String>,
    pub webhook_secrets: Vec<String>,
    pub api_base: Option<String>,
    pub client_id: Option<String>,
    pub webhook_id: Option<String>,
}

/// Checks a connection asked for: its kind, the secrets it needs, its API base and name.
pub async fn check_new(
    guard: &bursar_outbound::Guard,
    request: ConnectionRequest,
) -> Result<NewConnection, Error> {
    if !["stripe", "paypal", "test"].contains(&request.kind.as_str()) {
        return Err(
            ValidationError::invalid("kind", "kind must be stripe, paypal or test.").into(),
        );
    }
    if request.kind != "test" && request.secret_key.is_none() {
        return Err(ValidationError::missing("secret_key").into());
    }
    let (client_id, webhook_id) = paypal_ids(&request)?;
    let webhook_secrets = match request.webhook_secrets {
        Some(secrets) => secrets,
        None if request.kind == "test" => vec![format!("whsec_{}", random_token(24))],
        None => return Err(ValidationError::missing("webhook_secrets").into()),
    };
    check_secrets(&webhook_secrets)?;
    if request.kind == "paypal" {
        check_certificates(&webhook_secrets)?;
    }
    if let Some(url) = &request.api_base {
        check_api_base(guard, url).await?;
    }
    Ok(NewConnection {
        kind: request.kind,
        name: parse_name(request.name)?,
        secret_key: request.secret_key,
        webhook_secrets,
        api_base: request.api_base,
        client_id,
        webhook_id,
    })
}

/// PayPal's client id and webhook id: required for `paypal`, refused for other kinds.
fn paypal_ids(request: &ConnectionRequest) -> Result<(Option<String>, Option<String>), Error> {
    let ids = [
        (&request.client_id, "client_id"),
        (&request.webhook_id, "webhook_id"),
    ];
    let mut checked = Vec::with_capacity(2);
    for (value, param) in ids {
        let value = match (request.kind == "paypal", value) {
            (true, None) => return Err(ValidationError::missing(param).into()),
            (true, Some(value)) => Some(parse_text(value, param, 200)?),
            (false, Some(_)) => {
                return Err(ValidationError::invalid(param, format!("{param} is PayPal's.")).into())
            }
            (false, None) => None,
        };
        checked.push(value);
    }
    let webhook_id = checked.pop().flatten();
    Ok((checked.pop().flatten(), webhook_id))
}

/// PayPal's signing secrets are its certificates: each must be one, in PEM.
fn check_certificates(secrets: &[String]) -> Result<(), Error> {
    for (i, secret) in secrets.iter().enumerate() {
        if !secret.contains("-----BEGIN CERTIFICATE-----") {
            return Err(ValidationError::invalid(
                format!("webhook_secrets[{i}]"),
                "A PayPal connection's signing secrets are PayPal's signing certificates, in PEM.",
            )
            .into());
        }
    }
    Ok(())
}

fn parse_name(name: Option<String>) -> Result<Option<String>, Error> {
    Ok(name.map(|n| parse_text(&n, "name", 100)).transpose()?)
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|_| Error::internal())
}

/// Stores a new connection, its secrets sealed (`payment_provider.created`).
pub async fn create(
    cx: &mut Context<'_>,
    sealer: &Sealer,
    new: NewConnection,
) -> Result<PaymentProviderObject, Error> {
    if new.kind == "test"
        && bursar_store::workspaces::mode_of(cx.tx, cx.workspace_id).await?
            != bursar_domain::auth::WorkspaceMode::Sandbox
    {
        return Err(Error::invalid(
            "sandbox_only",
            Some("kind".into()),
            "A test connection exists only in sandbox workspaces; this workspace is live.",
        ));
    }
    let id = ProviderId::new();
    let object = PaymentProviderObject {
        id: id.clone(),
        object: "payment_provider".into(),
        kind: new.kind.clone(),
        name: new.name.unwrap_or_else(|| new.kind.clone()),
        api_base: new.api_base,
        client_id: new.client_id,
        webhook_id: new.webhook_id,
        webhook_path: format!("/v1/webhooks/{id}"),
        secret_key_last4: new.secret_key.as_deref().map(last4),
        webhook_secrets: new.webhook_secrets.len(),
        created_at: cx.now,
        updated_at: cx.now,
    };
    let row = ProviderRow {
        workspace_id: cx.workspace_id.clone(),
        provider_id: id.to_string(),
        kind: new.kind,
        body: to_json(&object)?,
        secret_key_sealed: new
            .secret_key
            .as_deref()
            .map(|k| sealer.seal(k))
            .transpose()?,
        webhook_secrets_sealed: sealer.seal(&to_json(&new.webhook_secrets)?)?,
    };
    payment_providers::insert_provider(cx.tx, &row).await?;
    cx.emit(NewEvent::new(
        event_type::PAYMENT_PROVIDER_CREATED,
        "payment_provider",
        id.as_str(),
        json!({ "object": object }),
    ))
    .await?;
    Ok(object)
}

/// Changes to a connection; what is absent stays.
#[derive(Debug, Clone)]
pub struct ConnectionChanges {
    pub name: Option<String>,
    pub secret_key: Option<String>,
    /// Replaces the accepted signing secrets.
    pub webhook_secrets: Option<Vec<String>>,
    pub api_base: Option<String>,
}

/// Checks changes asked for: the signing secrets, the API base and the name.
pub async fn check_changes(
    guard: &bursar_outbound::Guard,
    changes: ConnectionChanges,
) -> Result<ConnectionChanges, Error> {
    if let Some(secrets) = &changes.webhook_secrets {
        check_secrets(secrets)?;
    }
    if let Some(url) = &changes.api_base {
        check_api_base(guard, url).await?;
    }
    Ok(ConnectionChanges {
        name: parse_name(changes.name)?,
        ..changes
    })
}

/// Changes connection `id` of the workspace (`payment_provider.updated`); this process's
/// cached connections are dropped.
pub async fn update(
    cx: &mut Context<'_>,
    sealer: &Sealer,
    payments: &Payments,
    id: &str,
    changes: ConnectionChanges,
) -> Result<PaymentProviderObject, Error> {
    let mut row = payment_providers::provider_by_id(cx.tx, id)
        .await?
        .filter(|r| &r.workspace_id == cx.workspace_id)
        .ok_or_else(|| Error::not_found("payment_provider", id))?;
    let mut object = decode_object(&row)?;
    if let (Some(secrets), "paypal") = (&changes.webhook_secrets, row.kind.as_str()) {
        check_certificates(secrets)?;
    }
    if let Some(name) = changes.name {
        object.name = name;
    }
    if let Some(key) = &changes.secret_key {
        row.secret_key_sealed = Some(sealer.seal(key)?);
        object.secret_key_last4 = Some(last4(key));
    }
    if let Some(secrets) = &changes.webhook_secrets {
        row.webhook_secrets_sealed = sealer.seal(&to_json(secrets)?)?;
        object.webhook_secrets = secrets.len();
    }
    if changes.api_base.is_some() {
        object.api_base = changes.api_base;
    }
    object.updated_at = cx.now;
    row.body = to_json(&object)?;
    payment_providers::update_provider(cx.tx, &row).await?;
    payments.forget_all();
    cx.emit(NewEvent::new(
        event_type::PAYMENT_PROVIDER_UPDATED,
        "payment_provider",
        id,
        json!({ "object": object }),
    ))
    .await?;
    Ok(object)
}
