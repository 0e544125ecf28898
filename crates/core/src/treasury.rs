//! Treasury: expected payments (money a payer will push), bank transactions matched to them
//! (from statements and, later, bank webhooks), and the reconciliation review queue for what no
//! rule could decide.
//!
//! Matching is `bursar_domain::treasury::matching`: deterministic, never a guess. A match
//! credits the expected payment's party (its wallet's AVAILABLE) with the `fund` recipe, once,
//! keyed by the bank transaction. Everything of one workspace's treasury that reads then writes
//! the open expectations takes the workspace's treasury lock, so two imports never both spend
//! one expectation.

pub mod drift;
mod reconcile;
mod review;

use bursar_domain::event::NewEvent;
use bursar_domain::id::{CustomerId, ExpectedPaymentId, WorkspaceId};
use bursar_domain::money::Currency;
use bursar_domain::time::Timestamp;
use bursar_domain::treasury::connection::PaymentInstructions;
use bursar_domain::treasury::matching::Direction;
use bursar_domain::treasury::objects::{validate_bounds, ExpectedPayment, ExpectedPaymentStatus};
use bursar_store::{params, treasury, Backend, Tx};
use jiff::civil::Date;

use crate::error::{Error, ErrorKind};
use crate::write::Context;

pub use reconcile::import;
pub use review::{act, open_item, sweep};

/// Most lines one API import takes.
pub const IMPORT_LINES_MAX: usize = 100_000;

/// An expected payment as asked for, not yet checked.
#[derive(Debug, Clone)]
pub struct ExpectedPaymentInput {
    pub currency: Currency,
    pub direction: Direction,
    pub amount_lower: i64,
    pub amount_upper: i64,
    pub date_lower: Date,
    pub date_upper: Date,
    pub counterparty: Option<String>,
    pub reference: Option<String>,
    pub party_id: Option<CustomerId>,
    pub description: Option<String>,
}

/// The day `now` falls on, in UTC: bank value dates are calendar dates.
pub fn today(now: Timestamp) -> Date {
    jiff::Timestamp::from_microsecond(now.unix_micros())
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date())
        .unwrap_or_default()
}

/// Serialises the treasury writes of one workspace (on PostgreSQL; SQLite has one writer).
pub(crate) async fn lock(tx: &mut Tx, workspace_id: &WorkspaceId) -> Result<(), Error> {
    if tx.backend() == Backend::Postgres {
        tx.execute(
            "select pg_advisory_xact_lock(hashtextextended($1, 0))",
            params![format!("treasury:{}", workspace_id.as_str())],
        )
        .await?;
    }
    Ok(())
}

fn new_expected(input: ExpectedPaymentInput, now: Timestamp) -> ExpectedPayment {
    ExpectedPayment {
        id: ExpectedPaymentId::new(),
        object: "expected_payment".into(),
        status: ExpectedPaymentStatus::Unreconciled,
        currency: input.currency,
        direction: input.direction,
        amount_lower: input.amount_lower,
        amount_upper: input.amount_upper,
        date_lower: input.date_lower,
        date_upper: input.date_upper,
        counterparty: input.counterparty,
        reference: input.reference,
        party_id: input.party_id,
        description: input.description,
        reconciled_amount: 0,
        created_at: now,
        updated_at: now,
    }
}

/// Creates expected payments (`expected_payment.created` each), all or none: bounds checked,
/// parties known.
pub async fn create_expected(
    cx: &mut Context<'_>,
    inputs: Vec<ExpectedPaymentInput>,
) -> Result<Vec<ExpectedPayment>, Error> {
    for input in &inputs {
        validate_bounds(
            input.amount_lower,
            input.amount_upper,
            input.date_lower,
            input.date_upper,
        )?;
        if let Some(party) = &input.party_id {
            crate::wallets::require_party(cx.tx, cx.workspace_id, party, "party_id").await?;
        }
    }
    let payments: Vec<ExpectedPayment> = inputs
        .into_iter()
        .map(|i| new_expected(i, cx.now))
        .collect();
    treasury::insert_expected(cx.tx, cx.workspace_id, &payments).await?;
    let events: Vec<_> = payments
        .iter()
        .map(|p| {
            (
                event(bursar_domain::event_type::EXPECTED_PAYMENT_CREATED, p),
                cx.cause.clone(),
            )
        })
        .collect();
    bursar_store::events::record_firsts(cx.tx, cx.workspace_id, &events, cx.now).await?;
    Ok(payments)
}

/// The event about an expected payment, the object as its payload.
pub(crate) fn event(event_type: &'static str, payment: &ExpectedPayment) -> NewEvent {
    NewEvent::new(
        event_type,
        "expected_payment",
        payment.id.as_str(),
        serde_json::json!({ "object": payment }),
    )
}

/// The event type of an expected payment that reached `status`.
pub(crate) fn status_event(status: ExpectedPaymentStatus) -> &'static str {
    use bursar_domain::event_type as t;
    match status {
        ExpectedPaymentStatus::Reconciled => t::EXPECTED_PAYMENT_RECONCILED,
        ExpectedPaymentStatus::Overdue => t::EXPECTED_PAYMENT_OVERDUE,
        ExpectedPaymentStatus::PartiallyReconciled | ExpectedPaymentStatus::Unreconciled => {
            t::EXPECTED_PAYMENT_PARTIALLY_RECONCILED
        }
    }
}

/// One expected payment.
pub async fn get_expected(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    id: &str,
) -> Result<ExpectedPayment, Error> {
    treasury::get_expected(tx, workspace_id, id, false)
        .await?
        .map(|(p, _)| p)
        .ok_or_else(|| Error::not_found("expected_payment", id))
}

/// What a payer is told to send for expected payment `id`: the workspace's receiving account in
/// its currency, the amount and the reference. Refused for an expectation of money going out,
/// and when no bank connection lists a receiving account in that currency.
pub async fn payment_instructions(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    id: &str,
) -> Result<PaymentInstructions, Error> {
    let expected = get_expected(tx, workspace_id, id).await?;
    if expected.direction != Direction::Credit {
        return Err(Error::state(
            "not_inbound",
            "debit",
            "Payment instructions are for money coming in; this expected payment is a debit.",
        ));
    }
    let account = crate::bank_connections::receiving_account(tx, workspace_id, expected.currency)
        .await?
        .ok_or_else(|| {
            Error::new(
                ErrorKind::State,
                "no_receiving_account",
                format!(
                    "No bank connection lists a receiving account in {}: add one to a \
                     connection's receiving_accounts.",
                    expected.currency.code()
                ),
            )
        })?;
    Ok(PaymentInstructions::new(&expected, account))
}
