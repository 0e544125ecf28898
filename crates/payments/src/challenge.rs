//! Challenges a visitor solves before a checkout or a card is saved, and a card-testing bot
//! does not: a widget on the page puts a token in the form, and the server asks the challenge
//! provider whether the token is genuine. Adapters only build the verification request and
//! read its answer; the [`crate::executor::HttpExecutor`] sends it.
//!
//! [`Turnstile`] (Cloudflare) is the first: its widget script, its form field
//! `cf-turnstile-response`, and its Siteverify API (`POST /turnstile/v0/siteverify`, JSON in
//! and out, `success` and `error-codes`).

use serde::Deserialize;
use serde_json::json;

use crate::executor::{Method, ProviderRequest, ProviderResponse};
use crate::ProviderError;

/// What a challenge provider's widget needs on a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Widget {
    /// The script that draws the widget.
    pub script: &'static str,
    /// The origin the page's content policy must allow scripts and frames from.
    pub origin: &'static str,
    /// The class of the element the widget is drawn in.
    pub class: &'static str,
    /// The form field the widget fills with its token.
    pub field: &'static str,
}

/// One token to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification<'a> {
    pub secret: &'a str,
    pub token: &'a str,
    /// The visitor's address, when known.
    pub remote_ip: Option<&'a str>,
    /// Sent again unchanged when the request is retried, so a retry is not a reused token.
    pub idempotency_key: &'a str,
}

/// The provider's answer about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Solved on `hostname`, by the widget labelled `action`.
    Passed {
        hostname: Option<String>,
        action: Option<String>,
    },
    /// Not genuine, expired or used before: the provider's reasons.
    Failed { codes: Vec<String> },
}

/// The boundary every challenge provider implements.
pub trait ChallengeProvider: Send + Sync {
    /// `turnstile`.
    fn kind(&self) -> &'static str;
    fn widget(&self) -> Widget;
    /// The request that verifies `verification`'s token.
    fn verify_request(&self, verification: &Verification<'_>) -> ProviderRequest;
    /// Reads the answer to [`Self::verify_request`].
    fn parse_verdict(&self, response: &ProviderResponse) -> Result<Verdict, ProviderError>;
}

/// Cloudflare's Turnstile API.
pub const TURNSTILE_API: &str = "https://challenges.cloudflare.com";

/// The widget's form field.
pub const TURNSTILE_FIELD: &str = "cf-turnstile-response";

/// The longest token Turnstile issues.
pub const TOKEN_MAX: usize = 2048;

/// Cloudflare Turnstile, its API at `api_base` (Cloudflare's unless a test points elsewhere).
#[derive(Debug, Clone)]
pub struct Turnstile {
    pub api_base: String,
}

impl Turnstile {
    pub fn new(api_base: Option<&str>) -> Self {
        Self {
            api_base: api_base
                .unwrap_or(TURNSTILE_API)
                .trim_end_matches('/')
                .to_owned(),
        }
    }
}

#[derive(Deserialize)]
struct SiteverifyResponse {
    success: bool,
    #[serde(default, rename = "error-codes")]
    error_codes: Vec<String>,
    hostname: Option<String>,
    action: Option<String>,
}

impl ChallengeProvider for Turnstile {
    fn kind(&self) -> &'static str {
        "turnstile"
    }

    fn widget(&self) -> Widget {
        Widget {
            script: "https://challenges.cloudflare.com/turnstile/v0/api.js",
            origin: "https://challenges.cloudflare.com",
            class: "cf-turnstile",
            field: TURNSTILE_FIELD,
        }
    }

    fn verify_request(&self, verification: &Verification<'_>) -> ProviderRequest {
        let mut body = json!({
            "secret": verification.secret,
            "response": verification.token,
            "idempotency_key": verification.idempotency_key,
        });
        if let Some(ip) = verification.remote_ip {
            body["remoteip"] = json!(ip);
        }
        ProviderRequest {
            operation: "challenge.verify",
            method: Method::POST,
            url: format!("{}/turnstile/v0/siteverify", self.api_base),
            headers: Vec::new(),
            form: None,
            json: Some(body.to_string()),
            // Turnstile takes its idempotency key in the body; the POST is retried with it.
            idempotency_key: Some(verification.idempotency_key.to_owned()),
        }
    }

