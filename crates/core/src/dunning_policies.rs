//! Dunning policies of a workspace, versioned: each edit stores a new version under the same
//! id; accounts in dunning keep the version they entered with. One policy is the workspace's
//! default; a customer can be given another, or excluded.

use std::collections::BTreeMap;

use bursar_domain::collections::{
    validate_minimum_balances, validate_steps, Assignment, DunningPolicy, DunningStep,
};
use bursar_domain::event::NewEvent;
use bursar_domain::id::{CustomerId, DunningPolicyId, WorkspaceId};
use bursar_domain::money::Currency;
use bursar_store::documents::{self, DUNNING_ASSIGNMENT, DUNNING_POLICY};
use bursar_store::{customers, Tx};
use serde_json::json;

use crate::error::Error;
use crate::write::Context;

use bursar_domain::event_type::{
    DUNNING_POLICY_ASSIGNED as ASSIGNED, DUNNING_POLICY_CREATED as CREATED,
    DUNNING_POLICY_UPDATED as UPDATED,
};

/// A policy (or a new version of one), its steps not yet checked.
#[derive(Debug, Clone)]
pub struct PolicyInput {
    pub name: String,
    pub steps: Vec<DunningStep>,
    pub minimum_balances: BTreeMap<Currency, i64>,
    pub default: bool,
}

fn version_key(id: &DunningPolicyId, version: u32) -> String {
    format!("{id}.v{version}")
}

fn check(input: &PolicyInput) -> Result<(), Error> {
    validate_steps(&input.steps)?;
    validate_minimum_balances(&input.minimum_balances)?;
    Ok(())
}

/// Stores version `policy.version` and makes it the latest; the default moves to it when asked.
async fn store(cx: &mut Context<'_>, policy: &DunningPolicy) -> Result<(), Error> {
    let id = policy.id.clone().ok_or_else(Error::internal)?;
    let extra = [("policy_id", id.as_str().into())];
    let key = version_key(&id, policy.version);
    documents::insert(cx.tx, DUNNING_POLICY, cx.workspace_id, &key, policy, &extra).await?;
    documents::upsert(
        cx.tx,
        DUNNING_POLICY,
        cx.workspace_id,
        id.as_str(),
        policy,
        &extra,
    )
    .await?;
    if policy.default {
        set_default(cx, Some(&id)).await?;
    }
    Ok(())
}

async fn set_default(cx: &mut Context<'_>, id: Option<&DunningPolicyId>) -> Result<(), Error> {
    let assignment = Assignment {
        object: "dunning_assignment".into(),
        policy_id: id.cloned(),
        excluded: false,
    };
    documents::upsert(
        cx.tx,
        DUNNING_ASSIGNMENT,
        cx.workspace_id,
        "default",
        &assignment,
        &[],
    )
    .await?;
    Ok(())
}

/// Creates version 1 of a policy (`dunning_policy.created`); the workspace's first policy is
/// its default.
pub async fn create(cx: &mut Context<'_>, input: PolicyInput) -> Result<DunningPolicy, Error> {
    check(&input)?;
    let first = default_id(cx.tx, cx.workspace_id).await?.is_none();
    let policy = DunningPolicy {
        id: Some(DunningPolicyId::new()),
        object: "dunning_policy".into(),
        version: 1,
        name: input.name,
        steps: input.steps,
        minimum_balances: input.minimum_balances,
        default: input.default || first,
        created_at: cx.now,
    };
    store(cx, &policy).await?;
    emit(cx, CREATED, &policy).await?;
    Ok(policy)
}

/// Stores a new version of policy `id` (`dunning_policy.updated`). Accounts already in dunning
/// keep the version they entered with until they recover.
pub async fn update(
    cx: &mut Context<'_>,
    id: &str,
    input: PolicyInput,
) -> Result<DunningPolicy, Error> {
    let latest: DunningPolicy = documents::get(cx.tx, DUNNING_POLICY, cx.workspace_id, id, true)
        .await?
        .ok_or_else(|| Error::not_found("dunning_policy", id))?;
    check(&input)?;
    let was_default = default_id(cx.tx, cx.workspace_id).await? == latest.id;
    let policy = DunningPolicy {
        version: latest.version + 1,
        name: input.name,
        steps: input.steps,
        minimum_balances: input.minimum_balances,
        default: input.default || was_default,
        created_at: cx.now,
        ..latest
    };
    store(cx, &policy).await?;
    emit(cx, UPDATED, &policy).await?;
    Ok(policy)
}

