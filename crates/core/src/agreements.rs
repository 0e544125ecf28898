//! Price agreements: prices negotiated with a company, drafted, activated, expired. Every
//! change is a new version, an event on the agreement's timeline.

use bursar_domain::commerce::*;
use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::id::*;
use bursar_domain::money::Currency;
use bursar_domain::time::Timestamp;
use bursar_domain::ValidationError;
use bursar_store::documents::{self, PRICE_AGREEMENT, PRODUCT};
use serde_json::json;

use crate::catalog::check_links;
use crate::error::Error;
use crate::lookup;
use crate::write::Context;

/// An RFC 3339 instant, naming the field when it is not one.
pub fn parse_instant(value: &str, param: &str) -> Result<Timestamp, ValidationError> {
    Timestamp::parse_rfc3339(value).ok_or_else(|| {
        ValidationError::invalid(param, format!("'{value}' is not an RFC 3339 timestamp."))
    })
}

/// An agreement's window, checked: it ends after it starts, or never.
pub fn check_window(from: Timestamp, to: Option<Timestamp>) -> Result<(), ValidationError> {
    if to.is_some_and(|to| to <= from) {
        return Err(ValidationError::invalid(
            "effective_to",
            "effective_to must be after effective_from.",
        ));
    }
    Ok(())
}

/// Checks that every product an agreement's lines price exists.
pub async fn check_products(cx: &mut Context<'_>, lines: &[AgreementLine]) -> Result<(), Error> {
    for (i, line) in lines.iter().enumerate() {
        lookup::get_in::<Product>(
            cx,
            PRODUCT,
            "product",
            line.product_id.as_str(),
            &format!("lines[{i}][product_id]"),
        )
        .await?;
    }
    Ok(())
}

/// Every change of an agreement is an event on its timeline and an entry of its audit chain.
async fn record(
    cx: &mut Context<'_>,
    event_type: &'static str,
    agreement: &PriceAgreement,
    previous: Option<&PriceAgreement>,
) -> Result<(), Error> {
    let mut payload = json!({ "object": agreement });
    if let Some(previous) = previous {
        payload["previous_attributes"] = json!(previous);
    }
    cx.emit(NewEvent::new(
        event_type,
        "price_agreement",
        agreement.id.as_str(),
        payload,
    ))
    .await
}

/// An agreement to create (a draft), its window checked by [`check_window`].
#[derive(Debug, Clone)]
pub struct NewAgreement {
    pub company_id: CompanyId,
    pub name: String,
    pub currency: Currency,
    /// Inclusive.
    pub effective_from: Timestamp,
    /// Exclusive; open-ended when absent.
    pub effective_to: Option<Timestamp>,
    pub lines: Vec<AgreementLine>,
}

/// Creates a draft agreement for an existing company, pricing existing products, and
/// records `price_agreement.created`.
pub async fn create(cx: &mut Context<'_>, new: NewAgreement) -> Result<PriceAgreement, Error> {
    check_links(cx, Some(&new.company_id), None).await?;
    check_products(cx, &new.lines).await?;
    let agreement = PriceAgreement {
        id: AgreementId::new(),
        object: "price_agreement".into(),
        company_id: new.company_id,
        name: new.name,
        currency: new.currency,
        status: AgreementStatus::Draft,
        effective_from: new.effective_from,
        effective_to: new.effective_to,
        lines: new.lines,
        version: 1,
        created_at: cx.now,
        updated_at: cx.now,
    };
    documents::insert(
        cx.tx,
        PRICE_AGREEMENT,
        cx.workspace_id,
        agreement.id.as_str(),
        &agreement,
        &[("company_id", agreement.company_id.as_str().into())],
    )
    .await?;
    record(cx, event_type::PRICE_AGREEMENT_CREATED, &agreement, None).await?;
    Ok(agreement)
}

/// The changes to an agreement; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AgreementUpdate {
    pub name: Option<String>,
    /// Drafts only.
    pub effective_from: Option<Timestamp>,
    /// `Some(None)`: open-ended. An active agreement's end moves, but not into the past.
    pub effective_to: Option<Option<Timestamp>>,
    /// Drafts only: replaces the lines.
    pub lines: Option<Vec<AgreementLine>>,
}

