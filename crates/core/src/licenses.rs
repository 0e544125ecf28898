//! Licenses after they were issued: re-issued with a new key, their keys shown once among an
//! order's licenses, and validated (and activated on machines) by shipped software.

use bursar_domain::commerce::{Order, Product};
use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::fulfillment::*;
use bursar_domain::id::{ProductId, WorkspaceId};
use bursar_domain::time::Timestamp;
use bursar_store::documents::{self, LICENSE, ORDER, PRODUCT};
use bursar_store::licenses::{self, Delivery};
use bursar_store::seal::Sealer;
use bursar_store::Tx;
use serde_json::json;

use crate::error::Error;
use crate::fulfillment::{issue_license, revoke};
use crate::lookup;
use crate::write::Context;
use crate::App;

/// Re-issues license `id`: the old key revoked, a new one issued with the same terms (expiry,
/// major version, activation limit; activations cleared); `license.reissued`.
pub async fn reissue(cx: &mut Context<'_>, sealer: &Sealer, id: &str) -> Result<License, Error> {
    let mut old = revoke(cx, id).await?;
    let product: Product =
        lookup::get_in(cx, PRODUCT, "product", old.product_id.as_str(), "id").await?;
    let order = old.order_id.clone().zip(old.order_line);
    let mut new = issue_license(
        cx,
        sealer,
        &product,
        &policy_of(&old),
        &old.customer_id,
        order.as_ref().map(|(o, l)| (o, *l)),
        1,
        Some(&old.id),
    )
    .await?;
    // Same terms: the old expiry and major version, not recomputed.
    new.expires_at = old.expires_at;
    new.major_version = old.major_version;
    documents::save(cx.tx, LICENSE, cx.workspace_id, new.id.as_str(), &new, &[]).await?;
    old.replaced_by = Some(new.id.clone());
    documents::save(cx.tx, LICENSE, cx.workspace_id, old.id.as_str(), &old, &[]).await?;
    cx.emit(NewEvent::new(
        event_type::LICENSE_REISSUED,
        "license",
        new.id.as_str(),
        json!({ "object": new, "replaces": old.id }),
    ))
    .await?;
    Ok(new)
}

/// Frees the activation of `machine_id` on license `id`, so another machine can take its place;
/// `license.deactivated`. A machine that is not activated changes nothing (a retry acts once).
pub async fn deactivate(
    cx: &mut Context<'_>,
    id: &str,
    machine_id: &str,
) -> Result<License, Error> {
    let mut license: License = lookup::get_in(cx, LICENSE, "license", id, "id").await?;
    if !license.deactivate(machine_id) {
        return Ok(license);
    }
    documents::save(cx.tx, LICENSE, cx.workspace_id, id, &license, &[]).await?;
    cx.emit(NewEvent::new(
        event_type::LICENSE_DEACTIVATED,
        "license",
        id,
        json!({ "object": license, "machine_id": machine_id }),
    ))
    .await?;
    Ok(license)
}

/// The policy a replacement key is issued under: the old key's prefix, activation limit and
/// update terms.
fn policy_of(old: &License) -> LicensePolicy {
    let prefix = old.key_hint.split('-').next().unwrap_or("LIC").to_owned();
    LicensePolicy {
        prefix,
        max_activations: old.max_activations,
        valid_days: None,
        updates: if old.major_version.is_some() {
            UpdatePolicy::SameMajor
        } else {
            UpdatePolicy::All
        },
    }
}

/// The licenses of order `order_id`, each with its key the one time it is shown: when `reveal`
/// (the caller may write) and the key was not shown before; the keys shown are marked so.
pub async fn reveal_order_licenses(
    app: &App,
    workspace_id: &WorkspaceId,
    order_id: String,
    reveal: bool,
) -> Result<Vec<(License, Option<String>)>, Error> {
    let sealer = app.db.sealer()?.clone();
    let workspace_id = workspace_id.clone();
    let now = app.now();
    app.db
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                documents::get::<Order>(tx, ORDER, &workspace_id, &order_id, false)
                    .await?
                    .ok_or_else(|| Error::not_found("order", &order_id))?;
                let licenses: Vec<License> = documents::find_in(
                    tx,
                    LICENSE,
                    &workspace_id,
                    "order_id",
                    &[order_id.as_str()],
                )
                .await?;
                let ids: Vec<String> = licenses.iter().map(|l| l.id.to_string()).collect();
                let keys = licenses::sealed_keys(tx, &workspace_id, &ids).await?;
                let mut shown = Vec::new();
                let mut out = Vec::new();
                for license in licenses {
                    let sealed = keys
                        .iter()
                        .find(|k| k.license_id == license.id.as_str())
                        .filter(|k| reveal && !k.revealed)
                        .and_then(|k| k.sealed.clone());
                    let key = match sealed {
                        Some(sealed) => {
                            shown.push(license.id.to_string());
                            Some(sealer.open(&sealed)?)
                        }
                        None => None,
                    };
                    out.push((license, key));
                }
                licenses::mark_delivered(tx, &workspace_id, &shown, Delivery::Revealed, now)
                    .await?;
                Ok(out)
            })
        })
        .await
}

/// The license whose key has this keyed hash, in whichever workspace holds it.
pub async fn find_by_key(
    app: &App,
    key_hash: &str,
) -> Result<Option<(WorkspaceId, License)>, Error> {
    let lookup = key_hash.to_owned();
    Ok(app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                documents::find_anywhere::<License>(tx, LICENSE, "key_hash", &lookup, false).await
            })
        })
        .await?)
}

/// What a validation needs next.
#[derive(Debug, Clone)]
pub enum Precheck {
    /// The answer, from a read: nothing changes (no machine, or one activated already).
    Answered {
        code: Validity,
        license: Option<Box<License>>,
    },
    /// A new machine is to be activated: validate again in a write of this workspace
    /// ([`activate`]).
    Activate(WorkspaceId),
}

/// Validates the license with this key hash from a read, for `product` on `machine` at `now`.
pub async fn precheck(
    app: &App,
    key_hash: &str,
    product: Option<&ProductId>,
    machine: Option<&str>,
    now: Timestamp,
) -> Result<Precheck, Error> {
    let Some((workspace_id, mut seen)) = find_by_key(app, key_hash).await? else {
        return Ok(Precheck::Answered {
            code: Validity::NotFound,
            license: None,
        });
    };
    let (code, changed) = seen.validate(product, machine, now);
    if changed {
        return Ok(Precheck::Activate(workspace_id));
    }
    Ok(Precheck::Answered {
        code,
        license: Some(Box::new(seen)),
    })
}

/// Validates the license with this key hash in a write, activating `machine` if it is new and
/// a free activation remains (`license.activated`).
pub async fn activate(
    cx: &mut Context<'_>,
    key_hash: &str,
    product: Option<&ProductId>,
    machine: Option<&str>,
) -> Result<(Validity, License), Error> {
    let (_, mut license) =
        documents::find_anywhere::<License>(cx.tx, LICENSE, "key_hash", key_hash, true)
            .await?
            .ok_or_else(|| Error::not_found("license", "(key)"))?;
    let (code, changed) = license.validate(product, machine, cx.now);
    if changed {
        documents::save(
            cx.tx,
            LICENSE,
            cx.workspace_id,
            license.id.as_str(),
            &license,
            &[],
        )
        .await?;
        cx.emit(NewEvent::new(
            event_type::LICENSE_ACTIVATED,
            "license",
            license.id.as_str(),
            json!({ "object": license, "machine_id": machine }),
        ))
        .await?;
    }
    Ok((code, license))
}
