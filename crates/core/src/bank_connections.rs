//! A workspace's connections to banks: Modern Treasury (its API key and webhook keys sealed) or,
//! in a sandbox, the test bank — a simulated bank this process keeps in memory, driven by the
//! worker's clock, whose webhooks take the same ingestion path as a real bank's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bursar_banks::modern_treasury::{ModernTreasury, ModernTreasuryConfig};
use bursar_banks::test_bank::{TestBank, Webhook};
use bursar_banks::BankRails;
use bursar_domain::auth::WorkspaceMode;
use bursar_domain::commerce::parse_text;
use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::id::{BankConnectionId, WorkspaceId};
use bursar_domain::money::Currency;
use bursar_domain::treasury::connection::{BankConnection, ReceivingAccount};
use bursar_domain::treasury::payouts::{check_account_number, check_routing_number};
use bursar_domain::ValidationError;
use bursar_store::bank_connections::{self, BankConnectionRow};
use bursar_store::seal::Sealer;
use bursar_store::Tx;
use serde_json::json;

use crate::error::{Error, ErrorKind};
use crate::providers::{check_api_base, check_secrets, last4, random_token};
use crate::write::Context;
use crate::App;

/// The internal account the test bank's payers push to.
pub const TEST_BANK_INTERNAL_ACCOUNT: &str = "tb_ia_operating";

/// A connection asked for, as given.
#[derive(Debug, Clone, Default)]
pub struct ConnectionRequest {
    /// `modern_treasury` or `test_bank`.
    pub kind: String,
    pub name: Option<String>,
    pub organization_id: Option<String>,
    pub api_key: Option<String>,
    pub webhook_secrets: Option<Vec<String>>,
    pub api_base: Option<String>,
    pub internal_account_id: Option<String>,
    /// The platform's accounts payers push to, as given (the test bank gets its own).
    pub receiving_accounts: Option<Vec<ReceivingAccountInput>>,
}

/// A receiving account as given.
#[derive(Debug, Clone, Default)]
pub struct ReceivingAccountInput {
    pub currency: String,
    pub bank_name: String,
    pub account_holder: String,
    pub routing_number: String,
    pub account_number: String,
    pub swift_code: Option<String>,
}

/// Most receiving accounts one connection lists.
pub const RECEIVING_ACCOUNTS_MAX: usize = 20;

/// Checks the receiving accounts given, naming the field: one per currency, numbers a payer's
/// bank accepts (an ABA routing number, an account number, a SWIFT/BIC code).
pub fn check_receiving(inputs: &[ReceivingAccountInput]) -> Result<Vec<ReceivingAccount>, Error> {
    if inputs.len() > RECEIVING_ACCOUNTS_MAX {
        return Err(ValidationError::invalid(
            "receiving_accounts",
            format!("At most {RECEIVING_ACCOUNTS_MAX} receiving accounts."),
        )
        .into());
    }
    let mut accounts: Vec<ReceivingAccount> = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        let field = |name: &str| format!("receiving_accounts[{i}].{name}");
        let currency = Currency::parse(&input.currency, &field("currency"))?;
        if accounts.iter().any(|a| a.currency == currency) {
            return Err(ValidationError::invalid(
                field("currency"),
                "One receiving account per currency.",
            )
            .into());
        }
        check_routing_number(&input.routing_number, &field("routing_number"))?;
        check_account_number(&input.account_number, &field("account_number"))?;
        let swift = input.swift_code.as_deref().map(|code| {
            let valid = matches!(code.len(), 8 | 11)
                && code
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
            valid.then(|| code.to_owned()).ok_or_else(|| {
                ValidationError::invalid(
                    field("swift_code"),
                    "A SWIFT/BIC code is 8 or 11 upper-case letters and digits.",
                )
            })
        });
        accounts.push(ReceivingAccount {
            currency,
            bank_name: parse_text(&input.bank_name, &field("bank_name"), 100)?,
            account_holder: parse_text(&input.account_holder, &field("account_holder"), 100)?,
            routing_number: input.routing_number.clone(),
            account_number: input.account_number.clone(),
            swift_code: swift.transpose()?,
        });
    }
    Ok(accounts)
}

/// Where payers push `currency` to: the first connection (oldest) with a receiving account in
/// it.
pub async fn receiving_account(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    currency: Currency,
) -> Result<Option<ReceivingAccount>, Error> {
    Ok(list(tx, workspace_id)
        .await?
        .into_iter()
        .flat_map(|c| c.receiving_accounts)
        .find(|a| a.currency == currency))
}

