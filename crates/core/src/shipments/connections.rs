//! A workspace's accounts at carriers: their credentials sealed, and the events carriers push
//! to `POST /v1/courier_webhooks/{id}`, verified before anything of them is read.

use bursar_couriers::{Credentials, Headers, PushError};
use bursar_domain::auth::WorkspaceMode;
use bursar_domain::commerce::parse_text;
use bursar_domain::event::Cause;
use bursar_domain::event_type;
use bursar_domain::id::{CourierConnectionId, WorkspaceId};
use bursar_domain::shipping::*;
use bursar_domain::ValidationError;
use bursar_store::documents::{self, COURIER_CONNECTION};
use bursar_store::seal::Sealer;
use bursar_store::Tx;
use serde::{Deserialize, Serialize};

use super::tracking::{record_reports, Update};
use crate::error::{Error, ErrorKind};
use crate::providers::{check_api_base, check_secrets, last4, random_token};
use crate::write::Context;
use crate::App;

/// A connection asked for, as given.
#[derive(Debug, Clone, Default)]
pub struct ConnectionRequest {
    pub carrier: Option<Carrier>,
    pub name: Option<String>,
    pub api_base: Option<String>,
    /// The API key, client id, user name or access token (see
    /// [`required_credentials`]).
    pub key: Option<String>,
    /// The client secret or password.
    pub secret: Option<String>,
    /// The client id of Chit Chats.
    pub account: Option<String>,
    /// Keys pushed events are signed with (USPS, the test courier).
    pub push_secrets: Option<Vec<String>>,
}

/// What is sealed: everything that authenticates.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Secrets {
    key: Option<String>,
    secret: Option<String>,
    push_secrets: Vec<String>,
}

/// Checks a connection asked for: the carrier, the credentials it needs, the API base.
pub async fn check_new(
    guard: &bursar_outbound::Guard,
    request: ConnectionRequest,
) -> Result<(Carrier, ConnectionRequest), Error> {
    let carrier = request
        .carrier
        .ok_or_else(|| ValidationError::missing("carrier"))?;
    for (field, what) in required_credentials(carrier) {
        let given = match *field {
            "key" => &request.key,
            "secret" => &request.secret,
            _ => &request.account,
        };
        if given.is_none() {
            return Err(ValidationError::invalid(
                *field,
                format!("{} needs its {what} in `{field}`.", carrier.as_str()),
            )
            .into());
        }
    }
    if let Some(secrets) = &request.push_secrets {
        check_secrets(secrets).map_err(|mut e| {
            e.param = "push_secrets".into();
            e
        })?;
    }
    if let Some(url) = &request.api_base {
        check_api_base(guard, url).await?;
    }
    let mut request = request;
    request.name = request
        .name
        .map(|n| parse_text(&n, "name", 100))
        .transpose()?;
    for (value, name) in [
        (&mut request.key, "key"),
        (&mut request.secret, "secret"),
        (&mut request.account, "account"),
    ] {
        *value = value
            .take()
            .map(|v| parse_text(&v, name, 500))
            .transpose()?;
    }
    if carrier == Carrier::TestCourier && request.push_secrets.is_none() {
        request.push_secrets = Some(vec![format!("whsec_{}", random_token(24))]);
    }
    Ok((carrier, request))
}

/// Stores a checked connection, its credentials sealed (`courier_connection.created`); one per
/// carrier, the test courier only in a sandbox.
pub async fn create(
    cx: &mut Context<'_>,
    sealer: &Sealer,
    carrier: Carrier,
    request: ConnectionRequest,
) -> Result<(CourierConnection, Vec<String>), Error> {
    if carrier.sandbox_only()
        && bursar_store::workspaces::mode_of(cx.tx, cx.workspace_id).await?
            != WorkspaceMode::Sandbox
    {
        return Err(Error::invalid(
            "sandbox_only",
            Some("carrier".into()),
            "The test courier exists only in sandbox workspaces; this workspace is live.",
        ));
    }
    if bursar_store::shipping::connection_of_carrier(cx.tx, cx.workspace_id, carrier)
        .await?
        .is_some()
    {
        return Err(Error::new(
            ErrorKind::Conflict,
            "connection_exists",
            format!(
                "This workspace is connected to {} already.",
                carrier.as_str()
            ),
        )
        .with_param("carrier"));
    }
    let id = CourierConnectionId::new();
    let push_secrets = request.push_secrets.clone().unwrap_or_default();
    let connection = CourierConnection {
        object: "courier_connection".into(),
        carrier,
        name: request.name,
        api_base: request
            .api_base
            .or_else(|| default_api_base(carrier).map(str::to_owned)),
        key_last4: request.key.as_deref().map(last4),
        account: request.account,
        push_secret_last4: push_secrets.iter().map(|s| last4(s)).collect(),
        push_url_path: format!("/v1/courier_webhooks/{id}"),
        id,
        created_at: cx.now,
        updated_at: cx.now,
    };
    let secrets = Secrets {
        key: request.key,
        secret: request.secret,
        push_secrets: push_secrets.clone(),
    };
    let sealed = sealer.seal(&serde_json::to_string(&secrets).map_err(|_| Error::internal())?)?;
    let id = connection.id.as_str();
    documents::insert(
        cx.tx,
        COURIER_CONNECTION,
        cx.workspace_id,
        id,
        &connection,
        &[
            ("carrier", carrier.as_str().into()),
            ("secrets_sealed", sealed.into()),
        ],
    )
    .await?;
    cx.emit_object(
        event_type::COURIER_CONNECTION_CREATED,
        "courier_connection",
        id,
        &connection,
    )
    .await?;
    Ok((connection, push_secrets))
}

