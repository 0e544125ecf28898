//! Party wallets: the recipes that move money through them (fund, commit, release to a
//! seller, cash out), the seasoning of a seller's holdings, and a wallet as it stands.

use std::collections::BTreeMap;

use bursar_domain::id::{CustomerId, WorkspaceId};
use bursar_domain::ledger::objects::{BalancesObject, TransferObject};
use bursar_domain::ledger::{TransferId, TransferResult};
use bursar_domain::money::{parse_positive_amount, Currency};
use bursar_domain::time::Timestamp;
use bursar_domain::wallet::{HoldingObject, Role, WalletObject, WalletOperation};
use bursar_store::wallet::{self, Recipe, RecipeOutcome, RecipeRequest, SeasonOutcome};
use bursar_store::{customers, Tx};

use crate::error::{Error, ErrorKind};
use crate::write::Context;

/// What a recipe came to: applied (now or before), or refused by the ledger (the failure is
/// recorded, so retrying the id fails the same way).
#[derive(Debug)]
pub enum Outcome {
    Done(WalletOperation),
    Failed(TransferResult),
}

/// A party's wallet: its balances per currency and role, and its holdings.
pub async fn load(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    party: &CustomerId,
) -> Result<WalletObject, Error> {
    let mut balances: BTreeMap<String, BTreeMap<String, BalancesObject>> = BTreeMap::new();
    for account in wallet::wallet(tx, workspace_id, party).await? {
        let role = account.metadata.get("role").cloned().unwrap_or_default();
        balances
            .entry(account.currency.code().to_owned())
            .or_default()
            .insert(role, account.balances.into());
    }
    let holdings = wallet::holdings(tx, workspace_id, party)
        .await?
        .into_iter()
        .map(|h| HoldingObject {
            id: h.id,
            currency: h.currency.code().to_owned(),
            amount: h.amount,
            not_before: h.not_before.to_rfc3339(),
            status: if h.seasoned { "seasoned" } else { "holding" },
        })
        .collect();
    Ok(WalletObject {
        object: "wallet",
        party: party.to_string(),
        balances,
        holdings,
    })
}

/// Refuses a party that is not a customer of the workspace, naming `param`.
pub async fn require_party(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    party: &CustomerId,
    param: &str,
) -> Result<(), Error> {
    if customers::get(tx, workspace_id, party, false)
        .await?
        .is_none()
    {
        return Err(Error::not_found("customer", party.as_str()).with_param(param));
    }
    Ok(())
}

/// A party named in a path: an id that cannot be a customer's is no such customer.
pub fn parse_party(id: &str) -> Result<CustomerId, Error> {
    CustomerId::parse(id, "id").map_err(|_| Error::not_found("customer", id))
}

/// The recipe a path names: `fund`, `commit`, `commit_downpayment` or `cash_out`.
pub fn simple_recipe(name: &str) -> Result<Recipe, Error> {
    match name {
        "fund" => Ok(Recipe::Fund),
        "commit" => Ok(Recipe::Commit),
        "commit_downpayment" => Ok(Recipe::CommitDownpayment),
        "cash_out" => Ok(Recipe::CashOut),
        _ => Err(Error::new(
            ErrorKind::NotFound,
            "route_missing",
            format!(
                "No wallet recipe '{name}': use fund, commit, commit_downpayment, release, \
                 season or cash_out."
            ),
        )),
    }
}

/// The amount and currency a recipe moves, and the operation's id (its transfers' id).
#[derive(Debug, Clone)]
pub struct AmountInput {
    pub id: String,
    pub amount: i64,
    pub currency: String,
}

/// A recipe on `party`'s wallet, its id, currency and amount checked.
pub fn recipe_request(
    party: CustomerId,
    recipe: Recipe,
    input: &AmountInput,
) -> Result<RecipeRequest, Error> {
    Ok(RecipeRequest {
        id: operation_id(&input.id)?,
        party,
        currency: Currency::parse(&input.currency, "currency")?,
        amount: parse_positive_amount(input.amount, "amount")?,
        recipe,
    })
}

/// Where a release sends money and from which role, as given.
#[derive(Debug, Clone)]
pub struct ReleaseInput {
    pub seller_id: String,
    /// RFC 3339.
    pub not_before: String,
    /// `COMMITTED` (default) or `COMMITTED_DOWNPAYMENT`.
    pub from: Option<String>,
}

