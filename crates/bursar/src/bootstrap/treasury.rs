//! The treasury demo: a buyer whose wire arrived and matched its expected payment (its wallet
//! funded), an expected payment still on its way, and a bank statement line nobody expected,
//! waiting in the reconciliation review queue.

use bursar_core::treasury::{self, ExpectedPaymentInput};
use bursar_domain::customer::NewCustomer;
use bursar_domain::time::Timestamp;
use bursar_domain::treasury::matching::Direction;
use bursar_domain::treasury::statement;

use super::commerce::{usd, Seed};

const DAY: i64 = 86_400;

/// Seeds the expected payments and the statement, as of `now`.
pub(super) async fn seed_treasury(seed: &Seed, now: Timestamp) -> anyhow::Result<()> {
    let today = treasury::today(now);
    let window = |days: i64| treasury::today(now.plus_seconds(days * DAY));
    let (from, to, soon) = (window(-2), window(5), window(10));
    let currency = usd()?;
    let buyer = NewCustomer::parse(Some("marian.wire@example.com"), Some("Marian Wire"), None)?;
    seed.write("treasury: expected payments", move |mut cx| {
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
                expect(80_000, "WIRE-1002", Some(marian), soon),
            ];
            treasury::create_expected(&mut cx, inputs).await?;
            Ok(())
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
    .await
}
