//! The billing demo, seeded as [`super::commerce`] seeds orders (one write per step, through
//! the core's use cases): two meters with a week of usage per customer, contracts in four
//! states, and the month's invoices, paid, partly paid, due and credited.

use std::collections::BTreeMap;

use bursar_core::contracts::{self, NewLine};
use bursar_core::credit_notes::{self, NewCreditNote};
use bursar_core::invoice_drafts::{self, NewInvoice, NewInvoiceLine};
use bursar_core::invoice_settings::{self, MarketplaceUpdate, SettingsUpdate};
use bursar_core::invoices::{self, check_terms, ReceivedPayment};
use bursar_core::metering;
use bursar_core::tax_rates::{self, NewTaxRate};
use bursar_domain::commerce::{Interval, ProductKind};
use bursar_domain::contract::{BillingTerms, ContractDraft, Operation, Proration, Term};
use bursar_domain::id::{CustomerId, ProductId, TaxRateId};
use bursar_domain::invoice::{parse_percentage, PaymentMethodKind};
use bursar_domain::metering::{Aggregation, MeterCreate};
use bursar_domain::time::Timestamp;
use serde_json::{json, Value};

use super::commerce::{create_price, create_product, usd, Buyers, Seed};

/// Two meters, API calls (counted, by endpoint) and GPU hours (summed, by GPU), and the last
/// week of events for every demo customer (subject = the customer's id), hour by hour: one
/// batch per customer.
pub(super) async fn seed_usage(seed: &Seed, buyers: &Buyers, now: Timestamp) -> anyhow::Result<()> {
    let group_by = |key: &str, path: &str| Some(BTreeMap::from([(key.into(), path.into())]));
    create_meter(
        seed,
        MeterCreate {
            slug: "api_calls".into(),
            name: Some("API calls".into()),
            aggregation: Aggregation::Count,
            event_type: "api_call".into(),
            description: None,
            metadata: None,
            event_from: None,
            value_property: None,
            group_by: group_by("endpoint", "$.endpoint"),
        },
    )
    .await?;
    create_meter(
        seed,
        MeterCreate {
            slug: "gpu_hours".into(),
            name: Some("GPU hours".into()),
            aggregation: Aggregation::Sum,
            event_type: "gpu_usage".into(),
            description: None,
            metadata: None,
            event_from: None,
            value_property: Some("$.hours".into()),
            group_by: group_by("gpu", "$.gpu"),
        },
    )
    .await?;
    let hour_now = now.unix_micros() / 3_600_000_000 * 3_600;
    for (index, customer) in buyers.all.iter().enumerate() {
        let events = week_of_events(index, customer, hour_now);
        let ingest = metering::prepare_ingest(&seed.app, &seed.workspace, events, true).await?;
        seed.write("usage events", move |mut cx| {
            Box::pin(async move { metering::ingest(&mut cx, ingest).await })
        })
        .await?;
    }
    Ok(())
}

async fn create_meter(seed: &Seed, create: MeterCreate) -> anyhow::Result<()> {
    let meter = metering::new_meter(create, seed.app.now())?;
    seed.write("meter", move |mut cx| {
        Box::pin(async move { metering::create_meter(&mut cx, meter).await })
    })
    .await?;
    Ok(())
}

/// The `index`th customer's usage over the week before `hour_now` (Unix seconds of the hour),
/// as CloudEvents: API calls every hour (more for later customers), a GPU job every six hours.
fn week_of_events(index: usize, customer: &CustomerId, hour_now: i64) -> Vec<Value> {
    let at = |seconds: i64| Timestamp::from_unix_micros(seconds * 1_000_000).to_rfc3339();
    let weight = i64::try_from(index).unwrap_or(0) + 1;
    let mut events = Vec::new();
    for hour in 0..7 * 24_i64 {
        let start = hour_now - (7 * 24 - hour) * 3_600;
        for call_number in 0..(hour % 5 + weight) {
            let endpoint = ["/v1/search", "/v1/chat"][usize::from(call_number % 3 == 0)];
            events.push(
                json!({"specversion": "1.0", "id": format!("demo-{customer}-{hour}-{call_number}"),
                "source": "demo", "type": "api_call", "subject": customer,
                "time": at(start + call_number * 60), "data": {"endpoint": endpoint}}),
            );
        }
        if hour % 6 == index as i64 % 6 {
            let gpu = if index.is_multiple_of(2) {
                "a100"
            } else {
                "h100"
            };
            events.push(
                json!({"specversion": "1.0", "id": format!("demo-{customer}-{hour}-gpu"),
                "source": "demo", "type": "gpu_usage", "subject": customer,
                "time": at(start + 1_800), "data": {"gpu": gpu, "hours": 0.25 * weight as f64}}),
            );
        }
    }
    events
}

