//! Many accounts read at once (a query per kind of fact for up to 500 customers), for the
//! disagreement detector and the benches: the same [`Account`]s [`super::load`] reads one
//! by one.

use std::collections::HashMap;

use bursar_domain::collections::{Assignment, CustomerBillingStatus, DunningPolicy};
use bursar_domain::commerce::PaymentMethod;
use bursar_domain::contract::Contract;
use bursar_domain::id::{CustomerId, WorkspaceId};
use bursar_domain::invoice::Invoice;
use bursar_store::documents::{
    self, BILLING_STATUS, CONTRACT, DUNNING_ASSIGNMENT, INVOICE, PAYMENT_METHOD,
};
use bursar_store::Tx;

use super::Account;
use crate::dunning_policies;
use crate::error::Error;

/// Groups documents by the customer id `key` gives.
fn by_customer<T>(items: Vec<T>, key: impl Fn(&T) -> String) -> HashMap<String, Vec<T>> {
    let mut grouped: HashMap<String, Vec<T>> = HashMap::new();
    for item in items {
        grouped.entry(key(&item)).or_default().push(item);
    }
    grouped
}

/// The accounts of `customers` (one workspace), in their order.
pub async fn load_many(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    customers: &[CustomerId],
) -> Result<Vec<Account>, Error> {
    let ids: Vec<&str> = customers.iter().map(|c| c.as_str()).collect();
    let ws = workspace_id;
    let mut stored: HashMap<String, CustomerBillingStatus> =
        documents::get_many(tx, BILLING_STATUS, ws, &ids)
            .await?
            .into_iter()
            .collect();
    let invoices: Vec<Invoice> =
        documents::find_in_many(tx, INVOICE, ws, "customer_id", &ids).await?;
    let mut invoices = by_customer(invoices, |i| i.customer_id.to_string());
    let contracts: Vec<Contract> =
        documents::find_in_many(tx, CONTRACT, ws, "buyer_id", &ids).await?;
    let mut contracts = by_customer(contracts, |c| c.buyer_id.clone());
    let methods: Vec<PaymentMethod> =
        documents::find_in_many(tx, PAYMENT_METHOD, ws, "customer_id", &ids).await?;
    let mut methods = by_customer(methods, |m| m.customer_id.to_string());
    let policies = Policies::load(tx, ws, &ids).await?;
    let mut accounts = Vec::with_capacity(customers.len());
    for customer in customers {
        let key = customer.as_str();
        let stored = stored.remove(key);
        let pinned = match stored.as_ref().and_then(|s| s.dunning.as_ref()) {
            Some(d) => Some(policies.version(tx, ws, d).await?),
            None => None,
        };
        accounts.push(Account {
            customer_id: customer.clone(),
            policy: policies.policy_for(key),
            pinned,
            stored,
            invoices: invoices.remove(key).unwrap_or_default(),
            contracts: contracts.remove(key).unwrap_or_default(),
            payment_method: methods
                .remove(key)
                .and_then(|m| m.into_iter().max_by_key(|m| m.created_at)),
        });
    }
    Ok(accounts)
}

/// The policies a batch of accounts may follow, each read once.
struct Policies {
    default: Option<DunningPolicy>,
    assignments: HashMap<String, Assignment>,
    latest: HashMap<String, DunningPolicy>,
}

impl Policies {
    async fn load(tx: &mut Tx, ws: &WorkspaceId, ids: &[&str]) -> Result<Self, Error> {
        let mut keys: Vec<&str> = ids.to_vec();
        keys.push("default");
        let assignments: HashMap<String, Assignment> =
            documents::get_many(tx, DUNNING_ASSIGNMENT, ws, &keys)
                .await?
                .into_iter()
                .collect();
        let mut latest = HashMap::new();
        for policy in dunning_policies::list(tx, ws).await? {
            if let Some(id) = &policy.id {
                latest.insert(id.to_string(), policy);
            }
        }
        let default = assignments
            .get("default")
            .and_then(|a| a.policy_id.as_ref())
            .and_then(|id| latest.get(id.as_str()).cloned());
        Ok(Policies {
            default,
            assignments,
            latest,
        })
    }

    /// What [`dunning_policies::policy_for`] answers for `customer`.
    fn policy_for(&self, customer: &str) -> Option<DunningPolicy> {
        match self.assignments.get(customer) {
            Some(a) if a.excluded => None,
            Some(Assignment {
                policy_id: Some(id),
                ..
            }) => Some(
                self.latest
                    .get(id.as_str())
                    .cloned()
                    .unwrap_or_else(DunningPolicy::built_in),
            ),
            _ => Some(self.default.clone().unwrap_or_else(DunningPolicy::built_in)),
        }
    }

    async fn version(
        &self,
        tx: &mut Tx,
        ws: &WorkspaceId,
        dunning: &bursar_domain::collections::Dunning,
    ) -> Result<DunningPolicy, Error> {
        let latest = dunning
            .policy_id
            .as_ref()
            .and_then(|id| self.latest.get(id.as_str()))
            .filter(|p| p.version == dunning.policy_version);
        match latest {
            Some(policy) => Ok(policy.clone()),
            None => {
                dunning_policies::version(
                    tx,
                    ws,
                    dunning.policy_id.as_ref(),
                    dunning.policy_version,
                )
                .await
            }
        }
    }
}
