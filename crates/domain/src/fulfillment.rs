//! Digital fulfillment: release artifacts, license keys and download links.
//!
//! A **license key** reads `GENX-7K2Q-M9XD-4T8W`: a prefix chosen per product, then twelve
//! symbols of Crockford's base-32 alphabet (digits and upper-case letters without I, L, O and U,
//! so nothing can be misread), in groups of four. Eleven symbols are random (55 bits from the
//! operating system's generator); the last is a Luhn mod-32 check symbol, which catches every
//! single mistyped symbol and every swap of two neighbours before any lookup. Keys are
//! compared after normalising: case, spaces and dashes are ignored, `O` reads as `0` and `I`,
//! `L` as `1`. Bursar stores a keyed hash of the key (HMAC), never the key itself.
//!
//! Guessing: 2^55 keys; a guesser at 1,000 validations a second (the validation endpoint is
//! rate limited far below that) needs about a million years to find one of a thousand keys.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::id::*;
use crate::time::Timestamp;
use crate::ValidationError;

/// Crockford's base-32 alphabet.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Symbols of a key after its prefix: 11 random and one check symbol.
const BODY_LEN: usize = 12;
/// Random symbols in a key.
pub const RANDOM_SYMBOLS: usize = BODY_LEN - 1;

/// The value of one symbol, reading the look-alikes as Crockford does.
fn symbol_value(c: u8) -> Option<u32> {
    let c = match c.to_ascii_uppercase() {
        b'O' => b'0',
        b'I' | b'L' => b'1',
        other => other,
    };
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u32)
}

/// The Luhn mod-32 check symbol of `values`.
fn check_value(values: &[u32]) -> u32 {
    let mut sum = 0;
    // From the right, doubling the symbol nearest the (future) check symbol.
    for (i, &v) in values.iter().rev().enumerate() {
        let addend = if i % 2 == 0 { v * 2 } else { v };
        sum += addend / 32 + addend % 32;
    }
    (32 - sum % 32) % 32
}

/// What [`parse_prefix`] accepts.
pub const PREFIX_PATTERN: &str = "^[A-Z0-9]{2,8}$";
/// The shape [`LicenseKey::parse`] reads before it verifies the check symbol: a prefix and
/// twelve symbols of Crockford's base 32 (either case, `I`, `L` and `O` read as digits),
/// with spaces and dashes anywhere.
pub const LICENSE_KEY_PATTERN: &str =
    r"^[\s-]*(?:[A-Za-z0-9][\s-]*){2,8}(?:[0-9A-TV-Za-tv-z][\s-]*){12}$";
/// What [`parse_version`] accepts: a semantic version (semver.org's grammar), its major, minor
/// and patch numbers of at most 19 digits (the parser takes up to `u64::MAX`, 20 digits).
pub const VERSION_PATTERN: &str = "^(0|[1-9][0-9]{0,18})\\.(0|[1-9][0-9]{0,18})\
     \\.(0|[1-9][0-9]{0,18})\
     (?:-((?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)\
     (?:\\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?\
     (?:\\+([0-9a-zA-Z-]+(?:\\.[0-9a-zA-Z-]+)*))?$";
/// What [`parse_platform`] accepts.
pub const PLATFORM_PATTERN: &str = "^[a-z0-9_-]{1,40}$";
/// What [`parse_file_name`] accepts.
pub const FILE_NAME_PATTERN: &str = "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$";

crate::schema_only!(
    /// The schema of a license key as typed ([`LicenseKey::parse`]).
    LicenseKeyText => crate::schema::text(
        "A license key such as `GENX-7K2Q-M9XD-4T8W`: case, spaces and dashes do not matter; \
         its last symbol is a check symbol (a key whose check fails is refused as mistyped)",
        LICENSE_KEY_PATTERN,
        None,
        None,
    )
);

crate::schema_only!(
    /// The schema of a release's semantic version ([`parse_version`]).
    SemanticVersion => crate::schema::text("A semantic version, e.g. `2.1.0`", VERSION_PATTERN, None, None)
);

