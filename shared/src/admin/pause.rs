//! Pausing consumption fleet-wide: while `{p}:paused` exists, workers read no new jobs from the
//! stream (jobs they already hold finish); submits still queue. The key has no TTL: a pause
//! lasts until `resume`.

use redis::AsyncCommands;

use crate::redis::{Conn, Keys};

/// The pause as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Paused {
    /// Since when, epoch ms.
    pub since_ms: u64,
    /// Why, as the operator said (may be empty).
    pub reason: String,
}

/// Pauses the fleet (again: the first pause's time is kept, the reason replaced).
pub async fn pause(conn: &Conn, keys: &Keys, reason: &str) -> redis::RedisResult<Paused> {
    let since_ms = match get(conn, keys).await? {
        Some(p) => p.since_ms,
        None => crate::job::now_ms(),
    };
    let p = Paused {
        since_ms,
        reason: reason.to_string(),
    };
    let mut c = conn.clone();
    let _: () = c
        .set(keys.paused(), serde_json::to_string(&p).unwrap_or_default())
        .await?;
    Ok(p)
}

/// Resumes; `false` when the fleet was not paused.
pub async fn resume(conn: &Conn, keys: &Keys) -> redis::RedisResult<bool> {
    let mut c = conn.clone();
    let n: u64 = c.del(keys.paused()).await?;
    Ok(n > 0)
}

/// The pause in effect, if any. A value that is not ours still counts as a pause.
pub async fn get(conn: &Conn, keys: &Keys) -> redis::RedisResult<Option<Paused>> {
    let mut c = conn.clone();
    let v: Option<String> = c.get(keys.paused()).await?;
    Ok(v.map(|v| {
        serde_json::from_str(&v).unwrap_or(Paused {
            since_ms: 0,
            reason: v,
        })
    }))
}
