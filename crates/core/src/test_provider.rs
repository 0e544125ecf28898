//! The embedded test provider: its checkout and setup sessions, completed by a person on its
//! pages or by a test, signed like Stripe's events and delivered to the webhook path.

use bursar_domain::payment_provider::*;
use bursar_payments::stripe;
use bursar_payments::{signature, Headers};
use bursar_store::payment_providers::TestSession;
use bursar_store::Tx;
use bytes::Bytes;
use serde_json::json;

use crate::error::{Error, ErrorKind};
use crate::payment_events::*;
use crate::providers::*;
use crate::App;
use bursar_domain::auth::WorkspaceMode;

mod summary;
pub use summary::{checkout_summary, CheckoutSummary, SummaryLine};

/// Saves a card on a test setup session, once, and returns (and by default delivers) the
/// signed `setup_intent.succeeded` event.
pub async fn complete_setup(
    state: &App,
    session_id: &str,
    card: TestCard,
    deliver: bool,
) -> Result<CompleteSessionResponse, Error> {
    let id = session_id.to_owned();
    let setup = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { bursar_store::payment_providers::test_setup(tx, &id).await })
        })
        .await?
        .ok_or_else(|| Error::not_found("setup_session", session_id))?;
    let sid = setup.session_id.clone();
    let moved = state
        .db
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                bursar_store::payment_providers::set_test_setup_status(tx, &sid, "open", "complete")
                    .await
            })
        })
        .await?;
    if !moved {
        return Err(Error::state(
            "setup_session_state_invalid",
            "complete",
            "This setup session has already saved a card.",
        ));
    }
    let now = state.db.now().unix_micros() / 1_000_000;
    let method = format!("pm_test_{}_{}", card.slug(), random_token(8));
    let object = json!({
        "id": format!("seti_test_{}", random_token(12)), "object": "setup_intent", "status": "succeeded",
        "customer": setup.provider_customer_id, "payment_method": method, "usage": "off_session",
        "metadata": { "bursar_customer_id": setup.customer_id }, "livemode": false, "created": now,
    });
    let events = sign_events(
        state,
        &setup.provider_id,
        vec![("setup_intent.succeeded", object)],
        now,
    )
    .await?;
    let receipts = if deliver {
        deliver_events(state, &setup.provider_id, &events).await?
    } else {
        Vec::new()
    };
    Ok(CompleteSessionResponse {
        session_id: setup.session_id,
        status: "complete".into(),
        events,
        receipts,
    })
}

/// Signs events with the connection's first secret, as Stripe would send them.
pub async fn sign_events(
    state: &App,
    provider_id: &str,
    objects: Vec<(&'static str, serde_json::Value)>,
    now_seconds: i64,
) -> Result<Vec<SignedEvent>, Error> {
    let row = find_connection(state, provider_id, None).await?;
    let connection = connect(state, row, "")?;
    let secret = connection
        .secrets
        .first()
        .cloned()
        .ok_or_else(Error::internal)?;
    Ok(objects
        .into_iter()
        .map(|(event_type, object)| {
            let id = format!("evt_test_{}", random_token(12));
            let payload = stripe::event_json(&id, event_type, now_seconds, object).to_string();
            let signature = signature::header(&[secret.as_str()], now_seconds, payload.as_bytes());
            SignedEvent {
                id,
                event_type: event_type.to_owned(),
                payload,
                signature,
                webhook_path: format!("/v1/webhooks/{provider_id}"),
            }
        })
        .collect())
}

/// Delivers signed events through the webhook path, in order.
pub async fn deliver_events(
    state: &App,
    provider_id: &str,
    events: &[SignedEvent],
) -> Result<Vec<WebhookReceipt>, Error> {
    let mut receipts = Vec::new();
    for event in events {
        let headers: Headers = [(signature::HEADER.to_owned(), event.signature.clone())]
            .into_iter()
            .collect();
        receipts.push(
            ingest(
                state,
                provider_id,
                &headers,
                Bytes::from(event.payload.clone()),
            )
            .await?,
        );
    }
    Ok(receipts)
}

/// Expires the test provider's open checkout sessions whose time is up, as Stripe does after
/// 24 hours: each delivers `checkout.session.expired`. Returns how many expired.
pub async fn expire_due_sessions(state: &App) -> Result<usize, Error> {
    let now = state.db.now().unix_micros() / 1_000_000;
    let due = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                bursar_store::payment_providers::due_test_sessions(tx, now, 100).await
            })
        })
        .await?;
    let mut expired = 0;
    for session in due {
        match complete_session(state, &session, TestOutcome::Expired, true).await {
            Ok(_) => expired += 1,
            // Paid or expired meanwhile: nothing to do.
            Err(error) if matches!(error.kind, ErrorKind::State | ErrorKind::Conflict) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(expired)
}

/// A test checkout session by id; none for a live workspace's (the test provider does not
/// exist there, whatever was stored before the workspace's mode was known).
pub async fn load_test_session(state: &App, id: &str) -> Result<Option<TestSession>, Error> {
    let id = id.to_owned();
    let session = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                bursar_store::payment_providers::test_session(tx, "session_id", &id).await
            })
        })
        .await?;
    match session {
        Some(session)
            if state.workspace_mode(&session.workspace_id).await? == WorkspaceMode::Sandbox =>
        {
            Ok(Some(session))
        }
        _ => Ok(None),
    }
}

