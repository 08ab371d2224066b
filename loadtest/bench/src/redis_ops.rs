//! The bench's own Redis commands: its connection, checks on the fleet's keys, and cleanup.
//!
//! Key names come from routeq's key space (`shared/src/redis/keys.rs`): every key of a fleet starts with
//! `{p}:`, `{p}:jobs` is the jobs stream (it holds the workers' consumer group) and `{p}:job:<id>`
//! the job hash with its `state` field.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use redis::aio::MultiplexedConnection;
use routeq_shared::redis::Keys;
use routeq_shared::redis::record::f;

/// Commands per pipeline when checking or deleting many keys.
const CHUNK: usize = 1_000;

pub async fn connect(url: &str) -> anyhow::Result<(redis::Client, MultiplexedConnection)> {
    let client = redis::Client::open(url).with_context(|| format!("Redis URL {url}"))?;
    let cfg = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(30)));
    let conn = client
        .get_multiplexed_async_connection_with_config(&cfg)
        .await
        .with_context(|| format!("connecting to Redis at {url}"))?;
    Ok((client, conn))
}

fn keys(prefix: &str) -> anyhow::Result<Keys> {
    Keys::new(prefix).map_err(anyhow::Error::msg)
}

/// The jobs stream: kept between runs, because it holds the consumer group.
pub fn jobs_stream(prefix: &str) -> anyhow::Result<String> {
    Ok(keys(prefix)?.jobs_stream())
}

/// How many of `ids` are in each state (`missing` for a job with no record).
pub async fn job_states(
    conn: &mut MultiplexedConnection,
    prefix: &str,
    ids: &[String],
) -> anyhow::Result<BTreeMap<String, usize>> {
    let keys = keys(prefix)?;
    let mut counts = BTreeMap::new();
    for chunk in ids.chunks(CHUNK) {
        let mut pipe = redis::pipe();
        for id in chunk {
            pipe.hget(keys.job(id), f::STATE);
        }
        let states: Vec<Option<String>> =
            pipe.query_async(conn).await.context("reading job states")?;
        for s in states {
            *counts
                .entry(s.unwrap_or_else(|| "missing".to_string()))
                .or_insert(0) += 1;
        }
    }
    Ok(counts)
}

/// Deletes every key under `prefix` but those in `keep` (SCAN, never FLUSHDB: the Redis is
/// shared). Returns how many.
pub async fn delete_prefix(
    conn: &mut MultiplexedConnection,
    prefix: &str,
    keep: &[String],
) -> anyhow::Result<u64> {
    let pattern = format!("{prefix}:*");
    let mut cursor: u64 = 0;
    let mut deleted = 0;
    loop {
        let (next, mut keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1_000)
            .query_async(conn)
            .await
            .with_context(|| format!("SCAN {pattern}"))?;
        keys.retain(|k| !keep.contains(k));
        if !keys.is_empty() {
            let n: u64 = redis::cmd("UNLINK")
                .arg(&keys)
                .query_async(conn)
                .await
                .with_context(|| format!("UNLINK under {prefix}"))?;
            deleted += n;
        }
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
    }
}

/// `redis_version` from `INFO server`.
pub async fn version(conn: &mut MultiplexedConnection) -> anyhow::Result<String> {
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(conn)
        .await
        .context("INFO server")?;
    Ok(info
        .lines()
        .find_map(|l| l.trim().strip_prefix("redis_version:"))
        .unwrap_or("unknown")
        .to_string())
}
