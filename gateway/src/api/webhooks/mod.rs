//! Webhook endpoints per tenant: `POST /v1/webhooks` (answers the signing secret once), `GET`
//! list and one, `DELETE`, `POST /v1/webhooks/{id}/rotate` (a new secret; the previous one keeps
//! signing during an overlap) and `POST /v1/webhooks/{id}/enable` (after the notifier disabled
//! it). Registration runs the SSRF policy (routeq-notify's `UrlPolicy`): the URL's host is
//! resolved and refused when any address is not public, unless `--webhook-allow` permits it;
//! the notifier checks again at every delivery. Also [`selection`]: which endpoints a submitted
//! job notifies (`webhooks` in the body).
//!
//! This module owns the handlers and what they share; `schema.rs` the bodies and the
//! registration parser, `selection.rs` a submission's `webhooks` choice.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use routeq_notify::{AllowList, OverrideResolver, Resolve, Secret, UrlPolicy};
use routeq_shared::Code;
use routeq_shared::job::now_ms;
use routeq_shared::problem::FieldError;
use routeq_shared::redis::webhooks::{WebhookRecord, Webhooks};
use routeq_shared::redis::{Conn, Keys};
use serde::Serialize;

use crate::auth::Tenant;
use crate::config::GatewayConfig;
use crate::http::extract::{json_body, require_json};
use crate::http::{ApiError, RequestId};
use crate::state::AppState;

mod schema;
mod selection;

use schema::parse_new;
pub use schema::{EVENT_TYPES, NewWebhook, WebhookList, WebhookSecret, WebhookView};
pub(crate) use selection::MAX_SELECTED;
pub use selection::selection;

/// Every error code the webhook endpoints can answer with (a registration's body as a submit's).
pub const ANSWERS: &[Code] = &[
    Code::MalformedJson,
    Code::UnsupportedMediaType,
    Code::PayloadTooLarge,
    Code::RequestTimeout,
    Code::InvalidField,
    Code::Unauthorized,
    Code::WebhookNotFound,
    Code::RateLimited,
    Code::HeadersTooLarge,
    Code::QueueUnavailable,
    Code::InternalError,
];

super::openapi::answers!(
    /// The error responses of the webhook endpoints.
    WebhookAnswers,
    ANSWERS,
    None
);

/// What the webhook handlers share: the endpoint store, the address policy and the resolver.
#[derive(Clone)]
pub struct WebhookApi {
    pub store: Webhooks,
    pub policy: UrlPolicy,
    pub resolver: Arc<dyn Resolve>,
    pub overlap_ms: u64,
    pub max_per_tenant: u64,
}

impl WebhookApi {
    pub fn from_config(cfg: &GatewayConfig, conn: Conn, keys: &Keys) -> anyhow::Result<WebhookApi> {
        let allow = AllowList::parse(&cfg.webhook_allow)?;
        let resolver = OverrideResolver::parse(&cfg.webhook_hosts)?;
        Ok(WebhookApi {
            store: Webhooks::new(conn, keys.clone()),
            policy: UrlPolicy::new(allow),
            resolver: Arc::new(resolver),
            overlap_ms: cfg.webhook_rotation_overlap_s.saturating_mul(1000),
            max_per_tenant: cfg.webhook_max_per_tenant,
        })
    }
}

fn unavailable(rid: &RequestId, e: &dyn std::fmt::Display) -> ApiError {
    ApiError::queue_unavailable(rid, e)
}

fn not_found(rid: &RequestId) -> ApiError {
    ApiError::new(Code::WebhookNotFound, rid, "no such webhook endpoint")
}

fn invalid(rid: &RequestId, errors: Vec<FieldError>) -> ApiError {
    ApiError::new(Code::InvalidField, rid, "the webhook has invalid fields").fields(errors)
}

