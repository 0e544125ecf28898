//! Inbound bank webhooks, from a real bank or the sandbox test bank alike: verified, claimed
//! once by the bank's webhook id, and applied in the claim's transaction — money that arrived
//! becomes a bank transaction matched to the expected payments; payment-order outcomes and
//! returns go to what they concern.

use bursar_banks::test_bank::{IncomingRequest, TestBank};
use bursar_banks::{BankEvent, BankEventKind, Headers, IncomingPayment, Rail, WebhookError};
use bursar_domain::event::Cause;
use bursar_domain::id::WorkspaceId;
use bursar_domain::money::Currency;
use bursar_domain::treasury::connection::BankWebhookReceipt;
use bursar_domain::treasury::matching::{BankTransaction, Direction};
use bursar_domain::treasury::statement::StatementLine;
use bursar_store::bank_connections::{self, BankConnectionRow};
use bursar_store::Tx;

use crate::bank_connections::{rails, secrets};
use crate::error::{Error, ErrorKind};
use crate::write::Context;
use crate::App;

fn webhook_error(error: WebhookError) -> Error {
    let code = match error {
        WebhookError::MissingSignature => "signature_missing",
        WebhookError::MalformedSignature(_) => "signature_malformed",
        WebhookError::BadSignature => "signature_invalid",
        WebhookError::MissingWebhookId => "webhook_id_missing",
        WebhookError::BadPayload(_) => "payload_invalid",
    };
    Error::new(ErrorKind::Invalid, code, error.to_string())
}

async fn connection(app: &App, id: &str) -> Result<BankConnectionRow, Error> {
    let lookup = id.to_owned();
    app.db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { bank_connections::by_id(tx, &lookup).await })
        })
        .await?
        .ok_or_else(|| Error::not_found("bank_connection", id))
}

/// Verifies, claims and applies one webhook of connection `connection_id`. Nothing of an
/// unverified body is read or stored; a webhook id seen before changes nothing.
pub async fn ingest(
    app: &App,
    connection_id: &str,
    headers: &Headers,
    body: &[u8],
) -> Result<BankWebhookReceipt, Error> {
    let row = connection(app, connection_id).await?;
    let bank = rails(app, &row)?;
    let secrets = secrets(app.db.sealer()?, &row)?;
    let event = bank
        .parse_webhook(headers, body, &secrets)
        .map_err(webhook_error)?;
    let cause = Cause {
        request_id: None,
        actor: Some(format!("bank:{connection_id}")),
    };
    let connection_id = connection_id.to_owned();
    app.write(
        row.workspace_id.clone(),
        cause,
        move |mut cx: Context<'_>| {
            Box::pin(async move {
                let (workspace_id, webhook_id) =
                    (cx.workspace_id.clone(), event.webhook_id.clone());
                let first = bank_connections::claim_webhook(
                    cx.tx,
                    &connection_id,
                    &webhook_id,
                    &workspace_id,
                    &event.topic,
                    &event.event,
                    cx.now.unix_micros(),
                )
                .await?;
                if !first {
                    return Ok(receipt(webhook_id, false, "duplicate", None));
                }
                let (outcome, detail) = apply(&mut cx, &connection_id, &event).await?;
                bank_connections::settle_webhook(
                    cx.tx,
                    &connection_id,
                    &webhook_id,
                    outcome,
                    detail.as_deref(),
                )
                .await?;
                Ok(receipt(webhook_id, true, outcome, detail))
            })
        },
    )
    .await
}

fn receipt(
    webhook_id: String,
    first: bool,
    outcome: &str,
    detail: Option<String>,
) -> BankWebhookReceipt {
    BankWebhookReceipt {
        received: true,
        webhook_id,
        first_delivery: first,
        outcome: outcome.into(),
        detail,
    }
}

/// Applies one verified, first-seen bank event in the claim's transaction.
async fn apply(
    cx: &mut Context<'_>,
    connection_id: &str,
    event: &BankEvent,
) -> Result<(&'static str, Option<String>), Error> {
    match &event.kind {
        BankEventKind::IncomingPayment(payment) => arrived(cx, payment).await,
        BankEventKind::PaymentOrderStatusChanged { .. } | BankEventKind::Return(_) => {
            if crate::payouts::apply_bank_event(cx, connection_id, event).await? {
                return Ok(("applied", Some("payout".into())));
            }
            if crate::pay_ins::apply_bank_event(cx, event).await? {
                return Ok(("applied", Some("pay_in".into())));
            }
            Ok((
                "ignored",
                Some("no payment order of this workspace is concerned".into()),
            ))
        }
        _ => Ok((
            "ignored",
            Some(format!("{} {} is recorded only", event.topic, event.event)),
        )),
    }
}

