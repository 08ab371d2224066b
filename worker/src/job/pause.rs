//! Whether the fleet is paused (`routeq-admin pause`, the console): watched here every 250 ms
//! (one `GET` of `{p}:paused`), read by every reader before it asks for new entries. While
//! paused a worker reads nothing new and reclaims nothing; the jobs it already holds finish.
//! A read blocked when the pause begins may still deliver (at most `--block-ms` later).

use std::time::Duration;

use routeq_shared::redis::{Conn, Keys};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How often the pause key is read.
pub const EVERY: Duration = Duration::from_millis(250);

/// A new switch: the sender for [`watch_loop`], the receiver for the readers. Starts unpaused
/// until the first read says otherwise.
pub fn switch() -> (watch::Sender<bool>, watch::Receiver<bool>) {
    watch::channel(false)
}

/// Reads the pause key every [`EVERY`] until `shutdown`. A failed read keeps the last state.
pub async fn watch_loop(
    conn: Conn,
    keys: Keys,
    tx: watch::Sender<bool>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match routeq_shared::admin::pause::get(&conn, &keys).await {
            Ok(p) => {
                let paused = p.is_some();
                if *tx.borrow() != paused {
                    match &p {
                        Some(p) => {
                            tracing::info!(reason = %p.reason, "the fleet is paused: taking no new jobs")
                        }
                        None => tracing::info!("the fleet is resumed: taking jobs again"),
                    }
                    tx.send_replace(paused);
                }
            }
            Err(e) => tracing::debug!(error = %e, "cannot read the pause key"),
        }
    }
}

/// Waits while paused; `false` when `shutdown` came first.
pub async fn wait_while_paused(rx: &watch::Receiver<bool>, shutdown: &CancellationToken) -> bool {
    if !*rx.borrow() {
        return true;
    }
    let mut rx = rx.clone();
    tokio::select! {
        r = rx.wait_for(|paused| !*paused) => r.is_ok(),
        () = shutdown.cancelled() => false,
    }
}
