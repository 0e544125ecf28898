//! The customer portal's sign-in: passwordless, by a magic link emailed to the customer
//! ([`request_sign_in`], [`complete_sign_in`]), or from an order's receipt link
//! ([`open_from_receipt`]); and the sessions they open ([`session`], [`sign_out`]).
//!
//! Secrets: a magic link's token is its record's id with a MAC under the server's secret,
//! derived when the email is sent and never stored; it works once, within
//! [`SIGN_IN_TTL_SECONDS`]. A session's token is 32 random bytes in a cookie; only its keyed
//! hash is stored. Asking for a link answers the same whether or not the address is known.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use base64::Engine;
use bursar_domain::commerce::Company;
use bursar_domain::customer::Email;
use bursar_domain::event::{Cause, NewEvent};
use bursar_domain::event_type;
use bursar_domain::id::{CustomerId, PortalSignInId, WorkspaceId};
use bursar_domain::time::Timestamp;
use bursar_store::documents::{self, COMPANY};
use bursar_store::portal::{self, Scope, SignIn};
use bursar_store::seal::Sealer;
use bursar_store::Tx;
use rand::RngCore;
use serde_json::json;

use crate::error::{Error, ErrorKind};
use crate::fulfillment::ulid_bytes;
use crate::storefront::Shop;
use crate::App;

/// How long a magic link works.
pub const SIGN_IN_TTL_SECONDS: i64 = 15 * 60;

/// How long a portal session lasts.
pub const SESSION_TTL_SECONDS: i64 = 12 * 60 * 60;

/// Magic links one address may ask for per velocity window.
pub const SIGN_INS_PER_ADDRESS: u32 = 20;

/// Magic links one email address may be sent per velocity window.
pub const SIGN_INS_PER_EMAIL: u32 = 3;

const TOKEN_PURPOSE: &str = "portal-sign-in";

/// The token of sign-in `id`'s link: its id and a MAC of it, base64url.
pub fn sign_in_token(sealer: &Sealer, id: &str) -> String {
    let raw = ulid_bytes(id);
    let mac = sealer.keyed_hash(TOKEN_PURPOSE, &raw);
    let mut token = raw.to_vec();
    token.extend_from_slice(&mac[..16]);
    BASE64URL.encode(token)
}

/// The sign-in a token names, if its MAC is right.
fn sign_in_of_token(sealer: &Sealer, token: &str) -> Option<String> {
    let bytes = BASE64URL.decode(token).ok()?;
    if bytes.len() != 32 {
        return None;
    }
    let (raw, mac) = bytes.split_at(16);
    let expected = sealer.keyed_hash(TOKEN_PURPOSE, raw);
    let difference = mac
        .iter()
        .zip(&expected[..16])
        .fold(0_u8, |acc, (a, b)| acc | (a ^ b));
    if difference != 0 {
        return None;
    }
    let ulid = ulid::Ulid::from_bytes(raw.try_into().ok()?);
    Some(format!(
        "{}_{}",
        PortalSignInId::PREFIX,
        ulid.to_string().to_ascii_lowercase()
    ))
}

/// The URL of a magic link: `{base}/portal/{handle}/sign-in/{token}`.
pub fn sign_in_url(base: &str, handle: &str, sealer: &Sealer, id: &str) -> String {
    format!(
        "{}/portal/{handle}/sign-in/{}",
        base.trim_end_matches('/'),
        sign_in_token(sealer, id)
    )
}

fn portal_cause(actor: &str) -> Cause {
    Cause {
        request_id: None,
        actor: Some(actor.to_owned()),
    }
}

/// Emails a magic link to `email` if the shop's workspace has a customer with it (recording
/// `portal.sign_in_requested`, which the email subscriber sends); otherwise does nothing.
/// Either way the answer is the same. Limited per address and per email.
pub async fn request_sign_in(
    app: &App,
    shop: &Shop,
    email: &Email,
    address: &str,
) -> Result<(), Error> {
    let keys = [
        (format!("sign-in-address|{address}"), SIGN_INS_PER_ADDRESS),
        (
            format!("sign-in-email|{}", email.as_str().to_ascii_lowercase()),
            SIGN_INS_PER_EMAIL,
        ),
    ];
    if !crate::velocity::admit(app, &shop.workspace_id, &keys).await? {
        return Err(Error::new(
            ErrorKind::RateLimited,
            "sign_in_rate_limited",
            "Too many sign-in links were asked for. Please wait a few minutes and try again.",
        ));
    }
    let (email, handle, shop_name) = (
        email.as_str().to_owned(),
        shop.settings.handle.clone(),
        shop.settings.name.clone(),
    );
    app.write(
        shop.workspace_id.clone(),
        portal_cause("portal"),
        move |cx| {
            Box::pin(async move {
                let (known, contact_of) =
                    portal::reach_of_email(cx.tx, cx.workspace_id, &email).await?;
                if known.is_empty() && contact_of.is_empty() {
                    return Ok::<_, Error>(());
                }
                let sign_in = SignIn {
                    id: PortalSignInId::new().to_string(),
                    email: email.clone(),
                    expires_at: Timestamp::from_unix_micros(
                        cx.now.unix_micros() + SIGN_IN_TTL_SECONDS * 1_000_000,
                    ),
                    used_at: None,
                };
                portal::insert_sign_in(cx.tx, cx.workspace_id, &sign_in, cx.now).await?;
                let mut context = cx;
                context
                    .emit(NewEvent::new(
                        event_type::PORTAL_SIGN_IN_REQUESTED,
                        "portal_sign_in",
                        &sign_in.id,
                        json!({"object": {"id": sign_in.id, "email": email, "handle": handle,
                        "shop_name": shop_name, "expires_at": sign_in.expires_at}}),
                    ))
                    .await
            })
        },
    )
    .await
}

