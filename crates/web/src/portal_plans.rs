//! The portal's plans (`/portal/{handle}/plans/{id}`): a contract's lines, its next invoice
//! and its renewal, with forms that cancel or resume the renewal and change a line's seats
//! after a preview of the proration. Each form is a core operation; these handlers only read
//! forms and render pages.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bursar_core::portal_plan_switch::options;
use bursar_core::portal_plans::{
    change_quantity, change_renewal, plan, preview_quantity, Plan, RenewalChange,
};
use bursar_core::App;
use serde::Deserialize;

use crate::frame::{error_page, not_found, see_other, Frame};
use crate::i18n::Tr;
use crate::portal_plan_switch::{charged_now, money_of, switch_forms, SwitchForm};
use crate::portal_visit::{bad_field, day, PortalVisit};
use crate::usage_chart::{chart, UsageChart};

/// The most seats a line may be set to from the portal.
const SEATS_MAX: i64 = 10_000;

/// A line as the plan page shows it.
pub struct LineRow {
    pub id: String,
    pub name: String,
    pub quantity: i64,
    pub amount: String,
    /// Its seats may be changed here (not a usage line).
    pub seats: bool,
}

#[derive(Template)]
#[template(path = "shop/portal_plan.html")]
struct PlanPage {
    frame: Frame,
    portal_path: String,
    plan_id: String,
    status: &'static str,
    /// After a change: what changed.
    notice: Option<String>,
    lines: Vec<LineRow>,
    next_invoice: Option<String>,
    /// The renewal, as a sentence.
    renewal: String,
    can_cancel: bool,
    can_resume: bool,
    /// Each rated meter's usage, this period against the last.
    usage: Vec<UsageChart>,
    /// The lines that may switch to another of the shop's plans.
    switches: Vec<SwitchForm>,
}

#[derive(Debug, Default, Deserialize)]
pub struct PlanQuery {
    changed: Option<String>,
}

/// "Renews on …; the renewal can be canceled until …" and its other cases.
pub fn renewal_sentence(tr: &Tr, plan: &Plan) -> String {
    let term = &plan.contract.term;
    let Some(end) = term.end else {
        return tr.t("plan-open-ended");
    };
    let end = day(Some(end));
    if plan.contract.renewal_canceled || !term.auto_renew {
        return tr.t1("plan-ends", "date", &end);
    }
    match plan.cancel_deadline {
        Some(deadline) if plan.can_cancel_renewal => tr.t2(
            "plan-renews-cancel-until",
            ("date", &end),
            ("deadline", &day(Some(deadline))),
        ),
        _ => tr.t1("plan-renews-notice-passed", "date", &end),
    }
}

/// The first line's product: what a customer calls the plan.
pub fn plan_name(plan: &Plan) -> String {
    plan.lines
        .first()
        .map(|l| l.product_name.clone())
        .unwrap_or_else(|| plan.contract.id.clone())
}

pub async fn plan_page(
    State(app): State<App>,
    Path((handle, id)): Path<(String, String)>,
    Query(query): Query<PlanQuery>,
    headers: HeaderMap,
) -> Response {
    let (portal, signed_in) = match PortalVisit::signed_in_get(&app, &handle, &headers).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let signed_in = &signed_in;
    let found = match plan(&app, &portal.visit.shop, signed_in, &id).await {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(),
        Err(error) => return error_page(&error),
    };
    let metered = bursar_core::portal_usage::usage(
        &app,
        &portal.visit.shop.workspace_id,
        &found.contract,
        app.now(),
    )
    .await;
    let metered = match metered {
        Ok(metered) => metered,
        Err(error) => return error_page(&error),
    };
    let options = options(&app, &portal.visit.shop, &found.contract).await;
    let options = match options {
        Ok(options) => options,
        Err(error) => return error_page(&error),
    };
    let tr = &portal.visit.tr;
    let notice = match query.changed.as_deref() {
        Some("renewal") if found.contract.renewal_canceled => Some(tr.t("plan-renewal-canceled")),
        Some("renewal") => Some(tr.t("plan-renewal-resumed")),
        Some("seats") => Some(tr.t("plan-seats-changed")),
        Some("plan") => Some(tr.t("plan-switched")),
        _ => None,
    };
    let page = PlanPage {
        frame: portal
            .visit
            .frame(tr.t1("plan-title", "plan", plan_name(&found))),
        portal_path: portal.path(),
        plan_id: found.contract.id.clone(),
        status: found.contract.status.as_str(),
        notice,
        lines: found
            .lines
            .iter()
            .map(|l| LineRow {
                id: l.line_id.clone(),
                name: l.product_name.clone(),
                quantity: l.quantity,
                amount: if l.usage {
                    tr.t("plan-by-usage")
                } else {
                    money_of(&found, l.amount)
                },
                seats: !l.usage && !found.contract.status.ended(),
            })
            .collect(),
        next_invoice: found.next_invoice_at.map(|at| {
            tr.t2(
                "plan-next-invoice",
                ("date", &day(Some(at))),
                ("amount", &money_of(&found, found.next_invoice_amount)),
            )
        }),
        renewal: renewal_sentence(tr, &found),
        can_cancel: found.can_cancel_renewal,
        can_resume: found.can_resume_renewal,
        usage: metered.iter().map(|u| chart(tr, u)).collect(),
        switches: switch_forms(tr, &found, &options),
    };
    portal.visit.respond(StatusCode::OK, &page)
}