/// Checks a connection asked for: its kind, the secrets it needs, its API base and name.
pub async fn check_new(
    guard: &bursar_outbound::Guard,
    mut request: ConnectionRequest,
) -> Result<ConnectionRequest, Error> {
    match request.kind.as_str() {
        "test_bank" => {
            if request.webhook_secrets.is_none() {
                request.webhook_secrets = Some(vec![format!("whsec_{}", random_token(24))]);
            }
            request
                .internal_account_id
                .get_or_insert_with(|| TEST_BANK_INTERNAL_ACCOUNT.into());
        }
        "modern_treasury" => {
            for (value, name) in [
                (&request.organization_id, "organization_id"),
                (&request.api_key, "api_key"),
                (&request.internal_account_id, "internal_account_id"),
            ] {
                if value.is_none() {
                    return Err(ValidationError::missing(name).into());
                }
            }
            if request.webhook_secrets.is_none() {
                return Err(ValidationError::missing("webhook_secrets").into());
            }
        }
        _ => {
            return Err(ValidationError::invalid(
                "kind",
                "kind must be modern_treasury or test_bank.",
            )
            .into())
        }
    }
    check_secrets(request.webhook_secrets.as_deref().unwrap_or_default())?;
    if let Some(url) = &request.api_base {
        check_api_base(guard, url).await?;
    }
    request.name = request
        .name
        .map(|n| parse_text(&n, "name", 100))
        .transpose()?;
    for (value, name) in [
        (&mut request.organization_id, "organization_id"),
        (&mut request.internal_account_id, "internal_account_id"),
    ] {
        *value = value
            .take()
            .map(|v| parse_text(&v, name, 100))
            .transpose()?;
    }
    Ok(request)
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|_| Error::internal())
}

/// Stores a checked connection, its secrets sealed (`bank_connection.created`); the test bank
/// only in a sandbox workspace.
pub async fn create(
    cx: &mut Context<'_>,
    sealer: &Sealer,
    request: ConnectionRequest,
) -> Result<BankConnection, Error> {
    if request.kind == "test_bank"
        && bursar_store::workspaces::mode_of(cx.tx, cx.workspace_id).await?
            != WorkspaceMode::Sandbox
    {
        return Err(Error::invalid(
            "sandbox_only",
            Some("kind".into()),
            "The test bank exists only in sandbox workspaces; this workspace is live. Connect a \
             bank (kind modern_treasury).",
        ));
    }
    let id = BankConnectionId::new();
    let secrets = request.webhook_secrets.clone().unwrap_or_default();
    let object = BankConnection {
        id: id.clone(),
        object: "bank_connection".into(),
        name: request.name.clone().unwrap_or_else(|| request.kind.clone()),
        kind: request.kind.clone(),
        organization_id: request.organization_id.clone(),
        api_base: request.api_base.clone(),
        internal_account_id: request.internal_account_id.clone(),
        webhook_path: format!("/v1/bank_webhooks/{id}"),
        api_key_last4: request.api_key.as_deref().map(last4),
        webhook_secrets: secrets.len(),
        receiving_accounts: receiving_of(&request)?,
        created_at: cx.now,
    };
    let row = BankConnectionRow {
        workspace_id: cx.workspace_id.clone(),
        connection_id: id.to_string(),
        kind: request.kind,
        body: to_json(&object)?,
        api_key_sealed: request
            .api_key
            .as_deref()
            .map(|k| sealer.seal(k))
            .transpose()?,
        webhook_secrets_sealed: sealer.seal(&to_json(&secrets)?)?,
    };
    bank_connections::insert(cx.tx, &row, cx.now.unix_micros()).await?;
    cx.emit(NewEvent::new(
        event_type::BANK_CONNECTION_CREATED,
        "bank_connection",
        id.as_str(),
        json!({ "object": object }),
    ))
    .await?;
    Ok(object)
}

/// The receiving accounts a new connection lists: as given, or the test bank's sandbox USD
/// account.
fn receiving_of(request: &ConnectionRequest) -> Result<Vec<ReceivingAccount>, Error> {
    match &request.receiving_accounts {
        Some(inputs) => check_receiving(inputs),
        None if request.kind == "test_bank" => {
            let holder = request.name.as_deref().unwrap_or("Bursar sandbox");
            let usd = Currency::parse("USD", "currency")?;
            Ok(vec![ReceivingAccount::test_bank(usd, holder)])
        }
        None => Ok(Vec::new()),
    }
}