/// The address a magic link signs in, while it still can (unused, unexpired).
pub async fn preview_sign_in(app: &App, shop: &Shop, token: &str) -> Result<Option<String>, Error> {
    let Some(id) = sign_in_of_token(app.db.sealer()?, token) else {
        return Ok(None);
    };
    let (workspace_id, now) = (shop.workspace_id.clone(), app.now());
    let found = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { portal::sign_in(tx, &workspace_id, &id).await })
        })
        .await?;
    Ok(found
        .filter(|s| s.used_at.is_none() && s.expires_at > now)
        .map(|s| s.email))
}

/// Uses a magic link (once) and opens a session for its address; `None` for a link that is
/// wrong, used or expired. Returns the session's token, for the browser's cookie.
pub async fn complete_sign_in(
    app: &App,
    shop: &Shop,
    token: &str,
) -> Result<Option<String>, Error> {
    let sealer = app.db.sealer()?.clone();
    let Some(id) = sign_in_of_token(&sealer, token) else {
        return Ok(None);
    };
    let (session_token, token_hash) = new_session_token(&sealer);
    app.write(
        shop.workspace_id.clone(),
        portal_cause("portal"),
        move |mut cx| {
            Box::pin(async move {
                let Some(sign_in) =
                    portal::use_sign_in(cx.tx, cx.workspace_id, &id, cx.now).await?
                else {
                    return Ok::<_, Error>(None);
                };
                open_session(&mut cx, &token_hash, Scope::Email(sign_in.email.clone())).await?;
                Ok(Some(session_token))
            })
        },
    )
    .await
}

/// Opens a session for the customer of order `order_id`, for the holder of its receipt link
/// (`key`): the way to the portal without email. `None` when the key is wrong.
pub async fn open_from_receipt(
    app: &App,
    shop: &Shop,
    order_id: &str,
    key: &str,
) -> Result<Option<String>, Error> {
    let Some(receipt) = crate::shop_checkout::receipt(app, shop, order_id, key).await? else {
        return Ok(None);
    };
    let (session_token, token_hash) = new_session_token(app.db.sealer()?);
    let customer = receipt.order.customer_id.clone();
    app.write(
        shop.workspace_id.clone(),
        portal_cause("portal"),
        move |mut cx| {
            Box::pin(async move {
                open_session(&mut cx, &token_hash, Scope::Customer(customer)).await?;
                Ok::<_, Error>(Some(session_token))
            })
        },
    )
    .await
}

/// A new session token (32 random bytes, hex) and its keyed hash.
fn new_session_token(sealer: &Sealer) -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let hash = session_hash(sealer, &token);
    (token, hash)
}

fn session_hash(sealer: &Sealer, token: &str) -> String {
    hex::encode(sealer.keyed_hash("portal-session", token.as_bytes()))
}

async fn open_session(
    cx: &mut crate::Context<'_>,
    token_hash: &str,
    scope: Scope,
) -> Result<(), Error> {
    let session = portal::Session {
        scope: scope.clone(),
        expires_at: Timestamp::from_unix_micros(
            cx.now.unix_micros() + SESSION_TTL_SECONDS * 1_000_000,
        ),
    };
    portal::insert_session(cx.tx, cx.workspace_id, token_hash, &session, cx.now).await?;
    let (email, customer) = match &scope {
        Scope::Email(email) => (Some(email.clone()), None),
        Scope::Customer(id) => (None, Some(id.to_string())),
    };
    cx.emit(NewEvent::new(
        event_type::PORTAL_SIGNED_IN,
        "portal_session",
        &token_hash[..16],
        json!({"email": email, "customer_id": customer, "expires_at": session.expires_at}),
    ))
    .await
}

