//! What a signed-in portal visitor sees: their orders, one order with its licenses, fresh
//! download links for it, their invoices with their PDFs and a way to pay them. Anything of a
//! customer the session does not reach is not found.

use bursar_domain::commerce::Order;
use bursar_domain::event::Cause;
use bursar_domain::fulfillment::{Artifact, DownloadLink, License};
use bursar_domain::id::DownloadLinkId;
use bursar_domain::invoice::{Invoice, InvoiceStatus};
use bursar_store::documents::{self, ARTIFACT, DOWNLOAD_LINK, INVOICE, LICENSE, ORDER};
use bursar_store::Tx;

use crate::error::Error;
use crate::fulfillment::{fresh_links, link_url};
use crate::invoice_checkout::{
    not_payable, open_payment_link, payable, record_payment_link, LinkPage,
};
use crate::portal::Portal;
use crate::storefront::Shop;
use crate::App;

/// Orders or invoices a portal page lists at most, newest first.
pub const PAGE_SIZE: usize = 25;

/// A page of a list, newest first, and the cursor of the next (older) page if there is one.
#[derive(Debug, Clone)]
pub struct Listing<T> {
    pub items: Vec<T>,
    /// The `before` of the next page.
    pub older: Option<String>,
}

/// The newest `table` documents of the customers `portal` reaches, older than `before` when
/// given: a page of [`PAGE_SIZE`] (one query per customer through its index, whatever the
/// number of rows), with the id of its last document when more follow.
async fn newest_page<T>(
    app: &App,
    shop: &Shop,
    portal: &Portal,
    table: bursar_store::documents::Table,
    before: Option<String>,
    id_of: fn(&T) -> String,
) -> Result<Listing<T>, Error>
where
    T: serde::de::DeserializeOwned + Send + 'static,
{
    let workspace_id = shop.workspace_id.clone();
    let customers = portal.document_customers();
    let mut items: Vec<T> = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let ids: Vec<&str> = customers.iter().map(String::as_str).collect();
                let (before, limit) = (before.as_deref(), PAGE_SIZE + 1);
                documents::newest_for(tx, table, &workspace_id, "customer_id", &ids, before, limit)
                    .await
            })
        })
        .await?;
    let older = (items.len() > PAGE_SIZE).then(|| {
        items.truncate(PAGE_SIZE);
        items.last().map(id_of)
    });
    Ok(Listing {
        items,
        older: older.flatten(),
    })
}

/// A page of the orders of the customers `portal` reaches, newest first.
pub async fn orders(
    app: &App,
    shop: &Shop,
    portal: &Portal,
    before: Option<String>,
) -> Result<Listing<Order>, Error> {
    newest_page(app, shop, portal, ORDER, before, |o: &Order| {
        o.id.to_string()
    })
    .await
}

/// One order as its portal page shows it.
#[derive(Debug, Clone)]
pub struct OrderPage {
    pub order: Order,
    /// Its licenses (their key hints: keys are shown once, on the receipt and in the email).
    pub licenses: Vec<License>,
}

/// Order `id`, if it belongs to a customer `portal` reaches.
pub async fn order(
    app: &App,
    shop: &Shop,
    portal: &Portal,
    id: &str,
) -> Result<Option<OrderPage>, Error> {
    let (workspace_id, id) = (shop.workspace_id.clone(), id.to_owned());
    let found = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let order: Option<Order> =
                    documents::get(tx, ORDER, &workspace_id, &id, false).await?;
                let licenses: Vec<License> =
                    documents::find_in(tx, LICENSE, &workspace_id, "order_id", &[id.as_str()])
                        .await?;
                Ok::<_, bursar_store::StoreError>(order.map(|order| (order, licenses)))
            })
        })
        .await?;
    Ok(found
        .filter(|(order, _)| portal.sees_documents_of(&order.customer_id))
        .map(|(order, licenses)| OrderPage { order, licenses }))
}

/// A fresh download link as the portal shows it: its file and its URL (derived, never
/// stored).
#[derive(Debug, Clone)]
pub struct Download {
    pub link: DownloadLink,
    pub artifact: Artifact,
    pub url: String,
}

/// New download links for what order `id` gave links for, if the order belongs to a customer
/// `portal` reaches and still stands (paid, not refunded); `None` when it is not theirs.
pub async fn fresh_downloads(
    app: &App,
    shop: &Shop,
    portal: &Portal,
    id: &str,
    base_url: &str,
) -> Result<Option<Vec<Download>>, Error> {
    let Some(page) = order(app, shop, portal, id).await? else {
        return Ok(None);
    };
    if !portal.reaches(&page.order.customer_id) {
        return Ok(None);
    }
    let settings = app.config.downloads.clone();
    let (customer, order_id) = (page.order.customer_id.clone(), page.order.id.to_string());
    let cause = Cause {
        request_id: None,
        actor: Some("portal".into()),
    };
    let created = app
        .write(shop.workspace_id.clone(), cause, move |mut cx| {
            Box::pin(async move {
                let ids = fresh_links(&mut cx, &settings, &customer, Some(&order_id)).await?;
                links_with_files(cx.tx, cx.workspace_id, &ids).await
            })
        })
        .await?;
    let sealer = app.db.sealer()?;
    Ok(Some(
        created
            .into_iter()
            .map(|(link, artifact)| Download {
                url: link_url(base_url, sealer, &link.id),
                link,
                artifact,
            })
            .collect(),
    ))
}

