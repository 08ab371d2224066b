//! Redis connections, for every topology ([`url`]: one server, Sentinel, Redis Cluster), and the
//! settings every binary shares ([`RedisArgs`]).
//!
//! Two kinds of connection, for measured reasons (a blocking command on a multiplexed connection
//! stalls every command queued behind it; a blocking read the client gave up on still delivers
//! entries into a pending list nobody reads):
//! - **the command path** — one [`Conn`] per process, shared by every task: a healing multiplexed
//!   connection ([`single`]) for a server or a Sentinel master, or a cluster connection
//!   ([`cluster`]), with short connect and response timeouts so a dead or hung Redis fails a
//!   request fast instead of hanging it, and TCP keepalive so a silently dead socket is noticed;
//! - **connections of their own** ([`Dedicated`]) for blocking reads and subscriptions, one
//!   command at a time, to the node that owns the key they read, re-resolved after any error.

pub mod cluster;
pub mod single;
pub mod url;

use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::io::tcp::{TcpSettings, socket2::TcpKeepalive};
use redis::{
    AsyncConnectionConfig, Client, Cmd, ConnectionInfo, Pipeline, ProtocolVersion, PushInfo,
    RedisFuture, RedisResult, Value,
};

use super::keys::{Keys, PrefixError};
pub use url::{RedisUrl, Topology};

/// How a process talks to Redis: timeouts and TCP settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    pub tcp: TcpSettings,
    /// With Sentinel: how often to check that the majority still names our master (over
    /// connections kept to the sentinels).
    pub sentinel_check: Duration,
}

impl Settings {
    pub fn new(connect_timeout: Duration, response_timeout: Duration) -> Settings {
        // Keepalive probes after 10 s idle, every 5 s, 3 of them: a silently dead socket is
        // closed within about 25 s even when nothing is sent; unacknowledged data gives up
        // after 10 s (TCP_USER_TIMEOUT).
        let keepalive = TcpKeepalive::new()
            .with_time(Duration::from_secs(10))
            .with_interval(Duration::from_secs(5))
            .with_retries(3);
        let tcp = TcpSettings::default()
            .set_nodelay(true)
            .set_keepalive(keepalive)
            .set_user_timeout(Duration::from_secs(10));
        Settings {
            connect_timeout,
            response_timeout,
            tcp,
            // Often enough that a failover with the old master alive moves the fleet within
            // a fifth of a second of Sentinel's majority naming the new one.
            sentinel_check: Duration::from_millis(200),
        }
    }
}

/// Logs a recovery once and counts it.
pub(crate) fn recovered(connection: &'static str, what: &'static str, downtime: Duration) {
    tracing::info!(
        connection,
        what,
        down_ms = downtime.as_millis() as u64,
        "Redis recovered"
    );
    metrics::counter!(crate::metrics::redis::RECOVERIES.name, "connection" => connection, "what" => what)
        .increment(1);
}

/// The command connection every Redis operation goes through. Cheap to clone.
#[derive(Clone)]
pub enum Conn {
    Single(single::Single),
    Cluster(cluster::Cluster),
}

impl Conn {
    pub fn is_cluster(&self) -> bool {
        matches!(self, Conn::Cluster(_))
    }

