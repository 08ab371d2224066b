//! Gateway configuration: flags with `ROUTEQ_*` environment equivalents, checked before any port
//! is bound.

use std::net::SocketAddr;

use routeq_shared::db::DbArgs;
use routeq_shared::redis::RedisArgs;
use routeq_shared::redis::outbox::RecordsMode;
use routeq_shared::telemetry::LogArgs;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "routeq-gateway",
    version,
    about = "routeq HTTP gateway: validate, enqueue, answer",
    after_help = "Health probe for containers: `routeq-gateway healthcheck [--url URL]` exits 0 when a running gateway answers 200 on /healthz."
)]
pub struct GatewayArgs {
    #[command(flatten)]
    pub gateway: GatewayConfig,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub trace: routeq_shared::telemetry::trace::TraceArgs,
    #[command(flatten)]
    pub runtime: routeq_shared::runtime::RuntimeArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Operations besides serving.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Deprecated: use `routeq-admin keys`. Manage API keys (stored hashed in Redis).
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Encrypted configuration values (`ENC(...)`).
    Secret {
        #[command(subcommand)]
        action: SecretAction,
    },
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum SecretAction {
    /// Print a new random configuration key (64 hex characters) for ROUTEQ_CONFIG_KEY.
    Keygen,
    /// Encrypt a value read from standard input with ROUTEQ_CONFIG_KEY(_FILE); prints ENC(...).
    Encrypt,
}

/// The key commands (`routeq-admin keys`; the gateway's `keys` is its deprecated old spelling).
pub use routeq_admin::keys::KeysAction;

/// How requests are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// No keys: every request is the default tenant. For local development only.
    Open,
    /// `Authorization: Bearer <key>` is required; keys are managed with `routeq-gateway keys`.
    Keys,
}

/// The limits request validation applies.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_waypoints: usize,
    pub max_address_chars: usize,
    pub default_deadline_ms: u64,
    pub min_deadline_ms: u64,
    pub max_deadline_ms: u64,
}

#[derive(Debug, Clone, clap::Args)]
pub struct GatewayConfig {
    /// Address the public API listens on (port 0 picks a free port).
    #[arg(long, env = "ROUTEQ_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Address of the admin listener (/metrics, /healthz, /readyz). When set, those endpoints
    /// are served only there and not on the public listener.
    #[arg(long, env = "ROUTEQ_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,

    /// `keys`: require `Authorization: Bearer <key>`; `open`: no keys, one default tenant (local
    /// development only).
    #[arg(long, env = "ROUTEQ_AUTH", value_enum, default_value_t = AuthMode::Open)]
    pub auth: AuthMode,

    /// Requests per second a tenant may send, unless its key says otherwise (0 = unlimited).
    #[arg(long, env = "ROUTEQ_TENANT_RATE_PER_S", default_value_t = 0)]
    pub tenant_rate_per_s: u64,

    /// Jobs a tenant may have queued at once, unless its key says otherwise (0 = unlimited).
    #[arg(long, env = "ROUTEQ_TENANT_MAX_QUEUED", default_value_t = 0)]
    pub tenant_max_queued: u64,

    /// Most requests waiting for a result at once in this gateway; beyond it, waits answer at once.
    #[arg(long, env = "ROUTEQ_MAX_WAITERS", default_value_t = 10_000)]
    pub max_waiters: usize,

    /// The whole request body must arrive within this many ms (slow-trickle bodies are cut off).
    #[arg(long, env = "ROUTEQ_BODY_DEADLINE_MS", default_value_t = 5_000)]
    pub body_deadline_ms: u64,

    /// Largest total size of the request headers, in bytes.
    #[arg(long, env = "ROUTEQ_MAX_HEADER_BYTES", default_value_t = 16 * 1024)]
    pub max_header_bytes: usize,

    /// Refuse new jobs (503) when the measured backlog predicts they cannot start before their
    /// deadline.
    #[arg(long, env = "ROUTEQ_ADMISSION", default_value_t = true, action = clap::ArgAction::Set)]
    pub admission: bool,

    /// Backlog below which admission control never refuses (its prediction needs a backlog).
    #[arg(long, env = "ROUTEQ_ADMISSION_MIN_BACKLOG", default_value_t = 100)]
    pub admission_min_backlog: u64,