crate::schema_only!(
    /// The schema of a platform name ([`parse_platform`]).
    PlatformName => crate::schema::text(
        "1 to 40 lower-case letters, digits, `_` or `-`, e.g. `linux-x86_64`, `any`",
        PLATFORM_PATTERN,
        None,
        None,
    )
);

crate::schema_only!(
    /// The schema of a release file's name ([`parse_file_name`]).
    FileName => crate::schema::text(
        "1 to 200 letters, digits, `.`, `_` or `-`, not starting with `.`",
        FILE_NAME_PATTERN,
        None,
        None,
    )
);

/// Checks a license-key prefix: 2 to 8 upper-case letters or digits.
pub fn parse_prefix(value: &str, param: &str) -> Result<String, ValidationError> {
    let ok = (2..=8).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if ok {
        Ok(value.to_owned())
    } else {
        Err(ValidationError::invalid(
            param,
            "A license-key prefix is 2 to 8 upper-case letters or digits, such as GENX.",
        ))
    }
}

/// A well-formed license key (its check symbol verified), in its canonical spelling.
#[derive(Clone, PartialEq, Eq)]
pub struct LicenseKey(String);

impl std::fmt::Debug for LicenseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key: debug output reaches logs.
        write!(f, "LicenseKey({})", self.hint())
    }
}

impl LicenseKey {
    /// A key with `prefix` from eleven random symbols taken from `random` (five bits of each
    /// byte).
    pub fn generate(prefix: &str, random: &[u8; RANDOM_SYMBOLS]) -> LicenseKey {
        let values: Vec<u32> = random.iter().map(|b| u32::from(b & 31)).collect();
        let check = check_value(&values);
        let mut symbols: Vec<u8> = values.iter().map(|&v| ALPHABET[v as usize]).collect();
        symbols.push(ALPHABET[check as usize]);
        let groups: Vec<&str> = symbols
            .chunks(4)
            .map(|g| std::str::from_utf8(g).unwrap_or_default())
            .collect();
        LicenseKey(format!("{prefix}-{}", groups.join("-")))
    }

    /// Reads a key as typed. Errors say what is wrong without a lookup: the shape, a symbol
    /// outside the alphabet, or a failed check (a typo).
    pub fn parse(value: &str, param: &str) -> Result<LicenseKey, ValidationError> {
        let compact: String = value
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect::<String>()
            .to_ascii_uppercase();
        let malformed = || {
            ValidationError::invalid(
                param,
                "A license key looks like GENX-XXXX-XXXX-XXXX: a prefix and twelve letters or \
                 digits.",
            )
        };
        // Keys are ASCII; anything else is malformed (and would make the byte split below
        // land inside a character).
        if !compact.is_ascii() {
            return Err(malformed());
        }
        let split = compact.len().checked_sub(BODY_LEN).ok_or_else(malformed)?;
        let (prefix, body) = compact.split_at(split);
        parse_prefix(prefix, param).map_err(|_| malformed())?;
        let values = body
            .bytes()
            .map(symbol_value)
            .collect::<Option<Vec<u32>>>()
            .ok_or_else(malformed)?;
        let (random, check) = values.split_at(RANDOM_SYMBOLS);
        if check_value(random) != check[0] {
            return Err(ValidationError {
                param: param.into(),
                code: "license_key_mistyped",
                message: "This license key has a typo: its check symbol does not match. Check \
                          each group against the original."
                    .into(),
            });
        }
        let symbols: Vec<u8> = values.iter().map(|&v| ALPHABET[v as usize]).collect();
        let groups: Vec<&str> = symbols
            .chunks(4)
            .map(|g| std::str::from_utf8(g).unwrap_or_default())
            .collect();
        Ok(LicenseKey(format!("{prefix}-{}", groups.join("-"))))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What can be shown without revealing the key: the prefix and the last group.
    pub fn hint(&self) -> String {
        let prefix = self.0.split('-').next().unwrap_or_default();
        let last = self.0.rsplit('-').next().unwrap_or_default();
        format!("{prefix}-…-{last}")
    }
}

/// Which updates a license entitles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpdatePolicy {
    /// Every later version.
    #[default]
    All,
    /// Versions of the major version current when the license was issued.
    SameMajor,
}

