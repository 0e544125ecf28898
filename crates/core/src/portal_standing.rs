//! What the portal's account page says about the customer's standing, once collections have
//! something to say: past due (with the overdue balance, and the card's decline when a retry
//! was declined: "update it"), in collections (access limited), or closed.

use bursar_domain::billing_status::BillingStatus;
use bursar_domain::collections::{CustomerBillingStatus, RetryOutcome};
use bursar_domain::money::Currency;
use bursar_domain::time::Timestamp;
use bursar_store::documents::{self, BILLING_STATUS};
use bursar_store::Tx;

use crate::error::Error;
use crate::portal::Portal;
use crate::storefront::Shop;
use crate::App;

/// A notice about one of the session's customers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub status: BillingStatus,
    /// The overdue balances, per currency.
    pub overdue: Vec<(Currency, i64)>,
    /// Since when the account is in this status.
    pub since: Option<Timestamp>,
    /// The decline code of the last retry of the saved card, when it was declined.
    pub card_declined: Option<String>,
}

/// The standing of each customer `portal` reaches that is not in good standing (one
/// statement).
pub async fn standing(app: &App, shop: &Shop, portal: &Portal) -> Result<Vec<Standing>, Error> {
    let workspace_id = shop.workspace_id.clone();
    let customers: Vec<String> = portal.customers.iter().map(|c| c.to_string()).collect();
    let statuses: Vec<(String, CustomerBillingStatus)> = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let ids: Vec<&str> = customers.iter().map(String::as_str).collect();
                documents::get_many(tx, BILLING_STATUS, &workspace_id, &ids).await
            })
        })
        .await?;
    Ok(statuses
        .into_iter()
        .filter(|(_, s)| {
            matches!(
                s.status,
                BillingStatus::PastDue | BillingStatus::Collections | BillingStatus::Closed
            )
        })
        .map(|(_, s)| standing_of(&s))
        .collect())
}

fn standing_of(status: &CustomerBillingStatus) -> Standing {
    let card_declined = status
        .dunning
        .as_ref()
        .and_then(|d| d.retries.last())
        .and_then(|retry| match &retry.outcome {
            RetryOutcome::Declined { code, .. } => Some(code.clone()),
            _ => None,
        });
    Standing {
        status: status.status,
        overdue: status
            .position
            .as_ref()
            .map(|p| p.overdue.iter().map(|b| (b.currency, b.amount)).collect())
            .unwrap_or_default(),
        since: status.since,
        card_declined,
    }
}