/// Contracts for the hosted platform: Grace's, active, renewing at the end of its term, with a
/// price change scheduled for next month; Katherine's, suspended; Hedy's, a draft; Ada's
/// trial, terminated.
/// The platform at its monthly price and an enterprise plan beside it: the demo shop's plans,
/// which a subscriber may switch between in the portal.
async fn offer_plans(seed: &Seed, platform: &ProductId) -> anyhow::Result<()> {
    let enterprise = create_product(
        seed,
        "Bursar Cloud enterprise",
        ProductKind::Service,
        Some("Hosted Bursar with single sign-on and a support line, per seat and month"),
        None,
    )
    .await?;
    create_price(seed, platform, ("USD", 2_750), Some(Interval::Month), None).await?;
    create_price(
        seed,
        &enterprise,
        ("USD", 4_900),
        Some(Interval::Month),
        None,
    )
    .await?;
    let update = bursar_core::storefront::StorefrontUpdate {
        plans: Some(vec![platform.to_string(), enterprise.to_string()]),
        ..Default::default()
    };
    seed.write("storefront plans", move |mut cx| {
        Box::pin(async move { bursar_core::storefront::update(&mut cx, update).await })
    })
    .await?;
    Ok(())
}

pub(super) async fn seed_contracts(
    seed: &Seed,
    buyers: &Buyers,
    now: Timestamp,
) -> anyhow::Result<()> {
    let platform = create_product(
        seed,
        "Bursar Cloud platform",
        ProductKind::Service,
        Some("Hosted Bursar, per seat and month"),
        None,
    )
    .await?;
    offer_plans(seed, &platform).await?;
    let day = |days: i64| now.plus_seconds(days * 86_400);
    let term = Term {
        start: day(-60),
        end: Some(day(30)),
        auto_renew: true,
        renewal_months: 12,
        notice_days: 30,
    };
    let contract = |buyer: &CustomerId, steps: Vec<Operation>| {
        let (buyer, term, product) = (buyer.to_string(), term.clone(), platform.to_string());
        async move {
            let id = create_contract(seed, buyer, term, product).await?;
            for step in steps {
                operate(seed, &id, step, None).await?;
            }
            Ok::<String, anyhow::Error>(id)
        }
    };
    let active = contract(&buyers.grace, vec![Operation::Activate]).await?;
    let change = Operation::ChangePrice {
        line_id: "line_1".into(),
        unit_amount: 2_750,
    };
    operate(seed, &active, change, Some(day(30))).await?;
    let suspended = vec![Operation::Activate, Operation::Suspend];
    contract(&buyers.katherine, suspended).await?;
    contract(&buyers.hedy, vec![]).await?;
    let terminated = vec![
        Operation::Activate,
        Operation::Terminate {
            at: None,
            reason: None,
        },
    ];
    contract(&buyers.ada, terminated).await?;
    Ok(())
}

/// A draft contract of ten seats at 25.00 a month, effective from the term's start, with the
/// default billing terms (monthly from the 1st, 30 days to pay, invoices by email).
async fn create_contract(
    seed: &Seed,
    buyer_id: String,
    term: Term,
    product_id: String,
) -> anyhow::Result<String> {
    let effective_at = Some(term.start);
    let draft = ContractDraft {
        buyer_id,
        seller_id: None,
        seasoning_days: None,
        referrer_id: None,
        referral_share_bps: None,
        currency: usd()?.to_string(),
        term,
        billing: BillingTerms {
            anchor_day: 1,
            payment_terms_days: 30,
            invoice_delivery: "email".into(),
            proration: Proration::Day,
        },
        trial_ends_at: None,
        trial_converts: true,
    };
    let lines = vec![NewLine {
        product_id,
        unit_amount: Some(2_500),
        quantity: Some(10),
        timing: None,
        usage: None,
    }];
    let contract = seed
        .write("contract", move |mut cx| {
            Box::pin(async move { contracts::create(&mut cx, draft, lines, effective_at).await })
        })
        .await?;
    Ok(contract.id)
}

/// Appends `operation` to contract `id`'s log, effective now or at `effective_at`.
async fn operate(
    seed: &Seed,
    id: &str,
    operation: Operation,
    effective_at: Option<Timestamp>,
) -> anyhow::Result<()> {
    let id = id.to_owned();
    seed.write("contract operation", move |mut cx| {
        Box::pin(async move { contracts::operate(&mut cx, &id, operation, effective_at).await })
    })
    .await?;
    Ok(())
}

