//! The API key store in Redis: a key is shown once, at creation, and stored only as its SHA-256
//! (`{p}:apikey:<sha256>` → tenant and limits), so a leaked Redis dump holds no usable key;
//! revoking deletes that record, so the next request with the key is refused. The gateway looks
//! keys up; `routeq-admin keys` and the console create, list and revoke them.

use std::collections::HashMap;

use ::redis::AsyncCommands;
use sha2::Digest;

use super::connect::Conn;
use super::keys::Keys;
use super::record::ApiKeyRecord;

/// A stored key, as listed (never the key itself).
pub type KeyInfo = ApiKeyRecord;

/// The API key store in Redis.
#[derive(Clone)]
pub struct ApiKeys {
    conn: Conn,
    keys: Keys,
}

/// SHA-256 of a presented key, hex.
pub fn digest(key: &str) -> String {
    hex::encode(sha2::Sha256::digest(key.as_bytes()))
}

/// Tenant ids become part of Redis keys: keep them plain.
pub fn valid_tenant(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 64
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl ApiKeys {
    pub fn new(conn: Conn, keys: Keys) -> ApiKeys {
        ApiKeys { conn, keys }
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
    ) -> ::redis::RedisResult<(String, String)> {
        for _ in 0..8 {
            let id = uuid::Uuid::new_v4().simple().to_string();
            if let Some(key) = self
                .create_with_id(&id, tenant, rate_per_s, max_queued)
                .await?
            {
                return Ok((id, key));
            }
            tracing::warn!(id = %id, "a new API key drew an id already taken; drawing another");
        }
        Err(::redis::RedisError::from((
            ::redis::ErrorKind::Client,
            "could not draw an unused API key id",
        )))
    }

    /// Creates a key for `tenant` under `id`, or `None` (nothing changed) when `id` is taken.
    pub async fn create_with_id(
        &self,
        id: &str,
        tenant: &str,
        rate_per_s: u64,
        max_queued: u64,
    ) -> ::redis::RedisResult<Option<String>> {
        // Two v4 UUIDs: 244 bits from the operating system's random source.
        let [b, c] = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()];
        let key = format!("rq_{id}_{}{}", b.simple(), c.simple());
        let sha = digest(&key);
        let now = crate::job::now_ms();
        let mut conn = self.conn.clone();
        // The record first (under the new key's digest: nothing else is stored there), then the
        // id, only if free. A taken id leaves the record unreachable: it is deleted again.
        let _: () = conn
            .hset_multiple(
                self.keys.api_key(&sha),
                &ApiKeyRecord {
                    id: id.to_string(),
                    tenant: tenant.to_string(),
                    rate_per_s,
                    max_queued,
                    created_ms: now,
                }
                .encode(),
            )
            .await?;
        let took: bool = conn.hset_nx(self.keys.api_key_index(), id, &sha).await?;
        if took {
            return Ok(Some(key));
        }
        let _: () = conn.del(self.keys.api_key(&sha)).await?;
        Ok(None)
    }

    pub async fn list(&self) -> ::redis::RedisResult<Vec<KeyInfo>> {
        let mut conn = self.conn.clone();
        let index: HashMap<String, String> = conn.hgetall(self.keys.api_key_index()).await?;
        let mut out = Vec::new();
        for sha in index.values() {
            let f: HashMap<String, String> = conn.hgetall(self.keys.api_key(sha)).await?;
            if let Some(info) = ApiKeyRecord::decode(&f) {
                out.push(info);
            }
        }
        out.sort_by(|a, b| {
            (a.tenant.as_str(), a.created_ms).cmp(&(b.tenant.as_str(), b.created_ms))
        });
        Ok(out)
    }

    /// Revokes a key by id; `false` when there is no such key.
    pub async fn revoke(&self, id: &str) -> ::redis::RedisResult<bool> {
        let mut conn = self.conn.clone();
        let sha: Option<String> = conn.hget(self.keys.api_key_index(), id).await?;
        let Some(sha) = sha else { return Ok(false) };
        let _: () = ::redis::pipe()
            .atomic()
            .del(self.keys.api_key(&sha))
            .ignore()
            .hdel(self.keys.api_key_index(), id)
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(true)
    }

    /// The record of a presented key, or `None` when the key is unknown or revoked.
    pub async fn lookup(&self, presented: &str) -> ::redis::RedisResult<Option<ApiKeyRecord>> {
        let mut conn = self.conn.clone();
        let f: HashMap<String, String> =
            conn.hgetall(self.keys.api_key(&digest(presented))).await?;
        Ok(ApiKeyRecord::decode(&f))
    }
}