/// How a product's licenses are issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LicensePolicy {
    /// The key's prefix, e.g. `GENX`: 2 to 8 upper-case letters or digits.
    #[schema(pattern = "^[A-Z0-9]{2,8}$")]
    pub prefix: String,
    /// Machines a license may be activated on (per unit bought); none: no limit.
    #[schema(minimum = 1)]
    pub max_activations: Option<u32>,
    /// Days a license is valid from issue; none: forever.
    #[schema(minimum = 1)]
    pub valid_days: Option<u32>,
    #[serde(default)]
    pub updates: UpdatePolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LicenseStatus {
    Active,
    Revoked,
}

/// A machine a license is activated on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Activation {
    pub machine_id: String,
    pub activated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct License {
    pub id: LicenseId,
    /// Always `license`.
    pub object: String,
    pub customer_id: CustomerId,
    pub product_id: ProductId,
    /// The order (and its line, from 0) the license was bought with.
    pub order_id: Option<OrderId>,
    pub order_line: Option<u32>,
    pub status: LicenseStatus,
    /// The prefix and last group of the key (`GENX-…-4T8W`); the key itself is shown once.
    pub key_hint: String,
    pub expires_at: Option<Timestamp>,
    pub max_activations: Option<u32>,
    pub activations: Vec<Activation>,
    /// The major version the license is limited to (`same_major` products).
    pub major_version: Option<u64>,
    /// The license this one replaced (re-issue), and the one that replaced it.
    pub replaces: Option<LicenseId>,
    pub replaced_by: Option<LicenseId>,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// The answer to "is this key good for this product on this machine".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Validity {
    Valid,
    NotFound,
    Revoked,
    Expired,
    ProductMismatch,
    ActivationLimitReached,
}

impl License {
    /// Checks the license for `product` at `now`, activating `machine` if given (a machine
    /// already activated stays valid; a new one needs a free activation). Returns whether the
    /// license changed (a new activation).
    pub fn validate(
        &mut self,
        product: Option<&ProductId>,
        machine: Option<&str>,
        now: Timestamp,
    ) -> (Validity, bool) {
        if self.status == LicenseStatus::Revoked {
            return (Validity::Revoked, false);
        }
        if self.expires_at.is_some_and(|at| at <= now) {
            return (Validity::Expired, false);
        }
        if product.is_some_and(|p| p != &self.product_id) {
            return (Validity::ProductMismatch, false);
        }
        let Some(machine) = machine else {
            return (Validity::Valid, false);
        };
        if self.activations.iter().any(|a| a.machine_id == machine) {
            return (Validity::Valid, false);
        }
        if let Some(limit) = self.max_activations {
            if self.activations.len() >= limit as usize {
                return (Validity::ActivationLimitReached, false);
            }
        }
        self.activations.push(Activation {
            machine_id: machine.to_owned(),
            activated_at: now,
        });
        (Validity::Valid, true)
    }

    /// Frees `machine`'s activation (it no longer counts against the limit); whether it had one.
    pub fn deactivate(&mut self, machine: &str) -> bool {
        let before = self.activations.len();
        self.activations.retain(|a| a.machine_id != machine);
        self.activations.len() != before
    }

    /// Whether the license entitles `version`.
    pub fn entitles(&self, version: &semver::Version) -> bool {
        self.major_version
            .is_none_or(|major| version.major == major)
    }
}

