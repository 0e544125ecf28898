//! Notification emails: the mailbox (everything rendered, sent or kept).

use axum::extract::{Path, State};
use bursar_domain::id::EmailId;
use bursar_store::emails::{self, Email};
use bursar_store::Tx;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Principal, QueryParams};
use crate::livemode::Json;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_emails))
        .routes(routes!(get_email))
}

/// A notification email.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmailObject {
    /// `em_` followed by a time-sortable ULID.
    pub id: String,
    /// Always `email`.
    pub object: &'static str,
    /// The event it was written for.
    pub event_id: String,
    /// Which template: `welcome`, `payout`, ...
    pub template: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// `queued`, `sent`, `kept` (no SMTP server configured: this mailbox is where it went),
    /// or `failing` (retried).
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub sent_at: Option<String>,
}

impl From<Email> for EmailObject {
    fn from(e: Email) -> Self {
        EmailObject {
            id: e.id.to_string(),
            object: "email",
            event_id: e.event_id,
            template: e.template,
            to: e.to,
            subject: e.subject,
            text: e.text_body,
            html: e.html_body,
            status: e.status,
            attempts: e.attempts,
            last_error: e.last_error,
            created_at: e.created_at.to_rfc3339(),
            sent_at: e.sent_at.map(|t| t.to_rfc3339()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmailList {
    /// Always `list`.
    pub object: &'static str,
    pub data: Vec<EmailObject>,
}

/// List notification emails, newest first.
#[utoipa::path(
    get, path = "/v1/emails", tag = "events",
    params(("limit" = Option<i64>, Query, description = "1 to 100, default 100")),
    responses((status = 200, body = EmailList), (status = 400, body = ErrorBody)),
    security(("api_key" = []))
)]
async fn list_emails(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryParams,
) -> Result<Json<EmailList>, ApiError> {
    let limit = crate::list::limit_param(&query, &["limit"])?;
    let workspace_id = principal.workspace_id.clone();
    let found = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { emails::list(tx, &workspace_id, limit).await })
        })
        .await?;
    Ok(principal.json(EmailList {
        object: "list",
        data: found.into_iter().map(EmailObject::from).collect(),
    }))
}

/// Retrieve a notification email.
#[utoipa::path(
    get, path = "/v1/emails/{id}", tag = "events",
    params(("id" = EmailId, Path, description = "The email's id")),
    responses((status = 200, body = EmailObject), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
async fn get_email(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<EmailObject>, ApiError> {
    let parsed = EmailId::parse(&id, "id").map_err(|_| ApiError::not_found("email", &id))?;
    let workspace_id = principal.workspace_id.clone();
    let found = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { emails::get(tx, &workspace_id, &parsed).await })
        })
        .await?
        .ok_or_else(|| ApiError::not_found("email", &id))?;
    Ok(principal.json(found.into()))
}
