//! The Redis key space.
//!
//! Every key starts with one configurable prefix that carries a Redis Cluster hash tag
//! (`{routeq}` by default), so every key of one fleet lands in one slot and the multi-key Lua
//! scripts keep working on a cluster. Several fleets (and every test) share one Redis by using
//! different prefixes.
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `{p}:jobs` | stream | one entry per queued job: `id, t (tenant), rid, sub, dl, req`; the consumer group `workers` reads it. A completed entry is acknowledged **and deleted**, so the stream's length is the backlog plus what is in flight. |
//! | `{p}:job:<id>` | hash | the job record: `id tenant rid idem req state code sub dl st fin att wrk eid out`; TTL = deadline + result TTL, reset to the result TTL on completion |
//! | `{p}:idem:<tenant>:<sha256(key)>` | string | `"<job id> <request fingerprint>"`, same TTL as the job |
//! | `{p}:done` | pub/sub channel | a job id, published once when the job reaches a terminal state |
//!
//! Delivery is at-least-once: an entry stays in the group's pending list until the completion
//! script acknowledges it; entries idle longer than the reclaim time are taken over by live workers
//! (XAUTOCLAIM). The terminal state is written once (see `lua/complete.lua`).

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

    pub fn done_channel(&self) -> String {
        format!("{}:done", self.prefix)
    }

    /// The name of the workers' consumer group on the jobs stream.
    pub const GROUP: &'static str = "workers";
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
        ] {
            assert!(key.starts_with("{t1}:"), "{key}");
        }
    }
}
