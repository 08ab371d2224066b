//! The API key store in Redis ([`routeq_shared::redis::apikeys`]), and a presented key → its
//! tenant with its limits.

use routeq_shared::redis::apikeys;
pub use routeq_shared::redis::apikeys::{KeyInfo, digest, valid_tenant};
use routeq_shared::redis::{Conn, Keys};

use super::Tenant;

/// The API key store in Redis.
#[derive(Clone)]
pub struct ApiKeys(apikeys::ApiKeys);

impl ApiKeys {
    pub fn new(conn: Conn, keys: Keys) -> ApiKeys {
        ApiKeys(apikeys::ApiKeys::new(conn, keys))
    }

    /// Creates a key for `tenant`; returns `(id, key)`. The key is not stored and cannot be shown again.
    ///
    /// The id is a whole v4 UUID (122 random bits), and it is taken atomically (`HSETNX` on the
    /// index): an id already taken is never replaced — a fresh one is drawn instead.
    pub async fn create(
        &self,
        tenant: &str,
        rate_per_s: u64,
        max_queued: u64,
    ) -> redis::RedisResult<(String, String)> {
        self.0.create(tenant, rate_per_s, max_queued).await
    }

    /// Creates a key for `tenant` under `id`, or `None` (nothing changed) when `id` is taken.
    pub async fn create_with_id(
        &self,
        id: &str,
        tenant: &str,
        rate_per_s: u64,
        max_queued: u64,
    ) -> redis::RedisResult<Option<String>> {
        self.0
            .create_with_id(id, tenant, rate_per_s, max_queued)
            .await
    }

    pub async fn list(&self) -> redis::RedisResult<Vec<KeyInfo>> {
        self.0.list().await
    }

    /// Revokes a key by id; `false` when there is no such key.
    pub async fn revoke(&self, id: &str) -> redis::RedisResult<bool> {
        self.0.revoke(id).await
    }

    /// The tenant of a presented key, or `None` when the key is unknown or revoked.
    pub async fn lookup(&self, presented: &str) -> redis::RedisResult<Option<Tenant>> {
        Ok(self.0.lookup(presented).await?.map(|k| Tenant {
            id: k.tenant,
            rate_per_s: k.rate_per_s,
            max_queued: k.max_queued,
        }))
    }
}
