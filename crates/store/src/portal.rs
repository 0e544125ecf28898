//! The customer portal's sign-ins (magic links) and sessions.

use bursar_domain::id::{CompanyId, CustomerId, WorkspaceId};
use bursar_domain::time::Timestamp;

use crate::{params, Row, StoreError, Tx};

/// A magic link's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    pub id: String,
    pub email: String,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

pub async fn insert_sign_in(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    sign_in: &SignIn,
    now: Timestamp,
) -> Result<(), StoreError> {
    tx.execute(
        "insert into portal_sign_in (workspace_id, object_id, email, created_at, expires_at) \
         values ($1, $2, $3, $4, $5)",
        params![
            workspace_id.as_str(),
            sign_in.id.as_str(),
            sign_in.email.as_str(),
            now.unix_micros(),
            sign_in.expires_at.unix_micros()
        ],
    )
    .await?;
    Ok(())
}

/// Marks sign-in `id` used, if it is unused and unexpired at `now`; returns it then (once).
pub async fn use_sign_in(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    id: &str,
    now: Timestamp,
) -> Result<Option<SignIn>, StoreError> {
    let used = tx
        .execute(
            "update portal_sign_in set used_at = $3 \
             where workspace_id = $1 and object_id = $2 and used_at is null and expires_at > $3",
            params![workspace_id.as_str(), id, now.unix_micros()],
        )
        .await?;
    if used == 0 {
        return Ok(None);
    }
    let row = tx
        .fetch_optional(
            "select object_id, email, expires_at, used_at from portal_sign_in \
             where workspace_id = $1 and object_id = $2",
            params![workspace_id.as_str(), id],
        )
        .await?;
    row.map(|r| sign_in_of(&r)).transpose()
}

/// Sign-in `id`, used or not.
pub async fn sign_in(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    id: &str,
) -> Result<Option<SignIn>, StoreError> {
    let row = tx
        .fetch_optional(
            "select object_id, email, expires_at, used_at from portal_sign_in \
             where workspace_id = $1 and object_id = $2",
            params![workspace_id.as_str(), id],
        )
        .await?;
    row.map(|r| sign_in_of(&r)).transpose()
}

fn sign_in_of(row: &Row) -> Result<SignIn, StoreError> {
    Ok(SignIn {
        id: row.text("object_id")?,
        email: row.text("email")?,
        expires_at: Timestamp::from_unix_micros(row.i64("expires_at")?),
        used_at: row.opt_i64("used_at")?.map(Timestamp::from_unix_micros),
    })
}

/// Whom a portal session may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every customer of the workspace with this (verified) email address.
    Email(String),
    /// One customer (a session opened from an order's receipt link).
    Customer(CustomerId),
}

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub scope: Scope,
    pub expires_at: Timestamp,
}

pub async fn insert_session(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    token_hash: &str,
    session: &Session,
    now: Timestamp,
) -> Result<(), StoreError> {
    let (email, customer) = match &session.scope {
        Scope::Email(email) => (Some(email.as_str()), None),
        Scope::Customer(id) => (None, Some(id.as_str())),
    };
    tx.execute(
        "insert into portal_session (workspace_id, token_hash, email, customer_id, created_at, \
         expires_at) values ($1, $2, $3, $4, $5, $6)",
        params![
            workspace_id.as_str(),
            token_hash,
            email,
            customer,
            now.unix_micros(),
            session.expires_at.unix_micros()
        ],
    )
    .await?;
    Ok(())
}

/// The live session of `token_hash` in the workspace at `now` (not revoked, not expired).
pub async fn session(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    token_hash: &str,
    now: Timestamp,
) -> Result<Option<Session>, StoreError> {
    let row = tx
        .fetch_optional(
            "select email, customer_id, expires_at from portal_session \
             where token_hash = $1 and workspace_id = $2 and revoked_at is null \
             and expires_at > $3",
            params![token_hash, workspace_id.as_str(), now.unix_micros()],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let scope = match (row.opt_text("email")?, row.opt_text("customer_id")?) {
        (Some(email), _) => Scope::Email(email),
        (None, Some(customer)) => Scope::Customer(CustomerId::from_trusted(customer)),
        (None, None) => return Err(StoreError::Corrupt("portal session without scope".into())),
    };
    Ok(Some(Session {
        scope,
        expires_at: Timestamp::from_unix_micros(row.i64("expires_at")?),
    }))
}

/// Revokes the session of `token_hash`; returns whether it was live.
pub async fn revoke(tx: &mut Tx, token_hash: &str, now: Timestamp) -> Result<bool, StoreError> {
    let revoked = tx
        .execute(
            "update portal_session set revoked_at = $2 where token_hash = $1 and revoked_at is null",
            params![token_hash, now.unix_micros()],
        )
        .await?;
    Ok(revoked > 0)
}

/// Records `emails` as the contact addresses of company `company_id`, in place of those it had.
pub async fn set_company_contacts(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    company_id: &CompanyId,
    emails: &[String],
) -> Result<(), StoreError> {
    tx.execute(
        "delete from company_contact where workspace_id = $1 and company_id = $2",
        params![workspace_id.as_str(), company_id.as_str()],
    )
    .await?;
    let mut lowered: Vec<String> = emails.iter().map(|e| e.to_lowercase()).collect();
    lowered.sort();
    lowered.dedup();
    for email in lowered {
        tx.execute(
            "insert into company_contact (workspace_id, email, company_id) values ($1, $2, $3)",
            params![workspace_id.as_str(), email, company_id.as_str()],
        )
        .await?;
    }
    Ok(())
}

/// Whom a portal session signed in as `email` reaches, in one statement: the customers with
/// that address (at most 100) and the companies that list it among their contacts (at most 20).
pub async fn reach_of_email(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    email: &str,
) -> Result<(Vec<CustomerId>, Vec<CompanyId>), StoreError> {
    let rows = tx
        .fetch_all(
            "select customer_id, null as company_id from (select customer_id from customer \
             where workspace_id = $1 and lower(email) = lower($2) order by customer_id limit 100) \
             as own union all select null as customer_id, company_id from (select company_id \
             from company_contact where workspace_id = $1 and email = lower($2) \
             order by company_id limit 20) as contact_of",
            params![workspace_id.as_str(), email],
        )
        .await?;
    let (mut customers, mut companies) = (Vec::new(), Vec::new());
    for row in &rows {
        match row.opt_text("customer_id")? {
            Some(customer) => customers.push(CustomerId::from_trusted(customer)),
            None => companies.push(CompanyId::from_trusted(row.text("company_id")?)),
        }
    }
    Ok((customers, companies))
}

/// The customers (at most `limit`, by id) that belong to `company_id`.
pub async fn customers_of_company(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    company_id: &CompanyId,
    limit: usize,
) -> Result<Vec<CustomerId>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = tx
        .fetch_all(
            "select customer_id from customer where workspace_id = $1 and company_id = $2 \
             order by customer_id limit $3",
            params![workspace_id.as_str(), company_id.as_str(), limit],
        )
        .await?;
    rows.iter()
        .map(|row| Ok(CustomerId::from_trusted(row.text("customer_id")?)))
        .collect()
}
