//! The Redis key space of one fleet (the table is in [`crate::redis`]).
//!
//! Every key starts with one configurable prefix that carries a Redis Cluster hash tag
//! (`{routeq}` by default), so the multi-key Lua scripts keep working on a cluster. Several
//! fleets (and every test) share one Redis by using different prefixes.
//!
//! **Partitions.** With `--partitions N` (N > 1) the job space splits into N partitions, each
//! under a hash tag of its own (`{routeq-0}` … `{routeq-<N-1>}`), so a cluster spreads them over
//! its nodes; with one partition every key is exactly as without partitions. A job's partition
//! is chosen at submit (from its Idempotency-Key when it has one, so retries land on the same
//! partition) and written into its id (the UUID's last byte), so GET, DELETE and waits find it
//! with no lookup. The fleet-wide keys (rate limits, API keys, tenant request counters) stay
//! under the prefix's own tag; cached provider answers are spread over the partitions by their
//! digest.

use sha2::Digest;

/// Validated key prefix and partition count; builds every key of one fleet. A `Keys` is the
/// key space of one partition ([`Keys::partition`]); the fleet-wide keys are the same from any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// The prefix as configured (the fleet-wide keys' tag).
    base: String,
    /// This partition's prefix.
    prefix: String,
    partitions: u16,
    index: u16,
}

/// Why a prefix was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    #[error(
        "key prefix {0:?} must contain a non-empty Redis Cluster hash tag such as {{routeq}}, and no spaces"
    )]
    NoHashTag(String),
    #[error("--partitions must be between 1 and 256, not {0}")]
    Partitions(u16),
}

