//! Which endpoints a submitted job notifies (the body's `webhooks`), checked before it is queued.

use routeq_shared::Code;
use routeq_shared::problem::FieldError;
use serde_json::Value;

use crate::http::{ApiError, RequestId};
use crate::state::AppState;

use super::{invalid, unavailable};

/// The most endpoints one submission may name.
pub(crate) const MAX_SELECTED: usize = 20;

/// Which endpoints a submitted job notifies, from the body's `webhooks` (checked before the job
/// is queued): absent, every endpoint of the tenant (`*`, or nothing when it has none, judged as
/// the job is stored); `[]`, none; otherwise those ids, each one of the tenant's.
pub async fn selection(
    app: &AppState,
    tenant: &str,
    body: &Value,
    rid: &RequestId,
) -> Result<String, ApiError> {
    let store = &app.webhooks.store;
    match body.get("webhooks") {
        // Judged when the job is stored, in the submit script itself where it can (one
        // partition): no round trip of its own.
        None | Some(Value::Null) => Ok(routeq_shared::redis::store::NewJob::ALL_IF_ANY.to_string()),
        Some(Value::Array(items)) if items.len() > MAX_SELECTED => Err(invalid(
            rid,
            vec![FieldError::new(
                "webhooks",
                "too_many",
                format!("at most {MAX_SELECTED} endpoints"),
            )],
        )),
        Some(Value::Array(items)) => {
            if items.is_empty() {
                return Ok(String::new());
            }
            let known = store.ids(tenant).await.map_err(|e| unavailable(rid, &e))?;
            let mut chosen: Vec<&str> = Vec::new();
            let mut errors = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(id) if known.iter().any(|k| k == id) => {
                        if !chosen.contains(&id) {
                            chosen.push(id);
                        }
                    }
                    Some(_) => errors.push(FieldError::new(
                        format!("webhooks[{i}]"),
                        "unknown_webhook",
                        "not one of your webhook endpoints",
                    )),
                    None => errors.push(FieldError::new(
                        format!("webhooks[{i}]"),
                        "type",
                        "must be an endpoint id",
                    )),
                }
            }
            if !errors.is_empty() {
                return Err(ApiError::new(
                    Code::InvalidField,
                    rid,
                    "the route request has invalid fields",
                )
                .fields(errors));
            }
            Ok(chosen.join(","))
        }
        Some(_) => Err(ApiError::new(
            Code::InvalidField,
            rid,
            "the route request has invalid fields",
        )
        .fields(vec![FieldError::new(
            "webhooks",
            "type",
            "must be an array of endpoint ids",
        )])),
    }
}
