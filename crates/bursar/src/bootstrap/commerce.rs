//! The commerce demo, seeded through the core's use cases in the order a user's API requests
//! would make it (so every order has its events, ledger postings and provider events, exactly
//! as a user's would): a small catalog with releases, a partner price book, a company with a
//! negotiated agreement, a launch promotion code, and orders in different states. Each step is
//! one write, as its request was; [`super::billing`] seeds meters, contracts and invoices.

use anyhow::Context as _;
use bursar_core::artifacts::{self, NewArtifact};
use bursar_core::catalog::{self, price_terms, NewPrice, NewPriceBook, NewProduct};
use bursar_core::companies::{self, check_addresses, check_contacts, NewCompany};
use bursar_core::discounts::{self, coupon_terms, parse_code, NewCoupon, NewPromotionCode};
use bursar_core::orders::{self, NewOrder};
use bursar_core::refunds::{self, NewRefund};
use bursar_core::{agreements, checkouts, customers, fulfillment, providers, test_provider};
use bursar_core::{App, Context, Error};
use bursar_domain::commerce::*;
use bursar_domain::customer::{CustomerUpdate, FieldChange};
use bursar_domain::fulfillment::{parse_version, LicensePolicy, UpdatePolicy};
use bursar_domain::id::{CustomerId, PriceBookId, ProductId, WorkspaceId};
use bursar_domain::money::Currency;
use bursar_domain::page::PageRequest;
use bursar_domain::payment_provider::TestOutcome;
use bursar_domain::time::Timestamp;
use bursar_store::{workspaces, StoreError, Tx};
use futures::future::BoxFuture;
use futures::StreamExt;

use super::demo_cause;

/// Seeds the commerce demo into the first workspace; returns how many orders it made. `app`
/// is the server's (its public URL for checkout pages, its artifact store).
pub async fn seed_commerce(app: &App) -> anyhow::Result<usize> {
    let now = app.now();
    let workspace = app
        .db
        .read(|tx: &mut Tx| {
            Box::pin(async move {
                let first = workspaces::list(tx).await?.into_iter().next();
                first.ok_or_else(|| StoreError::Corrupt("no workspace to seed".into()))
            })
        })
        .await?;
    let seed = Seed {
        app: app.clone(),
        workspace: workspace.id,
    };
    let buyers = Buyers::read(&seed).await?;
    let catalog = seed_catalog(&seed).await?;
    seed_company(&seed, &catalog, &buyers, now).await?;
    seed_orders(&seed, &catalog, &buyers).await?;
    seed_storefront(&seed).await?;
    super::billing::seed_usage(&seed, &buyers, now).await?;
    super::billing::seed_contracts(&seed, &buyers, now).await?;
    super::billing::seed_invoices(&seed, &buyers).await?;
    super::treasury::seed_treasury(&seed, now).await?;
    super::dunning::seed_dunning(&seed, now).await?;
    super::shipping::seed_shipping(&seed, &buyers, now).await?;
    Ok(10)
}

/// The demo's workspace and the application that writes to it.
pub(super) struct Seed {
    pub app: App,
    pub workspace: WorkspaceId,
}

