//! The Redis key space of one fleet (the table is in [`crate::redis`]).
//!
//! Every key starts with one configurable prefix that carries a Redis Cluster hash tag
//! (`{routeq}` by default), so every key of one fleet lands in one slot and the multi-key Lua
//! scripts keep working on a cluster. Several fleets (and every test) share one Redis by using
//! different prefixes.

use sha2::Digest;

/// Validated key prefix; builds every key of one fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

/// Why a prefix was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    #[error(
        "key prefix {0:?} must contain a non-empty Redis Cluster hash tag such as {{routeq}}, and no spaces"
    )]
    NoHashTag(String),
}

impl Keys {
    pub fn new(prefix: &str) -> Result<Keys, PrefixError> {
        let tag_ok = match (prefix.find('{'), prefix.find('}')) {
            (Some(open), Some(close)) => close > open + 1,
            _ => false,
        };
        if !tag_ok || prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(PrefixError::NoHashTag(prefix.to_string()));
        }
        Ok(Keys {
            prefix: prefix.to_string(),
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn jobs_stream(&self) -> String {
        format!("{}:jobs", self.prefix)
    }

    pub fn job(&self, id: &str) -> String {
        format!("{}:job:{}", self.prefix, id)
    }

    /// The idempotency key is hashed so any client text is a safe key of bounded length.
    pub fn idempotency(&self, tenant: &str, key: &str) -> String {
        let digest = hex::encode(sha2::Sha256::digest(key.as_bytes()));
        format!("{}:idem:{}:{}", self.prefix, tenant, digest)
    }

    /// The records outbox: `accepted` and `finished` events the recorder drains into PostgreSQL.
    pub fn records_stream(&self) -> String {
        format!("{}:records", self.prefix)
    }

    /// The dead-letter stream.
    pub fn dead_letters(&self) -> String {
        format!("{}:dead", self.prefix)
    }

    /// The fleet-wide rate limiter of one provider (`provider` is a bounded adapter name).
    pub fn rate_limit(&self, provider: &str) -> String {
        format!("{}:rate:{}", self.prefix, provider)
    }

    /// Set while a provider's `Retry-After` holds every worker back.
    pub fn rate_hold(&self, provider: &str) -> String {
        format!("{}:rate:{}:hold", self.prefix, provider)
    }

    /// A cached provider answer; `digest` is a hex SHA-256 of the normalised request.
    pub fn cache(&self, kind: &str, digest: &str) -> String {
        format!("{}:cache:{}:{}", self.prefix, kind, digest)
    }

    /// The lease of the worker computing that answer now (fleet-wide coalescing).
    pub fn inflight(&self, kind: &str, digest: &str) -> String {
        format!("{}:inflight:{}:{}", self.prefix, kind, digest)
    }

    pub fn done_channel(&self) -> String {
        format!("{}:done", self.prefix)
    }

    /// The name of the workers' consumer group on the jobs stream.
    pub const GROUP: &'static str = "workers";

    /// The name of the recorders' consumer group on the records stream.
    pub const RECORDERS: &'static str = "recorders";

    /// An API key's record, found by the SHA-256 of the key (the key itself is never stored).
    pub fn api_key(&self, key_sha256: &str) -> String {
        format!("{}:apikey:{}", self.prefix, key_sha256)
    }

    /// Every API key id → the SHA-256 it is stored under (for listing and revoking).
    pub fn api_key_index(&self) -> String {
        format!("{}:apikeys", self.prefix)
    }

    /// A tenant's unfinished jobs (sorted set scored by deadline), for its cap.
    pub fn tenant_open_jobs(&self, tenant: &str) -> String {
        format!("{}:open:{}", self.prefix, tenant)
    }

    /// A tenant's request counter for one second.
    pub fn tenant_rate(&self, tenant: &str, unix_second: u64) -> String {
        format!("{}:rl:{}:{}", self.prefix, tenant, unix_second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_needs_a_hash_tag() {
        assert!(Keys::new("{routeq}").is_ok());
        assert!(Keys::new("app:{routeq}").is_ok());
        assert!(Keys::new("routeq").is_err());
        assert!(Keys::new("{}").is_err());
        assert!(Keys::new("{a b}").is_err());
    }

    #[test]
    fn all_keys_share_the_tag() {
        let k = Keys::new("{t1}").expect("prefix");
        for key in [
            k.jobs_stream(),
            k.job("x"),
            k.idempotency("default", "key"),
            k.done_channel(),
            k.dead_letters(),
            k.rate_limit("osrm"),
            k.rate_hold("osrm"),
            k.cache("geo", "ab"),
            k.inflight("route", "ab"),
        ] {
            assert!(key.starts_with("{t1}:"), "{key}");
        }
    }
}
