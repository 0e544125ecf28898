//! Inbound provider events reach what they pay for by the type of the reference they carry,
//! through `payment_events::apply`, on both backends.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use bursar_core::payment_events;
use bursar_core::{App, Config, Error};
use bursar_domain::event::Cause;
use bursar_domain::id::{InvoiceId, OrderId, WorkspaceId};
use bursar_domain::time::SystemClock;
use bursar_payments::{PaymentEvent, PaymentEventKind};
use bursar_store::workspaces::{self, Workspace};
use bursar_store::Tx;
use bursar_testkit::{both_backends, fresh_db};

/// A fresh application with one workspace (and the guard of its SQLite directory).
async fn app_with_workspace(
    backend: bursar_testkit::TestBackend,
) -> (App, WorkspaceId, Option<tempfile::TempDir>) {
    let (db, guard) = fresh_db(backend, Arc::new(SystemClock)).await;
    let workspace = Workspace {
        id: WorkspaceId::new(),
        name: "core".into(),
        created_at: db.now(),
        mode: bursar_domain::auth::WorkspaceMode::Sandbox,
        live_workspace_id: None,
    };
    let id = workspace.id.clone();
    db.write(move |tx: &mut Tx| Box::pin(async move { workspaces::insert(tx, &workspace).await }))
        .await
        .unwrap();
    (App::new(db, Config::default()), id, guard)
}

/// What applying a succeeded payment naming `reference` answers: (outcome, detail).
async fn applied(
    app: &App,
    workspace: &WorkspaceId,
    reference: Option<String>,
) -> (String, String) {
    let event = PaymentEvent {
        provider_event_id: format!("evt_{}", OrderId::new()),
        provider_event_type: "payment_intent.succeeded".into(),
        created: 0,
        order_id: reference,
        kind: PaymentEventKind::PaymentSucceeded {
            payment_id: "pi_core_test".into(),
            amount: 1_000,
            currency: "usd".into(),
            fee: None,
            payment_method: None,
            provider_customer: None,
        },
    };
    let cause = Cause {
        request_id: None,
        actor: Some("test".into()),
    };
    let applied = app
        .write(workspace.clone(), cause, move |mut cx| {
            Box::pin(async move {
                let applied = payment_events::apply(&mut cx, "pp_test", "test", &event).await?;
                Ok::<_, Error>((
                    applied.outcome.to_owned(),
                    applied.detail.unwrap_or_default(),
                ))
            })
        })
        .await;
    applied.unwrap()
}

both_backends! {
    /// Goal: an order's id goes to the orders, an invoice's to the invoices' payment links, and
    /// anything else matches nothing — with nothing written for an unknown target. Method: one
    /// event per kind of reference, against an empty workspace, read back as the answer.
    async fn a_payment_reaches_what_its_reference_names(backend: Backend) {
        let (app, workspace, _guard) = app_with_workspace(backend).await;
        let order = applied(&app, &workspace, Some(OrderId::new().to_string())).await;
        assert_eq!(order, ("unmatched".into(), "the named order does not exist in this workspace".into()));
        let invoice = applied(&app, &workspace, Some(InvoiceId::new().to_string())).await;
        assert_eq!(invoice.0, "unmatched");
        assert!(invoice.1.contains("invoice"), "the invoices answered: {invoice:?}");
        let neither = applied(&app, &workspace, Some("in_not_an_id".into())).await;
        assert_eq!(neither.0, "unmatched");
        let none = applied(&app, &workspace, None).await;
        assert_eq!(none, ("unmatched".into(), "no Bursar order named by the event".into()));
    }
}