    /// The node that owns `key` now: the server, Sentinel's master, or the slot's master.
    pub async fn owner_of(&self, key: &str) -> RedisResult<ConnectionInfo> {
        match self {
            Conn::Single(s) => s.target_info().await,
            Conn::Cluster(c) => c.owner_of(key).await,
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(s) => s.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(s) => s.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(s) => s.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// A connection of its own to the node that owns `key`, for blocking reads (a response timeout
/// longer than the block) and subscriptions (RESP3 pushes to `push`). After any error call
/// [`Dedicated::reset`]: the next use connects again, to whichever node owns the key then.
pub struct Dedicated {
    conn: Conn,
    key: String,
    settings: Settings,
    response_timeout: Option<Duration>,
    push: Option<tokio::sync::mpsc::UnboundedSender<PushInfo>>,
    current: Option<MultiplexedConnection>,
}

impl Dedicated {
    /// For blocking reads of up to `block` on `key`.
    pub fn for_reads(conn: &Conn, key: &str, settings: &Settings, block: Duration) -> Dedicated {
        Dedicated {
            conn: conn.clone(),
            key: key.to_string(),
            settings: settings.clone(),
            response_timeout: Some(block + Duration::from_secs(1)),
            push: None,
            current: None,
        }
    }

    /// For a subscription on the node that owns `key`: pushes go to `push`.
    pub fn for_pushes(
        conn: &Conn,
        key: &str,
        settings: &Settings,
        push: tokio::sync::mpsc::UnboundedSender<PushInfo>,
    ) -> Dedicated {
        Dedicated {
            conn: conn.clone(),
            key: key.to_string(),
            settings: settings.clone(),
            response_timeout: Some(settings.response_timeout.max(Duration::from_secs(1))),
            push: Some(push),
            current: None,
        }
    }

    pub fn is_connected(&self) -> bool {
        self.current.is_some()
    }

    /// The connection, connecting first when there is none.
    pub async fn get(&mut self) -> RedisResult<&mut MultiplexedConnection> {
        if self.current.is_none() {
            let info = self.conn.owner_of(&self.key).await?;
            let mut redis_settings = info.redis_settings().clone();
            if self.push.is_some() {
                redis_settings = redis_settings.set_protocol(ProtocolVersion::RESP3);
            }
            let info = info
                .set_redis_settings(redis_settings)
                .set_tcp_settings(self.settings.tcp.clone());
            let mut cfg = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(self.settings.connect_timeout))
                .set_response_timeout(self.response_timeout);
            if let Some(tx) = &self.push {
                cfg = cfg.set_push_sender(tx.clone());
            }
            let client = Client::open(info)?;
            let connect = client.get_multiplexed_async_connection_with_config(&cfg);
            let conn = tokio::time::timeout(
                self.settings.connect_timeout + self.settings.response_timeout,
                connect,
            )
            .await
            .map_err(|_| {
                redis::RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connecting to Redis timed out",
                ))
            })??;
            self.current = Some(conn);
        }
        // Just set when it was empty.
        self.current
            .as_mut()
            .ok_or_else(|| redis::RedisError::from((redis::ErrorKind::Client, "no connection")))
    }

    /// Drops the connection (after an error); the next [`Dedicated::get`] connects again.
    pub fn reset(&mut self) {
        self.current = None;
    }
}

/// Redis settings every binary shares.
#[derive(Debug, Clone, clap::Args)]
pub struct RedisArgs {
    /// Where Redis is: `redis://[:password@]host:port[/db]` (one server),
    /// `redis+sentinel://[:password@]s1:26379,s2:26379,s3:26379/<master>` (Sentinel) or
    /// `redis+cluster://[:password@]n1:7000,n2:7001,…` (Redis Cluster). A password is never logged.
    #[arg(
        long = "redis-url",
        env = "ROUTEQ_REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true,
        value_parser = crate::secrets::Redacted::<RedisUrl>::new()
    )]
    pub redis_url: RedisUrl,

    /// File holding the Redis URL (Docker/Kubernetes secrets); wins over --redis-url.
    #[arg(long = "redis-url-file", env = "ROUTEQ_REDIS_URL_FILE")]
    pub redis_url_file: Option<std::path::PathBuf>,

    /// Prefix of every key; must carry a Redis Cluster hash tag. Fleets sharing one Redis differ here.
    #[arg(
        long = "key-prefix",
        env = "ROUTEQ_KEY_PREFIX",
        default_value = "{routeq}"
    )]
    pub key_prefix: String,

    /// Partitions of the job space, one hash tag each (spread over a cluster's nodes). Every
    /// gateway, worker and tool of a fleet must agree; never lower it while jobs are in flight.
    #[arg(long = "partitions", env = "ROUTEQ_PARTITIONS", default_value_t = 1)]
    pub partitions: u16,

    /// Connect timeout for Redis connections, in ms (default: 100 for the gateway, whose
    /// requests must fail fast, 250 for workers and tools).
    #[arg(
        long = "redis-connect-timeout-ms",
        hide_short_help = true,
        env = "ROUTEQ_REDIS_CONNECT_TIMEOUT_MS"
    )]
    pub connect_timeout_ms: Option<u64>,

    /// Response timeout for non-blocking Redis commands, in ms: the Redis budget of one command
    /// (default: 100 for the gateway, 1000 for workers and tools). After a timeout the
    /// connection is replaced, not reused.
    #[arg(
        long = "redis-response-timeout-ms",
        hide_short_help = true,
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
                    single::Target::Sentinel(std::sync::Arc::new(single::Sentinels::new(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_password_never_prints() {
        let url: RedisUrl = "redis://:hunter2-secret@127.0.0.1:6379/0"
            .parse()
            .expect("url");
        assert!(!format!("{url:?}").contains("hunter2"));
        assert!(!format!("{url}").contains("hunter2"));
        assert_eq!(url.redacted(), "redis://***@127.0.0.1:6379/0");
        assert!("not a url".parse::<RedisUrl>().is_err());
    }
}