/// Checks a machine identifier: 1 to 200 printable characters.
pub fn parse_machine_id(value: &str, param: &str) -> Result<String, ValidationError> {
    if value.is_empty() || value.len() > 200 || value.chars().any(char::is_control) {
        return Err(ValidationError::invalid(
            param,
            "A machine id is 1 to 200 printable characters.",
        ));
    }
    Ok(value.to_owned())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactStatus {
    Active,
    /// No longer offered for download or update.
    Retired,
}

/// A release file: one product, one version, one platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Artifact {
    pub id: ArtifactId,
    /// Always `artifact`.
    pub object: String,
    pub product_id: ProductId,
    /// Semantic version, e.g. `2.1.0`.
    pub version: String,
    /// e.g. `linux-x86_64`, `macos-arm64`, `windows-x86_64`, `any`.
    pub platform: String,
    /// Conventionally `product-version-platform.ext`, e.g. `genx-2.1.0-linux-x86_64.tar.gz`.
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
    /// Lower-case hex SHA-256 of the file, computed by Bursar while receiving it.
    pub sha256: String,
    pub status: ArtifactStatus,
    pub created_at: Timestamp,
    pub retired_at: Option<Timestamp>,
}

/// Checks a semantic version (`1.2.3`, `2.0.0-rc.1`).
pub fn parse_version(value: &str, param: &str) -> Result<semver::Version, ValidationError> {
    semver::Version::parse(value).map_err(|e| {
        ValidationError::invalid(
            param,
            format!("'{value}' is not a semantic version such as 1.2.3: {e}."),
        )
    })
}

/// Checks a platform name: 1 to 40 of lower-case letters, digits, `_` and `-`.
pub fn parse_platform(value: &str, param: &str) -> Result<String, ValidationError> {
    let ok = (1..=40).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(value.to_owned())
    } else {
        Err(ValidationError::invalid(
            param,
            "A platform is 1 to 40 lower-case letters, digits, '_' or '-', e.g. linux-x86_64.",
        ))
    }
}

/// Checks a file name: 1 to 200 of letters, digits, `.`, `_` and `-`, not starting with a dot
/// (so it is safe in a `Content-Disposition` header and on every file system).
pub fn parse_file_name(value: &str, param: &str) -> Result<String, ValidationError> {
    let ok = (1..=200).contains(&value.len())
        && !value.starts_with('.')
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(ValidationError::invalid(
            param,
            "A file name is 1 to 200 letters, digits, '.', '_' or '-', not starting with '.', \
             e.g. genx-2.1.0-linux-x86_64.tar.gz.",
        ))
    }
}

/// An expiring, count-limited link to one artifact. The token in its URL is derived from its
/// id with the server's secret (see the HTTP layer); it is never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DownloadLink {
    pub id: DownloadLinkId,
    /// Always `download_link`.
    pub object: String,
    pub customer_id: CustomerId,
    pub artifact_id: ArtifactId,
    pub order_id: Option<OrderId>,
    pub order_line: Option<u32>,
    pub license_id: Option<LicenseId>,
    pub expires_at: Timestamp,
    pub max_downloads: u32,
    /// Downloads started (a resumed download does not count again).
    pub downloads: u32,
    /// Distinct addresses the link was used from; over the limit, the link locks.
    pub ips: Vec<String>,
    pub locked: bool,
    pub created_at: Timestamp,
}

/// Why a download is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Expired,
    Exhausted,
    Locked,
    /// A resumed range from an address that never started this download.
    ResumeWithoutStart,
}

