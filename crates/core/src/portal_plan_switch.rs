//! Switching plans in the portal: a contract line that sells one of the shop's plans (its
//! `plans` setting) may change to another of them at that plan's default monthly price, the
//! seats kept. The switch is the line removed and the new plan's line added, appended together;
//! its preview derives the log with both appended, so the proration shown is the contract's own.

use bursar_domain::commerce::{Interval, Price, PriceType};
use bursar_domain::contract::{self, line_amount, Contract, ContractLine, LogEntry, Operation};
use bursar_domain::subscription;
use bursar_domain::time::Timestamp;
use bursar_store::documents::{self, PRICE, PRODUCT};
use bursar_store::Tx;

use crate::error::Error;
use crate::portal::Portal;
use crate::portal_plans::{portal_cause, reached};
use crate::storefront::Shop;
use crate::App;

/// A plan a line may switch to, at its monthly price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOption {
    pub product_id: String,
    pub name: String,
    /// Per seat and month, minor units of the contract's currency.
    pub unit_amount: i64,
}

/// The plans each line of `contract` may switch to, by line id: none for a line that sells no
/// plan of the shop, bills by usage, or for an ended contract. Two statements.
pub async fn options(
    app: &App,
    shop: &Shop,
    contract: &Contract,
) -> Result<Vec<(String, Vec<PlanOption>)>, Error> {
    let (workspace_id, plans) = (shop.workspace_id.clone(), shop.settings.plans.clone());
    let contract = contract.clone();
    app.db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { options_in(tx, &workspace_id, &plans, &contract).await })
        })
        .await
}

async fn options_in(
    tx: &mut Tx,
    workspace_id: &bursar_domain::id::WorkspaceId,
    plans: &[String],
    contract: &Contract,
) -> Result<Vec<(String, Vec<PlanOption>)>, Error> {
    let switchable: Vec<&ContractLine> = contract
        .lines
        .iter()
        .filter(|l| l.usage.is_none() && plans.contains(&l.product_id))
        .collect();
    if switchable.is_empty() || contract.status.ended() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = plans.iter().map(String::as_str).collect();
    let products: Vec<(String, serde_json::Value)> =
        documents::get_many(tx, PRODUCT, workspace_id, &ids).await?;
    let prices: Vec<Price> =
        documents::find_in(tx, PRICE, workspace_id, "product_id", &ids).await?;
    let offered: Vec<PlanOption> = plans
        .iter()
        .filter_map(|plan| {
            let (_, product) = products.iter().find(|(id, _)| id == plan)?;
            (product["status"] == "active").then_some(())?;
            let price = monthly_price(&prices, plan, &contract.currency)?;
            Some(PlanOption {
                product_id: plan.clone(),
                name: product["name"].as_str().unwrap_or(plan).to_owned(),
                unit_amount: price.unit_amount,
            })
        })
        .collect();
    Ok(switchable
        .into_iter()
        .map(|line| {
            let others = offered
                .iter()
                .filter(|o| o.product_id != line.product_id)
                .cloned()
                .collect();
            (line.id.clone(), others)
        })
        .collect())
}

/// The newest active default price of `product` billed every month in `currency`.
fn monthly_price<'a>(prices: &'a [Price], product: &str, currency: &str) -> Option<&'a Price> {
    prices
        .iter()
        .filter(|p| {
            p.product_id.as_str() == product
                && p.active
                && p.price_book_id.is_none()
                && p.price_type == PriceType::Recurring
                && p.currency.code() == currency
                && p.recurring
                    .is_some_and(|r| r.interval == Interval::Month && r.interval_count == 1)
        })
        .max_by(|a, b| a.created_at.cmp(&b.created_at))
}

/// A plan switch as previewed before it is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchPreview {
    pub line_id: String,
    pub to: PlanOption,
    pub quantity: i64,
    /// How much each later period's invoice changes by (minor units; negative is less).
    pub per_period: i64,
    /// Charged (positive) or credited (negative) now for the rest of the current period.
    pub prorated: i64,
    pub period_end: Option<Timestamp>,
}

/// What switching line `line_id` of contract `id` to plan `product_id` would charge, without
/// changing anything; refused when the line cannot switch to that plan. `None` when the
/// contract is not the session's.
pub async fn preview_switch(
    app: &App,
    shop: &Shop,
    portal: &Portal,
    id: &str,
    line_id: &str,
    product_id: &str,
) -> Result<Option<SwitchPreview>, Error> {
    let (workspace_id, id, now) = (shop.workspace_id.clone(), id.to_owned(), app.now());
    let (portal, plans) = (portal.clone(), shop.settings.plans.clone());
    let found = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let Some((contract, log)) = reached(tx, &workspace_id, &portal, &id).await? else {
                    return Ok(None);
                };
                let options = options_in(tx, &workspace_id, &plans, &contract).await?;
                Ok::<_, Error>(Some((contract, log, options)))
            })
        })
        .await?;
    let Some((contract, log, options)) = found else {
        return Ok(None);
    };
    let target = chosen(&options, line_id, product_id)?;
    Ok(Some(switch_preview(&contract, &log, line_id, target, now)?))
}

