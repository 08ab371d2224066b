//! The webhook endpoints' bodies (as the OpenAPI document shows them) and the registration
//! body's parser, which names every field at fault.

use routeq_shared::problem::FieldError;
use routeq_shared::redis::webhooks::WebhookRecord;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The event types an endpoint may ask for (`route.finished`: both).
pub const EVENT_TYPES: [&str; 3] = ["route.succeeded", "route.failed", "route.finished"];

/// `POST /v1/webhooks`'s body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct NewWebhook {
    /// `http` or `https`; its host must resolve to public addresses only.
    #[schema(max_length = 2048)]
    url: String,
    /// `route.succeeded`, `route.failed`, `route.finished` (both); all when absent or empty.
    events: Option<Vec<String>>,
}

/// An endpoint as listed (never its secret).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    /// Epoch ms.
    pub created_ms: u64,
    /// Disabled by the notifier after failing continuously past its threshold; `enable` it.
    pub disabled: bool,
    /// Epoch ms, 0 unless disabled.
    pub disabled_at_ms: u64,
    /// When the current streak of failed deliveries began (epoch ms, 0: none).
    pub failing_since_ms: u64,
    pub consecutive_failures: u32,
    /// Until when the previous secret still signs after a rotation (epoch ms, 0: no overlap).
    pub previous_secret_until_ms: u64,
}

impl WebhookView {
    pub(super) fn of(r: &WebhookRecord, now: u64) -> WebhookView {
        WebhookView {
            id: r.id.clone(),
            url: r.url.clone(),
            events: r.events.clone(),
            created_ms: r.created_ms,
            disabled: r.disabled,
            disabled_at_ms: r.disabled_at_ms,
            failing_since_ms: r.failing_since_ms,
            consecutive_failures: r.failures,
            previous_secret_until_ms: if r.previous.is_some() && r.previous_until_ms > now {
                r.previous_until_ms
            } else {
                0
            },
        }
    }
}

/// The answer to a registration or a rotation: the only time the secret is shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookSecret {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// `whsec_…`: verify `webhook-signature` with it (Standard Webhooks). Shown once.
    pub secret: String,
}

/// `GET /v1/webhooks`'s body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<WebhookView>,
}

/// Parses the registration body, or every field at fault.
pub(super) fn parse_new(value: &Value) -> Result<(String, Vec<String>), Vec<FieldError>> {
    let Some(obj) = value.as_object() else {
        return Err(vec![FieldError::new(
            "",
            "type",
            "the body must be a JSON object",
        )]);
    };
    let mut errors = Vec::new();
    for k in obj.keys() {
        if k != "url" && k != "events" {
            errors.push(FieldError::new(
                k.clone(),
                "unknown_field",
                "this field is not part of a webhook",
            ));
        }
    }
    let url = match obj.get("url") {
        Some(Value::String(u)) => Some(u.trim().to_string()),
        None | Some(Value::Null) => {
            errors.push(FieldError::new("url", "required", "the endpoint's URL"));
            None
        }
        Some(_) => {
            errors.push(FieldError::new("url", "type", "must be a string"));
            None
        }
    };
    let mut events = Vec::new();
    match obj.get("events") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(t) if EVENT_TYPES.contains(&t) => {
                        if !events.iter().any(|e| e == t) {
                            events.push(t.to_string());
                        }
                    }
                    _ => errors.push(FieldError::new(
                        format!("events[{i}]"),
                        "invalid_value",
                        "must be one of route.succeeded, route.failed, route.finished",
                    )),
                }
            }
        }
        Some(_) => errors.push(FieldError::new(
            "events",
            "type",
            "must be an array of event types",
        )),
    }
    match url {
        Some(url) if errors.is_empty() => Ok((url, events)),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_body() {
        let ok = parse_new(
            &serde_json::json!({"url": "https://example.com/h", "events": ["route.failed", "route.failed"]}),
        );
        assert_eq!(
            ok,
            Ok((
                "https://example.com/h".to_string(),
                vec!["route.failed".to_string()]
            ))
        );
        let errs =
            parse_new(&serde_json::json!({"events": ["route.nope"], "x": 1})).expect_err("invalid");
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["x", "url", "events[0]"]);
    }
}
