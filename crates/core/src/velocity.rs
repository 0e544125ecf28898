//! Velocity limits of the public pages, in fixed windows per key.
//!
//! Shop checkouts: card testers place order after order from one address,
//! session or email to try stolen cards at the provider. Each placed checkout counts against
//! its client address, its browser session and its email address, per workspace, in windows
//! of [`WINDOW_SECONDS`]; past a limit the checkout is refused before anything is written or
//! any provider is called. Magic sign-in links are limited the same way.
//!
//! The counts live in the database, so every node of a deployment shares them: an attempt's
//! hits are counted in one write, rolled back when any key is over its limit (a refusal counts
//! nowhere). They fail closed: when the count cannot be written, the attempt is refused with
//! the error. Keys are stored as their SHA-256 (they name addresses and emails), and keys of
//! past windows are swept ([`sweep`]).
//!
//! Cards: one stolen card tried again and again (across addresses, sessions and emails) is
//! caught by its own count. Every decline the provider reports with the card's fingerprint or
//! its saved payment method counts against that card ([`count_card_decline`], in the write
//! that records the decline); a card with [`PER_CARD`] declines this window is not charged
//! again ([`card_blocked`]): a two-click checkout with it is refused before the provider is
//! asked.

use bursar_domain::id::WorkspaceId;

use crate::error::{Error, ErrorKind};
use crate::App;

/// The length of a counting window.
pub const WINDOW_SECONDS: i64 = 600;

/// Checkouts one client address may place per window.
pub const PER_ADDRESS: u32 = 10;

/// Checkouts one browser session may place per window.
pub const PER_SESSION: u32 = 5;

/// Checkouts one email address may place per window.
pub const PER_EMAIL: u32 = 5;

/// Declines one card may collect per window; past them, Bursar no longer tries it.
pub const PER_CARD: u32 = 3;

/// Who is checking out, as the limits see them.
#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    pub workspace_id: &'a WorkspaceId,
    /// The client's address (from the connection, not from headers).
    pub address: &'a str,
    /// The browser session's id (its cookie).
    pub session: &'a str,
    /// The email address typed into the form, as parsed.
    pub email: &'a str,
}

/// Why a count was rolled back.
enum Counted {
    Over,
    Failed(Error),
}

impl From<bursar_store::StoreError> for Counted {
    fn from(error: bursar_store::StoreError) -> Self {
        Counted::Failed(error.into())
    }
}

/// The window `now` falls in.
fn window_of(now: bursar_domain::time::Timestamp) -> i64 {
    now.unix_micros().div_euclid(WINDOW_SECONDS * 1_000_000)
}

/// Counts one attempt against each `(key, limit)` of `workspace_id`: false (and counted
/// nowhere) when any key is at its limit this window.
pub async fn admit(
    app: &App,
    workspace_id: &WorkspaceId,
    keys: &[(String, u32)],
) -> Result<bool, Error> {
    let window = window_of(app.now());
    let (ws, keys) = (workspace_id.clone(), keys.to_vec());
    let counted = app
        .db
        .write(move |tx: &mut bursar_store::Tx| {
            Box::pin(async move {
                // Keys name addresses and emails: only their hashes are stored.
                let hashed: Vec<String> = keys
                    .iter()
                    .map(|(k, _)| bursar_store::sha256_hex(k.as_bytes()))
                    .collect();
                let names: Vec<&str> = hashed.iter().map(String::as_str).collect();
                let hits = bursar_store::velocity::hit(tx, &ws, &names, window).await?;
                let over = hits
                    .iter()
                    .zip(&keys)
                    .any(|(hits, (_, limit))| *hits > i64::from(*limit));
                if over {
                    return Err(Counted::Over);
                }
                Ok::<_, Counted>(())
            })
        })
        .await;
    match counted {
        Ok(()) => Ok(true),
        Err(Counted::Over) => Ok(false),
        Err(Counted::Failed(error)) => Err(error),
    }
}