async fn emit(
    cx: &mut Context<'_>,
    kind: &'static str,
    policy: &DunningPolicy,
) -> Result<(), Error> {
    let id = policy
        .id
        .as_ref()
        .map(|i| i.to_string())
        .unwrap_or_default();
    cx.emit(NewEvent::new(
        kind,
        "dunning_policy",
        &id,
        json!({ "object": policy }),
    ))
    .await
}

/// The latest version of policy `id`.
pub async fn latest(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    id: &str,
) -> Result<Option<DunningPolicy>, Error> {
    if id.contains('.') {
        return Ok(None);
    }
    Ok(documents::get(tx, DUNNING_POLICY, workspace_id, id, false).await?)
}

/// Version `version` of policy `id` (the built-in policy for none).
pub async fn version(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    id: Option<&DunningPolicyId>,
    version: u32,
) -> Result<DunningPolicy, Error> {
    let Some(id) = id else {
        return Ok(DunningPolicy::built_in());
    };
    let key = version_key(id, version);
    documents::get(tx, DUNNING_POLICY, workspace_id, &key, false)
        .await?
        .ok_or_else(Error::internal)
}

/// Every policy's latest version, by id, each marked whether it is the default.
pub async fn list(tx: &mut Tx, workspace_id: &WorkspaceId) -> Result<Vec<DunningPolicy>, Error> {
    let default = default_id(tx, workspace_id).await?;
    let mut policies = Vec::new();
    for body in bursar_store::collections::latest_policies(tx, workspace_id).await? {
        let mut policy: DunningPolicy = serde_json::from_str(&body).map_err(|e| {
            Error::from(bursar_store::StoreError::Corrupt(format!(
                "dunning_policy: {e}"
            )))
        })?;
        policy.default = policy.id == default;
        policies.push(policy);
    }
    Ok(policies)
}

async fn default_id(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
) -> Result<Option<DunningPolicyId>, Error> {
    let assignment: Option<Assignment> =
        documents::get(tx, DUNNING_ASSIGNMENT, workspace_id, "default", false).await?;
    Ok(assignment.and_then(|a| a.policy_id))
}

/// The policy a customer not in dunning follows now: its own, else the workspace's default,
/// else the built-in one; `None` when excluded.
pub async fn policy_for(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    customer_id: &str,
) -> Result<Option<DunningPolicy>, Error> {
    let own: Option<Assignment> =
        documents::get(tx, DUNNING_ASSIGNMENT, workspace_id, customer_id, false).await?;
    let chosen = match own {
        Some(a) if a.excluded => return Ok(None),
        Some(a) if a.policy_id.is_some() => a.policy_id,
        _ => default_id(tx, workspace_id).await?,
    };
    match chosen {
        Some(id) => Ok(Some(
            documents::get(tx, DUNNING_POLICY, workspace_id, id.as_str(), false)
                .await?
                .unwrap_or_else(DunningPolicy::built_in),
        )),
        None => Ok(Some(DunningPolicy::built_in())),
    }
}

/// Gives customer `customer_id` policy `policy_id`, excludes it (`excluded`), or returns it to
/// the default (neither); records `dunning_policy.assigned`. Takes effect at its next dunning.
pub async fn assign(
    cx: &mut Context<'_>,
    customer_id: &CustomerId,
    policy_id: Option<&str>,
    excluded: bool,
) -> Result<Assignment, Error> {
    customers::get(cx.tx, cx.workspace_id, customer_id, false)
        .await?
        .ok_or_else(|| Error::not_found("customer", customer_id.as_str()))?;
    if excluded && policy_id.is_some() {
        return Err(Error::invalid(
            "parameter_invalid",
            Some("excluded".into()),
            "A customer is either excluded or given a policy, not both.",
        ));
    }
    let policy_id = match policy_id {
        Some(id) => Some(
            latest(cx.tx, cx.workspace_id, id)
                .await?
                .and_then(|p| p.id)
                .ok_or_else(|| Error::not_found("dunning_policy", id).with_param("policy_id"))?,
        ),
        None => None,
    };
    let assignment = Assignment {
        object: "dunning_assignment".into(),
        policy_id,
        excluded,
    };
    let key = customer_id.as_str();
    documents::upsert(
        cx.tx,
        DUNNING_ASSIGNMENT,
        cx.workspace_id,
        key,
        &assignment,
        &[],
    )
    .await?;
    cx.emit(NewEvent::new(
        ASSIGNED,
        "customer",
        key,
        json!({ "object": assignment, "customer_id": key }),
    ))
    .await?;
    Ok(assignment)
}
