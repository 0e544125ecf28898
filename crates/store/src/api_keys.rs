//! API keys. Only a SHA-256 of each secret is stored: the secret is shown once, when created.
//!
//! A plain (unsalted) SHA-256 is the right tool here, unlike for passwords: secrets are 160 bits
//! from the operating system's RNG, so there is nothing to brute-force, and the hash must be
//! cheap because every request is authenticated by it.

use bursar_domain::auth::{Scope, SECRET_KEY_PREFIX};
use bursar_domain::id::{ApiKeyId, WorkspaceId};
use bursar_domain::time::Timestamp;
use rand::RngCore;
use sqlx::any::AnyRow;

use crate::{get_i64, get_text, sha256_hex, Conn, StoreError};

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

fn from_row(row: &AnyRow) -> Result<ApiKey, StoreError> {
    let scope_text = get_text(row, "scope")?;
    let scope = Scope::parse(&scope_text)
        .map_err(|_| StoreError::Corrupt(format!("api_key.scope '{scope_text}'")))?;
    let revoked_at: Option<i64> = sqlx::Row::try_get(row, "revoked_at")?;
    Ok(ApiKey {
        id: ApiKeyId::from_trusted(get_text(row, "api_key_id")?),
        workspace_id: WorkspaceId::from_trusted(get_text(row, "workspace_id")?),
        name: get_text(row, "name")?,
        scope,
        secret_hint: get_text(row, "secret_hint")?,
        created_at: Timestamp::from_unix_micros(get_i64(row, "created_at")?),
        revoked_at: revoked_at.map(Timestamp::from_unix_micros),
    })
}

const COLUMNS: &str = "api_key_id, workspace_id, name, scope, secret_hint, created_at, revoked_at";

/// Creates a key and returns it with its secret, which is not kept anywhere.
pub async fn create(
    conn: &mut Conn,
    workspace_id: &WorkspaceId,
    name: &str,
    scope: Scope,
    now: Timestamp,
) -> Result<(ApiKey, Secret), StoreError> {
    let mut bytes = [0_u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = format!("{SECRET_KEY_PREFIX}{}", hex::encode(bytes));
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
    sqlx::query(
        "insert into api_key (api_key_id, workspace_id, name, scope, secret_hash, secret_hint, \
         created_at) values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(key.id.as_str())
    .bind(key.workspace_id.as_str())
    .bind(key.name.as_str())
    .bind(key.scope.as_str())
    .bind(sha256_hex(secret.as_bytes()))
    .bind(key.secret_hint.as_str())
    .bind(now.unix_micros())
    .execute(conn)
    .await?;
    Ok((key, Secret(secret)))
}

/// The key a presented secret belongs to, revoked or not.
pub async fn find_by_secret(conn: &mut Conn, secret: &str) -> Result<Option<ApiKey>, StoreError> {
    let sql = format!("select {COLUMNS} from api_key where secret_hash = $1");
    let row = sqlx::query(&sql)
        .bind(sha256_hex(secret.as_bytes()))
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn list(conn: &mut Conn) -> Result<Vec<ApiKey>, StoreError> {
    let sql = format!("select {COLUMNS} from api_key order by api_key_id");
    let rows = sqlx::query(&sql).fetch_all(conn).await?;
    rows.iter().map(from_row).collect()
}

pub async fn count(conn: &mut Conn) -> Result<i64, StoreError> {
    let row = sqlx::query("select count(*) as n from api_key")
        .fetch_one(conn)
        .await?;
    get_i64(&row, "n")
}

/// Revokes a key; returns false when no such key exists. Revoking twice keeps the first time.
pub async fn revoke(conn: &mut Conn, id: &ApiKeyId, now: Timestamp) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "update api_key set revoked_at = coalesce(revoked_at, $1) where api_key_id = $2",
    )
    .bind(now.unix_micros())
    .bind(id.as_str())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
