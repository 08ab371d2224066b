//! Caching and fleet-wide coalescing of provider answers, in Redis.
//!
//! An answer is cached under `{p}:cache:<kind>:<sha256 of the normalised request>`: geocodes for
//! long (addresses rarely move), routes briefly (traffic changes). Identical requests in flight
//! anywhere in the fleet share one provider call: the first takes a lease
//! (`{p}:inflight:<kind>:<sha256>`, `lua/coalesce_claim.lua`) and calls; the others poll until
//! the answer is cached, or until the lease lapses (its worker died) and one of them takes over.
//!
//! What is shared: successes, and domain answers (not found, no route), which are as true for
//! the next identical request as for this one. Transient failures are not: the leader releases
//! the lease and a waiting request tries itself (through its own chain, so an open breaker
//! refuses it at once). Answers say where they came from ([`Served`]).

use std::future::Future;
use std::time::{Duration, Instant};

use routeq_shared::redis::scripts::{Claim, scripts};
use routeq_shared::redis::{Conn, Keys};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::providers::ProviderError;
use routeq_shared::metrics::providers as m;

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// A provider call made for this request.
    Miss,
    /// The cache.
    Hit,
    /// The call of an identical request that was in flight.
    Coalesced,
}

impl Served {
    pub fn as_str(self) -> &'static str {
        match self {
            Served::Miss => "miss",
            Served::Hit => "hit",
            Served::Coalesced => "coalesced",
        }
    }

    pub fn cached(self) -> bool {
        self != Served::Miss
    }
}

/// A cacheable answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Cached<T> {
    Ok(T),
    NotFound,
    NoRoute(String),
}

impl<T: Clone> Cached<T> {
    fn of(r: &Result<T, ProviderError>) -> Option<Cached<T>> {
        match r {
            Ok(v) => Some(Cached::Ok(v.clone())),
            Err(ProviderError::NotFound) => Some(Cached::NotFound),
            Err(ProviderError::NoRoute(why)) => Some(Cached::NoRoute(why.clone())),
            Err(_) => None,
        }
    }

    fn into_result(self) -> Result<T, ProviderError> {
        match self {
            Cached::Ok(v) => Ok(v),
            Cached::NotFound => Err(ProviderError::NotFound),
            Cached::NoRoute(why) => Err(ProviderError::NoRoute(why)),
        }
    }
}

/// A hex SHA-256 of `parts` joined by newlines: the normalised request a cache key stands for.
pub fn digest(parts: &[&str]) -> String {
    hex::encode(sha2::Sha256::digest(parts.join("\n").as_bytes()))
}

/// How long a coalesced answer stays readable when caching is off: long enough for every
/// waiting request (they poll at most every 100 ms) to read it.
const COALESCE_KEEP: Duration = Duration::from_secs(2);
/// The longest pause between two looks at a leased answer.
const POLL_MAX: Duration = Duration::from_millis(100);

/// One kind of cached answer (`geo` or `route`).
pub struct AnswerCache {
    kind: &'static str,
    conn: Conn,
    keys: Keys,
    /// Zero: no caching (but coalesced answers are kept for [`COALESCE_KEEP`]).
    ttl: Duration,
    /// How long a domain "no" (not found, no route) is kept, at most `ttl`.
    negative_ttl: Duration,
    coalesce: bool,
}

impl std::fmt::Debug for AnswerCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnswerCache")
            .field("kind", &self.kind)
            .field("ttl", &self.ttl)
            .field("coalesce", &self.coalesce)
            .finish_non_exhaustive()
    }
}

impl AnswerCache {
    pub fn new(
        kind: &'static str,
        conn: Conn,
        keys: Keys,
        ttl: Duration,
        coalesce: bool,
    ) -> AnswerCache {
        AnswerCache {
            kind,
            conn,
            keys,
            ttl,
            negative_ttl: ttl,
            coalesce,
        }
    }

    /// Keeps domain "no" answers (not found, no route) only `negative_ttl` (at most the TTL):
    /// addresses a client made up must not hold Redis memory for the positive answers' TTL.
    pub fn with_negative_ttl(mut self, negative_ttl: Duration) -> AnswerCache {
        self.negative_ttl = negative_ttl.min(self.ttl);
        self
    }

    /// How long to keep `result` (the answers [`Cached::of`] keeps).
    fn keep_for<T>(&self, result: &Result<T, ProviderError>) -> Duration {
        if self.ttl.is_zero() {
            COALESCE_KEEP
        } else if result.is_err() && !self.negative_ttl.is_zero() {
            self.negative_ttl
        } else if result.is_err() {
            // Negative answers not cached: kept only long enough for coalesced waiters.
            COALESCE_KEEP
        } else {
            self.ttl
        }
    }