pub(crate) fn object_of(row: &BankConnectionRow) -> Result<BankConnection, Error> {
    serde_json::from_str(&row.body).map_err(|_| Error::internal())
}

/// The workspace's bank connections, oldest first.
pub async fn list(tx: &mut Tx, workspace_id: &WorkspaceId) -> Result<Vec<BankConnection>, Error> {
    bank_connections::of_workspace(tx, workspace_id)
        .await?
        .iter()
        .map(object_of)
        .collect()
}

/// One connection of the workspace.
pub async fn get(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    id: &str,
) -> Result<BankConnection, Error> {
    let row = bank_connections::by_id(tx, id)
        .await?
        .filter(|r| &r.workspace_id == workspace_id)
        .ok_or_else(|| Error::not_found("bank_connection", id))?;
    object_of(&row)
}

/// The test banks this process runs, by connection id, and their webhooks that failed to
/// apply (delivered again on the next round, as a bank redelivers).
#[derive(Default)]
pub struct Banks {
    test_banks: Mutex<HashMap<String, Arc<TestBank>>>,
    failed: Mutex<HashMap<String, Vec<Webhook>>>,
    /// Held while the test banks are driven: one round at a time, so that a round returns
    /// only once everything due when it began is applied (the worker's and a caller's alike).
    pub(crate) driving: tokio::sync::Mutex<()>,
}

impl Banks {
    /// Keeps a webhook that failed to apply for the next round.
    pub fn keep_failed(&self, connection_id: &str, webhook: Webhook) {
        let mut failed = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
        failed
            .entry(connection_id.to_owned())
            .or_default()
            .push(webhook);
    }

    /// The webhooks of a connection that failed before, to deliver again.
    pub fn take_failed(&self, connection_id: &str) -> Vec<Webhook> {
        let mut failed = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
        failed.remove(connection_id).unwrap_or_default()
    }

    /// The test bank of a connection, started on first use with the connection's secret.
    pub fn test_bank(&self, app: &App, connection_id: &str, secret: &str) -> Arc<TestBank> {
        let mut banks = self
            .test_banks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        banks
            .entry(connection_id.to_owned())
            .or_insert_with(|| Arc::new(TestBank::new(app.db.clock(), secret.to_owned())))
            .clone()
    }
}

/// The webhook signing keys of a connection.
pub fn secrets(sealer: &Sealer, row: &BankConnectionRow) -> Result<Vec<String>, Error> {
    let opened = sealer.open(&row.webhook_secrets_sealed)?;
    serde_json::from_str(&opened).map_err(|_| Error::internal())
}

/// The bank behind a connection.
pub fn rails(app: &App, row: &BankConnectionRow) -> Result<Arc<dyn BankRails>, Error> {
    let sealer = app.db.sealer()?;
    if row.kind == bursar_banks::test_bank::KIND {
        let secret = secrets(sealer, row)?.into_iter().next().unwrap_or_default();
        return Ok(app.banks.test_bank(app, &row.connection_id, &secret));
    }
    let object = object_of(row)?;
    let api_key = row
        .api_key_sealed
        .as_deref()
        .map(|k| sealer.open(k))
        .transpose()?
        .unwrap_or_default();
    let mut config = ModernTreasuryConfig::new(object.organization_id.unwrap_or_default(), api_key);
    if let Some(base) = object.api_base {
        config.api_base = base;
    }
    Ok(Arc::new(ModernTreasury::new(
        config,
        app.payments.executor()?,
    )))
}

/// The workspace's bank connection (its first) and the bank behind it.
pub async fn rails_for_workspace(
    app: &App,
    workspace_id: &WorkspaceId,
) -> Result<(String, Arc<dyn BankRails>), Error> {
    let lookup = workspace_id.clone();
    let rows = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { bank_connections::of_workspace(tx, &lookup).await })
        })
        .await?;
    let row = rows.into_iter().next().ok_or_else(|| {
        Error::new(
            ErrorKind::Invalid,
            "bank_connection_missing",
            "This workspace has no bank connection: create one with POST /v1/bank_connections.",
        )
    })?;
    Ok((row.connection_id.clone(), rails(app, &row)?))
}
