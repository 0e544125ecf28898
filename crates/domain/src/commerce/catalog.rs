//! Products, prices, price books, companies and their price agreements, coupons and promotion
//! codes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::id::*;
use crate::metadata::Metadata;
use crate::money::Currency;
use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProductKind {
    /// Delivered as files or license keys.
    Digital,
    /// Shipped.
    Physical,
    /// Performed.
    Service,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CatalogStatus {
    Active,
    /// Kept for history; cannot be quoted or ordered any more.
    Archived,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Product {
    pub id: ProductId,
    /// Always `product`.
    pub object: String,
    pub name: String,
    pub kind: ProductKind,
    pub status: CatalogStatus,
    pub description: Option<String>,
    /// Licenses issued when an order for it is paid (digital products); none: no license.
    #[serde(default)]
    pub license: Option<crate::fulfillment::LicensePolicy>,
    /// Physical products only: each unit is a device with a serial number, which shipments
    /// must name and whose assignment history is kept.
    #[serde(default)]
    pub serialized: bool,
    pub metadata: Metadata,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PriceType {
    OneTime,
    Recurring,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Day,
    Week,
    Month,
    Year,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Recurring {
    pub interval: Interval,
    /// Intervals between bills: 3 with `month` bills quarterly.
    pub interval_count: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaxBehavior {
    /// The amount includes tax.
    Inclusive,
    /// Tax is added on top of the amount.
    Exclusive,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Price {
    pub id: PriceId,
    /// Always `price`.
    pub object: String,
    pub product_id: ProductId,
    /// The price book this price belongs to; none for the product's default price.
    pub price_book_id: Option<PriceBookId>,
    pub currency: Currency,
    /// Minor units per unit.
    pub unit_amount: i64,
    #[serde(rename = "type")]
    pub price_type: PriceType,
    pub recurring: Option<Recurring>,
    pub tax_behavior: TaxBehavior,
    pub active: bool,
    pub nickname: Option<String>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PriceBook {
    pub id: PriceBookId,
    /// Always `price_book`.
    pub object: String,
    pub name: String,
    pub description: Option<String>,
    pub status: CatalogStatus,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Contact {
    /// Not blank; trimmed.
    #[schema(min_length = 1, max_length = 250, pattern = r"\S")]
    pub name: String,
    /// At most 254 bytes: one `@`, a dotted domain, no white space.
    #[schema(format = Email, min_length = 5, max_length = 254)]
    pub email: Option<String>,
    pub phone: Option<String>,
    /// `billing`, `purchasing`, `technical`, …
    pub role: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Address {
    /// `billing` or `shipping`.
    #[schema(pattern = "^(billing|shipping)$")]
    pub kind: String,
    /// Not blank; trimmed.
    #[schema(min_length = 1, max_length = 250, pattern = r"\S")]
    pub line1: String,
    pub line2: Option<String>,
    /// Not blank; trimmed.
    #[schema(min_length = 1, max_length = 250, pattern = r"\S")]
    pub city: String,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2, upper case.
    #[schema(pattern = "^[A-Z]{2}$")]
    pub country: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Company {
    pub id: CompanyId,
    /// Always `company`.
    pub object: String,
    pub name: String,
    /// The company's price book: its members are priced from it when no agreement applies.
    pub price_book_id: Option<PriceBookId>,
    pub contacts: Vec<Contact>,
    pub addresses: Vec<Address>,
    pub metadata: Metadata,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgreementStatus {
    /// Being negotiated: never applied.
    Draft,
    /// Applied between `effective_from` and `effective_to`.
    Active,
    /// Past its `effective_to`, or ended early: never applied again.
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgreementLine {
    pub product_id: ProductId,
    /// Negotiated minor units per unit.
    pub unit_amount: i64,
    /// The negotiated price applies from this quantity on (default 1).
    pub min_quantity: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PriceAgreement {
    pub id: AgreementId,
    /// Always `price_agreement`.
    pub object: String,
    pub company_id: CompanyId,
    pub name: String,
    pub currency: Currency,
    /// As stored; see [`PriceAgreement::status_at`] for the status at an instant.
    pub status: AgreementStatus,
    /// Inclusive.
    pub effective_from: Timestamp,
    /// Exclusive; open-ended when absent.
    pub effective_to: Option<Timestamp>,
    pub lines: Vec<AgreementLine>,
    /// Increments with every change; the audit trail records each version.
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl PriceAgreement {
    /// The status at `at`: an active agreement whose end has passed is expired.
    pub fn status_at(&self, at: Timestamp) -> AgreementStatus {
        match self.status {
            AgreementStatus::Active if self.effective_to.is_some_and(|end| at >= end) => {
                AgreementStatus::Expired
            }
            status => status,
        }
    }

    /// Whether the agreement prices orders at `at`.
    pub fn applies_at(&self, at: Timestamp) -> bool {
        self.status_at(at) == AgreementStatus::Active && self.effective_from <= at
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CouponDuration {
    /// The first charge only.
    Once,
    /// Charges in the first `duration_in_months`.
    Repeating,
    Forever,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Coupon {
    pub id: CouponId,
    /// Always `coupon`.
    pub object: String,
    pub name: Option<String>,
    /// Whole percent, 1 to 100. Exactly one of `percent_off` and `amount_off`.
    pub percent_off: Option<i64>,
    /// Minor units of `currency` off the eligible lines.
    pub amount_off: Option<i64>,
    pub currency: Option<Currency>,
    pub duration: CouponDuration,
    pub duration_in_months: Option<i64>,
    /// The products it applies to; every product when absent.
    pub applies_to: Option<Vec<ProductId>>,
    /// Last instant it can be redeemed.
    pub redeem_by: Option<Timestamp>,
    pub max_redemptions: Option<i64>,
    pub times_redeemed: i64,
    pub created_at: Timestamp,
}

impl Coupon {
    pub fn applies_to_product(&self, product: &ProductId) -> bool {
        self.applies_to
            .as_ref()
            .is_none_or(|products| products.contains(product))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PromotionCode {
    pub id: PromotionCodeId,
    /// Always `promotion_code`.
    pub object: String,
    /// What customers type; unique in the workspace, case-insensitive (stored upper case).
    pub code: String,
    pub coupon_id: CouponId,
    pub active: bool,
    pub max_redemptions: Option<i64>,
    pub times_redeemed: i64,
    pub expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
}
