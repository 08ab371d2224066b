//! The failure codes jobs ended with, counted per minute by the workers and summed over the
//! last minutes.

use std::collections::{BTreeMap, HashMap};

use redis::AsyncCommands;

use crate::redis::{Conn, Keys};

/// How many jobs ended with one failure code in the last minutes.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CodeCount {
    pub code: String,
    pub count: u64,
}

/// How long the per-minute failure counts are kept.
pub const CODES_KEPT_S: i64 = 15 * 60;
/// The minutes the overview sums.
pub const RECENT_MINUTES: u64 = 5;

/// Adds a worker's failure counts of this minute (`code → n`), every second from each worker.
pub async fn publish_codes(
    conn: &Conn,
    keys: &Keys,
    counts: &[(&str, u64)],
) -> redis::RedisResult<()> {
    if counts.is_empty() {
        return Ok(());
    }
    let key = keys.codes(crate::job::now_ms() / 60_000);
    let mut p = redis::pipe();
    for (code, n) in counts {
        p.hincr(&key, *code, *n).ignore();
    }
    p.expire(&key, CODES_KEPT_S).ignore();
    let mut c = conn.clone();
    p.exec_async(&mut c).await
}

/// Failure codes of the jobs that ended in the last [`RECENT_MINUTES`] minutes, most first.
pub async fn recent_codes(conn: &Conn, keys: &Keys) -> redis::RedisResult<Vec<CodeCount>> {
    let now_min = crate::job::now_ms() / 60_000;
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    let mut c = conn.clone();
    for m in now_min.saturating_sub(RECENT_MINUTES - 1)..=now_min {
        let f: HashMap<String, u64> = c.hgetall(keys.codes(m)).await?;
        for (code, n) in f {
            *totals.entry(code).or_default() += n;
        }
    }
    let mut out: Vec<CodeCount> = totals
        .into_iter()
        .map(|(code, count)| CodeCount { code, count })
        .collect();
    out.sort_by_key(|c| std::cmp::Reverse(c.count));
    Ok(out)
}
