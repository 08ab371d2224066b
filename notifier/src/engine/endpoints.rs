//! The endpoint cache: endpoint records read again after a second, the Deliverer's health kept
//! in step with what is stored, and health changes persisted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use routeq_notify::{Deliverer, Endpoint, EventFilter, HealthChange, Secret};
use routeq_shared::redis::webhooks::{WebhookRecord, Webhooks};

use super::now_ms;

/// An endpoint as the notifier can use it, or its record and why it cannot be used.
#[derive(Clone)]
pub enum Resolved {
    Ready(Arc<Endpoint>),
    Broken(WebhookRecord, String),
}

/// Endpoint records, read again after a second (so deletes, rotations and re-enabling reach
/// every notifier quickly), with the Deliverer's health kept in step with what is stored.
pub struct EndpointCache {
    pub store: Webhooks,
    cache: Mutex<HashMap<(String, String), Cached>>,
}

/// When an endpoint was read, and what was read (`None`: no such endpoint).
type Cached = (Instant, Option<Resolved>);

const CACHE_FOR: Duration = Duration::from_secs(1);

impl EndpointCache {
    pub(super) fn new(store: Webhooks) -> EndpointCache {
        EndpointCache {
            store,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub async fn get(
        &self,
        deliverer: &Deliverer,
        tenant: &str,
        id: &str,
    ) -> Result<Option<Resolved>, routeq_shared::redis::StoreError> {
        let key = (tenant.to_string(), id.to_string());
        {
            let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((at, r)) = cache.get(&key)
                && at.elapsed() < CACHE_FOR
            {
                return Ok(r.clone());
            }
        }
        let record = self.store.get(tenant, id).await?;
        let resolved = match record {
            None => {
                deliverer.forget(id);
                None
            }
            Some(r) => {
                sync_health(deliverer, &r);
                Some(build(&r))
            }
        };
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, (Instant::now(), resolved.clone()));
        Ok(resolved)
    }

    /// Persists a health change the Deliverer reported.
    pub(super) async fn persist(&self, tenant: &str, id: &str, change: HealthChange) {
        let ms = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64)
        };
        let result = match change {
            HealthChange::Failing { since } => {
                self.store.set_health(tenant, id, ms(since), 1, None).await
            }
            HealthChange::Recovered { .. } => self.store.set_health(tenant, id, 0, 0, None).await,
            HealthChange::Disabled { since, failures } => {
                tracing::warn!(webhook_id = %id, failures, "webhook endpoint disabled: failing continuously past the threshold");
                self.store
                    .set_health(tenant, id, ms(since), failures, Some(now_ms()))
                    .await
            }
        };
        if let Err(e) = result {
            tracing::warn!(webhook_id = %id, error = %e, "cannot persist the webhook endpoint's health");
        }
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(tenant.to_string(), id.to_string()));
    }
}

/// The stored health wins where the Deliverer does not know better: a restarted notifier learns
/// the failing streak and the disabled flag; an endpoint re-enabled through the API is enabled.
fn sync_health(deliverer: &Deliverer, r: &WebhookRecord) {
    let mine = deliverer.health(&r.id);
    match mine {
        Some(h) if h.disabled && !r.disabled => deliverer.enable(&r.id),
        Some(h) if !h.disabled && r.disabled => deliverer.restore_health(
            &r.id,
            routeq_notify::Health {
                disabled: true,
                ..h
            },
        ),
        Some(_) => {}
        None => {
            let since = (r.failing_since_ms > 0)
                .then(|| UNIX_EPOCH + Duration::from_millis(r.failing_since_ms));
            deliverer.restore_health(
                &r.id,
                routeq_notify::Health {
                    failing_since: since,
                    consecutive_failures: r.failures,
                    disabled: r.disabled,
                },
            );
        }
    }
}

fn build(r: &WebhookRecord) -> Resolved {
    let secrets: Result<Vec<Secret>, _> = r
        .active_secrets(now_ms())
        .into_iter()
        .map(Secret::parse)
        .collect();
    let secrets = match secrets {
        Ok(s) => s,
        Err(e) => return Resolved::Broken(r.clone(), e.to_string()),
    };
    match Endpoint::new(
        r.id.clone(),
        &r.url,
        secrets,
        EventFilter::new(r.events.clone()),
    ) {
        Ok(e) => Resolved::Ready(Arc::new(e)),
        Err(e) => Resolved::Broken(r.clone(), e.to_string()),
    }
}
