//! Redis connections and their configuration.
//!
//! Two kinds of connection, for a measured reason (redis-rs 1.x gives every async connection a
//! 500 ms response timeout, and a blocking command on a multiplexed connection stalls every command
//! queued behind it):
//! - **the command path** — one auto-reconnecting multiplexed [`ConnectionManager`] per process,
//!   shared by every task, with short connect and response timeouts so a dead Redis fails a request
//!   fast instead of hanging it;
//! - **blocking reads** (`XREADGROUP … BLOCK`) — a small deadpool of *dedicated* connections whose
//!   response timeout exceeds the BLOCK time, so the client never gives up on a read the server
//!   is still going to answer (which would strand entries in a pending list).

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::keys::{Keys, PrefixError};

/// The command connection every Redis operation goes through.
pub type Conn = ConnectionManager;

/// A Redis URL; its `Debug` and `Display` hide any password it carries.
#[derive(Clone)]
pub struct RedisUrl(String);

impl std::str::FromStr for RedisUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = crate::secrets::reveal(s).map_err(|e| e.to_string())?;
        let s = s.as_str();
        let info = redis::IntoConnectionInfo::into_connection_info(s)
            .map_err(|e| format!("not a Redis URL: {}", e.kind_str()))?;
        drop(info);
        Ok(RedisUrl(s.to_string()))
    }
}

trait KindStr {
    fn kind_str(&self) -> &'static str;
}
impl KindStr for redis::RedisError {
    fn kind_str(&self) -> &'static str {
        match self.kind() {
            redis::ErrorKind::InvalidClientConfig => "invalid client configuration",
            _ => "unparsable",
        }
    }
}

impl RedisUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any user info replaced by `***`.
    pub fn redacted(&self) -> String {
        match (self.0.find("://"), self.0.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                format!("{}***{}", &self.0[..scheme_end + 3], &self.0[at..])
            }
            _ => self.0.clone(),
        }
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedisUrl({})", self.redacted())
    }
}

impl std::fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Redis settings every binary shares.
#[derive(Debug, Clone, clap::Args)]
pub struct RedisArgs {
    /// Redis URL (`redis://[:password@]host:port[/db]`); a password in it is never logged.
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

    /// Connect timeout for Redis connections, in ms: a dead Redis must fail requests fast.
    #[arg(
        long = "redis-connect-timeout-ms",
        env = "ROUTEQ_REDIS_CONNECT_TIMEOUT_MS",
        default_value_t = 250
    )]
    pub connect_timeout_ms: u64,

    /// Response timeout for non-blocking Redis commands, in ms.
    #[arg(
        long = "redis-response-timeout-ms",
        env = "ROUTEQ_REDIS_RESPONSE_TIMEOUT_MS",
        default_value_t = 1000
    )]
    pub response_timeout_ms: u64,
}

/// Errors creating Redis clients.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Prefix(#[from] PrefixError),
    #[error("Redis configuration: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("Redis pool: {0}")]
    Pool(String),
    #[error("invalid Redis setting: {0}")]
    Invalid(String),
}

impl RedisArgs {
    /// Arguments pointing at `url` with `prefix` and the default timeouts (for tests and tools).
    pub fn new(url: &str, prefix: &str) -> Result<RedisArgs, ConnectError> {
        Ok(RedisArgs {
            redis_url: url.parse().map_err(ConnectError::Invalid)?,
            redis_url_file: None,
            key_prefix: prefix.to_string(),
            connect_timeout_ms: 250,
            response_timeout_ms: 1000,
        })
    }

    pub fn keys(&self) -> Result<Keys, ConnectError> {
        if self.connect_timeout_ms == 0 || self.response_timeout_ms == 0 {
            return Err(ConnectError::Invalid(
                "Redis timeouts must be above 0 ms".into(),
            ));
        }
        Ok(Keys::new(&self.key_prefix)?)
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

    pub fn client(&self) -> Result<redis::Client, ConnectError> {
        Ok(redis::Client::open(self.url()?.expose())?)
    }

    /// The shared command connection. Lazy: the process starts even while Redis is down, and the
    /// manager reconnects in the background once it is back.
    pub fn command_connection(&self) -> Result<Conn, ConnectError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(self.connect_timeout_ms)))
            .set_response_timeout(Some(Duration::from_millis(self.response_timeout_ms)))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(500));
        Ok(ConnectionManager::new_lazy_with_config(
            self.client()?,
            config,
        )?)
    }

    /// A pool of dedicated connections for blocking reads of up to `block`. Each object is used by
    /// one reader at a time; its response timeout is `block` + 1 s.
    pub fn blocking_pool(
        &self,
        block: Duration,
        size: usize,
    ) -> Result<deadpool_redis::Pool, ConnectError> {
        let cfg = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(self.connect_timeout_ms)))
            .set_response_timeout(Some(block + Duration::from_secs(1)));
        let manager = deadpool_redis::Manager::new_with_config(self.url()?.expose(), cfg)?;
        deadpool_redis::Pool::builder(manager)
            .max_size(size.max(1))
            .runtime(deadpool_redis::Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_millis(self.connect_timeout_ms + 100)))
            .create_timeout(Some(Duration::from_millis(self.connect_timeout_ms + 50)))
            .recycle_timeout(Some(Duration::from_millis(self.response_timeout_ms)))
            .build()
            .map_err(|e| ConnectError::Pool(e.to_string()))
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