/// Most partitions (a job id carries its partition in one byte).
pub const MAX_PARTITIONS: u16 = 256;

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
            base: prefix.to_string(),
            prefix: prefix.to_string(),
            partitions: 1,
            index: 0,
        })
    }

    /// The same fleet split into `n` partitions.
    pub fn with_partitions(self, n: u16) -> Result<Keys, PrefixError> {
        if n == 0 || n > MAX_PARTITIONS {
            return Err(PrefixError::Partitions(n));
        }
        Ok(Keys {
            partitions: n,
            ..self
        }
        .partition(0))
    }

    /// This partition's prefix (the configured one with one partition).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Every partition's prefix (for tools that remove a fleet's keys).
    pub fn prefixes(&self) -> Vec<String> {
        self.all().into_iter().map(|k| k.prefix).collect()
    }

    pub fn partitions(&self) -> u16 {
        self.partitions
    }

    /// Which partition this is.
    pub fn index(&self) -> u16 {
        self.index
    }

    /// The key space of partition `p` (modulo the partition count).
    pub fn partition(&self, p: u16) -> Keys {
        let index = p % self.partitions;
        let prefix = if self.partitions == 1 {
            self.base.clone()
        } else {
            // Inside the hash tag: `{routeq}` → `{routeq-3}`. `new` checked there is one.
            match self.base.find('}') {
                Some(close) => format!("{}-{index}{}", &self.base[..close], &self.base[close..]),
                None => self.base.clone(),
            }
        };
        Keys {
            prefix,
            index,
            ..self.clone()
        }
    }

    /// Every partition, in order.
    pub fn all(&self) -> Vec<Keys> {
        (0..self.partitions).map(|p| self.partition(p)).collect()
    }

    /// The partition a job id names (its last byte; 0 with one partition).
    pub fn partition_of(&self, job_id: &str) -> u16 {
        if self.partitions == 1 {
            return 0;
        }
        uuid::Uuid::parse_str(job_id)
            .map(|u| u16::from(u.as_bytes()[15]) % self.partitions)
            .unwrap_or(0)
    }

    /// The key space of the partition a job id names.
    pub fn for_job(&self, job_id: &str) -> Keys {
        self.partition(self.partition_of(job_id))
    }

    /// The partition of a submission with this Idempotency-Key (the same for every retry).
    pub fn partition_for_key(&self, tenant: &str, key: &str) -> u16 {
        let d = sha2::Sha256::digest(format!("{tenant}\n{key}").as_bytes());
        (u16::from_be_bytes([d[0], d[1]])) % self.partitions
    }

    /// A new job id (a UUID v7) in partition `p`.
    pub fn new_job_id(&self, p: u16) -> String {
        let id = uuid::Uuid::now_v7();
        if self.partitions == 1 {
            return id.to_string();
        }
        let mut bytes = *id.as_bytes();
        bytes[15] = (p % self.partitions) as u8;
        uuid::Uuid::from_bytes(bytes).to_string()
    }

    /// Whether this partition's keys share the fleet-wide keys' hash tag (one partition), so one
    /// script may touch both, on a cluster too.
    pub fn shares_fleet_slot(&self) -> bool {
        self.prefix == self.base
    }

    /// The fleet-wide key space (the configured prefix's own tag).
    fn fleet(&self) -> &str {
        &self.base
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

    /// Records PostgreSQL refused even alone (a value it cannot store): parked here by the
    /// recorder, with the error, so the rest flows on.
    pub fn records_parked(&self) -> String {
        format!("{}:records:parked", self.prefix)
    }

    /// The dead-letter stream.
    pub fn dead_letters(&self) -> String {
        format!("{}:dead", self.prefix)
    }

    /// The fleet-wide rate limiter of one provider (`provider` is a bounded adapter name).
    pub fn rate_limit(&self, provider: &str) -> String {
        format!("{}:rate:{}", self.fleet(), provider)
    }

    /// Set while a provider's `Retry-After` holds every worker back.
    pub fn rate_hold(&self, provider: &str) -> String {
        format!("{}:rate:{}:hold", self.fleet(), provider)
    }

    /// A cached provider answer; `digest` is a hex SHA-256 of the normalised request.
    pub fn cache(&self, kind: &str, digest: &str) -> String {
        format!("{}:cache:{}:{}", self.by_digest(digest), kind, digest)
    }

    /// The lease of the worker computing that answer now (fleet-wide coalescing).
    pub fn inflight(&self, kind: &str, digest: &str) -> String {
        format!("{}:inflight:{}:{}", self.by_digest(digest), kind, digest)
    }

    pub fn done_channel(&self) -> String {
        format!("{}:done", self.prefix)
    }

    /// The prefix of the partition a hex digest falls in (cached answers spread over them).
    fn by_digest(&self, digest: &str) -> String {
        if self.partitions == 1 {
            return self.base.clone();
        }
        let p = u16::from_str_radix(digest.get(..4).unwrap_or("0"), 16).unwrap_or(0);
        self.partition(p).prefix
    }

    /// The webhook outbox: a `finished` event (the whole job hash) for every job that ended with
    /// webhooks to notify, appended by the script that ended it (`lua/lib/finish.lua`).
    pub fn notify_stream(&self) -> String {
        format!("{}:notify", self.prefix)
    }

    /// Webhook deliveries waiting for their next attempt (sorted set scored by due time, ms).
    pub fn notify_due(&self) -> String {
        format!("{}:notify:due", self.prefix)
    }

    /// Webhook deliveries past their schedule (a stream; listed and replayed by the CLI).
    pub fn notify_dead(&self) -> String {
        format!("{}:notify:dead", self.prefix)
    }

    /// One webhook endpoint of a tenant (hash).
    pub fn webhook(&self, tenant: &str, id: &str) -> String {
        format!("{}:webhook:{}:{}", self.fleet(), tenant, id)
    }

    /// A tenant's webhook endpoint ids (set).
    pub fn webhooks(&self, tenant: &str) -> String {
        format!("{}:webhooks:{}", self.fleet(), tenant)
    }

    /// The name of the notifiers' consumer group on the webhook outbox.
    pub const NOTIFIERS: &'static str = "notifiers";

    /// The name of the workers' consumer group on the jobs stream.
    pub const GROUP: &'static str = "workers";

    /// The name of the recorders' consumer group on the records stream.
    pub const RECORDERS: &'static str = "recorders";

    /// An API key's record, found by the SHA-256 of the key (the key itself is never stored).
    pub fn api_key(&self, key_sha256: &str) -> String {
        format!("{}:apikey:{}", self.fleet(), key_sha256)
    }

    /// Every API key id → the SHA-256 it is stored under (for listing and revoking).
    pub fn api_key_index(&self) -> String {
        format!("{}:apikeys", self.fleet())
    }

    /// A tenant's unfinished jobs (sorted set scored by deadline), for its cap.
    pub fn tenant_open_jobs(&self, tenant: &str) -> String {
        format!("{}:open:{}", self.prefix, tenant)
    }

    /// Every accepted job of this partition, scored by its deadline (epoch ms): the sweeper
    /// (`lua/sweep.lua`) ends those still pending past their deadline plus the grace.
    pub fn deadlines(&self) -> String {
        format!("{}:deadlines", self.prefix)
    }

    /// How many jobs the sweeper ended in this partition, ever (the queue sampler subtracts it
    /// from the jobs that left the stream: expiring is not completing).
    pub fn swept(&self) -> String {
        format!("{}:swept", self.prefix)
    }

    /// The sweeper's lease on this partition: the one process that sweeps it this round.
    pub fn sweep_lease(&self) -> String {
        format!("{}:sweep", self.prefix)
    }

    /// Set while the fleet is paused (`routeq-admin pause`): workers take no new jobs; submits
    /// still queue. A JSON [`crate::admin::pause::Paused`].
    pub fn paused(&self) -> String {
        format!("{}:paused", self.fleet())
    }

    /// The queue as a gateway last sampled it (rates and predicted wait), so the admin CLI and
    /// the console report the numbers the gateways' `/metrics` report.
    pub fn sampled(&self) -> String {
        format!("{}:sampled", self.fleet())
    }

    /// Failure codes of jobs that ended in one minute (`unix minute`), fleet-wide: code → count.
    pub fn codes(&self, unix_minute: u64) -> String {
        format!("{}:codes:{}", self.fleet(), unix_minute)
    }

    /// Each worker's breakers: `<consumer> <provider>` → `<state> <at ms>`, refreshed every second.
    pub fn breakers(&self) -> String {
        format!("{}:breakers", self.fleet())
    }

    /// A tenant's request counter for one second.
    pub fn tenant_rate(&self, tenant: &str, unix_second: u64) -> String {
        format!("{}:rl:{}:{}", self.fleet(), tenant, unix_second)
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
    fn partitions_get_tags_of_their_own_and_ids_name_their_partition() {
        let one = Keys::new("app:{q}").expect("prefix");
        assert_eq!(one.partition(0).jobs_stream(), "app:{q}:jobs");
        let k = one.with_partitions(3).expect("3");
        let streams: Vec<_> = k.all().iter().map(Keys::jobs_stream).collect();
        assert_eq!(
            streams,
            ["app:{q-0}:jobs", "app:{q-1}:jobs", "app:{q-2}:jobs"]
        );
        for p in 0..3 {
            let id = k.new_job_id(p);
            assert!(uuid::Uuid::parse_str(&id).is_ok());
            assert_eq!(k.partition_of(&id), p);
            assert_eq!(k.for_job(&id).job(&id), format!("app:{{q-{p}}}:job:{id}"));
        }
        // The fleet-wide keys stay under the configured tag; answers spread by digest.
        assert_eq!(k.partition(2).rate_limit("osrm"), "app:{q}:rate:osrm");
        assert!(k.cache("geo", "0001ab").starts_with("app:{q-1}:"));
        assert_eq!(
            k.partition_for_key("t", "key-1"),
            k.partition(2).partition_for_key("t", "key-1")
        );
        assert!(Keys::new("{q}").expect("p").with_partitions(0).is_err());
        assert!(Keys::new("{q}").expect("p").with_partitions(257).is_err());
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
