//! Importing a statement through the core alone (no HTTP): an import reads only the open
//! expected payments its lines can reach, yet decides every line as a matcher over all of them
//! would, including lines whose reference names an expectation another line completes first.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bursar_core::treasury::{self, ExpectedPaymentInput};
use bursar_core::{App, Config, Error};
use bursar_domain::event::Cause;
use bursar_domain::id::WorkspaceId;
use bursar_domain::money::Currency;
use bursar_domain::treasury::matching::Direction;
use bursar_domain::treasury::objects::{ExpectedPaymentStatus, ImportSummary, RuleCounts};
use bursar_domain::treasury::statement;
use bursar_store::workspaces::{self, Workspace};
use bursar_store::{StoreError, Tx};
use bursar_testkit::{both_backends, clock_at, fresh_db};

fn cause() -> Cause {
    Cause {
        request_id: None,
        actor: Some("test".into()),
    }
}

async fn workspace(app: &App) -> WorkspaceId {
    let workspace = Workspace {
        id: WorkspaceId::new(),
        name: "treasury".into(),
        created_at: app.now(),
        mode: bursar_domain::auth::WorkspaceMode::Sandbox,
        live_workspace_id: None,
    };
    let id = workspace.id.clone();
    app.db
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                workspaces::insert(tx, &workspace).await?;
                Ok::<_, StoreError>(())
            })
        })
        .await
        .unwrap();
    id
}

/// A credit in USD of exactly `amount` cents, due 2026-03-01 to 2026-03-03.
fn expected(reference: Option<&str>, party: &str, amount: i64) -> ExpectedPaymentInput {
    ExpectedPaymentInput {
        currency: Currency::from_code("USD").unwrap(),
        direction: Direction::Credit,
        amount_lower: amount,
        amount_upper: amount,
        date_lower: "2026-03-01".parse().unwrap(),
        date_upper: "2026-03-03".parse().unwrap(),
        counterparty: Some(party.into()),
        reference: reference.map(str::to_owned),
        party_id: None,
        description: None,
    }
}

async fn import(app: &App, ws: &WorkspaceId, csv: &'static str) -> ImportSummary {
    app.write(ws.clone(), cause(), move |mut cx| {
        Box::pin(async move {
            let lines = statement::parse(csv, 100).map_err(Error::from)?;
            treasury::import(&mut cx, "import", lines).await
        })
    })
    .await
    .unwrap()
}

const STATEMENT: &str = "id,date,amount,direction,currency,reference,counterparty
l1,2026-03-02,1.00,credit,USD,R-1,Acme
l2,2026-03-02,1.00,credit,USD,r 1,Acme
l3,2026-03-02,0.50,credit,USD,,Beta
l4,2026-03-02,0.70,credit,USD,R-3,Gamma
l5,2026-03-02,0.30,credit,USD,NOPE,Delta
l6,2026-03-02,0.30,credit,USD,,Nobody
";

both_backends! {
    /// Goal: lines whose reference rule cannot decide fall through to the counterparty's
    /// expectations even when those were not named by any reference. Method: l1 completes E1
    /// by reference, so l2 (quoting E1 again) falls through to Acme's E2; l3 completes Beta's E3
    /// by amount, so l4 (quoting E3, from Gamma) falls through to Gamma's E5; l5 names nothing
    /// open and takes Delta's E6; l6 fits nothing. Then the same statement again: duplicates.
    async fn an_import_decides_as_if_it_read_every_open_expectation(backend: Backend) {
        let clock = clock_at("2026-03-02T12:00:00Z");
        let (db, _guard) = fresh_db(backend, clock).await;
        let app = App::new(db, Config::default());
        let ws = workspace(&app).await;
        let inputs = vec![
            expected(Some("R-1"), "Acme", 100),
            expected(Some("R-2"), "Acme", 100),
            expected(Some("R-3"), "Beta", 50),
            expected(None, "Beta", 70),
            expected(None, "Gamma", 70),
            expected(None, "Delta", 30),
            expected(Some("R-7"), "Epsilon", 30),
        ];
        let made = app
            .write(ws.clone(), cause(), move |mut cx| {
                Box::pin(async move { treasury::create_expected(&mut cx, inputs).await })
            })
            .await
            .unwrap();

        let summary = import(&app, &ws, STATEMENT).await;
        let rules = RuleCounts { reference: 1, amount_date_counterparty: 4, part_of_sum: 0 };
        assert_eq!(
            (summary.lines, summary.matched, summary.in_review, summary.expected_payments_reconciled),
            (6, 5, 1, 5),
            "{summary:?}"
        );
        assert_eq!(summary.matched_by_rule, rules);
        let ids: Vec<String> = made.iter().map(|p| p.id.to_string()).collect();
        let statuses = app
            .write(ws.clone(), cause(), move |cx| {
                Box::pin(async move {
                    let mut statuses = Vec::new();
                    for id in &ids {
                        statuses.push(treasury::get_expected(cx.tx, cx.workspace_id, id).await?.status);
                    }
                    Ok::<_, Error>(statuses)
                })
            })
            .await
            .unwrap();
        use ExpectedPaymentStatus::{Reconciled, Unreconciled};
        assert_eq!(
            statuses,
            [Reconciled, Reconciled, Reconciled, Unreconciled, Reconciled, Reconciled, Unreconciled]
        );

        let again = import(&app, &ws, STATEMENT).await;
        assert_eq!((again.duplicates, again.matched, again.in_review), (6, 0, 0), "{again:?}");
    }
}