/// A signed-in visitor of the portal: whom they may see.
#[derive(Debug, Clone)]
pub struct Portal {
    /// The customers of the workspace the session reaches (every one with the signed-in
    /// email, or the one of the receipt it was opened from).
    pub customers: Vec<CustomerId>,
    /// The signed-in address, when signed in by email.
    pub email: Option<String>,
    /// The companies that list the signed-in address among their contacts.
    pub companies: Vec<Company>,
    /// The other customers of those companies (at most [`COMPANY_CUSTOMERS`] each): the
    /// session sees their orders and invoices too, nothing else of theirs.
    pub company_customers: Vec<CustomerId>,
}

/// The customers of one company whose orders and invoices its contacts see at most.
pub const COMPANY_CUSTOMERS: usize = 100;

impl Portal {
    /// Whether the session may see and act on what belongs to `customer` (their licenses,
    /// downloads, cards and subscriptions).
    pub fn reaches(&self, customer: &CustomerId) -> bool {
        self.customers.contains(customer)
    }

    /// Whether the session may see `customer`'s orders and invoices: its own, or those of a
    /// company it is a contact of.
    pub fn sees_documents_of(&self, customer: &CustomerId) -> bool {
        self.reaches(customer) || self.company_customers.contains(customer)
    }

    /// Every customer whose orders and invoices the session sees.
    pub fn document_customer_ids(&self) -> Vec<CustomerId> {
        let all = self.customers.iter().chain(&self.company_customers);
        all.cloned().collect()
    }

    /// [`Self::document_customer_ids`], as text.
    pub fn document_customers(&self) -> Vec<String> {
        let all = self.customers.iter().chain(&self.company_customers);
        all.map(|c| c.to_string()).collect()
    }
}

/// The portal visitor signed in as `email`: the customers with that address, and the
/// companies that list it as a contact with their customers.
async fn signed_in_as(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    email: String,
) -> Result<Portal, bursar_store::StoreError> {
    let (customers, company_ids) = portal::reach_of_email(tx, workspace_id, &email).await?;
    let mut companies: Vec<Company> = Vec::with_capacity(company_ids.len());
    let mut company_customers = Vec::new();
    for id in &company_ids {
        let company: Option<Company> =
            documents::get(tx, COMPANY, workspace_id, id.as_str(), false).await?;
        companies.extend(company);
        for customer in
            portal::customers_of_company(tx, workspace_id, id, COMPANY_CUSTOMERS).await?
        {
            if !customers.contains(&customer) && !company_customers.contains(&customer) {
                company_customers.push(customer);
            }
        }
    }
    Ok(Portal {
        customers,
        email: Some(email),
        companies,
        company_customers,
    })
}

/// The portal visitor a session token signs in, in `shop`'s workspace; `None` when the
/// token is unknown, revoked, expired or of another workspace.
pub async fn session(app: &App, shop: &Shop, token: &str) -> Result<Option<Portal>, Error> {
    let hash = session_hash(app.db.sealer()?, token);
    let (workspace_id, now) = (shop.workspace_id.clone(), app.now());
    let portal = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let Some(session) = portal::session(tx, &workspace_id, &hash, now).await? else {
                    return Ok(None);
                };
                let portal = match session.scope {
                    Scope::Email(email) => signed_in_as(tx, &workspace_id, email).await?,
                    Scope::Customer(id) => Portal {
                        customers: vec![id],
                        email: None,
                        companies: Vec::new(),
                        company_customers: Vec::new(),
                    },
                };
                Ok::<_, bursar_store::StoreError>(Some(portal))
            })
        })
        .await?;
    Ok(portal)
}

/// Revokes the session of `token` (recording `portal.signed_out`); a revoked or unknown
/// one changes nothing.
pub async fn sign_out(app: &App, shop: &Shop, token: &str) -> Result<(), Error> {
    let hash = session_hash(app.db.sealer()?, token);
    app.write(
        shop.workspace_id.clone(),
        portal_cause("portal"),
        move |cx| {
            Box::pin(async move {
                if portal::revoke(cx.tx, &hash, cx.now).await? {
                    let mut context = cx;
                    context
                        .emit(NewEvent::new(
                            event_type::PORTAL_SIGNED_OUT,
                            "portal_session",
                            &hash[..16],
                            json!({}),
                        ))
                        .await?;
                }
                Ok::<_, Error>(())
            })
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sign_in_token_names_its_record_and_nothing_else() {
        let sealer = Sealer::from_key([7u8; 32]);
        let id = PortalSignInId::new().to_string();
        let token = sign_in_token(&sealer, &id);
        assert_eq!(sign_in_of_token(&sealer, &token), Some(id));
        let mut forged = BASE64URL.decode(&token).unwrap();
        forged[20] ^= 1;
        assert_eq!(sign_in_of_token(&sealer, &BASE64URL.encode(forged)), None);
        assert_eq!(sign_in_of_token(&Sealer::from_key([8u8; 32]), &token), None);
        assert_eq!(sign_in_of_token(&sealer, "short"), None);
    }
}
