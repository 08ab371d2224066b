//! The notifier's two loops per partition.
//!
//! 1. **Fan-out**: read the webhook outbox `{p}:notify` through the `notifiers` consumer group
//!    (entries a dead notifier left pending are taken over with XAUTOCLAIM); for each finished
//!    job, one delivery per endpoint it names whose filter wants the event, added to
//!    `{p}:notify:due` due now, and the entry acknowledged and deleted, all in one MULTI: an
//!    event is either still in the outbox or fully fanned out.
//! 2. **Delivery**: take the due deliveries under a lease (`claim.lua`), hand each to
//!    routeq-notify's [`Deliverer`] (per-endpoint timeout, concurrency limit, breaker, SSRF check
//!    at every attempt), then settle it (`settle.lua`): done, retried later with one more attempt
//!    counted, or moved to the dead letters `{p}:notify:dead`. A notifier that dies holding a
//!    delivery only delays it by the lease; one that dies after the receiver answered but before
//!    it settled causes the one kind of duplicate, with the same `webhook-id`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::Script;
use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamReadOptions, StreamReadReply,
};
use routeq_notify::{
    Deliverer, Delivery, Endpoint, Event, EventFilter, HealthChange, Next, Outcome, Secret,
};
use routeq_shared::metrics::webhooks as m;
use routeq_shared::redis::connect::{Dedicated, Settings};
use routeq_shared::redis::record::entry_fields;
use routeq_shared::redis::webhooks::{WebhookRecord, Webhooks};
use routeq_shared::redis::{Conn, Keys};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::task::{Finished, Task};

static CLAIM: std::sync::LazyLock<Script> =
    std::sync::LazyLock::new(|| Script::new(include_str!("lua/claim.lua")));
static SETTLE: std::sync::LazyLock<Script> =
    std::sync::LazyLock::new(|| Script::new(include_str!("lua/settle.lua")));
pub(crate) static REPLAY: std::sync::LazyLock<Script> =
    std::sync::LazyLock::new(|| Script::new(include_str!("lua/replay.lua")));

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What the loops share.
pub struct Engine {
    pub conn: Conn,
    pub settings: Settings,
    pub keys: Keys,
    pub consumer: String,
    pub deliverer: Deliverer,
    pub endpoints: EndpointCache,
    pub lease: Duration,
    pub reclaim_idle_ms: u64,
    pub batch: usize,
    pub poll: Duration,
    /// Deliveries this process holds (not taken twice while in flight).
    held: Mutex<HashSet<String>>,
    /// Bounds the deliveries held at once.
    slots: Arc<Semaphore>,
    /// Each loop's last step (fan-out of partition p: 2p, its delivery loop: 2p + 1).
    pub heartbeat: Arc<crate::health::Heartbeat>,
}

