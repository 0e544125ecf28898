//! The email subscriber: notification emails rendered from events (HTML and text), sent over
//! SMTP when a server is configured, else kept in the mailbox the API lists.
//!
//! Each (event, template) gives at most one message, stored before it is sent, so a redelivered
//! event neither renders nor sends twice once the first send succeeded; a failed send is
//! retried by the relay with its backoff. Templates: `funded` (on `wallet.funded`) and
//! `payout` (on `wallet.cashed_out`), to the party when it has an email address.

use bursar_domain::event_type;
use std::sync::Arc;

use askama::Template;
use bursar_core::fulfillment::link_url;
use bursar_domain::commerce::{Order, Product, TaxBehavior};
use bursar_domain::event::Event;
use bursar_domain::fulfillment::{Artifact, DownloadLink, License};
use bursar_domain::id::DownloadLinkId;
use bursar_domain::id::{CustomerId, EmailId, WorkspaceId};
use bursar_domain::invoice::Invoice;
use bursar_domain::money::Currency;
use bursar_domain::time::Timestamp;
use bursar_store::documents::{self, ARTIFACT, DOWNLOAD_LINK, LICENSE, PRODUCT};
use bursar_store::emails::{self, Email};
use bursar_store::licenses::{self, Delivery};
use bursar_store::{customers, Db, Tx};
use futures::future::BoxFuture;
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::subscriber::Subscriber;

pub const SUBSCRIBER: &str = "email";

/// Where mail goes.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `smtp://host:port` (plain SMTP, e.g. a local relay); `None`: keep messages in the
    /// mailbox (`GET /v1/emails`) instead of sending them.
    pub smtp_url: Option<String>,
    /// The sender, e.g. `Payments <billing@example.com>`.
    pub from: String,
    /// The URL customers reach this server at, for links in emails (downloads).
    pub public_url: String,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            smtp_url: None,
            from: "Bursar <no-reply@localhost>".into(),
            public_url: "http://127.0.0.1:8080".into(),
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

/// Placeholders of secrets in stored messages: `[[license-key:lic_…]]`,
/// `[[download-url:dl_…]]`.
const LICENSE_PLACEHOLDER: &str = "license-key:";
const LINK_PLACEHOLDER: &str = "download-url:";

/// The ids named by placeholders of `kind` in `text`, in order, once each.
fn placeholders(text: &str, kind: &str) -> Vec<String> {
    let opening = format!("[[{kind}");
    let mut ids: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&opening) {
        let after = &rest[start + opening.len()..];
        let Some(end) = after.find("]]") else { break };
        let id = &after[..end];
        if !ids.iter().any(|i| i == id) {
            ids.push(id.to_owned());
        }
        rest = &after[end..];
    }
    ids
}

/// What a delivery email shows.
struct DeliveryMail {
    name: Option<String>,
    intro: String,
    order_id: String,
    lines: Vec<ReceiptLine>,
    subtotal: String,
    discount: Option<String>,
    /// How tax was treated: included in the prices, or none charged.
    tax: String,
    total: String,
    keys: Vec<KeyLine>,
    links: Vec<LinkLine>,
}

struct ReceiptLine {
    name: String,
    quantity: i64,
    unit: String,
    total: String,
    tax: &'static str,
}

struct KeyLine {
    product: String,
    key: String,
    expires: Option<String>,
    activations: Option<u32>,
}

struct LinkLine {
    file_name: String,
    platform: String,
    version: String,
    size: String,
    sha256: String,
    url: String,
    expires: String,
    downloads: u32,
}

#[derive(Template)]
#[template(path = "email/invoice.txt", escape = "none")]
struct InvoiceText<'a> {
    name: Option<&'a str>,
    intro: &'a str,
    number: &'a str,
    amount_due: &'a str,
    due: &'a str,
    issuer: &'a str,
    instructions: Option<&'a str>,
    /// A last line in small print (a dunning email's policy and step).
    footer: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "email/invoice.html")]
struct InvoiceHtml<'a> {
    name: Option<&'a str>,
    intro: &'a str,
    number: &'a str,
    amount_due: &'a str,
    due: &'a str,
    issuer: &'a str,
    instructions: Option<&'a str>,
    /// A last line in small print (a dunning email's policy and step).
    footer: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "email/fulfillment.txt", escape = "none")]