/// Endpoint ids are ours (`ep_` and 32 hex digits); anything else names nothing.
fn plausible_id(id: &str) -> bool {
    id.len() <= 64 && !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn json_answer<T: Serialize>(status: StatusCode, headers: HeaderMap, body: &T) -> Response {
    (status, headers, axum::Json(body)).into_response()
}

/// `POST /v1/webhooks`: registers an endpoint after the SSRF check; answers its secret once.
#[utoipa::path(
    post,
    path = "/v1/webhooks",
    tag = "webhooks",
    summary = "Register a webhook endpoint",
    description = "Checks the URL (http or https; its host is resolved and refused when any address is loopback, private, link-local, CGNAT, multicast or a cloud metadata address) and answers 201 with the endpoint and its `whsec_` signing secret, shown only here. Each finished job of this tenant (unless the submit chose other endpoints or none) is then POSTed to it, signed as Standard Webhooks specify. A refused URL or an unknown event type is 422 `INVALID_FIELD` (`errors[].reason` says why: `url_scheme`, `url_refused_address`, `url_unresolvable`…).",
    request_body(content = NewWebhook, content_type = "application/json"),
    responses(
        (status = 201, description = "Registered; the secret is shown once", body = WebhookSecret),
        WebhookAnswers,
    )
)]
pub async fn create(
    State(app): State<AppState>,
    Extension(rid): Extension<RequestId>,
    Extension(tenant): Extension<Tenant>,
    req: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    require_json(&parts.headers, &rid)?;
    let deadline = std::time::Duration::from_millis(app.cfg.body_deadline_ms);
    let value = json_body(body, app.cfg.max_body_bytes, deadline, &rid).await?;
    let (url, events) = parse_new(&value).map_err(|e| invalid(&rid, e))?;
    let api = &app.webhooks;
    if let Err(e) = api.policy.check_str(&url, api.resolver.as_ref()).await {
        tracing::info!(request_id = %rid.0, code = e.code(), "webhook URL refused");
        return Err(invalid(
            &rid,
            vec![FieldError::new("url", e.code(), e.to_string())],
        ));
    }
    let count = api
        .store
        .count(&tenant.id)
        .await
        .map_err(|e| unavailable(&rid, &e))?;
    if count >= api.max_per_tenant {
        return Err(invalid(
            &rid,
            vec![FieldError::new(
                "url",
                "too_many",
                format!(
                    "at most {} endpoints per tenant; delete one first",
                    api.max_per_tenant
                ),
            )],
        ));
    }
    let secret =
        Secret::generate().map_err(|e| ApiError::new(Code::InternalError, &rid, e.to_string()))?;
    let record = WebhookRecord {
        id: format!("ep_{}", uuid::Uuid::now_v7().simple()),
        tenant: tenant.id.clone(),
        url,
        events,
        secret: secret.expose(),
        previous: None,
        previous_until_ms: 0,
        created_ms: now_ms(),
        disabled: false,
        disabled_at_ms: 0,
        failing_since_ms: 0,
        failures: 0,
    };
    api.store
        .create(&record)
        .await
        .map_err(|e| unavailable(&rid, &e))?;
    tracing::info!(request_id = %rid.0, webhook_id = %record.id, "webhook endpoint registered");
    let mut headers = HeaderMap::new();
    if let Ok(loc) = HeaderValue::from_str(&format!("/v1/webhooks/{}", record.id)) {
        headers.insert(header::LOCATION, loc);
    }
    Ok(json_answer(
        StatusCode::CREATED,
        headers,
        &WebhookSecret {
            webhook: WebhookView::of(&record, now_ms()),
            secret: record.secret.clone(),
        },
    ))
}

/// `GET /v1/webhooks`: the tenant's endpoints (without secrets).
#[utoipa::path(
    get,
    path = "/v1/webhooks",
    tag = "webhooks",
    summary = "List webhook endpoints",
    responses(
        (status = 200, description = "The tenant's endpoints, by id", body = WebhookList),
        WebhookAnswers,
    )
)]
pub async fn list(
    State(app): State<AppState>,
    Extension(rid): Extension<RequestId>,
    Extension(tenant): Extension<Tenant>,
) -> Result<Response, ApiError> {
    let now = now_ms();
    let records = app
        .webhooks
        .store
        .list(&tenant.id)
        .await
        .map_err(|e| unavailable(&rid, &e))?;
    Ok(json_answer(
        StatusCode::OK,
        HeaderMap::new(),
        &WebhookList {
            webhooks: records.iter().map(|r| WebhookView::of(r, now)).collect(),
        },
    ))
}

