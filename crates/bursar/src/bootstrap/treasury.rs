//! The treasury demo: a buyer whose wire arrived and matched its expected payment (its wallet
//! funded), an expected payment still on its way, and a bank statement line nobody expected,
//! waiting in the reconciliation review queue. The buyer also holds a marketplace contract with
//! a seller: its first invoice is issued, and the settlement subscriber pays it from the
//! buyer's wallet and holds the seller's part (less the platform's 5%) while it seasons.

use bursar_core::treasury::{self, ExpectedPaymentInput};
use bursar_domain::customer::NewCustomer;
use bursar_domain::time::Timestamp;
use bursar_domain::treasury::matching::Direction;
use bursar_domain::treasury::statement;

use bursar_core::bank_connections::{self, ConnectionRequest};
use bursar_core::billing;
use bursar_core::contracts::{self, NewLine};
use bursar_domain::commerce::ProductKind;
use bursar_domain::contract::{BillingTerms, ContractDraft, Operation, Proration, Term};
use bursar_domain::id::CustomerId;

use super::commerce::{create_product, usd, Seed};
use super::demo_cause;

const DAY: i64 = 86_400;

/// Seeds the expected payments and the statement, as of `now`.
pub(super) async fn seed_treasury(seed: &Seed, now: Timestamp) -> anyhow::Result<()> {
    let today = treasury::today(now);
    let window = |days: i64| treasury::today(now.plus_seconds(days * DAY));
    let (from, to, soon) = (window(-2), window(5), window(10));
    let currency = usd()?;
    let buyer = NewCustomer::parse(Some("marian.wire@example.com"), Some("Marian Wire"), None)?;
    let marian = seed
        .write("treasury: expected payments", move |mut cx| {
            Box::pin(async move {
                let marian = bursar_core::customers::create(&mut cx, buyer).await?.id;
                let expect = |amount, reference: &str, party, date_upper| ExpectedPaymentInput {
                    currency,
                    direction: Direction::Credit,
                    amount_lower: amount,
                    amount_upper: amount,
                    date_lower: from,
                    date_upper,
                    counterparty: Some("Marian Wire Holdings".into()),
                    reference: Some(reference.into()),
                    party_id: party,
                    description: Some("Wallet top-up by wire".into()),
                };
                let inputs = vec![
                    expect(250_000, "WIRE-1001", Some(marian.clone()), to),
                    expect(80_000, "WIRE-1002", Some(marian.clone()), soon),
                ];
                treasury::create_expected(&mut cx, inputs).await?;
                Ok(marian)
            })
        })
        .await?;
    let text = format!(
        "id,date,amount,direction,currency,reference,counterparty\n\
         demo-1,{today},2500.00,credit,USD,WIRE-1001,Marian Wire Holdings\n\
         demo-2,{today},125.40,credit,USD,REF UNKNOWN,Unknown Sender Ltd\n"
    );
    let lines = statement::parse(&text, 10)?;
    seed.write("treasury: bank statement", move |mut cx| {
        Box::pin(async move {
            treasury::import(&mut cx, "import", lines).await?;
            Ok(())
        })
    })
    .await?;
    seed_bank(seed).await?;
    seed_marketplace(seed, marian, now).await
}

/// The sandbox's test bank, so the pending wire's payment instructions can be shown and a
/// payer simulated (`POST /v1/test_bank/{id}/incoming_payments`).
async fn seed_bank(seed: &Seed) -> anyhow::Result<()> {
    let request = ConnectionRequest {
        kind: "test_bank".into(),
        name: Some("Demo Marketplace".into()),
        ..ConnectionRequest::default()
    };
    let checked = bank_connections::check_new(&seed.app.outbound, request).await?;
    let sealer = seed.app.db.sealer()?.clone();
    seed.write("treasury: test bank", move |mut cx| {
        Box::pin(async move { bank_connections::create(&mut cx, &sealer, checked).await })
    })
    .await?;
    Ok(())
}

/// A marketplace contract of Marian's with a seller, Sol Studio (its part seasons 7 days), and
/// its first month's invoice of 1,200.00, issued: the relay's settlement pays it from
/// Marian's wallet (funded by the wire above) and holds Sol's part.
async fn seed_marketplace(seed: &Seed, buyer: CustomerId, now: Timestamp) -> anyhow::Result<()> {
    let product = create_product(
        seed,
        "Studio production day",
        ProductKind::Service,
        Some("Sold by Sol Studio through the marketplace"),
        None,
    )
    .await?;
    let sol = NewCustomer::parse(Some("sol@studio.example"), Some("Sol Studio"), None)?;
    let currency = usd()?.to_string();
    let contract = seed
        .write("treasury: marketplace contract", move |mut cx| {
            Box::pin(async move {
                let seller = bursar_core::customers::create(&mut cx, sol).await?.id;
                let draft = ContractDraft {
                    buyer_id: buyer.to_string(),
                    seller_id: Some(seller.to_string()),
                    seasoning_days: Some(7),
                    referrer_id: None,
                    referral_share_bps: None,
                    currency,
                    term: Term {
                        start: now,
                        end: None,
                        auto_renew: false,
                        renewal_months: 12,
                        notice_days: 30,
                    },
                    billing: BillingTerms {
                        anchor_day: 1,
                        payment_terms_days: 14,
                        invoice_delivery: "email".into(),
                        proration: Proration::None,
                    },
                    trial_ends_at: None,
                    trial_converts: true,
                };
                let line = NewLine {
                    product_id: product.to_string(),
                    unit_amount: Some(120_000),
                    quantity: Some(1),
                    timing: None,
                    usage: None,
                };
                let id = contracts::create(&mut cx, draft, vec![line], None)
                    .await?
                    .id;
                contracts::operate(&mut cx, &id, Operation::Activate, None).await?;
                Ok(id)
            })
        })
        .await?;
    // Billed as of now: after the contract took effect.
    let as_of = seed.app.now();
    let run = billing::bill_contracts(
        &seed.app,
        &seed.workspace,
        vec![contract],
        as_of,
        &demo_cause(),
    )
    .await;
    for invoice in run.invoices_created {
        let id = invoice.to_string();
        seed.write("treasury: marketplace invoice", move |mut cx| {
            Box::pin(async move { bursar_core::invoices::issue(&mut cx, &id).await })
        })
        .await?;
    }
    Ok(())
}
