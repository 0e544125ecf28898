//! The email subscriber: notification emails rendered from events (HTML and text), sent over
//! SMTP when a server is configured, else kept in the mailbox the API lists.
//!
//! Each (event, template) gives at most one message, stored before it is sent, so a redelivered
//! event neither renders nor sends twice once the first send succeeded; a failed send is
//! retried by the relay with its backoff. Templates: `funded` (on `wallet.funded`) and
//! `payout` (on `wallet.cashed_out`), to the party when it has an email address.

use std::sync::Arc;

use askama::Template;
use bursar_domain::event::Event;
use bursar_domain::id::{CustomerId, EmailId, WorkspaceId};
use bursar_domain::money::Currency;
use bursar_store::emails::{self, Email};
use bursar_store::{customers, Db, Tx};
use futures::future::BoxFuture;
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::relay::Subscriber;

pub const SUBSCRIBER: &str = "email";

/// Where mail goes.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `smtp://host:port` (plain SMTP, e.g. a local relay); `None`: keep messages in the
    /// mailbox (`GET /v1/emails`) instead of sending them.
    pub smtp_url: Option<String>,
    /// The sender, e.g. `Payments <billing@example.com>`.
    pub from: String,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            smtp_url: None,
            from: "Bursar <no-reply@localhost>".into(),
        }
    }
}

#[derive(Template)]
#[template(path = "email/funded.txt", escape = "none")]
struct FundedText<'a> {
    name: Option<&'a str>,
    amount: &'a str,
    operation_id: &'a str,
}

#[derive(Template)]
#[template(path = "email/funded.html")]
struct FundedHtml<'a> {
    name: Option<&'a str>,
    amount: &'a str,
    operation_id: &'a str,
}

#[derive(Template)]
#[template(path = "email/payout.txt", escape = "none")]
struct PayoutText<'a> {
    name: Option<&'a str>,
    amount: &'a str,
    operation_id: &'a str,
}

#[derive(Template)]
#[template(path = "email/payout.html")]
struct PayoutHtml<'a> {
    name: Option<&'a str>,
    amount: &'a str,
    operation_id: &'a str,
}

pub struct EmailSubscriber {
    db: Db,
    from: Mailbox,
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
}

