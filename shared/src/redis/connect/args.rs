//! The Redis flags every binary shares ([`RedisArgs`], with env fallbacks and `_FILE` secrets),
//! and turning them into connections.

use std::time::Duration;

use super::super::keys::{Keys, PrefixError};
use redis::RedisResult;

use super::{Conn, RedisUrl, Settings, Topology, cluster, sentinel, single, url};

/// Redis settings every binary shares. Global: an operator command takes them before or after
/// its name (`routeq-gateway --key-prefix P keys list` = `routeq-gateway keys list --key-prefix P`).
#[derive(Debug, Clone, clap::Args)]
pub struct RedisArgs {
    /// Where Redis is: `redis://[:password@]host:port[/db]` (one server),
    /// `redis+sentinel://[:password@]s1:26379,s2:26379,s3:26379/<master>` (Sentinel) or
    /// `redis+cluster://[:password@]n1:7000,n2:7001,…` (Redis Cluster). A password is never logged.
    #[arg(
        long = "redis-url",
        global = true,
        env = "ROUTEQ_REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true,
        value_parser = crate::secrets::Redacted::<RedisUrl>::new()
    )]
    pub redis_url: RedisUrl,

    /// File holding the Redis URL (Docker/Kubernetes secrets); wins over --redis-url.
    #[arg(long = "redis-url-file", env = "ROUTEQ_REDIS_URL_FILE", global = true)]
    pub redis_url_file: Option<std::path::PathBuf>,

    /// Prefix of every key; must carry a Redis Cluster hash tag. Fleets sharing one Redis differ here.
    #[arg(
        long = "key-prefix",
        global = true,
        env = "ROUTEQ_KEY_PREFIX",
        default_value = "{routeq}"
    )]
    pub key_prefix: String,

    /// Partitions of the job space, one hash tag each (spread over a cluster's nodes). Every
    /// gateway, worker and tool of a fleet must agree; never lower it while jobs are in flight.
    #[arg(
        long = "partitions",
        env = "ROUTEQ_PARTITIONS",
        default_value_t = 1,
        global = true
    )]
    pub partitions: u16,

    /// Connect timeout for Redis connections, in ms (default: 100 for the gateway, whose
    /// requests must fail fast, 250 for workers and tools).
    #[arg(
        long = "redis-connect-timeout-ms",
        hide_short_help = true,
        global = true,
        env = "ROUTEQ_REDIS_CONNECT_TIMEOUT_MS"
    )]
    pub connect_timeout_ms: Option<u64>,

    /// Response timeout for non-blocking Redis commands, in ms: the Redis budget of one command
    /// (default: 100 for the gateway, 1000 for workers and tools). After a timeout the
    /// connection is replaced, not reused.
    #[arg(
        long = "redis-response-timeout-ms",
        hide_short_help = true,
        global = true,
        env = "ROUTEQ_REDIS_RESPONSE_TIMEOUT_MS"
    )]
    pub response_timeout_ms: Option<u64>,
}

/// Errors creating Redis clients.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Prefix(#[from] PrefixError),
    #[error("Redis configuration: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("invalid Redis setting: {0}")]
    Invalid(String),
}

/// Connect and response timeouts a binary uses unless its flags say otherwise, in ms.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect_ms: u64,
    pub response_ms: u64,
}

impl Timeouts {
    /// The gateway's: a request must fail fast while Redis hangs.
    pub const GATEWAY: Timeouts = Timeouts {
        connect_ms: 100,
        response_ms: 100,
    };
    /// Workers' and tools'.
    pub const WORKER: Timeouts = Timeouts {
        connect_ms: 250,
        response_ms: 1000,
    };
}

impl RedisArgs {
    /// Arguments pointing at `url` with `prefix` and the default timeouts (for tests and tools).
    pub fn new(url: &str, prefix: &str) -> Result<RedisArgs, ConnectError> {
        Ok(RedisArgs {
            redis_url: url.parse().map_err(ConnectError::Invalid)?,
            redis_url_file: None,
            key_prefix: prefix.to_string(),
            partitions: 1,
            connect_timeout_ms: None,
            response_timeout_ms: None,
        })
    }

    pub fn keys(&self) -> Result<Keys, ConnectError> {
        if self.connect_timeout_ms == Some(0) || self.response_timeout_ms == Some(0) {
            return Err(ConnectError::Invalid(
                "Redis timeouts must be above 0 ms".into(),
            ));
        }
        Ok(Keys::new(&self.key_prefix)?.with_partitions(self.partitions)?)
    }

    /// The Redis URL in effect: from --redis-url-file when set, else --redis-url.
    pub fn url(&self) -> Result<RedisUrl, ConnectError> {
        match &self.redis_url_file {
            Some(path) => crate::secrets::from_file(path)
                .map_err(|e| ConnectError::Invalid(e.to_string()))?
                .parse()
                .map_err(ConnectError::Invalid),
            None => Ok(self.redis_url.clone()),
        }
    }

    /// The timeouts in effect, from the flags or the binary's defaults.
    pub fn settings(&self, defaults: Timeouts) -> Settings {
        Settings::new(
            Duration::from_millis(self.connect_timeout_ms.unwrap_or(defaults.connect_ms)),
            Duration::from_millis(self.response_timeout_ms.unwrap_or(defaults.response_ms)),
        )
    }

    /// The shared command connection. Lazy: the process starts even while Redis is down, and
    /// connects on first use.
    pub fn command_connection(&self, defaults: Timeouts) -> Result<Conn, ConnectError> {
        self.connection(&self.settings(defaults), "commands")
    }

    /// A command connection of its own (`label` names it in logs and metrics).
    pub fn connection(
        &self,
        settings: &Settings,
        label: &'static str,
    ) -> Result<Conn, ConnectError> {
        let url = self.url()?;
        Ok(match url.topology() {
            Topology::Standalone(info) => Conn::Single(single::Single::new(
                single::Target::Fixed(info.clone()),
                settings.clone(),
                label,
                info.redis_settings().db(),
            )),
            Topology::Sentinel {
                sentinels,
                master,
                node,
                sentinel_auth,
            } => {
                let sentinels = sentinels
                    .iter()
                    .map(|(h, p)| {
                        let mut auth = redis::RedisConnectionInfo::default();
                        if let Some((user, password)) = sentinel_auth {
                            auth = auth.set_password(password);
                            if let Some(u) = user {
                                auth = auth.set_username(u);
                            }
                        }
                        url::node_info(h, *p, &auth)
                    })
                    .collect::<RedisResult<Vec<_>>>()?;
                Conn::Single(single::Single::new(
                    single::Target::Sentinel(std::sync::Arc::new(sentinel::Sentinels::new(
                        sentinels,
                        master.clone(),
                        node.clone(),
                    ))),
                    settings.clone(),
                    label,
                    node.db(),
                ))
            }
            Topology::Cluster { seeds, node } => {
                Conn::Cluster(cluster::Cluster::new(seeds, node, settings, label)?)
            }
        })
    }
}
