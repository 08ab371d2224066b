//! Worker configuration: flags with `ROUTEQ_*` environment equivalents, and the invariants between
//! the timeouts checked before the worker reads a single job.

pub mod resilience;

use std::net::SocketAddr;

use routeq_shared::db::DbArgs;
use routeq_shared::redis::RedisArgs;
use routeq_shared::redis::connect::Timeouts;
use routeq_shared::redis::outbox::RecordsMode;
use routeq_shared::telemetry::LogArgs;

pub use crate::providers::ProviderKind;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "routeq-worker",
    version,
    about = "routeq worker: consume route jobs and call the providers",
    after_help = "-h shows the common flags; --help shows every flag (resilience, caches, tuning), each with its variable.",
    after_long_help = "Every flag can be set by the ROUTEQ_* variable shown with it."
)]
pub struct WorkerArgs {
    /// An operator command instead of running a worker.
    #[command(subcommand)]
    pub command: Option<crate::ops::cli::Command>,
    #[command(flatten)]
    pub worker: WorkerConfig,
    #[command(flatten, next_help_heading = "Logging")]
    pub log: LogArgs,
    #[command(flatten, next_help_heading = "Tracing")]
    pub trace: routeq_shared::telemetry::trace::TraceArgs,
    #[command(flatten, next_help_heading = "Process")]
    pub runtime: routeq_shared::runtime::RuntimeArgs,
}

#[derive(Debug, Clone, clap::Args)]
pub struct WorkerConfig {
    #[command(flatten, next_help_heading = "Redis")]
    pub redis: RedisArgs,

    #[command(flatten, next_help_heading = "Database")]
    pub db: DbArgs,

    #[command(flatten, next_help_heading = "Resilience")]
    pub resilience: crate::config::resilience::ResilienceArgs,

    /// When finished jobs are appended to the records stream for the recorder: `auto` once a
    /// recorder exists (this worker's own, with --database-url), `on` always, `off` never.
    #[arg(help_heading = "Database", long, hide_short_help = true, env = "ROUTEQ_RECORDS", value_enum, default_value_t = RecordsMode::Auto, global = true)]
    pub records: RecordsMode,

    /// Run a recorder (records stream → PostgreSQL) inside this worker when --database-url is set.
    #[arg(help_heading = "Database", long, hide_short_help = true, env = "ROUTEQ_RECORDER", default_value_t = true, action = clap::ArgAction::Set)]
    pub recorder: bool,

