//! The patterns the OpenAPI document declares are never looser than the parsers: text
//! generated from each pattern parses. (The other direction, a parser accepting text its
//! pattern refuses, would only make the document stricter than the server; the patterns are
//! written to match the parsers exactly, and the fixed examples below pin the edges.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bursar_domain::fulfillment::{self, LicensePolicy};
use bursar_domain::id::{CustomerId, ProductId};
use bursar_domain::webhook::{self, EventFilter, WebhookSecret};
use proptest::prelude::*;
use proptest::string::string_regex;
use utoipa::PartialSchema;

/// A pattern without its anchors, which the generator does not take; every pattern here is
/// anchored at both ends.
fn unanchored(pattern: &str) -> &str {
    let inner = pattern.strip_prefix('^').and_then(|p| p.strip_suffix('$'));
    inner.expect("declared patterns are anchored")
}

fn matching(pattern: &str) -> impl Strategy<Value = String> {
    string_regex(unanchored(pattern)).expect("a pattern the generator reads")
}

proptest! {
    #[test]
    fn ids_matching_the_pattern_parse(customer in matching(CustomerId::PATTERN),
                                      product in matching(ProductId::PATTERN)) {
        prop_assert!(CustomerId::parse(&customer, "id").is_ok(), "{customer}");
        prop_assert!(ProductId::parse(&product, "id").is_ok(), "{product}");
    }

    #[test]
    fn webhook_secrets_matching_the_pattern_parse(secret in matching(webhook::SECRET_PATTERN)) {
        prop_assert!(WebhookSecret::parse(&secret, "secret").is_ok(), "{secret}");
    }

    #[test]
    fn event_types_matching_the_pattern_parse(kind in matching(webhook::EVENT_TYPE_PATTERN)) {
        prop_assert!(EventFilter::parse(vec![kind.clone()], "event_types").is_ok(), "{kind}");
    }

    #[test]
    fn release_names_matching_the_patterns_parse(
        version in matching(fulfillment::VERSION_PATTERN),
        platform in matching(fulfillment::PLATFORM_PATTERN),
        file_name in matching(fulfillment::FILE_NAME_PATTERN),
        prefix in matching(fulfillment::PREFIX_PATTERN),
    ) {
        prop_assert!(fulfillment::parse_version(&version, "version").is_ok(), "{version}");
        prop_assert!(fulfillment::parse_platform(&platform, "platform").is_ok(), "{platform}");
        prop_assert!(fulfillment::parse_file_name(&file_name, "f").is_ok(), "{file_name}");
        prop_assert!(fulfillment::parse_prefix(&prefix, "prefix").is_ok(), "{prefix}");
    }
}

#[test]
fn id_patterns_pin_the_edges() {
    let id = CustomerId::new();
    assert_eq!(
        CustomerId::PATTERN,
        "^cus_[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$"
    );
    // `u` is outside Crockford's alphabet: refused by both.
    let with_u = format!("{}u", &id.as_str()[..id.as_str().len() - 1]);
    assert!(CustomerId::parse(&with_u, "id").is_err());
}

#[test]
fn the_secret_lengths_the_pattern_encodes_are_the_parsers() {
    use base64::Engine;
    let encode = |n: usize| {
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(vec![7u8; n])
        )
    };
    // 24 to 64 bytes parse; the pattern is written for exactly that range.
    for n in [24, 25, 26, 47, 62, 63, 64] {
        assert!(WebhookSecret::parse(&encode(n), "s").is_ok(), "{n} bytes");
    }
    for n in [23, 65] {
        assert!(WebhookSecret::parse(&encode(n), "s").is_err(), "{n} bytes");
    }
}

/// Attribute patterns are literals (utoipa takes no constants there); they must be the
/// constants the parsers are tested against.
#[test]
fn attribute_patterns_are_the_parsers_constants() {
    let schema = serde_json::to_value(LicensePolicy::schema()).unwrap();
    assert_eq!(
        schema["properties"]["prefix"]["pattern"],
        fulfillment::PREFIX_PATTERN
    );
}