/// Forgets the keys not hit this window or the last; returns how many.
pub async fn sweep(app: &App) -> Result<u64, Error> {
    let before = window_of(app.now()) - 1;
    Ok(app
        .db
        .write(move |tx: &mut bursar_store::Tx| {
            Box::pin(async move { bursar_store::velocity::forget_before(tx, before).await })
        })
        .await?)
}

/// Counts `attempt` against its address, session and email; refused (and counted nowhere)
/// when any is at its limit this window.
pub async fn admit_checkout(app: &App, attempt: &Attempt<'_>) -> Result<(), Error> {
    admit_as(app, "checkout", attempt).await
}

/// Counts an attempt to save a card (opening the provider's setup page) as
/// [`admit_checkout`] counts checkouts, with counts of its own.
pub async fn admit_card_setup(app: &App, attempt: &Attempt<'_>) -> Result<(), Error> {
    admit_as(app, "card-setup", attempt).await
}

async fn admit_as(app: &App, what: &str, attempt: &Attempt<'_>) -> Result<(), Error> {
    let keys = [
        (format!("{what}-address|{}", attempt.address), PER_ADDRESS),
        (format!("{what}-session|{}", attempt.session), PER_SESSION),
        (
            format!("{what}-email|{}", attempt.email.to_ascii_lowercase()),
            PER_EMAIL,
        ),
    ];
    if admit(app, attempt.workspace_id, &keys).await? {
        Ok(())
    } else {
        Err(refused(what))
    }
}

fn refused(what: &str) -> Error {
    let attempts = match what {
        "checkout" => "checkouts were started",
        _ => "cards were saved",
    };
    Error::new(
        ErrorKind::RateLimited,
        "checkout_rate_limited",
        format!(
            "Too many {attempts} from here in a short time. Please wait {} minutes and try \
             again, or contact the shop.",
            WINDOW_SECONDS / 60
        ),
    )
}

/// A card as its declines are counted: by the fingerprint a provider reports with a decline
/// on its page, or by the saved method Bursar charged off-session (each decline is counted
/// once, by the path that saw it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Card<'a> {
    Fingerprint(&'a str),
    SavedMethod(&'a str),
}

impl Card<'_> {
    fn key(self) -> String {
        let key = match self {
            Card::Fingerprint(fingerprint) => format!("card|{fingerprint}"),
            Card::SavedMethod(method) => format!("card-method|{method}"),
        };
        bursar_store::sha256_hex(key.as_bytes())
    }
}

/// Counts a decline of `card` in the caller's write (it commits with the decline's record).
pub async fn count_card_decline(
    cx: &mut crate::write::Context<'_>,
    card: Card<'_>,
) -> Result<(), Error> {
    let key = card.key();
    let window = window_of(cx.now);
    bursar_store::velocity::hit(cx.tx, cx.workspace_id, &[key.as_str()], window).await?;
    Ok(())
}

/// Whether `card` has collected [`PER_CARD`] declines this window: it is not to be charged
/// again until the window ends.
pub async fn card_blocked(
    app: &App,
    workspace_id: &WorkspaceId,
    card: Card<'_>,
) -> Result<bool, Error> {
    let (ws, key, window) = (workspace_id.clone(), card.key(), window_of(app.now()));
    let hits = app
        .db
        .read(move |tx: &mut bursar_store::Tx| {
            Box::pin(async move {
                bursar_store::velocity::hits_in(tx, &ws, &[key.as_str()], window).await
            })
        })
        .await?;
    Ok(hits.iter().any(|hits| *hits >= i64::from(PER_CARD)))
}

/// The refusal of a card with too many declines this window.
pub fn card_refused() -> Error {
    Error::new(
        ErrorKind::RateLimited,
        "card_rate_limited",
        format!(
            "This card was declined too often in a short time and is not tried again for now. \
             Please wait {} minutes, or pay with another card.",
            WINDOW_SECONDS / 60
        ),
    )
}
