//! Gateway configuration: flags with `ROUTEQ_*` environment equivalents, checked before any port
//! is bound.

use std::net::SocketAddr;

use routeq_shared::connect::RedisArgs;
use routeq_shared::telemetry::LogArgs;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "routeq-gateway",
    version,
    about = "routeq HTTP gateway: validate, enqueue, answer"
)]
pub struct GatewayArgs {
    #[command(flatten)]
    pub gateway: GatewayConfig,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Clone, clap::Args)]
pub struct GatewayConfig {
    /// Address the public API listens on (port 0 picks a free port).
    #[arg(long, env = "ROUTEQ_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub redis: RedisArgs,

    /// Tenant every job belongs to while API keys are off.
    #[arg(long, env = "ROUTEQ_DEFAULT_TENANT", default_value = "default")]
    pub default_tenant: String,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "ROUTEQ_MAX_BODY_BYTES", default_value_t = 16 * 1024)]
    pub max_body_bytes: usize,

    /// Most waypoints a route may have (Kakao Mobility allows 5).
    #[arg(long, env = "ROUTEQ_MAX_WAYPOINTS", default_value_t = 5)]
    pub max_waypoints: usize,

    /// Longest accepted address, in characters.
    #[arg(long, env = "ROUTEQ_MAX_ADDRESS_CHARS", default_value_t = 256)]
    pub max_address_chars: usize,

    /// Deadline given to a job whose client names none, in ms.
    #[arg(long, env = "ROUTEQ_DEFAULT_DEADLINE_MS", default_value_t = 30_000)]
    pub default_deadline_ms: u64,

    /// Shortest deadline a client may ask for, in ms (below this no provider call can finish).
    #[arg(long, env = "ROUTEQ_MIN_DEADLINE_MS", default_value_t = 500)]
    pub min_deadline_ms: u64,

    /// Longest deadline a client may ask for, in ms.
    #[arg(long, env = "ROUTEQ_MAX_DEADLINE_MS", default_value_t = 600_000)]
    pub max_deadline_ms: u64,

    /// Longest a request may wait for a result (`Prefer: wait=N`, `?wait=N`), in seconds.
    #[arg(long, env = "ROUTEQ_MAX_WAIT_S", default_value_t = 60)]
    pub max_wait_s: u64,

    /// How long a finished job stays readable from Redis, in seconds.
    #[arg(long, env = "ROUTEQ_RESULT_TTL_S", default_value_t = 86_400)]
    pub result_ttl_s: u64,

    /// Stream length at which new jobs are refused with 503 QUEUE_SATURATED (0 = no cap).
    #[arg(long, env = "ROUTEQ_MAX_BACKLOG", default_value_t = 1_000_000)]
    pub max_backlog: u64,

    /// How long in-flight requests may take to finish after SIGTERM, in ms.
    #[arg(long, env = "ROUTEQ_SHUTDOWN_GRACE_MS", default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,
}

impl GatewayConfig {
    /// A configuration for tests and tools: port 0 on loopback, the given Redis and prefix.
    pub fn for_tests(redis_url: &str, prefix: &str) -> anyhow::Result<GatewayConfig> {
        use clap::Parser;
        let args = GatewayArgs::try_parse_from([
            "routeq-gateway",
            "--listen",
            "127.0.0.1:0",
            "--redis-url",
            redis_url,
            "--key-prefix",
            prefix,
        ])?;
        Ok(args.gateway)
    }

    /// Checks the invariants flags alone cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.min_deadline_ms == 0 || self.min_deadline_ms > self.max_deadline_ms {
            return Err("--min-deadline-ms must be above 0 and at most --max-deadline-ms".into());
        }
        if !(self.min_deadline_ms..=self.max_deadline_ms).contains(&self.default_deadline_ms) {
            return Err(
                "--default-deadline-ms must lie between --min-deadline-ms and --max-deadline-ms"
                    .into(),
            );
        }
        if self.max_body_bytes < 256 {
            return Err("--max-body-bytes must be at least 256".into());
        }
        if self.max_address_chars == 0 {
            return Err("--max-address-chars must be above 0".into());
        }
        if self.result_ttl_s == 0 {
            return Err("--result-ttl-s must be above 0".into());
        }
        if self.default_tenant.is_empty() || self.default_tenant.contains([':', ' ', '{', '}']) {
            return Err("--default-tenant must be non-empty without ':', spaces or braces".into());
        }
        self.redis.keys().map_err(|e| e.to_string())?;
        Ok(())
    }
}
