//! Saved payment methods: `POST /v1/customers/{id}/payment_method_setups` opens a provider's
//! hosted page where the customer saves a card; the provider's `setup_intent.succeeded` webhook
//! records it; `GET /v1/customers/{id}/payment_methods` lists them; orders are then charged
//! off-session with `POST /v1/orders/{id}/pay`, still confirm-before-commit.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bursar_domain::commerce::PaymentMethod;
use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::id::{CustomerId, PaymentMethodId};
use bursar_domain::money::Currency;
use bursar_payments::SetupRequest;
use bursar_store::documents::{self, PAYMENT_METHOD};
use bursar_store::{customers, Tx, Value};
use serde::{Deserialize, Serialize};
use serde_json::json;
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
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSetupRequest {
    /// `test` (default), `stripe`, or a connection id.
    pub provider: Option<String>,
    /// The currency later charges will be in.
    #[schema(example = "USD")]
    pub currency: String,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
}

/// A hosted page where a customer saves a payment method.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentMethodSetup {
    /// Always `payment_method_setup`.
    pub object: &'static str,
    /// The provider's session id.
    pub id: String,
    pub url: String,
    pub customer_id: String,
    pub provider_id: String,
    pub provider_customer: String,
}

/// Start saving a customer's payment method: send the customer to `url`. The method is saved
/// when the provider confirms it (its `setup_intent.succeeded` webhook).
#[utoipa::path(post, path = "/v1/customers/{id}/payment_method_setups", tag = "payments",
    request_body = CreateSetupRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = PaymentMethodSetup), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("api_key" = [])))]
async fn create_setup(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
    request: Mutation<CreateSetupRequest>,
) -> Result<Response, ApiError> {
    let customer_id =
        CustomerId::parse(&id, "id").map_err(|_| ApiError::not_found("customer", &id))?;
    let body = request.body;
    let currency = Currency::parse(&body.currency, "currency")?;
    let base = payments::base_url(&state, &headers);
    let workspace_id = principal.workspace_id.clone();
    let lookup = customer_id.clone();
    let customer = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { customers::get(tx, &workspace_id, &lookup, false).await })
        })
        .await?
        .ok_or_else(|| ApiError::not_found("customer", &id))?;
    let connection = bursar_core::providers::resolve(
        &state,
        &principal.workspace_id,
        body.provider.as_deref(),
        &base,
    )
    .await?;
    let provider_id = connection.row.provider_id.clone();
    let (pid, cid) = (provider_id.clone(), customer_id.to_string());
    let known = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                bursar_store::payment_providers::provider_customer(tx, &pid, &cid).await
            })
        })
        .await?;
    let setup = SetupRequest {
        attempt_id: format!("{customer_id}-{}", state.db.now().unix_micros()),
        customer_id: customer_id.to_string(),
        provider_customer: known,
        email: customer.email.map(|e| e.as_str().to_owned()),
        name: customer.name.map(|n| n.as_str().to_owned()),
        currency: currency.code().to_owned(),
        success_url: body
            .success_url
            .unwrap_or_else(|| format!("{base}/test-provider/done")),
        cancel_url: body
            .cancel_url
            .unwrap_or_else(|| format!("{base}/test-provider/done?canceled=1")),
    };
    let session = connection
        .provider
        .create_setup(&setup)
        .await
        .map_err(bursar_core::providers::provider_error)?;
    state
        .mutate(&principal, request.idempotency, move |mut cx| {
            Box::pin(async move {
                bursar_store::payment_providers::remember_provider_customer(
                    cx.tx,
                    cx.workspace_id,
                    &provider_id,
                    customer_id.as_str(),
                    &session.provider_customer,
                )
                .await?;
                let object = PaymentMethodSetup {
                    object: "payment_method_setup",
                    id: session.id,
                    url: session.url,
                    customer_id: customer_id.to_string(),
                    provider_id,
                    provider_customer: session.provider_customer,
                };
                cx.emit(NewEvent::new(
                    event_type::CUSTOMER_PAYMENT_METHOD_SETUP_STARTED,
                    "customer",
                    customer_id.as_str(),
                    json!({ "object": object }),
                ))
                .await?;
                Ok((StatusCode::OK, object))
            })
        })
        .await
}

/// A customer's saved payment methods, newest first.
#[utoipa::path(get, path = "/v1/customers/{id}/payment_methods", tag = "payments",
    params(("id" = String, Path), ("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query), ("ending_before" = Option<String>, Query)),
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
                documents::list::<PaymentMethod>(
                    tx,
                    PAYMENT_METHOD,
                    &workspace_id,
                    &page,
                    Some(("customer_id", Value::from(id))),
                )
                .await
            })
        })
        .await?;
    Ok(Json(ListResponse::new(
        "/v1/customers/{id}/payment_methods",
        page,
        |m| m,
    ))
    .into_response())
}