/// `GET /v1/webhooks/{id}`.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    summary = "Read a webhook endpoint",
    params(("id" = String, Path, description = "The endpoint id")),
    responses(
        (status = 200, description = "The endpoint (without its secret)", body = WebhookView),
        WebhookAnswers,
    )
)]
pub async fn one(
    State(app): State<AppState>,
    Extension(rid): Extension<RequestId>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = find(&app, &tenant, &id, &rid).await?;
    Ok(json_answer(
        StatusCode::OK,
        HeaderMap::new(),
        &WebhookView::of(&record, now_ms()),
    ))
}

async fn find(
    app: &AppState,
    tenant: &Tenant,
    id: &str,
    rid: &RequestId,
) -> Result<WebhookRecord, ApiError> {
    if !plausible_id(id) {
        return Err(not_found(rid));
    }
    app.webhooks
        .store
        .get(&tenant.id, id)
        .await
        .map_err(|e| unavailable(rid, &e))?
        .ok_or_else(|| not_found(rid))
}

/// `DELETE /v1/webhooks/{id}`: no event is delivered to it any more.
#[utoipa::path(
    delete,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    summary = "Delete a webhook endpoint",
    params(("id" = String, Path, description = "The endpoint id")),
    responses(
        (status = 204, description = "Deleted"),
        WebhookAnswers,
    )
)]
pub async fn delete(
    State(app): State<AppState>,
    Extension(rid): Extension<RequestId>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !plausible_id(&id) {
        return Err(not_found(&rid));
    }
    let removed = app
        .webhooks
        .store
        .delete(&tenant.id, &id)
        .await
        .map_err(|e| unavailable(&rid, &e))?;
    if !removed {
        return Err(not_found(&rid));
    }
    tracing::info!(request_id = %rid.0, webhook_id = %id, "webhook endpoint deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /v1/webhooks/{id}/rotate`: a new secret; the previous one keeps signing for
/// `--webhook-rotation-overlap-s` (each delivery carries both signatures meanwhile).
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/rotate",
    tag = "webhooks",
    summary = "Rotate a webhook endpoint's secret",
    params(("id" = String, Path, description = "The endpoint id")),
    responses(
        (status = 200, description = "The new secret, shown once; the previous one signs too until `previous_secret_until_ms`", body = WebhookSecret),
        WebhookAnswers,
    )
)]
pub async fn rotate(
    State(app): State<AppState>,
    Extension(rid): Extension<RequestId>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !plausible_id(&id) {
        return Err(not_found(&rid));
    }
    let secret =
        Secret::generate().map_err(|e| ApiError::new(Code::InternalError, &rid, e.to_string()))?;
    let now = now_ms();
    let record = app
        .webhooks
        .store
        .rotate(
            &tenant.id,
            &id,
            &secret.expose(),
            now.saturating_add(app.webhooks.overlap_ms),
        )
        .await
        .map_err(|e| unavailable(&rid, &e))?
        .ok_or_else(|| not_found(&rid))?;
    tracing::info!(request_id = %rid.0, webhook_id = %id, "webhook secret rotated");
    Ok(json_answer(
        StatusCode::OK,
        HeaderMap::new(),
        &WebhookSecret {
            webhook: WebhookView::of(&record, now),
            secret: record.secret.clone(),
        },
    ))
}

/// `POST /v1/webhooks/{id}/enable`: deliveries resume to an endpoint the notifier disabled.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/enable",
    tag = "webhooks",
    summary = "Re-enable a disabled webhook endpoint",
    params(("id" = String, Path, description = "The endpoint id")),
    responses(
        (status = 200, description = "Enabled", body = WebhookView),
        WebhookAnswers,
    )
)]
pub async fn enable(
    State(app): State<AppState>,
    Extension(rid): Extension<RequestId>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !plausible_id(&id) {
        return Err(not_found(&rid));
    }
    let record = app
        .webhooks
        .store
        .enable(&tenant.id, &id)
        .await
        .map_err(|e| unavailable(&rid, &e))?
        .ok_or_else(|| not_found(&rid))?;
    Ok(json_answer(
        StatusCode::OK,
        HeaderMap::new(),
        &WebhookView::of(&record, now_ms()),
    ))
}