/// Changes agreement `id`: a draft freely, an active one only its name and end; an expired
/// one not at all. Records `price_agreement.updated` with the previous version.
pub async fn update(
    cx: &mut Context<'_>,
    id: &str,
    update: AgreementUpdate,
) -> Result<PriceAgreement, Error> {
    let current: PriceAgreement =
        lookup::get_in(cx, PRICE_AGREEMENT, "price_agreement", id, "id").await?;
    let status = current.status_at(cx.now);
    check_changeable(status, &update)?;
    let mut agreement = current.clone();
    if let Some(name) = update.name {
        agreement.name = name;
    }
    if let Some(from) = update.effective_from {
        agreement.effective_from = from;
    }
    if let Some(to) = update.effective_to {
        if status == AgreementStatus::Active && to.is_some_and(|t| t < cx.now) {
            return Err(ValidationError::invalid(
                "effective_to",
                "An active agreement cannot end in the past; expire it to end it now.",
            )
            .into());
        }
        agreement.effective_to = to;
    }
    if let Some(lines) = update.lines {
        check_products(cx, &lines).await?;
        agreement.lines = lines;
    }
    check_window(agreement.effective_from, agreement.effective_to)?;
    save_version(cx, &mut agreement).await?;
    record(
        cx,
        event_type::PRICE_AGREEMENT_UPDATED,
        &agreement,
        Some(&current),
    )
    .await?;
    Ok(agreement)
}

/// Refuses changes an agreement's status does not allow.
fn check_changeable(status: AgreementStatus, update: &AgreementUpdate) -> Result<(), Error> {
    match status {
        AgreementStatus::Expired => Err(Error::state(
            "agreement_expired",
            "expired",
            "An expired agreement cannot change; create a new one.",
        )),
        AgreementStatus::Active if update.effective_from.is_some() || update.lines.is_some() => {
            Err(Error::state(
                "agreement_active",
                "active",
                "An active agreement's start and lines are fixed; only its name and end can change. \
                 Create a new agreement to renegotiate.",
            ))
        }
        _ => Ok(()),
    }
}

/// Stores `agreement` as its next version, changed now.
async fn save_version(cx: &mut Context<'_>, agreement: &mut PriceAgreement) -> Result<(), Error> {
    agreement.version += 1;
    agreement.updated_at = cx.now;
    documents::save(
        cx.tx,
        PRICE_AGREEMENT,
        cx.workspace_id,
        agreement.id.as_str(),
        &*agreement,
        &[],
    )
    .await?;
    Ok(())
}

/// Moves agreement `id` to `to`: a draft becomes active; a draft or an active one expires (its
/// end, if later, becomes now). Records `price_agreement.activated` or `.expired`.
pub async fn set_status(
    cx: &mut Context<'_>,
    id: &str,
    to: AgreementStatus,
) -> Result<PriceAgreement, Error> {
    let current: PriceAgreement =
        lookup::get_in(cx, PRICE_AGREEMENT, "price_agreement", id, "id").await?;
    let status = current.status_at(cx.now);
    let allowed = matches!(
        (status, to),
        (AgreementStatus::Draft, AgreementStatus::Active)
            | (
                AgreementStatus::Draft | AgreementStatus::Active,
                AgreementStatus::Expired
            )
    );
    if !allowed {
        return Err(Error::state(
            "agreement_state_invalid",
            &status_name(status),
            format!(
                "A {} agreement cannot become {}.",
                status_name(status),
                status_name(to)
            ),
        ));
    }
    let mut agreement = current.clone();
    agreement.status = to;
    if to == AgreementStatus::Expired && agreement.effective_to.is_none_or(|end| end > cx.now) {
        agreement.effective_to = Some(cx.now.max(agreement.effective_from));
    }
    save_version(cx, &mut agreement).await?;
    let kind = if to == AgreementStatus::Active {
        event_type::PRICE_AGREEMENT_ACTIVATED
    } else {
        event_type::PRICE_AGREEMENT_EXPIRED
    };
    record(cx, kind, &agreement, Some(&current)).await?;
    Ok(agreement)
}

/// A status as the API spells it.
fn status_name(status: AgreementStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
