//! `routeq-admin pause|resume`: workers stop (and start again) taking new jobs; see
//! [`routeq_shared::admin::pause`].

use std::io::Write;

use routeq_shared::admin::pause;
use routeq_shared::job::rfc3339_ms;
use routeq_shared::redis::RedisArgs;

pub async fn pause(redis: &RedisArgs, reason: &str, out: &mut impl Write) -> anyhow::Result<()> {
    let (conn, keys) = crate::cli::connect(redis)?;
    let p = pause::pause(&conn, &keys, reason).await?;
    writeln!(
        out,
        "paused since {}: workers take no new jobs; submits still queue",
        rfc3339_ms(p.since_ms)
    )?;
    Ok(())
}

pub async fn resume(redis: &RedisArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let (conn, keys) = crate::cli::connect(redis)?;
    if pause::resume(&conn, &keys).await? {
        writeln!(out, "resumed: workers take jobs again")?;
    } else {
        writeln!(out, "not paused")?;
    }
    Ok(())
}
