//! First start: the default workspace and its admin key; and `--demo` data.

use bursar_domain::auth::{Scope, WorkspaceMode};
use bursar_domain::customer::Customer;
use bursar_domain::customer::NewCustomer;
use bursar_domain::id::{CustomerId, WorkspaceId};
use bursar_store::api_keys::{self, ApiKey, Secret};
use bursar_store::workspaces::{self, Workspace};
use bursar_store::{customers, Db, StoreError, Tx};

/// What the first start created, to tell the operator once.
#[derive(Debug)]
pub struct FirstStart {
    pub workspace: Workspace,
    pub key: ApiKey,
    pub secret: Secret,
}

/// Creates the default workspace (in `mode`) and an admin key when the database has none.
/// Returns the key (with its secret, shown only now) when it created one.
pub async fn ensure_initialized(
    db: &Db,
    mode: WorkspaceMode,
) -> Result<Option<FirstStart>, StoreError> {
    let now = db.now();
    db.write(move |conn: &mut Tx| {
        Box::pin(async move {
            if api_keys::count(conn).await? > 0 {
                return Ok(None);
            }
            let workspace = match workspaces::list(conn).await?.into_iter().next() {
                Some(existing) => existing,
                None => {
                    let created = Workspace {
                        id: WorkspaceId::new(),
                        name: "Default".into(),
                        created_at: now,
                        mode,
                    };
                    workspaces::insert(conn, &created).await?;
                    created
                }
            };
            let (key, secret) = api_keys::create(
                conn,
                &workspace.id,
                "admin (first start)",
                Scope::Admin,
                now,
                &system_cause("bootstrap"),
            )
            .await?;
            Ok(Some(FirstStart {
                workspace,
                key,
                secret,
            }))
        })
    })
    .await
}

/// Creates a workspace with an admin key: used by `bursar workspaces create`, tests and benches.
pub async fn create_workspace(
    db: &Db,
    name: &str,
    scope: Scope,
) -> Result<(Workspace, ApiKey, Secret), StoreError> {
    create_workspace_in(db, name, scope, WorkspaceMode::Live).await
}

/// Creates a workspace in `mode` with a first key of `scope`.
pub async fn create_workspace_in(
    db: &Db,
    name: &str,
    scope: Scope,
    mode: WorkspaceMode,
) -> Result<(Workspace, ApiKey, Secret), StoreError> {
    let now = db.now();
    let name = name.to_owned();
    db.write(move |conn: &mut Tx| {
        Box::pin(async move {
            let workspace = Workspace {
                id: WorkspaceId::new(),
                name,
                created_at: now,
                mode,
            };
            workspaces::insert(conn, &workspace).await?;
            let (key, secret) = api_keys::create(
                conn,
                &workspace.id,
                "admin",
                scope,
                now,
                &system_cause("bootstrap"),
            )
            .await?;
            Ok((workspace, key, secret))
        })
    })
    .await
}

/// The demo customers: a few real-looking payers, so a new user sees data at once.
const DEMO_CUSTOMERS: [(&str, &str, &str); 4] = [
    (
        "Ada Lovelace",
        "ada@analytical-engines.example",
        "enterprise",
    ),
    ("Grace Hopper", "grace@cobol.example", "growth"),
    (
        "Katherine Johnson",
        "katherine@trajectories.example",
        "starter",
    ),
    ("Hedy Lamarr", "hedy@frequency-hopping.example", "growth"),
];