/// A connection and its unsealed credentials.
pub struct Unsealed {
    pub connection: CourierConnection,
    pub credentials: Credentials,
    pub push_secrets: Vec<String>,
}

fn unseal(sealer: &Sealer, body: &str, sealed: &str) -> Result<Unsealed, Error> {
    let connection: CourierConnection =
        serde_json::from_str(body).map_err(|_| Error::internal())?;
    let secrets: Secrets =
        serde_json::from_str(&sealer.open(sealed)?).map_err(|_| Error::internal())?;
    Ok(Unsealed {
        credentials: Credentials {
            api_base: connection.api_base.clone().unwrap_or_default(),
            key: secrets.key,
            secret: secrets.secret,
            account: connection.account.clone(),
        },
        push_secrets: secrets.push_secrets,
        connection,
    })
}

/// The workspace's connection to `carrier`, unsealed; none when it has none.
pub async fn credentials(
    tx: &mut Tx,
    sealer: &Sealer,
    workspace_id: &WorkspaceId,
    carrier: Carrier,
) -> Result<Option<Unsealed>, Error> {
    bursar_store::shipping::connection_of_carrier(tx, workspace_id, carrier)
        .await?
        .map(|(body, sealed)| unseal(sealer, &body, &sealed))
        .transpose()
}

/// Receives events a carrier pushed to connection `id`: the signature is verified first
/// (missing or wrong: 400, nothing read or stored), then every tracking number's events are
/// recorded on its shipment, each event once however often it is pushed.
pub async fn receive_push(
    app: &App,
    id: &str,
    headers: &Headers,
    body: &[u8],
) -> Result<PushReceipt, Error> {
    let id_owned = id.to_owned();
    let found = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let Some(workspace) =
                    bursar_store::shipping::workspace_of_connection(tx, &id_owned).await?
                else {
                    return Ok::<_, bursar_store::StoreError>(None);
                };
                let row =
                    bursar_store::shipping::connection_by_id(tx, &workspace, &id_owned).await?;
                Ok(row.map(|row| (workspace, row)))
            })
        })
        .await?;
    let Some((workspace_id, (row_body, sealed))) = found else {
        return Err(Error::not_found("courier connection", id));
    };
    let unsealed = unseal(app.db.sealer()?, &row_body, &sealed)?;
    let carrier = unsealed.connection.carrier;
    let reports = bursar_couriers::adapter(carrier)
        .parse_push(headers, body, &unsealed.push_secrets)
        .map_err(push_error)?;
    let cause = Cause {
        request_id: None,
        actor: Some(format!("courier:{id}")),
    };
    app.write(workspace_id, cause, move |mut cx: Context<'_>| {
        Box::pin(async move {
            let mut receipt = bursar_domain::shipping::PushReceipt {
                object: "courier_push_receipt",
                recorded: 0,
                unknown_tracking_numbers: Vec::new(),
            };
            let reports = reports.into_iter().map(|t| (carrier, t)).collect();
            let updates = record_reports(&mut cx, reports, TrackingSource::Push).await?;
            for (number, update) in updates {
                match update {
                    Some(Update { recorded, .. }) => receipt.recorded += recorded.len(),
                    None => receipt.unknown_tracking_numbers.push(number),
                }
            }
            Ok::<_, Error>(receipt)
        })
    })
    .await
}

fn push_error(error: PushError) -> Error {
    let code = match error {
        PushError::Unsupported => "push_unsupported",
        PushError::MissingSignature | PushError::BadSignature => "signature_invalid",
        PushError::BadPayload(_) => "payload_invalid",
    };
    Error::invalid(code, None, error.to_string())
}
