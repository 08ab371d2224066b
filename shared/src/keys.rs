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
//! | `{p}:job:<id>` | hash | the job record: `id tenant rid idem req state code sub dl st fin att wrk eid out hist dlq` (`hist`: a JSON list of deliveries `{n, w, t}`; `dlq`: set while the job waits in the dead-letter stream); TTL = deadline + result TTL, reset to the result TTL on completion |
//! | `{p}:idem:<tenant>:<sha256(key)>` | string | `"<job id> <request fingerprint>"`, same TTL as the job |
//! | `{p}:records` | stream | the outbox: an `accepted` event at submit and a `finished` event at the terminal state, each carrying the whole job hash; the consumer group `recorders` drains it into PostgreSQL and deletes what it committed |
//! | `{p}:dead` | stream | dead letters: one entry per job delivered more than `max_attempts` times (or unreadable), with its request and history; replayed or purged from the CLI |
//! | `{p}:rate:<provider>` | string | the fleet-wide rate limiter's theoretical arrival time (µs, Redis clock) for one provider |
//! | `{p}:rate:<provider>:hold` | string | set for `Retry-After` when a provider answered 429: no worker calls it before it expires |
//! | `{p}:cache:<kind>:<sha256>` | string | a cached provider answer (`kind` = `geo` for geocodes, long TTL; `route` for routes, short TTL) |
//! | `{p}:inflight:<kind>:<sha256>` | string | the token of the worker calling the provider for that answer right now (a lease); identical requests wait for its result instead of calling |
//! | `{p}:apikey:<sha256(key)>` | hash | an API key's record: `id tenant rate max_queued created`; deleted on revoke |
//! | `{p}:apikeys` | hash | key id → the SHA-256 its record is stored under |
//! | `{p}:open:<tenant>` | sorted set | the tenant's unfinished jobs scored by deadline (its cap); left at completion or cancel, trimmed past the deadline |
//! | `{p}:rl:<tenant>:<second>` | string | a tenant's request count in one second (TTL 2 s) |
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

/// Deletes every key of one fleet (everything under `prefix`), for tests and tools that share a
/// Redis: SCAN in batches, never KEYS or FLUSHDB. Returns how many keys it deleted.
pub fn purge_blocking(redis_url: &str, prefix: &str) -> redis::RedisResult<u64> {
    let client = redis::Client::open(redis_url)?;
    let mut conn = client.get_connection_with_timeout(std::time::Duration::from_millis(500))?;
    // Redis glob: escape its special characters so the prefix matches only itself.
    let escaped: String = prefix
        .chars()
        .flat_map(|c| match c {
            '*' | '?' | '[' | ']' | '\\' | '{' | '}' => vec!['\\', c],
            _ => vec![c],
        })
        .collect();
    let pattern = format!("{escaped}*");
    let mut cursor: u64 = 0;
    let mut deleted = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query(&mut conn)?;
        if !keys.is_empty() {
            deleted += redis::cmd("DEL").arg(&keys).query::<u64>(&mut conn)?;
        }
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
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

    #[test]
    fn purge_removes_only_its_own_prefix() {
        let url = "redis://127.0.0.1:6379";
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (mine, other) = (format!("{{purge-{id}}}"), format!("{{purge-{id}x}}"));
        let client = redis::Client::open(url).expect("client");
        let mut conn = client.get_connection().expect("Redis on 127.0.0.1:6379");
        for i in 0..1500 {
            let _: () = redis::cmd("SET")
                .arg(format!("{mine}:k{i}"))
                .arg(1)
                .query(&mut conn)
                .expect("set");
        }
        let _: () = redis::cmd("SET")
            .arg(format!("{other}:k"))
            .arg(1)
            .query(&mut conn)
            .expect("set");
        assert_eq!(purge_blocking(url, &mine).expect("purge"), 1500);
        let left: u64 = redis::cmd("EXISTS")
            .arg(format!("{other}:k"))
            .query(&mut conn)
            .expect("exists");
        assert_eq!(
            left, 1,
            "a longer prefix that merely starts the same is not touched"
        );
        assert_eq!(purge_blocking(url, &other).expect("purge"), 1);
    }
}