/// Seeds demo data into the first workspace if it has no customers yet. Returns how many
/// customers it created (0 when the data was already there).
pub async fn seed_demo(db: &Db) -> Result<usize, StoreError> {
    let now = db.now();
    db.write(move |conn: &mut Tx| {
        Box::pin(async move {
            let Some(workspace) = workspaces::list(conn).await?.into_iter().next() else {
                return Ok(0);
            };
            if customers::count(conn, &workspace.id).await? > 0 {
                return Ok(0);
            }
            let mut ids = Vec::new();
            for (name, email, plan) in DEMO_CUSTOMERS {
                let metadata = [("plan".to_owned(), plan.to_owned())].into_iter().collect();
                let new = NewCustomer::parse(Some(email), Some(name), Some(metadata))
                    .map_err(|e| StoreError::Corrupt(format!("BUG: demo customer invalid: {e}")))?;
                let customer = Customer {
                    id: CustomerId::new(),
                    email: new.email,
                    name: new.name,
                    metadata: new.metadata,
                    company_id: None,
                    price_book_id: None,
                    created_at: now,
                    updated_at: now,
                };
                customers::insert(conn, &workspace.id, &customer).await?;
                ids.push(customer.id);
            }
            seed_wallets(conn, &workspace.id, &ids[0], &ids[1], now).await?;
            Ok(DEMO_CUSTOMERS.len())
        })
    })
    .await
}

/// The funds flow of a marketplace, walked once: Ada (buyer) funds her wallet, commits to an
/// order, and releases the money to Grace (seller); one release has seasoned and was partly
/// cashed out, the other is still seasoning for a week.
async fn seed_wallets(
    tx: &mut Tx,
    workspace: &bursar_domain::id::WorkspaceId,
    buyer: &CustomerId,
    seller: &CustomerId,
    now: bursar_domain::time::Timestamp,
) -> Result<(), StoreError> {
    use bursar_domain::ledger::TransferId;
    use bursar_domain::money::Currency;
    use bursar_domain::wallet::Role;
    use bursar_store::wallet::{self, Recipe, RecipeRequest};
    let usd = Currency::parse("USD", "currency").map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let week_micros = 7 * 24 * 3_600 * 1_000_000_i64;
    let steps: [(&str, &CustomerId, i64, Recipe); 5] = [
        ("demo-fund", buyer, 50_000, Recipe::Fund),
        ("demo-commit", buyer, 20_000, Recipe::Commit),
        (
            "demo-release-1",
            buyer,
            12_000,
            Recipe::Release {
                seller: seller.clone(),
                from: Role::Committed,
                not_before: now,
            },
        ),
        (
            "demo-release-2",
            buyer,
            8_000,
            Recipe::Release {
                seller: seller.clone(),
                from: Role::Committed,
                not_before: bursar_domain::time::Timestamp::from_unix_micros(
                    now.unix_micros() + week_micros,
                ),
            },
        ),
        ("demo-cash-out", seller, 5_000, Recipe::CashOut),
    ];
    for (id, party, amount, recipe) in steps {
        if matches!(recipe, Recipe::CashOut) {
            wallet::season(
                tx,
                workspace,
                seller,
                Some("demo-release-1"),
                now,
                &demo_cause(),
            )
            .await?;
        }
        let request = RecipeRequest {
            id: TransferId::from_trusted(id.to_owned()),
            party: party.clone(),
            currency: usd,
            amount,
            recipe,
        };
        wallet::run_recipe(tx, workspace, &request, now, &demo_cause()).await?;
    }
    Ok(())
}

/// Who the demo data's events are from.
fn demo_cause() -> bursar_domain::event::Cause {
    system_cause("demo")
}

/// The cause of what Bursar does by itself (`system:<what>`).
pub fn system_cause(what: &str) -> bursar_domain::event::Cause {
    bursar_domain::event::Cause {
        request_id: None,
        actor: Some(format!("system:{what}")),
    }
}