    /// Most records the recorder writes in one statement.
    #[arg(
        help_heading = "Database",
        long,
        hide_short_help = true,
        env = "ROUTEQ_RECORDER_BATCH",
        default_value_t = 500
    )]
    pub recorder_batch: usize,

    /// Apply database migrations at start (they are also applied by `routeq-recorder migrate`).
    #[arg(help_heading = "Database", long, env = "ROUTEQ_MIGRATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub migrate: bool,

    /// Consumer name in the group; unique per process so XPENDING shows who holds what.
    /// Default: `<hostname>-<pid>-<random>`.
    #[arg(help_heading = "Jobs", long, env = "ROUTEQ_CONSUMER")]
    pub consumer: Option<String>,

    /// Jobs this process works on at once (each waits on providers most of the time).
    #[arg(
        help_heading = "Jobs",
        long,
        env = "ROUTEQ_CONCURRENCY",
        default_value_t = 64
    )]
    pub concurrency: usize,

    /// How long one XREADGROUP blocks waiting for work, in ms. Also bounds how long SIGTERM
    /// waits for the read in progress.
    #[arg(
        help_heading = "Jobs",
        long,
        env = "ROUTEQ_BLOCK_MS",
        default_value_t = 1000
    )]
    pub block_ms: u64,

    /// `/healthz` answers 503 when a job reader has made no step for this long, in ms (it beats
    /// after every read, error or pause, and while it waits for free permits; a read lasts at
    /// most --block-ms plus the Redis response timeout), so a liveness probe restarts a worker
    /// whose reader is stuck. Above --block-ms.
    #[arg(
        help_heading = "Jobs",
        long,
        hide_short_help = true,
        env = "ROUTEQ_READER_STALE_MS",
        default_value_t = 30_000
    )]
    pub reader_stale_ms: u64,

    /// The most a worker spends on one job, in ms (the client's deadline may cut it shorter).
    #[arg(
        help_heading = "Jobs",
        long,
        env = "ROUTEQ_JOB_BUDGET_MS",
        default_value_t = 10_000
    )]
    pub job_budget_ms: u64,

    /// Timeout of one external call, in ms.
    #[arg(
        help_heading = "Jobs",
        long,
        env = "ROUTEQ_CALL_TIMEOUT_MS",
        default_value_t = 2_000
    )]
    pub call_timeout_ms: u64,

    /// An entry nobody touched for this long is presumed abandoned (its worker died) and
    /// reclaimed, in ms. A live worker touches its entries every quarter of this, however long
    /// its jobs take, so it only bounds how soon a dead worker's jobs run elsewhere (and how long
    /// a Redis stall may last before a live worker's jobs are reclaimed too).
    #[arg(
        help_heading = "Jobs",
        long,
        env = "ROUTEQ_RECLAIM_IDLE_MS",
        default_value_t = 5_000
    )]
    pub reclaim_idle_ms: u64,

    /// Bound of each partition's records stream while PostgreSQL does not drain it, for this
    /// process's recorder (0 = none): above half of it, `accepted` records of jobs still in
    /// Redis are shed (their `finished` record carries the whole job); above it, the oldest
    /// records are dropped.
    #[arg(
        help_heading = "Database",
        long,
        hide_short_help = true,
        env = "ROUTEQ_RECORDS_MAX_LEN",
        default_value_t = 1_000_000
    )]
    pub records_max_len: u64,

    /// Consumers of the `workers` and `recorders` groups that hold no entry and have been idle
    /// this long (processes that died without a clean exit) are removed, in ms.
    #[arg(
        help_heading = "Jobs",
        long,
        hide_short_help = true,
        env = "ROUTEQ_DEAD_CONSUMER_IDLE_MS",
        default_value_t = 600_000
    )]
    pub dead_consumer_idle_ms: u64,

    /// How often to look for abandoned entries, in ms.
    #[arg(
        help_heading = "Jobs",
        long,
        hide_short_help = true,
        env = "ROUTEQ_RECLAIM_INTERVAL_MS",
        default_value_t = 1_000
    )]
    pub reclaim_interval_ms: u64,

    /// Deliveries after which a job is given up as failed (a poison job must not loop forever).
    #[arg(
        help_heading = "Jobs",
        long,
        env = "ROUTEQ_MAX_ATTEMPTS",
        default_value_t = 5
    )]
    pub max_attempts: u32,

    /// Provider protocols to speak.
    #[arg(help_heading = "Providers", long, env = "ROUTEQ_PROVIDER", value_enum, default_value_t = ProviderKind::Simulator)]
    pub provider: ProviderKind,

    /// Base URL of the geocoder (the simulator; Nominatim; Kakao Local: https://dapi.kakao.com).
    #[arg(
        help_heading = "Providers",
        long,
        env = "ROUTEQ_GEOCODER_URL",
        default_value = "http://127.0.0.1:8090"
    )]
    pub geocoder_url: String,

    /// Base URL of the directions service (the simulator; OSRM; Kakao Mobility:
    /// https://apis-navi.kakaomobility.com).
    #[arg(
        help_heading = "Providers",
        long,
        env = "ROUTEQ_ROUTER_URL",
        default_value = "http://127.0.0.1:8090"
    )]
    pub router_url: String,

    /// User-Agent sent to providers (Nominatim's usage policy requires an identifying one).
    #[arg(help_heading = "Providers", long, hide_short_help = true, env = "ROUTEQ_USER_AGENT", default_value = concat!("routeq/", env!("CARGO_PKG_VERSION")))]
    pub user_agent: String,

    /// How long a finished job stays readable from Redis, in seconds.
    #[arg(
        help_heading = "Process",
        long,
        hide_short_help = true,
        env = "ROUTEQ_RESULT_TTL_S",
        default_value_t = 86_400,
        global = true
    )]
    pub result_ttl_s: u64,

    /// How long in-flight jobs may take to finish after SIGTERM, in ms; what is left stays
    /// pending and is reclaimed by the other workers.
    #[arg(
        help_heading = "Process",
        long,
        hide_short_help = true,
        env = "ROUTEQ_SHUTDOWN_GRACE_MS",
        default_value_t = 15_000
    )]
    pub shutdown_grace_ms: u64,

    /// How often this worker looks for jobs past their deadline plus the grace that nobody ended,
    /// in ms (gateways sweep too; one process per partition sweeps each round, under a lease).
    #[arg(
        help_heading = "Jobs",
        long,
        hide_short_help = true,
        env = "ROUTEQ_SWEEP_INTERVAL_MS",
        default_value_t = 1_000
    )]
    pub sweep_interval_ms: u64,

    /// How long past its deadline a job may stay unfinished before the sweeper ends it
    /// `expired`, in ms (the same value as the gateways').
    #[arg(
        help_heading = "Jobs",
        long,
        hide_short_help = true,
        env = "ROUTEQ_SWEEP_GRACE_MS",
        default_value_t = 5_000
    )]
    pub sweep_grace_ms: u64,

    /// Address of the worker's own /metrics and /healthz (port 0 picks a free port).
    #[arg(
        help_heading = "Process",
        long,
        env = "ROUTEQ_METRICS_LISTEN",
        default_value = "127.0.0.1:9091"
    )]
    pub metrics_listen: SocketAddr,
}

