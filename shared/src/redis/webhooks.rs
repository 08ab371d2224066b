//! Webhook endpoints per tenant, in Redis under the fleet-wide keys: `{p}:webhook:<tenant>:<id>`
//! (a hash, [`WebhookRecord`]) and `{p}:webhooks:<tenant>` (the set of the tenant's ids).
//!
//! Redis, not PostgreSQL: the gateway (registration, and the `webhooks` choice at every submit)
//! and the notifier (every delivery) both read them, both always have Redis while PostgreSQL is
//! optional in a fleet, and an endpoint is a few fields read far more often than written. The
//! signing secrets must be usable to sign, so they are stored as they are (never logged).

use std::collections::HashMap;

use ::redis::AsyncCommands;

use super::connect::Conn;
use super::keys::Keys;
use super::store::StoreError;

/// Field names of an endpoint's hash.
pub mod wf {
    pub const ID: &str = "id";
    pub const TENANT: &str = "tenant";
    pub const URL: &str = "url";
    /// Event types, separated by commas (empty: all).
    pub const EVENTS: &str = "events";
    /// The current signing secret (`whsec_…`).
    pub const SECRET: &str = "secret";
    /// The previous secret, still signing until `prev_until` (a rotation's overlap).
    pub const PREVIOUS: &str = "prev";
    pub const PREVIOUS_UNTIL: &str = "prev_until";
    pub const CREATED: &str = "created";
    /// `1` once the notifier disabled it (failing continuously past its threshold).
    pub const DISABLED: &str = "disabled";
    pub const DISABLED_AT: &str = "disabled_at";
    /// When its current streak of failed attempts began (epoch ms; absent: none).
    pub const FAILING_SINCE: &str = "failing_since";
    pub const FAILURES: &str = "failures";
}

/// An endpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    pub id: String,
    pub tenant: String,
    pub url: String,
    pub events: Vec<String>,
    pub secret: String,
    pub previous: Option<String>,
    pub previous_until_ms: u64,
    pub created_ms: u64,
    pub disabled: bool,
    pub disabled_at_ms: u64,
    pub failing_since_ms: u64,
    pub failures: u32,
}

fn num(fields: &HashMap<String, String>, k: &str) -> u64 {
    fields.get(k).and_then(|v| v.parse().ok()).unwrap_or(0)
}