/// A release of `party`'s committed money to another party, a seller.
pub fn release_request(
    party: CustomerId,
    release: &ReleaseInput,
    input: &AmountInput,
) -> Result<RecipeRequest, Error> {
    let seller = CustomerId::parse(&release.seller_id, "seller_id")?;
    let not_before = Timestamp::parse_rfc3339(&release.not_before).ok_or_else(|| {
        Error::invalid(
            "parameter_invalid",
            Some("not_before".into()),
            "not_before must be an RFC 3339 instant.",
        )
    })?;
    let from = release_role(release.from.as_deref())?;
    if seller == party {
        return Err(Error::invalid(
            "parameter_invalid",
            Some("seller_id".into()),
            "A party cannot release money to itself.",
        ));
    }
    let recipe = Recipe::Release {
        seller,
        from,
        not_before,
    };
    recipe_request(party, recipe, input)
}

fn release_role(from: Option<&str>) -> Result<Role, Error> {
    match from.unwrap_or("COMMITTED") {
        "COMMITTED" => Ok(Role::Committed),
        "COMMITTED_DOWNPAYMENT" => Ok(Role::CommittedDownpayment),
        other => Err(Error::invalid(
            "parameter_invalid",
            Some("from".into()),
            format!("Cannot release from '{other}': use COMMITTED or COMMITTED_DOWNPAYMENT."),
        )),
    }
}

fn operation_id(id: &str) -> Result<TransferId, Error> {
    if id.len() > wallet::RECIPE_ID_LENGTH_MAX {
        return Err(Error::invalid(
            "parameter_invalid",
            Some("id".into()),
            format!(
                "Operation ids are at most {} characters.",
                wallet::RECIPE_ID_LENGTH_MAX
            ),
        ));
    }
    Ok(TransferId::parse(id, "id")?)
}

/// Runs a recipe on a party's wallet (and, for a release, toward the seller's) as one ledger
/// batch; idempotent by the request's id.
pub async fn run_recipe(cx: &mut Context<'_>, request: &RecipeRequest) -> Result<Outcome, Error> {
    require_party(cx.tx, cx.workspace_id, &request.party, "id").await?;
    if let Recipe::Release { seller, .. } = &request.recipe {
        require_party(cx.tx, cx.workspace_id, seller, "seller_id").await?;
    }
    match wallet::run_recipe(cx.tx, cx.workspace_id, request, cx.now, cx.cause).await? {
        RecipeOutcome::Done { result, transfers } => Ok(Outcome::Done(WalletOperation {
            object: "wallet_operation",
            recipe: request.recipe.name(),
            result: result.as_str(),
            transfers: transfers
                .into_iter()
                .map(|t| TransferObject::new(t, None))
                .collect(),
            wallet: load(cx.tx, cx.workspace_id, &request.party).await?,
        })),
        RecipeOutcome::Failed(result) => Ok(Outcome::Failed(result)),
    }
}

/// Seasons a seller's due holdings (or only `holding`): PAY_IN_HOLDING → AVAILABLE; refused
/// before the holding's `not_before`, or when nothing is held. Answers the seller's wallet.
pub async fn season(
    cx: &mut Context<'_>,
    seller: &CustomerId,
    holding: Option<&str>,
) -> Result<WalletObject, Error> {
    require_party(cx.tx, cx.workspace_id, seller, "id").await?;
    match wallet::season(cx.tx, cx.workspace_id, seller, holding, cx.now, cx.cause).await? {
        SeasonOutcome::Seasoned(_) => load(cx.tx, cx.workspace_id, seller).await,
        SeasonOutcome::NotYet(not_before) => Err(Error::new(
            ErrorKind::State,
            "not_seasoned",
            format!(
                "The holding is seasoning until {}; it cannot be released before.",
                not_before.to_rfc3339()
            ),
        )
        .with_param("holding_id")),
        SeasonOutcome::NothingHeld => Err(Error::new(
            ErrorKind::State,
            "nothing_held",
            "Nothing is held for this party (or no such holding).",
        )
        .with_param("holding_id")),
    }
}