async fn links_with_files(
    tx: &mut Tx,
    workspace_id: &bursar_domain::id::WorkspaceId,
    ids: &[DownloadLinkId],
) -> Result<Vec<(DownloadLink, Artifact)>, Error> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let link: Option<DownloadLink> =
            documents::get(tx, DOWNLOAD_LINK, workspace_id, id.as_str(), false).await?;
        let Some(link) = link else { continue };
        let artifact: Option<Artifact> =
            documents::get(tx, ARTIFACT, workspace_id, link.artifact_id.as_str(), false).await?;
        if let Some(artifact) = artifact {
            out.push((link, artifact));
        }
    }
    Ok(out)
}

/// A page of the issued invoices (paid, void and uncollectible ones too, never drafts) of the
/// customers `portal` reaches, newest first (a page may show fewer when it passed drafts).
pub async fn invoices(
    app: &App,
    shop: &Shop,
    portal: &Portal,
    before: Option<String>,
) -> Result<Listing<Invoice>, Error> {
    let id_of = |i: &Invoice| i.id.to_string();
    let mut page = newest_page(app, shop, portal, INVOICE, before, id_of).await?;
    page.items
        .retain(|invoice| invoice.status != InvoiceStatus::Draft);
    Ok(page)
}

/// Invoice `id` as a PDF (`(file name, bytes)`), if it is issued and of a customer `portal`
/// reaches.
pub async fn invoice_pdf(
    app: &App,
    shop: &Shop,
    portal: &Portal,
    id: &str,
) -> Result<Option<(String, Vec<u8>)>, Error> {
    let found = crate::invoice_pdf::pdf_of(
        app,
        &shop.workspace_id,
        id,
        Some(portal.document_customer_ids()),
    )
    .await?;
    Ok(found
        .filter(|(invoice, _, _)| invoice.status != InvoiceStatus::Draft)
        .map(|(_, name, bytes)| (name, bytes)))
}

/// The hosted payment page of invoice `id`'s amount due (its open payment link, or a new one
/// recorded on it), if the invoice is of a customer `portal` reaches; refused when it is not
/// payable (paid, void, a draft).
pub async fn pay_invoice(
    app: &App,
    shop: &Shop,
    portal: &Portal,
    id: &str,
    page: LinkPage,
) -> Result<Option<String>, Error> {
    let invoice: Invoice = match crate::lookup::get(
        app,
        &shop.workspace_id,
        INVOICE,
        "invoice",
        id.to_owned(),
    )
    .await
    {
        Ok(invoice) => invoice,
        Err(error) if error.kind == crate::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    if !portal.sees_documents_of(&invoice.customer_id) || invoice.status == InvoiceStatus::Draft {
        return Ok(None);
    }
    if !payable(&invoice) {
        return Err(not_payable(&invoice));
    }
    // The shop's provider, unless the page names one.
    let page = LinkPage {
        provider: page
            .provider
            .or_else(|| shop.settings.payment_provider.clone()),
        ..page
    };
    let opened = open_payment_link(app, &shop.workspace_id, &invoice, page).await?;
    let cause = Cause {
        request_id: None,
        actor: Some("portal".into()),
    };
    let invoice_id = invoice.id.to_string();
    let recorded = app
        .write(shop.workspace_id.clone(), cause, move |mut cx| {
            Box::pin(async move { record_payment_link(&mut cx, &invoice_id, opened).await })
        })
        .await?;
    Ok(recorded.payment_link.map(|link| link.url))
}

/// The saved payment methods of the customers `portal` reaches, newest first.
pub async fn saved_methods(
    app: &App,
    shop: &Shop,
    portal: &Portal,
) -> Result<Vec<bursar_domain::commerce::PaymentMethod>, Error> {
    let workspace_id = shop.workspace_id.clone();
    let customers: Vec<String> = portal.customers.iter().map(|c| c.to_string()).collect();
    let mut methods = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let ids: Vec<&str> = customers.iter().map(String::as_str).collect();
                documents::find_in::<bursar_domain::commerce::PaymentMethod>(
                    tx,
                    bursar_store::documents::PAYMENT_METHOD,
                    &workspace_id,
                    "customer_id",
                    &ids,
                )
                .await
            })
        })
        .await?;
    methods.sort_by(|a, b| b.id.as_str().cmp(a.id.as_str()));
    Ok(methods)
}

/// What the signed-in customer does to one of their saved methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodChange {
    MakeDefault,
    Remove,
}

/// Makes saved method `id` the default or removes it (detached at the provider, then
/// forgotten), through the same core operations as the API; `None` when it is not a method of
/// a customer `portal` reaches (or is gone already).
pub async fn change_method(
    app: &App,
    shop: &Shop,
    portal: &Portal,
    id: &str,
    change: MethodChange,
) -> Result<Option<()>, Error> {
    let Some(method) = saved_methods(app, shop, portal)
        .await?
        .into_iter()
        .find(|m| m.id.as_str() == id)
    else {
        return Ok(None);
    };
    let customer = method.customer_id.to_string();
    if change == MethodChange::Remove {
        crate::saved_methods::detach(app, &shop.workspace_id, &customer, id).await?;
    }
    let cause = Cause {
        request_id: None,
        actor: Some("portal".into()),
    };
    let id = id.to_owned();
    app.write(shop.workspace_id.clone(), cause, move |mut cx| {
        Box::pin(async move {
            match change {
                MethodChange::MakeDefault => {
                    crate::saved_methods::make_default(&mut cx, &customer, &id).await?
                }
                MethodChange::Remove => {
                    crate::saved_methods::forget(&mut cx, &customer, &id).await?
                }
            };
            Ok(Some(()))
        })
    })
    .await
}
