//! Waiting for jobs to finish, with one pub/sub subscription per gateway process.
//!
//! Workers publish a job's id on its partition's `{p}:done` once, when it reaches a terminal
//! state (one message carries the ids of every job one script ended, separated by spaces). One
//! task per process holds the subscriptions ([`Waiters::run`]: one connection, or one per
//! cluster node with sharded pub/sub), pings them, and wakes the requests waiting on those ids.
//!
//! A wait is one call, [`Waiters::wait`] (or [`Waiters::watch`] + [`Watch::until_done`] when the
//! wake-up must be armed before the job even exists): it **arms its wake-up first, then reads
//! the store, then waits**, so a completion that lands between the read and the wait still wakes
//! it. Pub/sub is at-most-once: when the subscription drops (or stops answering its heartbeat),
//! every waiter is woken to re-read the store, polls the store while it is down, and is woken
//! again once it is back, so nothing that happened meanwhile is missed.
//! At most `--max-waiters` requests wait at once; beyond that a wait answers with the job as it is.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::{PushInfo, PushKind};
use routeq_shared::job::JobRecord;
use routeq_shared::metrics::http as m;
use routeq_shared::redis::connect::{Dedicated, Settings};
use routeq_shared::redis::{Conn, JobStore, Keys, StoreError};
use tokio::sync::futures::OwnedNotified;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// How often a waiter re-reads the store while the subscription is down.
const POLL_UNSUBSCRIBED: Duration = Duration::from_millis(250);

#[derive(Default)]
struct Slot {
    notify: Arc<Notify>,
    waiters: usize,
}

struct Inner {
    slots: Mutex<HashMap<String, Slot>>,
    /// Woken on every reconnect and disconnect: waiters re-read the store.
    everyone: Arc<Notify>,
    /// Whether every subscription is live (readiness; waiters poll while it is not).
    subscribed: AtomicBool,
    /// Subscriptions (one per node that holds completion channels) and how many are live.
    units: std::sync::atomic::AtomicUsize,
    live: std::sync::atomic::AtomicUsize,
    /// Bounds the requests waiting at once.
    permits: Arc<Semaphore>,
}

/// The process-wide registry of waiters.
#[derive(Clone)]
pub struct Waiters {
    inner: Arc<Inner>,
}

/// One registered, armed waiter on one job; deregisters when dropped.
pub struct Watch {
    inner: Arc<Inner>,
    id: String,
    notify: Arc<Notify>,
    one: Pin<Box<OwnedNotified>>,
    all: Pin<Box<OwnedNotified>>,
    _permit: OwnedSemaphorePermit,
}

impl Waiters {
    /// A registry admitting at most `max_waiters` waits at once.
    pub fn new(max_waiters: usize) -> Waiters {
        Waiters {
            inner: Arc::new(Inner {
                slots: Mutex::new(HashMap::new()),
                everyone: Arc::new(Notify::new()),
                subscribed: AtomicBool::new(false),
                units: std::sync::atomic::AtomicUsize::new(0),
                live: std::sync::atomic::AtomicUsize::new(0),
                permits: Arc::new(Semaphore::new(max_waiters)),
            }),
        }
    }

    /// Registers and arms a wait on `id`: a completion published from now on is not missed.
    /// `None` (counted) when `--max-waiters` requests already wait.
    pub fn watch(&self, id: &str) -> Option<Watch> {
        let Ok(permit) = self.inner.permits.clone().try_acquire_owned() else {
            metrics::counter!(m::WAITS_REFUSED.name).increment(1);
            return None;
        };
        let notify = {
            let mut slots = self.inner.slots.lock().unwrap_or_else(|p| p.into_inner());
            let slot = slots.entry(id.to_string()).or_default();
            slot.waiters += 1;
            slot.notify.clone()
        };
        metrics::gauge!(m::WAITERS.name).increment(1.0);
        let mut watch = Watch {
            inner: self.inner.clone(),
            id: id.to_string(),
            one: Box::pin(notify.clone().notified_owned()),
            all: Box::pin(self.inner.everyone.clone().notified_owned()),
            notify,
            _permit: permit,
        };
        watch.arm();
        Some(watch)
    }

