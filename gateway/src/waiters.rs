//! Waiting for jobs to finish, with one pub/sub subscription per gateway process.
//!
//! Workers publish a job's id on `{p}:done` once, when it reaches a terminal state (one message
//! carries the ids of every job one completion stored, separated by spaces). One task per
//! process holds the only subscription and wakes the requests waiting on that id. A waiter
//! **registers first, then reads the store, then waits**, so a completion that lands between the
//! read and the wait still wakes it. Pub/sub is at-most-once: when the subscription drops, every
//! waiter is woken to re-read the store, and again once the subscription is back, so nothing that
//! happened while it was down is missed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Slot {
    notify: Arc<Notify>,
    waiters: usize,
}

#[derive(Default)]
struct Inner {
    slots: Mutex<HashMap<String, Slot>>,
    /// Woken on every reconnect and disconnect: waiters re-read the store.
    everyone: Notify,
    subscribed: AtomicBool,
}

/// The process-wide registry of waiters.
#[derive(Clone, Default)]
pub struct Waiters {
    inner: Arc<Inner>,
}

/// One registered waiter; deregisters on drop.
pub struct WaitGuard {
    inner: Arc<Inner>,
    id: String,
    notify: Arc<Notify>,
}

impl Waiters {
    /// Registers interest in `id`. Call before reading the store.
    pub fn register(&self, id: &str) -> WaitGuard {
        let notify = {
            let mut slots = self.inner.slots.lock().unwrap_or_else(|p| p.into_inner());
            let slot = slots.entry(id.to_string()).or_default();
            slot.waiters += 1;
            slot.notify.clone()
        };
        metrics::gauge!(crate::metrics::WAITERS).increment(1.0);
        WaitGuard {
            inner: self.inner.clone(),
            id: id.to_string(),
            notify,
        }
    }

    /// Whether the subscription is live (readiness).
    pub fn is_subscribed(&self) -> bool {
        self.inner.subscribed.load(Ordering::Relaxed)
    }

    /// Wakes the waiters of every id in `ids` (one message names every job one completion
    /// stored, separated by single spaces).
    fn wake(&self, ids: &str) {
        let slots = self.inner.slots.lock().unwrap_or_else(|p| p.into_inner());
        if slots.is_empty() {
            return;
        }
        for id in ids.split(' ') {
            if let Some(slot) = slots.get(id) {
                slot.notify.notify_waiters();
            }
        }
    }

    fn wake_all(&self) {
        self.inner.everyone.notify_waiters();
    }

    /// Holds the subscription until `shutdown`, reconnecting with a capped backoff.
    pub async fn run(self, client: redis::Client, channel: String, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(50);
        while !shutdown.is_cancelled() {
            let connect = async {
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe(&channel).await?;
                Ok::<_, redis::RedisError>(pubsub)
            };
            let pubsub = tokio::select! {
                () = shutdown.cancelled() => break,
                r = tokio::time::timeout(Duration::from_secs(2), connect) => r,
            };
            match pubsub {
                Ok(Ok(pubsub)) => {
                    backoff = Duration::from_millis(50);
                    self.inner.subscribed.store(true, Ordering::Relaxed);
                    tracing::info!(channel = %channel, "subscribed to job completions");
                    // Anything that finished while we were not listening: let waiters re-read.
                    self.wake_all();
                    let mut messages = pubsub.into_on_message();
                    loop {
                        tokio::select! {
                            () = shutdown.cancelled() => break,
                            msg = messages.next() => match msg {
                                Some(msg) => {
                                    if let Ok(ids) = std::str::from_utf8(msg.get_payload_bytes()) {
                                        self.wake(ids);
                                    }
                                }
                                None => break,
                            }
                        }
                    }
                    self.inner.subscribed.store(false, Ordering::Relaxed);
                    self.wake_all();
                    if !shutdown.is_cancelled() {
                        tracing::warn!("completion subscription lost; reconnecting");
                    }
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot subscribe to job completions"),
                Err(_) => tracing::warn!("subscribing to job completions timed out"),
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
        self.inner.subscribed.store(false, Ordering::Relaxed);
        self.wake_all();
    }
}

impl WaitGuard {
    /// Arms a wait: a wake-up sent after this call returns is never lost, even though the
    /// returned future is first polled later. Arm, then read the store, then `wait()`.
    pub fn arm(&self) -> Armed<'_> {
        let mut one = Box::pin(self.notify.notified());
        let mut all = Box::pin(self.inner.everyone.notified());
        one.as_mut().enable();
        all.as_mut().enable();
        Armed { one, all }
    }
}

/// An enabled wait (see [`WaitGuard::arm`]).
pub struct Armed<'a> {
    one: std::pin::Pin<Box<tokio::sync::futures::Notified<'a>>>,
    all: std::pin::Pin<Box<tokio::sync::futures::Notified<'a>>>,
}

impl Armed<'_> {
    pub async fn wait(mut self) {
        tokio::select! {
            () = self.one.as_mut() => {},
            () = self.all.as_mut() => {},
        }
    }
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        let mut slots = self.inner.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = slots.get_mut(&self.id) {
            slot.waiters -= 1;
            if slot.waiters == 0 {
                slots.remove(&self.id);
            }
        }
        metrics::gauge!(crate::metrics::WAITERS).decrement(1.0);
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
        let channel = format!("{{waiters-test-{}}}:done", uuid::Uuid::new_v4().simple());
        let waiters = Waiters::default();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(waiters.clone().run(
            client.clone(),
            channel.clone(),
            shutdown.clone(),
        ));
        let until = tokio::time::Instant::now() + Duration::from_secs(5);
        while !waiters.is_subscribed() {
            assert!(tokio::time::Instant::now() < until, "never subscribed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        let named: Vec<_> = ["job-a", "job-b", "job-c"]
            .iter()
            .map(|id| waiters.register(id))
            .collect();
        let other = waiters.register("job-z");
        let armed: Vec<_> = named.iter().map(|g| g.arm()).collect();
        let other_armed = other.arm();

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

        for (i, a) in armed.into_iter().enumerate() {
            tokio::time::timeout(Duration::from_secs(2), a.wait())
                .await
                .unwrap_or_else(|_| panic!("waiter {i} was not woken"));
        }
        assert!(
            tokio::time::timeout(Duration::from_millis(200), other_armed.wait())
                .await
                .is_err(),
            "a job the message does not name was woken"
        );
        shutdown.cancel();
        task.await.expect("subscription task");
    }
}
