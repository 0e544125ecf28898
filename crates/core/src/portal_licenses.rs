//! A customer's licenses in the portal: a machine deactivated (its activation freed for another)
//! and a lost key replaced (the old key revoked, a new one emailed, as
//! `POST /v1/licenses/{id}/reissue` does: Bursar keeps no key it could send again). Only the
//! customer's own licenses are reached; a colleague's or another customer's are not found.

use bursar_domain::event::Cause;
use bursar_domain::fulfillment::{License, LicenseStatus};
use bursar_store::documents::{self, LICENSE};
use bursar_store::Tx;

use crate::error::Error;
use crate::portal::Portal;
use crate::storefront::Shop;
use crate::App;

fn portal_cause() -> Cause {
    Cause {
        request_id: None,
        actor: Some("portal".into()),
    }
}

/// License `id`, if it is of a customer the session reaches.
async fn reached(
    tx: &mut Tx,
    shop: &Shop,
    portal: &Portal,
    id: &str,
) -> Result<Option<License>, Error> {
    let license: Option<License> =
        documents::get(tx, LICENSE, &shop.workspace_id, id, false).await?;
    Ok(license.filter(|l| portal.reaches(&l.customer_id)))
}

/// Frees `machine_id`'s activation of license `id` (a machine not activated changes nothing).
/// `None` when the license is not the session's.
pub async fn deactivate_machine(
    app: &App,
    shop: &Shop,
    portal: &Portal,
    id: &str,
    machine_id: &str,
) -> Result<Option<License>, Error> {
    let machine = bursar_domain::fulfillment::parse_machine_id(machine_id, "machine_id")?;
    let (shop_, portal, id) = (shop.clone(), portal.clone(), id.to_owned());
    app.write(shop.workspace_id.clone(), portal_cause(), move |mut cx| {
        Box::pin(async move {
            if reached(cx.tx, &shop_, &portal, &id).await?.is_none() {
                return Ok(None);
            }
            Ok(Some(
                crate::licenses::deactivate(&mut cx, &id, &machine).await?,
            ))
        })
    })
    .await
}

/// Replaces license `id`'s key: revoked, and a new key with the same terms emailed (its
/// machines activate again). A license already replaced changes nothing, so the form sent
/// twice replaces once. Returns the license now in use; `None` when it is not the session's.
pub async fn replace_key(
    app: &App,
    shop: &Shop,
    portal: &Portal,
    id: &str,
) -> Result<Option<License>, Error> {
    let sealer = app.db.sealer()?.clone();
    let (shop_, portal, id) = (shop.clone(), portal.clone(), id.to_owned());
    app.write(shop.workspace_id.clone(), portal_cause(), move |mut cx| {
        Box::pin(async move {
            let Some(license) = reached(cx.tx, &shop_, &portal, &id).await? else {
                return Ok(None);
            };
            if license.status == LicenseStatus::Revoked && license.replaced_by.is_some() {
                return Ok(Some(license));
            }
            Ok(Some(crate::licenses::reissue(&mut cx, &sealer, &id).await?))
        })
    })
    .await
}