/// Seeds the commerce demo through the API itself (so every order has its events, ledger
/// postings and provider events, exactly as a user's would): a small catalog, a partner price
/// book, a company with a negotiated agreement, a launch promotion code, and orders in
/// different states. Runs with a temporary admin key, revoked at the end.
/// `app` is the server's (its public URL for checkout pages, its artifact store).
pub async fn seed_commerce(app: &bursar_core::App) -> anyhow::Result<usize> {
    use anyhow::Context as _;
    use serde_json::{json, Value};
    use tower::ServiceExt;

    let db = &app.db;

    let now = db.now();
    let (workspace, key, secret) = db
        .write(move |conn: &mut Tx| {
            Box::pin(async move {
                let Some(workspace) = workspaces::list(conn).await?.into_iter().next() else {
                    return Err(StoreError::Corrupt("no workspace to seed".into()));
                };
                let (key, secret) = api_keys::create(
                    conn,
                    &workspace.id,
                    "demo-seed",
                    Scope::Admin,
                    now,
                    &demo_cause(),
                )
                .await?;
                Ok::<_, StoreError>((workspace, key, secret))
            })
        })
        .await?;
    let core = app.clone();
    let app = bursar_http::router(app.clone(), bursar_http::HttpConfig::default());
    let bearer = format!("Bearer {}", secret.expose());
    let call = |path: String, body: Value| {
        let app = app.clone();
        let bearer = bearer.clone();
        async move {
            let request = axum::http::Request::post(&path)
                .header("authorization", bearer)
                .header("content-type", "application/json")
                .body(axum::body::Body::from(body.to_string()))?;
            let response = app.oneshot(request).await?;
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await?;
            let value: Value = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes)?
            };
            anyhow::ensure!(status.is_success(), "demo seed: {path}: {status}: {value}");
            Ok::<Value, anyhow::Error>(value)
        }
    };
    let id = |v: &Value| {
        v["id"]
            .as_str()
            .map(str::to_owned)
            .context("demo seed: no id")
    };
    let customers: Vec<(String, String)> = {
        let ws = workspace.id.clone();
        db.read(move |tx: &mut Tx| {
            Box::pin(async move {
                let page =
                    bursar_domain::page::PageRequest::parse(Some(100), None, None, |v, _| {
                        Ok(v.to_owned())
                    })
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok::<_, StoreError>(
                    customers::list(tx, &ws, &page)
                        .await?
                        .data
                        .into_iter()
                        .map(|c| {
                            (
                                c.name.map(|n| n.as_str().to_owned()).unwrap_or_default(),
                                c.id.to_string(),
                            )
                        })
                        .collect(),
                )
            })
        })
        .await?
    };
    let customer = |name: &str| {
        customers
            .iter()
            .find(|(n, _)| n.starts_with(name))
            .map(|(_, id)| id.clone())
            .context("demo customer missing")
    };
    let (ada, grace, katherine, hedy) = (
        customer("Ada")?,
        customer("Grace")?,
        customer("Katherine")?,
        customer("Hedy")?,
    );

    // Catalog.
    let pro = id(&call("/v1/products".into(), json!({"name": "Bursar Pro licence", "kind": "digital", "description": "One seat, perpetual, with updates within its major version",
        "license": {"prefix": "BPRO", "max_activations": 3, "updates": "same_major"}})).await?)?;
    // Two releases of it: 1.4.2 and 2.0.0 for Linux, 2.0.0 for macOS.
    for (version, platform) in [
        ("1.4.2", "linux-x86_64"),
        ("2.0.0", "linux-x86_64"),
        ("2.0.0", "macos-arm64"),
    ] {
        let file = format!("bursar-pro-{version}-{platform}.tar.gz");
        let request = axum::http::Request::post(format!(
            "/v1/artifacts?product_id={pro}&version={version}&platform={platform}&file_name={file}&content_type=application/gzip"
        ))
        .header("authorization", &bearer)
        .body(axum::body::Body::from(
            format!("Bursar Pro {version} for {platform} (demo release)\n").repeat(2_000),
        ))?;
        let response = app.clone().oneshot(request).await?;
        anyhow::ensure!(
            response.status().is_success(),
            "demo seed: artifact upload: {}",
            response.status()
        );
    }
    let workshop = id(&call(
        "/v1/products".into(),
        json!({"name": "Onboarding workshop", "kind": "service"}),
    )
    .await?)?;
    let token = id(&call(
        "/v1/products".into(),
        json!({"name": "Hardware security token", "kind": "physical"}),
    )
    .await?)?;
    let team = id(&call(
        "/v1/products".into(),
        json!({"name": "Team plan", "kind": "service"}),
    )
    .await?)?;
    for (product, currency, amount) in [
        (&pro, "USD", 4900),
        (&pro, "EUR", 4500),
        (&workshop, "USD", 150_000),
        (&token, "USD", 2500),
    ] {
        call(
            "/v1/prices".into(),
            json!({"product_id": product, "currency": currency, "unit_amount": amount}),
        )
        .await?;
    }
    call("/v1/prices".into(), json!({"product_id": team, "currency": "USD", "unit_amount": 9900, "type": "recurring", "recurring": {"interval": "month"}})).await?;
    let partners = id(&call(
        "/v1/price_books".into(),
        json!({"name": "Partners", "description": "Resellers and integrators"}),
    )
    .await?)?;
    call("/v1/prices".into(), json!({"product_id": pro, "currency": "USD", "unit_amount": 3900, "price_book_id": partners})).await?;

    // A company with a negotiated agreement; Ada buys for it.
    let company = id(&call("/v1/companies".into(), json!({
        "name": "Analytical Engines Ltd", "price_book_id": partners,
        "contacts": [{"name": "Ada Lovelace", "email": "ada@analytical-engines.example", "role": "purchasing"}],
        "addresses": [{"kind": "billing", "line1": "12 St James's Square", "city": "London", "postal_code": "SW1Y 4JH", "country": "GB"}],
    })).await?)?;
    let from =
        bursar_domain::time::Timestamp::from_unix_micros(now.unix_micros() - 30 * 86_400_000_000)
            .to_rfc3339();
    let to = now.plus_seconds(335 * 86_400).to_rfc3339();
    let agreement = id(&call("/v1/price_agreements".into(), json!({
        "company_id": company, "name": "2026 framework agreement", "currency": "USD", "effective_from": from, "effective_to": to,
        "lines": [{"product_id": pro, "unit_amount": 3500, "min_quantity": 10}, {"product_id": workshop, "unit_amount": 120_000}],
    })).await?)?;
    call(
        format!("/v1/price_agreements/{agreement}/activate"),
        json!({}),
    )
    .await?;
    call(
        format!("/v1/customers/{ada}"),
        json!({"company_id": company}),
    )
    .await?;
    let coupon = id(&call(
        "/v1/coupons".into(),
        json!({"name": "Launch", "percent_off": 20, "max_redemptions": 500}),
    )
    .await?)?;
    call(
        "/v1/promotion_codes".into(),
        json!({"coupon_id": coupon, "code": "LAUNCH20", "max_redemptions": 100}),
    )
    .await?;

    // Orders in different states.
    let order = |customer: &str, product: &str, quantity: i64, promo: Option<&str>| {
        let mut body = json!({"customer_id": customer, "currency": "USD", "lines": [{"product_id": product, "quantity": quantity}]});
        if let Some(promo) = promo {
            body["promotion_code"] = json!(promo);
        }
        call("/v1/orders".into(), body)
    };
    let checkout = |order: String| call(format!("/v1/orders/{order}/checkout"), json!({}));
    let outcome = |order: &Value, outcome: &str| {
        let session = order["checkout"]["session_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        call(
            format!("/v1/test_provider/checkout_sessions/{session}/complete"),
            json!({"outcome": outcome}),
        )
    };
    // Grace: paid and fulfilled (a license and download links; the receipt in the mailbox).
    let o = checkout(id(&order(&grace, &pro, 1, None).await?)?).await?;
    outcome(&o, "succeeded").await?;
    let (sealer, order_id) = (db.sealer()?.clone(), id(&o)?);
    let downloads = core.config.downloads.clone();
    core.write(workspace.id.clone(), demo_cause(), move |mut cx| {
        Box::pin(async move {
            bursar_core::fulfillment::fulfill_order(&mut cx, &sealer, &downloads, &order_id).await
        })
    })
    .await
    .map_err(|e| anyhow::anyhow!("demo seed: fulfillment: {}", e.message))?;
    // Ada, for her company: ten seats at the agreement's price, paid, one seat refunded.
    let o = checkout(id(&order(&ada, &pro, 10, None).await?)?).await?;
    outcome(&o, "succeeded").await?;
    call(
        format!("/v1/orders/{}/refunds", id(&o)?),
        json!({"amount": 3500, "reason": "requested_by_customer"}),
    )
    .await?;
    // Katherine: two tokens with the launch code, waiting at the checkout page.
    checkout(id(&order(&katherine, &token, 2, Some("LAUNCH20")).await?)?).await?;
    // Hedy: a declined card, and a draft.
    let o = checkout(id(&order(&hedy, &pro, 1, None).await?)?).await?;
    outcome(&o, "declined").await?;
    order(&hedy, &workshop, 1, None).await?;

    // Usage: two meters and the last week of events for every demo customer (subject = the
    // customer's id), hour by hour.
    call(
        "/api/v1/meters".into(),
        json!({"slug": "api_calls", "name": "API calls", "aggregation": "COUNT",
               "eventType": "api_call", "groupBy": {"endpoint": "$.endpoint"}}),
    )
    .await?;
    call(
        "/api/v1/meters".into(),
        json!({"slug": "gpu_hours", "name": "GPU hours", "aggregation": "SUM",
               "eventType": "gpu_usage", "valueProperty": "$.hours", "groupBy": {"gpu": "$.gpu"}}),
    )
    .await?;
    let hour_now = now.unix_micros() / 3_600_000_000 * 3_600;
    for (index, (_, customer)) in customers.iter().enumerate() {
        let mut events = Vec::new();
        for hour in 0..7 * 24_i64 {
            let at = hour_now - (7 * 24 - hour) * 3_600;
            let weight = i64::try_from(index).unwrap_or(0) + 1;
            for call_number in 0..(hour % 5 + weight) {
                let endpoint = ["/v1/search", "/v1/chat"][usize::from(call_number % 3 == 0)];
                events.push(json!({"specversion": "1.0", "id": format!("demo-{customer}-{hour}-{call_number}"),
                    "source": "demo", "type": "api_call", "subject": customer,
                    "time": bursar_domain::time::Timestamp::from_unix_micros((at + call_number * 60) * 1_000_000).to_rfc3339(),
                    "data": {"endpoint": endpoint}}));
            }
            if hour % 6 == index as i64 % 6 {
                events.push(json!({"specversion": "1.0", "id": format!("demo-{customer}-{hour}-gpu"),
                    "source": "demo", "type": "gpu_usage", "subject": customer,
                    "time": bursar_domain::time::Timestamp::from_unix_micros((at + 1_800) * 1_000_000).to_rfc3339(),
                    "data": {"gpu": if index % 2 == 0 { "a100" } else { "h100" }, "hours": 0.25 * weight as f64}}));
            }
        }
        call("/api/v1/events".into(), Value::Array(events)).await?;
    }

    // Contracts: Grace's platform contract, active, renewing at the end of its term, with a
    // price change scheduled for next month; Katherine's, suspended; Hedy's, a draft; Ada's
    // trial, terminated.
    let day = |days: i64| now.plus_seconds(days * 86_400).to_rfc3339();
    let platform = id(&call(
        "/v1/products".into(),
        json!({"name": "Bursar Cloud platform", "kind": "service", "description": "Hosted Bursar, per seat and month"}),
    )
    .await?)?;
    let contract = |buyer: String, status: &'static str| {
        let (call, platform, start, end) = (&call, &platform, day(-60), day(30));
        async move {
            let created = call(
                "/v1/contracts".into(),
                json!({"buyer_id": buyer, "currency": "USD", "effective_at": start,
                       "term": {"start": start, "end": end, "auto_renew": true, "renewal_months": 12, "notice_days": 30},
                       "lines": [{"product_id": platform, "unit_amount": 2_500, "quantity": 10}]}),
            )
            .await?;
            let id = created["id"].as_str().context("contract id")?.to_owned();
            let path = format!("/v1/contracts/{id}/operations");
            let steps: &[&str] = match status {
                "draft" => &[],
                "suspended" => &["activate", "suspend"],
                "terminated" => &["activate", "terminate"],
                _ => &["activate"],
            };
            for step in steps {
                call(path.clone(), json!({"type": step})).await?;
            }
            Ok::<String, anyhow::Error>(id)
        }
    };
    let active = contract(grace.clone(), "active").await?;
    call(
        format!("/v1/contracts/{active}/operations"),
        json!({"type": "change_price", "line_id": "line_1", "unit_amount": 2_750, "effective_at": day(30)}),
    )
    .await?;
    contract(katherine.clone(), "suspended").await?;
    contract(hedy.clone(), "draft").await?;
    contract(ada.clone(), "terminated").await?;

    // Invoices of the month: Grace's paid, Ada's partly paid, Katherine's overdue (due on
    // issue), Hedy's credited in part.
    call(
        "/v1/invoice_settings".into(),
        json!({"issuer_name": "Bursar Demo Ltd", "issuer_address": ["1 Ledger Lane", "London EC1A 1AA"],
               "issuer_tax_id": "GB000000000", "payment_terms_days": 14,
               "payment_instructions": "Bank transfer to IBAN GB00 DEMO 0000 0000 0000 00, reference: the invoice number."}),
    )
    .await?;
    let vat = id(&call(
        "/v1/tax_rates".into(),
        json!({"display_name": "VAT", "jurisdiction": "GB", "percentage": "20"}),
    )
    .await?)?;
    let invoice = |customer: &str,
                   description: &str,
                   quantity: i64,
                   unit_amount: i64,
                   terms: u32| {
        call(
            "/v1/invoices".into(),
            json!({"customer_id": customer, "currency": "USD", "payment_terms_days": terms,
                   "lines": [{"description": description, "quantity": quantity, "unit_amount": unit_amount, "tax_rate_id": vat}]}),
        )
    };
    let issue = |invoice: String| call(format!("/v1/invoices/{invoice}/issue"), json!({}));
    let pay = |customer: &str, amount: i64| {
        call(
            "/v1/payments".into(),
            json!({"customer_id": customer, "currency": "USD", "amount": amount, "method": "bank_transfer"}),
        )
    };
    issue(id(&invoice(&grace, "Platform seats", 3, 9_900, 14).await?)?).await?;
    pay(&grace, 35_640).await?;
    issue(id(
        &invoice(&ada, "Onboarding workshop", 1, 150_000, 14).await?
    )?)
    .await?;
    pay(&ada, 50_000).await?;
    issue(id(
        &invoice(&katherine, "Support hours", 5, 5_000, 0).await?
    )?)
    .await?;
    let credited = id(&invoice(&hedy, "Data migration", 1, 40_000, 14).await?)?;
    issue(credited.clone()).await?;
    call(
        "/v1/credit_notes".into(),
        json!({"invoice_id": credited, "amount": 12_000, "reason": "scope reduced"}),
    )
    .await?;

    let key_id = key.id.clone();
    db.write(move |conn: &mut Tx| {
        Box::pin(async move { api_keys::revoke(conn, &key_id, now, &demo_cause()).await })
    })
    .await?;
    Ok(5)
}