#[derive(Debug, Default, Deserialize)]
struct RenewalForm {
    #[serde(default)]
    renewal: String,
}

/// Cancels (`renewal=cancel`) or resumes (`renewal=resume`) the renewal, back to the plan.
pub async fn renewal(
    State(app): State<App>,
    Path((handle, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (portal, signed_in) =
        match PortalVisit::signed_in_post(&app, &handle, &headers, &body).await {
            Ok(found) => found,
            Err(page) => return page,
        };
    let signed_in = &signed_in;
    let form: RenewalForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let change = match form.renewal.as_str() {
        "cancel" => RenewalChange::Cancel,
        "resume" => RenewalChange::Resume,
        _ => return bad_field(&portal, "renewal"),
    };
    match change_renewal(&app, &portal.visit.shop, signed_in, &id, change).await {
        Ok(Some(_)) => see_other(
            &format!("{}/plans/{id}?changed=renewal", portal.path()),
            None,
        ),
        Ok(None) => not_found(),
        Err(error) => error_page(&error),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct SeatsForm {
    #[serde(default)]
    quantity: String,
}

/// The seats a form asks for: a whole number from 1 to [`SEATS_MAX`].
fn seats(form: &SeatsForm) -> Option<i64> {
    form.quantity
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|q| (1..=SEATS_MAX).contains(q))
}

#[derive(Template)]
#[template(path = "shop/portal_plan_change.html")]
struct ChangePage {
    frame: Frame,
    portal_path: String,
    plan_id: String,
    line_id: String,
    quantity: i64,
    /// The change, the new invoices and what is charged now, as sentences.
    summary: Vec<String>,
}

/// The preview of a seat change, with the button that applies it.
pub async fn preview_seats(
    State(app): State<App>,
    Path((handle, id, line)): Path<(String, String, String)>,
    Query(form): Query<SeatsForm>,
    headers: HeaderMap,
) -> Response {
    let (portal, signed_in) = match PortalVisit::signed_in_get(&app, &handle, &headers).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let signed_in = &signed_in;
    let Some(quantity) = seats(&form) else {
        return bad_field(&portal, "quantity");
    };
    let shop = &portal.visit.shop;
    let (found, preview) = match (
        plan(&app, shop, signed_in, &id).await,
        preview_quantity(&app, shop, signed_in, &id, &line, quantity).await,
    ) {
        (Ok(Some(found)), Ok(Some(preview))) => (found, preview),
        (Ok(None), _) | (_, Ok(None)) => return not_found(),
        (Err(error), _) | (_, Err(error)) => return error_page(&error),
    };
    let tr = &portal.visit.tr;
    let name = found
        .lines
        .iter()
        .find(|l| l.line_id == line)
        .map(|l| l.product_name.clone())
        .unwrap_or_default();
    let now = charged_now(tr, &found, preview.prorated, preview.period_end);
    let summary = vec![
        tr.args(
            "seats-change",
            &[
                ("product", &name),
                ("from", &preview.from.to_string()),
                ("to", &preview.to.to_string()),
            ],
        ),
        tr.t1(
            "seats-per-period",
            "amount",
            money_of(&found, preview.per_period),
        ),
        now,
    ];
    let page = ChangePage {
        frame: portal.visit.frame(tr.t("seats-title")),
        portal_path: portal.path(),
        plan_id: id,
        line_id: line,
        quantity,
        summary,
    };
    portal.visit.respond(StatusCode::OK, &page)
}

/// Applies a previewed seat change, back to the plan.
pub async fn change_seats(
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
    let signed_in = &signed_in;
    let form: SeatsForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let Some(quantity) = seats(&form) else {
        return bad_field(&portal, "quantity");
    };
    let shop = &portal.visit.shop;
    match change_quantity(&app, shop, signed_in, &id, &line, quantity).await {
        Ok(Some(_)) => see_other(&format!("{}/plans/{id}?changed=seats", portal.path()), None),
        Ok(None) => not_found(),
        Err(error) => error_page(&error),
    }
}