/// The month's invoices, with 20 % VAT: Grace's paid, Ada's partly paid, Katherine's overdue
/// (due on issue), Hedy's credited in part; after the workspace's invoice settings.
pub(super) async fn seed_invoices(seed: &Seed, buyers: &Buyers) -> anyhow::Result<()> {
    let payment_terms_days = Some(14);
    check_terms(payment_terms_days)?;
    let settings = SettingsUpdate {
        issuer_name: Some("Bursar Demo Ltd".into()),
        issuer_address: Some(vec!["1 Ledger Lane".into(), "London EC1A 1AA".into()]),
        issuer_tax_id: Some("GB000000000".into()),
        payment_terms_days,
        payment_instructions: Some(
            "Bank transfer to IBAN GB00 DEMO 0000 0000 0000 00, reference: the invoice number."
                .into(),
        ),
        marketplace: MarketplaceUpdate {
            platform_fee_bps: Some(500),
            ..MarketplaceUpdate::default()
        },
        ..SettingsUpdate::default()
    };
    seed.write("invoice settings", move |mut cx| {
        Box::pin(async move { invoice_settings::update(&mut cx, settings).await })
    })
    .await?;
    let vat = NewTaxRate {
        display_name: "VAT".into(),
        jurisdiction: tax_rates::parse_jurisdiction("GB")?,
        percentage_bp: parse_percentage("20", "percentage")?,
        inclusive: false,
    };
    let vat = seed
        .write("tax rate", move |mut cx| {
            Box::pin(async move { tax_rates::create(&mut cx, vat).await })
        })
        .await?
        .id;
    let vat = &vat;
    issue_invoice(seed, &buyers.grace, ("Platform seats", 3, 9_900, vat), 14).await?;
    pay(seed, &buyers.grace, 35_640).await?;
    issue_invoice(
        seed,
        &buyers.ada,
        ("Onboarding workshop", 1, 150_000, vat),
        14,
    )
    .await?;
    pay(seed, &buyers.ada, 50_000).await?;
    issue_invoice(seed, &buyers.katherine, ("Support hours", 5, 5_000, vat), 0).await?;
    let hedy = &buyers.hedy;
    let credited = issue_invoice(seed, hedy, ("Data migration", 1, 40_000, vat), 14).await?;
    let credit = NewCreditNote {
        invoice_id: credited,
        amount: Some(12_000),
        reason: Some("scope reduced".into()),
        refund_method: None,
    };
    seed.write("credit note", move |mut cx| {
        Box::pin(async move { credit_notes::credit_invoice(&mut cx, credit).await })
    })
    .await?;
    Ok(())
}

/// Drafts an invoice of one taxed line (description, quantity, unit amount, tax rate) due
/// `terms` days after issue, then issues it; returns its id.
pub(super) async fn issue_invoice(
    seed: &Seed,
    customer: &CustomerId,
    (description, quantity, unit_amount, tax_rate): (&str, i64, i64, &TaxRateId),
    terms: u32,
) -> anyhow::Result<String> {
    check_terms(Some(terms))?;
    let new = NewInvoice {
        customer_id: customer.clone(),
        currency: usd()?,
        lines: vec![NewInvoiceLine {
            description: description.to_owned(),
            quantity: Some(quantity),
            unit_amount,
            discount_amount: None,
            tax_rate_id: Some(tax_rate.to_string()),
        }],
        payment_terms_days: Some(terms),
        memo: None,
    };
    let id = seed
        .write("invoice", move |mut cx| {
            Box::pin(async move { invoice_drafts::create(&mut cx, new).await })
        })
        .await?
        .id
        .to_string();
    let issuing = id.clone();
    seed.write("invoice issue", move |mut cx| {
        Box::pin(async move { invoices::issue(&mut cx, &issuing).await })
    })
    .await?;
    Ok(id)
}

/// A bank transfer of `amount` received from `customer`, allocated to its open invoices.
pub(super) async fn pay(seed: &Seed, customer: &CustomerId, amount: i64) -> anyhow::Result<()> {
    let received = ReceivedPayment {
        customer_id: customer.clone(),
        currency: usd()?,
        amount,
        method: PaymentMethodKind::BankTransfer,
        reference: None,
        allocations: None,
    };
    seed.write("payment", move |mut cx| {
        Box::pin(async move { invoices::record_payment(&mut cx, received).await })
    })
    .await?;
    Ok(())
}
