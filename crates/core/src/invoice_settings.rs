//! The workspace's invoicing settings: who issues its invoices, how they are numbered and
//! paid, and when billing runs' drafts are issued.

use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::invoice::{InvoiceSettings, TaxRate};
use bursar_domain::money::check_amount_cap;
use bursar_domain::treasury::settlement::{FEE_BPS_MAX, SEASONING_DAYS_MAX};
use bursar_store::documents::TAX_RATE;
use bursar_store::invoices;
use serde_json::json;

use crate::error::Error;
use crate::invoices::load_settings;
use crate::lookup;
use crate::write::Context;

/// The changes to the settings; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct SettingsUpdate {
    pub number_prefix: Option<String>,
    pub issuer_name: Option<String>,
    pub issuer_address: Option<Vec<String>>,
    pub issuer_tax_id: Option<String>,
    /// 0 to 365 days (see [`crate::invoices::check_terms`]).
    pub payment_terms_days: Option<u32>,
    pub payment_instructions: Option<String>,
    /// A tax rate id for the lines billing runs make; `Some(None)` removes it.
    pub default_tax_rate_id: Option<Option<String>>,
    /// Hours until billing runs' drafts are issued; `Some(None)` turns automatic issuing off.
    pub auto_issue_after_hours: Option<Option<u32>>,
    /// How marketplace invoices settle to their sellers.
    pub marketplace: MarketplaceUpdate,
}

/// Changes to how marketplace invoices settle; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct MarketplaceUpdate {
    /// 0 to 365 days.
    pub seller_seasoning_days: Option<u32>,
    /// 0 to 10,000 basis points.
    pub platform_fee_bps: Option<u32>,
    /// 0 to the amount cap.
    pub platform_fee_fixed: Option<i64>,
}

impl MarketplaceUpdate {
    /// Refuses a setting out of its bounds, naming it.
    pub fn check(&self) -> Result<(), Error> {
        if self
            .seller_seasoning_days
            .is_some_and(|days| days > SEASONING_DAYS_MAX)
        {
            return Err(Error::invalid(
                "parameter_invalid",
                Some("seller_seasoning_days".into()),
                format!("seller_seasoning_days is 0 to {SEASONING_DAYS_MAX}."),
            ));
        }
        if self.platform_fee_bps.is_some_and(|bps| bps > FEE_BPS_MAX) {
            return Err(Error::invalid(
                "parameter_invalid",
                Some("platform_fee_bps".into()),
                format!("platform_fee_bps is 0 to {FEE_BPS_MAX} (100%)."),
            ));
        }
        if let Some(fixed) = self.platform_fee_fixed {
            check_amount_cap(fixed, "platform_fee_fixed")?;
            if fixed < 0 {
                return Err(Error::invalid(
                    "parameter_invalid",
                    Some("platform_fee_fixed".into()),
                    "platform_fee_fixed cannot be negative.",
                ));
            }
        }
        Ok(())
    }
}

/// Automatic issuing as asked for: 0 to 2160 hours, or -1 for never (`Some(None)`).
pub fn auto_issue_hours(hours: Option<i64>) -> Result<Option<Option<u32>>, Error> {
    match hours {
        None => Ok(None),
        Some(-1) => Ok(Some(None)),
        Some(hours) if (0..=24 * 90).contains(&hours) => Ok(Some(u32::try_from(hours).ok())),
        Some(_) => Err(Error::invalid(
            "parameter_invalid",
            Some("auto_issue_after_hours".into()),
            "auto_issue_after_hours is 0 to 2160 hours, or -1 for never.",
        )),
    }
}

/// Changes the settings (a default tax rate must exist) and records
/// `invoice_settings.updated`; later invoices use them, issued ones keep theirs.
pub async fn update(
    cx: &mut Context<'_>,
    update: SettingsUpdate,
) -> Result<InvoiceSettings, Error> {
    update.marketplace.check()?;
    let mut settings = load_settings(cx.tx, cx.workspace_id).await?;
    let previous = settings.clone();
    match &update.default_tax_rate_id {
        None => {}
        Some(None) => settings.default_tax_rate_id = None,
        Some(Some(id)) => {
            let rate: TaxRate =
                lookup::get_in(cx, TAX_RATE, "tax_rate", id, "default_tax_rate_id").await?;
            settings.default_tax_rate_id = Some(rate.id);
        }
    }
    apply(&mut settings, update);
    let encoded = serde_json::to_string(&settings).unwrap_or_default();
    invoices::save_settings(cx.tx, cx.workspace_id, &encoded).await?;
    let workspace = cx.workspace_id.to_string();
    cx.emit(NewEvent::new(
        event_type::INVOICE_SETTINGS_UPDATED,
        "invoice_settings",
        &workspace,
        json!({ "object": settings, "previous_attributes": previous }),
    ))
    .await?;
    Ok(settings)
}

/// Sets what `update` gives, but the default tax rate (looked up by [`update`]).
fn apply(settings: &mut InvoiceSettings, update: SettingsUpdate) {
    if let Some(hours) = update.auto_issue_after_hours {
        settings.auto_issue_after_hours = hours;
    }
    if let Some(prefix) = update.number_prefix {
        settings.number_prefix = prefix;
    }
    if let Some(name) = update.issuer_name {
        settings.issuer_name = name;
    }
    if let Some(address) = update.issuer_address {
        settings.issuer_address = address;
    }
    if update.issuer_tax_id.is_some() {
        settings.issuer_tax_id = update.issuer_tax_id;
    }
    if let Some(days) = update.payment_terms_days {
        settings.payment_terms_days = days;
    }
    if update.payment_instructions.is_some() {
        settings.payment_instructions = update.payment_instructions;
    }
    let marketplace = update.marketplace;
    if let Some(days) = marketplace.seller_seasoning_days {
        settings.seller_seasoning_days = days;
    }
    if let Some(bps) = marketplace.platform_fee_bps {
        settings.platform_fee_bps = bps;
    }
    if let Some(fixed) = marketplace.platform_fee_fixed {
        settings.platform_fee_fixed = fixed;
    }
}
