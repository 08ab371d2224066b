//! Waiting for jobs to finish, with one pub/sub subscription per gateway process.
//!
//! Workers publish a job's id on its partition's `{p}:done` once, when it reaches a terminal
//! state (one message carries every job one script ended: their ids, then each job as it ended,
//! `routeq_shared::redis::record::DoneMessage`). A waiter woken by its job's message answers
//! with the job the message carried, without reading it again. One task per process holds the
//! subscriptions ([`Waiters::run`]: one connection, or one per
//! cluster node with sharded pub/sub), pings them, and wakes the requests waiting on those ids.
//!
//! A wait is one call, [`Waiters::wait`] (or [`Waiters::watch`] + [`Watch::until_done`] when the
//! wake-up must be armed before the job even exists): it **arms its wake-up first, then reads
//! the store, then waits**, so a completion that lands between the read and the wait still wakes
//! it. Pub/sub is at-most-once: when the subscription drops (or stops answering its heartbeat),
//! every waiter is woken to re-read the store, polls the store while it is down, and is woken
//! again once it is back, so nothing that happened meanwhile is missed.
//! At most `--max-waiters` requests wait at once; beyond that a wait answers with the job as it is.
//!
//! This module owns the registry and a wait; `subscription.rs` the subscriptions that wake it.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use routeq_shared::job::JobRecord;
use routeq_shared::metrics::http as m;
use routeq_shared::redis::record::{DoneMessage, decode_done_job};
use routeq_shared::redis::{JobStore, StoreError};
use tokio::sync::futures::OwnedNotified;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
mod subscription;

/// How often a waiter re-reads the store while the subscription is down.
const POLL_UNSUBSCRIBED: Duration = Duration::from_millis(250);

#[derive(Default)]
struct Slot {
    notify: Arc<Notify>,
    /// The job as its completion message carried it, for its waiters to answer with.
    ended: Arc<OnceLock<JobRecord>>,
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
    ended: Arc<OnceLock<JobRecord>>,
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
        let (notify, ended) = {
            let mut slots = self.inner.slots.lock().unwrap_or_else(|p| p.into_inner());
            let slot = slots.entry(id.to_string()).or_default();
            slot.waiters += 1;
            (slot.notify.clone(), slot.ended.clone())
        };
        metrics::gauge!(m::WAITERS.name).increment(1.0);
        let mut watch = Watch {
            inner: self.inner.clone(),
            id: id.to_string(),
            one: Box::pin(notify.clone().notified_owned()),
            all: Box::pin(self.inner.everyone.clone().notified_owned()),
            notify,
            ended,
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

    /// Wakes the waiters of every job a completion message names, handing each the job as the
    /// message carried it.
    fn wake(&self, payload: &str) {
        // The slots this message names, taken under the lock; the jobs are decoded after it, so
        // requests arming or leaving a wait are not held up by JSON.
        let named: Vec<_> = {
            let slots = self.inner.slots.lock().unwrap_or_else(|p| p.into_inner());
            if slots.is_empty() {
                return;
            }
            DoneMessage::parse(payload)
                .entries()
                .filter_map(|(id, line)| {
                    let slot = slots.get(id)?;
                    Some((id, line, slot.notify.clone(), slot.ended.clone()))
                })
                .collect()
        };
        for (id, line, notify, ended) in named {
            if let Some(job) = line.and_then(|l| decode_done_job(id, l))
                && job.state.is_terminal()
            {
                let _ = ended.set(job);
            }
            notify.notify_waiters();
        }
    }

    fn wake_all(&self) {
        self.inner.everyone.notify_waiters();
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
            // The job as its completion message carried it, when that woke us: no read.
            let ended = self.ended.get().filter(|r| r.tenant == tenant).cloned();
            let record = match (ended.or_else(|| known.take()), &wake) {
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

    #[test]
    fn beyond_the_bound_a_wait_is_refused() {
        let waiters = Waiters::new(1);
        let first = waiters.watch("a");
        assert!(first.is_some());
        assert!(waiters.watch("b").is_none());
        drop(first);
        assert!(waiters.watch("b").is_some());
    }

    /// A waiter woken by a message that carries its job answers with that job: no read (the
    /// store here is empty, so a read would find no job at all).
    #[tokio::test]
    async fn a_waiter_woken_by_a_message_carrying_its_job_answers_with_it() {
        use routeq_shared::Code;
        use routeq_shared::job::{JobRecord, JobState};
        use std::sync::atomic::Ordering;
        use std::time::{Duration, Instant};
        let prefix = format!("{{waiters-carry-{}}}", uuid::Uuid::new_v4().simple());
        let args =
            routeq_shared::redis::RedisArgs::new("redis://127.0.0.1:6379", &prefix).expect("args");
        let conn = args
            .command_connection(routeq_shared::redis::connect::Timeouts::GATEWAY)
            .expect("conn");
        let store = routeq_shared::redis::JobStore::new(
            conn,
            args.keys().expect("keys"),
            routeq_shared::redis::store::Retention {
                result_ttl_ms: 1_000,
                record: false,
            },
        );
        let waiters = Waiters::new(4);
        // As if subscribed: the waiter waits for its wake-up instead of polling the store.
        waiters.inner.subscribed.store(true, Ordering::Relaxed);
        let queued = JobRecord {
            id: "job-q".into(),
            tenant: "acme".into(),
            request_id: "rid".into(),
            request_json: "{}".into(),
            state: JobState::Queued,
            code: Code::JobQueued,
            submitted_ms: 1,
            deadline_ms: 2,
            started_ms: 0,
            finished_ms: 0,
            attempts: 0,
            outcome: None,
        };
        let watch = waiters.watch("job-q").expect("a slot");
        let shutdown = tokio_util::sync::CancellationToken::new();
        let known = queued.clone();
        let waiting = tokio::spawn(async move {
            watch
                .until_done(
                    &store,
                    "acme",
                    Some(known),
                    Instant::now() + Duration::from_secs(5),
                    &shutdown,
                )
                .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let line = r#"["id","job-q","tenant","acme","rid","rid","req","{}","state","succeeded","code","ROUTE_OK","sub","1","dl","2","fin","3","att","1"]"#;
        waiters.wake(&format!("other job-q\n[\"id\",\"other\"]\n{line}"));
        let got = tokio::time::timeout(Duration::from_secs(2), waiting)
            .await
            .expect("woken")
            .expect("task")
            .expect("no store error")
            .expect("the job from the message");
        assert_eq!(
            got,
            JobRecord {
                state: JobState::Succeeded,
                code: Code::RouteOk,
                finished_ms: 3,
                attempts: 1,
                ..queued
            }
        );
    }
}
