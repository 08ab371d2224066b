//! The completion subscriptions behind the waiters: one per partition channel (sharded on a
//! cluster), pinged, made again when they drop, waking the waiters a message names.

use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::{PushInfo, PushKind};
use routeq_shared::redis::connect::{Dedicated, Settings};
use routeq_shared::redis::{Conn, Keys};
use tokio_util::sync::CancellationToken;

use super::Waiters;

impl Waiters {
    /// Holds the completion subscriptions until `shutdown`: one per partition channel (on a
    /// cluster each on the node that owns it, with `SSUBSCRIBE`; otherwise all on one
    /// connection). Each is pinged every `heartbeat`; a missing answer, a disconnection or an
    /// error makes it again (re-resolving the node), and wakes every waiter both when it drops
    /// and when it is back, so nothing that ended meanwhile is missed.
    pub async fn run(
        self,
        conn: Conn,
        keys: Keys,
        settings: Settings,
        heartbeat: Duration,
        shutdown: CancellationToken,
    ) {
        let channels: Vec<String> = keys.all().iter().map(Keys::done_channel).collect();
        let units: Vec<Vec<String>> = if conn.is_cluster() {
            channels.into_iter().map(|c| vec![c]).collect()
        } else {
            vec![channels]
        };
        self.inner
            .units
            .store(units.len(), std::sync::atomic::Ordering::Relaxed);
        let tasks: Vec<_> = units
            .into_iter()
            .map(|channels| {
                let (w, c, s, t) = (
                    self.clone(),
                    conn.clone(),
                    settings.clone(),
                    shutdown.clone(),
                );
                tokio::spawn(async move { w.subscribe(c, channels, s, heartbeat, t).await })
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
        self.inner
            .live
            .store(0, std::sync::atomic::Ordering::Relaxed);
        self.refresh_subscribed();
        self.wake_all();
    }

    async fn subscribe(
        &self,
        conn: Conn,
        channels: Vec<String>,
        settings: Settings,
        heartbeat: Duration,
        shutdown: CancellationToken,
    ) {
        let sharded = conn.is_cluster();
        let mut backoff = Duration::from_millis(50);
        let mut lost: Option<std::time::Instant> = None;
        while !shutdown.is_cancelled() {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<PushInfo>();
            let mut dedicated = Dedicated::for_pushes(&conn, &channels[0], &settings, tx);
            let subscribed = tokio::time::timeout(Duration::from_secs(2), async {
                let c = dedicated.get().await?;
                for ch in &channels {
                    let cmd = if sharded { "SSUBSCRIBE" } else { "SUBSCRIBE" };
                    redis::cmd(cmd).arg(ch).exec_async(&mut *c).await?;
                }
                Ok::<_, redis::RedisError>(())
            });
            let ok = tokio::select! {
                () = shutdown.cancelled() => break,
                r = subscribed => r,
            };
            match ok {
                Ok(Ok(())) => {
                    backoff = Duration::from_millis(50);
                    self.inner
                        .live
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    self.refresh_subscribed();
                    match lost.take() {
                        Some(since) => {
                            tracing::info!(
                                channels = channels.len(),
                                down_ms = since.elapsed().as_millis() as u64,
                                "completion subscription is back"
                            );
                            metrics::counter!(routeq_shared::metrics::redis::RECOVERIES.name, "connection" => "subscription", "what" => "resubscribed").increment(1);
                        }
                        None => tracing::info!(
                            channels = channels.len(),
                            "subscribed to job completions"
                        ),
                    }
                    // Anything that finished while we were not listening: let waiters re-read.
                    self.wake_all();
                    let why = self
                        .listen(&mut dedicated, &mut rx, heartbeat, &shutdown)
                        .await;
                    self.inner
                        .live
                        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                    self.refresh_subscribed();
                    self.wake_all();
                    if shutdown.is_cancelled() {
                        break;
                    }
                    tracing::warn!(
                        reason = why,
                        "completion subscription lost; waiters poll until it is back"
                    );
                    lost = Some(std::time::Instant::now());
                }
                Ok(Err(e)) => {
                    lost.get_or_insert_with(std::time::Instant::now);
                    tracing::debug!(error = %e, "cannot subscribe to job completions yet");
                }
                Err(_) => {
                    lost.get_or_insert_with(std::time::Instant::now);
                    tracing::debug!("subscribing to job completions timed out");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    /// Wakes waiters from the pushes until the subscription dies; says why it did.
    async fn listen(
        &self,
        dedicated: &mut Dedicated,
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<PushInfo>,
        heartbeat: Duration,
        shutdown: &CancellationToken,
    ) -> &'static str {
        let mut tick = tokio::time::interval(heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return "shutdown",
                push = rx.recv() => match push {
                    Some(p) => match p.kind {
                        PushKind::Message | PushKind::SMessage => {
                            if let Some(ids) = p.data.get(1).and_then(|v| redis::from_redis_value_ref::<String>(v).ok()) {
                                self.wake(&ids);
                            }
                        }
                        PushKind::Disconnection => return "disconnected",
                        PushKind::Unsubscribe | PushKind::SUnsubscribe => return "unsubscribed by the server",
                        _ => {}
                    },
                    None => return "closed",
                },
                _ = tick.tick() => {
                    let ping = async {
                        let c = dedicated.get().await?;
                        redis::cmd("PING").query_async::<String>(&mut *c).await
                    };
                    match tokio::time::timeout(heartbeat.max(Duration::from_millis(200)), ping).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(_)) => return "heartbeat failed",
                        Err(_) => return "heartbeat unanswered",
                    }
                }
            }
        }
    }

    fn refresh_subscribed(&self) {
        let live = self.inner.live.load(std::sync::atomic::Ordering::Relaxed);
        let units = self.inner.units.load(std::sync::atomic::Ordering::Relaxed);
        let on = units > 0 && live >= units;
        self.inner.subscribed.store(on, Ordering::Relaxed);
        metrics::gauge!(routeq_shared::metrics::redis::SUBSCRIBED.name).set(if on {
            1.0
        } else {
            0.0
        });
    }
}

#[cfg(test)]
mod tests {
    use super::Waiters;
    use std::time::Duration;
    use tokio_util::sync::CancellationToken;

    /// One completion message names every job a completion script stored: each named waiter
    /// wakes, and a waiter on another id does not.
    #[tokio::test]
    async fn one_message_wakes_every_job_it_names_and_no_other() {
        let client = redis::Client::open("redis://127.0.0.1:6379").expect("client");
        let prefix = format!("{{waiters-test-{}}}", uuid::Uuid::new_v4().simple());
        let args =
            routeq_shared::redis::RedisArgs::new("redis://127.0.0.1:6379", &prefix).expect("args");
        let keys = args.keys().expect("keys");
        let channel = keys.done_channel();
        let settings = args.settings(routeq_shared::redis::connect::Timeouts::GATEWAY);
        let conn = args
            .command_connection(routeq_shared::redis::connect::Timeouts::GATEWAY)
            .expect("conn");
        let waiters = Waiters::new(16);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(waiters.clone().run(
            conn,
            keys,
            settings,
            Duration::from_millis(500),
            shutdown.clone(),
        ));
        let until = tokio::time::Instant::now() + Duration::from_secs(5);
        while !waiters.is_subscribed() {
            assert!(tokio::time::Instant::now() < until, "never subscribed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        let mut named: Vec<_> = ["job-a", "job-b", "job-c"]
            .iter()
            .map(|id| waiters.watch(id).expect("a slot"))
            .collect();
        let mut other = waiters.watch("job-z").expect("a slot");

        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connection");
        let receivers: i64 = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg("job-a job-b job-c")
            .query_async(&mut conn)
            .await
            .expect("publish");
        assert_eq!(receivers, 1, "the gateway's one subscription");

        for (i, w) in named.iter_mut().enumerate() {
            tokio::time::timeout(Duration::from_secs(2), w.woken())
                .await
                .unwrap_or_else(|_| panic!("waiter {i} was not woken"));
        }
        assert!(
            tokio::time::timeout(Duration::from_millis(200), other.woken())
                .await
                .is_err(),
            "a job the message does not name was woken"
        );
        shutdown.cancel();
        task.await.expect("subscription task");
    }
}
