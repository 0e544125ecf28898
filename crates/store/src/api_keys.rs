//! API keys. Only a SHA-256 of each secret is stored: the secret is shown once, when created.
//!
//! A plain (unsalted) SHA-256 is the right tool here, unlike for passwords: secrets are 160 bits
//! from the operating system's RNG, so there is nothing to brute-force, and the hash must be
//! cheap because every request is authenticated by it.

use bursar_domain::auth::Scope;
use bursar_domain::event_type;
use bursar_domain::id::{ApiKeyId, WorkspaceId};
use bursar_domain::time::Timestamp;
use rand::RngCore;

use crate::{events, params, sha256_hex, Row, StoreError, Tx};
use bursar_domain::event::{Cause, NewEvent};

/// Random bytes in a secret key (160 bits).
pub const SECRET_BYTES: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub scope: Scope,
    /// The last four characters of the secret.
    pub secret_hint: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// A secret key in clear text. Its `Debug` never prints it.
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

fn from_row(row: &Row) -> Result<ApiKey, StoreError> {
    let scope_text = row.text("scope")?;
    let scope = Scope::parse(&scope_text)
        .map_err(|_| StoreError::Corrupt(format!("api_key.scope '{scope_text}'")))?;
    Ok(ApiKey {
        id: ApiKeyId::from_trusted(row.text("api_key_id")?),
        workspace_id: WorkspaceId::from_trusted(row.text("workspace_id")?),
        name: row.text("name")?,
        scope,
        secret_hint: row.text("secret_hint")?,
        created_at: Timestamp::from_unix_micros(row.i64("created_at")?),
        revoked_at: row.opt_i64("revoked_at")?.map(Timestamp::from_unix_micros),
    })
}

const COLUMNS: &str = "api_key_id, workspace_id, name, scope, secret_hint, created_at, revoked_at";

/// Creates a key and returns it with its secret, which is not kept anywhere.
pub async fn create(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    name: &str,
    scope: Scope,
    now: Timestamp,
    cause: &Cause,
) -> Result<(ApiKey, Secret), StoreError> {
    let mut bytes = [0_u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let mode = crate::workspaces::mode_of(tx, workspace_id).await?;
    let secret = format!("{}{}", mode.key_prefix(), hex::encode(bytes));
    let hint = secret[secret.len() - 4..].to_owned();
    let key = ApiKey {
        id: ApiKeyId::new(),
        workspace_id: workspace_id.clone(),
        name: name.to_owned(),
        scope,
        secret_hint: hint,
        created_at: now,
        revoked_at: None,
    };
    tx.execute(
        "insert into api_key (api_key_id, workspace_id, name, scope, secret_hash, secret_hint, \
         created_at) values ($1, $2, $3, $4, $5, $6, $7)",
        params![
            key.id.as_str(),
            key.workspace_id.as_str(),
            key.name.as_str(),
            key.scope.as_str(),
            sha256_hex(secret.as_bytes()),
            key.secret_hint.as_str(),
            now.unix_micros(),
        ],
    )
    .await?;
    events::record(
        tx,
        workspace_id,
        &NewEvent::new(
            event_type::API_KEY_CREATED,
            "api_key",
            key.id.as_str(),
            serde_json::json!({ "object": key_json(&key) }),
        ),
        cause,
        now,
    )
    .await?;
    Ok((key, Secret(secret)))
}

/// A key as events and the audit log show it: never its secret, only the secret's last four
/// characters.
fn key_json(key: &ApiKey) -> serde_json::Value {
    serde_json::json!({
        "id": key.id.as_str(),
        "object": "api_key",
        "name": key.name,
        "scope": key.scope.as_str(),
        "secret_hint": key.secret_hint,
        "revoked": key.revoked_at.is_some(),
    })
}

/// The key a presented secret belongs to, revoked or not.
pub async fn find_by_secret(tx: &mut Tx, secret: &str) -> Result<Option<ApiKey>, StoreError> {
    let sql = format!("select {COLUMNS} from api_key where secret_hash = $1");
    let row = tx
        .fetch_optional(&sql, params![sha256_hex(secret.as_bytes())])
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn list(tx: &mut Tx) -> Result<Vec<ApiKey>, StoreError> {
    let sql = format!("select {COLUMNS} from api_key order by api_key_id");
    let rows = tx.fetch_all(&sql, &[]).await?;
    rows.iter().map(from_row).collect()
}

pub async fn count(tx: &mut Tx) -> Result<i64, StoreError> {
    tx.fetch_one("select count(*) as n from api_key", &[])
        .await?
        .i64("n")
}

/// Revokes a key; returns false when no such key exists. Revoking twice keeps the first time
/// (and records one event).
pub async fn revoke(
    tx: &mut Tx,
    id: &ApiKeyId,
    now: Timestamp,
    cause: &Cause,
) -> Result<bool, StoreError> {
    let sql = format!("select {COLUMNS} from api_key where api_key_id = $1");
    let Some(row) = tx.fetch_optional(&sql, params![id.as_str()]).await? else {
        return Ok(false);
    };
    let mut key = from_row(&row)?;
    if key.revoked_at.is_some() {
        return Ok(true);
    }
    tx.execute(
        "update api_key set revoked_at = $1 where api_key_id = $2",
        params![now.unix_micros(), id.as_str()],
    )
    .await?;
    let before = key_json(&key);
    key.revoked_at = Some(now);
    events::record(
        tx,
        &key.workspace_id,
        &NewEvent::new(
            event_type::API_KEY_REVOKED,
            "api_key",
            key.id.as_str(),
            serde_json::json!({ "object": key_json(&key), "previous": before }),
        ),
        cause,
        now,
    )
    .await?;
    Ok(true)
}
