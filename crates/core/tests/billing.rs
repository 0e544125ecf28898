//! Billing a batch of contracts through the core alone (no HTTP): each active contract is
//! billed once per period, however often the run is repeated, on both backends.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bursar_core::contracts::{self, NewLine};
use bursar_core::{billing, App, Config, Error};
use bursar_domain::commerce::{CatalogStatus, Product, ProductKind};
use bursar_domain::contract::{BillingTerms, ContractDraft, Operation, Proration, Term};
use bursar_domain::customer::Customer;
use bursar_domain::event::Cause;
use bursar_domain::id::{CustomerId, ProductId, WorkspaceId};
use bursar_domain::metadata::Metadata;
use bursar_domain::time::Timestamp;
use bursar_store::documents::{self, PRODUCT};
use bursar_store::workspaces::{self, Workspace};
use bursar_store::{customers, StoreError, Tx};
use bursar_testkit::{both_backends, clock_at, fresh_db};

const CONTRACTS: usize = 70;

fn cause() -> Cause {
    Cause {
        request_id: None,
        actor: Some("test".into()),
    }
}

/// A workspace with a product and `n` customers: (workspace, product, customers).
async fn shop(app: &App, n: usize) -> (WorkspaceId, ProductId, Vec<CustomerId>) {
    let now = app.now();
    let workspace = Workspace {
        id: WorkspaceId::new(),
        name: "core".into(),
        created_at: now,
        mode: bursar_domain::auth::WorkspaceMode::Sandbox,
        live_workspace_id: None,
    };
    let product = Product {
        id: ProductId::new(),
        object: "product".into(),
        name: "Platform".into(),
        kind: ProductKind::Service,
        status: CatalogStatus::Active,
        description: None,
        license: None,
        serialized: false,
        metadata: Metadata::default(),
        created_at: now,
        updated_at: now,
    };
    let buyers: Vec<Customer> = (0..n)
        .map(|_| Customer {
            id: CustomerId::new(),
            email: None,
            name: None,
            metadata: Metadata::default(),
            company_id: None,
            price_book_id: None,
            created_at: now,
            updated_at: now,
        })
        .collect();
    let (ws, product_id) = (workspace.id.clone(), product.id.clone());
    let ids = buyers.iter().map(|c| c.id.clone()).collect();
    app.db
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                workspaces::insert(tx, &workspace).await?;
                let id = product.id.to_string();
                documents::insert(tx, PRODUCT, &workspace.id, &id, &product, &[]).await?;
                for buyer in &buyers {
                    customers::insert(tx, &workspace.id, buyer).await?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .await
        .unwrap();
    (ws, product_id, ids)
}

/// A contract for `buyer` from `start`: one monthly fee of `amount`, activated.
async fn active_contract(
    app: &App,
    ws: &WorkspaceId,
    buyer: &CustomerId,
    product: &ProductId,
    amount: i64,
    start: Timestamp,
) {
    let draft = ContractDraft {
        buyer_id: buyer.to_string(),
        seller_id: None,
        seasoning_days: None,
        referrer_id: None,
        referral_share_bps: None,
        currency: "EUR".into(),
        term: Term {
            start,
            end: None,
            auto_renew: false,
            renewal_months: 12,
            notice_days: 30,
        },
        billing: BillingTerms {
            anchor_day: 1,
            payment_terms_days: 14,
            invoice_delivery: "email".into(),
            proration: Proration::Day,
        },
        trial_ends_at: None,
        trial_converts: true,
    };
    let line = NewLine {
        product_id: product.to_string(),
        unit_amount: Some(amount),
        quantity: None,
        timing: None,
        usage: None,
    };
    app.write(ws.clone(), cause(), move |mut cx| {
        Box::pin(async move {
            let contract = contracts::create(&mut cx, draft, vec![line], Some(start)).await?;
            contracts::operate(
                &mut cx,
                contract.id.as_str(),
                Operation::Activate,
                Some(start),
            )
            .await?;
            Ok::<_, Error>(())
        })
    })
    .await
    .unwrap();
}

both_backends! {
    /// Goal: a run bills every active contract of a batch larger than one transaction's share
    /// (64) exactly once, and a repeat of the run bills none of them again. Method: 70
    /// contracts made through the core's contract operations, two runs at the same instant, the
    /// invoices counted per contract and their totals summed by hand.
    async fn a_billing_run_bills_each_contract_of_a_batch_once(backend: Backend) {
        let clock = clock_at("2026-03-01T00:01:00Z");
        let (db, _guard) = fresh_db(backend, clock.clone()).await;
        let app = App::new(db, Config::default());
        let (ws, product, buyers) = shop(&app, CONTRACTS).await;
        let start = Timestamp::parse_rfc3339("2026-03-01T00:00:00Z").unwrap();
        for (index, buyer) in buyers.iter().enumerate() {
            active_contract(&app, &ws, buyer, &product, 1_000 + index as i64, start).await;
        }

        let first = billing::run_billing(&app, &ws, app.now(), &cause()).await.unwrap();
        assert_eq!(
            (first.contracts, first.invoices_created.len(), first.already_billed, first.failed.len()),
            (CONTRACTS, CONTRACTS, 0, 0),
            "{first:?}"
        );
        let again = billing::run_billing(&app, &ws, app.now(), &cause()).await.unwrap();
        assert_eq!(
            (again.invoices_created.len(), again.already_billed),
            (0, CONTRACTS),
            "{again:?}"
        );

        let ids: Vec<String> = first.invoices_created.iter().map(|id| id.to_string()).collect();
        let totals: Vec<i64> = app
            .db
            .read(move |tx: &mut Tx| {
                Box::pin(async move {
                    let mut totals = Vec::new();
                    for id in &ids {
                        let invoice: bursar_domain::invoice::Invoice = documents::get(
                            tx, documents::INVOICE, &ws, id, false,
                        )
                        .await?
                        .unwrap();
                        totals.push(invoice.total);
                    }
                    Ok::<_, StoreError>(totals)
                })
            })
            .await
            .unwrap();
        let expected: i64 = (0..CONTRACTS as i64).map(|i| 1_000 + i).sum();
        assert_eq!(totals.iter().sum::<i64>(), expected, "each fee billed once, in advance");
    }
}
