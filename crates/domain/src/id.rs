//! Prefixed, time-sortable identifiers, one newtype per entity.
//!
//! An id is `<prefix>_<ulid>` with the ULID in lowercase Crockford base32, e.g.
//! `cus_01jdx2k3m4n5p6q7r8s9t0v1w2`. ULIDs begin with their millisecond timestamp and the
//! generator is monotonic within a millisecond, so ids sort by creation time both as strings
//! and in database indexes: inserts append to the primary-key b-tree, and cursor pagination
//! can order by id alone.

use std::sync::Mutex;

use crate::ValidationError;

static GENERATOR: Mutex<Option<ulid::Generator>> = Mutex::new(None);

/// A new ULID, strictly greater than every ULID this process produced before.
pub(crate) fn next_ulid() -> ulid::Ulid {
    let mut guard = GENERATOR
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let generator = guard.get_or_insert_with(ulid::Generator::new);
    match generator.generate() {
        Ok(id) => id,
        // The 80 random bits overflowed within one millisecond (2^80 ids): wait for the clock.
        Err(_) => {
            std::thread::sleep(std::time::Duration::from_millis(1));
            generator.generate().unwrap_or_else(|_| ulid::Ulid::new())
        }
    }
}

/// Length of the ULID part of an id.
pub const ULID_LENGTH: usize = 26;

/// Whether `text` is a ULID as ids carry it: 26 Crockford base32 characters, either case.
pub fn is_ulid(text: &str) -> bool {
    text.len() == ULID_LENGTH && ulid::Ulid::from_string(text).is_ok()
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;
            /// What `parse` accepts, as a regular expression (the OpenAPI schema's pattern):
            /// the prefix, `_`, and a ULID in Crockford base32 of either case.
            pub const PATTERN: &'static str =
                concat!("^", $prefix, "_[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$");

            /// A fresh id, greater than every id of this type generated before by this process.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self(format!("{}_{}", $prefix, next_ulid().to_string().to_ascii_lowercase()))
            }

            /// Parses an id received from outside; `param` names where it came from.
            pub fn parse(value: &str, param: &str) -> Result<Self, ValidationError> {
                let body = value
                    .strip_prefix(concat!($prefix, "_"))
                    .ok_or_else(|| {
                        ValidationError::invalid(
                            param,
                            format!("Invalid id '{value}': expected an id starting with '{}_'.", $prefix),
                        )
                    })?;
                if !is_ulid(body) {
                    return Err(ValidationError::invalid(
                        param,
                        format!("Invalid id '{value}': malformed."),
                    ));
                }
                Ok(Self(format!("{}_{}", $prefix, body.to_ascii_lowercase())))
            }

            /// Rebuilds an id read back from storage, where it was written by `new`.
            pub fn from_trusted(value: String) -> Self {
                debug_assert!(value.starts_with($prefix), "BUG: stored id without prefix");
                Self(value)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value, "id")
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some(concat!("`", $prefix, "_` followed by a ULID")))
                    .pattern(Some(Self::PATTERN))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

prefixed_id!(
    /// A workspace: the tenant every record belongs to.
    WorkspaceId,
    "ws"
);
prefixed_id!(
    /// An API key's public identifier (not the secret).
    ApiKeyId,
    "key"
);
prefixed_id!(
    /// A customer.
    CustomerId,
    "cus"
);
prefixed_id!(
    /// An HTTP request, echoed in `X-Request-Id` and in every log line of the request.
    RequestId,
    "req"
);
prefixed_id!(
    /// A domain event: the id consumers use to apply it once.
    EventId,
    "evt"
);
prefixed_id!(
    /// A notification email.
    EmailId,
    "em"
);
prefixed_id!(
    /// An entry of the audit log.
    AuditEntryId,
    "aud"
);
prefixed_id!(
    /// An outbound webhook endpoint.
    WebhookEndpointId,
    "we"
);
prefixed_id!(
    /// One attempt to deliver a webhook.
    WebhookAttemptId,
    "wha"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_and_strictly_increasing() {
        let mut previous = CustomerId::new();
        for _ in 0..10_000 {
            let next = CustomerId::new();
            assert!(next.as_str().starts_with("cus_"));
            assert!(next > previous, "{next} should sort after {previous}");
            previous = next;
        }
    }

    #[test]
    fn parse_accepts_own_ids_and_refuses_foreign_ones() {
        let id = CustomerId::new();
        assert_eq!(CustomerId::parse(id.as_str(), "id").unwrap(), id);
        let upper = format!("cus_{}", id.as_str()[4..].to_ascii_uppercase());
        assert_eq!(CustomerId::parse(&upper, "id").unwrap(), id);
        assert_eq!(
            CustomerId::parse("ws_01jdx2k3m4n5p6q7r8s9t0v1w2", "id")
                .unwrap_err()
                .param,
            "id"
        );
        assert!(CustomerId::parse("cus_short", "id").is_err());
        assert!(
            CustomerId::parse("cus_01jdx2k3m4n5p6q7r8s9t0v1wu", "id").is_err(),
            "u is not Crockford"
        );
        assert!(CustomerId::parse("", "id").is_err());
    }
}

