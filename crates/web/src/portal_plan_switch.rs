//! Switching plans in the portal (`/portal/{handle}/plans/{id}/lines/{line}/switch`): the
//! plan page offers each switchable line the shop's other plans; a GET previews the switch
//! (what each invoice changes by, what is charged or credited now), the form on it applies
//! the switch. Both are core operations; these handlers only read forms and render pages.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bursar_core::portal_plan_switch::{preview_switch, switch_plan, PlanOption};
use bursar_core::portal_plans::{plan, Plan};
use bursar_core::App;
use bursar_domain::money::Currency;
use serde::Deserialize;

use crate::frame::{error_page, not_found, see_other, Frame};
use crate::i18n::Tr;
use crate::portal_visit::{bad_field, day, PortalVisit};

/// `amount` of the contract's currency.
pub(crate) fn money_of(plan: &Plan, amount: i64) -> String {
    match Currency::from_code(&plan.contract.currency) {
        Some(currency) => currency.format(amount),
        None => format!("{amount} {}", plan.contract.currency),
    }
}

/// What a change charges or credits now for the rest of the period ending at `end`.
pub(crate) fn charged_now(
    tr: &Tr,
    plan: &Plan,
    prorated: i64,
    end: Option<bursar_domain::time::Timestamp>,
) -> String {
    match (prorated, end) {
        (0, _) | (_, None) => tr.t("seats-nothing-now"),
        (amount, Some(end)) if amount > 0 => tr.t2(
            "seats-charged-now",
            ("amount", &money_of(plan, amount)),
            ("date", &day(Some(end))),
        ),
        (amount, Some(end)) => tr.t2(
            "seats-credited-now",
            ("amount", &money_of(plan, -amount)),
            ("date", &day(Some(end))),
        ),
    }
}

/// A line's "switch to" form on the plan page.
pub struct SwitchForm {
    pub line_id: String,
    pub name: String,
    /// (product id, "Team: 25.00 USD a month per seat").
    pub options: Vec<(String, String)>,
}

/// The forms of the lines of `found` that may switch plans (those with options).
pub fn switch_forms(
    tr: &Tr,
    found: &Plan,
    options: &[(String, Vec<PlanOption>)],
) -> Vec<SwitchForm> {
    options
        .iter()
        .filter(|(_, offered)| !offered.is_empty())
        .filter_map(|(line_id, offered)| {
            let line = found.lines.iter().find(|l| &l.line_id == line_id)?;
            Some(SwitchForm {
                line_id: line_id.clone(),
                name: line.product_name.clone(),
                options: offered
                    .iter()
                    .map(|o| {
                        let amount = money_of(found, o.unit_amount);
                        let label = tr.t2("plan-option", ("plan", &o.name), ("amount", &amount));
                        (o.product_id.clone(), label)
                    })
                    .collect(),
            })
        })
        .collect()
}

#[derive(Debug, Default, Deserialize)]
pub struct SwitchQuery {
    #[serde(default)]
    product_id: String,
}

#[derive(Template)]
#[template(path = "shop/portal_plan_switch.html")]
struct SwitchPage {
    frame: Frame,
    portal_path: String,
    plan_id: String,
    line_id: String,
    product_id: String,
    /// The switch, the new invoices and what is charged now, as sentences.
    summary: Vec<String>,
}

/// The preview of a plan switch, with the button that applies it.
pub async fn preview(
    State(app): State<App>,
    Path((handle, id, line)): Path<(String, String, String)>,
    Query(query): Query<SwitchQuery>,
    headers: HeaderMap,
) -> Response {
    let (portal, signed_in) = match PortalVisit::signed_in_get(&app, &handle, &headers).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if query.product_id.is_empty() {
        return bad_field(&portal, "product_id");
    }
    let shop = &portal.visit.shop;
    let (found, preview) = match (
        plan(&app, shop, &signed_in, &id).await,
        preview_switch(&app, shop, &signed_in, &id, &line, &query.product_id).await,
    ) {
        (Ok(Some(found)), Ok(Some(preview))) => (found, preview),
        (Ok(None), _) | (_, Ok(None)) => return not_found(),
        (Err(error), _) | (_, Err(error)) => return error_page(&error),
    };
    let tr = &portal.visit.tr;
    let from = found
        .lines
        .iter()
        .find(|l| l.line_id == line)
        .map(|l| l.product_name.clone())
        .unwrap_or_default();
    let now = charged_now(tr, &found, preview.prorated, preview.period_end);
    let quantity = preview.quantity.to_string();
    let summary = vec![
        tr.args(
            "switch-change",
            &[
                ("from", &from),
                ("to", &preview.to.name),
                ("quantity", &quantity),
            ],
        ),
        tr.t1(
            "seats-per-period",
            "amount",
            money_of(&found, preview.per_period),
        ),
        now,
    ];
    let page = SwitchPage {
        frame: portal.visit.frame(tr.t("switch-title")),
        portal_path: portal.path(),
        plan_id: id,
        line_id: line,
        product_id: query.product_id,
        summary,
    };
    portal.visit.respond(StatusCode::OK, &page)
}

/// Applies a previewed plan switch, back to the plan.
pub async fn switch(
    State(app): State<App>,
    Path((handle, id, line)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (portal, signed_in) =
        match PortalVisit::signed_in_post(&app, &handle, &headers, &body).await {
            Ok(found) => found,
            Err(page) => return page,
        };
    let form: SwitchQuery = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if form.product_id.is_empty() {
        return bad_field(&portal, "product_id");
    }
    let shop = &portal.visit.shop;
    match switch_plan(&app, shop, &signed_in, &id, &line, &form.product_id).await {
        Ok(Some(_)) => see_other(&format!("{}/plans/{id}?changed=plan", portal.path()), None),
        Ok(None) => not_found(),
        Err(error) => error_page(&error),
    }
}