    fn metric_kind(&self) -> &'static str {
        if self.kind == "geo" {
            "geocode"
        } else {
            "route"
        }
    }

    /// The answer for `digest`: cached, shared with an identical call in flight, or from
    /// `call` (whose answer is then cached). Waiting for another call ends at `until`.
    pub async fn get_or_call<T, F, Fut>(
        &self,
        digest: &str,
        until: Instant,
        call: F,
    ) -> (Result<T, ProviderError>, Served)
    where
        T: Serialize + DeserializeOwned + Clone,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        if self.ttl.is_zero() && !self.coalesce {
            return (call().await, Served::Miss);
        }
        let cache_key = self.keys.cache(self.kind, digest);
        let lease_key = self.keys.inflight(self.kind, digest);
        let token = uuid::Uuid::new_v4().simple().to_string();
        let mut waited = false;
        let mut pause = Duration::from_millis(10);
        loop {
            let lease =
                until.saturating_duration_since(Instant::now()) + Duration::from_millis(500);
            let mut conn = self.conn.clone();
            let claimed: Result<Claim, String> = if self.coalesce {
                scripts()
                    .coalesce_claim
                    .key(&cache_key)
                    .key(&lease_key)
                    .arg(&token)
                    .arg(lease.as_millis() as u64)
                    .invoke_async(&mut conn)
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| Claim::decode(r).map_err(|e| e.to_string()))
            } else {
                redis::AsyncCommands::get::<_, Option<String>>(&mut conn, &cache_key)
                    .await
                    .map(|v| v.map_or(Claim::Leader, Claim::Cached))
                    .map_err(|e| e.to_string())
            };
            match claimed {
                Ok(Claim::Cached(value)) => match serde_json::from_str::<Cached<T>>(&value) {
                    Ok(cached) => {
                        let served = if waited {
                            metrics::counter!(m::COALESCED.name, "cache" => self.metric_kind())
                                .increment(1);
                            Served::Coalesced
                        } else {
                            self.lookup("hit");
                            Served::Hit
                        };
                        return (cached.into_result(), served);
                    }
                    Err(e) => {
                        tracing::warn!(cache = self.kind, error = %e, "unreadable cache entry; calling the provider");
                        return (call().await, Served::Miss);
                    }
                },
                Ok(Claim::Leader) => {
                    if !waited {
                        self.lookup("miss");
                    }
                    let result = call().await;
                    let keep = self.keep_for(&result);
                    let value = Cached::of(&result)
                        .and_then(|c| serde_json::to_string(&c).ok())
                        .unwrap_or_default();
                    if self.coalesce {
                        // The answer is this job's already: storing it and releasing the lease
                        // need not hold the job up (a round trip less before it completes). If
                        // the process dies first, the lease lapses and a waiting caller takes
                        // over, as for a worker that died during the call.
                        let kind = self.kind;
                        let keep_ms = keep.as_millis() as u64;
                        tokio::spawn(async move {
                            let done: redis::RedisResult<i64> = scripts()
                                .coalesce_finish
                                .key(&cache_key)
                                .key(&lease_key)
                                .arg(&token)
                                .arg(&value)
                                .arg(keep_ms)
                                .invoke_async(&mut conn)
                                .await;
                            if let Err(e) = done {
                                tracing::warn!(cache = kind, error = %e, "could not store a provider answer");
                            }
                        });
                    } else if !value.is_empty() {
                        let set: redis::RedisResult<()> = redis::cmd("SET")
                            .arg(&cache_key)
                            .arg(&value)
                            .arg("PX")
                            .arg(keep.as_millis() as u64)
                            .query_async(&mut conn)
                            .await;
                        if let Err(e) = set {
                            tracing::warn!(cache = self.kind, error = %e, "could not cache a provider answer");
                        }
                    }
                    return (result, Served::Miss);
                }
                Ok(Claim::Wait) => {
                    // Another request holds the lease: wait for its answer.
                    if !waited {
                        self.lookup("miss");
                        waited = true;
                    }
                    if Instant::now() + pause >= until {
                        return (Err(ProviderError::Timeout), Served::Coalesced);
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(POLL_MAX);
                }
                Err(e) => {
                    tracing::warn!(cache = self.kind, error = %e, "cache unreachable; calling the provider");
                    return (call().await, Served::Miss);
                }
            }
        }
    }

    fn lookup(&self, result: &'static str) {
        metrics::counter!(m::CACHE_LOOKUPS.name, "cache" => self.metric_kind(), "result" => result)
            .increment(1);
    }
}
