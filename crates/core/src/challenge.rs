//! The challenge before a checkout or saving a card, when the shop asks for one: the token the
//! visitor's widget put in the form is verified by the shop's challenge provider (Cloudflare
//! Turnstile) through the one executor. It fails closed: no token, a token the provider does
//! not vouch for, a token solved for another form, or no answer from the provider refuse the
//! attempt, and nothing is written.

use bursar_domain::storefront::ChallengeSettings;
use bursar_payments::challenge::{
    ChallengeProvider, Turnstile, Verdict, Verification, Widget, TOKEN_MAX,
};
use bursar_store::Tx;

use crate::error::{Error, ErrorKind};
use crate::storefront::Shop;
use crate::App;

/// The widget's action on the checkout form (Turnstile reports it back with the token).
pub const CHECKOUT: &str = "checkout";

/// The widget's action on the form that saves a card.
pub const CARD_SETUP: &str = "card_setup";

/// The challenge provider `settings` name (Turnstile, the only one so far).
pub fn provider_of(settings: &ChallengeSettings) -> Box<dyn ChallengeProvider> {
    Box::new(Turnstile::new(settings.api_base.as_deref()))
}

/// The widget a page of `shop` shows in its checkout and card forms, if the shop has a
/// challenge: what to draw, and its site key.
pub fn widget(shop: &Shop) -> Option<(Widget, String)> {
    let settings = shop.settings.challenge.as_ref()?;
    Some((provider_of(settings).widget(), settings.site_key.clone()))
}

/// Checks the widget's `token`, from a visitor at `remote_ip`, for `action` when `shop` has a
/// challenge (else admits it).
pub async fn verify(
    app: &App,
    shop: &Shop,
    action: &str,
    token: Option<&str>,
    remote_ip: &str,
) -> Result<(), Error> {
    let Some(settings) = &shop.settings.challenge else {
        return Ok(());
    };
    let provider = provider_of(settings);
    let field = provider.widget().field;
    let token = token.map(str::trim).unwrap_or_default();
    if token.is_empty() || token.len() > TOKEN_MAX {
        return Err(refused(field, "no answer to the check was sent"));
    }
    let secret = secret_of(app, shop).await?;
    let key = hex::encode(bursar_store::seal::random_bytes(16));
    let request = provider.verify_request(&Verification {
        secret: &secret,
        token,
        remote_ip: Some(remote_ip).filter(|ip| !ip.is_empty()),
        idempotency_key: &key,
    });
    let executor = app.payments.executor()?;
    let verdict = match executor.execute(provider.kind(), &request).await {
        Ok(response) => provider.parse_verdict(&response),
        Err(error) => Err(error),
    };
    match verdict {
        Ok(Verdict::Passed { action: solved, .. })
            if solved.as_deref().unwrap_or(action) == action =>
        {
            Ok(())
        }
        Ok(Verdict::Passed { .. }) => Err(refused(field, "it was solved for another form")),
        Ok(Verdict::Failed { codes }) => Err(refused(field, &codes.join(", "))),
        Err(error) => {
            tracing::warn!(%error, "the challenge could not be verified");
            Err(Error::new(
                ErrorKind::Unavailable,
                "challenge_unavailable",
                "The check that you are not a robot could not be completed. Please try again \
                 in a moment.",
            ))
        }
    }
}

fn refused(field: &str, why: &str) -> Error {
    Error::invalid(
        "challenge_failed",
        Some(field.to_owned()),
        format!("The check that you are not a robot did not pass ({why}). Please try again."),
    )
}

/// The shop's challenge secret, opened.
async fn secret_of(app: &App, shop: &Shop) -> Result<String, Error> {
    let workspace_id = shop.workspace_id.clone();
    let sealed = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(
                async move { bursar_store::storefront::challenge_secret(tx, &workspace_id).await },
            )
        })
        .await?;
    let sealed = sealed.ok_or_else(Error::internal)?;
    Ok(app.db.sealer()?.open(&sealed)?)
}
