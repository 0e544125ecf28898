//! The pages' languages: every string a visitor reads comes from a Fluent message catalog
//! (`locales/{code}.ftl`, compiled in), in the language the visitor chose (the `bursar_lang`
//! cookie, set by the switcher) or their browser prefers (`Accept-Language`), English by
//! default. A message missing from a catalog falls back to English.

use std::sync::OnceLock;

use axum::http::{header, HeaderMap};
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

use crate::session::cookie;

/// The cookie holding the visitor's chosen language.
pub const LANG_COOKIE: &str = "bursar_lang";

/// A language the pages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    De,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::De];

    /// The BCP 47 code (`en`, `de`), as `<html lang>` and the cookie write it.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
        }
    }

    /// The language's own name, as the switcher shows it.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::De => "Deutsch",
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        Lang::ALL
            .into_iter()
            .find(|lang| lang.code().eq_ignore_ascii_case(code))
    }

    fn source(self) -> &'static str {
        match self {
            Lang::En => include_str!("../locales/en.ftl"),
            Lang::De => include_str!("../locales/de.ftl"),
        }
    }

    /// The language of a request: the visitor's choice, else the first supported language of
    /// `Accept-Language` by quality, else English.
    pub fn of(headers: &HeaderMap) -> Lang {
        if let Some(lang) = cookie(headers, LANG_COOKIE).and_then(Lang::from_code) {
            return lang;
        }
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(preferred)
            .unwrap_or(Lang::En)
    }
}

/// The supported language `Accept-Language` ranks highest (`de-CH;q=0.9, en;q=0.8` → `de`).
fn preferred(accept: &str) -> Option<Lang> {
    let mut ranked: Vec<(f32, Lang)> = accept
        .split(',')
        .take(20)
        .filter_map(|item| {
            let mut parts = item.trim().split(';');
            let range = parts.next()?.trim();
            let quality = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            let primary = range.split('-').next()?;
            Some((quality, Lang::from_code(primary)?))
        })
        .filter(|(quality, _)| *quality > 0.0)
        .collect();
    // Stable: among equal qualities the first listed wins.
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranked.first().map(|(_, lang)| *lang)
}

type Bundle = FluentBundle<FluentResource>;

fn bundles() -> &'static Vec<(Lang, Bundle)> {
    static BUNDLES: OnceLock<Vec<(Lang, Bundle)>> = OnceLock::new();
    BUNDLES.get_or_init(|| Lang::ALL.into_iter().map(|l| (l, bundle(l))).collect())
}

fn bundle(lang: Lang) -> Bundle {
    let resource = match FluentResource::try_new(lang.source().to_owned()) {
        Ok(resource) => resource,
        Err((resource, errors)) => {
            tracing::error!(
                lang = lang.code(),
                ?errors,
                "BUG: a message catalog has errors"
            );
            resource
        }
    };
    let id = lang
        .code()
        .parse()
        .unwrap_or_else(|_| unic_langid::LanguageIdentifier::default());
    let mut bundle = FluentBundle::new_concurrent(vec![id]);
    // Pages are HTML with `lang`: no Unicode isolation marks around placeables.
    bundle.set_use_isolating(false);
    if let Err(errors) = bundle.add_resource(resource) {
        tracing::error!(
            lang = lang.code(),
            ?errors,
            "BUG: a message catalog has duplicates"
        );
    }
    bundle
}

fn format(lang: Lang, id: &str, args: Option<&FluentArgs>) -> Option<String> {
    let (_, bundle) = bundles().iter().find(|(l, _)| *l == lang)?;
    let pattern = bundle.get_message(id)?.value()?;
    let mut errors = Vec::new();
    let text = bundle.format_pattern(pattern, args, &mut errors);
    Some(text.into_owned())
}

tokio::task_local! {
    /// The language of the request being answered (set by [`with_language`]).
    static LANGUAGE: Lang;
    /// The path and query of the page being answered: where the switcher returns to.
    static PAGE: String;
}

/// Middleware: answers the request in its language ([`Lang::of`]), which [`current`] then
/// gives every page and message the handler renders.
pub async fn with_language(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let lang = Lang::of(request.headers());
    let page = request
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    let mut response = LANGUAGE
        .scope(lang, PAGE.scope(page, next.run(request)))
        .await;
    if let Ok(value) = axum::http::HeaderValue::from_str(lang.code()) {
        response
            .headers_mut()
            .insert(header::CONTENT_LANGUAGE, value);
    }
    response
}

/// The messages of the request being answered (English outside a request).
pub fn current() -> Tr {
    Tr {
        lang: LANGUAGE.try_with(|lang| *lang).unwrap_or(Lang::En),
    }
}