impl Engine {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        conn: Conn,
        settings: Settings,
        keys: Keys,
        consumer: String,
        deliverer: Deliverer,
        lease: Duration,
        reclaim_idle_ms: u64,
        batch: usize,
        poll: Duration,
    ) -> Arc<Engine> {
        let max_pending = deliverer.config().max_pending.max(1);
        let loops = (0..keys.all().len())
            .flat_map(|p| [format!("fan_out:{p}"), format!("deliver:{p}")])
            .collect();
        Arc::new(Engine {
            heartbeat: Arc::new(crate::health::Heartbeat::new(loops)),
            endpoints: EndpointCache::new(Webhooks::new(conn.clone(), keys.clone())),
            conn,
            settings,
            keys,
            consumer,
            deliverer,
            lease,
            reclaim_idle_ms,
            batch,
            poll,
            held: Mutex::new(HashSet::new()),
            slots: Arc::new(Semaphore::new(max_pending)),
        })
    }

    /// Runs both loops of every partition and the backlog gauges until `shutdown`.
    pub async fn run(self: Arc<Engine>, shutdown: CancellationToken) {
        let mut tasks = Vec::new();
        for (i, p) in self.keys.all().into_iter().enumerate() {
            let wake = Arc::new(Notify::new());
            tasks.push(tokio::spawn(self.clone().fan_out(
                p.clone(),
                wake.clone(),
                shutdown.clone(),
                2 * i,
            )));
            tasks.push(tokio::spawn(self.clone().deliver_loop(
                p,
                wake,
                shutdown.clone(),
                2 * i + 1,
            )));
        }
        tasks.push(tokio::spawn(self.clone().gauges(shutdown.clone())));
        for t in tasks {
            let _ = t.await;
        }
        // Let deliveries in flight settle (bounded by the attempt timeout).
        let all = u32::try_from(self.deliverer.config().max_pending.max(1)).unwrap_or(u32::MAX);
        let grace = self.deliverer.config().http.timeout + Duration::from_secs(1);
        let _ = tokio::time::timeout(grace, self.slots.acquire_many(all)).await;
    }

    async fn gauges(self: Arc<Engine>, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            match crate::dead::backlog(&self.conn, &self.keys).await {
                Ok((outbox, due, dead)) => {
                    metrics::gauge!(m::UNDELIVERED.name, "stage" => "outbox").set(outbox as f64);
                    metrics::gauge!(m::UNDELIVERED.name, "stage" => "due").set(due as f64);
                    metrics::gauge!(m::UNDELIVERED.name, "stage" => "dead").set(dead as f64);
                }
                Err(e) => tracing::debug!(error = %e, "cannot read the webhook backlog"),
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
    }

    /// The fan-out loop of one partition.
    async fn fan_out(
        self: Arc<Engine>,
        k: Keys,
        wake: Arc<Notify>,
        shutdown: CancellationToken,
        beat: usize,
    ) {
        let stream = k.notify_stream();
        let block = Duration::from_millis(1000);
        let mut reader = Dedicated::for_reads(&self.conn, &stream, &self.settings, block);
        let mut group_ready = false;
        let mut pending_first = true;
        let mut last_reclaim = Instant::now();
        let mut backoff = Duration::from_millis(100);
        while !shutdown.is_cancelled() {
            self.heartbeat.beat(beat);
            let step = async {
                if !group_ready {
                    routeq_shared::redis::ensure_group(&self.conn, &stream, Keys::NOTIFIERS)
                        .await
                        .map_err(|e| anyhow::anyhow!("creating the notifiers group: {e}"))?;
                    group_ready = true;
                }
                let mut commands = self.conn.clone();
                let mut entries = Vec::new();
                if last_reclaim.elapsed() >= Duration::from_millis(self.reclaim_idle_ms / 2) {
                    last_reclaim = Instant::now();
                    let reply: StreamAutoClaimReply = redis::AsyncCommands::xautoclaim_options(
                        &mut commands,
                        &stream,
                        Keys::NOTIFIERS,
                        &self.consumer,
                        self.reclaim_idle_ms,
                        "0-0",
                        StreamAutoClaimOptions::default().count(self.batch),
                    )
                    .await?;
                    entries = reply.claimed;
                }
                if entries.is_empty() {
                    let (id, blocking) = if pending_first {
                        ("0", false)
                    } else {
                        (">", true)
                    };
                    let mut opts = StreamReadOptions::default()
                        .group(Keys::NOTIFIERS, &self.consumer)
                        .count(self.batch);
                    if blocking {
                        opts = opts.block(block.as_millis() as usize);
                    }
                    let read = reader.get().await?;
                    let reply: StreamReadReply =
                        redis::AsyncCommands::xread_options(&mut *read, &[&stream], &[id], &opts)
                            .await?;
                    entries = reply.keys.into_iter().flat_map(|k| k.ids).collect();
                    if pending_first && entries.is_empty() {
                        pending_first = false;
                    }
                }
                if entries.is_empty() {
                    return Ok::<(), anyhow::Error>(());
                }
                let now = now_ms();
                let mut pipe = redis::pipe();
                pipe.atomic();
                let mut added = 0usize;
                for e in &entries {
                    let fields = entry_fields(&e.map);
                    let Some(event) = Finished::decode(&fields) else {
                        tracing::error!(entry_id = %e.id, "unreadable webhook outbox entry skipped");
                        continue;
                    };
                    let targets = self.targets(&event).await?;
                    if targets.is_empty() {
                        metrics::counter!(m::EVENTS.name, "outcome" => "no_endpoint").increment(1);
                        continue;
                    }
                    metrics::counter!(m::EVENTS.name, "outcome" => "fanned_out").increment(1);
                    for ep in targets {
                        let task = event.task(&ep);
                        pipe.cmd("ZADD")
                            .arg(k.notify_due())
                            .arg("NX")
                            .arg(now)
                            .arg(task.member())
                            .ignore();
                        added += 1;
                    }
                }
                let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
                pipe.xack(&stream, Keys::NOTIFIERS, &ids)
                    .ignore()
                    .xdel(&stream, &ids)
                    .ignore();
                pipe.query_async::<()>(&mut commands).await?;
                if added > 0 {
                    wake.notify_one();
                }
                Ok(())
            };
            match step.await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => {
                    reader.reset();
                    if e.to_string().contains("NOGROUP") {
                        group_ready = false;
                    }
                    pending_first = true;
                    tracing::warn!(error = %e, "webhook fan-out failed; the events stay in the outbox and are retried");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// The endpoints an event goes to: those it names that exist and whose filter wants it.
    async fn targets(&self, event: &Finished) -> anyhow::Result<Vec<String>> {
        let ids: Vec<String> = if event.webhooks == "*" {
            self.endpoints.store.ids(&event.tenant).await?
        } else {
            event
                .webhooks
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(ep) = self
                .endpoints
                .get(&self.deliverer, &event.tenant, &id)
                .await?
            {
                let wants = match &ep {
                    Resolved::Ready(e) => e.filter().matches(event.event_type),
                    Resolved::Broken(r, _) => {
                        EventFilter::new(r.events.clone()).matches(event.event_type)
                    }
                };
                if wants {
                    out.push(id);
                }
            }
        }
        Ok(out)
    }

    /// The delivery loop of one partition.
    async fn deliver_loop(
        self: Arc<Engine>,
        k: Keys,
        wake: Arc<Notify>,
        shutdown: CancellationToken,
        beat: usize,
    ) {
        let mut backoff = Duration::from_millis(100);
        while !shutdown.is_cancelled() {
            self.heartbeat.beat(beat);
            let free = self.slots.available_permits().min(self.batch);
            let taken = if free == 0 {
                Ok(Vec::new())
            } else {
                self.claim(&k, free).await
            };
            match taken {
                Ok(members) if !members.is_empty() => {
                    backoff = Duration::from_millis(100);
                    for member in members {
                        self.clone().start(&k, member).await;
                    }
                    continue;
                }
                Ok(_) => backoff = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot take due webhook deliveries; retrying");
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = wake.notified() => {}
                () = tokio::time::sleep(self.poll.max(backoff)) => {}
            }
        }
    }

    async fn claim(&self, k: &Keys, n: usize) -> redis::RedisResult<Vec<String>> {
        let mut conn = self.conn.clone();
        CLAIM
            .key(k.notify_due())
            .arg(now_ms())
            .arg(self.lease.as_millis() as u64)
            .arg(n)
            .invoke_async(&mut conn)
            .await
    }

    /// Starts one taken delivery on a task of its own.
    async fn start(self: Arc<Engine>, k: &Keys, member: String) {
        {
            let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            if !held.insert(member.clone()) {
                return; // Ours already, still in flight: its lease was only extended.
            }
        }
        let Ok(permit) = self.slots.clone().acquire_owned().await else {
            return;
        };
        let k = k.clone();
        tokio::spawn(async move {
            self.deliver_one(&k, &member).await;
            self.held
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&member);
            drop(permit);
        });
    }

    async fn deliver_one(&self, k: &Keys, member: &str) {
        let Some(task) = Task::parse(member) else {
            tracing::error!("unreadable webhook delivery dropped");
            self.settle(k, member, Settle::Done).await;
            return;
        };
        let endpoint = match self
            .endpoints
            .get(&self.deliverer, &task.tenant, &task.endpoint)
            .await
        {
            Ok(Some(Resolved::Ready(e))) => e,
            Ok(Some(Resolved::Broken(_, why))) => {
                tracing::warn!(job_id = %task.job_id, webhook_id = %task.endpoint, error = %why, "webhook endpoint unusable; dead letter");
                self.settle(k, member, Settle::Dead(task.clone(), "invalid"))
                    .await;
                return;
            }
            Ok(None) => {
                // Deleted since: nothing to deliver.
                self.settle(k, member, Settle::Done).await;
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the webhook endpoint; the delivery comes back after its lease");
                return;
            }
        };
        let event = match Event::new(
            task.event_id.clone(),
            task.event_type.clone(),
            task.created_at(),
            task.body.clone(),
        ) {
            Ok(e) => Arc::new(e),
            Err(e) => {
                tracing::error!(job_id = %task.job_id, error = %e, "invalid webhook event; dead letter");
                self.settle(k, member, Settle::Dead(task.clone(), "invalid"))
                    .await;
                return;
            }
        };
        let delivery = Delivery {
            event,
            endpoint,
            attempts_made: task.attempts,
        };
        let report = self.deliverer.deliver(&delivery).await;
        if let Some(change) = report.health {
            self.endpoints
                .persist(&task.tenant, &task.endpoint, change)
                .await;
        }
        let mut next = task.clone();
        next.attempts = report.attempts_made;
        let settle = match report.next {
            Next::Done => {
                if matches!(report.outcome, Outcome::Delivered { .. }) {
                    let lag = now_ms().saturating_sub(task.created_ms) as f64 / 1000.0;
                    metrics::histogram!(m::DELIVERY_LAG_SECONDS.name).record(lag);
                    tracing::debug!(job_id = %task.job_id, webhook_id = %task.endpoint, "webhook delivered");
                }
                Settle::Done
            }
            Next::RetryIn(d) => Settle::Retry(next, now_ms() + d.as_millis() as u64),
            Next::DeadLetter => {
                tracing::warn!(job_id = %task.job_id, webhook_id = %task.endpoint, class = report.outcome.class(), attempts = report.attempts_made, "webhook delivery is a dead letter");
                Settle::Dead(next, report.outcome.class())
            }
        };
        self.settle(k, member, settle).await;
    }

    async fn settle(&self, k: &Keys, member: &str, how: Settle) {
        let mut inv = SETTLE.prepare_invoke();
        inv.key(k.notify_due()).key(k.notify_dead()).arg(member);
        match &how {
            Settle::Done => {
                inv.arg("done");
            }
            Settle::Retry(next, due) => {
                inv.arg("retry").arg(next.member()).arg(*due);
            }
            Settle::Dead(task, class) => {
                inv.arg("dead").arg(task.member()).arg(*class).arg(now_ms());
            }
        }
        for attempt in 0..5u32 {
            let mut conn = self.conn.clone();
            match inv.invoke_async::<i64>(&mut conn).await {
                Ok(settled) => {
                    if settled == 1
                        && let Settle::Dead(_, class) = &how
                    {
                        metrics::counter!(m::DEAD_LETTERED.name, "class" => *class).increment(1);
                    }
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "cannot settle a webhook delivery yet");
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
            }
        }
        // Unsettled: the delivery comes back when its lease passes (at least once).
    }
}

enum Settle {
    Done,
    Retry(Task, u64),
    Dead(Task, &'static str),
}

/// An endpoint as the notifier can use it, or its record and why it cannot be used.
#[derive(Clone)]
pub enum Resolved {
    Ready(Arc<Endpoint>),
    Broken(WebhookRecord, String),
}

/// Endpoint records, read again after a second (so deletes, rotations and re-enabling reach
/// every notifier quickly), with the Deliverer's health kept in step with what is stored.
pub struct EndpointCache {
    pub store: Webhooks,
    cache: Mutex<HashMap<(String, String), Cached>>,
}

/// When an endpoint was read, and what was read (`None`: no such endpoint).
type Cached = (Instant, Option<Resolved>);

const CACHE_FOR: Duration = Duration::from_secs(1);

impl EndpointCache {
    fn new(store: Webhooks) -> EndpointCache {
        EndpointCache {
            store,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub async fn get(
        &self,
        deliverer: &Deliverer,
        tenant: &str,
        id: &str,
    ) -> Result<Option<Resolved>, routeq_shared::redis::StoreError> {
        let key = (tenant.to_string(), id.to_string());
        {
            let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((at, r)) = cache.get(&key)
                && at.elapsed() < CACHE_FOR
            {
                return Ok(r.clone());
            }
        }
        let record = self.store.get(tenant, id).await?;
        let resolved = match record {
            None => {
                deliverer.forget(id);
                None
            }
            Some(r) => {
                sync_health(deliverer, &r);
                Some(build(&r))
            }
        };
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, (Instant::now(), resolved.clone()));
        Ok(resolved)
    }

    /// Persists a health change the Deliverer reported.
    async fn persist(&self, tenant: &str, id: &str, change: HealthChange) {
        let ms = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64)
        };
        let result = match change {
            HealthChange::Failing { since } => {
                self.store.set_health(tenant, id, ms(since), 1, None).await
            }
            HealthChange::Recovered { .. } => self.store.set_health(tenant, id, 0, 0, None).await,
            HealthChange::Disabled { since, failures } => {
                tracing::warn!(webhook_id = %id, failures, "webhook endpoint disabled: failing continuously past the threshold");
                self.store
                    .set_health(tenant, id, ms(since), failures, Some(now_ms()))
                    .await
            }
        };
        if let Err(e) = result {
            tracing::warn!(webhook_id = %id, error = %e, "cannot persist the webhook endpoint's health");
        }
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(tenant.to_string(), id.to_string()));
    }
}

/// The stored health wins where the Deliverer does not know better: a restarted notifier learns
/// the failing streak and the disabled flag; an endpoint re-enabled through the API is enabled.
fn sync_health(deliverer: &Deliverer, r: &WebhookRecord) {
    let mine = deliverer.health(&r.id);
    match mine {
        Some(h) if h.disabled && !r.disabled => deliverer.enable(&r.id),
        Some(h) if !h.disabled && r.disabled => deliverer.restore_health(
            &r.id,
            routeq_notify::Health {
                disabled: true,
                ..h
            },
        ),
        Some(_) => {}
        None => {
            let since = (r.failing_since_ms > 0)
                .then(|| UNIX_EPOCH + Duration::from_millis(r.failing_since_ms));
            deliverer.restore_health(
                &r.id,
                routeq_notify::Health {
                    failing_since: since,
                    consecutive_failures: r.failures,
                    disabled: r.disabled,
                },
            );
        }
    }
}

fn build(r: &WebhookRecord) -> Resolved {
    let secrets: Result<Vec<Secret>, _> = r
        .active_secrets(now_ms())
        .into_iter()
        .map(Secret::parse)
        .collect();
    let secrets = match secrets {
        Ok(s) => s,
        Err(e) => return Resolved::Broken(r.clone(), e.to_string()),
    };
    match Endpoint::new(
        r.id.clone(),
        &r.url,
        secrets,
        EventFilter::new(r.events.clone()),
    ) {
        Ok(e) => Resolved::Ready(Arc::new(e)),
        Err(e) => Resolved::Broken(r.clone(), e.to_string()),
    }
}
