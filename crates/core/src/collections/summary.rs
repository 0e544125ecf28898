//! The collections summary of a workspace: accounts per status and dunning step, recoveries
//! per policy version, retries by decline class, and bad-debt drift per currency.

use std::collections::BTreeMap;
use std::sync::Mutex;

use bursar_domain::collections::CustomerBillingStatus;
use bursar_domain::collections::{drift, CollectionsSummary, Recoveries, StepCount, SummaryTotals};
use bursar_domain::event_type;
use bursar_domain::id::WorkspaceId;
use bursar_domain::invoice::Invoice;
use bursar_store::documents::{self, BILLING_STATUS, INVOICE};
use bursar_store::Tx;
use serde_json::Value;

use crate::error::Error;
use crate::App;

/// The summary of `workspace_id` at `now`.
pub async fn summary(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    now: bursar_domain::time::Timestamp,
) -> Result<CollectionsSummary, Error> {
    let accounts = bursar_store::collections::accounts(tx, Some(workspace_id)).await?;
    let ids: Vec<&str> = accounts.iter().map(|(_, id)| id.as_str()).collect();
    let stored: Vec<(String, CustomerBillingStatus)> =
        documents::get_many(tx, BILLING_STATUS, workspace_id, &ids).await?;
    let mut statuses = BTreeMap::new();
    let mut steps: BTreeMap<(Option<String>, u32, Option<u16>), u64> = BTreeMap::new();
    for (_, status) in &stored {
        *statuses
            .entry(status.status.as_str().to_owned())
            .or_insert(0) += 1;
        if let Some(p) = &status.position {
            let key = (
                p.policy_id.as_ref().map(|i| i.to_string()),
                p.policy_version,
                p.applied,
            );
            *steps.entry(key).or_insert(0) += 1;
        }
    }
    let invoices: Vec<Invoice> =
        documents::find_in_many(tx, INVOICE, workspace_id, "customer_id", &ids).await?;
    Ok(CollectionsSummary {
        object: "collections_summary".into(),
        statuses,
        steps: steps
            .into_iter()
            .map(|((policy_id, policy_version, step), accounts)| StepCount {
                policy_id,
                policy_version,
                step,
                accounts,
            })
            .collect(),
        recoveries: recoveries(tx, workspace_id).await?,
        retries: retries(tx, workspace_id).await?,
        bad_debt: drift(&invoices, now),
    })
}

async fn payloads(tx: &mut Tx, ws: &WorkspaceId, kind: &str) -> Result<Vec<Value>, Error> {
    let bodies = bursar_store::collections::event_payloads(tx, ws, kind).await?;
    Ok(bodies
        .iter()
        .filter_map(|b| serde_json::from_str(b).ok())
        .collect())
}

fn version_key(payload: &Value) -> (Option<String>, u32) {
    (
        payload["policy_id"].as_str().map(str::to_owned),
        payload["policy_version"].as_u64().unwrap_or(0) as u32,
    )
}

async fn recoveries(tx: &mut Tx, ws: &WorkspaceId) -> Result<Vec<Recoveries>, Error> {
    let mut by_version: BTreeMap<(Option<String>, u32), (Recoveries, i64)> = BTreeMap::new();
    for started in payloads(tx, ws, event_type::DUNNING_STARTED).await? {
        let key = version_key(&started);
        by_version.entry(key).or_default().0.started += 1;
    }
    for recovered in payloads(tx, ws, event_type::DUNNING_RECOVERED).await? {
        let key = version_key(&recovered);
        let (entry, seconds) = by_version.entry(key).or_default();
        entry.recovered += 1;
        *seconds += recovered["seconds_in_dunning"].as_i64().unwrap_or(0);
        if let Some(amounts) = recovered["recovered_by_retries"].as_object() {
            for (currency, amount) in amounts {
                let total = entry
                    .recovered_by_retries
                    .entry(currency.clone())
                    .or_insert(0);
                *total = total.saturating_add(amount.as_i64().unwrap_or(0));
            }
        }
    }
    Ok(by_version
        .into_iter()
        .map(|((policy_id, policy_version), (mut r, seconds))| {
            r.policy_id = policy_id;
            r.policy_version = policy_version;
            r.recovery_rate = if r.started == 0 {
                0.0
            } else {
                r.recovered as f64 / r.started as f64
            };
            r.mean_seconds_to_recovery = (r.recovered > 0).then(|| seconds / r.recovered as i64);
            r.seconds_to_recovery = seconds;
            r
        })
        .collect())
}

