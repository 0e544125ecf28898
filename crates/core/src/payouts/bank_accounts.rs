//! Parties' bank accounts: numbers checked, stored sealed, shown masked; the party made a
//! counterparty at the workspace's bank (outside any transaction) so payouts can reach it.

use bursar_banks::types::{
    mask_number, AccountType, BankNumber, CounterpartyRequest, ExternalAccount,
};
use bursar_domain::event::Cause;
use bursar_domain::event_type as types;
use bursar_domain::id::{BankAccountId, CustomerId, WorkspaceId};
use bursar_domain::treasury::payout_objects::{BankAccountObject, BankAccountStatus};
use bursar_domain::treasury::payouts::{check_account_number, check_routing_number};
use bursar_store::payouts::{self as rows, SealedNumbers};
use bursar_store::Tx;

use super::Rails;
use crate::error::Error;
use crate::App;

/// A bank account as given; [`create_bank_account`] checks it.
#[derive(Clone)]
pub struct BankAccountInput {
    pub routing_number: String,
    pub account_number: String,
    /// `checking` or `savings`.
    pub account_type: String,
    pub holder_name: String,
}

/// Never prints the numbers.
impl std::fmt::Debug for BankAccountInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BankAccountInput")
            .field("routing_number", &mask_number(&self.routing_number))
            .field("account_number", &mask_number(&self.account_number))
            .field("account_type", &self.account_type)
            .finish_non_exhaustive()
    }
}

fn account_type(text: &str) -> Result<AccountType, Error> {
    match text {
        "checking" => Ok(AccountType::Checking),
        "savings" => Ok(AccountType::Savings),
        other => Err(Error::invalid(
            "parameter_invalid",
            Some("account_type".into()),
            format!("Unknown account type '{other}': use checking or savings."),
        )),
    }
}

/// Checks the input: routing number (ABA), account number, type, holder.
fn check(input: &BankAccountInput) -> Result<String, Error> {
    check_routing_number(&input.routing_number, "routing_number")?;
    check_account_number(&input.account_number, "account_number")?;
    account_type(&input.account_type)?;
    let holder = bursar_domain::commerce::parse_text(&input.holder_name, "holder_name", 200)?;
    Ok(holder)
}

/// Stores a bank account for `party` (`bank_account.created`), its numbers sealed, then makes
/// the party a counterparty at the workspace's bank with it and keeps the bank's ids. A bank that cannot
/// be reached leaves the account without them: the first payout to it registers it again
/// under the same attempt id (the account's id).
pub async fn create_bank_account(
    app: &App,
    workspace_id: WorkspaceId,
    cause: Cause,
    party: CustomerId,
    input: BankAccountInput,
) -> Result<BankAccountObject, Error> {
    let holder = check(&input)?;
    super::require_party(app, &workspace_id, &party).await?;
    let rails = super::rails_of(app, &workspace_id).await?;
    let sealer = app.db.sealer()?.clone();
    let sealed = SealedNumbers {
        routing_number: sealer.seal(&input.routing_number)?,
        account_number: sealer.seal(&input.account_number)?,
    };
    let now = app.now();
    let account = BankAccountObject {
        id: BankAccountId::new(),
        object: "bank_account".into(),
        party_id: party,
        status: BankAccountStatus::Active,
        disabled_reason: None,
        routing_number: mask_number(&input.routing_number),
        account_number: mask_number(&input.account_number),
        account_type: input.account_type.clone(),
        holder_name: holder,
        counterparty_id: None,
        external_account_id: None,
        created_at: now,
        updated_at: now,
    };
    let stored = account.clone();
    app.write(workspace_id.clone(), cause.clone(), move |mut cx| {
        Box::pin(async move {
            crate::wallets::require_party(cx.tx, cx.workspace_id, &stored.party_id, "id").await?;
            rows::insert_bank_account(cx.tx, cx.workspace_id, &stored, &sealed).await?;
            cx.emit_object(
                types::BANK_ACCOUNT_CREATED,
                "bank_account",
                stored.id.as_str(),
                &stored,
            )
            .await?;
            Ok::<_, Error>(())
        })
    })
    .await?;
    register(app, &workspace_id, cause, &rails, account, &input).await
}

/// Makes the account's party a counterparty at the bank with this account and records the
/// bank's ids; answers the account as it then stands (without them if the bank failed).
async fn register(
    app: &App,
    workspace_id: &WorkspaceId,
    cause: Cause,
    rails: &Rails,
    mut account: BankAccountObject,
    input: &BankAccountInput,
) -> Result<BankAccountObject, Error> {
    let request = counterparty_request(&account, input)?;
    let answer = match rails.1.create_counterparty(&request).await {
        Ok(answer) => answer,
        Err(error) => {
            tracing::warn!(%error, account = %account.id, "the bank did not register a bank account");
            return Ok(account);
        }
    };
    account.counterparty_id = Some(answer.id);
    account.external_account_id = answer.accounts.first().map(|a| a.id.clone());
    account.updated_at = app.now();
    let saved = account.clone();
    app.write(workspace_id.clone(), cause, move |cx| {
        Box::pin(async move {
            rows::update_bank_account(cx.tx, cx.workspace_id, &saved).await?;
            Ok::<_, Error>(())
        })
    })
    .await?;
    Ok(account)
}

fn counterparty_request(
    account: &BankAccountObject,
    input: &BankAccountInput,
) -> Result<CounterpartyRequest, Error> {
    Ok(CounterpartyRequest {
        attempt_id: account.id.to_string(),
        party_id: account.party_id.to_string(),
        name: account.holder_name.clone(),
        email: None,
        accounts: vec![ExternalAccount {
            account_type: account_type(&input.account_type)?,
            party_name: Some(account.holder_name.clone()),
            party_type: None,
            routing_number: BankNumber::new(input.routing_number.clone()),
            account_number: BankNumber::new(input.account_number.clone()),
        }],
        metadata: Default::default(),
    })
}

/// Registers at the bank an account that is not yet registered (its numbers unsealed only for
/// the request); answers it with the bank's ids.
pub(crate) async fn ensure_registered(
    app: &App,
    workspace_id: &WorkspaceId,
    cause: Cause,
    rails: &Rails,
    account: BankAccountObject,
    sealed: &SealedNumbers,
) -> Result<BankAccountObject, Error> {
    if account.external_account_id.is_some() {
        return Ok(account);
    }
    let sealer = app.db.sealer()?.clone();
    let input = BankAccountInput {
        routing_number: sealer.open(&sealed.routing_number)?,
        account_number: sealer.open(&sealed.account_number)?,
        account_type: account.account_type.clone(),
        holder_name: account.holder_name.clone(),
    };
    register(app, workspace_id, cause, rails, account, &input).await
}

/// A party's bank accounts, oldest first.
pub async fn list_bank_accounts(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    party: &CustomerId,
) -> Result<Vec<BankAccountObject>, Error> {
    crate::wallets::require_party(tx, workspace_id, party, "id").await?;
    Ok(rows::list_bank_accounts(tx, workspace_id, party).await?)
}
