//! The storefront: a workspace's public shop, its settings, and the cart a visitor fills.
//!
//! A cart lives in the visitor's browser (a cookie), never trusted for prices: every page
//! prices it again from the catalog. [`Cart::encode`] and [`Cart::decode`] are its cookie form.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::id::ProductId;
use crate::money::Currency;
use crate::time::Timestamp;
use crate::ValidationError;

/// Distinct products a cart holds at most.
pub const CART_LINES_MAX: usize = 20;

/// Units of one product a cart holds at most.
pub const CART_QUANTITY_MAX: i64 = 99;

/// The longest promotion code a cart keeps.
const CART_CODE_MAX: usize = 64;

/// How a workspace's shop looks and what it says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StorefrontSettings {
    /// Always `storefront`.
    pub object: String,
    /// The shop's address: `/shop/{handle}`. 2 to 40 lower-case letters, digits or `-`.
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{1,39}$")]
    pub handle: String,
    /// Whether the shop is open to visitors; a closed shop answers 404.
    pub published: bool,
    /// The shop's name, shown in its header and page titles.
    pub name: String,
    /// The currency its prices are shown and charged in.
    pub currency: Currency,
    /// The brand colour, `#rrggbb`.
    #[schema(pattern = "^#[0-9a-f]{6}$")]
    pub brand_color: String,
    /// Where buyers write for help.
    pub support_email: Option<String>,
    /// The shop's editable pages (terms, privacy, refund policy, license agreement, FAQ).
    pub pages: ShopPages,
    /// The payment provider connection (`pp_…`) the shop's checkouts pay through; none: the
    /// workspace's test provider (sandboxes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_provider: Option<String>,
    /// The plans (products, `prod_…`) a subscriber may switch between in the portal, in the
    /// order shown: a contract line selling one may change to another at that plan's default
    /// monthly price. Empty: no switching.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plans: Vec<String>,
    /// The challenge a visitor solves before a checkout or saving a card; none: no challenge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<ChallengeSettings>,
    pub updated_at: Timestamp,
}

/// A shop's challenge provider (Cloudflare Turnstile): its widget's public site key, its secret
/// key sealed apart (only its last four characters are shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChallengeSettings {
    /// `turnstile`.
    pub provider: String,
    /// The widget's public site key.
    pub site_key: String,
    /// The secret key's last four characters.
    pub secret_key_last4: String,
    /// The provider's API, when not its own (a local stand-in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base: Option<String>,
}

/// The text of a shop's legal and help pages; an empty one is not linked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShopPages {
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub terms: String,
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub privacy: String,
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub refunds: String,
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub license: String,
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub faq: String,
}

/// The most plans a shop offers for switching.
pub const PLANS_MAX: usize = 20;

/// The longest text of one shop page.
pub const PAGE_TEXT_MAX: usize = 20_000;

impl ShopPages {
    /// The page named `slug` (`terms`, `privacy`, `refunds`, `license`, `faq`), if it exists
    /// and has text.
    pub fn page(&self, slug: &str) -> Option<&str> {
        let text = match slug {
            "terms" => &self.terms,
            "privacy" => &self.privacy,
            "refunds" => &self.refunds,
            "license" => &self.license,
            "faq" => &self.faq,
            _ => return None,
        };
        (!text.trim().is_empty()).then_some(text.as_str())
    }

    /// The pages that have text, as `(slug, text)`, in the order a footer lists them.
    pub fn present(&self) -> Vec<&'static str> {
        ["terms", "privacy", "refunds", "license", "faq"]
            .into_iter()
            .filter(|slug| self.page(slug).is_some())
            .collect()
    }

    /// Refuses a page longer than [`PAGE_TEXT_MAX`], naming it.
    pub fn check(&self) -> Result<(), ValidationError> {
        for (slug, text) in [
            ("terms", &self.terms),
            ("privacy", &self.privacy),
            ("refunds", &self.refunds),
            ("license", &self.license),
            ("faq", &self.faq),
        ] {
            if text.chars().count() > PAGE_TEXT_MAX {
                return Err(ValidationError::invalid(
                    format!("pages[{slug}]"),
                    format!("pages[{slug}] must be at most {PAGE_TEXT_MAX} characters."),
                ));
            }
        }
        Ok(())
    }
}

/// A shop handle: 2 to 40 lower-case ASCII letters, digits or `-`, not starting with `-`.
pub fn parse_handle(value: &str, param: &str) -> Result<String, ValidationError> {
    let valid = (2..=40).contains(&value.len())
        && !value.starts_with('-')
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err(ValidationError::invalid(
            param,
            format!("{param} is 2 to 40 lower-case letters, digits or '-', not starting with '-'."),
        ));
    }
    Ok(value.to_owned())
}

/// A brand colour: `#` and six hex digits, stored lower-case.
pub fn parse_color(value: &str, param: &str) -> Result<String, ValidationError> {
    let hex = value.strip_prefix('#').unwrap_or("");
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ValidationError::invalid(
            param,
            format!("{param} is a colour written #rrggbb."),
        ));
    }
    Ok(value.to_ascii_lowercase())
}

/// What a visitor put in their cart: products with quantities, and a promotion code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cart {
    pub lines: Vec<(ProductId, i64)>,
    pub promotion_code: Option<String>,
}

impl Cart {
    /// The cart as a cookie value: `prod_…:2.prod_…:1~CODE` (ids, digits and the code's
    /// `[A-Za-z0-9_-]` only, so no escaping).
    pub fn encode(&self) -> String {
        let mut value: Vec<String> = self
            .lines
            .iter()
            .map(|(product, quantity)| format!("{}:{quantity}", product.as_str()))
            .collect::<Vec<_>>();
        if value.is_empty() {
            value.push(String::new());
        }
        let mut encoded = value.join(".");
        if let Some(code) = &self.promotion_code {
            encoded.push('~');
            encoded.push_str(code);
        }
        encoded
    }

