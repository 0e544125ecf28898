//! Wallet recipes: named, balanced sets of ledger transfers over a party's wallet accounts.

use bursar_domain::event_type;
use std::collections::BTreeMap;

use bursar_domain::event::{Cause, NewEvent};
use bursar_domain::id::{CustomerId, WorkspaceId};
use bursar_domain::ledger::*;
use bursar_domain::money::Currency;
use bursar_domain::time::Timestamp;
use bursar_domain::wallet::*;

use crate::{events, ledger, params, StoreError, Tx};

/// Longest recipe id: transfer ids derived from it (`season:<id>`) stay within 64 characters.
pub const RECIPE_ID_LENGTH_MAX: usize = 56;
/// Holdings seasoned per background pass.
pub const SEASONINGS_PER_PASS_MAX: i64 = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipe {
    /// Inbound money (bank clearing) → the party's AVAILABLE.
    Fund,
    /// AVAILABLE → COMMITTED.
    Commit,
    /// AVAILABLE → COMMITTED_DOWNPAYMENT.
    CommitDownpayment,
    /// The buyer's COMMITTED (or COMMITTED_DOWNPAYMENT) → the seller's PAY_IN_HOLDING, seasoning
    /// until `not_before`.
    Release {
        seller: CustomerId,
        from: Role,
        not_before: Timestamp,
    },
    /// AVAILABLE → payout clearing.
    CashOut,
}