/// Charges by outcome (`dunning.retry_attempted`), and retries skipped (from the steps).
async fn retries(tx: &mut Tx, ws: &WorkspaceId) -> Result<BTreeMap<String, u64>, Error> {
    let mut counts = BTreeMap::new();
    let charged = payloads(tx, ws, event_type::DUNNING_RETRY_ATTEMPTED).await?;
    let steps = payloads(tx, ws, event_type::DUNNING_STEP_EXECUTED).await?;
    let skipped = steps.iter().filter(|s| s["retry"]["result"] == "skipped");
    for retry in charged
        .iter()
        .map(|c| &c["retry"])
        .chain(skipped.map(|s| &s["retry"]))
    {
        let Some(result) = retry["result"].as_str() else {
            continue;
        };
        let key = retry["class"].as_str().unwrap_or(result).to_owned();
        *counts.entry(key).or_insert(0) += 1;
    }
    Ok(counts)
}

/// Every workspace's summary, added up (see [`SummaryTotals`]).
pub async fn summary_totals(app: &App) -> Result<SummaryTotals, Error> {
    let accounts = app
        .db
        .read(|tx: &mut Tx| Box::pin(bursar_store::collections::accounts(tx, None)))
        .await?;
    let mut workspaces: Vec<WorkspaceId> = accounts.into_iter().map(|(ws, _)| ws).collect();
    workspaces.dedup();
    let now = app.db.now();
    let mut totals = SummaryTotals::default();
    for ws in workspaces {
        let one = app
            .db
            .read(move |tx: &mut Tx| Box::pin(async move { summary(tx, &ws, now).await }))
            .await?;
        totals.add(&one);
    }
    Ok(totals)
}

/// A gauge series' name and labels.
type SeriesKey = (&'static str, Vec<(&'static str, String)>);
/// One gauge series: name, labels, value.
type Series = (&'static str, Vec<(&'static str, String)>, f64);

/// The series set by the last refresh: a series that has no value any more is set to 0.
static LAST_SERIES: Mutex<Vec<SeriesKey>> = Mutex::new(Vec::new());

/// Sets the collections gauges from every workspace's summary (the scheduler's hourly job):
/// `bursar_billing_accounts{status}`, `bursar_dunning_accounts{step}`,
/// `bursar_dunning_recovery_rate{policy_version}`, `bursar_dunning_recovered_amount{policy_version,currency}`,
/// `bursar_dunning_time_to_recovery_seconds{policy_version}`, `bursar_dunning_retry_outcomes{outcome}`,
/// `bursar_bad_debt_written_off{currency}`, `bursar_bad_debt_collectible{currency}`.
pub async fn refresh_gauges(app: &App) -> Result<SummaryTotals, Error> {
    let totals = summary_totals(app).await?;
    let series = gauge_series(&totals);
    let mut last = LAST_SERIES.lock().unwrap_or_else(|e| e.into_inner());
    for (name, labels) in last.iter() {
        if !series.iter().any(|(n, l, _)| n == name && l == labels) {
            metrics::gauge!(*name, labels).set(0.0);
        }
    }
    for (name, labels, value) in &series {
        metrics::gauge!(*name, labels).set(*value);
    }
    *last = series.into_iter().map(|(n, l, _)| (n, l)).collect();
    Ok(totals)
}

fn gauge_series(totals: &SummaryTotals) -> Vec<Series> {
    let mut series: Vec<Series> = Vec::new();
    for (status, n) in &totals.statuses {
        series.push((
            "bursar_billing_accounts",
            vec![("status", status.clone())],
            *n as f64,
        ));
    }
    for (step, n) in &totals.steps {
        let step = step.map_or_else(|| "none".to_owned(), |s| s.to_string());
        series.push(("bursar_dunning_accounts", vec![("step", step)], *n as f64));
    }
    for (version, r) in &totals.recoveries {
        let v = || ("policy_version", version.to_string());
        series.push(("bursar_dunning_recovery_rate", vec![v()], r.recovery_rate()));
        series.push((
            "bursar_dunning_time_to_recovery_seconds",
            vec![v()],
            r.mean_seconds_to_recovery(),
        ));
        for (currency, amount) in &r.recovered_by_retries {
            let labels = vec![v(), ("currency", currency.clone())];
            series.push(("bursar_dunning_recovered_amount", labels, *amount as f64));
        }
    }
    for (class, n) in &totals.retries {
        series.push((
            "bursar_dunning_retry_outcomes",
            vec![("outcome", class.clone())],
            *n as f64,
        ));
    }
    for (currency, (written_off, collectible)) in &totals.bad_debt {
        let c = || vec![("currency", currency.clone())];
        series.push(("bursar_bad_debt_written_off", c(), *written_off as f64));
        series.push(("bursar_bad_debt_collectible", c(), *collectible as f64));
    }
    series
}