    /// A cart from its cookie value. A value that is not one (tampered, or from an older
    /// version) is an empty cart: the visitor loses a cart, never sees an error.
    pub fn decode(value: &str) -> Cart {
        Self::try_decode(value).unwrap_or_default()
    }

    fn try_decode(value: &str) -> Option<Cart> {
        let (lines, code) = match value.split_once('~') {
            Some((lines, code)) => (lines, Some(code)),
            None => (value, None),
        };
        let mut cart = Cart::default();
        if let Some(code) = code {
            cart.promotion_code = Some(parse_cart_code(code)?);
        }
        for line in lines.split('.').filter(|l| !l.is_empty()) {
            let (product, quantity) = line.split_once(':')?;
            let product = ProductId::parse(product, "product_id").ok()?;
            let quantity: i64 = quantity.parse().ok()?;
            cart.set(product, quantity).ok()?;
        }
        Some(cart)
    }

    /// Adds `quantity` units of `product` (to those already in the cart).
    pub fn add(&mut self, product: ProductId, quantity: i64) -> Result<(), ValidationError> {
        let held = self.quantity_of(&product);
        self.set(product, held.saturating_add(quantity))
    }

    /// Sets the units of `product`; 0 removes it.
    pub fn set(&mut self, product: ProductId, quantity: i64) -> Result<(), ValidationError> {
        if !(0..=CART_QUANTITY_MAX).contains(&quantity) {
            return Err(ValidationError::invalid(
                "quantity",
                format!("quantity is 0 to {CART_QUANTITY_MAX}."),
            ));
        }
        match self.lines.iter().position(|(p, _)| *p == product) {
            Some(i) if quantity == 0 => {
                self.lines.remove(i);
            }
            Some(i) => self.lines[i].1 = quantity,
            None if quantity == 0 => {}
            None if self.lines.len() >= CART_LINES_MAX => {
                return Err(ValidationError::invalid(
                    "product_id",
                    format!("A cart holds at most {CART_LINES_MAX} products."),
                ))
            }
            None => self.lines.push((product, quantity)),
        }
        Ok(())
    }

    /// Units of `product` in the cart.
    pub fn quantity_of(&self, product: &ProductId) -> i64 {
        self.lines
            .iter()
            .find(|(p, _)| p == product)
            .map_or(0, |(_, q)| *q)
    }

    /// Keeps `code` (upper-cased, as promotion codes are) for the cart; an empty one removes it.
    pub fn set_code(&mut self, code: &str) -> Result<(), ValidationError> {
        let code = code.trim();
        self.promotion_code = if code.is_empty() {
            None
        } else {
            Some(parse_cart_code(code).ok_or_else(|| {
                ValidationError::invalid(
                    "promotion_code",
                    "A promotion code is letters, digits, '-' or '_'.",
                )
            })?)
        };
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

fn parse_cart_code(code: &str) -> Option<String> {
    let valid = !code.is_empty()
        && code.len() <= CART_CODE_MAX
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    valid.then(|| code.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(n: u8) -> ProductId {
        ProductId::parse(&format!("prod_01J0000000000000000000000{n}"), "p").unwrap()
    }

    #[test]
    fn a_cart_survives_its_cookie_form() {
        let mut cart = Cart::default();
        cart.add(product(1), 2).unwrap();
        cart.add(product(2), 1).unwrap();
        cart.add(product(1), 1).unwrap();
        cart.set_code("spring-10").unwrap();
        let decoded = Cart::decode(&cart.encode());
        assert_eq!(decoded, cart);
        assert_eq!(decoded.quantity_of(&product(1)), 3);
        assert_eq!(decoded.promotion_code.as_deref(), Some("SPRING-10"));
    }

    #[test]
    fn a_tampered_cookie_is_an_empty_cart() {
        for value in [
            "prod_x:1",
            "garbage",
            "prod_01J00000000000000000000001:1000",
            "prod_01J00000000000000000000001:-1",
            "~<script>",
        ] {
            assert_eq!(Cart::decode(value), Cart::default(), "{value}");
        }
        assert_eq!(Cart::decode(""), Cart::default());
    }

    #[test]
    fn quantities_and_lines_are_bounded() {
        let mut cart = Cart::default();
        assert!(cart.add(product(1), CART_QUANTITY_MAX + 1).is_err());
        cart.add(product(1), 5).unwrap();
        cart.set(product(1), 0).unwrap();
        assert!(cart.is_empty());
        for n in 0..CART_LINES_MAX {
            let id = ProductId::parse(&format!("prod_01J00000000000000000000{n:03}"), "p").unwrap();
            cart.add(id, 1).unwrap();
        }
        let another = ProductId::parse("prod_01jzzzzzzzzzzzzzzzzzzzzzzz", "p").unwrap();
        let error = cart.add(another, 1).unwrap_err();
        assert_eq!(error.param, "product_id");
    }

    #[test]
    fn handles_and_colours_are_checked() {
        assert!(parse_handle("acme-shop", "handle").is_ok());
        for bad in ["a", "-acme", "Acme", "acme shop", &"a".repeat(41)] {
            assert!(parse_handle(bad, "handle").is_err(), "{bad}");
        }
        assert_eq!(parse_color("#A0B1C2", "c").unwrap(), "#a0b1c2");
        assert!(parse_color("red", "c").is_err());
    }
}