/// The option `product_id` among those of line `line_id`, or a 400 naming the field.
fn chosen(
    options: &[(String, Vec<PlanOption>)],
    line_id: &str,
    product_id: &str,
) -> Result<PlanOption, Error> {
    let Some((_, offered)) = options.iter().find(|(line, _)| line == line_id) else {
        return Err(Error::invalid(
            "parameter_invalid",
            Some("line_id".into()),
            format!("Line '{line_id}' does not sell a plan that can be switched."),
        ));
    };
    offered
        .iter()
        .find(|o| o.product_id == product_id)
        .cloned()
        .ok_or_else(|| {
            Error::invalid(
                "parameter_invalid",
                Some("product_id".into()),
                format!("product_id '{product_id}' is not a plan this line can switch to."),
            )
        })
}

/// The two operations of a switch, as they would join `log` now: the line removed, the new
/// plan's line added with the same seats and timing.
fn switch_entries(
    log: &[LogEntry],
    line: &ContractLine,
    to: &PlanOption,
    now: Timestamp,
) -> [LogEntry; 2] {
    let seq = log.iter().map(|e| e.seq).max().unwrap_or(0) + 1;
    let entry = |seq: u64, operation: Operation| LogEntry {
        seq,
        effective_at: now,
        recorded_at: now,
        operation,
    };
    [
        entry(
            seq,
            Operation::RemoveLine {
                line_id: line.id.clone(),
            },
        ),
        entry(
            seq + 1,
            Operation::AddLine {
                line_id: format!("plan-{}", seq + 1),
                product_id: to.product_id.clone(),
                unit_amount: to.unit_amount,
                quantity: line.quantity,
                timing: line.timing,
                usage: None,
            },
        ),
    ]
}

fn switch_preview(
    contract: &Contract,
    log: &[LogEntry],
    line_id: &str,
    to: PlanOption,
    now: Timestamp,
) -> Result<SwitchPreview, Error> {
    let line = contract
        .lines
        .iter()
        .find(|l| l.id == line_id)
        .ok_or_else(|| Error::not_found("contract line", line_id).with_param("line_id"))?;
    let entries = switch_entries(log, line, &to, now);
    let new_line = match &entries[1].operation {
        Operation::AddLine { line_id, .. } => line_id.clone(),
        _ => String::new(),
    };
    let mut extended = log.to_vec();
    let mut after = None;
    for entry in entries {
        after = Some(contract::validate(&contract.id, &extended, &entry)?.at_entry);
        extended.push(entry);
    }
    let new_amount = after
        .and_then(|c| c.lines.into_iter().find(|l| l.id == new_line))
        .and_then(|l| line_amount(&l));
    let per_period = new_amount
        .unwrap_or(0)
        .saturating_sub(line_amount(line).unwrap_or(0));
    let first_new = extended.len() - 2;
    let ours: Vec<u64> = extended[first_new..].iter().map(|e| e.seq).collect();
    let prorations = subscription::derive(&contract.id, &extended, now)
        .map(|s| s.proration_items)
        .unwrap_or_default();
    let ours: Vec<_> = prorations
        .iter()
        .filter(|p| ours.contains(&p.contract_seq))
        .collect();
    Ok(SwitchPreview {
        line_id: line_id.to_owned(),
        quantity: line.quantity,
        per_period,
        prorated: ours.iter().map(|p| p.amount).fold(0, i64::saturating_add),
        period_end: ours.first().map(|p| p.period_end),
        to,
    })
}

/// Switches line `line_id` of contract `id` to plan `product_id` now, as previewed (the
/// proration follows from the contract's rule). Sent again after it is done (the line is gone,
/// a line of that plan is there), it changes nothing. `None` when the contract is not the
/// session's.
pub async fn switch_plan(
    app: &App,
    shop: &Shop,
    portal: &Portal,
    id: &str,
    line_id: &str,
    product_id: &str,
) -> Result<Option<Contract>, Error> {
    let (id, portal, plans) = (id.to_owned(), portal.clone(), shop.settings.plans.clone());
    let (line_id, product_id) = (line_id.to_owned(), product_id.to_owned());
    app.write(shop.workspace_id.clone(), portal_cause(), move |mut cx| {
        Box::pin(async move {
            let Some((contract, log)) = reached(cx.tx, cx.workspace_id, &portal, &id).await? else {
                return Ok(None);
            };
            let done = contract.lines.iter().all(|l| l.id != line_id)
                && contract.lines.iter().any(|l| l.product_id == product_id);
            if done {
                return Ok(Some(contract));
            }
            let options = options_in(cx.tx, cx.workspace_id, &plans, &contract).await?;
            let target = chosen(&options, &line_id, &product_id)?;
            let line = contract
                .lines
                .iter()
                .find(|l| l.id == line_id)
                .cloned()
                .ok_or_else(|| Error::not_found("contract line", &line_id))?;
            let mut last = contract;
            for entry in switch_entries(&log, &line, &target, cx.now) {
                let done = crate::contracts::operate(&mut cx, &id, entry.operation, None).await?;
                last = done.contract;
            }
            Ok(Some(last))
        })
    })
    .await
}
