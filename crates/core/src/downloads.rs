//! Download links after they were issued: unlocked by the merchant, sent again to a customer's
//! address, and admitted (counted, locked when used from too many places) at each download.

use bursar_domain::event::{Cause, NewEvent};
use bursar_domain::event_type;
use bursar_domain::fulfillment::*;
use bursar_domain::id::{CustomerId, DownloadLinkId, WorkspaceId};
use bursar_domain::time::Timestamp;
use bursar_store::documents::{self, ARTIFACT, DOWNLOAD_LINK};
use bursar_store::{licenses, Tx};
use serde_json::json;

use crate::blobs::{parse_range, RangeRequest};
use crate::error::Error;
use crate::fulfillment::{fresh_links, DownloadSettings};
use crate::lookup;
use crate::write::Context;
use crate::App;

/// Unlocks a link locked for use from too many addresses (`download_link.unlocked`), its
/// addresses forgotten.
pub async fn unlock(cx: &mut Context<'_>, id: &str) -> Result<DownloadLink, Error> {
    let mut link: DownloadLink =
        lookup::get_in(cx, DOWNLOAD_LINK, "download_link", id, "id").await?;
    if !link.locked {
        return Err(Error::state(
            "download_link_not_locked",
            "unlocked",
            "The link is not locked.",
        ));
    }
    link.locked = false;
    link.ips.clear();
    documents::save(cx.tx, DOWNLOAD_LINK, cx.workspace_id, id, &link, &[]).await?;
    cx.emit_object(
        event_type::DOWNLOAD_LINK_UNLOCKED,
        "download_link",
        id,
        &link,
    )
    .await?;
    Ok(link)
}

/// The address a resend goes to, trimmed; refused unless it looks like one.
pub fn parse_resend_email(email: &str) -> Result<String, Error> {
    let email = email.trim().to_owned();
    let plausible = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if !plausible {
        return Err(Error::invalid(
            "parameter_invalid",
            Some("email".into()),
            "email is an address such as ada@example.com.",
        ));
    }
    Ok(email)
}

/// The customers with this address, in every workspace.
pub async fn customers_by_email(
    app: &App,
    email: &str,
) -> Result<Vec<(WorkspaceId, CustomerId)>, Error> {
    let lookup = email.to_owned();
    Ok(app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { licenses::customers_by_email(tx, &lookup).await })
        })
        .await?)
}

/// Gives a customer fresh links for what they were given links for (`downloads.resent` when
/// there are any).
pub async fn resend(
    cx: &mut Context<'_>,
    settings: &DownloadSettings,
    customer_id: &CustomerId,
) -> Result<(), Error> {
    let links = fresh_links(cx, settings, customer_id, None).await?;
    if !links.is_empty() {
        cx.emit(NewEvent::new(
            event_type::DOWNLOADS_RESENT,
            "customer",
            customer_id.as_str(),
            json!({ "customer_id": customer_id, "download_links": links }),
        ))
        .await?;
    }
    Ok(())
}

/// Whether a download may go ahead.
#[derive(Debug)]
pub enum Admission {
    /// The link refuses it (expired, used up, locked...).
    Refused(Refusal),
    /// No such link, or its file was retired.
    Gone,
    /// Serve this file.
    Go(Box<Artifact>),
}

/// A request to download through a link.
#[derive(Debug, Clone)]
pub struct DownloadAttempt {
    pub link_id: DownloadLinkId,
    /// The client's address.
    pub ip: String,
    /// The `Range` asked for, if any: a resumed download does not count again.
    pub range: Option<String>,
    /// A HEAD request: answered as a GET would be, without counting.
    pub head: bool,
    pub now: Timestamp,
}

/// Admits a download through a link: counts it and records `download.started`, or locks the
/// link when one address too many uses it (`download_link.locked`).
pub async fn admit(app: &App, attempt: DownloadAttempt) -> Result<Admission, Error> {
    let max_ips = app.config.downloads.max_ips;
    app.db
        .write(move |tx: &mut Tx| Box::pin(async move { admit_in(tx, attempt, max_ips).await }))
        .await
}

async fn admit_in(
    tx: &mut Tx,
    attempt: DownloadAttempt,
    max_ips: usize,
) -> Result<Admission, Error> {
    let id = attempt.link_id.to_string();
    let Some((workspace_id, mut link)) =
        documents::find_anywhere::<DownloadLink>(tx, DOWNLOAD_LINK, "object_id", &id, true).await?
    else {
        return Ok(Admission::Gone);
    };
    let artifact: Option<Artifact> = documents::get(
        tx,
        ARTIFACT,
        &workspace_id,
        link.artifact_id.as_str(),
        false,
    )
    .await?;
    let Some(artifact) = artifact.filter(|a| a.status == ArtifactStatus::Active) else {
        return Ok(Admission::Gone);
    };
    let size = u64::try_from(artifact.size).unwrap_or(0);
    let resume = matches!(
        parse_range(attempt.range.as_deref(), size),
        RangeRequest::Part { start, .. } if start > 0
    );
    let (ip, now) = (attempt.ip, attempt.now);
    let before = link.clone();
    let admitted = if attempt.head {
        link.clone().admit(&ip, resume, now, max_ips)
    } else {
        link.admit(&ip, resume, now, max_ips)
    };
    if link != before {
        documents::save(tx, DOWNLOAD_LINK, &workspace_id, &id, &link, &[]).await?;
        record_use(tx, &workspace_id, &link, &ip, now).await?;
    }
    Ok(match admitted {
        Ok(()) => Admission::Go(Box::new(artifact)),
        Err(refusal) => Admission::Refused(refusal),
    })
}

/// Records what a download did to its link: it locked it, or it started.
async fn record_use(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    link: &DownloadLink,
    ip: &str,
    now: Timestamp,
) -> Result<(), Error> {
    let (event_type, payload) = if link.locked {
        (
            event_type::DOWNLOAD_LINK_LOCKED,
            json!({ "object": link, "reason": "too_many_addresses", "ip": ip }),
        )
    } else {
        (
            event_type::DOWNLOAD_STARTED,
            json!({ "object": link, "ip": ip }),
        )
    };
    bursar_store::events::record(
        tx,
        workspace_id,
        &NewEvent::new(event_type, "download_link", link.id.as_str(), payload),
        &Cause {
            request_id: None,
            actor: Some("download_link".into()),
        },
        now,
    )
    .await?;
    Ok(())
}
