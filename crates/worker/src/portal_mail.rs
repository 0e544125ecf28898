//! The customer portal's sign-in email (`portal.sign_in_requested`): a magic link. The stored
//! message carries a placeholder, `[[sign-in-url:{handle}/{psi_…}]]`; the link itself is
//! derived from the sign-in's id when the message is sent, so no usable link is ever stored.

use askama::Template;
use bursar_core::portal::{sign_in_url, SIGN_IN_TTL_SECONDS};
use bursar_domain::event::Event;
use bursar_store::seal::Sealer;

/// The placeholder's kind.
pub const SIGN_IN_PLACEHOLDER: &str = "sign-in-url:";

#[derive(Template)]
#[template(path = "email/portal_sign_in.txt", escape = "none")]
struct SignInText<'a> {
    shop: &'a str,
    handle: &'a str,
    sign_in_id: &'a str,
    minutes: i64,
}

#[derive(Template)]
#[template(path = "email/portal_sign_in.html")]
struct SignInHtml<'a> {
    shop: &'a str,
    handle: &'a str,
    sign_in_id: &'a str,
    minutes: i64,
}

/// The sign-in email an event calls for: (to, subject, text, html).
pub fn draft(event: &Event) -> Result<Option<(String, String, String, String)>, String> {
    let object = &event.payload["object"];
    let (Some(to), Some(handle), Some(id)) = (
        object["email"].as_str(),
        object["handle"].as_str(),
        object["id"].as_str(),
    ) else {
        return Ok(None);
    };
    let shop = object["shop_name"].as_str().unwrap_or(handle);
    let minutes = SIGN_IN_TTL_SECONDS / 60;
    let text = SignInText {
        shop,
        handle,
        sign_in_id: id,
        minutes,
    }
    .render()
    .map_err(|e| e.to_string())?;
    let html = SignInHtml {
        shop,
        handle,
        sign_in_id: id,
        minutes,
    }
    .render()
    .map_err(|e| e.to_string())?;
    Ok(Some((
        to.to_owned(),
        format!("Sign in to {shop}"),
        text,
        html,
    )))
}

/// `body` with each sign-in placeholder replaced by its link.
pub fn fill(body: &str, public_url: &str, sealer: &Sealer) -> String {
    let opening = format!("[[{SIGN_IN_PLACEHOLDER}");
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(start) = rest.find(&opening) {
        out.push_str(&rest[..start]);
        let after = &rest[start + opening.len()..];
        let Some(end) = after.find("]]") else {
            out.push_str(&rest[start..]);
            return out;
        };
        match after[..end].split_once('/') {
            Some((handle, id)) => out.push_str(&sign_in_url(public_url, handle, sealer, id)),
            None => out.push_str(&rest[start..start + opening.len() + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_links_and_the_rest_stays() {
        let sealer = Sealer::from_key([3u8; 32]);
        let id = "psi_01jdx2k3m4n5p6q7r8s9t0v1w2";
        let body = format!("a [[sign-in-url:acme/{id}]] b [[other:x]] [[sign-in-url:broken");
        let filled = fill(&body, "https://shop.example/", &sealer);
        let url = sign_in_url("https://shop.example", "acme", &sealer, id);
        assert!(url.starts_with("https://shop.example/portal/acme/sign-in/"));
        assert_eq!(
            filled,
            format!("a {url} b [[other:x]] [[sign-in-url:broken")
        );
    }
}