struct FulfillmentText<'a> {
    m: &'a DeliveryMail,
}

#[derive(Template)]
#[template(path = "email/fulfillment.html")]
struct FulfillmentHtml<'a> {
    m: &'a DeliveryMail,
}

fn human_size(bytes: i64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    // Tenths, in integers: no floats near money code.
    let mut tenths = bytes * 10 / 1024;
    let mut unit = 0;
    while tenths >= 10_240 && unit + 1 < UNITS.len() {
        tenths /= 1024;
        unit += 1;
    }
    format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[unit])
}

fn day(at: Timestamp) -> String {
    let text = at.to_rfc3339();
    format!("{} {} UTC", &text[..10], &text[11..16])
}

/// The customer and the contents of a delivery email, from its event.
async fn delivery_of(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    kind: &str,
    payload: &serde_json::Value,
) -> Result<Option<(bursar_domain::customer::Customer, DeliveryMail)>, bursar_store::StoreError> {
    let ids = |field: &str| -> Vec<String> {
        payload[field]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (customer_id, order, license_ids, link_ids) = match kind {
        event_type::LICENSE_REISSUED => {
            let license: License = match serde_json::from_value(payload["object"].clone()) {
                Ok(l) => l,
                Err(_) => return Ok(None),
            };
            (
                license.customer_id.clone(),
                None,
                vec![license.id.to_string()],
                Vec::new(),
            )
        }
        event_type::DOWNLOADS_RESENT => {
            let Some(customer) = payload["customer_id"].as_str() else {
                return Ok(None);
            };
            (
                CustomerId::from_trusted(customer.to_owned()),
                None,
                Vec::new(),
                ids("download_links"),
            )
        }
        _ => {
            let order: Order = match serde_json::from_value(payload["object"].clone()) {
                Ok(o) => o,
                Err(_) => return Ok(None),
            };
            (
                order.customer_id.clone(),
                Some(order),
                ids("licenses"),
                ids("download_links"),
            )
        }
    };
    let Some(customer) = customers::get(tx, workspace_id, &customer_id, false).await? else {
        return Ok(None);
    };
    let mut keys = Vec::new();
    for id in &license_ids {
        let Some(license) = documents::get::<License>(tx, LICENSE, workspace_id, id, false).await?
        else {
            continue;
        };
        let product = documents::get::<Product>(
            tx,
            PRODUCT,
            workspace_id,
            license.product_id.as_str(),
            false,
        )
        .await?
        .map_or_else(|| license.product_id.to_string(), |p| p.name);
        keys.push(KeyLine {
            product,
            key: format!("[[{LICENSE_PLACEHOLDER}{id}]]"),
            expires: license.expires_at.map(day),
            activations: license.max_activations,
        });
    }
    let mut links = Vec::new();
    for id in &link_ids {
        let Some(link) =
            documents::get::<DownloadLink>(tx, DOWNLOAD_LINK, workspace_id, id, false).await?
        else {
            continue;
        };
        let Some(artifact) = documents::get::<Artifact>(
            tx,
            ARTIFACT,
            workspace_id,
            link.artifact_id.as_str(),
            false,
        )
        .await?
        else {
            continue;
        };
        links.push(LinkLine {
            file_name: artifact.file_name,
            platform: artifact.platform,
            version: artifact.version,
            size: human_size(artifact.size),
            sha256: artifact.sha256,
            url: format!("[[{LINK_PLACEHOLDER}{id}]]"),
            expires: day(link.expires_at),
            downloads: link.max_downloads,
        });
    }
    let name = customer.name.as_ref().map(|n| n.as_str().to_owned());
    let mail = match order {
        Some(order) => {
            let money = |amount: i64| order.currency.format(amount);
            DeliveryMail {
                name,
                intro:
                    "thank you for your order. Your payment is confirmed; here is what you bought."
                        .into(),
                order_id: order.id.to_string(),
                lines: order
                    .lines
                    .iter()
                    .map(|line| ReceiptLine {
                        name: line.product_name.clone(),
                        quantity: line.quantity,
                        unit: money(line.unit_amount),
                        total: money(line.total),
                        tax: match line.tax_behavior {
                            TaxBehavior::Inclusive => "incl. tax",
                            _ => "excl. tax",
                        },
                    })
                    .collect(),
                subtotal: money(order.totals.subtotal),
                discount: (order.totals.discount != 0).then(|| money(order.totals.discount)),
                // Orders carry no tax lines: inclusive prices contain it, others had none.
                tax: if order
                    .lines
                    .iter()
                    .any(|l| l.tax_behavior == TaxBehavior::Inclusive)
                {
                    "included in the prices".into()
                } else {
                    format!("{} (none charged)", money(0))
                },
                total: money(order.totals.total),
                keys,
                links,
            }
        }
        None => DeliveryMail {
            name,
            intro: if kind == event_type::LICENSE_REISSUED {
                "here is your new license key; the previous one no longer works.".into()
            } else {
                "here are fresh links to your downloads.".into()
            },
            order_id: String::new(),
            lines: Vec::new(),
            subtotal: String::new(),
            discount: None,
            tax: String::new(),
            total: String::new(),
            keys,
            links,
        },
    };
    Ok(Some((customer, mail)))
}

pub struct EmailSubscriber {
    db: Db,
    from: Mailbox,
    public_url: String,
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
            public_url: config.public_url.clone(),
            transport,
        }))
    }

    /// The message an event calls for, if any.
    async fn draft(
        &self,
        workspace_id: &WorkspaceId,
        event: &Event,
    ) -> Result<Option<Email>, String> {
        match event.event_type.as_str() {
            event_type::WALLET_FUNDED | event_type::WALLET_CASHED_OUT => {
                self.money_notice(workspace_id, event).await
            }
            event_type::ORDER_FULFILLED
            | event_type::ORDER_DELIVERED
            | event_type::DOWNLOADS_RESENT
            | event_type::LICENSE_REISSUED => self.delivery(workspace_id, event).await,
            event_type::INVOICE_ISSUED
            | event_type::INVOICE_DUE_SOON
            | event_type::INVOICE_OVERDUE => self.invoice_notice(workspace_id, event).await,
            event_type::DUNNING_STEP_EXECUTED => self.dunning_notice(workspace_id, event).await,
            event_type::ORDER_ONBOARDING => {
                match crate::onboarding_mail::draft(event, &self.public_url)? {
                    Some(d) => self
                        .email(event, &d.template, d.to, d.subject, d.text, d.html)
                        .map(Some),
                    None => Ok(None),
                }
            }
            event_type::PORTAL_SIGN_IN_REQUESTED => match crate::portal_mail::draft(event)? {
                Some((to, subject, text, html)) => self
                    .email(event, "portal_sign_in", to, subject, text, html)
                    .map(Some),
                None => Ok(None),
            },
            _ => Ok(None),
        }
    }

    /// A money notification, to the party whose wallet it is.
    async fn money_notice(
        &self,
        workspace_id: &WorkspaceId,
        event: &Event,
    ) -> Result<Option<Email>, String> {
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
        let rendered = if event.event_type == event_type::WALLET_FUNDED {
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
        self.email(
            event,
            template,
            to,
            subject,
            text.map_err(|e| e.to_string())?,
            html.map_err(|e| e.to_string())?,
        )
        .map(Some)
    }

    fn email(
        &self,
        event: &Event,
        template: &str,
        to: String,
        subject: String,
        text_body: String,
        html_body: String,
    ) -> Result<Email, String> {
        Ok(Email {
            id: EmailId::new(),
            event_id: event.id.to_string(),
            template: template.to_owned(),
            to,
            subject,
            text_body,
            html_body,
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
        })
    }

    /// The receipt with license keys and download links (`order.fulfilled`,
    /// `order.delivered`), fresh links (`downloads.resent`) or a re-issued key
    /// (`license.reissued`). Keys and links appear in the stored message as placeholders,
    /// filled in only when it is sent (see [`fill_secrets`]).
    async fn delivery(
        &self,
        workspace_id: &WorkspaceId,
        event: &Event,
    ) -> Result<Option<Email>, String> {
        let payload = event.payload.clone();
        let ws = workspace_id.clone();
        let kind = event.event_type.clone();
        let found = self
            .db
            .read(move |tx: &mut Tx| {
                Box::pin(async move { delivery_of(tx, &ws, &kind, &payload).await })
            })
            .await
            .map_err(|e| e.to_string())?;
        let Some((customer, mail)) = found else {
            return Ok(None);
        };
        let Some(to) = customer.email.as_ref().map(|e| e.as_str().to_owned()) else {
            return Ok(None);
        };
        let (template, subject) = match event.event_type.as_str() {
            event_type::DOWNLOADS_RESENT => ("downloads", "Your download links".to_owned()),
            event_type::LICENSE_REISSUED => ("license", "Your new license key".to_owned()),
            _ => (
                "fulfillment",
                format!(
                    "Your order {}: receipt, license and downloads",
                    mail.order_id
                ),
            ),
        };
        let text = FulfillmentText { m: &mail }
            .render()
            .map_err(|e| e.to_string())?;
        let html = FulfillmentHtml { m: &mail }
            .render()
            .map_err(|e| e.to_string())?;
        self.email(event, template, to, subject, text, html)
            .map(Some)
    }

    /// A dunning step's notices in one email (`dunning_<first notice>`), about the oldest
    /// unpaid invoice and the whole overdue balance: once per step and anchor invoice, as the
    /// engine records each step once.
    async fn dunning_notice(
        &self,
        workspace_id: &WorkspaceId,
        event: &Event,
    ) -> Result<Option<Email>, String> {
        let notices: Vec<&str> = event.payload["notices"]
            .as_array()
            .map(|n| n.iter().filter_map(|t| t.as_str()).collect())
            .unwrap_or_default();
        let Some(first) = notices.first() else {
            return Ok(None);
        };
        let (ws, anchor) = (
            workspace_id.clone(),
            event.payload["anchor_invoice_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
        let invoice: Option<Invoice> = self
            .db
            .read(move |tx: &mut Tx| {
                Box::pin(async move {
                    documents::get(tx, documents::INVOICE, &ws, &anchor, false).await
                })
            })
            .await
            .map_err(|e| e.to_string())?;
        let Some(mut invoice) = invoice else {
            return Ok(None);
        };
        let balance = &event.payload["overdue"][0];
        if let Some(amount) = balance["amount"].as_i64() {
            invoice.amount_due = amount;
        }
        let mut intro = notices
            .iter()
            .map(|n| dunning_sentence(n))
            .collect::<Vec<_>>()
            .join(" ");
        if let Some(link) = invoice
            .payment_link
            .as_ref()
            .filter(|l| l.expires_at > event.occurred_at)
        {
            let amount = invoice.currency.format(link.amount);
            let number = invoice.number.as_deref().unwrap_or_default();
            intro.push_str(&format!(
                " Pay invoice {number} ({amount}) online: {}",
                link.url
            ));
        }
        let template = format!("dunning_{first}");
        let subject = dunning_subject(first, invoice.number.as_deref().unwrap_or_default());
        let footer = dunning_footer(&event.payload);
        let mail = InvoiceMail {
            template: &template,
            subject,
            intro,
            footer,
        };
        self.render_invoice_mail(workspace_id, event, &invoice, mail)
            .await
    }

    /// An invoice notice to the customer: issued, due soon, overdue.
    async fn invoice_notice(
        &self,
        workspace_id: &WorkspaceId,
        event: &Event,
    ) -> Result<Option<Email>, String> {
        let Ok(invoice) = serde_json::from_value::<Invoice>(event.payload["object"].clone()) else {
            return Ok(None);
        };
        let number = invoice.number.clone().unwrap_or_default();
        let amount_due = invoice.currency.format(invoice.amount_due);
        let due = invoice
            .due_at
            .map(|d| d.to_rfc3339()[..10].to_owned())
            .unwrap_or_default();
        let (template, subject, intro) = match event.event_type.as_str() {
            event_type::INVOICE_ISSUED => (
                "invoice_issued",
                format!("Invoice {number} from {{issuer}}"),
                format!("here is invoice {number} for {amount_due}, due on {due}."),
            ),
            event_type::INVOICE_DUE_SOON => (
                "invoice_due_soon",
                format!("Invoice {number} is due on {due}"),
                format!("a reminder: invoice {number} ({amount_due}) is due on {due}."),
            ),
            _ => (
                "invoice_overdue",
                format!("Invoice {number} is overdue"),
                format!("invoice {number} was due on {due} and {amount_due} is still open. Please pay it, or tell us if something is wrong."),
            ),
        };
        let mail = InvoiceMail {
            template,
            subject,
            intro,
            footer: None,
        };
        self.render_invoice_mail(workspace_id, event, &invoice, mail)
            .await
    }

    /// An email about `invoice` to its customer (when it has an address), in the invoice
    /// layout; `{issuer}` in the subject is the workspace's issuer name.
    async fn render_invoice_mail(
        &self,
        workspace_id: &WorkspaceId,
        event: &Event,
        invoice: &Invoice,
        mail: InvoiceMail<'_>,
    ) -> Result<Option<Email>, String> {
        let InvoiceMail {
            template,
            subject,
            intro,
            footer,
        } = mail;
        let ws = workspace_id.clone();
        let customer_id = invoice.customer_id.clone();
        let (customer, settings) = self
            .db
            .read(move |tx: &mut Tx| {
                Box::pin(async move {
                    let customer = customers::get(tx, &ws, &customer_id, false).await?;
                    let settings = bursar_core::invoices::load_settings(tx, &ws).await?;
                    Ok::<_, bursar_core::Error>((customer, settings))
                })
            })
            .await
            .map_err(|e| e.message)?;
        let Some(customer) = customer else {
            return Ok(None);
        };
        let Some(to) = customer.email.as_ref().map(|e| e.as_str().to_owned()) else {
            return Ok(None);
        };
        let subject = subject.replace("{issuer}", &settings.issuer_name);
        let number = invoice.number.clone().unwrap_or_default();
        let amount_due = invoice.currency.format(invoice.amount_due);
        let due = invoice
            .due_at
            .map(|d| d.to_rfc3339()[..10].to_owned())
            .unwrap_or_default();
        let name = customer.name.as_ref().map(|n| n.as_str());
        let instructions = settings.payment_instructions.as_deref();
        let text = InvoiceText {
            name,
            intro: &intro,
            number: &number,
            amount_due: &amount_due,
            due: &due,
            issuer: &settings.issuer_name,
            instructions,
            footer: footer.as_deref(),
        }
        .render()
        .map_err(|e| e.to_string())?;
        let html = InvoiceHtml {
            name,
            intro: &intro,
            number: &number,
            amount_due: &amount_due,
            due: &due,
            issuer: &settings.issuer_name,
            instructions,
            footer: footer.as_deref(),
        }
        .render()
        .map_err(|e| e.to_string())?;
        self.email(event, template, to, subject, text, html)
            .map(Some)
    }

    /// The message with its placeholders replaced by the secrets they stand for; returns the
    /// licenses whose keys it carries.
    async fn fill_secrets(
        &self,
        workspace_id: &WorkspaceId,
        email: &Email,
    ) -> Result<(Email, Vec<String>), String> {
        let licenses = placeholders(&email.text_body, LICENSE_PLACEHOLDER);
        let links = placeholders(&email.text_body, LINK_PLACEHOLDER);
        let sign_in = email
            .text_body
            .contains(crate::portal_mail::SIGN_IN_PLACEHOLDER);
        if licenses.is_empty() && links.is_empty() && !sign_in {
            return Ok((email.clone(), Vec::new()));
        }
        let sealer = self.db.sealer().map_err(|e| e.to_string())?.clone();
        if sign_in {
            let mut filled = email.clone();
            filled.text_body =
                crate::portal_mail::fill(&filled.text_body, &self.public_url, &sealer);
            filled.html_body =
                crate::portal_mail::fill(&filled.html_body, &self.public_url, &sealer);
            return Ok((filled, Vec::new()));
        }
        let (ws, ids) = (workspace_id.clone(), licenses.clone());
        let keys = self
            .db
            .read(move |tx: &mut Tx| {
                Box::pin(async move { licenses::sealed_keys(tx, &ws, &ids).await })
            })
            .await
            .map_err(|e| e.to_string())?;
        let mut filled = email.clone();
        let mut carried = Vec::new();
        for id in &licenses {
            let key = match keys
                .iter()
                .find(|k| &k.license_id == id)
                .and_then(|k| k.sealed.as_ref())
            {
                Some(sealed) => {
                    carried.push(id.clone());
                    sealer.open(sealed).map_err(|e| e.to_string())?
                }
                None => "(sent before: ask us to re-issue it)".to_owned(),
            };
            let placeholder = format!("[[{LICENSE_PLACEHOLDER}{id}]]");
            filled.text_body = filled.text_body.replace(&placeholder, &key);
            filled.html_body = filled.html_body.replace(&placeholder, &key);
        }
        for id in &links {
            let url = link_url(
                &self.public_url,
                &sealer,
                &DownloadLinkId::from_trusted(id.clone()),
            );
            let placeholder = format!("[[{LINK_PLACEHOLDER}{id}]]");
            filled.text_body = filled.text_body.replace(&placeholder, &url);
            filled.html_body = filled.html_body.replace(&placeholder, &url);
        }
        Ok((filled, carried))
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
        let (filled, carried) = self.fill_secrets(workspace_id, &stored).await?;
        let sent = self.send(transport, &filled).await;
        let (ws, id, error, now) = (
            workspace_id.clone(),
            stored.id.clone(),
            sent.as_ref().err().cloned(),
            self.db.now(),
        );
        self.db
            .write(move |tx: &mut Tx| {
                Box::pin(async move {
                    emails::record_attempt(tx, &ws, &id, error.as_deref(), now).await?;
                    if error.is_none() {
                        licenses::mark_delivered(tx, &ws, &carried, Delivery::Emailed, now).await?;
                    }
                    Ok::<(), bursar_store::StoreError>(())
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

/// What an invoice-layout email says, besides the invoice.
struct InvoiceMail<'a> {
    template: &'a str,
    subject: String,
    intro: String,
    footer: Option<String>,
}

/// The subject of a dunning email by its first notice.
fn dunning_subject(notice: &str, number: &str) -> String {
    match notice {
        "payment_failed" => format!("Payment for invoice {number} failed"),
        "update_payment_method" => "Please update your payment method".to_owned(),
        "authentication_required" => format!("Please confirm the payment for invoice {number}"),
        "final_notice" => format!("Final notice: invoice {number} is overdue"),
        "suspension" => "Your service is suspended until the balance is paid".to_owned(),
        _ => format!("Reminder: invoice {number} is overdue"),
    }
}

/// The policy, its version and the step (counted from 1) a dunning email comes from, as the
/// `dunning.step_executed` event names them.
fn dunning_footer(payload: &serde_json::Value) -> Option<String> {
    let version = payload["policy_version"].as_u64()?;
    let step = payload["step"].as_u64()? + 1;
    // Events recorded before they named the policy: its id, or the built-in one.
    let name = payload["policy_name"]
        .as_str()
        .or(payload["policy_id"].as_str())
        .unwrap_or("Built-in");
    let day = payload["at_days"].as_u64().unwrap_or(0);
    Some(format!(
        "Collections policy {name}, version {version}, step {step} (day {day})."
    ))
}

/// One sentence per dunning notice.
fn dunning_sentence(notice: &str) -> &'static str {
    match notice {
        "payment_failed" => "we could not charge your card for the overdue balance below; we will try again, or you can pay it now or update your card.",
        "update_payment_method" => "your card cannot be charged for the overdue balance below: please add a new payment method, or pay it now.",
        "authentication_required" => "your bank asks you to confirm the payment of the overdue balance below: please pay it online or by transfer.",
        "final_notice" => "this is our final notice: unless the overdue balance below is paid, your service will be limited.",
        "suspension" => "your service is suspended until the overdue balance below is paid; periods you already paid for stay available.",
        _ => "a friendly reminder: the balance below is overdue.",
    }
}