    /// The job once it is terminal, or as it is when `timeout` passes or the gateway shuts down
    /// (`None`: no such job for this tenant). With every wait slot taken, the job as it is now.
    pub async fn wait(
        &self,
        store: &JobStore,
        tenant: &str,
        id: &str,
        timeout: Duration,
        shutdown: &CancellationToken,
    ) -> Result<Option<JobRecord>, StoreError> {
        match self.watch(id) {
            Some(watch) => {
                watch
                    .until_done(store, tenant, None, Instant::now() + timeout, shutdown)
                    .await
            }
            None => store.get(tenant, id).await,
        }
    }

    /// Whether the subscription is live (readiness).
    pub fn is_subscribed(&self) -> bool {
        self.inner.subscribed.load(Ordering::Relaxed)
    }

    /// Wakes the waiters of every id in `ids` (space-separated).
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

impl Watch {
    /// Arms the next wake-up (a wake-up sent after this returns is never lost).
    fn arm(&mut self) {
        self.one = Box::pin(self.notify.clone().notified_owned());
        self.all = Box::pin(self.inner.everyone.clone().notified_owned());
        self.one.as_mut().enable();
        self.all.as_mut().enable();
    }

    /// Until the next wake-up: of this job (`true`), or of every waiter (`false`).
    async fn woken(&mut self) -> bool {
        tokio::select! {
            () = self.one.as_mut() => true,
            () = self.all.as_mut() => false,
        }
    }

    /// Until the next wake-up of this job (or of every waiter) or `max`, then armed again: for a
    /// stream that reads the job after each (`GET /v1/routes/{id}/events`).
    pub async fn next_wake(&mut self, max: Duration) {
        tokio::select! {
            _ = self.woken() => {},
            () = tokio::time::sleep(max) => {},
        }
        self.arm();
    }

    /// Waits until the job is terminal, `until` passes, or `shutdown`; returns the job as last
    /// read. `known` is the job as it was when the watch was armed (a job just created: no first
    /// read); otherwise each turn reads the store after arming.
    pub async fn until_done(
        mut self,
        store: &JobStore,
        tenant: &str,
        mut known: Option<JobRecord>,
        until: Instant,
        shutdown: &CancellationToken,
    ) -> Result<Option<JobRecord>, StoreError> {
        // Traces: the wake-up by the job's completion and the read that follows it.
        let mut wake: Option<tracing::Span> = None;
        loop {
            let record = match (known.take(), &wake) {
                (Some(r), _) => Some(r),
                (None, Some(span)) => {
                    use tracing::Instrument;
                    store.get(tenant, &self.id).instrument(span.clone()).await?
                }
                (None, None) => store.get(tenant, &self.id).await?,
            };
            match record {
                Some(r) if !r.state.is_terminal() && Instant::now() < until => {
                    // Without a live subscription no wake-up comes: poll the store instead.
                    let inner = self.inner.clone();
                    let poll = async move {
                        if inner.subscribed.load(Ordering::Relaxed) {
                            std::future::pending::<()>().await
                        }
                        tokio::time::sleep(POLL_UNSUBSCRIBED).await
                    };
                    tokio::select! {
                        mine = self.woken() => {
                            self.arm();
                            if routeq_shared::telemetry::trace::enabled() {
                                // `completion`: the job's own message; `everyone`: a
                                // (re)subscription woke every waiter to re-read.
                                let cause = if mine { "completion" } else { "everyone" };
                                wake = Some(tracing::info_span!(target: routeq_shared::telemetry::trace::TARGET, "waiter.wake", job_id = %self.id, cause));
                            }
                        }
                        () = poll => self.arm(),
                        () = tokio::time::sleep_until(until.into()) => return Ok(Some(r)),
                        () = shutdown.cancelled() => return Ok(Some(r)),
                    }
                }
                other => return Ok(other),
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut slots = self.inner.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = slots.get_mut(&self.id) {
            slot.waiters -= 1;
            if slot.waiters == 0 {
                slots.remove(&self.id);
            }
        }
        metrics::gauge!(m::WAITERS.name).decrement(1.0);
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

    #[test]
    fn beyond_the_bound_a_wait_is_refused() {
        let waiters = Waiters::new(1);
        let first = waiters.watch("a");
        assert!(first.is_some());
        assert!(waiters.watch("b").is_none());
        drop(first);
        assert!(waiters.watch("b").is_some());
    }
}
