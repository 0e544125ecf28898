//! The test provider's hosted pages (sandboxes only): a checkout's Pay / Decline page and a
//! card setup page. Plain HTML routes, outside the API document; each form carries a token
//! bound to its session (a keyed hash under the sealing key), and a form posted from another
//! site (`Origin` or `Sec-Fetch-Site` says so) is refused.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use bursar_core::test_provider::{
    checkout_summary, complete_session, complete_setup, escape, load_test_session,
};
use bursar_domain::payment_provider::{TestCard, TestOutcome};
use bursar_store::Tx;

use crate::error::ApiError;
use crate::payments::base_url;
use crate::AppState;

/// The name of the forms' token field.
const TOKEN_FIELD: &str = "csrf_token";

/// The setup form's field naming the [`TestCard`] to save.
const CARD_FIELD: &str = "card";

/// The hosted pages' routes.
pub fn pages() -> axum::Router<AppState> {
    axum::Router::new()
        .route(
            "/test-provider/checkout/{session}",
            axum::routing::get(checkout_page),
        )
        .route(
            "/test-provider/checkout/{session}/{action}",
            axum::routing::post(checkout_action),
        )
        .route("/test-provider/done", axum::routing::get(done_page))
        .route(
            "/test-provider/setup/{session}",
            axum::routing::get(setup_page),
        )
        .route(
            "/test-provider/setup/{session}/save",
            axum::routing::post(setup_save),
        )
}

/// The token a form of `session` carries: only this server can make it.
fn form_token(state: &AppState, session: &str) -> Option<String> {
    let sealer = state.db.sealer().ok()?;
    Some(hex::encode(
        &sealer.keyed_hash("hosted-form", session.as_bytes())[..16],
    ))
}

/// A hidden field with `session`'s token.
fn token_field(state: &AppState, session: &str) -> String {
    let token = form_token(state, session).unwrap_or_default();
    format!("<input type=hidden name={TOKEN_FIELD} value=\"{token}\">")
}

/// Whether a form post came from this server's own page of `session`: not when its token is
/// missing or wrong, or when another site made the browser send it.
fn form_is_ours(state: &AppState, headers: &HeaderMap, body: &[u8], session: &str) -> bool {
    let cross_site = headers
        .get("sec-fetch-site")
        .is_some_and(|site| site.as_bytes() == b"cross-site");
    let foreign_origin = headers
        .get("origin")
        .and_then(|o| o.to_str().ok())
        .is_some_and(|origin| origin != origin_of(&base_url(state, headers)));
    let sent = form_field(body, TOKEN_FIELD);
    let expected = form_token(state, session);
    let token_ok = matches!((sent, expected), (Some(sent), Some(expected))
        if constant_time_eq(sent.as_bytes(), expected.as_bytes()));
    token_ok && !cross_site && !foreign_origin
}

/// The answer to a form post [`form_is_ours`] refused.
fn forged_form() -> Response {
    page(
        StatusCode::FORBIDDEN,
        "This form was not sent from its own page. Open the page again and retry.",
    )
}

/// The origin (`scheme://host[:port]`) of `url`, as browsers send it in `Origin`.
fn origin_of(url: &str) -> &str {
    let host_start = url.find("://").map_or(0, |i| i + 3);
    match url[host_start..].find('/') {
        Some(path) => &url[..host_start + path],
        None => url,
    }
}

/// The value of `name` in a urlencoded form body (tokens are hex and card names `[a-z_]`: no
/// decoding needed).
fn form_field<'a>(body: &'a [u8], name: &str) -> Option<&'a str> {
    let body = std::str::from_utf8(body).ok()?;
    body.split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

fn page(status: StatusCode, heading: &str) -> Response {
    (status, Html(format!("<h1>{}</h1>", escape(heading)))).into_response()
}

async fn setup_exists(state: &AppState, session: &str) -> Option<String> {
    let id = session.to_owned();
    let setup = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { bursar_store::payment_providers::test_setup(tx, &id).await })
        })
        .await;
    setup.ok().flatten().map(|setup| setup.success_url)
}

async fn setup_page(State(state): State<AppState>, Path(session_id): Path<String>) -> Response {
    if setup_exists(&state, &session_id).await.is_none() {
        return page(StatusCode::NOT_FOUND, "No such setup session");
    }
    let id = escape(&session_id);
    let token = token_field(&state, &session_id);
    let cards: String = TestCard::ALL
        .into_iter()
        .map(|card| format!("<option value={0}>{0}</option>", card.name()))
        .collect();
    Html(format!(
        "<!doctype html><html><head><meta charset=utf-8><title>Bursar test provider: save a card</title></head>\
         <body style=\"font-family:system-ui;max-width:28rem;margin:4rem auto\"><p>Bursar test provider — no real card.</p>\
         <h1>Save a card for later payments</h1>\
         <form method=post action=\"/test-provider/setup/{id}/save\">{token}\
         <p><label>Card <select name={CARD_FIELD}>{cards}</select></label></p><button>Save card</button></form></body></html>"
    ))
    .into_response()
}

