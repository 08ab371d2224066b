//! Everything routeq keeps in Redis, in one place: the key space ([`keys`]), the record's shape
//! ([`record`]), the scripts and their replies ([`scripts`]), connections ([`connect`]), and the
//! operations built on them ([`store`], [`outbox`], [`deadletters`]).
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `{p}:jobs` | stream | one entry per queued job ([`record::QueueEntry`]); the consumer group `workers` reads it. A completed entry is acknowledged **and deleted**, so the stream's length is the backlog plus what is in flight. |
//! | `{p}:job:<id>` | hash | the job record ([`record::f`]); TTL = deadline + result TTL, reset to the result TTL on completion |
//! | `{p}:idem:<tenant>:<sha256(key)>` | string | `"<job id> <request fingerprint>"`, same TTL as the job |
//! | `{p}:records` | stream | the outbox ([`outbox`]): an `accepted` event at submit and a `finished` event at the terminal state, each carrying the whole job hash; the group `recorders` drains it into PostgreSQL and deletes what it committed |
//! | `{p}:dead` | stream | dead letters ([`deadletters`]): one entry per job delivered more than `max_attempts` times (or unreadable), with its request and history |
//! | `{p}:rate:<provider>` | string | the fleet-wide rate limiter's theoretical arrival time (µs, Redis clock) for one provider |
//! | `{p}:rate:<provider>:hold` | string | set for `Retry-After` when a provider answered 429: no worker calls it before it expires |
//! | `{p}:cache:<kind>:<sha256>` | string | a cached provider answer (`geo`: long TTL; `route`: short TTL) |
//! | `{p}:inflight:<kind>:<sha256>` | string | the lease of the worker calling the provider for that answer right now |
//! | `{p}:apikey:<sha256(key)>` | hash | an API key's record: `id tenant rate max_queued created`; deleted on revoke |
//! | `{p}:apikeys` | hash | key id → the SHA-256 its record is stored under |
//! | `{p}:open:<tenant>` | sorted set | the tenant's unfinished jobs scored by deadline (its cap); left when the job ends, trimmed past the deadline |
//! | `{p}:rl:<tenant>:<second>` | string | a tenant's request count in one second (TTL 2 s) |
//! | `{p}:deadlines` | sorted set | every accepted job's id scored by its deadline (ms); the sweeper ends what is still pending past deadline + grace |
//! | `{p}:sweep` | string (PX) | the sweeper's lease on the partition for one round |
//! | `{p}:notify` | stream | the webhook outbox: a `finished` event (the whole job hash) for each job that ended with webhooks to notify, appended by `lua/lib/finish.lua`; the group `notifiers` drains it |
//! | `{p}:notify:due` | sorted set | webhook deliveries (one per event and endpoint, JSON) scored by the time of their next attempt; a notifier working on one pushes its score out by a lease |
//! | `{p}:notify:dead` | stream | webhook deliveries past their schedule (or refused for good), listed and replayed by `routeq-notifier dead` |
//! | `{p}:webhook:<tenant>:<id>` | hash | a webhook endpoint ([`webhooks`]) |
//! | `{p}:webhooks:<tenant>` | set | the tenant's webhook endpoint ids |
//! | `{p}:paused` | string | set while the fleet is paused (JSON: since, reason): workers read no new jobs |
//! | `{p}:sampled` | hash | the queue as a gateway last sampled it: `at arrival completion wait` |
//! | `{p}:breakers` | hash | `<consumer> <provider>` → `<state> <at ms>`: each worker's breakers, every second |
//! | `{p}:done` | pub/sub channel | the ids of jobs that just ended, separated by spaces; each id is published once, by the script that ended the job |
//!
//! Delivery is at-least-once: an entry stays in the group's pending list until the script that
//! ends its job acknowledges it; entries idle longer than the reclaim time are taken over by live
//! workers (XAUTOCLAIM). The terminal state is written once, by `lua/lib/finish.lua`.

pub mod apikeys;
pub mod connect;
pub mod deadletters;
pub mod keys;
pub mod outbox;
pub mod purge;
pub mod record;
pub mod scripts;
pub mod store;
pub mod sweep;
pub mod webhooks;

pub use connect::{Conn, RedisArgs, RedisUrl};
pub use keys::Keys;
pub use store::{JobStore, StoreError};

/// Creates a consumer group reading `stream` from its start, creating the stream if needed;
/// an existing group is fine.
pub async fn ensure_group(conn: &Conn, stream: &str, group: &str) -> Result<(), StoreError> {
    let mut conn = conn.clone();
    let res: ::redis::RedisResult<()> =
        ::redis::AsyncCommands::xgroup_create_mkstream(&mut conn, stream, group, "0").await;
    match res {
        Err(e) if e.code() != Some("BUSYGROUP") => Err(e.into()),
        _ => Ok(()),
    }
}
