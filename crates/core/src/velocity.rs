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