/// Money the bank says arrived (or left) without Bursar asking: once completed, a bank
/// transaction matched to the expected payments like a statement line.
async fn arrived(
    cx: &mut Context<'_>,
    payment: &IncomingPayment,
) -> Result<(&'static str, Option<String>), Error> {
    if payment.status != "completed" {
        return Ok((
            "ignored",
            Some(format!(
                "incoming payment is {}; it counts once completed",
                payment.status
            )),
        ));
    }
    let Ok(currency) = Currency::parse(&payment.currency, "currency") else {
        return Ok((
            "ignored",
            Some(format!("unknown currency '{}'", payment.currency)),
        ));
    };
    let value_date = payment
        .as_of_date
        .as_deref()
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| crate::treasury::today(cx.now));
    let line = StatementLine {
        external_id: format!("ipd:{}", payment.id),
        transaction: BankTransaction {
            id: String::new(),
            currency,
            direction: match payment.direction {
                bursar_banks::Direction::Credit => Direction::Credit,
                bursar_banks::Direction::Debit => Direction::Debit,
            },
            amount: payment.amount,
            value_date,
            counterparty: payment.originator_name.clone(),
            reference: payment.reference.clone(),
        },
    };
    let summary = crate::treasury::import(cx, "webhook", vec![line]).await?;
    let detail = match (summary.matched, summary.in_review, summary.duplicates) {
        (1, _, _) => "matched to an expected payment",
        (_, 1, _) => "in review",
        _ => "recorded before",
    };
    Ok(("applied", Some(detail.into())))
}

/// Brings every test bank of this process to now and ingests what it sends; answers how many
/// webhooks were applied.
pub async fn drive_test_banks(app: &App) -> Result<usize, Error> {
    let _one_round_at_a_time = app.banks.driving.lock().await;
    let rows = app
        .db
        .read(|tx: &mut Tx| {
            Box::pin(
                async move { bank_connections::of_kind(tx, bursar_banks::test_bank::KIND).await },
            )
        })
        .await?;
    let mut applied = 0;
    for row in rows {
        let bank = test_bank_of(app, &row)?;
        let mut due = app.banks.take_failed(&row.connection_id);
        due.extend(bank.advance());
        for webhook in due {
            match ingest(app, &row.connection_id, &webhook.headers, &webhook.body).await {
                Ok(_) => applied += 1,
                Err(error) => {
                    tracing::warn!(connection = %row.connection_id, webhook = webhook.webhook_id(),
                        %error, "test bank webhook failed; it is delivered again next round");
                    // Not lost: kept for the next round, and its webhook id is applied once.
                    app.banks.keep_failed(&row.connection_id, webhook);
                }
            }
        }
    }
    Ok(applied)
}

fn test_bank_of(app: &App, row: &BankConnectionRow) -> Result<std::sync::Arc<TestBank>, Error> {
    let secret = secrets(app.db.sealer()?, row)?
        .into_iter()
        .next()
        .unwrap_or_default();
    Ok(app.banks.test_bank(app, &row.connection_id, &secret))
}

/// A sandbox test bank connection of the workspace, or why not.
pub async fn sandbox_test_bank(
    app: &App,
    workspace_id: &WorkspaceId,
    connection_id: &str,
) -> Result<std::sync::Arc<TestBank>, Error> {
    if app.workspace_mode(workspace_id).await? != bursar_domain::auth::WorkspaceMode::Sandbox {
        return Err(Error::invalid(
            "sandbox_only",
            Some("id".into()),
            "The test bank exists only in sandbox workspaces; this workspace is live.",
        ));
    }
    let row = connection(app, connection_id).await?;
    if &row.workspace_id != workspace_id {
        return Err(Error::not_found("bank_connection", connection_id));
    }
    if row.kind != bursar_banks::test_bank::KIND {
        return Err(Error::invalid(
            "parameter_invalid",
            Some("id".into()),
            "Only a test bank connection simulates payers.",
        ));
    }
    test_bank_of(app, &row)
}

/// A payer's push into the platform's account at the test bank, as checked input.
#[derive(Debug, Clone)]
pub struct SimulatedIncoming {
    pub amount: i64,
    pub currency: Currency,
    pub rail: Rail,
    pub originator_name: Option<String>,
    pub reference: Option<String>,
}

/// Sandbox: someone sends money to the platform through the test bank (it arrives as the
/// bank's webhooks, in seconds for a wire or RTP, the next banking day for ACH).
pub fn simulate_incoming(bank: &TestBank, incoming: SimulatedIncoming) -> Result<String, Error> {
    let mut request = IncomingRequest::credit(
        incoming.amount,
        incoming.currency.code(),
        incoming.rail,
        crate::bank_connections::TEST_BANK_INTERNAL_ACCOUNT,
    );
    request.originator_name = incoming.originator_name;
    request.reference = incoming.reference;
    bank.send_incoming(&request)
        .map_err(|e| Error::invalid("parameter_invalid", None, e.to_string()))
}

/// Sandbox: the receiving bank returns a completed ACH payment order with a NACHA code.
pub fn simulate_return(bank: &TestBank, payment_order_id: &str, code: &str) -> Result<(), Error> {
    bank.return_payment_order(payment_order_id, code)
        .map_err(|e| {
            Error::state("payment_order_not_returnable", "completed", e.to_string())
                .with_param("code")
        })
}
