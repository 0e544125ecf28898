//! First start: the default workspace and its admin key; and `--demo` data: the customers and
//! their wallets here, the commerce demo in `commerce` and the billing demo in `billing`,
//! written through the core's use cases (never the HTTP layer).

use bursar_domain::auth::{Scope, WorkspaceMode};
use bursar_domain::customer::Customer;
use bursar_domain::customer::NewCustomer;
use bursar_domain::id::{CustomerId, WorkspaceId};
use bursar_store::api_keys::{self, ApiKey, Secret};
use bursar_store::workspaces::{self, Workspace};
use bursar_store::{customers, Db, StoreError, Tx};

mod billing;
mod commerce;
pub(crate) mod dunning;
pub mod shipping;
mod treasury;

pub use commerce::seed_commerce;

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
                        live_workspace_id: None,
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
                live_workspace_id: None,
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