impl WebhookRecord {
    pub fn decode(fields: &HashMap<String, String>) -> Option<WebhookRecord> {
        Some(WebhookRecord {
            id: fields.get(wf::ID)?.clone(),
            tenant: fields.get(wf::TENANT)?.clone(),
            url: fields.get(wf::URL)?.clone(),
            events: fields
                .get(wf::EVENTS)
                .map(|e| {
                    e.split(',')
                        .filter(|t| !t.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            secret: fields.get(wf::SECRET)?.clone(),
            previous: fields.get(wf::PREVIOUS).filter(|p| !p.is_empty()).cloned(),
            previous_until_ms: num(fields, wf::PREVIOUS_UNTIL),
            created_ms: num(fields, wf::CREATED),
            disabled: fields.get(wf::DISABLED).is_some_and(|d| d == "1"),
            disabled_at_ms: num(fields, wf::DISABLED_AT),
            failing_since_ms: num(fields, wf::FAILING_SINCE),
            failures: u32::try_from(num(fields, wf::FAILURES)).unwrap_or(u32::MAX),
        })
    }

    fn encode(&self) -> Vec<(&'static str, String)> {
        vec![
            (wf::ID, self.id.clone()),
            (wf::TENANT, self.tenant.clone()),
            (wf::URL, self.url.clone()),
            (wf::EVENTS, self.events.join(",")),
            (wf::SECRET, self.secret.clone()),
            (wf::PREVIOUS, self.previous.clone().unwrap_or_default()),
            (wf::PREVIOUS_UNTIL, self.previous_until_ms.to_string()),
            (wf::CREATED, self.created_ms.to_string()),
            (
                wf::DISABLED,
                if self.disabled { "1" } else { "0" }.to_string(),
            ),
        ]
    }

    /// The secrets that sign now: the current one first, the previous one during its overlap.
    pub fn active_secrets(&self, now_ms: u64) -> Vec<&str> {
        let mut out = vec![self.secret.as_str()];
        if let Some(p) = &self.previous
            && now_ms < self.previous_until_ms
        {
            out.push(p);
        }
        out
    }
}

/// The endpoint store of one fleet.
#[derive(Clone)]
pub struct Webhooks {
    conn: Conn,
    keys: Keys,
}

impl Webhooks {
    pub fn new(conn: Conn, keys: Keys) -> Webhooks {
        Webhooks { conn, keys }
    }

    pub async fn create(&self, record: &WebhookRecord) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let key = self.keys.webhook(&record.tenant, &record.id);
        // Both keys are under the fleet-wide tag (one slot on a cluster): one atomic step.
        ::redis::pipe()
            .atomic()
            .hset_multiple(&key, &record.encode())
            .ignore()
            .sadd(self.keys.webhooks(&record.tenant), &record.id)
            .ignore()
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    pub async fn get(&self, tenant: &str, id: &str) -> Result<Option<WebhookRecord>, StoreError> {
        let mut conn = self.conn.clone();
        let fields: HashMap<String, String> = conn.hgetall(self.keys.webhook(tenant, id)).await?;
        Ok(WebhookRecord::decode(&fields).filter(|r| r.tenant == tenant))
    }

    /// The tenant's endpoint ids.
    pub async fn ids(&self, tenant: &str) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn.clone();
        let mut ids: Vec<String> = conn.smembers(self.keys.webhooks(tenant)).await?;
        ids.sort_unstable();
        Ok(ids)
    }

    /// How many endpoints the tenant has.
    pub async fn count(&self, tenant: &str) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        Ok(conn.scard(self.keys.webhooks(tenant)).await?)
    }

    /// Every endpoint of the tenant, by id: the ids, then every record in one pipeline.
    pub async fn list(&self, tenant: &str) -> Result<Vec<WebhookRecord>, StoreError> {
        let ids = self.ids(tenant).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = ::redis::pipe();
        for id in &ids {
            pipe.hgetall(self.keys.webhook(tenant, id));
        }
        let mut conn = self.conn.clone();
        let all: Vec<HashMap<String, String>> = pipe.query_async(&mut conn).await?;
        Ok(all
            .iter()
            .filter_map(WebhookRecord::decode)
            .filter(|r| r.tenant == tenant)
            .collect())
    }

    /// Deletes an endpoint; whether it existed.
    pub async fn delete(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let (removed, _): (u64, u64) = ::redis::pipe()
            .atomic()
            .srem(self.keys.webhooks(tenant), id)
            .del(self.keys.webhook(tenant, id))
            .query_async(&mut conn)
            .await?;
        Ok(removed > 0)
    }

    /// A new current secret; the current one becomes the previous one, signing until
    /// `previous_until_ms`. `None` when there is no such endpoint.
    pub async fn rotate(
        &self,
        tenant: &str,
        id: &str,
        new_secret: &str,
        previous_until_ms: u64,
    ) -> Result<Option<WebhookRecord>, StoreError> {
        let Some(mut record) = self.get(tenant, id).await? else {
            return Ok(None);
        };
        let mut conn = self.conn.clone();
        let old = std::mem::replace(&mut record.secret, new_secret.to_string());
        record.previous = Some(old);
        record.previous_until_ms = previous_until_ms;
        conn.hset_multiple::<_, _, _, ()>(
            self.keys.webhook(tenant, id),
            &[
                (wf::SECRET, record.secret.clone()),
                (wf::PREVIOUS, record.previous.clone().unwrap_or_default()),
                (wf::PREVIOUS_UNTIL, previous_until_ms.to_string()),
            ],
        )
        .await?;
        Ok(Some(record))
    }

    /// Persists an endpoint's health as the notifier observed it (only while it still exists).
    pub async fn set_health(
        &self,
        tenant: &str,
        id: &str,
        failing_since_ms: u64,
        failures: u32,
        disabled_at_ms: Option<u64>,
    ) -> Result<(), StoreError> {
        let key = self.keys.webhook(tenant, id);
        let mut conn = self.conn.clone();
        let exists: bool = conn.exists(&key).await?;
        if !exists {
            return Ok(());
        }
        let mut fields = vec![
            (wf::FAILING_SINCE, failing_since_ms.to_string()),
            (wf::FAILURES, failures.to_string()),
        ];
        if let Some(at) = disabled_at_ms {
            fields.push((wf::DISABLED, "1".to_string()));
            fields.push((wf::DISABLED_AT, at.to_string()));
        }
        conn.hset_multiple::<_, _, _, ()>(&key, &fields).await?;
        Ok(())
    }

    /// Re-enables a disabled endpoint (its failing streak starts over); the endpoint as it is
    /// now, `None` when there is no such endpoint.
    pub async fn enable(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<WebhookRecord>, StoreError> {
        let Some(mut record) = self.get(tenant, id).await? else {
            return Ok(None);
        };
        let mut conn = self.conn.clone();
        conn.hset_multiple::<_, _, _, ()>(
            self.keys.webhook(tenant, id),
            &[
                (wf::DISABLED, "0"),
                (wf::DISABLED_AT, "0"),
                (wf::FAILING_SINCE, "0"),
                (wf::FAILURES, "0"),
            ],
        )
        .await?;
        record.disabled = false;
        record.disabled_at_ms = 0;
        record.failing_since_ms = 0;
        record.failures = 0;
        Ok(Some(record))
    }
}