impl Recipe {
    pub fn name(&self) -> &'static str {
        match self {
            Recipe::Fund => "fund",
            Recipe::Commit => "commit",
            Recipe::CommitDownpayment => "commit_downpayment",
            Recipe::Release { .. } => "release",
            Recipe::CashOut => "cash_out",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RecipeRequest {
    /// The client's id for this operation: the transfer's id, so a retry moves nothing twice.
    pub id: TransferId,
    pub party: CustomerId,
    pub currency: Currency,
    pub amount: i64,
    pub recipe: Recipe,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipeOutcome {
    /// Applied now (`ok`) or before (`exists`).
    Done {
        result: TransferResult,
        transfers: Vec<Transfer>,
    },
    Failed(TransferResult),
}

/// Creates the party's wallet accounts and the platform's for `currency`, if missing.
pub async fn ensure_accounts(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    parties: &[&CustomerId],
    currency: Currency,
    now: Timestamp,
) -> Result<(), StoreError> {
    let mut accounts: Vec<NewAccount> = PlatformAccount::ALL
        .iter()
        .map(|&p| NewAccount {
            id: platform_account(p, currency),
            currency,
            code: 1,
            flags: platform_flags(),
            metadata: BTreeMap::new(),
        })
        .collect();
    for party in parties {
        accounts.extend(Role::ALL.iter().map(|&role| {
            NewAccount {
                id: party_account(party, role, currency),
                currency,
                code: 2,
                flags: party_flags(),
                metadata: [
                    ("party".to_owned(), party.to_string()),
                    ("role".to_owned(), role.as_str().to_owned()),
                ]
                .into_iter()
                .collect(),
            }
        }));
    }
    ledger::create_accounts(tx, workspace_id, &accounts, now).await?;
    Ok(())
}

fn transfer(
    id: TransferId,
    debit: AccountId,
    credit: AccountId,
    amount: i64,
    code: i64,
    recipe: &str,
) -> NewTransfer {
    let mut transfer = NewTransfer::single(id, debit, credit, amount, code);
    transfer
        .metadata
        .insert("recipe".to_owned(), recipe.to_owned());
    transfer
}

/// Runs a recipe as one ledger batch.
pub async fn run_recipe(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    request: &RecipeRequest,
    now: Timestamp,
    cause: &Cause,
) -> Result<RecipeOutcome, StoreError> {
    let (party, currency) = (&request.party, request.currency);
    let name = request.recipe.name();
    let own = |role| party_account(party, role, currency);
    let (debit, credit, code) = match &request.recipe {
        Recipe::Fund => (
            platform_account(PlatformAccount::BankClearing, currency),
            own(Role::Available),
            10,
        ),
        Recipe::Commit => (own(Role::Available), own(Role::Committed), 20),
        Recipe::CommitDownpayment => (own(Role::Available), own(Role::CommittedDownpayment), 21),
        Recipe::Release { seller, from, .. } => (
            own(*from),
            party_account(seller, Role::PayInHolding, currency),
            30,
        ),
        Recipe::CashOut => (
            own(Role::Available),
            platform_account(PlatformAccount::PayoutClearing, currency),
            50,
        ),
    };
    let mut parties = vec![party];
    if let Recipe::Release { seller, .. } = &request.recipe {
        parties.push(seller);
    }
    ensure_accounts(tx, workspace_id, &parties, currency, now).await?;
    let batch = [transfer(
        request.id.clone(),
        debit,
        credit,
        request.amount,
        code,
        name,
    )];
    let results = ledger::create_transfers(tx, workspace_id, &batch, now).await?;
    let Some((result, transfer)) = results.into_iter().next() else {
        return Err(StoreError::Corrupt(
            "BUG: a batch of one gave no result".into(),
        ));
    };
    let Some(transfer) = transfer else {
        return Ok(RecipeOutcome::Failed(result));
    };
    if let Recipe::Release {
        seller, not_before, ..
    } = &request.recipe
    {
        let held = Held {
            seller,
            buyer: party,
            currency,
            not_before: *not_before,
        };
        insert_holding(tx, workspace_id, &held, &transfer, now).await?;
    }
    // `exists`: a retry of an operation already applied changes nothing and records nothing.
    if result == TransferResult::Ok {
        for event in recipe_events(request, &transfer) {
            events::record(tx, workspace_id, &event, cause, now).await?;
        }
    }
    Ok(RecipeOutcome::Done {
        result,
        transfers: vec![transfer],
    })
}

/// Who money is held for, from whom, and until when.
pub struct Held<'a> {
    pub seller: &'a CustomerId,
    pub buyer: &'a CustomerId,
    pub currency: Currency,
    pub not_before: Timestamp,
}

async fn insert_holding(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    held: &Held<'_>,
    transfer: &Transfer,
    now: Timestamp,
) -> Result<(), StoreError> {
    tx.execute(
        "insert into wallet_holding (workspace_id, holding_id, seller_id, buyer_id, currency, \
         amount, not_before, status, created_at) values ($1, $2, $3, $4, $5, $6, $7, 'holding', $8) \
         on conflict (workspace_id, holding_id) do nothing",
        params![
            workspace_id.as_str(),
            transfer.id.as_str(),
            held.seller.as_str(),
            held.buyer.as_str(),
            held.currency.code(),
            transfer.amount,
            held.not_before.unix_micros(),
            now.unix_micros(),
        ],
    )
    .await?;
    Ok(())
}

/// Holds money for a seller that comes from a platform account rather than a buyer's wallet
/// (a paid marketplace invoice's seller part, or a referrer's, out of the seller shares;
/// `recipe` names which): the transfer `id`
/// from `debit` to the seller's PAY_IN_HOLDING, the holding seasoning until `not_before`, and
/// `wallet.pay_in_held` on the seller's timeline (with `detail` in its payload) — once per id.
/// `debit` must exist. Answers the ledger's result (`exists` for a repeat).
pub async fn hold_for_seller(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    (id, debit, amount, recipe): (TransferId, AccountId, i64, &'static str),
    held: &Held<'_>,
    detail: serde_json::Value,
    (now, cause): (Timestamp, &Cause),
) -> Result<TransferResult, StoreError> {
    ensure_accounts(tx, workspace_id, &[held.seller], held.currency, now).await?;
    let credit = party_account(held.seller, Role::PayInHolding, held.currency);
    let batch = [transfer(id, debit, credit, amount, 31, recipe)];
    let results = ledger::create_transfers(tx, workspace_id, &batch, now).await?;
    let Some((result, Some(transfer))) = results.into_iter().next() else {
        return Err(StoreError::Corrupt(
            "BUG: a seller's share was refused by the ledger".into(),
        ));
    };
    if result != TransferResult::Ok {
        return Ok(result);
    }
    insert_holding(tx, workspace_id, held, &transfer, now).await?;
    let mut payload = serde_json::json!({
        "operation_id": transfer.id.as_str(),
        "recipe": recipe,
        "party": held.buyer.as_str(),
        "seller": held.seller.as_str(),
        "amount": transfer.amount,
        "currency": held.currency.code(),
        "transfer_id": transfer.id.as_str(),
        "not_before": held.not_before.to_rfc3339(),
    });
    if let (Some(payload), serde_json::Value::Object(detail)) = (payload.as_object_mut(), detail) {
        payload.extend(detail);
    }
    let event = NewEvent::new(
        event_type::WALLET_PAY_IN_HELD,
        "party",
        held.seller.as_str(),
        payload,
    );
    events::record(tx, workspace_id, &event, cause, now).await?;
    Ok(result)
}

/// The events of an applied recipe: one on the party's timeline, and for a release one on the
/// seller's too (money now held for them).
fn recipe_events(request: &RecipeRequest, transfer: &Transfer) -> Vec<NewEvent> {
    let event_type = match request.recipe {
        Recipe::Fund => event_type::WALLET_FUNDED,
        Recipe::Commit => event_type::WALLET_COMMITTED,
        Recipe::CommitDownpayment => event_type::WALLET_DOWNPAYMENT_COMMITTED,
        Recipe::Release { .. } => event_type::WALLET_RELEASED,
        Recipe::CashOut => event_type::WALLET_CASHED_OUT,
    };
    let mut payload = serde_json::json!({
        "operation_id": request.id.as_str(),
        "recipe": request.recipe.name(),
        "party": request.party.as_str(),
        "amount": transfer.amount,
        "currency": request.currency.code(),
        "transfer_id": transfer.id.as_str(),
    });
    let mut events = Vec::with_capacity(2);
    if let Recipe::Release {
        seller, not_before, ..
    } = &request.recipe
    {
        payload["seller"] = serde_json::json!(seller.as_str());
        payload["not_before"] = serde_json::json!(not_before.to_rfc3339());
        events.push(NewEvent::new(
            event_type,
            "party",
            request.party.as_str(),
            payload.clone(),
        ));
        events.push(NewEvent::new(
            event_type::WALLET_PAY_IN_HELD,
            "party",
            seller.as_str(),
            payload,
        ));
    } else {
        events.push(NewEvent::new(
            event_type,
            "party",
            request.party.as_str(),
            payload,
        ));
    }
    events
}

/// A holding in a seller's PAY_IN_HOLDING.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    pub id: String,
    pub seller: CustomerId,
    pub currency: Currency,
    pub amount: i64,
    pub not_before: Timestamp,
    pub seasoned: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeasonOutcome {
    /// These holdings moved to AVAILABLE now.
    Seasoned(Vec<Holding>),
    /// The named holding (or every holding) is still seasoning until this instant.
    NotYet(Timestamp),
    /// Nothing is held for this seller (or no such holding).
    NothingHeld,
}

fn holding_from(row: &crate::Row) -> Result<Holding, StoreError> {
    let code = row.text("currency")?;
    Ok(Holding {
        id: row.text("holding_id")?,
        seller: CustomerId::from_trusted(row.text("seller_id")?),
        currency: Currency::parse(&code, "currency").map_err(|_| StoreError::Corrupt(code))?,
        amount: row.i64("amount")?,
        not_before: Timestamp::from_unix_micros(row.i64("not_before")?),
        seasoned: row.text("status")? == "seasoned",
    })
}

const HOLDING_COLUMNS: &str = "holding_id, seller_id, currency, amount, not_before, status";

pub async fn holdings(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    seller: &CustomerId,
) -> Result<Vec<Holding>, StoreError> {
    let sql = format!(
        "select {HOLDING_COLUMNS} from wallet_holding where workspace_id = $1 and seller_id = $2 \
         order by not_before, holding_id"
    );
    tx.fetch_all(&sql, params![workspace_id.as_str(), seller.as_str()])
        .await?
        .iter()
        .map(holding_from)
        .collect()
}

/// Moves the seller's due holdings (or only `holding_id`) from PAY_IN_HOLDING to AVAILABLE;
/// refuses before `not_before`.
pub async fn season(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    seller: &CustomerId,
    holding_id: Option<&str>,
    now: Timestamp,
    cause: &Cause,
) -> Result<SeasonOutcome, StoreError> {
    let held: Vec<Holding> = holdings(tx, workspace_id, seller)
        .await?
        .into_iter()
        .filter(|h| !h.seasoned && holding_id.is_none_or(|id| h.id == id))
        .collect();
    let (due, waiting): (Vec<Holding>, Vec<Holding>) =
        held.into_iter().partition(|h| h.not_before <= now);
    if due.is_empty() {
        return Ok(match waiting.iter().map(|h| h.not_before).min() {
            Some(next) => SeasonOutcome::NotYet(next),
            None => SeasonOutcome::NothingHeld,
        });
    }
    season_holdings(tx, workspace_id, &due, now, cause).await?;
    Ok(SeasonOutcome::Seasoned(due))
}

async fn season_holdings(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    due: &[Holding],
    now: Timestamp,
    cause: &Cause,
) -> Result<(), StoreError> {
    let batch: Vec<NewTransfer> = due
        .iter()
        .map(|h| {
            transfer(
                TransferId::from_trusted(format!("season:{}", h.id)),
                party_account(&h.seller, Role::PayInHolding, h.currency),
                party_account(&h.seller, Role::Available, h.currency),
                h.amount,
                40,
                "season",
            )
        })
        .collect();
    let results = ledger::create_transfers(tx, workspace_id, &batch, now).await?;
    for (holding, (result, _)) in due.iter().zip(results) {
        if !matches!(result, TransferResult::Ok | TransferResult::Exists) {
            return Err(StoreError::Corrupt(format!(
                "BUG: seasoning holding {} failed with {}",
                holding.id,
                result.as_str()
            )));
        }
        tx.execute(
            "update wallet_holding set status = 'seasoned', seasoned_at = $1 \
             where workspace_id = $2 and holding_id = $3",
            params![
                now.unix_micros(),
                workspace_id.as_str(),
                holding.id.as_str()
            ],
        )
        .await?;
        if result == TransferResult::Ok {
            let event = NewEvent::new(
                event_type::WALLET_SEASONED,
                "party",
                holding.seller.as_str(),
                serde_json::json!({
                    "holding_id": holding.id,
                    "party": holding.seller.as_str(),
                    "amount": holding.amount,
                    "currency": holding.currency.code(),
                    "not_before": holding.not_before.to_rfc3339(),
                    "transfer_id": format!("season:{}", holding.id),
                }),
            );
            events::record(tx, workspace_id, &event, cause, now).await?;
        }
    }
    Ok(())
}

/// Seasons every due holding of every workspace (the background job); returns how many.
pub async fn season_due(tx: &mut Tx, now: Timestamp) -> Result<usize, StoreError> {
    let sql = format!(
        "select workspace_id, {HOLDING_COLUMNS} from wallet_holding \
         where status = 'holding' and not_before <= $1 order by not_before limit $2"
    );
    let rows = tx
        .fetch_all(&sql, params![now.unix_micros(), SEASONINGS_PER_PASS_MAX])
        .await?;
    let mut by_workspace: BTreeMap<String, Vec<Holding>> = BTreeMap::new();
    for row in &rows {
        by_workspace
            .entry(row.text("workspace_id")?)
            .or_default()
            .push(holding_from(row)?);
    }
    for (workspace, due) in &by_workspace {
        season_holdings(
            tx,
            &WorkspaceId::from_trusted(workspace.clone()),
            due,
            now,
            &Cause {
                request_id: None,
                actor: Some("system:seasoning".into()),
            },
        )
        .await?;
    }
    Ok(rows.len())
}

/// A party's wallet: every role's account in every currency it has.
pub async fn wallet(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    party: &CustomerId,
) -> Result<Vec<Account>, StoreError> {
    ledger::accounts_with_prefix(tx, workspace_id, &format!("party:{party}:")).await
}