    /// Jobs per second the fleet is known to complete, for admission control while it has no
    /// measured rate (fresh gateway, workers scaled to zero); 0 = none: then nothing is refused
    /// until a rate has been measured.
    #[arg(long, env = "ROUTEQ_ADMISSION_CAPACITY_PER_S", default_value_t = 0.0)]
    pub admission_capacity_per_s: f64,

    #[command(flatten)]
    pub redis: RedisArgs,

    /// Replicas that must confirm a submission before it is answered 202 (`WAIT N`); 0 = none.
    /// Without it, a failover can lose the jobs accepted in the last moments before it (the
    /// asynchronous replication window; docs/operations.md has the measured figures).
    #[arg(long, env = "ROUTEQ_SUBMIT_REPLICAS", default_value_t = 0)]
    pub submit_replicas: u32,

    /// Send the submissions of a partition that arrive together in one script call (adaptive:
    /// a submission that finds Redis idle goes at once, alone). `false`: one call per submission.
    #[arg(long, hide_short_help = true, env = "ROUTEQ_SUBMIT_BATCH", default_value_t = true, action = clap::ArgAction::Set)]
    pub submit_batch: bool,

    /// How long a submission waits for --submit-replicas to confirm, in ms; unconfirmed, it is
    /// answered 503 SUBMIT_UNCONFIRMED with its id (retry with the same Idempotency-Key).
    #[arg(long, env = "ROUTEQ_SUBMIT_REPLICAS_TIMEOUT_MS", default_value_t = 50)]
    pub submit_replicas_timeout_ms: u64,

