//! Saved payment methods: `POST /v1/customers/{id}/payment_method_setups` opens a provider's
//! hosted page where the customer saves a card; the provider's `setup_intent.succeeded` webhook
//! records it; `GET /v1/customers/{id}/payment_methods` lists them; orders are then charged
//! off-session with `POST /v1/orders/{id}/pay`, still confirm-before-commit. One may be made the
//! default (`…/payment_methods/{method}/default`: two-click checkouts charge it) or removed
//! (`…/payment_methods/{method}/detach`: detached at the provider, then forgotten).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bursar_core::payment_methods::{record_setup, start_setup, NewSetup};
use bursar_core::saved_methods;
use bursar_domain::commerce::{PaymentMethod, PaymentMethodSetup};
use bursar_domain::id::{CustomerId, PaymentMethodId};
use bursar_domain::money::Currency;
use bursar_store::documents::{self, PAYMENT_METHOD};
use bursar_store::{Tx, Value};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Mutation, Principal, QueryParams};
use crate::list::ListResponse;
use crate::payments;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_setup))
        .routes(routes!(list_payment_methods))
        .routes(routes!(make_default))
        .routes(routes!(detach))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSetupRequest {
    /// `test` (default), `stripe`, or a connection id.
    pub provider: Option<String>,
    /// The currency later charges will be in.
    #[schema(value_type = Currency)]
    pub currency: String,
    /// Where the customer returns: an absolute `http(s)` URL of at most 2000 bytes (default:
    /// the test provider's page).
    #[schema(format = "uri", pattern = "^https?://", max_length = 2000)]
    pub success_url: Option<String>,
    /// As `success_url`, for a customer who gives up.
    #[schema(format = "uri", pattern = "^https?://", max_length = 2000)]
    pub cancel_url: Option<String>,
}

/// Start saving a customer's payment method: send the customer to `url`. The method is saved
/// when the provider confirms it (its `setup_intent.succeeded` webhook).
#[utoipa::path(post, path = "/v1/customers/{id}/payment_method_setups", tag = "payments",
    request_body = CreateSetupRequest,
    params(("id" = CustomerId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = PaymentMethodSetup), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("api_key" = [])))]
async fn create_setup(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
    request: Mutation<CreateSetupRequest>,
) -> Result<Response, ApiError> {
    let body = request.body;
    let base = payments::base_url(&state, &headers);
    let setup = NewSetup {
        customer: id,
        currency: body.currency,
        provider: body.provider,
        success_url: body.success_url,
        cancel_url: body.cancel_url,
    };
    let started = start_setup(&state, &principal.workspace_id, setup, &base).await?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move { Ok((StatusCode::OK, record_setup(&mut cx, started).await?)) })
        })
        .await
}

/// A customer's saved payment methods, newest first.
#[utoipa::path(get, path = "/v1/customers/{id}/payment_methods", tag = "payments",
    params(("id" = CustomerId, Path), ("limit" = Option<i64>, Query), ("starting_after" = Option<PaymentMethodId>, Query), ("ending_before" = Option<PaymentMethodId>, Query)),
    responses((status = 200, body = ListResponse<PaymentMethod>), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn list_payment_methods(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Response, ApiError> {
    let page = crate::list::page_params(&query, &[], |v, param| {
        PaymentMethodId::parse(v, param).map(String::from)
    })?;
    let workspace_id = principal.workspace_id.clone();
    let page = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                bursar_core::customers::require(tx, &workspace_id, &id).await?;
                let customer = Some(("customer_id", Value::from(id)));
                let page = documents::list::<PaymentMethod>(
                    tx,
                    PAYMENT_METHOD,
                    &workspace_id,
                    &page,
                    customer,
                )
                .await?;
                Ok::<_, bursar_core::Error>(page)
            })
        })
        .await?;
    Ok(principal
        .json(ListResponse::new(
            "/v1/customers/{id}/payment_methods",
            page,
            |m| m,
        ))
        .into_response())
}

/// Make a saved method the customer's default: the storefront's two-click checkout charges it
/// (else the newest). The customer's previous default no longer is.
#[utoipa::path(post, path = "/v1/customers/{id}/payment_methods/{method}/default", tag = "payments",
    params(("id" = CustomerId, Path), ("method" = PaymentMethodId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = PaymentMethod), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn make_default(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, method)): Path<(String, String)>,
    request: Mutation<serde_json::Value>,
) -> Result<Response, ApiError> {
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let method = saved_methods::make_default(&mut cx, &id, &method).await?;
                Ok((StatusCode::OK, method))
            })
        })
        .await
}

/// Remove a saved method: it is detached from the customer at the provider (so it can no
/// longer be charged), then forgotten here.
#[utoipa::path(post, path = "/v1/customers/{id}/payment_methods/{method}/detach", tag = "payments",
    params(("id" = CustomerId, Path), ("method" = PaymentMethodId, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = PaymentMethod), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("api_key" = [])))]
async fn detach(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, method)): Path<(String, String)>,
    request: Mutation<serde_json::Value>,
) -> Result<Response, ApiError> {
    saved_methods::detach(&state, &principal.workspace_id, &id, &method).await?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                let method = saved_methods::forget(&mut cx, &id, &method).await?;
                Ok((StatusCode::OK, method))
            })
        })
        .await
}