/// The switcher's links of the page being answered: (code, native name, URL), the current
/// language first.
pub fn switcher() -> Vec<(&'static str, &'static str, String)> {
    let page = PAGE
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "/".to_owned());
    let back: String = page
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect();
    Lang::ALL
        .into_iter()
        .map(|lang| {
            (
                lang.code(),
                lang.native_name(),
                format!("/language/{}?back={back}", lang.code()),
            )
        })
        .collect()
}

/// The messages of one language, as pages use them: `{{ frame.tr.t("cart-title") }}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tr {
    pub lang: Lang,
}

impl Tr {
    /// Message `id`, in this language, else in English, else the id itself.
    pub fn t(&self, id: &str) -> String {
        self.with(id, None)
    }

    /// Message `id` with one variable.
    pub fn t1(&self, id: &str, name: &str, value: impl ToString) -> String {
        let mut args = FluentArgs::new();
        args.set(name.to_owned(), FluentValue::from(value.to_string()));
        self.with(id, Some(&args))
    }

    /// Message `id` with a number, `$count` (plural forms follow it).
    pub fn count(&self, id: &str, count: i64) -> String {
        let mut args = FluentArgs::new();
        args.set("count", FluentValue::from(count));
        self.with(id, Some(&args))
    }

    /// Message `id` with two variables.
    pub fn t2(&self, id: &str, a: (&str, &str), b: (&str, &str)) -> String {
        self.args(id, &[a, b])
    }

    /// Message `id` with its variables.
    pub fn args(&self, id: &str, values: &[(&str, &str)]) -> String {
        let mut args = FluentArgs::new();
        for (name, value) in values {
            args.set(name.to_string(), FluentValue::from(value.to_string()));
        }
        self.with(id, Some(&args))
    }

    /// Message `id` with its variables in this language only; `None` when it has none.
    pub fn lookup(&self, id: &str, values: &[(&str, &str)]) -> Option<String> {
        let mut args = FluentArgs::new();
        for (name, value) in values {
            args.set(name.to_string(), FluentValue::from(value.to_string()));
        }
        format(self.lang, id, Some(&args))
    }

    /// A refusal of the application core as the visitor reads it: its message in their
    /// language when the catalog has one for its code (`refusal-{code}`, given the field as
    /// `$param` and the state as `$state`), else the core's own (English) message.
    pub fn refusal(
        &self,
        code: &str,
        param: Option<&str>,
        state: Option<&str>,
        message: &str,
    ) -> String {
        if self.lang == Lang::En {
            return message.to_owned();
        }
        let id = format!("refusal-{}", code.replace('_', "-"));
        let values = [
            ("param", param.unwrap_or("")),
            ("state", state.unwrap_or("")),
        ];
        self.lookup(&id, &values)
            .unwrap_or_else(|| message.to_owned())
    }

    fn with(&self, id: &str, args: Option<&FluentArgs>) -> String {
        format(self.lang, id, args)
            .or_else(|| format(Lang::En, id, args))
            .unwrap_or_else(|| id.to_owned())
    }

    pub fn code(&self) -> &'static str {
        self.lang.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(source: &str) -> Vec<String> {
        let mut ids: Vec<String> = source
            .lines()
            .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
            .filter_map(|l| l.split_once(" =").map(|(id, _)| id.trim().to_owned()))
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn every_catalog_parses_and_has_every_message() {
        let english = ids(Lang::En.source());
        assert!(english.len() > 50, "{english:?}");
        for lang in Lang::ALL {
            assert!(
                FluentResource::try_new(lang.source().to_owned()).is_ok(),
                "{} does not parse",
                lang.code()
            );
            assert_eq!(
                ids(lang.source()),
                english,
                "{} misses or adds messages",
                lang.code()
            );
        }
    }

    #[test]
    fn messages_are_formatted_in_the_language_with_their_variables() {
        let de = Tr { lang: Lang::De };
        assert_eq!(de.t("cart-title"), "Ihr Warenkorb");
        assert_eq!(
            de.t1("order-paid", "order", "ord_1"),
            "Die Bestellung ord_1 ist bezahlt."
        );
        assert_eq!(de.count("activations", 1), "1 Rechner aktiviert");
        let en = Tr { lang: Lang::En };
        assert_eq!(en.count("activations", 0), "0 machines activated");
        assert_eq!(en.count("activations", 1), "1 machine activated");
        assert_eq!(
            Tr { lang: Lang::En }.t("no-such-message"),
            "no-such-message"
        );
    }

    #[test]
    fn accept_language_picks_the_best_supported_language() {
        assert_eq!(preferred("de-CH;q=0.9, en;q=0.8"), Some(Lang::De));
        assert_eq!(preferred("fr, en;q=0.5, de;q=0.4"), Some(Lang::En));
        assert_eq!(preferred("fr, es"), None);
        assert_eq!(preferred("de;q=0, en"), Some(Lang::En));
        assert_eq!(preferred("garbage;;;q=x"), None);
    }
}
