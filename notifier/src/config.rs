//! The notifier's flags (every one with a `ROUTEQ_*` variable).

use std::net::SocketAddr;
use std::time::Duration;

use routeq_notify::{AllowList, BreakerPolicy, DelivererConfig, HttpConfig, Schedule, UrlPolicy};
use routeq_shared::redis::RedisArgs;

/// How the notifier runs.
#[derive(Debug, Clone, clap::Args)]
pub struct NotifierConfig {
    #[command(flatten)]
    pub redis: RedisArgs,

    /// Where /metrics and /healthz are served.
    #[arg(long, env = "ROUTEQ_NOTIFIER_LISTEN", default_value = "127.0.0.1:9105")]
    pub listen: SocketAddr,

    /// /healthz answers 503 when a fan-out or delivery loop has made no step for this long, in
    /// ms (each beats after every read, error and pause, so a Redis outage does not fail it).
    #[arg(long, env = "ROUTEQ_NOTIFIER_STALE_MS", default_value_t = 30_000)]
    pub stale_ms: u64,

    /// Consumer name in the `notifiers` group (unique per process; default: random).
    #[arg(long, env = "ROUTEQ_CONSUMER")]
    pub consumer: Option<String>,

    /// The delays before each attempt (comma-separated, units ms/s/m/h/d), ±20 % jitter; past the
    /// last one a delivery is a dead letter. Default: the Standard Webhooks schedule, about three
    /// days: 0,5s,5m,30m,2h,5h,10h,14h,20h,24h.
    #[arg(long, env = "ROUTEQ_WEBHOOK_SCHEDULE")]
    pub schedule: Option<String>,

    /// An endpoint failing continuously for this long is disabled (seconds; default 5 days).
    #[arg(long, env = "ROUTEQ_WEBHOOK_DISABLE_AFTER_S", default_value_t = 5 * 24 * 3600)]
    pub disable_after_s: u64,

    /// Time for one whole attempt (resolution, connection, request, answer), in ms.
    #[arg(long, env = "ROUTEQ_WEBHOOK_TIMEOUT_MS", default_value_t = 15_000)]
    pub timeout_ms: u64,

    /// Time to connect, in ms.
    #[arg(
        long,
        env = "ROUTEQ_WEBHOOK_CONNECT_TIMEOUT_MS",
        default_value_t = 5_000
    )]
    pub http_connect_timeout_ms: u64,

    /// Attempts in flight per endpoint.
    #[arg(long, env = "ROUTEQ_WEBHOOK_ENDPOINT_CONCURRENCY", default_value_t = 8)]
    pub endpoint_concurrency: usize,

    /// Deliveries waiting per endpoint beyond those in flight (then deferred).
    #[arg(long, env = "ROUTEQ_WEBHOOK_ENDPOINT_QUEUE", default_value_t = 64)]
    pub endpoint_queue: usize,

    /// Attempts in flight in this notifier, all endpoints together.
    #[arg(long, env = "ROUTEQ_WEBHOOK_MAX_IN_FLIGHT", default_value_t = 512)]
    pub max_in_flight: usize,

    /// Consecutive transient failures that open an endpoint's circuit breaker.
    #[arg(long, env = "ROUTEQ_WEBHOOK_BREAKER_FAILURES", default_value_t = 5)]
    pub breaker_failures: u32,

    /// How long an open breaker stays open first, in ms (doubles per failed trial, up to 10 min).
    #[arg(long, env = "ROUTEQ_WEBHOOK_BREAKER_OPEN_MS", default_value_t = 30_000)]
    pub breaker_open_ms: u64,

    /// How long a taken delivery is this notifier's before another may take it (it died), in
    /// ms. Default: long enough for a delivery to wait its turn at a slow endpoint and finish.
    #[arg(long, env = "ROUTEQ_WEBHOOK_LEASE_MS")]
    pub lease_ms: Option<u64>,

    /// Outbox entries another notifier left unacknowledged this long are taken over, in ms.
    #[arg(long, env = "ROUTEQ_RECLAIM_IDLE_MS", default_value_t = 10_000)]
    pub reclaim_idle_ms: u64,

    /// Most outbox entries (and due deliveries) taken in one read.
    #[arg(long, env = "ROUTEQ_NOTIFIER_BATCH", default_value_t = 256)]
    pub batch: usize,

    /// How often due deliveries are looked for when nothing woke the notifier, in ms.
    #[arg(long, env = "ROUTEQ_NOTIFIER_POLL_MS", default_value_t = 100)]
    pub poll_ms: u64,

    /// Addresses the SSRF policy lets deliveries reach although they are not public
    /// (development and tests only): CIDRs, address[:port] or host:port, comma-separated.
    #[arg(long, env = "ROUTEQ_WEBHOOK_ALLOW", default_value = "")]
    pub webhook_allow: String,

    /// Fixed answers for some host names (`name=ip[;ip],…`), the system resolver for the others
    /// (development and tests).
    #[arg(long, env = "ROUTEQ_WEBHOOK_HOSTS", default_value = "", hide = true)]
    pub webhook_hosts: String,
}

impl NotifierConfig {
    pub fn schedule(&self) -> anyhow::Result<Schedule> {
        Ok(match &self.schedule {
            Some(s) => s.parse().map_err(|e| anyhow::anyhow!("--schedule: {e}"))?,
            None => Schedule::default(),
        })
    }

    pub fn lease(&self) -> Duration {
        let queued_rounds = 1 + self
            .endpoint_queue
            .div_ceil(self.endpoint_concurrency.max(1)) as u64;
        Duration::from_millis(
            self.lease_ms
                .unwrap_or_else(|| self.timeout_ms.saturating_mul(queued_rounds + 1)),
        )
    }

    /// The Deliverer's configuration.
    pub fn deliverer(&self) -> anyhow::Result<DelivererConfig> {
        if self.timeout_ms == 0 || self.http_connect_timeout_ms == 0 || self.batch == 0 {
            anyhow::bail!("--timeout-ms, --http-connect-timeout-ms and --batch must be above 0");
        }
        let allow = AllowList::parse(&self.webhook_allow)
            .map_err(|e| anyhow::anyhow!("--webhook-allow: {e}"))?;
        let defaults = DelivererConfig::default();
        Ok(DelivererConfig {
            http: HttpConfig {
                connect_timeout: Duration::from_millis(self.http_connect_timeout_ms),
                timeout: Duration::from_millis(self.timeout_ms),
                ..HttpConfig::default()
            },
            policy: UrlPolicy::new(allow),
            schedule: self.schedule()?,
            breaker: BreakerPolicy {
                failures_to_open: self.breaker_failures.max(1),
                open: Duration::from_millis(self.breaker_open_ms),
                ..BreakerPolicy::default()
            },
            endpoint_concurrency: self.endpoint_concurrency.max(1),
            endpoint_queue: self.endpoint_queue,
            max_in_flight: self.max_in_flight.max(1),
            max_pending: defaults.max_pending,
            busy_retry: defaults.busy_retry,
            retry_after_max: defaults.retry_after_max,
            disable_after: Duration::from_secs(self.disable_after_s),
        })
    }
}