    /// How often the completion subscription is pinged, in ms; a missing answer means it is
    /// dead: waiters poll the store and the subscription is made again.
    #[arg(
        long,
        env = "ROUTEQ_SUBSCRIPTION_HEARTBEAT_MS",
        default_value_t = 1_000
    )]
    pub subscription_heartbeat_ms: u64,

    #[command(flatten)]
    pub db: DbArgs,

    /// When accepted jobs are appended to the records stream for the recorder: `auto` once a
    /// recorder exists, `on` always, `off` never.
    #[arg(long, env = "ROUTEQ_RECORDS", value_enum, default_value_t = RecordsMode::Auto)]
    pub records: RecordsMode,

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

    /// The headers of a request must arrive within this many ms, counted from when the
    /// connection starts waiting for them: it also closes keep-alive connections idle between
    /// requests and sockets that never send (slowloris).
    #[arg(long, env = "ROUTEQ_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_read_timeout_ms: u64,

    /// A connection with no byte read or written for this many ms is closed, whatever it is
    /// doing; must exceed --max-wait-s, so a wait for a result is never cut.
    #[arg(long, env = "ROUTEQ_IDLE_TIMEOUT_MS", default_value_t = 120_000)]
    pub idle_timeout_ms: u64,

    /// Most client connections open at once on the API listener; at the limit, new ones wait
    /// (in the kernel's backlog) until one closes.
    #[arg(
        long = "max-connections",
        env = "ROUTEQ_MAX_CONNECTIONS",
        default_value_t = 10_000
    )]
    pub max_client_connections: usize,

    /// Adds GET /_debug/panic, which panics, to prove panics are contained (tests only).
    #[arg(long, env = "ROUTEQ_DEBUG_PANIC_ROUTE", hide = true, default_value_t = false, action = clap::ArgAction::Set)]
    pub debug_panic_route: bool,

    /// How often the queue is sampled for metrics, in ms.
    #[arg(long, env = "ROUTEQ_SAMPLE_INTERVAL_MS", default_value_t = 1_000)]
    pub sample_interval_ms: u64,

    /// How long in-flight requests may take to finish after SIGTERM, in ms.
    #[arg(long, env = "ROUTEQ_SHUTDOWN_GRACE_MS", default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,

    /// How often the sweeper looks for jobs past their deadline plus the grace, in ms (one
    /// gateway sweeps each round, under a lease in Redis).
    #[arg(long, env = "ROUTEQ_SWEEP_INTERVAL_MS", default_value_t = 1_000)]
    pub sweep_interval_ms: u64,

    /// How long past its deadline a job may stay unfinished before the sweeper ends it
    /// `expired`, in ms (a live worker stores its outcome by the deadline).
    #[arg(long, env = "ROUTEQ_SWEEP_GRACE_MS", default_value_t = 5_000)]
    pub sweep_grace_ms: u64,
    /// Webhooks: addresses the SSRF policy lets an endpoint reach although they are not public
    /// (development and tests only): CIDRs, address[:port] or host:port, comma-separated.
    #[arg(long, env = "ROUTEQ_WEBHOOK_ALLOW", default_value = "")]
    pub webhook_allow: String,

    /// Webhooks: fixed answers for some host names (`name=ip[;ip],…`, like curl's --resolve),
    /// the system resolver for the others (development and tests).
    #[arg(long, env = "ROUTEQ_WEBHOOK_HOSTS", default_value = "", hide = true)]
    pub webhook_hosts: String,

    /// Webhooks: how long the previous secret keeps signing after a rotation, in seconds.
    #[arg(
        long,
        env = "ROUTEQ_WEBHOOK_ROTATION_OVERLAP_S",
        default_value_t = 86_400
    )]
    pub webhook_rotation_overlap_s: u64,

    /// Webhooks: the most endpoints one tenant may register.
    #[arg(long, env = "ROUTEQ_WEBHOOK_MAX_PER_TENANT", default_value_t = 20)]
    pub webhook_max_per_tenant: u64,
    /// File holding the web console's admin credential (an operator's password, not a tenant
    /// key; at least 16 characters). With it the console is served at /console on the admin
    /// listener (--admin-listen is then required); without it there is no console.
    #[arg(long, env = "ROUTEQ_CONSOLE_CREDENTIAL_FILE")]
    pub console_credential_file: Option<std::path::PathBuf>,
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

    /// What request validation allows.
    pub fn limits(&self) -> Limits {
        Limits {
            max_waypoints: self.max_waypoints,
            max_address_chars: self.max_address_chars,
            default_deadline_ms: self.default_deadline_ms,
            min_deadline_ms: self.min_deadline_ms,
            max_deadline_ms: self.max_deadline_ms,
        }
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
        if self.body_deadline_ms == 0 || self.max_header_bytes < 1024 || self.max_waiters == 0 {
            return Err("--body-deadline-ms and --max-waiters must be above 0, --max-header-bytes at least 1024".into());
        }
        if self
            .admin_listen
            .is_some_and(|a| a == self.listen && a.port() != 0)
        {
            return Err("--admin-listen must differ from --listen".into());
        }
        if self.header_read_timeout_ms == 0 || self.max_client_connections == 0 {
            return Err("--header-read-timeout-ms and --max-connections must be above 0".into());
        }
        if self.idle_timeout_ms <= self.max_wait_s.saturating_mul(1000) {
            return Err(
                "--idle-timeout-ms must exceed --max-wait-s (a wait must not be cut)".into(),
            );
        }
        if self.subscription_heartbeat_ms < 50 {
            return Err("--subscription-heartbeat-ms must be at least 50".into());
        }
        if self.submit_replicas > 0 && self.submit_replicas_timeout_ms == 0 {
            return Err(
                "--submit-replicas-timeout-ms must be above 0 (WAIT 0 would block forever)".into(),
            );
        }
        if !(self.admission_capacity_per_s >= 0.0 && self.admission_capacity_per_s.is_finite()) {
            return Err("--admission-capacity-per-s must be a number of at least 0".into());
        }
        if self.sweep_interval_ms < 50 {
            return Err("--sweep-interval-ms must be at least 50".into());
        }
        if self.sample_interval_ms < 100 {
            return Err("--sample-interval-ms must be at least 100".into());
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
        routeq_notify::AllowList::parse(&self.webhook_allow)
            .map_err(|e| format!("--webhook-allow: {e}"))?;
        routeq_notify::OverrideResolver::parse(&self.webhook_hosts)
            .map_err(|e| format!("--webhook-hosts: {e}"))?;
        if self.console_credential_file.is_some() && self.admin_listen.is_none() {
            return Err("--console-credential-file needs --admin-listen: the console is served only on the admin listener".into());
        }
        self.redis.keys().map_err(|e| e.to_string())?;
        Ok(())
    }
}