    fn parse_verdict(&self, response: &ProviderResponse) -> Result<Verdict, ProviderError> {
        let parsed: SiteverifyResponse = serde_json::from_slice(&response.body)
            .map_err(|e| ProviderError::BadResponse(format!("siteverify: {e}")))?;
        if !response.is_success() && parsed.error_codes.is_empty() {
            return Err(ProviderError::BadResponse(format!(
                "siteverify answered {}",
                response.status
            )));
        }
        Ok(match parsed.success {
            true => Verdict::Passed {
                hostname: parsed.hostname,
                action: parsed.action,
            },
            false => Verdict::Failed {
                codes: parsed.error_codes,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn answer(status: u16, body: &str) -> ProviderResponse {
        ProviderResponse {
            status,
            headers: BTreeMap::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn the_request_is_siteverify_json_with_the_secret_token_address_and_key() {
        let turnstile = Turnstile::new(None);
        let request = turnstile.verify_request(&Verification {
            secret: "0x4AAAAAAA-secret",
            token: "XXXX.DUMMY.TOKEN.XXXX",
            remote_ip: Some("203.0.113.7"),
            idempotency_key: "9a2b7c3e-7f31-4c1b-9d0a-3b0f3b1c2d4e",
        });
        assert_eq!(request.method, Method::POST);
        assert_eq!(
            request.url,
            "https://challenges.cloudflare.com/turnstile/v0/siteverify"
        );
        let body: serde_json::Value =
            serde_json::from_str(request.json.as_deref().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"secret": "0x4AAAAAAA-secret", "response": "XXXX.DUMMY.TOKEN.XXXX",
                   "remoteip": "203.0.113.7", "idempotency_key": "9a2b7c3e-7f31-4c1b-9d0a-3b0f3b1c2d4e"})
        );
        assert!(
            !format!("{request:?}").contains("0x4AAAAAAA-secret"),
            "the secret is never printed"
        );
        let local = Turnstile::new(Some("http://127.0.0.1:9/"));
        assert_eq!(
            local
                .verify_request(&Verification {
                    remote_ip: None,
                    ..verification()
                })
                .url,
            "http://127.0.0.1:9/turnstile/v0/siteverify"
        );
    }

    fn verification() -> Verification<'static> {
        Verification {
            secret: "s",
            token: "t",
            remote_ip: None,
            idempotency_key: "k",
        }
    }

    #[test]
    fn cloudflares_documented_answers_are_read() {
        let turnstile = Turnstile::new(None);
        // The success example of Cloudflare's server-side validation page.
        let passed = answer(
            200,
            r#"{"success": true, "challenge_ts": "2022-02-28T15:14:30.096Z",
                "hostname": "example.com", "error-codes": [], "action": "login",
                "cdata": "sessionid-123456789",
                "metadata": {"ephemeral_id": "x:9f78e0ed210960d7693b167e"}}"#,
        );
        assert_eq!(
            turnstile.parse_verdict(&passed).unwrap(),
            Verdict::Passed {
                hostname: Some("example.com".into()),
                action: Some("login".into())
            }
        );
        let failed = answer(
            200,
            r#"{"success": false, "error-codes": ["invalid-input-response"]}"#,
        );
        assert_eq!(
            turnstile.parse_verdict(&failed).unwrap(),
            Verdict::Failed {
                codes: vec!["invalid-input-response".into()]
            }
        );
        let replayed = answer(
            200,
            r#"{"success": false, "error-codes": ["timeout-or-duplicate"], "messages": []}"#,
        );
        assert!(
            matches!(turnstile.parse_verdict(&replayed), Ok(Verdict::Failed { codes }) if codes == ["timeout-or-duplicate"])
        );
        assert!(matches!(
            turnstile.parse_verdict(&answer(502, "<html>Bad gateway</html>")),
            Err(ProviderError::BadResponse(_))
        ));
        assert!(matches!(
            turnstile.parse_verdict(&answer(500, r#"{"success": false}"#)),
            Err(ProviderError::BadResponse(_))
        ));
    }
}