/// The fee the test provider charges, as a card processor would: 2.9% + 30 minor units,
/// rounded half up.
pub fn test_fee(amount: i64) -> i64 {
    (amount.saturating_mul(29) + 500) / 1000 + 30
}

/// What the test provider charges for a dispute, like Stripe's 15.00.
pub const TEST_DISPUTE_FEE: i64 = 1500;

/// The events of `outcome` for `session`, as Stripe sends them. A decline is of the test card
/// `declined`, named by its fingerprint; when that card is `blocked` (too many declines this
/// window) the attempt never reaches the issuer and says so (`card_velocity_exceeded`).
pub fn stripe_objects(
    session: &TestSession,
    (outcome, blocked): (TestOutcome, bool),
    now: i64,
) -> Vec<(&'static str, serde_json::Value)> {
    let currency = session.currency.to_ascii_lowercase();
    let metadata = json!({ stripe::ORDER_ID_KEY: session.order_id });
    let checkout = |payment_status: &str, status: &str| {
        json!({
            "id": session.session_id, "object": "checkout.session", "mode": "payment",
            "amount_total": session.amount, "amount_subtotal": session.amount, "currency": currency,
            "payment_status": payment_status, "status": status, "payment_intent": session.payment_id,
            "client_reference_id": session.order_id, "metadata": metadata, "customer": null,
            "customer_details": { "email": session.customer_email }, "expires_at": session.expires_at,
            "success_url": session.success_url, "cancel_url": session.cancel_url, "livemode": false, "created": now,
        })
    };
    let intent = |status: &str, received: i64, extra: serde_json::Value| {
        let mut object = json!({
            "id": session.payment_id, "object": "payment_intent", "amount": session.amount,
            "amount_received": received, "currency": currency, "status": status, "metadata": metadata,
            "payment_method": "pm_card_visa", "customer": null, "livemode": false, "created": now,
            "capture_method": "automatic", "last_payment_error": null, "latest_charge": null,
        });
        if let (Some(object), Some(extra)) = (object.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                object.insert(k.clone(), v.clone());
            }
        }
        object
    };
    match outcome {
        TestOutcome::Succeeded => {
            let fee = test_fee(session.amount);
            let charge = json!({
                "id": format!("ch_{}", &session.payment_id[3..]), "object": "charge", "amount": session.amount,
                "balance_transaction": { "id": format!("txn_{}", &session.payment_id[3..]), "object": "balance_transaction",
                    "amount": session.amount, "fee": fee, "net": session.amount - fee, "currency": currency },
            });
            let mut events = Vec::new();
            if session.status == "processing" {
                events.push((
                    "checkout.session.async_payment_succeeded",
                    checkout("paid", "complete"),
                ));
            } else {
                events.push(("checkout.session.completed", checkout("paid", "complete")));
            }
            events.push((
                "payment_intent.succeeded",
                intent(
                    "succeeded",
                    session.amount,
                    json!({ "latest_charge": charge }),
                ),
            ));
            events
        }
        TestOutcome::Declined => {
            let card = TestCard::Declined;
            let method = json!({ "id": format!("pm_test_{}_{}", card.slug(), &session.payment_id[3..]), "object": "payment_method",
                "type": "card", "card": { "brand": "visa", "last4": "0002", "fingerprint": card.fingerprint() } });
            let (decline_code, message) = match blocked {
                false => ("generic_decline", "Your card was declined."),
                true => (
                    "card_velocity_exceeded",
                    "This card was declined too often in a short time; it was not tried.",
                ),
            };
            vec![(
                "payment_intent.payment_failed",
                intent(
                    "requires_payment_method",
                    0,
                    json!({ "last_payment_error": { "type": "card_error", "code": "card_declined", "decline_code": decline_code,
                        "message": message, "payment_method": method } }),
                ),
            )]
        }
        TestOutcome::Processing => vec![
            ("checkout.session.completed", checkout("unpaid", "complete")),
            (
                "payment_intent.processing",
                intent("processing", 0, json!({})),
            ),
        ],
        TestOutcome::Expired => vec![("checkout.session.expired", checkout("unpaid", "expired"))],
        TestOutcome::Disputed | TestOutcome::DisputeWon | TestOutcome::DisputeLost => {
            let (event_type, status, balance) = match outcome {
                TestOutcome::Disputed => (
                    "charge.dispute.created",
                    "needs_response",
                    json!([{ "object": "balance_transaction", "amount": -session.amount, "fee": TEST_DISPUTE_FEE }]),
                ),
                TestOutcome::DisputeWon => ("charge.dispute.closed", "won", json!([])),
                _ => ("charge.dispute.closed", "lost", json!([])),
            };
            vec![(
                event_type,
                json!({
                    "id": format!("dp_{}", &session.payment_id[3..]), "object": "dispute", "amount": session.amount,
                    "currency": currency, "charge": format!("ch_{}", &session.payment_id[3..]), "payment_intent": session.payment_id,
                    "reason": "fraudulent", "status": status, "balance_transactions": balance, "metadata": {}, "livemode": false, "created": now,
                }),
            )]
        }
    }
}