impl EmailSubscriber {
    pub fn new(db: Db, config: &MailConfig) -> anyhow::Result<Arc<Self>> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("mail sender '{}': {e}", config.from))?;
        let transport = config.smtp_url.as_deref().map(smtp_transport).transpose()?;
        Ok(Arc::new(EmailSubscriber {
            db,
            from,
            transport,
        }))
    }

    /// The message an event calls for, if any: (template, recipient, subject, text, html).
    async fn draft(
        &self,
        workspace_id: &WorkspaceId,
        event: &Event,
    ) -> Result<Option<Email>, String> {
        // Money notifications, to the party whose wallet it is.
        if !matches!(
            event.event_type.as_str(),
            "wallet.funded" | "wallet.cashed_out"
        ) {
            return Ok(None);
        }
        let Ok(party) = CustomerId::parse(event.payload["party"].as_str().unwrap_or(""), "id")
        else {
            return Ok(None);
        };
        let ws = workspace_id.clone();
        let customer = self
            .db
            .read(move |tx: &mut Tx| {
                Box::pin(async move { customers::get(tx, &ws, &party, false).await })
            })
            .await
            .map_err(|e| e.to_string())?;
        let Some(customer) = customer else {
            return Ok(None);
        };
        let Some(to) = customer.email.as_ref().map(|e| e.as_str().to_owned()) else {
            return Ok(None);
        };
        let name = customer.name.as_ref().map(|n| n.as_str());
        let currency = event.payload["currency"]
            .as_str()
            .and_then(Currency::from_code)
            .ok_or("wallet event without a currency")?;
        let amount = currency.format(event.payload["amount"].as_i64().unwrap_or(0));
        let operation_id = event.payload["operation_id"].as_str().unwrap_or_default();
        let rendered = if event.event_type == "wallet.funded" {
            (
                "funded",
                format!("We received {amount}"),
                FundedText {
                    name,
                    amount: &amount,
                    operation_id,
                }
                .render(),
                FundedHtml {
                    name,
                    amount: &amount,
                    operation_id,
                }
                .render(),
            )
        } else {
            (
                "payout",
                format!("Your payout of {amount} is on its way"),
                PayoutText {
                    name,
                    amount: &amount,
                    operation_id,
                }
                .render(),
                PayoutHtml {
                    name,
                    amount: &amount,
                    operation_id,
                }
                .render(),
            )
        };
        let (template, subject, text, html) = rendered;
        Ok(Some(Email {
            id: EmailId::new(),
            event_id: event.id.to_string(),
            template: template.to_owned(),
            to,
            subject,
            text_body: text.map_err(|e| e.to_string())?,
            html_body: html.map_err(|e| e.to_string())?,
            status: if self.transport.is_some() {
                "queued"
            } else {
                "kept"
            }
            .to_owned(),
            attempts: 0,
            last_error: None,
            created_at: self.db.now(),
            sent_at: None,
        }))
    }

    async fn handle(&self, workspace_id: &WorkspaceId, event: &Event) -> Result<(), String> {
        let Some(draft) = self.draft(workspace_id, event).await? else {
            return Ok(());
        };
        let ws = workspace_id.clone();
        let stored = self
            .db
            .write(move |tx: &mut Tx| {
                Box::pin(async move { emails::insert_once(tx, &ws, &draft).await })
            })
            .await
            .map_err(|e| e.to_string())?;
        let Some(transport) = &self.transport else {
            return Ok(());
        };
        if stored.status == "sent" || stored.status == "kept" {
            return Ok(());
        }
        let sent = self.send(transport, &stored).await;
        let (ws, id, error, now) = (
            workspace_id.clone(),
            stored.id.clone(),
            sent.as_ref().err().cloned(),
            self.db.now(),
        );
        self.db
            .write(move |tx: &mut Tx| {
                Box::pin(async move {
                    emails::record_attempt(tx, &ws, &id, error.as_deref(), now).await
                })
            })
            .await
            .map_err(|e| e.to_string())?;
        sent
    }

    async fn send(
        &self,
        transport: &AsyncSmtpTransport<Tokio1Executor>,
        email: &Email,
    ) -> Result<(), String> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|e| format!("recipient '{}': {e}", email.to))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .message_id(Some(format!("<{}@bursar>", email.id)))
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(email.text_body.clone()),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(email.html_body.clone()),
                    ),
            )
            .map_err(|e| e.to_string())?;
        transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP: {e}"))
    }
}

/// A transport for `smtp://[user:password@]host[:port]`: plain SMTP, as to a local relay or
/// a mail server on a private network. (TLS to a remote provider is not built in: relay
/// through a local MTA.)
fn smtp_transport(url: &str) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let rest = url.strip_prefix("smtp://").ok_or_else(|| {
        anyhow::anyhow!("SMTP URL '{url}': use smtp://[user:password@]host[:port]")
    })?;
    let (credentials, address) = match rest.rsplit_once('@') {
        Some((user_password, address)) => (Some(user_password), address),
        None => (None, rest),
    };
    let address = address.trim_end_matches('/');
    let (host, port) = match address.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse::<u16>()
                .map_err(|_| anyhow::anyhow!("SMTP URL '{url}': bad port '{port}'"))?,
        ),
        None => (address, 25),
    };
    anyhow::ensure!(!host.is_empty(), "SMTP URL '{url}': no host");
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(port);
    if let Some(user_password) = credentials {
        let (user, password) = user_password.split_once(':').unwrap_or((user_password, ""));
        builder = builder.credentials(lettre::transport::smtp::authentication::Credentials::new(
            user.to_owned(),
            password.to_owned(),
        ));
    }
    Ok(builder.build())
}

impl Subscriber for EmailSubscriber {
    fn name(&self) -> &str {
        SUBSCRIBER
    }

    fn deliver<'a>(
        &'a self,
        workspace_id: &'a WorkspaceId,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(self.handle(workspace_id, event))
    }
}
