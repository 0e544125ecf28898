//! Notification emails: the outbox of mail and, without SMTP, the mailbox the API shows.

use bursar_domain::id::{EmailId, WorkspaceId};
use bursar_domain::time::Timestamp;

use crate::{params, Row, StoreError, Tx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub id: EmailId,
    pub event_id: String,
    pub template: String,
    pub to: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    /// `queued`, `sent`, `kept` (no SMTP configured) or `failing`.
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
}

const COLUMNS: &str = "message_id, event_id, template, to_address, subject, text_body, \
     html_body, status, attempts, last_error, created_at, sent_at";

fn email_from(row: &Row) -> Result<Email, StoreError> {
    Ok(Email {
        id: EmailId::from_trusted(row.text("message_id")?),
        event_id: row.text("event_id")?,
        template: row.text("template")?,
        to: row.text("to_address")?,
        subject: row.text("subject")?,
        text_body: row.text("text_body")?,
        html_body: row.text("html_body")?,
        status: row.text("status")?,
        attempts: row.i64("attempts")?,
        last_error: row.opt_text("last_error")?,
        created_at: Timestamp::from_unix_micros(row.i64("created_at")?),
        sent_at: row.opt_i64("sent_at")?.map(Timestamp::from_unix_micros),
    })
}

/// Stores `email` unless this event already has a message of this template; returns the
/// message as stored (the earlier one if there was one).
pub async fn insert_once(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    email: &Email,
) -> Result<Email, StoreError> {
    tx.execute(
        "insert into email_message (workspace_id, message_id, event_id, template, to_address, \
         subject, text_body, html_body, status, attempts, created_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10) \
         on conflict (event_id, template) do nothing",
        params![
            workspace_id.as_str(),
            email.id.as_str(),
            email.event_id.as_str(),
            email.template.as_str(),
            email.to.as_str(),
            email.subject.as_str(),
            email.text_body.as_str(),
            email.html_body.as_str(),
            email.status.as_str(),
            email.created_at.unix_micros(),
        ],
    )
    .await?;
    let row = tx
        .fetch_one(
            &format!("select {COLUMNS} from email_message where event_id = $1 and template = $2"),
            params![email.event_id.as_str(), email.template.as_str()],
        )
        .await?;
    email_from(&row)
}

/// Records an attempt to send: `sent` at `now`, or `failing` with the error.
pub async fn record_attempt(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    id: &EmailId,
    error: Option<&str>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let (status, sent_at) = match error {
        None => ("sent", Some(now.unix_micros())),
        Some(_) => ("failing", None),
    };
    tx.execute(
        "update email_message set status = $1, attempts = attempts + 1, last_error = $2, \
         sent_at = $3 where workspace_id = $4 and message_id = $5",
        params![status, error, sent_at, workspace_id.as_str(), id.as_str()],
    )
    .await?;
    Ok(())
}

/// The workspace's messages, newest first.
pub async fn list(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    limit: i64,
) -> Result<Vec<Email>, StoreError> {
    let rows = tx
        .fetch_all(
            &format!(
                "select {COLUMNS} from email_message where workspace_id = $1 \
                 order by message_id desc limit $2"
            ),
            params![workspace_id.as_str(), limit],
        )
        .await?;
    rows.iter().map(email_from).collect()
}

pub async fn get(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    id: &EmailId,
) -> Result<Option<Email>, StoreError> {
    let row = tx
        .fetch_optional(
            &format!(
                "select {COLUMNS} from email_message where workspace_id = $1 and message_id = $2"
            ),
            params![workspace_id.as_str(), id.as_str()],
        )
        .await?;
    row.as_ref().map(email_from).transpose()
}