impl DownloadLink {
    /// Admits one request from `ip` at `now`; `resume` is a range request not starting at the
    /// first byte. Returns the refusal, or whether the link changed; `max_ips` distinct
    /// addresses are allowed, one more locks the link.
    pub fn admit(
        &mut self,
        ip: &str,
        resume: bool,
        now: Timestamp,
        max_ips: usize,
    ) -> Result<(), Refusal> {
        if self.locked {
            return Err(Refusal::Locked);
        }
        if self.expires_at <= now {
            return Err(Refusal::Expired);
        }
        let known = self.ips.iter().any(|i| i == ip);
        if resume {
            return if known {
                Ok(())
            } else {
                Err(Refusal::ResumeWithoutStart)
            };
        }
        if self.downloads >= self.max_downloads {
            return Err(Refusal::Exhausted);
        }
        if !known {
            if self.ips.len() >= max_ips {
                self.locked = true;
                return Err(Refusal::Locked);
            }
            self.ips.push(ip.to_owned());
        }
        self.downloads += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn key(random: [u8; 11]) -> LicenseKey {
        LicenseKey::generate("GENX", &random)
    }

    proptest::proptest! {
        /// Whatever is typed, parsing answers (a key or an error) and never panics.
        #[test]
        fn any_text_parses_or_is_refused(typed in "\\PC{0,40}") {
            let _ = LicenseKey::parse(&typed, "key");
        }
    }

    /// The fuzzer's finding: a multi-byte character where the split falls panicked.
    #[test]
    fn non_ascii_keys_are_malformed_not_a_panic() {
        for typed in [
            "éAAAAAAAAAAA",
            "GENX-ÄÄÄÄ-AAAA-AAAA",
            "€€€€€€€€€€€€€€",
            "G-ℝAAA-AAAA-AAAA",
        ] {
            let error = LicenseKey::parse(typed, "key").unwrap_err();
            assert_eq!(error.param, "key", "{typed}");
        }
    }

    #[test]
    fn keys_have_the_documented_shape_and_parse_back() {
        let k = key([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 31]);
        let text = k.expose();
        assert_eq!(text.len(), "GENX-XXXX-XXXX-XXXX".len());
        assert!(text.starts_with("GENX-0123-4567-89Z"), "{text}");
        assert_eq!(LicenseKey::parse(text, "key").unwrap(), k);
        // Lower case, no dashes, spaces, look-alikes.
        let sloppy = text
            .to_ascii_lowercase()
            .replace('-', " ")
            .replace('1', "l");
        assert_eq!(LicenseKey::parse(&sloppy, "key").unwrap(), k);
        assert_eq!(k.hint(), format!("GENX-…-{}", &text[15..]));
        assert!(!format!("{k:?}").contains(&text[5..9]));
    }

    #[test]
    fn malformed_keys_are_refused_with_the_parameter() {
        for bad in [
            "",
            "GENX",
            "GENX-0000-000",
            "G-0000-0000-0000",
            "GENX-0000-0000-00U0",
        ] {
            let error = LicenseKey::parse(bad, "key").unwrap_err();
            assert_eq!(error.param, "key");
            assert_eq!(error.code, "parameter_invalid", "{bad}");
        }
    }

    proptest! {
        #[test]
        fn every_single_typo_and_neighbour_swap_is_caught(
            random in proptest::array::uniform11(any::<u8>()),
            position in 0_usize..12,
            replacement in 0_usize..32,
        ) {
            let k = key(random);
            let body: Vec<u8> = k.expose().bytes().filter(|b| *b != b'-').skip(4).collect();
            let mut typo = body.clone();
            prop_assume!(ALPHABET[replacement] != typo[position]);
            typo[position] = ALPHABET[replacement];
            let text = format!("GENX{}", String::from_utf8(typo).unwrap());
            prop_assert_eq!(LicenseKey::parse(&text, "key").unwrap_err().code, "license_key_mistyped");
            // Luhn mod 32 misses one swap only: `0` and `Z` (values 0 and 31).
            let pair = [body[position], body.get(position + 1).copied().unwrap_or(0)];
            if position < 11 && pair[0] != pair[1] && pair != *b"0Z" && pair != *b"Z0" {
                let mut swapped = body.clone();
                swapped.swap(position, position + 1);
                let text = format!("GENX{}", String::from_utf8(swapped).unwrap());
                prop_assert!(LicenseKey::parse(&text, "key").is_err());
            }
        }
    }

    fn license(now: Timestamp) -> License {
        License {
            id: LicenseId::new(),
            object: "license".into(),
            customer_id: CustomerId::new(),
            product_id: ProductId::new(),
            order_id: None,
            order_line: None,
            status: LicenseStatus::Active,
            key_hint: String::new(),
            expires_at: Some(now.plus_seconds(60)),
            max_activations: Some(2),
            activations: Vec::new(),
            major_version: Some(2),
            replaces: None,
            replaced_by: None,
            created_at: now,
            revoked_at: None,
        }
    }

    #[test]
    fn validation_checks_status_expiry_product_and_activations() {
        let now = Timestamp::from_unix_micros(1_800_000_000_000_000);
        let mut l = license(now);
        let product = l.product_id.clone();
        assert_eq!(
            l.validate(Some(&product), None, now),
            (Validity::Valid, false)
        );
        assert_eq!(
            l.validate(Some(&ProductId::new()), None, now).0,
            Validity::ProductMismatch
        );
        assert_eq!(l.validate(None, Some("m1"), now), (Validity::Valid, true));
        assert_eq!(l.validate(None, Some("m1"), now), (Validity::Valid, false));
        assert_eq!(l.validate(None, Some("m2"), now), (Validity::Valid, true));
        assert_eq!(
            l.validate(None, Some("m3"), now).0,
            Validity::ActivationLimitReached
        );
        assert_eq!(l.activations.len(), 2);
        assert_eq!(
            l.validate(None, None, now.plus_seconds(60)).0,
            Validity::Expired
        );
        l.status = LicenseStatus::Revoked;
        assert_eq!(l.validate(None, None, now).0, Validity::Revoked);
        assert!(l.entitles(&semver::Version::new(2, 9, 1)));
        assert!(!l.entitles(&semver::Version::new(3, 0, 0)));
    }

    #[test]
    fn links_count_starts_allow_resumes_and_lock_on_too_many_addresses() {
        let now = Timestamp::from_unix_micros(1_800_000_000_000_000);
        let mut link = DownloadLink {
            id: DownloadLinkId::new(),
            object: "download_link".into(),
            customer_id: CustomerId::new(),
            artifact_id: ArtifactId::new(),
            order_id: None,
            order_line: None,
            license_id: None,
            expires_at: now.plus_seconds(10),
            max_downloads: 3,
            downloads: 0,
            ips: Vec::new(),
            locked: false,
            created_at: now,
        };
        assert_eq!(
            link.admit("10.0.0.1", true, now, 2),
            Err(Refusal::ResumeWithoutStart)
        );
        assert_eq!(link.admit("10.0.0.1", false, now, 2), Ok(()));
        assert_eq!(link.admit("10.0.0.1", true, now, 2), Ok(()));
        assert_eq!(link.downloads, 1);
        assert_eq!(link.admit("10.0.0.2", false, now, 2), Ok(()));
        assert_eq!(link.admit("10.0.0.3", false, now, 2), Err(Refusal::Locked));
        assert!(link.locked);
        link.locked = false;
        assert_eq!(link.admit("10.0.0.1", false, now, 2), Ok(()));
        assert_eq!(
            link.admit("10.0.0.1", false, now, 2),
            Err(Refusal::Exhausted)
        );
        assert_eq!(
            link.admit("10.0.0.1", true, now.plus_seconds(10), 2),
            Err(Refusal::Expired)
        );
    }

    #[test]
    fn names_versions_and_platforms_are_checked() {
        assert!(parse_file_name("genx-2.1.0-linux-x86_64.tar.gz", "f").is_ok());
        for bad in ["", ".hidden", "a/b", "a b", "x\"y"] {
            assert!(parse_file_name(bad, "f").is_err(), "{bad}");
        }
        assert!(parse_version("2.0.0-rc.1", "v").is_ok());
        assert_eq!(
            parse_version("2.0", "version").unwrap_err().param,
            "version"
        );
        assert!(parse_platform("linux-x86_64", "p").is_ok());
        assert!(parse_platform("Linux", "p").is_err());
        assert!(parse_prefix("GENX", "p").is_ok());
        assert!(parse_prefix("genx", "p").is_err());
    }
}