/// Moves a test session to an outcome, once (concurrent "Pay" clicks produce one payment), and
/// returns the signed events; delivers them through [`ingest`] when asked.
pub async fn complete_session(
    state: &App,
    session_id: &str,
    outcome: TestOutcome,
    deliver: bool,
) -> Result<CompleteSessionResponse, Error> {
    let session = load_test_session(state, session_id)
        .await?
        .ok_or_else(|| Error::not_found("checkout_session", session_id))?;
    let (from, to): (&[&str], &str) = match outcome {
        TestOutcome::Succeeded => (&["open", "processing"], "complete"),
        TestOutcome::Declined => (&["open"], "open"),
        TestOutcome::Processing => (&["open"], "processing"),
        TestOutcome::Expired => (&["open"], "expired"),
        TestOutcome::Disputed => (&["complete"], "disputed"),
        TestOutcome::DisputeWon => (&["disputed"], "complete"),
        TestOutcome::DisputeLost => (&["disputed"], "dispute_lost"),
    };
    if !from.contains(&session.status.as_str()) {
        return Err(Error::state(
            "checkout_session_state_invalid",
            &session.status,
            format!(
                "A checkout session that is {} cannot be {}.",
                session.status, to
            ),
        ));
    }
    if to != session.status {
        let (sid, old, new) = (
            session.session_id.clone(),
            session.status.clone(),
            to.to_owned(),
        );
        let moved = state
            .db
            .write(move |tx: &mut Tx| {
                Box::pin(async move {
                    bursar_store::payment_providers::set_test_session_status(tx, &sid, &old, &new)
                        .await
                })
            })
            .await?;
        if !moved {
            return Err(Error::state(
                "checkout_session_state_invalid",
                "changed",
                "The session changed concurrently; read it again.",
            ));
        }
    }
    let provider_id = session.provider_id.clone();
    let now_seconds = state.db.now().unix_micros() / 1_000_000;
    let fingerprint = TestCard::Declined.fingerprint();
    let card = crate::velocity::Card::Fingerprint(&fingerprint);
    let blocked = outcome == TestOutcome::Declined
        && crate::velocity::card_blocked(state, &session.workspace_id, card).await?;
    let objects = stripe_objects(&session, (outcome, blocked), now_seconds);
    let events = sign_events(state, &provider_id, objects, now_seconds).await?;
    let receipts = if deliver {
        deliver_events(state, &provider_id, &events).await?
    } else {
        Vec::new()
    };
    Ok(CompleteSessionResponse {
        session_id: session.session_id,
        status: to.to_owned(),
        events,
        receipts,
    })
}

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