prefixed_id!(
    /// Something for sale.
    ProductId,
    "prod"
);
prefixed_id!(
    /// A price of a product, in one currency, in the default list or a price book.
    PriceId,
    "price"
);
prefixed_id!(
    /// A named price list (a market, a channel).
    PriceBookId,
    "pb"
);
prefixed_id!(
    /// A business customers belong to.
    CompanyId,
    "comp"
);
prefixed_id!(
    /// A company's negotiated prices.
    AgreementId,
    "agr"
);
prefixed_id!(
    /// A discount: percent or amount off.
    CouponId,
    "coupon"
);
prefixed_id!(
    /// A code customers type to redeem a coupon.
    PromotionCodeId,
    "promo"
);
prefixed_id!(
    /// An order.
    OrderId,
    "ord"
);
prefixed_id!(
    /// A refund of an order's payment.
    RefundId,
    "rf"
);
prefixed_id!(
    /// A payment-provider connection of a workspace (its credentials and webhook secrets).
    ProviderId,
    "pp"
);
prefixed_id!(
    /// A customer's saved payment method.
    PaymentMethodId,
    "spm"
);
prefixed_id!(
    /// A contract between a buyer and (on a marketplace) a seller.
    ContractId,
    "ctr"
);
prefixed_id!(
    /// A release file of a product (one version, one platform).
    ArtifactId,
    "art"
);
prefixed_id!(
    /// A license to use a product, identified to the shipped software by its key.
    LicenseId,
    "lic"
);
prefixed_id!(
    /// An expiring, count-limited link to download one artifact.
    DownloadLinkId,
    "dl"
);
prefixed_id!(
    /// A customer portal sign-in (a magic link's record).
    PortalSignInId,
    "psi"
);
prefixed_id!(
    /// An invoice.
    InvoiceId,
    "in"
);
prefixed_id!(
    /// A tax rate of a jurisdiction.
    TaxRateId,
    "txr"
);
prefixed_id!(
    /// Money received from a customer against invoices (allocated, or kept as credit).
    PaymentId,
    "py"
);
prefixed_id!(
    /// A credit note against an issued invoice.
    CreditNoteId,
    "cn"
);
prefixed_id!(
    /// A dunning policy (its versions share the id).
    DunningPolicyId,
    "dpol"
);
prefixed_id!(
    /// Money a payer will push to the platform's bank account (a wire, RTP).
    ExpectedPaymentId,
    "ep"
);
prefixed_id!(
    /// A transaction the bank reported (a statement line or a webhook).
    BankTransactionId,
    "btx"
);
prefixed_id!(
    /// An item of the reconciliation review queue.
    ReconciliationItemId,
    "recon"
);
prefixed_id!(
    /// An originated ACH debit of a buyer's bank account.
    PayInId,
    "pin"
);
prefixed_id!(
    /// A workspace's connection to a bank (Modern Treasury, or the sandbox test bank).
    BankConnectionId,
    "bkc"
);
prefixed_id!(
    /// A party's bank account that payouts are sent to.
    BankAccountId,
    "ba"
);
prefixed_id!(
    /// Money paid out of a seller's AVAILABLE to their bank account.
    PayoutId,
    "pout"
);
prefixed_id!(
    /// Parcels on their way to a customer, or back from one (a return).
    ShipmentId,
    "shp"
);
prefixed_id!(
    /// One event a courier reported for a shipment.
    TrackingEventId,
    "tev"
);
prefixed_id!(
    /// A workspace's account at a carrier.
    CourierConnectionId,
    "ccn"
);
prefixed_id!(
    /// One run of a post-delivery automation scenario for a delivered shipment.
    AutomationRunId,
    "arun"
);
prefixed_id!(
    /// A serialised unit of a physical product, known by its serial number.
    DeviceId,
    "dev"
);
prefixed_id!(
    /// A window in which a device was held by a customer (and their company) or installed in
    /// one of their assets.
    DeviceAssignmentId,
    "dasg"
);
prefixed_id!(
    /// The background work on one subject (a shipment's polls, an automation run's attempts,
    /// an event's delivery to a subscriber) as the job monitor shows it.
    JobRunId,
    "job"
);
