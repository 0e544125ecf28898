//! `/v1/storefront`: the workspace's public shop (`/shop/{handle}`): its address, name,
//! currency, colour and pages, and whether it is open.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use bursar_domain::commerce::parse_text;
use bursar_domain::customer::Email;
use bursar_domain::id::{ProductId, ProviderId};
use bursar_domain::money::Currency;
use bursar_domain::storefront::{
    parse_color, parse_handle, ShopPages, StorefrontSettings, PLANS_MAX,
};
use bursar_store::Tx;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{double_option, Mutation, Principal};
use crate::livemode::Json;
use crate::AppState;
use bursar_core::storefront::{check_challenge, load, ChallengeRequest, StorefrontUpdate};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_storefront, update_storefront))
}

/// The workspace's storefront settings (404 until it has one).
#[utoipa::path(get, path = "/v1/storefront", tag = "storefront",
    responses((status = 200, body = StorefrontSettings), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn get_storefront(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<StorefrontSettings>, ApiError> {
    let workspace_id = principal.workspace_id.clone();
    let settings = state
        .db
        .read(move |tx: &mut Tx| Box::pin(async move { load(tx, &workspace_id).await }))
        .await?
        .ok_or_else(|| {
            bursar_core::Error::new(
                bursar_core::ErrorKind::NotFound,
                "resource_missing",
                "This workspace has no storefront yet: create it with POST /v1/storefront.",
            )
        })?;
    Ok(principal.json(settings))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateStorefrontRequest {
    /// The shop's address, `/shop/{handle}` (required the first time): 2 to 40 lower-case
    /// letters, digits or `-`, not starting with `-`; unique among all shops.
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{1,39}$")]
    pub handle: Option<String>,
    /// Open the shop to visitors (a new shop is closed).
    pub published: Option<bool>,
    /// Shown in the shop's header and titles (default: the handle).
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: Option<String>,
    /// The currency prices are shown and charged in (required the first time).
    #[schema(value_type = Option<Currency>)]
    pub currency: Option<String>,
    /// `#rrggbb`.
    #[schema(pattern = "^#[0-9a-fA-F]{6}$")]
    pub brand_color: Option<String>,
    /// Where buyers write for help; `""` removes it.
    pub support_email: Option<String>,
    /// The shop's pages as plain text (each at most 20,000 characters); an empty one is not
    /// shown. Replaces all five.
    pub pages: Option<ShopPages>,
    /// The payment provider connection (`pp_…`) checkouts pay through; `""` returns to the
    /// workspace's test provider.
    #[schema(max_length = 40)]
    pub payment_provider: Option<String>,
    /// The plans (`prod_…`, at most 20, each once) a subscriber may switch between in the
    /// portal, in the order shown; `[]` turns switching off.
    #[schema(max_items = 20)]
    pub plans: Option<Vec<String>>,
    /// A challenge visitors solve before a checkout or saving a card (Cloudflare Turnstile);
    /// `null` removes it.
    #[serde(default, deserialize_with = "double_option")]
    pub challenge: Option<Option<ChallengeBody>>,
}

/// A challenge provider's keys.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeBody {
    /// `turnstile`.
    pub provider: String,
    /// The widget's site key (public).
    #[schema(min_length = 1, max_length = 200)]
    pub site_key: String,
    /// The secret key: sealed, never shown again (only its last four characters).
    #[schema(min_length = 1, max_length = 200)]
    pub secret_key: String,
    /// The provider's API, for a local stand-in (loopback only where outbound requests may
    /// reach it).
    pub api_base: Option<String>,
}

/// Create or change the workspace's storefront.
#[utoipa::path(post, path = "/v1/storefront", tag = "storefront", request_body = UpdateStorefrontRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = StorefrontSettings), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn update_storefront(
    State(state): State<AppState>,
    principal: Principal,
    request: Mutation<UpdateStorefrontRequest>,
) -> Result<Response, ApiError> {
    let mut body = request.body;
    let challenge = match body.challenge.take() {
        Some(Some(asked)) => {
            let asked = ChallengeRequest {
                provider: asked.provider,
                site_key: asked.site_key,
                secret_key: asked.secret_key,
                api_base: asked.api_base,
            };
            Some(Some(
                check_challenge(&state.outbound, state.db.sealer()?, asked).await?,
            ))
        }
        Some(None) => Some(None),
        None => None,
    };
    let mut changes = parse_update(body)?;
    changes.challenge = challenge;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let settings = bursar_core::storefront::update(&mut cx, changes).await?;
                Ok((StatusCode::OK, settings))
            })
        })
        .await
}

fn parse_update(body: UpdateStorefrontRequest) -> Result<StorefrontUpdate, ApiError> {
    if let Some(pages) = &body.pages {
        pages.check()?;
    }
    let support_email = body
        .support_email
        .map(|email| {
            if email.is_empty() {
                Ok(None)
            } else {
                Email::parse(&email, "support_email").map(|e| Some(e.as_str().to_owned()))
            }
        })
        .transpose()?;
    Ok(StorefrontUpdate {
        handle: body
            .handle
            .map(|h| parse_handle(&h, "handle"))
            .transpose()?,
        published: body.published,
        name: body.name.map(|n| parse_text(&n, "name", 100)).transpose()?,
        currency: body
            .currency
            .map(|c| Currency::parse(&c, "currency"))
            .transpose()?,
        brand_color: body
            .brand_color
            .map(|c| parse_color(&c, "brand_color"))
            .transpose()?,
        support_email,
        pages: body.pages,
        payment_provider: body
            .payment_provider
            .map(|p| match p.as_str() {
                "" => Ok(None),
                id => ProviderId::parse(id, "payment_provider").map(|id| Some(id.to_string())),
            })
            .transpose()?,
        plans: body.plans.map(|plans| parse_plans(&plans)).transpose()?,
        challenge: None,
    })
}

/// The plans of a request: product ids, at most [`PLANS_MAX`], none twice.
fn parse_plans(plans: &[String]) -> Result<Vec<String>, ApiError> {
    if plans.len() > PLANS_MAX {
        return Err(bursar_core::Error::invalid(
            "parameter_invalid",
            Some("plans".into()),
            format!("A shop offers at most {PLANS_MAX} plans."),
        )
        .into());
    }
    let mut parsed: Vec<String> = Vec::with_capacity(plans.len());
    for (i, plan) in plans.iter().enumerate() {
        let id = ProductId::parse(plan, &format!("plans[{i}]"))?.to_string();
        if parsed.contains(&id) {
            return Err(bursar_core::Error::invalid(
                "parameter_invalid",
                Some(format!("plans[{i}]")),
                format!("'{id}' is listed twice."),
            )
            .into());
        }
        parsed.push(id);
    }
    Ok(parsed)
}
