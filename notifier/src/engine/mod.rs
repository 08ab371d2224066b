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

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::Script;
use routeq_notify::Deliverer;
use routeq_shared::metrics::webhooks as m;
use routeq_shared::redis::connect::Settings;
use routeq_shared::redis::webhooks::Webhooks;
use routeq_shared::redis::{Conn, Keys};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

mod deliver;
mod endpoints;
mod fan_out;

pub use endpoints::{EndpointCache, Resolved};

static CLAIM: std::sync::LazyLock<Script> =
    std::sync::LazyLock::new(|| Script::new(include_str!("../lua/claim.lua")));
static SETTLE: std::sync::LazyLock<Script> =
    std::sync::LazyLock::new(|| Script::new(include_str!("../lua/settle.lua")));
pub(crate) static REPLAY: std::sync::LazyLock<Script> =
    std::sync::LazyLock::new(|| Script::new(include_str!("../lua/replay.lua")));

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
}
