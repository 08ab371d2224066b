//! Per provider: the breaker states workers publish, summed per provider, and the fleet-wide
//! rate limiters read on Redis' clock.

use std::collections::{BTreeMap, HashMap};

use redis::AsyncCommands;

use super::BREAKERS_FRESH_MS;
use crate::redis::{Conn, Keys};

/// A breaker's state as a worker published it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BreakerView {
    pub worker: String,
    pub provider: String,
    /// `closed`, `open` or `half_open`.
    pub state: String,
    pub at_ms: u64,
}

/// One provider's breakers over the fleet.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProviderView {
    pub provider: String,
    /// The worst state of any live worker's breaker (open > half_open > closed).
    pub breaker: String,
    pub open: u32,
    pub half_open: u32,
    pub closed: u32,
}

/// Publishes a worker's breaker states (`(provider, state)`, state as `closed|open|half_open`).
pub async fn publish_breakers(
    conn: &Conn,
    keys: &Keys,
    consumer: &str,
    states: &[(&str, &str)],
) -> redis::RedisResult<()> {
    if states.is_empty() {
        return Ok(());
    }
    let now = crate::job::now_ms();
    let fields: Vec<(String, String)> = states
        .iter()
        .map(|(p, s)| (format!("{consumer} {p}"), format!("{s} {now}")))
        .collect();
    let mut c = conn.clone();
    c.hset_multiple(keys.breakers(), &fields).await
}

/// The breakers published in the last [`BREAKERS_FRESH_MS`]; stale fields are removed.
pub async fn breakers(conn: &Conn, keys: &Keys) -> redis::RedisResult<Vec<BreakerView>> {
    let mut c = conn.clone();
    let f: HashMap<String, String> = c.hgetall(keys.breakers()).await?;
    let now = crate::job::now_ms();
    let (mut out, mut stale) = (Vec::new(), Vec::new());
    for (k, v) in f {
        let (Some((worker, provider)), Some((state, at))) = (k.rsplit_once(' '), v.split_once(' '))
        else {
            stale.push(k);
            continue;
        };
        let at_ms = at.parse::<u64>().unwrap_or(0);
        if now.saturating_sub(at_ms) > BREAKERS_FRESH_MS {
            stale.push(k.clone());
            continue;
        }
        out.push(BreakerView {
            worker: worker.to_string(),
            provider: provider.to_string(),
            state: state.to_string(),
            at_ms,
        });
    }
    if !stale.is_empty() {
        let _: redis::RedisResult<u64> = c.hdel(keys.breakers(), stale).await;
    }
    out.sort_by(|a, b| (&a.provider, &a.worker).cmp(&(&b.provider, &b.worker)));
    Ok(out)
}

/// Per provider: how many breakers are in each state, and the worst.
pub fn by_provider(breakers: &[BreakerView]) -> Vec<ProviderView> {
    let mut m: BTreeMap<&str, ProviderView> = BTreeMap::new();
    for b in breakers {
        let p = m.entry(&b.provider).or_insert(ProviderView {
            provider: b.provider.clone(),
            breaker: "closed".into(),
            open: 0,
            half_open: 0,
            closed: 0,
        });
        match b.state.as_str() {
            "open" => p.open += 1,
            "half_open" => p.half_open += 1,
            _ => p.closed += 1,
        }
        p.breaker = if p.open > 0 {
            "open"
        } else if p.half_open > 0 {
            "half_open"
        } else {
            "closed"
        }
        .into();
    }
    m.into_values().collect()
}

/// One provider's fleet-wide rate limiter now (`{p}:rate:<provider>`, see `lua/rate_limit.lua`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RateLimitView {
    pub provider: String,
    /// How far ahead of now the limiter has handed out slots, ms: 0 while calls pass at once;
    /// above 0, callers wait that long for their slot (the quota is in full use).
    pub reserved_ahead_ms: u64,
    /// Left of a provider's `Retry-After` hold, ms (0 = none).
    pub held_ms: u64,
}

/// The rate limiters of these providers, read on Redis' own clock.
pub async fn rate_limits(
    conn: &Conn,
    keys: &Keys,
    providers: &[String],
) -> redis::RedisResult<Vec<RateLimitView>> {
    let mut out = Vec::new();
    let mut c = conn.clone();
    for p in providers {
        // Redis' clock, the limiter state and the hold in one round trip (on a cluster TIME may
        // come from another node; their clocks agree far better than a millisecond matters here).
        let ((secs, micros), tat, hold): ((u64, u64), Option<u64>, i64) = redis::pipe()
            .cmd("TIME")
            .get(keys.rate_limit(p))
            .pttl(keys.rate_hold(p))
            .query_async(&mut c)
            .await?;
        let now_us = secs * 1_000_000 + micros;
        out.push(RateLimitView {
            provider: p.clone(),
            reserved_ahead_ms: tat.unwrap_or(0).saturating_sub(now_us) / 1000,
            held_ms: hold.max(0) as u64,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provider_is_as_bad_as_its_worst_breaker() {
        let b = |w: &str, s: &str| BreakerView {
            worker: w.into(),
            provider: "osrm".into(),
            state: s.into(),
            at_ms: 0,
        };
        let p = by_provider(&[b("a", "closed"), b("b", "half_open")]);
        assert_eq!((p[0].breaker.as_str(), p[0].half_open), ("half_open", 1));
        let p = by_provider(&[b("a", "open"), b("b", "half_open")]);
        assert_eq!(p[0].breaker, "open");
    }
}