impl WorkerConfig {
    /// A configuration for tests: the given Redis, prefix and provider URL, metrics on port 0.
    pub fn for_tests(
        redis_url: &str,
        prefix: &str,
        provider_url: &str,
    ) -> anyhow::Result<WorkerConfig> {
        use clap::Parser;
        let args = WorkerArgs::try_parse_from([
            "routeq-worker",
            "--redis-url",
            redis_url,
            "--key-prefix",
            prefix,
            "--geocoder-url",
            provider_url,
            "--router-url",
            provider_url,
            "--metrics-listen",
            "127.0.0.1:0",
        ])?;
        Ok(args.worker)
    }

    /// Checks the invariants between settings.
    pub fn validate(&self) -> Result<(), String> {
        if self.concurrency == 0 {
            return Err("--concurrency must be at least 1".into());
        }
        if self.block_ms == 0 {
            return Err("--block-ms must be above 0".into());
        }
        if self.reader_stale_ms <= self.block_ms {
            return Err(format!(
                "--reader-stale-ms ({}) must be above --block-ms ({}): an idle read blocks that long",
                self.reader_stale_ms, self.block_ms
            ));
        }
        if self.call_timeout_ms == 0 {
            return Err("--call-timeout-ms must be above 0".into());
        }
        // A job makes at least two calls in a row (geocode, then directions).
        if self.job_budget_ms < 2 * self.call_timeout_ms {
            return Err(format!(
                "--job-budget-ms ({}) must be at least twice --call-timeout-ms ({}): a job makes a geocode and a directions call in a row",
                self.job_budget_ms, self.call_timeout_ms
            ));
        }
        // Entries are touched every quarter of the reclaim time; between two touches that
        // succeed there may be a quarter plus a timed-out touch (the response timeout): both
        // must fit well inside the reclaim time.
        let response_ms = self
            .redis
            .settings(Timeouts::WORKER)
            .response_timeout
            .as_millis() as u64;
        if self.reclaim_idle_ms < 2_000 || self.reclaim_idle_ms / 2 <= response_ms {
            return Err(format!(
                "--reclaim-idle-ms ({}) must be at least 2000 ms and more than twice the Redis response timeout ({response_ms} ms): live workers touch their entries every quarter of it, and a slow touch must not let them be reclaimed",
                self.reclaim_idle_ms
            ));
        }
        if self.dead_consumer_idle_ms < 100 {
            return Err("--dead-consumer-idle-ms must be at least 100".into());
        }
        if self.reclaim_interval_ms == 0 || self.reclaim_interval_ms >= self.reclaim_idle_ms {
            return Err("--reclaim-interval-ms must be above 0 and below --reclaim-idle-ms".into());
        }
        if self.recorder_batch == 0 || self.recorder_batch > 10_000 {
            return Err("--recorder-batch must be between 1 and 10000".into());
        }
        if self.sweep_interval_ms < 50 {
            return Err("--sweep-interval-ms must be at least 50".into());
        }
        if self.max_attempts == 0 {
            return Err("--max-attempts must be at least 1".into());
        }
        for (flag, url) in [
            ("--geocoder-url", &self.geocoder_url),
            ("--router-url", &self.router_url),
        ] {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("{flag} must be an http:// or https:// URL"));
            }
        }
        self.resilience.validate(
            self.provider,
            &[
                ("--geocoder-url", &self.geocoder_url),
                ("--router-url", &self.router_url),
            ],
        )?;
        self.redis.keys().map_err(|e| e.to_string())?;
        Ok(())
    }
}
