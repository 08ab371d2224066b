//! Publishes this worker's breaker states to the fleet's `{p}:breakers` every second, for
//! `routeq-admin stats` and the console (the same states as this worker's
//! `routeq_breaker_state` gauge). Entries of workers gone for 10 s are ignored and removed by
//! the readers ([`routeq_shared::admin::stats::breakers`]).

use std::time::Duration;

use routeq_shared::redis::{Conn, Keys};
use tokio_util::sync::CancellationToken;

use crate::calls::breaker::BreakerWatch;

pub async fn publish_loop(
    conn: Conn,
    keys: Keys,
    consumer: String,
    breakers: Vec<BreakerWatch>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let states: Vec<(&str, &str)> = breakers
            .iter()
            .map(|b| (b.provider, b.state().as_str()))
            .collect();
        if let Err(e) =
            routeq_shared::admin::stats::publish_breakers(&conn, &keys, &consumer, &states).await
        {
            tracing::debug!(error = %e, "publishing the breaker states failed");
        }
    }
}