impl Seed {
    /// Runs `work` as one write of the demo (one API request of a user), named `step` in an
    /// error.
    pub async fn write<T, F>(&self, step: &str, work: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(Context<'c>) -> BoxFuture<'c, Result<T, Error>> + Send + 'static,
    {
        self.app
            .write(self.workspace.clone(), demo_cause(), work)
            .await
            .with_context(|| format!("demo seed: {step}"))
    }
}

/// The demo customers (see [`super::seed_demo`]), by name, and all of them in list order.
pub(super) struct Buyers {
    pub ada: CustomerId,
    pub grace: CustomerId,
    pub katherine: CustomerId,
    pub hedy: CustomerId,
    /// Newest first, as the customer list shows them.
    pub all: Vec<CustomerId>,
}

impl Buyers {
    async fn read(seed: &Seed) -> anyhow::Result<Buyers> {
        let ws = seed.workspace.clone();
        let listed: Vec<(String, CustomerId)> = seed
            .app
            .db
            .read(move |tx: &mut Tx| {
                Box::pin(async move {
                    let page = PageRequest::parse(Some(100), None, None, |v, _| Ok(v.to_owned()))
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    let customers = bursar_store::customers::list(tx, &ws, &page).await?;
                    Ok::<_, StoreError>(
                        customers
                            .data
                            .into_iter()
                            .map(|c| {
                                let name = c.name.map(|n| n.as_str().to_owned());
                                (name.unwrap_or_default(), c.id)
                            })
                            .collect(),
                    )
                })
            })
            .await?;
        let named = |name: &str| {
            listed
                .iter()
                .find(|(n, _)| n.starts_with(name))
                .map(|(_, id)| id.clone())
                .context("demo customer missing")
        };
        Ok(Buyers {
            ada: named("Ada")?,
            grace: named("Grace")?,
            katherine: named("Katherine")?,
            hedy: named("Hedy")?,
            all: listed.iter().map(|(_, id)| id.clone()).collect(),
        })
    }
}

/// US dollars, the demo's currency.
pub(super) fn usd() -> anyhow::Result<Currency> {
    Ok(Currency::parse("USD", "currency")?)
}

/// The products and the price book the rest of the demo refers to.
struct Catalog {
    pro: ProductId,
    workshop: ProductId,
    token: ProductId,
    partners: PriceBookId,
}

/// Creates a product: a service or a physical good unless it carries a license.
pub(super) async fn create_product(
    seed: &Seed,
    name: &str,
    kind: ProductKind,
    description: Option<&str>,
    license: Option<LicensePolicy>,
) -> anyhow::Result<ProductId> {
    let new = NewProduct {
        name: name.to_owned(),
        kind,
        description: description.map(str::to_owned),
        serialized: false,
        license,
        metadata: Default::default(),
    };
    create_product_as(seed, new).await
}

/// Creates the product `new`.
pub(super) async fn create_product_as(seed: &Seed, new: NewProduct) -> anyhow::Result<ProductId> {
    let product = seed
        .write("product", move |mut cx| {
            Box::pin(async move { catalog::create_product(&mut cx, new).await })
        })
        .await?;
    Ok(product.id)
}

/// Creates an exclusive-tax price of `product`: one-time, or recurring every `interval`; in
/// `book` when given.
pub(super) async fn create_price(
    seed: &Seed,
    product: &ProductId,
    (currency, unit_amount): (&str, i64),
    interval: Option<Interval>,
    book: Option<&PriceBookId>,
) -> anyhow::Result<()> {
    let price_type = match interval {
        Some(_) => PriceType::Recurring,
        None => PriceType::OneTime,
    };
    let new = NewPrice {
        product_id: product.clone(),
        currency: Currency::parse(currency, "currency")?,
        unit_amount,
        price_type,
        recurring: price_terms(unit_amount, price_type, interval.map(|i| (i, None)))?,
        tax_behavior: TaxBehavior::Exclusive,
        price_book_id: book.cloned(),
        nickname: None,
    };
    seed.write("price", move |mut cx| {
        Box::pin(async move { catalog::create_price(&mut cx, new).await })
    })
    .await?;
    Ok(())
}

/// The licensed product with its releases, three more products, their prices, and a partner
/// price book with its price of the licensed product.
async fn seed_catalog(seed: &Seed) -> anyhow::Result<Catalog> {
    let license = LicensePolicy {
        prefix: "BPRO".into(),
        max_activations: Some(3),
        valid_days: None,
        updates: UpdatePolicy::SameMajor,
    };
    let pro = create_product(
        seed,
        "Bursar Pro licence",
        ProductKind::Digital,
        Some("One seat, perpetual, with updates within its major version"),
        Some(license),
    )
    .await?;
    seed_releases(seed, &pro).await?;
    let workshop = create_product(
        seed,
        "Onboarding workshop",
        ProductKind::Service,
        None,
        None,
    )
    .await?;
    let token = create_product(
        seed,
        "Hardware security token",
        ProductKind::Physical,
        None,
        None,
    )
    .await?;
    let team = create_product(seed, "Team plan", ProductKind::Service, None, None).await?;
    for (product, price) in [
        (&pro, ("USD", 4900)),
        (&pro, ("EUR", 4500)),
        (&workshop, ("USD", 150_000)),
        (&token, ("USD", 2500)),
    ] {
        create_price(seed, product, price, None, None).await?;
    }
    create_price(seed, &team, ("USD", 9900), Some(Interval::Month), None).await?;
    let book = NewPriceBook {
        name: "Partners".into(),
        description: Some("Resellers and integrators".into()),
    };
    let partners = seed
        .write("price book", move |mut cx| {
            Box::pin(async move { catalog::create_price_book(&mut cx, book).await })
        })
        .await?
        .id;
    create_price(seed, &pro, ("USD", 3900), None, Some(&partners)).await?;
    Ok(Catalog {
        pro,
        workshop,
        token,
        partners,
    })
}

/// Two releases of the licensed product: 1.4.2 and 2.0.0 for Linux, 2.0.0 for macOS. Each
/// file is received into the artifact store, then registered.
async fn seed_releases(seed: &Seed, pro: &ProductId) -> anyhow::Result<()> {
    for (version, platform) in [
        ("1.4.2", "linux-x86_64"),
        ("2.0.0", "linux-x86_64"),
        ("2.0.0", "macos-arm64"),
    ] {
        artifacts::check_product(&seed.app, &seed.workspace, pro).await?;
        let contents =
            format!("Bursar Pro {version} for {platform} (demo release)\n").repeat(2_000);
        let body: bursar_core::blobs::ByteStream =
            futures::stream::once(async move { Ok(contents.into_bytes().into()) }).boxed();
        let blob = artifacts::receive(&seed.app, body).await?;
        let new = NewArtifact {
            product_id: pro.clone(),
            version: parse_version(version, "version")?.to_string(),
            platform: platform.to_owned(),
            file_name: format!("bursar-pro-{version}-{platform}.tar.gz"),
            content_type: "application/gzip".into(),
            blob,
        };
        seed.write("artifact", move |mut cx| {
            Box::pin(async move { artifacts::create(&mut cx, new).await })
        })
        .await?;
    }
    Ok(())
}

/// A company priced from the partner book, with an active agreement; Ada buys for it. And a
/// launch coupon with its promotion code.
async fn seed_company(
    seed: &Seed,
    catalog: &Catalog,
    buyers: &Buyers,
    now: Timestamp,
) -> anyhow::Result<()> {
    let contacts = vec![Contact {
        name: "Ada Lovelace".into(),
        email: Some("ada@analytical-engines.example".into()),
        phone: None,
        role: Some("purchasing".into()),
    }];
    check_contacts(&contacts)?;
    let addresses = vec![Address {
        kind: "billing".into(),
        line1: "12 St James's Square".into(),
        line2: None,
        city: "London".into(),
        state: None,
        postal_code: Some("SW1Y 4JH".into()),
        country: "GB".into(),
    }];
    check_addresses(&addresses)?;
    let new = NewCompany {
        name: "Analytical Engines Ltd".into(),
        price_book_id: Some(catalog.partners.clone()),
        contacts,
        addresses,
        metadata: Default::default(),
    };
    let company = seed
        .write("company", move |mut cx| {
            Box::pin(async move { companies::create(&mut cx, new).await })
        })
        .await?
        .id;
    let from = Timestamp::from_unix_micros(now.unix_micros() - 30 * 86_400_000_000);
    let to = now.plus_seconds(335 * 86_400);
    agreements::check_window(from, Some(to))?;
    let line = |product: &ProductId, unit_amount, min_quantity| AgreementLine {
        product_id: product.clone(),
        unit_amount,
        min_quantity,
    };
    let new = agreements::NewAgreement {
        company_id: company.clone(),
        name: "2026 framework agreement".into(),
        currency: usd()?,
        effective_from: from,
        effective_to: Some(to),
        lines: vec![
            line(&catalog.pro, 3500, 10),
            line(&catalog.workshop, 120_000, 1),
        ],
    };
    let agreement = seed
        .write("agreement", move |mut cx| {
            Box::pin(async move { agreements::create(&mut cx, new).await })
        })
        .await?
        .id;
    seed.write("agreement activation", move |mut cx| {
        Box::pin(async move {
            agreements::set_status(&mut cx, agreement.as_str(), AgreementStatus::Active).await
        })
    })
    .await?;
    let (ada, changes) = (
        buyers.ada.clone(),
        CustomerUpdate {
            company_id: FieldChange::Set(company),
            ..CustomerUpdate::default()
        },
    );
    seed.write("customer's company", move |mut cx| {
        Box::pin(async move { customers::update(&mut cx, &ada, changes).await })
    })
    .await?;
    seed_promotion(seed).await
}

/// The launch coupon (20 % off, 500 redemptions) and its code LAUNCH20 (100 of them).
async fn seed_promotion(seed: &Seed) -> anyhow::Result<()> {
    let percent_off = Some(20);
    let (duration, duration_in_months) = coupon_terms(percent_off, None, None, None, None)?;
    let new = NewCoupon {
        name: Some("Launch".into()),
        percent_off,
        amount_off: None,
        currency: None,
        duration,
        duration_in_months,
        applies_to: None,
        redeem_by: None,
        max_redemptions: Some(500),
    };
    let coupon = seed
        .write("coupon", move |mut cx| {
            Box::pin(async move { discounts::create_coupon(&mut cx, new).await })
        })
        .await?
        .id;
    let new = NewPromotionCode {
        coupon_id: coupon,
        code: parse_code("LAUNCH20")?,
        max_redemptions: Some(100),
        expires_at: None,
    };
    seed.write("promotion code", move |mut cx| {
        Box::pin(async move { discounts::create_promotion_code(&mut cx, new).await })
    })
    .await?;
    Ok(())
}

/// Orders in different states: Grace's paid and fulfilled (a license and download links; the
/// receipt in the mailbox); Ada's, for her company, ten seats at the agreement's price, paid,
/// one seat refunded; Katherine's two tokens with the launch code, waiting at the checkout
/// page; Hedy's declined card, and a draft.
async fn seed_orders(seed: &Seed, catalog: &Catalog, buyers: &Buyers) -> anyhow::Result<()> {
    let (pro, token) = (&catalog.pro, &catalog.token);
    let paid = checkout(
        seed,
        &create_order(seed, &buyers.grace, pro, 1, None).await?,
    )
    .await?;
    complete(seed, &paid, TestOutcome::Succeeded).await?;
    let sealer = seed.app.db.sealer()?.clone();
    let downloads = seed.app.config.downloads.clone();
    let order_id = paid.id.to_string();
    seed.write("fulfillment", move |mut cx| {
        Box::pin(async move {
            fulfillment::fulfill_order(&mut cx, &sealer, &downloads, &order_id).await
        })
    })
    .await?;

    let paid = checkout(seed, &create_order(seed, &buyers.ada, pro, 10, None).await?).await?;
    complete(seed, &paid, TestOutcome::Succeeded).await?;
    refund(seed, &paid, 3500, "requested_by_customer").await?;

    let launch = Some("LAUNCH20");
    checkout(
        seed,
        &create_order(seed, &buyers.katherine, token, 2, launch).await?,
    )
    .await?;

    let declined = checkout(seed, &create_order(seed, &buyers.hedy, pro, 1, None).await?).await?;
    complete(seed, &declined, TestOutcome::Declined).await?;
    create_order(seed, &buyers.hedy, &catalog.workshop, 1, None).await?;
    Ok(())
}

/// A draft order of `quantity` of one product in US dollars, with a promotion code if given.
pub(super) async fn create_order(
    seed: &Seed,
    customer: &CustomerId,
    product: &ProductId,
    quantity: i64,
    promotion_code: Option<&str>,
) -> anyhow::Result<Order> {
    let new = NewOrder {
        customer_id: customer.clone(),
        currency: usd()?,
        lines: vec![(product.clone(), quantity)],
        promotion_code: promotion_code.map(str::to_owned),
        metadata: Default::default(),
    };
    seed.write("order", move |mut cx| {
        Box::pin(async move { orders::create(&mut cx, new).await })
    })
    .await
}

/// Opens the order's checkout with the workspace's default provider (the test provider),
/// returning to the server's pages, and records it on the order.
pub(super) async fn checkout(seed: &Seed, order: &Order) -> anyhow::Result<Order> {
    let base = (seed.app.config.public_url.clone()).unwrap_or_else(|| "http://localhost".into());
    let id = order.id.to_string();
    let urls = providers::return_urls(&base, &format!("order={id}"), None, None)?;
    let started =
        checkouts::start_checkout(&seed.app, &seed.workspace, &id, None, &base, urls, false)
            .await?;
    seed.write("checkout", move |mut cx| {
        Box::pin(async move { checkouts::record_checkout(&mut cx, &id, started).await })
    })
    .await
}

/// Completes the order's test-provider checkout session with `outcome`, its events delivered
/// through the provider webhook path.
pub(super) async fn complete(
    seed: &Seed,
    order: &Order,
    outcome: TestOutcome,
) -> anyhow::Result<()> {
    let session = &order.checkout.as_ref().context("demo seed: no checkout")?;
    test_provider::complete_session(&seed.app, &session.session_id, outcome, true).await?;
    Ok(())
}

/// Refunds `amount` of a paid order: reserved on the order, then asked of the provider and
/// settled.
async fn refund(seed: &Seed, order: &Order, amount: i64, reason: &str) -> anyhow::Result<()> {
    let new = NewRefund {
        order_id: order.id.to_string(),
        amount: Some(amount),
        reason: Some(reason.to_owned()),
    };
    let reserved = seed
        .write("refund", move |mut cx| {
            Box::pin(async move { refunds::reserve(&mut cx, new).await })
        })
        .await?;
    let cause = demo_cause();
    orders::finish_refund(&seed.app, &seed.workspace, &cause, reserved.id.as_str()).await?;
    Ok(())
}

/// The demo shop, open at `/shop/demo`: the catalog's US dollar prices, with its pages.
async fn seed_storefront(seed: &Seed) -> anyhow::Result<()> {
    let pages = bursar_domain::storefront::ShopPages {
        terms: "Prices are in US dollars. Digital products are delivered at once by email \
                and on the order's page; hardware ships within two working days."
            .into(),
        privacy: "We keep your email address and order to deliver what you bought and to \
                  send you its receipt. Nothing else, and never to third parties."
            .into(),
        refunds: "Changed your mind? Ask within 30 days for a full refund.".into(),
        license: String::new(),
        faq: "Where is my license key?\n\nOn the order's page right after payment, and in \
              the receipt email."
            .into(),
    };
    let update = bursar_core::storefront::StorefrontUpdate {
        handle: Some("demo".into()),
        published: Some(true),
        name: Some("Bursar demo shop".into()),
        currency: Some(usd()?),
        brand_color: Some("#1f4e79".into()),
        support_email: Some(Some("support@example.com".into())),
        pages: Some(pages),
        payment_provider: None,
        plans: None,
        challenge: None,
    };
    seed.write("storefront", move |mut cx| {
        Box::pin(async move { bursar_core::storefront::update(&mut cx, update).await })
    })
    .await?;
    Ok(())
}