async fn setup_save(
    State(state): State<AppState>,
    Path(session_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(success_url) = setup_exists(&state, &session_id).await else {
        return page(StatusCode::NOT_FOUND, "No such setup session");
    };
    if !form_is_ours(&state, &headers, &body, &session_id) {
        return forged_form();
    }
    // A form without the field (an older page) saves the card that always succeeds.
    let card = match form_field(&body, CARD_FIELD) {
        None => TestCard::Visa,
        Some(name) => match TestCard::from_name(name) {
            Some(card) => card,
            None => return page(StatusCode::BAD_REQUEST, "No such test card"),
        },
    };
    match complete_setup(&state, &session_id, card, true).await {
        Ok(_) => Redirect::to(&success_url).into_response(),
        Err(error) => page(ApiError::from(error.clone()).status, &error.message),
    }
}

async fn checkout_page(State(state): State<AppState>, Path(session_id): Path<String>) -> Response {
    let Ok(Some(session)) = load_test_session(&state, &session_id).await else {
        return page(StatusCode::NOT_FOUND, "No such checkout session");
    };
    let summary = match checkout_summary(&state, &session).await {
        Ok(summary) => summary,
        Err(error) => return page(ApiError::from(error.clone()).status, &error.message),
    };
    let currency = bursar_domain::money::Currency::from_code(&session.currency);
    let money = |amount: i64| {
        currency.map_or_else(
            || format!("{amount} {}", session.currency),
            |c| c.format(amount),
        )
    };
    let lines: String = summary
        .lines
        .iter()
        .map(|line| {
            format!(
                "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
                escape(&line.description),
                line.quantity,
                escape(&money(line.amount))
            )
        })
        .collect();
    let id = escape(&session.session_id);
    let token = token_field(&state, &session.session_id);
    let body = format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width,initial-scale=1\"><title>Pay {merchant}</title>\
         <style>body{{font-family:system-ui;max-width:32rem;margin:3rem auto;padding:0 1rem}}\
         table{{width:100%;border-collapse:collapse}}td,th{{padding:.3rem 0;text-align:left}}.n{{text-align:right}}\
         .total{{font-size:2rem;margin:1rem 0}}button{{font-size:1.1rem;padding:.6rem 1.4rem;margin-right:.6rem}}</style></head>\
         <body><p>Bursar test provider — no real money moves.</p><p class=merchant>{merchant}</p><h1>{title}</h1>\
         <table><thead><tr><th>Item</th><th class=n>Qty</th><th class=n>Amount</th></tr></thead><tbody>{lines}</tbody></table>\
         <p class=total>Total {amount}</p><p>Status: {status}</p>\
         <form method=post action=\"/test-provider/checkout/{id}/pay\" style=display:inline>{token}<button>Pay</button></form>\
         <form method=post action=\"/test-provider/checkout/{id}/decline\" style=display:inline>{token}<button>Decline</button></form>\
         </body></html>",
        merchant = escape(&summary.merchant),
        title = escape(&summary.title),
        amount = escape(&money(session.amount)),
        status = escape(&session.status),
    );
    Html(body).into_response()
}

async fn done_page() -> Html<&'static str> {
    Html(
        "<!doctype html><html><head><meta charset=utf-8><title>Bursar test checkout</title></head>\
          <body><h1>Done</h1><p>The test provider has told Bursar the outcome.</p></body></html>",
    )
}

async fn checkout_action(
    State(state): State<AppState>,
    Path((session_id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let outcome = match action.as_str() {
        "pay" => TestOutcome::Succeeded,
        "decline" => TestOutcome::Declined,
        _ => return page(StatusCode::NOT_FOUND, "No such action"),
    };
    let Ok(Some(session)) = load_test_session(&state, &session_id).await else {
        return page(StatusCode::NOT_FOUND, "No such checkout session");
    };
    if !form_is_ours(&state, &headers, &body, &session_id) {
        return forged_form();
    }
    match complete_session(&state, &session_id, outcome, true).await {
        Ok(_) if outcome == TestOutcome::Succeeded => {
            Redirect::to(&session.success_url).into_response()
        }
        Ok(_) => Redirect::to(&format!("/test-provider/checkout/{session_id}")).into_response(),
        Err(error) => page(ApiError::from(error.clone()).status, &error.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_origin_of_a_public_url_drops_its_path() {
        assert_eq!(
            origin_of("https://shop.example/bursar/"),
            "https://shop.example"
        );
        assert_eq!(origin_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(origin_of("http://127.0.0.1:8080/"), "http://127.0.0.1:8080");
    }

    #[test]
    fn form_fields_are_found_by_exact_name() {
        assert_eq!(
            form_field(b"a=1&csrf_token=ab12", TOKEN_FIELD),
            Some("ab12")
        );
        assert_eq!(form_field(b"csrf_token_x=1", TOKEN_FIELD), None);
        assert_eq!(form_field(b"", TOKEN_FIELD), None);
    }
}
